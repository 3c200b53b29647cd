"""Task bodies of `nps_load_responses` (the DAG file stays thin)."""

from __future__ import annotations

from datetime import datetime

from nps.connections import warehouse_dsn


def as_of(context) -> datetime:
    """The run's data interval end (its logical date when there is no interval): never the wall clock."""
    return context.get("data_interval_end") or context["logical_date"]


def replay_spool(context) -> dict:
    """The collector's spool, when this host sees its folder (one host, the demo): nothing strands while it is away."""
    from nps.collector.spool import Spool, default_dir
    from nps.collector.store import replay

    folder = default_dir()
    return replay(Spool(folder), warehouse_dsn()) if folder.is_dir() else {"files": 0}


def load_file_drops(context) -> dict:
    from nps.responses.files import load_drop_dir

    results = load_drop_dir(warehouse_dsn(), as_of(context), context.get("run_id"))
    return {"files": len(results), "loaded": sum(r["status"] == "loaded" for r in results),
            "rejected": sum(r["status"] == "rejected" for r in results),
            "quarantined": sum(r.get("quarantined", 0) for r in results)}


def load_landing(context) -> dict:
    from nps.responses.landing import load_landing as load

    return load(warehouse_dsn(), context.get("run_id"))


def classify_comments(context) -> dict:
    import psycopg

    from nps.comments.run import classify_new

    with psycopg.connect(warehouse_dsn()) as conn:
        return classify_new(conn)


def changed(files: dict, landing: dict, themes: dict | None = None) -> bool:
    """Did this run change raw? Only then is `nps://raw/responses` announced (no empty hourly transforms)."""
    themes = themes or {}
    return bool(files.get("loaded") or landing.get("responses_upserted") or landing.get("clicks_inserted")
                or landing.get("events_inserted") or themes.get("classified") or themes.get("dropped"))
