"""The 1C fake's $filter parser on its own (operators, functions, literals, type checks)."""

from __future__ import annotations

import pytest

from nps_dev.fakes.odata_filter import FilterError, compile_filter, infer_kind

ROWS = [
    {"Ref_Key": "aaaaaaaa-0000-4000-8000-000000000001", "Date": "2026-01-05T10:00:00", "Number": "РТ00-000001",
     "Posted": True, "Сумма": 100.5, "Description": "ТОВ «Будмайстер»"},
    {"Ref_Key": "aaaaaaaa-0000-4000-8000-000000000002", "Date": "2026-02-07T00:00:00", "Number": "РТ00-000002",
     "Posted": False, "Сумма": 40, "Description": "Шевченко Олена"},
]
SCHEMA = {k: infer_kind(k, v) for k, v in ROWS[0].items()}


def run(text):
    pred = compile_filter(text, SCHEMA)
    return [r["Number"][-1] for r in ROWS if pred(r)]


@pytest.mark.parametrize("text, want", [
    ("Posted eq true", ["1"]),
    ("not Posted", ["2"]),
    ("Posted ne true", ["2"]),
    ("Date ge datetime'2026-02-01T00:00:00'", ["2"]),
    ("Date lt datetime'2026-02-01'", ["1"]),
    ("Date gt datetime'2026-01-05T10:00:00' or Сумма gt 100", ["1", "2"]),
    ("(Сумма mul 2) ge 100 and not Posted eq false", ["1"]),
    ("Сумма sub 40 eq 0", ["2"]),
    ("Ref_Key eq guid'AAAAAAAA-0000-4000-8000-000000000002'", ["2"]),
    ("substringof('Будмайстер', Description)", ["1"]),
    ("startswith(Description, 'Шевч') eq true", ["2"]),
    ("year(Date) eq 2026 and month(Date) eq 2", ["2"]),
    ("tolower(Number) eq 'рт00-000001'", ["1"]),
    ("Number eq 'it''s'", []),
])
def test_filters(text, want):
    assert run(text) == want


@pytest.mark.parametrize("text", [
    "Сумма", "Date ge '2026-01-01'", "Ref_Key eq 'x'", "Сумма eq", "Nope eq 1", "Posted eq true and",
    "guess(Date)", "Date ge datetime'bad'", "Ref_Key eq guid'123'", "(Posted eq true", "Сумма add 'x' eq 1",
])
def test_rejected(text):
    with pytest.raises(FilterError):
        compile_filter(text, SCHEMA)
