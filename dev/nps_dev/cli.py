"""The development package's own verbs: `nps env` and the project's local Postgres (`nps db-up | db-down | db-url`)."""

from __future__ import annotations

import argparse

from nps import warehouse
from nps_dev import envfile
from nps_dev.pgserver import external_warehouse_url, local_postgres


def env(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="nps env", description="write .nps/env").parse_args(argv)
    print(envfile.write())
    return 0


def db_up(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="nps db-up", description="start the project's Postgres (idempotent) and bootstrap "
                            "the warehouse").parse_args(argv)
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


def db_down(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="nps db-down", description="stop the project's Postgres").parse_args(argv)
    pg = local_postgres()
    if pg.is_running():
        pg.stop()
        print("PostgreSQL stopped")
    else:
        print("PostgreSQL was not running")
    return 0


def db_url(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nps db-url", description="print the local Postgres URL")
    parser.add_argument("--database", default="nps")
    print(local_postgres().url(parser.parse_args(argv).database))
    return 0
