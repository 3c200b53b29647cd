"""The data generator: determinism, layout, and the distributions the marts are meant to show."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime

import pytest

from nps_dev.generator import REGIONS, GeneratorConfig, generate, spellings
from nps_dev.generator.core import EMPTY_DATE, EMPTY_GUID, _valid_email


def load(path, name):
    return json.loads((path / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen-big")
    summary = generate(out, GeneratorConfig(seed=11, customers=1500, start=date(2026, 1, 5), days=56))
    return out, summary


def test_deterministic_by_seed(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, GeneratorConfig(seed=3, customers=40, days=20))
    generate(b, GeneratorConfig(seed=3, customers=40, days=20))
    generate(c, GeneratorConfig(seed=4, customers=40, days=20))
    for sub in ("onec", "crm"):
        for f in sorted((a / sub).iterdir()):
            assert f.read_bytes() == (b / sub / f.name).read_bytes(), f.name
    assert (a / "onec" / "Document_ЗаказКлиента.json").read_bytes() != (
        c / "onec" / "Document_ЗаказКлиента.json").read_bytes()


def test_layout_and_summary(big):
    out, summary = big
    assert summary["customers"] == 1500 and summary["sales"] >= summary["orders"] * 0.95
    for name in ("Catalog_Контрагенты", "Document_ЗаказКлиента", "Document_РеализацияТоваровУслуг",
                 "InformationRegister_ДоставкаЗаказов", "Catalog_Номенклатура", "Catalog_Валюты"):
        assert isinstance(load(out / "onec", f"{name}.json"), list)
    for name in ("crm.contact", "crm.company", "crm.deal", "user"):
        assert isinstance(load(out / "crm", f"{name}.json"), list)
    assert load(out / "sendgrid", "suppressions.json")["groups"][0]["id"] == 1001
    orders = load(out / "onec", "Document_ЗаказКлиента.json")
    days = {o["Date"][:10] for o in orders}
    assert min(days) >= "2026-01-05" and max(days) < "2026-03-02"
    assert summary["purchase_lines"] == sum(len(s["Товары"]) for s in load(out / "onec",
                                                                           "Document_РеализацияТоваровУслуг.json"))


def test_regions_languages_and_spellings(big):
    out, _ = big
    names = {r.canonical for r in REGIONS}
    assert len(names) == 23 and "м. Київ" in names
    assert not any("Луган" in n or "Донец" in n or "Донецьк" in n for n in names)
    mapping = dict(spellings())
    customers = load(out / "onec", "Catalog_Контрагенты.json")
    spelled = [ci["Регион"] for c in customers for ci in c["КонтактнаяИнформация"] if ci["Тип"] == "Адрес"]
    assert all(s in mapping for s in spelled)
    assert len(set(spelled)) > 40  # spelled many ways
    assert {mapping[s] for s in spelled} == names  # every region has customers
    truth = load(out / "meta", "truth.json")["customers"]
    langs = Counter(t["language"] for t in truth.values())
    assert set(langs) == {"uk", "ru", "en", "pl"} and langs["uk"] > langs["ru"] > langs["en"]
    east = Counter(t["language"] for t in truth.values() if t["region"] == "Харківська область")
    west = Counter(t["language"] for t in truth.values() if t["region"] == "Львівська область")
    assert east["ru"] / sum(east.values()) > west["ru"] / sum(west.values())
    contacts = load(out / "crm", "crm.contact.json")
    assert {c["UF_CRM_LANGUAGE"] for c in contacts} == {"uk", "ru", "en", "pl", None}


def test_emails_segments_customers(big):
    out, summary = big
    customers = load(out / "onec", "Catalog_Контрагенты.json")
    emails = [next((ci["АдресЭП"] for ci in c["КонтактнаяИнформация"] if ci["Тип"] == "АдресЭлектроннойПочты"), None)
              for c in customers]
    missing = sum(e is None for e in emails) / len(emails)
    invalid = sum(e is not None and not _valid_email(e) for e in emails) / len(emails)
    assert 0.03 < missing < 0.10 and 0.01 < invalid < 0.06
    assert summary["missing_email"] == sum(e is None for e in emails)
    assert 0 < sum(c["DeletionMark"] for c in customers) < 0.02 * len(customers)
    kinds = Counter(c["ЮрФизЛицо"] for c in customers)
    assert 0.2 < kinds["ФизЛицо"] / len(customers) < 0.4
    truth = load(out / "meta", "truth.json")["customers"]
    segs = Counter(t["segment"] for t in truth.values())
    assert set(segs) == {"dealer", "contractor", "retail", "developer"}
    persons = Counter(t["segment"] for t in truth.values() if t["is_person"])
    assert persons.most_common(1)[0][0] == "retail"


def test_orders_shipments_deliveries(big):
    out, summary = big
    orders = {o["Ref_Key"]: o for o in load(out / "onec", "Document_ЗаказКлиента.json")}
    sales = load(out / "onec", "Document_РеализацияТоваровУслуг.json")
    deliveries = load(out / "onec", "InformationRegister_ДоставкаЗаказов.json")
    shipped = defaultdict(Counter)
    direct = [s for s in sales if s["Заказ_Key"] == EMPTY_GUID]  # counter sales: no order, no delivery
    assert 0 < len(direct) < 0.02 * len(sales)
    for s in sales:
        if s["Заказ_Key"] == EMPTY_GUID:
            continue
        assert s["Заказ_Key"] in orders
        assert abs(sum(r["Сумма"] for r in s["Товары"]) - s["СуммаДокумента"]) < 0.05
        for r in s["Товары"]:
            shipped[s["Заказ_Key"]][r["Номенклатура_Key"]] += r["Количество"]
    short = 0
    for ref, got in shipped.items():
        want = Counter()
        for r in orders[ref]["Товары"]:
            want[r["Номенклатура_Key"]] += r["Количество"]
        assert all(got[k] <= want[k] for k in got)  # never more than ordered
        short += any(got[k] < want[k] for k in want)
    assert 0.03 < short / len(shipped) < 0.12  # partial shipments, some completed by a second sale
    assert len(sales) - len(direct) > len(shipped)  # follow-up shipments exist
    assert len({d["Заказ_Key"] for d in deliveries}) == len(deliveries) == len(shipped)
    lost = [d for d in deliveries if d["ДатаДоставки"] == EMPTY_DATE]
    assert 0.005 < len(lost) / len(deliveries) < 0.08 and all(d["Статус"] != "Доставлена" for d in lost)
    no_promise = [o for o in orders.values() if o["ДатаОтгрузки"] == EMPTY_DATE]  # 1C's empty date
    assert 0 < len(no_promise) < 0.02 * len(orders)
    for o in orders.values():
        assert o["ДатаОтгрузки"] > o["Date"][:10] or o in no_promise  # a promised date after the order day
    # delays vary by carrier and by region
    truth = load(out / "meta", "truth.json")
    region_of = {ref: truth["customers"][t["customer"]]["region"] for ref, t in truth["orders"].items()}
    late_by_carrier, late_by_region = defaultdict(list), defaultdict(list)
    for d in deliveries:
        if EMPTY_DATE in (d["ДатаДоставки"], orders[d["Заказ_Key"]]["ДатаОтгрузки"]):
            continue
        delay = (datetime.fromisoformat(d["ДатаДоставки"]).date()
                 - datetime.fromisoformat(orders[d["Заказ_Key"]]["ДатаОтгрузки"]).date()).days
        late_by_carrier[d["Перевозчик"]].append(delay > 0)
        late_by_region[region_of[d["Заказ_Key"]]].append(delay > 0)
    rates = {k: statistics.mean(v) for k, v in late_by_carrier.items()}
    assert rates["Делівері"] > rates["Нова Пошта"] + 0.05
    assert statistics.mean(late_by_region["Харківська область"]) > statistics.mean(late_by_region["м. Київ"])
    on_time = sum(not x for v in late_by_carrier.values() for x in v) / sum(len(v) for v in late_by_carrier.values())
    assert 0.55 < on_time < 0.9


def test_crm_links_duplicates_and_managers(big):
    out, _ = big
    companies = load(out / "crm", "crm.company.json")
    contacts = load(out / "crm", "crm.contact.json")
    users = {u["ID"]: u for u in load(out / "crm", "user.json")}
    codes = Counter(c["UF_CRM_1C_CODE"] for c in companies)
    unlinked = codes.pop(None, 0)
    assert 0.01 < unlinked / len(companies) < 0.08
    dups = [k for k, n in codes.items() if n > 1]
    assert 0.01 < len(dups) / len(codes) < 0.06
    assert all(isinstance(c["ID"], str) and isinstance(c["ASSIGNED_BY_ID"], str) for c in companies + contacts)
    assert {c["ASSIGNED_BY_ID"] for c in companies} <= set(users)
    assert any(not u["ACTIVE"] for u in users.values())  # a deactivated manager still owns records
    covered = {r.strip() for u in users.values() for r in u["UF_USR_NPS_REGIONS"].split(",") if r.strip()}
    assert covered == {r.canonical for r in REGIONS}
    truth = load(out / "meta", "truth.json")["customers"]
    linked_codes = {c["UF_CRM_1C_CODE"] for c in contacts if c["UF_CRM_1C_CODE"]}
    assert linked_codes <= {t["code"] for t in truth.values()}
    assert 0.9 < len(linked_codes) / len(truth) < 0.995  # some customers have no linked contact
    email = next(c for c in contacts if c["EMAIL"])["EMAIL"][0]
    assert email["TYPE_ID"] == "EMAIL" and isinstance(email["ID"], str)


def test_served_by_the_fakes(fake_stack):
    import httpx

    HTTP = httpx.Client(timeout=10)

    r = HTTP.get(fake_stack.onec_url + "Catalog_Контрагенты", params={"$format": "json", "$top": "1"},
                  auth=("odata", "odata"))
    assert r.status_code == 200 and r.json()["value"]
    assert HTTP.post(fake_stack.crm_url + "user.get", json={}).json()["total"] > 1
    env = fake_stack.airflow_env()
    onec = json.loads(env["AIRFLOW_CONN_NPS_ONEC"])
    assert onec["host"] == fake_stack.onec_url and onec["host"].endswith("/demo/odata/standard.odata/")
    assert json.loads(env["AIRFLOW_CONN_NPS_CRM"])["host"].endswith("/rest/1/demo/")
    assert json.loads(env["AIRFLOW_CONN_NPS_SENDGRID"])["password"] == "SG.fake-demo-key"


# ---- the demo's response model ----------------------------------------------------------------------------------
def _nps(answers) -> float:
    scores = [a.score for a in answers if a is not None]
    return 100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)


def test_response_model_is_deterministic_and_documented_shape():
    import random

    from nps_dev.generator.responses import Answer, ResponseModel

    model = ResponseModel(seed=5)
    facts = {"segment": "dealer", "language": "pl", "delay_days": 6, "in_full": False}
    a = [model.decide(facts, random.Random(i)) for i in range(200)]
    b = [model.decide(facts, random.Random(i)) for i in range(200)]
    assert a == b
    got = [x for x in a if x is not None]
    assert got and all(isinstance(x, Answer) and 0 <= x.score <= 10 and x.language == "pl" for x in got)
    assert all(x.delay_hours > 0 for x in got)
    assert any("completeness" in x.reasons for x in got) and any("delivery_time" in x.reasons for x in got)
    comments = [x.comment for x in got if x.comment]
    assert len(set(comments)) > 10 and not any("а" <= ch <= "я" for c in comments for ch in c.lower())


def test_response_model_effects_show_in_nps():
    import random

    from nps_dev.generator.responses import ResponseModel, delivery_bucket

    model = ResponseModel(seed=1)
    rng = random.Random(99)

    def run(n=1500, **facts):
        base = {"segment": "contractor", "language": "uk", "delay_days": 0, "in_full": True}
        return [model.decide({**base, **facts}, rng) for _ in range(n)]

    on_time, late, very_late, lost = run(delay_days=-1), run(delay_days=2), run(delay_days=10), run(delay_days=None)
    assert _nps(on_time) > _nps(late) + 15 > _nps(very_late) + 30 > _nps(lost) + 30
    assert _nps(run(in_full=False)) < _nps(on_time) - 20
    assert _nps(run(segment="retail")) > _nps(run(segment="developer")) + 15
    rate = {s: sum(a is not None for a in run(n=3000, segment=s)) / 3000 for s in ("dealer", "developer")}
    assert rate["dealer"] > rate["developer"] + 0.1 and 0.15 < rate["developer"] < 0.5
    dets = [a for a in very_late if a is not None and a.score <= 6]
    assert sum(a.comment is not None for a in dets) / len(dets) > 0.4
    assert [delivery_bucket(d) for d in (-2, 0, 1, 3, 4, 7, 8, None)] == [
        "on_time", "on_time", "late_1_3d", "late_1_3d", "late_4_7d", "late_4_7d", "late_8d_plus", "not_delivered"]
    assert delivery_bucket(None, delivered=True) == "on_time" and delivery_bucket(2, delivered=False) == "not_delivered"


def test_email_fate_rates_and_stability():
    from nps_dev.generator.responses import ResponseModel

    model = ResponseModel(seed=2, bounce_rate=0.05, unsubscribe_rate=0.02)
    fates = Counter(model.email_fate(f"user{i}@example.com") for i in range(20000))
    assert abs(fates["bounce"] / 20000 - 0.05) < 0.01 and abs(fates["unsubscribe"] / 20000 - 0.02) < 0.006
    assert model.email_fate("User7@Example.com") == ResponseModel(seed=2, bounce_rate=0.05,
                                                                  unsubscribe_rate=0.02).email_fate("user7@example.com")
    assert model.email_fate("broken@@example.com") == "bounce" and model.email_fate(None) == "bounce"


def test_cli_writes_the_layout(tmp_path, capsys):
    from nps_dev.generator.cli import main

    assert main([str(tmp_path / "d"), "--seed", "5", "--customers", "30", "--days", "10"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["customers"] == 30 and summary["seed"] == 5
    assert (tmp_path / "d" / "onec" / "Document_РеализацияТоваровУслуг.json").exists()
    assert (tmp_path / "d" / "meta" / "region_spellings.csv").read_text(encoding="utf-8").startswith("spelling,region")
