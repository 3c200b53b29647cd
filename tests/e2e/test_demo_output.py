"""`make demo` keeps the terminal readable: the DAGs' and dbt's own lines go to the demo log, the demo's lines stay."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from nps_dev import demo


def test_logs_go_to_the_file_and_the_demo_lines_to_the_terminal(tmp_path, capfd):
    log_path = tmp_path / "demo.log"
    with demo.logs_to_file(log_path):
        print("airflow task log line", flush=True)
        logging.StreamHandler(sys.stderr).emit(logging.makeLogRecord({"msg": "dbt log line"}))
        subprocess.run([sys.executable, "-c", "import sys; print('child out'); print('child err', file=sys.stderr)"],
                       check=True)
        demo._say("   day  1/56: surveys sent 12")
    out, err = capfd.readouterr()
    assert "day  1/56: surveys sent 12" in out
    assert "airflow task log line" not in out + err and "child out" not in out + err
    logged = log_path.read_text()
    assert {"airflow task log line", "dbt log line", "child out", "child err"} <= set(logged.splitlines())
    demo._say("after")  # the terminal is the terminal again
    assert "after" in capfd.readouterr().out


def test_a_failure_shows_the_end_of_the_log(tmp_path, capfd):
    with pytest.raises(RuntimeError, match="boom"), demo.logs_to_file(tmp_path / "demo.log"):
        print("the task that failed said why", flush=True)
        raise RuntimeError("boom")
    err = capfd.readouterr().err
    assert "the demo stopped" in err and "the task that failed said why" in err


def test_mailbox_keeps_one_survey_per_kind_and_language_and_every_team_mail(tmp_path):
    survey = {"message_id": "m1", "body": {
        "from": {"email": "nps@example.com"}, "subject": "Оцініть нас",
        "content": [{"type": "text/plain", "value": "-token-"},
                    {"type": "text/html", "value": '<html lang="uk"><a href="/s/-token-">10</a></html>'}],
        "personalizations": [{"to": [{"email": f"c{i}@example.com"}], "substitutions": {"-token-": f"t{i}"},
                              "custom_args": {"survey_id": f"sv{i}", "kind": "invite"}} for i in range(3)]}}
    digest = {"message_id": "m2", "body": {
        "from": {"email": "nps@example.com"}, "subject": "Нові детрактори: 2",
        "content": [{"type": "text/html", "value": '<html lang="uk"><p>2 cases</p></html>'}],
        "personalizations": [{"to": [{"email": "manager@example.com"}]}]}}
    index = demo.write_mailbox([survey, digest], tmp_path / "mailbox")
    files = sorted(p.name for p in index.parent.iterdir())
    assert files == ["index.html", "survey-invite-uk.html", "team-001-uk.html"]
    assert '<a href="/s/t0">10</a>' in (index.parent / "survey-invite-uk.html").read_text()
    listing = index.read_text()
    assert "Оцініть нас" in listing and "manager@example.com" in listing and "c1@example.com" not in listing
