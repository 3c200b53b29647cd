"""`nps` command line: the verbs behind the Makefile targets."""

from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger("nps")


def cmd_env(_: argparse.Namespace) -> int:
    from nps import envfile

    print(envfile.write())
    return 0


def cmd_db_up(_: argparse.Namespace) -> int:
    from nps import warehouse
    from nps.pgserver import external_warehouse_url, local_postgres

    external = external_warehouse_url()
    if external:
        print("NPS_WAREHOUSE_URL points at your own Postgres: not starting the embedded one")
        warehouse.bootstrap(external)
        return 0
    pg = local_postgres()
    pg.start()
    meta = pg.meta()
    warehouse.bootstrap(pg.url(), meta["collector_password"], meta["bi_password"])
    print(f"PostgreSQL up on 127.0.0.1:{pg.port} (data: {pg.data_dir}); databases: nps (warehouse), airflow")
    return 0


def cmd_db_down(_: argparse.Namespace) -> int:
    from nps.pgserver import local_postgres

    pg = local_postgres()
    if pg.is_running():
        pg.stop()
        print("PostgreSQL stopped")
    else:
        print("PostgreSQL was not running")
    return 0


def cmd_db_url(args: argparse.Namespace) -> int:
    from nps.pgserver import local_postgres

    print(local_postgres().url(args.database))
    return 0


# Commands owned by other modules: `nps <name> [args...]` calls `<module>.main(args)`. Each module keeps its own
# argument parsing, so adding a component never edits this file's logic, only this table.
DELEGATED = {
    "fakes": ("nps.fakes.cli", "run the fake 1C, Bitrix24 and SendGrid servers"),
    "generate": ("nps.generator.cli", "generate a distributor's data into the fakes' JSON directories"),
    "collector": ("nps.collector.cli", "run the survey collector"),
    "demo": ("nps.demo", "the whole loop over eight simulated weeks"),
    "quality": ("nps.quality.cli", "data-quality gates by hand: raw | marts | drift | summary"),
    "bi": ("nps.bi", "the Superset dashboard: setup | serve | bundle"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nps", description="NPS platform commands")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("env", help="write .nps/env").set_defaults(func=cmd_env)
    sub.add_parser("db-up", help="start the project's Postgres (idempotent) and bootstrap the warehouse").set_defaults(
        func=cmd_db_up)
    sub.add_parser("db-down", help="stop the project's Postgres").set_defaults(func=cmd_db_down)
    url = sub.add_parser("db-url", help="print the local Postgres URL")
    url.add_argument("--database", default="nps")
    url.set_defaults(func=cmd_db_url)
    for name, (_, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in DELEGATED:
        import importlib

        module_name, _ = DELEGATED[argv[0]]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            print(f"nps {argv[0]}: not available yet ({exc})", file=sys.stderr)
            return 2
        return int(module.main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
