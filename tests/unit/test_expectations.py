"""expectations/ holds the GX suites as data: each file a GX 1.x ExpectationSuite exactly as GX writes it."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import great_expectations as gx
import pytest

from nps.config import settings
from nps.quality import suites
from nps.quality.settings import quality_settings

FILES = sorted(settings().expectations_dir.glob("*/*.json"))


def test_every_file_is_a_suite_in_gx_format_naming_its_batch():
    assert len(FILES) > 10
    for path in FILES:
        data = json.loads(path.read_text(encoding="utf-8"))
        # a hand edit stays in the format GX writes and reads back (nothing dropped, nothing added)
        assert gx.ExpectationSuite(**data).to_json_dict() == data, path
        assert data["name"] == f"{path.parent.name}.{path.stem}", path     # GX's own layout: a dot is a folder
        asset = data["meta"]["asset"]
        assert ("table" in asset) != ("query" in asset) and asset["key_columns"], path
        assert all(e["severity"] in ("critical", "warning") and e["description"] for e in data["expectations"]), path


def test_every_parameter_gets_its_value_at_run_time():
    loaded = suites.raw_suites(quality_settings(), datetime(2026, 3, 12, tzinfo=ZoneInfo("Europe/Kyiv")), ["x"])
    assert {s.name for s in loaded} == {path.parent.name for path in FILES}
    for suite in loaded:
        for part in suite.parts:
            used = gx.ExpectationSuite(**part).suite_parameter_options
            assert set(used) <= suite.parameters.keys(), part["name"]
            assert "normalize_spelling(" not in part["meta"]["asset"].get("query", "")
    params = loaded[0].parameters
    assert (params["horizon"], params["horizon_at"]) == ("2026-03-12T00:00:00", "2026-03-12T00:00:00+02:00")
    assert params["region_spellings"] == ["x"]


def test_a_gate_without_its_suites_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("NPS_EXPECTATIONS_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="NPS_EXPECTATIONS_DIR"):
        suites.raw_suites(quality_settings(), datetime(2026, 3, 12, tzinfo=ZoneInfo("Europe/Kyiv")))
