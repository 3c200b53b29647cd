"""What a gate found: one row per expectation per run, kept in `quality.expectation_results`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # psycopg costs ~0.3 s to import; DAG files import this package through dag_defaults
    import psycopg

CRITICAL = "critical"
WARNING = "warning"

ROW_FIELDS = ("run_id", "suite", "expectation", "asset", "column", "description", "success", "severity",
              "unexpected_count", "element_count", "sample_keys", "observed_value", "logical_date", "checked_at")


class QualityGateError(RuntimeError):
    """A critical expectation failed: the run must stop before the marts change."""


def describe(row: dict) -> str:
    where = row["asset"] + (f".{row['column']}" if row.get("column") else "")
    count = row.get("unexpected_count")
    what = row.get("description") or row["expectation"]
    text = f"[{row['severity']}] {row['suite']}: {where}: {what}"
    if count is not None:
        text += f" ({count} unexpected)"
    elif row.get("observed_value") is not None:
        text += f" (observed {json.dumps(row['observed_value'], default=str)})"
    if row.get("sample_keys"):
        text += f"; e.g. {json.dumps(row['sample_keys'][:5], default=str, ensure_ascii=False)}"
    return text


@dataclass
class QualityResult:
    run_id: str
    stage: str                      # raw | loads
    rows: list[dict] = field(default_factory=list)
    data_docs: str | None = None    # path of the Data Docs index.html
    gx_seconds: float = 0.0

    @property
    def critical_failures(self) -> list[dict]:
        return [r for r in self.rows if not r["success"] and r["severity"] == CRITICAL]

    @property
    def warnings(self) -> list[dict]:
        return [r for r in self.rows if not r["success"] and r["severity"] == WARNING]

    @property
    def success(self) -> bool:
        return not self.critical_failures

    def failed(self, suite: str | None = None, expectation: str | None = None, asset: str | None = None,
               column: str | None = None) -> list[dict]:
        """Failed rows matching every given field (tests and the summary read it)."""
        wanted = {"suite": suite, "expectation": expectation, "asset": asset, "column": column}
        return [r for r in self.rows if not r["success"]
                and all(v is None or r.get(k) == v for k, v in wanted.items())]

    def summary(self) -> str:
        head = (f"{self.stage} gate {self.run_id}: {len(self.rows)} checks, {len(self.critical_failures)} critical "
                f"failure(s), {len(self.warnings)} warning(s)")
        lines = [head] + [describe(r) for r in self.critical_failures + self.warnings]
        if self.data_docs:
            lines.append(f"Data Docs: {self.data_docs}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """Small and JSON-safe, for a task's XCom: counts, the failures in words, where Data Docs are."""
        return {"run_id": self.run_id, "stage": self.stage, "checks": len(self.rows),
                "critical": [describe(r) for r in self.critical_failures], "warnings": [describe(r) for r in self.warnings],
                "data_docs": self.data_docs, "gx_seconds": round(self.gx_seconds, 2)}

    def raise_if_critical(self) -> None:
        if self.critical_failures:
            raise QualityGateError(self.summary())


def _jsonb(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)


def write_rows(conn: psycopg.Connection, rows: list[dict]) -> int:
    """Replace this run's rows for the suites given (a retried task writes its rows once), in one transaction."""
    if not rows:
        return 0
    keys = sorted({(r["run_id"], r["suite"]) for r in rows})
    with conn.transaction():
        for run_id, suite in keys:
            conn.execute("delete from quality.expectation_results where run_id = %s and suite = %s", (run_id, suite))
        with conn.cursor() as cur:
            cur.executemany(
                """insert into quality.expectation_results (run_id, suite, expectation, asset, "column", description,
                       success, severity, unexpected_count, element_count, sample_keys, observed_value, logical_date,
                       checked_at)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s)""",
                [(r["run_id"], r["suite"], r["expectation"], r["asset"], r.get("column"), r.get("description"),
                  r["success"], r["severity"], r.get("unexpected_count"), r.get("element_count"),
                  _jsonb(r.get("sample_keys") or []), _jsonb(r.get("observed_value")), r.get("logical_date"),
                  r["checked_at"]) for r in rows])
    return len(rows)
