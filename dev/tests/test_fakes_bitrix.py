"""The fake Bitrix24 webhook REST API against reference/protocols.md §2.1."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import httpx
import pytest

from nps_dev.fakes.bitrix import Bitrix24Fake, parse_php_query

HTTP = httpx.Client(timeout=10)  # one client: building one per call costs ~50 ms (TLS context)


@pytest.fixture(scope="module")
def crm(fake_data_dir):
    fake = Bitrix24Fake(fake_data_dir / "crm", rate=1000, burst=10_000).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def client(crm):
    with httpx.Client(base_url=crm.webhook_url, timeout=10) as c:
        yield c


def list_all(client, method, **params):
    out, start, calls = [], 0, 0
    while True:
        body = client.post(f"{method}.json", json={**params, "start": start}).json()
        calls += 1
        out += body["result"]
        assert body["total"] >= len(out)
        if "next" not in body:
            return out, calls
        assert len(body["result"]) == 50
        start = body["next"]


def test_paging_to_the_end_with_strings(client, crm):
    contacts, calls = list_all(client, "crm.contact.list", select=["*", "UF_*", "EMAIL", "PHONE"],
                               order={"ID": "ASC"})
    assert len(contacts) == len(crm.entities["crm.contact"]) > 50
    assert calls == -(-len(contacts) // 50)
    assert [int(c["ID"]) for c in contacts] == sorted(int(c["ID"]) for c in contacts)
    c = contacts[0]
    assert isinstance(c["ID"], str) and isinstance(c["ASSIGNED_BY_ID"], str)
    assert "UF_CRM_1C_CODE" in c and "UF_CRM_LANGUAGE" in c
    emails = [c for c in contacts if c["EMAIL"]]
    assert emails and set(emails[0]["EMAIL"][0]) == {"ID", "VALUE_TYPE", "VALUE", "TYPE_ID"}
    # multi-fields only when named in select, as on a real portal
    plain = client.post("crm.contact.list", json={"start": 0}).json()["result"][0]
    assert "EMAIL" not in plain and "PHONE" not in plain and "UF_CRM_1C_CODE" in plain
    companies, _ = list_all(client, "crm.company.list")
    assert {c.get("UF_CRM_SEGMENT") for c in companies} <= {"dealer", "contractor", "retail", "developer", None}


def test_filter_prefixes(client, crm):
    rows = list(crm.entities["crm.contact"].values())
    pivot = sorted(int(r["ID"]) for r in rows)[len(rows) // 2]
    cases = {
        ">ID": lambda r: int(r["ID"]) > pivot,
        ">=ID": lambda r: int(r["ID"]) >= pivot,
        "<ID": lambda r: int(r["ID"]) < pivot,
        "<=ID": lambda r: int(r["ID"]) <= pivot,
        "=ID": lambda r: int(r["ID"]) == pivot,
        "!ID": lambda r: int(r["ID"]) != pivot,
    }
    for key, want in cases.items():
        got, _ = list_all(client, "crm.contact.list", filter={key: str(pivot)})
        assert {g["ID"] for g in got} == {r["ID"] for r in rows if want(r)}, key
    ids = [rows[0]["ID"], rows[3]["ID"]]
    got, _ = list_all(client, "crm.contact.list", filter={"@ID": ids})
    assert sorted(g["ID"] for g in got) == sorted(ids)
    dates = sorted(r["DATE_MODIFY"] for r in rows)
    mid = dates[len(dates) // 2]
    got, _ = list_all(client, "crm.contact.list", filter={">=DATE_MODIFY": mid})
    assert len(got) == sum(r["DATE_MODIFY"] >= mid for r in rows)
    code = next(r["UF_CRM_1C_CODE"] for r in rows if r["UF_CRM_1C_CODE"])
    got, _ = list_all(client, "crm.contact.list", filter={"UF_CRM_1C_CODE": code})
    assert got and all(g["UF_CRM_1C_CODE"] == code for g in got)
    # GET with PHP brackets, the quick-test form
    r = client.get("crm.contact.list", params={"filter[>ID]": str(pivot), "select[]": "ID", "order[ID]": "DESC"})
    body = r.json()
    assert body["total"] == sum(int(x["ID"]) > pivot for x in rows)
    assert int(body["result"][0]["ID"]) == max(int(x["ID"]) for x in rows)
    assert set(body["result"][0]) == {"ID"}


def test_start_minus_one_big_export(client, crm):
    last, seen = 0, []
    while True:
        body = client.post("crm.contact.list", json={"start": -1, "order": {"ID": "ASC"},
                                                     "filter": {">ID": last}, "select": ["ID"]}).json()
        assert "total" not in body and "next" not in body
        if not body["result"]:
            break
        seen += [int(r["ID"]) for r in body["result"]]
        last = seen[-1]
    assert seen == sorted(int(i) for i in crm.entities["crm.contact"])


def test_user_get_and_tasks(client, crm):
    users = client.post("user.get", json={"ACTIVE": True}).json()
    assert users["total"] == sum(1 for u in crm.entities["user"].values() if u["ACTIVE"])
    managers = [u for u in users["result"] if u.get("UF_USR_NPS_REGIONS")]
    assert managers and all("@" in u["EMAIL"] for u in managers)
    one = client.get("user.get", params={"ID": managers[0]["ID"]}).json()["result"]
    assert [u["ID"] for u in one] == [managers[0]["ID"]]
    r = client.post("tasks.task.add", json={"fields": {"TITLE": "Детрактор: ТОВ «Тест»", "RESPONSIBLE_ID": "11",
                                                       "DESCRIPTION": "Оцінка 3"}}).json()
    task_id = r["result"]["task"]["id"]
    got = client.post("tasks.task.get", json={"taskId": task_id}).json()["result"]["task"]
    assert got["status"] == "2" and got["title"].startswith("Детрактор")
    crm.set_task_status(task_id, 5)
    assert client.get("tasks.task.get", params={"taskId": task_id}).json()["result"]["task"]["status"] == "5"
    assert client.post("tasks.task.add", json={"fields": {}}).status_code == 400


def test_batch(client, crm):
    cmd = {"first": "crm.contact.list?start=0&order[ID]=ASC&select[]=ID&select[]=COMPANY_ID",
           "company": "crm.company.get?id=$result[first][0][COMPANY_ID]",
           "users": "user.get?ACTIVE=1",
           "bad": "no.such.method"}
    body = client.post("batch", json={"halt": 0, "cmd": cmd}).json()
    res = body["result"]
    assert res["result_total"]["first"] == len(crm.entities["crm.contact"])
    assert res["result_next"]["first"] == 50
    first = res["result"]["first"][0]
    if first["COMPANY_ID"]:
        assert res["result"]["company"]["ID"] == first["COMPANY_ID"]
    assert res["result_error"]["bad"]["error"] == "ERROR_METHOD_NOT_FOUND"
    too_many = client.post("batch", json={"cmd": {str(i): "user.get" for i in range(51)}})
    assert too_many.json()["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"
    nested = client.post("batch", json={"cmd": {"a": "batch?cmd[x]=user.get"}}).json()
    assert nested["result"]["result_error"]["a"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"


def test_auth_and_errors(crm):
    r = HTTP.post(f"{crm.base_url}/rest/1/wrong/crm.contact.list.json", json={})
    assert r.status_code == 401 and r.json()["error"] == "NO_AUTH_FOUND"
    r = HTTP.post(crm.webhook_url + "crm.contact.list", json={"filter": "x"})
    assert r.status_code == 400 and r.json() == {"error": "", "error_description": "Parameter 'filter' must be array."}
    r = HTTP.post(crm.webhook_url + "crm.nothing.list", json={})
    assert r.status_code == 404 and r.json()["error"] == "ERROR_METHOD_NOT_FOUND"


def test_leaky_bucket(fake_data_dir):
    fake = Bitrix24Fake(fake_data_dir / "crm", rate=2, burst=5).start()
    try:
        with httpx.Client(base_url=fake.webhook_url) as c:
            codes = [c.post("user.get", json={}).status_code for _ in range(8)]
            assert codes[:5] == [200] * 5 and 503 in codes[5:]
            r = c.post("user.get", json={})
            assert r.status_code == 503
            assert r.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
            import time

            time.sleep(0.6)  # drains at 2/s: one request fits again
            assert c.post("user.get", json={}).status_code == 200
    finally:
        fake.stop()


def test_runtime_upsert(client, crm):
    obj = crm.upsert("crm.contact", {"NAME": "Нова", "LAST_NAME": "Клієнтка", "UF_CRM_1C_CODE": "X-1",
                                     "UF_CRM_LANGUAGE": "pl", "DATE_MODIFY": "2099-01-01T00:00:00+02:00"})
    got = client.post("crm.contact.list", json={"filter": {">DATE_MODIFY": "2098-12-31T00:00:00+02:00"}}).json()
    assert [g["ID"] for g in got["result"]] == [obj["ID"]] and got["result"][0]["UF_CRM_LANGUAGE"] == "pl"
    assert crm.delete("crm.contact", obj["ID"])


def http_build_query(params, prefix: str | None = None) -> str:
    """PHP's http_build_query, as CRest encodes every parameter (`[` -> %5B, `>` -> %3E, `$` -> %24)."""
    parts = []
    for key, value in (params.items() if isinstance(params, dict) else enumerate(params)):
        name = quote_plus(str(key)) if prefix is None else f"{prefix}%5B{quote_plus(str(key))}%5D"
        if isinstance(value, dict | list):
            parts.append(http_build_query(value, name))
        else:
            parts.append(f"{name}={quote_plus(str(value))}")
    return "&".join(parts)


def test_method_names_are_case_insensitive(client, crm):
    """A portal matches method names in any case (SDKs build them by camel-casing Python names), so does the fake."""
    params = {"order": {"ID": "ASC"}, "select": ["ID", "NAME", "LAST_NAME"], "start": 0}
    want = client.post("crm.contact.list", json=params).json()
    assert len(want["result"]) == 50 and want["next"] == 50 and want["total"] == len(crm.entities["crm.contact"])
    for method in ("crm.contact.List", "CRM.Contact.LIST.json"):
        got = client.post(method, json=params).json()
        assert got["result"] == want["result"] and got["total"] == want["total"] and got["next"] == want["next"]
    contact = crm.entities["crm.contact"][want["result"][0]["ID"]]
    cmd = {"page": "crm.contact.List?" + http_build_query(params), "one": f"crm.contact.Get?id={contact['ID']}",
           "users": "User.Get?ACTIVE=1"}
    res = client.post("Batch", json={"halt": 0, "cmd": cmd}).json()["result"]
    assert res["result_error"] == []
    assert res["result"]["page"] == want["result"] and res["result_total"]["page"] == want["total"]
    assert res["result"]["one"]["ID"] == contact["ID"] and res["result"]["one"]["LAST_NAME"] == contact["LAST_NAME"]
    assert {u["ID"] for u in res["result"]["users"]} == {u["ID"] for u in crm.entities["user"].values() if u["ACTIVE"]}
    r = client.post("crm.contact.Lost", json={})
    assert r.status_code == 404 and r.json()["error"] == "ERROR_METHOD_NOT_FOUND"


@pytest.mark.parametrize("wire", ["crest-form", "sdk-json"])
def test_batch_fast_paging_with_encoded_references(wire):
    """Fast paging as CRest and the Python SDK do it: each batch command pages `>ID` past the previous command's
    50th row, and the reference arrives URL-encoded (`%24result%5B1%5D%5B49%5D%5BID%5D`) with its parameter."""
    fake = Bitrix24Fake(rate=1000, burst=10_000).start()
    try:
        ids = [str(7 + 3 * i) for i in range(325)]  # gaps: only real IDs chain the pages
        for i in ids:
            fake.upsert("crm.contact", {"ID": i, "NAME": f"Контакт {i}"})
        with httpx.Client(base_url=fake.webhook_url, timeout=10) as c:
            total = c.post("crm.contact.List", json={"select": ["ID"]}).json()["total"]
            seen, last_id, batches, done = [], 0, 0, False
            while not done and batches < 10:  # a reference left unresolved would page the first rows forever
                cmd = {}
                for n in range(1, 4):
                    bound = last_id if n == 1 else f"$result[{n - 1}][49][ID]"
                    cmd[str(n)] = "crm.contact.List?" + http_build_query(
                        {"order": {"ID": "ASC"}, "filter": {">ID": bound}, "select": ["ID", "NAME"], "start": -1})
                assert "filter%5B%3EID%5D=%24result%5B1%5D%5B49%5D%5BID%5D" in cmd["2"]
                if wire == "crest-form":  # CRest: http_build_query of the whole call, a form body
                    r = c.post("batch", content=http_build_query({"cmd": cmd, "halt": 0}),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
                else:  # b24pysdk: each command's parameters URL-encoded, the call itself a JSON body
                    r = c.post("batch", json={"cmd": cmd, "halt": False})
                res = r.json()["result"]
                batches += 1
                assert r.status_code == 200 and res["result_error"] == []
                for n in range(1, 4):  # stop at the first short page, as the clients do
                    rows = res["result"][str(n)]
                    seen += [row["ID"] for row in rows]
                    if len(rows) < 50:
                        done = True
                        break
                last_id = seen[-1]
        assert total == 325 and len(seen) == len(set(seen)) == 325 and seen == ids
        assert batches == 3  # 7 pages (6 full, 25 rows) in batches of 3 commands
    finally:
        fake.stop()


def test_php_query_parser():
    parsed = parse_php_query([("filter[>ID]", "5"), ("select[]", "ID"), ("select[]", "NAME"), ("order[ID]", "ASC"),
                              ("filter[@ASSIGNED_BY_ID][]", "1"), ("filter[@ASSIGNED_BY_ID][]", "6")])
    assert parsed == {"filter": {">ID": "5", "@ASSIGNED_BY_ID": ["1", "6"]}, "select": ["ID", "NAME"],
                      "order": {"ID": "ASC"}}
    assert json.dumps(parsed)


def test_operation_time_limit(fake_data_dir):
    fake = Bitrix24Fake(fake_data_dir / "crm", operating_limit=0.05, latency=0.03).start()
    try:
        with httpx.Client(base_url=fake.webhook_url) as c:
            first = c.post("user.get", json={})
            assert first.status_code == 200 and first.json()["time"]["operating"] >= 0.03
            assert c.post("user.get", json={}).status_code == 200
            r = c.post("user.get", json={})
            assert r.status_code == 429 and r.json()["error"] == "OPERATION_TIME_LIMIT"
            assert c.post("crm.company.list", json={}).status_code == 200  # the budget is per method
    finally:
        fake.stop()
