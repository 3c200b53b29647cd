"""Every DAG file imports cleanly without touching the network or a database, and carries its metadata."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    real_connect = socket.socket.connect

    def no_network(self, address):  # DAG files must do no work at import
        raise AssertionError(f"a DAG file opened a connection to {address} at import time")

    socket.socket.connect = no_network
    try:
        return DagBag(dag_folder=str(DAGS_DIR))
    finally:
        socket.socket.connect = real_connect


def test_dag_files_import_without_errors(dagbag):
    assert dagbag.import_errors == {}


def test_every_dag_file_defines_a_dag(dagbag):
    files_with_dags = {Path(d.fileloc).name for d in dagbag.dags.values()}
    assert files_with_dags == {p.name for p in DAG_FILES}


def test_dags_have_owner_tags_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id}: no tags"
        assert dag.doc_md, f"{dag_id}: no doc_md"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id}: default owner"
            assert task.retries >= 2, f"{dag_id}.{task.task_id}: retries {task.retries} < 2"
