"""nps.comments.run.classify_new on a real Postgres: raw.survey_responses -> raw.comment_themes, each answer once per
input and dictionary version."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nps.comments import load
from nps.comments.dictionary import DEFAULT_PATH
from nps.comments.run import BATCH, PENDING, classify_new

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def conn(db):
    db.execute("truncate raw.comment_themes")
    return db


def answer(db, score: int, comment: str | None, language: str | None = "uk") -> str:
    survey = "s-" + uuid.uuid4().hex[:12]
    db.execute("insert into raw.survey_responses (survey_id, score, comment, language, responded_at) "
               "values (%s, %s, %s, %s, %s)", (survey, score, comment, language, T0))
    return survey


def replace(db, survey: str, score: int, comment: str | None) -> None:
    db.execute("update raw.survey_responses set score = %s, comment = %s where survey_id = %s",
               (score, comment, survey))


def themes(db, survey: str) -> list[tuple]:
    return db.execute("select theme, tone, source, dictionary_version from raw.comment_themes where survey_id = %s "
                      "order by theme nulls first", (survey,)).fetchall()


def test_classifies_each_answer_once_and_again_when_it_or_the_dictionary_changes(conn, tmp_path: Path):
    version = load().version
    mixed = answer(conn, 4, "Доставка запізнилася на тиждень, але менеджер молодець")
    plain = answer(conn, 8, "дякую")
    blank = answer(conn, 3, "   ")
    no_language = answer(conn, 10, "Fast delivery, thanks!", None)

    first = classify_new(conn, batch=2)  # several batches
    assert themes(conn, mixed) == [("delivery_time", "-", "rule", version), ("manager", "+", "rule", version)]
    assert themes(conn, plain) == [(None, None, "rule", version)]  # classified, no theme: not retried
    assert themes(conn, blank) == []
    assert themes(conn, no_language) == [("delivery_time", "+", "rule", version)]
    assert first["classified"] >= 3 and first["without_theme"] >= 1

    again = classify_new(conn)
    assert (again["classified"], again["dropped"]) == (0, 0)

    replace(conn, mixed, 9, "Ціна хороша")  # the latest answer's new comment
    replace(conn, no_language, 10, None)  # its comment is gone: so are its themes
    replaced = classify_new(conn)
    assert (replaced["classified"], replaced["dropped"]) == (1, 1)
    assert themes(conn, mixed) == [("price", "+", "rule", version)]
    assert themes(conn, no_language) == []

    replace(conn, mixed, 3, "Ціна хороша")  # the same comment with another score is another input
    assert classify_new(conn)["classified"] == 1

    bumped = tmp_path / "themes.yml"
    bumped.write_text(DEFAULT_PATH.read_text(encoding="utf-8").replace(f"version: {version}\n",
                                                                      f"version: {version + 1}\n", 1))
    new_dictionary = load(bumped)
    assert new_dictionary.version == version + 1
    rerun = classify_new(conn, new_dictionary)
    assert rerun["classified"] == conn.execute("select count(*) from raw.survey_responses "
                                               "where nullif(btrim(comment), '') is not null").fetchone()[0]
    assert themes(conn, plain) == [(None, None, "rule", version + 1)]
    assert conn.execute("select count(*) from raw.comment_themes where dictionary_version <> %s",
                        (version + 1,)).fetchone()[0] == 0
    assert classify_new(conn, new_dictionary)["classified"] == 0


def test_a_rerun_reads_no_answer_and_rewrites_no_theme(conn):
    """Each answer carries the hash of what the classifier reads (`input_hash`, stored by Postgres): a run finds the
    answers to classify by comparing it with the themes', so a re-run with nothing new reads no answer and writes
    nothing, and a changed answer is the only one read."""
    version = load().version
    praised, blamed = answer(conn, 9, "Швидка доставка"), answer(conn, 2, "Дорого")
    answer(conn, 7, None)
    classify_new(conn)
    before = conn.execute("select ctid, xmin from raw.comment_themes order by 1").fetchall()
    assert conn.execute(PENDING, (version, BATCH)).fetchall() == []
    again = classify_new(conn)
    assert (again["classified"], again["dropped"]) == (0, 0)
    assert conn.execute("select ctid, xmin from raw.comment_themes order by 1").fetchall() == before

    replace(conn, praised, 9, "Швидка доставка, дякую")
    assert [row[0] for row in conn.execute(PENDING, (version, BATCH))] == [praised]
    assert classify_new(conn)["classified"] == 1
    assert themes(conn, blamed) == [("price", "-", "rule", version)]


def test_demo_prints_the_top_themes_of_the_last_month_from_the_mart(warehouse_url):
    import psycopg

    from nps_dev.demo import top_themes

    with psycopg.connect(warehouse_url) as conn:  # one transaction, rolled back: the session's marts stay as they were
        conn.execute("create schema if not exists marts; drop table if exists marts.comment_themes_by_month; "
                     "create table marts.comment_themes_by_month (month date, theme text, nps_category text, "
                     "mentions integer, commented_answers integer, share_of_commented numeric(6, 4), positive integer,"
                     " negative integer, neutral integer)")
        assert top_themes(conn) == ["no classified comments yet"]
        conn.execute("""insert into marts.comment_themes_by_month values
            ('2026-02-01', 'price', 'detractor', 9, 10, 0.9, 0, 9, 0),
            ('2026-03-01', 'delivery_time', 'detractor', 6, 8, 0.75, 1, 5, 0),
            ('2026-03-01', 'order_accuracy', 'detractor', 2, 8, 0.25, 0, 2, 0),
            ('2026-03-01', 'manager', 'detractor', 2, 8, 0.25, 0, 1, 1),
            ('2026-03-01', 'price', 'detractor', 1, 8, 0.125, 0, 1, 0),
            ('2026-03-01', 'delivery_time', 'promoter', 4, 5, 0.8, 4, 0, 0),
            ('2026-03-01', 'price', 'passive', 3, 3, 1.0, 0, 3, 0)""")
        assert top_themes(conn) == [
            "detractors, 2026-03: delivery_time 75 % (6: 1 +, 5 -); manager 25 % (2: 0 +, 1 -); "
            "order_accuracy 25 % (2: 0 +, 2 -)",
            "promoters, 2026-03: delivery_time 80 % (4: 4 +, 0 -)",
        ]
        conn.rollback()
