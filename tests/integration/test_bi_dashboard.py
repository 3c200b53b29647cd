"""The NPS dashboard in Apache Superset (bi/dashboard.yaml, read as nps_bi), rendered by headless Chromium: it shows
the marts' own numbers, the "Does NPS pay?" tab, a heat-map cell of fewer than 10 answers as 'n < 10' without colour,
and a regional manager's login sees only that manager's oblasts.

One `dbt build` of the "Does NPS pay?" marts (tests/repurchase_support.py) and one Superset per module; each look is
one login and one tab in a fresh browser.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest
from bi_support import CHROMIUM, RenderedChart, render_dashboard, superset
from repurchase_support import built_marts

from conftest import free_port
from nps import bi

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Debian's chromium is not installed (make test installs it as root)")
OVERVIEW, PAYS, THEMES = list(bi.load_spec()["tabs"])


@pytest.fixture(scope="module")
def marts(warehouse_url: str, tmp_path_factory):
    with built_marts(warehouse_url, tmp_path_factory.mktemp("dbt_bi")) as built:
        assert built["outcome"].success, built["outcome"].failures
        yield built


@pytest.fixture(scope="module")
def base(marts, warehouse_url: str, tmp_path_factory):
    from nps.warehouse import bi_dsn

    home = tmp_path_factory.mktemp("superset")
    with superset(bi_dsn(warehouse_url, "tests-bi-password"), home, free_port()) as url:
        yield url  # SUPERSET_SECRET_KEY stays set meanwhile: the managers' passwords derive from it


@pytest.fixture(scope="module")
def manager(marts, warehouse_url: str) -> dict:
    """The manager with the most oblasts that have answers, while other oblasts have answers too."""
    with psycopg.connect(warehouse_url) as conn:
        answered = {r for (r,) in conn.execute("select distinct region from marts.nps_by_region")}
    best = max(bi.managers(), key=lambda m: len(answered & set(m["regions"])))
    assert answered & set(best["regions"]) and answered - set(best["regions"])
    return best


def _charts(base: str, tab: str, **kwargs) -> dict[str, RenderedChart]:
    spec = bi.load_spec()
    charts = {c.title: c for c in render_dashboard(base, tab=tab, **kwargs)}
    assert set(charts) == {spec["charts"][key]["title"] for row in spec["tabs"][tab] for key, *_size in row}
    assert not {title: c.error for title, c in charts.items() if c.error}
    return {key: charts[chart["title"]] for key, chart in spec["charts"].items() if chart["title"] in charts}


@pytest.fixture(scope="module")
def overview(base, tmp_path_factory) -> dict[str, RenderedChart]:
    return _charts(base, OVERVIEW, screenshot=tmp_path_factory.mktemp("screens") / "dashboard.png")


@pytest.fixture(scope="module")
def pays(base) -> dict[str, RenderedChart]:
    return _charts(base, PAYS)


def shown(value, spec: str) -> set[str]:
    """What d3-format's `spec` ('.1f', '.1%') shows: JavaScript rounds exact ties away from zero, Python to even."""
    if value is None:
        return {"N/A"}
    places, scale = int(spec[1]), 100 if spec.endswith("%") else 1
    x = float(value) * scale
    texts = {f"{x:.{places}f}", str(Decimal(repr(x)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))}
    texts = {t.lstrip("-") if not t.strip("-0.") else t for t in texts}  # d3 drops the sign of a rounded zero
    return {t + "%" * (scale == 100) for t in texts}


def matches(row: list[str], expected: list) -> bool:
    """A table row shows `expected`, cell by cell: a string, or a set of accepted strings."""
    return len(row) == len(expected) and all(cell in (e if isinstance(e, set) else {e})
                                             for cell, e in zip(row, expected, strict=True))


def has_row(chart: RenderedChart, expected: list) -> bool:
    return any(matches(row, expected) for row in chart.cells())


def heat_map(chart: RenderedChart) -> dict[tuple[str, str], tuple[list[str], list[str]]]:
    """(oblast, 'YYYY-MM') -> its NPS cell and its answers cell, each [text, background]."""
    metrics = bi.load_spec()["datasets"]["nps_by_region"]["metrics"]
    labels = {metrics[key]["label"] for key in ("nps_cell", "cell_responses")}
    months = [text for row in chart.rows for text, _bg in row if re.fullmatch(r"\d{4}-\d{2}", text)]
    grid = {}
    for row in chart.rows:
        region, values = row[0][0], row[1:]
        if len(values) == 2 * len(months) and not {text for text, _bg in values} <= labels:  # not the labels' row
            for i, month in enumerate(months):
                grid[(region, month)] = (values[2 * i], values[2 * i + 1])
    return grid


def heat_colours() -> dict[str, list[tuple[dict, str]]]:
    """The heat map's colour rules per metric: (rule, the colour as the browser reports it)."""
    rules: dict[str, list] = {}
    for rule in bi.load_spec()["charts"]["nps_by_region"]["params"]["conditional_formatting"]:
        red, green, blue = (int(rule["colorScheme"][i:i + 2], 16) for i in (1, 3, 5))
        rules.setdefault(rule["column"], []).append((rule, f"rgb({red}, {green}, {blue})"))
    return rules


def band(value: Decimal, rules: list[tuple[dict, str]]) -> str | None:
    """The colour of the rule that `value` falls in (the operators the spec uses: <, ≤ x <, ≥)."""
    for rule, colour in rules:
        op = rule["operator"]
        if (op == "<" and value < rule["targetValue"] or op == "≥" and value >= rule["targetValue"]
                or op == "≤ x <" and rule["targetValueLeft"] <= value < rule["targetValueRight"]):
            return colour
    return None


def test_bi_dashboard_renders_the_marts_numbers(overview, db):
    """Superset (as admin) in headless Chromium shows the marts' own numbers, every chart drawn."""
    latest = db.execute("select nps_rolling_30d from marts.nps_daily order by day desc limit 1").fetchone()[0]
    assert shown(latest, ".1f") & set(overview["nps_30d"].text.split()), overview["nps_30d"].text
    responses, sent = db.execute("select sum(responses), sum(surveys_sent) from marts.nps_by_region").fetchone()
    assert (responses, sent) == db.execute("select sum(responses), sum(surveys_sent) from marts.nps_daily").fetchone()
    assert 0 < responses < 1000 and overview["responses"].text.strip() == str(responses)
    assert 0 < sent < 1000 and overview["surveys_sent"].text.strip() == str(sent)
    for month, region, n, nps, moe in db.execute("select month, region, responses, nps, nps_moe_95 "
                                                 "from marts.nps_by_region where responses > 0"):
        assert has_row(overview["nps_by_region_table"], [f"{month:%Y-%m}", region, str(n), shown(nps, ".2f"),
                                                         shown(moe, ".2f"), "true" if n < 30 else "false"])
    for key in ("nps_trend", "funnel", "nps_by_segment", "nps_by_delivery", "open_cases_by_region"):
        assert overview[key].drawn_pixels > 100, f"{key} drew nothing"


def test_heat_map_cell_of_fewer_than_10_answers_says_so_without_colour(overview, db):
    grid, colours = heat_map(overview["nps_by_region"]), heat_colours()
    score_colours = {colour for _rule, colour in colours["nps_cell"]}
    rows = db.execute("select region, month, responses, nps from marts.nps_by_region").fetchall()
    assert len(grid) >= len(rows) and {n < 10 for _r, _m, n, _nps in rows} == {True, False}
    for region, month, n, nps in rows:
        (score, score_bg), (answers, answers_bg) = grid[(region, f"{month:%Y-%m}")]
        assert answers == str(n)
        if n < 10:
            assert score == "n < 10" and score_bg not in score_colours, (region, month, score, score_bg)
        else:
            assert score in shown(nps, ".0f") and score_bg == band(nps, colours["nps_cell"]), (region, month, score)
        # low n (is_low_n, under 30 answers): the answers cell is shaded
        assert n >= 30 or answers_bg == band(n, colours["cell_responses"]), (region, month, n, answers_bg)


def test_does_nps_pay_tab_shows_the_marts_numbers(pays, marts):
    by_category = [r for r in marts["repurchase_by_category"] if r["dimension"] == "all" and r["matured"] > 0]
    assert by_category
    for r in by_category:
        assert has_row(pays["repurchase_table"], [
            f"{r['month']:%Y-%m}", str(r["window_days"]), r["nps_category"], str(r["matured"]), str(r["repurchased"]),
            shown(r["repurchase_rate"], ".1%"), shown(r["repurchase_rate_lower"], ".1%"),
            shown(r["repurchase_rate_upper"], ".1%")]), r
    differences = [r for r in marts["repurchase_difference"] if r["period"] == "all"]
    assert differences
    for r in differences:
        assert has_row(pays["repurchase_difference"], [
            str(r["window_days"]), str(r["promoters_matured"]), shown(r["promoter_repurchase_rate"], ".1%"),
            str(r["detractors_matured"]), shown(r["detractor_repurchase_rate"], ".1%"),
            shown(r["rate_difference"], ".1%"), shown(r["difference_lower"], ".1%"),
            shown(r["difference_upper"], ".1%"), str(r["is_significant"]).lower()]), r
    for r in marts["closed_loop_effect"]:
        assert has_row(pays["closed_loop_effect"], [
            str(r["window_days"]), str(r["in_sla_matured"]), *(shown(r[f"in_sla_repurchase_rate{end}"], ".1%")
                                                                for end in ("", "_lower", "_upper")),
            str(r["other_matured"]), *(shown(r[f"other_repurchase_rate{end}"], ".1%") for end in ("", "_lower", "_upper")),
            shown(r["rate_difference"], ".1%"), shown(r["difference_lower"], ".1%"), shown(r["difference_upper"], ".1%"),
            shown(r["p_value"], ".3f"), str(r["is_significant"]).lower()]), r
    # drivers: every fact and value with its interval, the costliest failure first
    drivers = sorted(marts["nps_drivers"], key=lambda r: r["nps_difference"])
    table = [row for row in pays["nps_drivers_table"].cells() if len(row) == 10 and row[0] != "fact"]
    assert len(table) == len(drivers)
    for row, r in zip(table, drivers, strict=True):
        assert row[5] in shown(r["nps_difference"], ".1f"), (row, r)
    for r in drivers:
        assert has_row(pays["nps_drivers_table"], [
            r["fact"], r["fact_value"], str(r["responses_with"]), *(shown(r[c], ".1f") for c in (
                "nps_with", "nps_without", "nps_difference", "difference_lower", "difference_upper")),
            str(r["is_significant"]).lower(), str(r["is_low_n"]).lower()]), r
    assert table[0][:2] == [drivers[0]["fact"], drivers[0]["fact_value"]]
    for key in ("repurchase_rates", "nps_drivers"):
        assert pays[key].drawn_pixels > 100, f"{key} drew nothing"


def test_what_detractors_write_tab_shows_the_marts_numbers(base, marts, db):
    """Issue 22: the detractors' comment themes per month, as marts.comment_themes_by_month holds them."""
    themes = _charts(base, THEMES)
    rows = db.execute("""select month, theme, mentions, commented_answers, share_of_commented, negative, positive
                           from marts.comment_themes_by_month where nps_category = 'detractor'""").fetchall()
    assert rows, "the dataset's detractors wrote about no theme"
    for month, theme, mentions, commented, share, negative, positive in rows:
        assert has_row(themes["detractor_themes_table"], [
            f"{month:%Y-%m}", theme, str(mentions), str(commented), shown(share, ".1%"), str(negative),
            str(positive)]), (month, theme)
    assert themes["detractor_themes"].drawn_pixels > 100, "the themes chart drew nothing"


def test_a_regional_manager_sees_only_their_oblasts(base, overview, pays, manager, db):
    """Row-level security from the region seed: the manager's heat map, table and counts hold their oblasts only;
    admin's hold every oblast. The "Does NPS pay?" tab is company-wide, the same for both."""
    login = {"username": manager["username"], "password": bi.manager_password(manager["username"])}
    mine = _charts(base, OVERVIEW, **login)
    everywhere = {r for (r,) in db.execute("select distinct region from marts.nps_by_region")}
    theirs = everywhere & set(manager["regions"])
    assert {region for region, _month in heat_map(overview["nps_by_region"])} == everywhere
    assert {region for region, _month in heat_map(mine["nps_by_region"])} == theirs
    table = mine["nps_by_region_table"].cells()
    assert {row[1] for row in table if len(row) == 6 and row[1] != "region"} == theirs
    responses = db.execute("select sum(responses) from marts.nps_by_region where region = any(%s)",
                           (sorted(theirs),)).fetchone()[0]
    assert mine["responses"].text.strip() == str(responses) != overview["responses"].text.strip()
    company = _charts(base, PAYS, **login)
    for key in ("repurchase_table", "repurchase_difference", "closed_loop_effect", "nps_drivers_table"):
        assert company[key].cells() == pays[key].cells(), key
