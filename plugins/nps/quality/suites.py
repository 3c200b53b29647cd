"""The expectation suites, as reviewed Python (see expectations/README.md for why not JSON files).

Plain data here, no GX import: `gx_runner` turns each `Check` into a GX expectation at run time. Suites take run-time
parameters that JSON suites cannot hold without a parameter layer of their own: the run's time horizon ("not in the
future" means after the run's data interval, not after the wall clock), the known currencies / event types from the
settings, and the region spellings from the dbt seed.

Severity: `critical` = the row would corrupt a mart (wrong counts, wrong periods, wrong sums): the run stops before
the marts change. `warning` = the row degrades one survey or one dimension value (bad e-mail, unknown region, unknown
event type): the run goes on and the data team is alerted.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from nps.quality.result import CRITICAL, WARNING
from nps.quality.settings import QualitySettings

EARLIEST = datetime(2000, 1, 1)       # 1C's empty date is 0001-01-01: anything before 2000 is a bad conversion
EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
SCORES = list(range(11))


@dataclass(frozen=True)
class Check:
    expectation: str                  # GX class name in great_expectations.expectations
    kwargs: dict
    severity: str = CRITICAL
    description: str = ""
    pii: bool = False                 # never copy the offending values into results (e-mails)


@dataclass(frozen=True)
class Asset:
    name: str                         # GX asset name, unique per datasource
    label: str                        # what results call it: raw.onec_sales, or raw.survey_responses+sends
    key_columns: tuple[str, ...]
    table: str | None = None          # schema.table
    query: str | None = None          # or a SELECT (joins for cross-table checks)
    checks: tuple[Check, ...] = ()

    @property
    def relation(self) -> str:
        """SQL that stands for the batch (used for sample keys of UnexpectedRows checks)."""
        return self.table if self.table else f"({self.query}) as batch"


@dataclass(frozen=True)
class Suite:
    name: str
    assets: tuple[Asset, ...] = field(default_factory=tuple)


def normalize_region(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip().lower())


def known_region_spellings(seed: Path | None) -> list[str] | None:
    """Every spelling and canonical name in the dbt region seed, normalized; None when the seed is not there."""
    if seed is None or not seed.exists():
        return None
    with seed.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    values = {normalize_region(cell) for row in rows[1:] for cell in row if cell.strip()}
    return sorted(values)


def between(column: str, low, high, severity=CRITICAL, description="") -> Check:
    return Check("ExpectColumnValuesToBeBetween", {"column": column, "min_value": low, "max_value": high},
                 severity, description)


def unique(column: str, description="key is unique") -> Check:
    return Check("ExpectColumnValuesToBeUnique", {"column": column}, CRITICAL, description)


def not_null(column: str, severity=CRITICAL, description="") -> Check:
    return Check("ExpectColumnValuesToNotBeNull", {"column": column}, severity, description)


def rows_where(condition: str, severity=CRITICAL, description="") -> Check:
    return Check("UnexpectedRowsExpectation",
                 {"unexpected_rows_query": f"select * from {{batch}} where {condition}", "description": description},
                 severity, description)


def raw_suites(cfg: QualitySettings, horizon_at: datetime) -> list[Suite]:
    """Suites on the raw landings. `horizon_at`: aware instant after which a date is 'in the future'.

    1C's timestamps are local time without a zone, so they are compared with the horizon's local wall time.
    """
    if horizon_at.tzinfo is None:
        raise ValueError("horizon_at must be timezone-aware")
    horizon = horizon_at.replace(tzinfo=None)
    earliest_at = EARLIEST.replace(tzinfo=horizon_at.tzinfo)
    future = f"not in the future (after {horizon:%Y-%m-%d %H:%M})"
    promised_until = horizon + timedelta(days=366)
    currencies = list(cfg.known_currencies)

    purchases = Suite("raw_purchases", (
        Asset("onec_sales", "raw.onec_sales", ("ref_key",), table="raw.onec_sales", checks=(
            unique("ref_key"),
            not_null("sale_date", description="a purchase has a date"),
            between("sale_date", EARLIEST, horizon, description=f"sale date sane and {future}"),
            between("amount", 0, None, description="amount >= 0"),
            Check("ExpectColumnValuesToBeInSet", {"column": "currency", "value_set": currencies}, CRITICAL,
                  f"known currency ({', '.join(currencies)})"),
        )),
        Asset("onec_sale_lines", "raw.onec_sale_lines", ("sale_ref", "line_number"), table="raw.onec_sale_lines",
              checks=(
                  Check("ExpectCompoundColumnsToBeUnique", {"column_list": ["sale_ref", "line_number"]}, CRITICAL,
                        "key (sale_ref, line_number) is unique"),
                  between("quantity", 0, None, description="quantity >= 0"),
                  between("price", 0, None, description="price >= 0"),
                  between("amount", 0, None, description="amount >= 0"),
              )),
        Asset("onec_orders", "raw.onec_orders", ("ref_key",), table="raw.onec_orders", checks=(
            unique("ref_key"),
            between("order_date", EARLIEST, horizon, description=f"order date sane and {future}"),
            # a promised date may lie ahead, but not a year past the horizon (a typo'd year)
            between("promised_date", EARLIEST, promised_until, WARNING, "promised date sane"),
        )),
        Asset("onec_order_lines", "raw.onec_order_lines", ("order_ref", "line_number"), table="raw.onec_order_lines",
              checks=(
                  Check("ExpectCompoundColumnsToBeUnique", {"column_list": ["order_ref", "line_number"]}, CRITICAL,
                        "key (order_ref, line_number) is unique"),
                  between("quantity", 0, None, description="quantity >= 0"),
              )),
        Asset("onec_deliveries", "raw.onec_deliveries", ("order_ref",), table="raw.onec_deliveries", checks=(
            unique("order_ref"),
            between("delivered_at", EARLIEST, horizon, description=f"delivery date sane and {future}"),
        )),
    ))

    regions = known_region_spellings(cfg.region_seed)
    region_checks: tuple[Check, ...]
    if regions is None:
        # Without the seed nothing can be resolved: say so on every run instead of passing silently.
        region_checks = (rows_where("true", WARNING, f"region seed not found ({cfg.region_seed or 'dbt_project/seeds/*region*.csv'})"),)
    else:
        region_checks = (Check("ExpectColumnValuesToBeInSet", {"column": "region_norm", "value_set": regions},
                               WARNING, "region resolvable through the dbt region seed"),)
    customers = Suite("raw_customers", (
        Asset("onec_customers", "raw.onec_customers", ("ref_key",), table="raw.onec_customers", checks=(
            unique("ref_key"),
            Check("ExpectColumnValuesToMatchRegex", {"column": "email", "regex": EMAIL_REGEX}, WARNING,
                  "e-mail format where present", pii=True),
        )),
        Asset("onec_customer_regions", "raw.onec_customers", ("ref_key",),
              query="select ref_key, lower(regexp_replace(btrim(coalesce(region_raw, '')), '\\s+', ' ', 'g')) "
                    "as region_norm from raw.onec_customers where not deletion_mark",
              checks=region_checks),
        Asset("crm_contacts", "raw.crm_contacts", ("id",), table="raw.crm_contacts", checks=(
            unique("id"),
            Check("ExpectColumnValuesToMatchRegex", {"column": "email", "regex": EMAIL_REGEX}, WARNING,
                  "e-mail format where present", pii=True),
        )),
    ))

    answers = Suite("raw_survey_answers", (
        Asset("survey_responses", "raw.survey_responses", ("survey_id",), table="raw.survey_responses", checks=(
            unique("survey_id"),
            Check("ExpectColumnValuesToBeInSet", {"column": "score", "value_set": SCORES}, CRITICAL,
                  "score is an integer 0..10"),
            not_null("score", description="score present"),
        )),
        # one row per answer with its survey's first send: unknown survey id = no send found
        Asset("survey_responses_sends", "raw.survey_responses+survey_sends", ("survey_id",),
              query="select r.survey_id, r.responded_at, s.first_sent_at from raw.survey_responses r left join "
                    "(select survey_id, min(coalesce(sent_at, claimed_at)) as first_sent_at from raw.survey_sends "
                    "group by survey_id) s on s.survey_id = r.survey_id",
              checks=(
                  not_null("first_sent_at", CRITICAL, "survey id known (a send exists for the answer)"),
                  Check("ExpectColumnPairValuesAToBeGreaterThanB",
                        {"column_A": "responded_at", "column_B": "first_sent_at", "or_equal": True,
                         "ignore_row_if": "either_value_is_missing"}, CRITICAL, "answered after sent"),
                  between("responded_at", earliest_at, horizon_at, CRITICAL, f"answer date sane and {future}"),
              )),
    ))

    event_types = list(cfg.event_types)
    events = Suite("raw_events", (
        Asset("sendgrid_events", "raw.sendgrid_events", ("sg_event_id",), table="raw.sendgrid_events", checks=(
            unique("sg_event_id"),
            Check("ExpectColumnValuesToBeInSet", {"column": "event", "value_set": event_types}, WARNING,
                  "known event type"),
        )),
    ))
    return [purchases, customers, answers, events]


def mart_suites(cfg: QualitySettings, schema: str) -> list[Suite]:
    """The marts' invariants (contract §5), checked in `schema` (the build schema before the swap)."""
    keys = {"nps_by_region": ("month", "region"), "nps_by_segment": ("month", "segment"),
            "nps_by_delivery": ("month", "delivery_bucket"), "nps_daily": ("day",)}
    assets = []
    for table in cfg.mart_tables:
        assets.append(Asset(f"{schema}__{table}", f"{schema}.{table}", keys.get(table, ()), table=f"{schema}.{table}",
                            checks=(
                                between("nps", -100, 100, description="nps within -100..100"),
                                rows_where("promoters + passives + detractors <> responses", CRITICAL,
                                           "promoters + passives + detractors = responses"),
                                between("response_rate", 0, 1, description="response_rate within 0..1"),
                            )))
    return [Suite("marts_invariants", tuple(assets))]


