"""`nps collector` runs the app under uvicorn (the process `make collector` and docker-compose start)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from collector_support import TOKEN_SECRET, collector_url, token

from conftest import free_port


def test_nps_collector_serves_and_stops(warehouse_url, tmp_path):
    port = free_port()
    env = {**os.environ, "NPS_COLLECTOR_DB_URL": collector_url(warehouse_url), "NPS_TOKEN_SECRET": TOKEN_SECRET,
           "NPS_SPOOL_DIR": str(tmp_path / "spool")}
    proc = subprocess.Popen([sys.executable, "-m", "nps.cli", "collector", "--port", str(port), "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert json.loads(r.read())["database"] is True
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "collector did not start"
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/s/{token('s-cli-1')}/5?lang=en", timeout=5) as r:
            assert r.status == 200 and b"How likely" in r.read()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0


def test_nps_collector_without_db_url_explains(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NPS_COLLECTOR_DB_URL"}
    out = subprocess.run([sys.executable, "-m", "nps.cli", "collector"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "NPS_COLLECTOR_DB_URL is not set" in out.stderr
