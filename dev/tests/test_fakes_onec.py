"""The fake 1C OData service against reference/protocols.md §1."""

from __future__ import annotations

import json
import threading
from urllib.parse import quote

import httpx
import pytest

from nps_dev.fakes.onec import EMPTY_DATE, EMPTY_GUID, OneCFake

SALES = "Document_РеализацияТоваровУслуг"
CUSTOMERS = "Catalog_Контрагенты"
AUTH = ("odata", "odata")

HTTP = httpx.Client(timeout=10)  # one client: building one per call costs ~50 ms (TLS context)


@pytest.fixture(scope="module")
def onec(fake_data_dir):
    fake = OneCFake(fake_data_dir / "onec").start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def client(onec):
    with httpx.Client(base_url=onec.service_root, auth=AUTH, timeout=10) as c:
        yield c


def get(client, path, **params):
    params.setdefault("$format", "json")
    return client.get(quote(path), params=params)


def page_all(client, path, page=37, **params):
    out, skip = [], 0
    while True:
        body = get(client, path, **{"$top": str(page), "$skip": str(skip), **params}).json()
        assert "odata.nextLink" not in body  # client-driven paging only
        out += body["value"]
        if len(body["value"]) < page:
            return out
        skip += page


def test_envelope_and_shapes(client, onec):
    r = get(client, SALES, **{"$top": "2"})
    assert r.status_code == 200
    body = r.json()
    assert body["odata.metadata"].endswith(f"/demo/odata/standard.odata/$metadata#{SALES}")
    doc = body["value"][0]
    for key in ("Ref_Key", "DataVersion", "DeletionMark", "Number", "Date", "Posted", "Заказ_Key",
                "Контрагент_Key", "СуммаДокумента", "Товары"):
        assert key in doc
    row = doc["Товары"][0]
    assert row["Ref_Key"] == doc["Ref_Key"] and row["LineNumber"] == "1"  # rows carry the parent's key
    assert "T" in doc["Date"] and "+" not in doc["Date"]  # no timezone
    customers = get(client, "Catalog_Контрагенты", **{"$top": "50"}).json()["value"]
    kinds = {ci["Тип"] for c in customers for ci in c["КонтактнаяИнформация"]}
    assert kinds == {"АдресЭлектроннойПочты", "Телефон", "Адрес"}
    assert {c["ЮрФизЛицо"] for c in customers} <= {"ЮрЛицо", "ФизЛицо"}
    delivery = get(client, "InformationRegister_ДоставкаЗаказов").json()["value"]
    assert any(d["ДатаДоставки"] == EMPTY_DATE for d in delivery)


def test_paging_to_the_end_with_orderby(client, onec):
    everything = onec.all(SALES)
    got = page_all(client, SALES, **{"$orderby": "Date, Number"})
    assert len(got) == len(everything)
    assert [d["Ref_Key"] for d in got] == [d["Ref_Key"] for d in sorted(everything, key=lambda d: (d["Date"],
                                                                                                   d["Number"]))]
    desc = get(client, SALES, **{"$orderby": "Date desc", "$top": "3"}).json()["value"]
    assert [d["Date"] for d in desc] == sorted((d["Date"] for d in everything), reverse=True)[:3]


def test_filters_dates_guids_strings_booleans(client, onec):
    docs = onec.all(SALES)
    dates = sorted(d["Date"] for d in docs)
    lo, hi = dates[len(dates) // 4], dates[len(dates) // 2]
    flt = f"Date ge datetime'{lo}' and Date lt datetime'{hi}' and Posted eq true"
    got = page_all(client, SALES, **{"$filter": flt, "$orderby": "Date"})
    want = [d for d in docs if lo <= d["Date"] < hi and d["Posted"]]
    assert {d["Ref_Key"] for d in got} == {d["Ref_Key"] for d in want} and want
    ref = docs[5]["Контрагент_Key"]
    got = get(client, SALES, **{"$filter": f"Контрагент_Key eq guid'{ref.upper()}'"}).json()["value"]
    assert got and all(d["Контрагент_Key"] == ref for d in got)
    assert len(got) == sum(d["Контрагент_Key"] == ref for d in docs)
    number = docs[3]["Number"]
    got = get(client, SALES, **{"$filter": f"Number eq '{number}' or Number eq 'nothing'"}).json()["value"]
    assert [d["Number"] for d in got] == [number]
    got = get(client, SALES, **{"$filter": "not (СуммаДокумента le 1000) and DeletionMark eq false"}).json()["value"]
    assert got and all(d["СуммаДокумента"] > 1000 for d in got)
    count = client.get(quote(f"{SALES}/$count"), params={"$filter": flt})
    assert count.status_code == 200 and int(count.text) == len(want)
    # the empty date is an ordinary value: "never delivered" is findable
    lost = get(client, "InformationRegister_ДоставкаЗаказов",
               **{"$filter": f"ДатаДоставки eq datetime'{EMPTY_DATE}'"}).json()["value"]
    assert lost and all(d["Статус"] != "Доставлена" for d in lost)
    nulls = get(client, SALES, **{"$filter": f"Заказ_Key eq guid'{EMPTY_GUID}'"}).json()["value"]
    assert len(nulls) == sum(d["Заказ_Key"] == EMPTY_GUID for d in docs)  # counter sales carry the empty ref


def test_select_inlinecount_single_entity_expand(client, onec):
    body = get(client, SALES, **{"$select": "Ref_Key,Number,Товары", "$top": "2"}).json()
    assert set(body["value"][0]) == {"Ref_Key", "Number", "Товары"}
    body = get(client, SALES, **{"$inlinecount": "allpages", "$top": "1", "$skip": "1"}).json()
    assert int(body["odata.count"]) == len(onec.all(SALES)) == len(body["value"])  # 1C ignores $top/$skip here
    doc = onec.all(SALES)[0]
    one = get(client, f"{SALES}(guid'{doc['Ref_Key']}')", **{"$select": "Number"}).json()
    assert one == {"Number": doc["Number"]}
    exp = get(client, f"{SALES}(guid'{doc['Ref_Key']}')", **{"$expand": "Контрагент"}).json()
    assert exp["Контрагент"]["Ref_Key"] == doc["Контрагент_Key"]


def test_select_fields_of_an_expanded_reference(client, onec):
    """What PyOData1C sends for a nested model: `$select` paths into the navigation property named in `$expand`."""
    select = "Ref_Key, Date, Контрагент/Code, Контрагент/Description"
    values = get(client, SALES, **{"$select": select, "$expand": "Контрагент", "$orderby": "Date",
                                   "$top": "5"}).json()["value"]
    assert len(values) == 5
    for v in values:
        doc = onec.get(SALES, v["Ref_Key"])
        customer = onec.get(CUSTOMERS, doc["Контрагент_Key"])
        assert v == {"Ref_Key": doc["Ref_Key"], "Date": doc["Date"],
                     "Контрагент": {"Code": customer["Code"], "Description": customer["Description"]}}
        assert customer["Code"] and customer["Description"]
    one = get(client, f"{SALES}(guid'{doc['Ref_Key']}')", **{"$select": select, "$expand": "Контрагент"}).json()
    assert one == v
    # the navigation property itself selects the whole referenced object
    whole = get(client, SALES, **{"$select": "Ref_Key, Контрагент", "$expand": "Контрагент", "$top": "1"}).json()
    first = whole["value"][0]
    assert first["Контрагент"] == onec.get(CUSTOMERS, onec.get(SALES, first["Ref_Key"])["Контрагент_Key"])
    # a reference into documents; a counter sale's empty reference expands to null
    counter = onec.upsert(SALES, {**doc, "Ref_Key": "0f0f0f0f-0000-4000-8000-000000000002", "Заказ_Key": EMPTY_GUID})
    try:
        orders = get(client, SALES, **{"$select": "Ref_Key, Заказ/Number, Заказ/Date",
                                       "$expand": "Заказ"}).json()["value"]
    finally:
        onec.delete(SALES, counter["Ref_Key"])
    assert {"Ref_Key": counter["Ref_Key"], "Заказ": None} in orders
    for o in orders[:20]:
        order = onec.get("Document_ЗаказКлиента", onec.get(SALES, o["Ref_Key"])["Заказ_Key"])
        assert o["Заказ"] == (order and {"Number": order["Number"], "Date": order["Date"]})
    # a path without its $expand, or into a field the referenced object lacks, is refused with the name echoed
    for params in ({"$select": "Ref_Key, Контрагент/Code"},
                   {"$select": "Контрагент/НетПоля", "$expand": "Контрагент"},
                   {"$select": "Контрагент/Code/Нет", "$expand": "Контрагент"},
                   {"$select": "Date/Year"}):
        r = get(client, SALES, **params)
        err = r.json()["odata.error"]
        assert r.status_code == 400 and err["code"] == "6", params
        assert params["$select"].split(", ")[-1] in err["message"]["value"]


def test_select_fields_of_a_tabular_section(client, onec):
    values = get(client, SALES, **{"$select": "Ref_Key, Товары/LineNumber, Товары/Количество",
                                   "$top": "5"}).json()["value"]
    assert len(values) == 5
    for v in values:
        doc = onec.get(SALES, v["Ref_Key"])
        assert set(v) == {"Ref_Key", "Товары"} and doc["Товары"]
        assert v["Товары"] == [{"LineNumber": r["LineNumber"], "Количество": r["Количество"]} for r in doc["Товары"]]
    both = get(client, SALES, **{"$select": "Ref_Key, Товары/Цена, Товары", "$top": "1"}).json()["value"][0]
    assert both["Товары"] == onec.get(SALES, both["Ref_Key"])["Товары"]  # the whole section wins over its parts
    r = get(client, SALES, **{"$select": "Товары/НетПоля"})
    assert r.status_code == 400 and "Товары/НетПоля" in r.json()["odata.error"]["message"]["value"]

def test_errors_like_1c(client, onec):
    r = get(client, "Document_НетТакого")
    assert r.status_code == 404 and r.json()["odata.error"]["code"] == "0"
    assert "Document_НетТакого" in r.json()["odata.error"]["message"]["value"]
    for bad in ("Date ge '2026-01-01'", "НетПоля eq 1", "Date ge datetime'2026-13-45T00:00:00'", "Posted eq",
                "Контрагент_Key eq 'abc'", "Number eq 'x' and"):
        r = get(client, SALES, **{"$filter": bad})
        assert r.status_code == 400, bad
        err = r.json()["odata.error"]
        assert err["code"] == "6" and err["message"]["lang"] == "ru"
    assert get(client, SALES, **{"$select": "Нет"}).status_code == 400
    assert get(client, SALES, **{"$orderby": "Нет desc"}).status_code == 400
    assert get(client, SALES, **{"$top": "x"}).status_code == 400
    r = get(client, f"{SALES}(guid'{'1' * 8}-1111-1111-1111-{'1' * 12}')")
    assert r.status_code == 404 and r.json()["odata.error"]["code"] == "9"
    r = client.post(quote(f"{SALES}_Товары") + "?$format=json", json={"LineNumber": "1"})
    assert r.status_code == 400 and r.json()["odata.error"]["code"] == "13"


def test_basic_auth(onec):
    r = HTTP.get(onec.service_root + quote(SALES), params={"$format": "json"}, auth=("odata", "wrong"))
    assert r.status_code == 401 and "Basic" in r.headers["www-authenticate"]
    assert HTTP.get(onec.service_root + quote(SALES)).status_code == 401


def test_xml_forms(client):
    assert client.get("$metadata").text.startswith("<?xml")
    root = client.get("")
    assert "<collection" in root.text and SALES in root.text
    feed = client.get(quote(SALES), params={"$top": "1"})
    assert feed.headers["content-type"].startswith("application/atom+xml") and "<m:properties>" in feed.text


def test_writes_bump_dataversion_and_runtime_mutation(client, onec):
    doc = dict(onec.all(SALES)[1])
    path = quote(f"{SALES}(guid'{doc['Ref_Key']}')")
    r = client.patch(path, params={"$format": "json"}, json={"Комментарий": "змінено"})
    assert r.status_code == 200 and r.json()["DataVersion"] != doc["DataVersion"]
    assert client.post(path + "/Unpost").status_code == 200
    assert onec.get(SALES, doc["Ref_Key"])["Posted"] is False
    new = onec.upsert(SALES, {**doc, "Ref_Key": "0f0f0f0f-0000-4000-8000-000000000001", "Number": "РТ00-999999"})
    got = get(client, SALES, **{"$filter": "Number eq 'РТ00-999999'"}).json()["value"]
    assert [d["Ref_Key"] for d in got] == [new["Ref_Key"]]
    assert onec.delete(SALES, new["Ref_Key"])
    assert get(client, SALES, **{"$filter": "Number eq 'РТ00-999999'"}).json()["value"] == []
    onec.upsert(SALES, {**doc, "Posted": doc["Posted"]})


def test_faults_and_concurrency(fake_data_dir):
    fake = OneCFake(fake_data_dir / "onec", latency=0.01).start()
    try:
        fake.faults.fail_next = 1
        url = fake.service_root + quote(SALES)
        r = HTTP.get(url, params={"$format": "json", "$top": "1"}, auth=AUTH)
        assert r.status_code == 500 and r.json()["odata.error"]["code"] == "-1"
        results = []

        def worker():
            with httpx.Client(auth=AUTH) as c:
                for skip in range(0, 40, 10):
                    results.append(c.get(url, params={"$format": "json", "$top": "10", "$skip": str(skip),
                                                      "$orderby": "Number"}).status_code)

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200] * 24
    finally:
        fake.stop()


def test_data_files_are_plain_1c_arrays(fake_data_dir):
    data = json.loads((fake_data_dir / "onec" / f"{SALES}.json").read_text(encoding="utf-8"))
    assert isinstance(data, list) and all("Ref_Key" in d for d in data)


def test_as_of_hides_the_future(fake_data_dir):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    fake = OneCFake(fake_data_dir / "onec").start()
    try:
        orders = fake.all("Document_ЗаказКлиента")
        deliveries = {d["Заказ_Key"]: d for d in fake.all("InformationRegister_ДоставкаЗаказов")}
        cut = sorted(o["Date"] for o in orders)[len(orders) // 2]
        fake.set_as_of(datetime.fromisoformat(cut).replace(tzinfo=ZoneInfo("Europe/Kyiv")) + timedelta(seconds=0))
        with httpx.Client(base_url=fake.service_root, auth=AUTH) as c:
            seen = page_all(c, "Document_ЗаказКлиента", **{"$orderby": "Date"})
            assert len(seen) == sum(o["Date"] <= cut for o in orders) and all(o["Date"] <= cut for o in seen)
            seen_keys = {o["Ref_Key"] for o in seen}
            regs = get(c, "InformationRegister_ДоставкаЗаказов").json()["value"]
            assert {r["Заказ_Key"] for r in regs} <= seen_keys
            pending = [r for r in regs if deliveries[r["Заказ_Key"]]["ДатаДоставки"] > cut]
            assert pending and all(r["ДатаДоставки"] == EMPTY_DATE and r["Статус"] == "ВПути" for r in pending)
            later = next(o for o in orders if o["Date"] > cut)
            r = get(c, f"Document_ЗаказКлиента(guid'{later['Ref_Key']}')")
            assert r.status_code == 404
            fake.set_as_of(None)
            assert get(c, f"Document_ЗаказКлиента(guid'{later['Ref_Key']}')").status_code == 200
    finally:
        fake.stop()
