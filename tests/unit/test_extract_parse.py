"""Parsing 1C and Bitrix24 objects into raw rows, and what makes a row bad (-> quarantine)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from nps.extract import parse
from nps.extract.mapping import crm_mapping, onec_mapping
from nps.extract.run import _onec_filter, _onec_parser, onec_window

REF = "8b9660f6-6332-11ec-ad72-000c29b45b09"
CUST = "b7569bcd-0000-11ec-ad72-000c29b45b09"
ORDER = "c0000000-0000-11ec-ad72-000c29b45b09"
ITEM = "2d4fe75f-0000-11ec-ad72-000c29b45b09"


def sale(**over):
    obj = {"Ref_Key": REF, "DataVersion": "AAAACgAAAAA=", "DeletionMark": False, "Number": "0000-000001",
           "Date": "2026-02-22T17:22:08", "Posted": True, "Заказ_Key": ORDER, "Контрагент_Key": CUST,
           "ВалютаДокумента_Key": "00000000-0000-0000-0000-000000000000", "СуммаДокумента": 150129,
           "Товары": [{"Ref_Key": REF, "LineNumber": "1", "Номенклатура_Key": ITEM, "Количество": 25, "Цена": 5455,
                       "Сумма": 136375},
                      {"Ref_Key": REF, "LineNumber": "2", "Номенклатура_Key": ITEM, "Количество": 1.5,
                       "Цена": "9836", "Сумма": 13754}]}
    obj.update(over)
    return obj


@pytest.fixture(scope="module")
def sales_parser():
    return _onec_parser("sales", onec_mapping()["sales"])[0]


def test_sale_becomes_header_and_lines(sales_parser):
    row, lines = sales_parser(sale(), "{}")
    assert row == (REF, "0000-000001", "2026-02-22T17:22:08", ORDER, CUST, 150129, None, True, False,
                   "AAAACgAAAAA=", "{}")
    assert lines == [(REF, 1, ITEM, 25, 5455, 136375), (REF, 2, ITEM, 1.5, "9836", 13754)]


def test_currency_reference_becomes_its_code():
    parser = _onec_parser("sales", onec_mapping()["sales"], {"5a6b8c1e-0c9d-11e4-80c6-00155d010b01": "980"})[0]
    row, _ = parser(sale(**{"ВалютаДокумента_Key": "5a6b8c1e-0c9d-11e4-80c6-00155d010b01"}), "{}")
    assert row[6] == "980"
    row, _ = parser(sale(**{"ВалютаДокумента_Key": "11111111-0c9d-11e4-80c6-00155d010b01"}), "{}")
    assert row[6] == "11111111-0c9d-11e4-80c6-00155d010b01"  # unknown: kept, so the quality gate flags it


def test_empty_references_and_dates_become_null(sales_parser):
    row, _ = sales_parser(sale(**{"Заказ_Key": "00000000-0000-0000-0000-000000000000"}), "{}")
    assert row[3] is None
    orders = _onec_parser("orders", onec_mapping()["orders"])[0]
    obj = sale(**{"ДатаОтгрузки": "0001-01-01T00:00:00"})
    row, lines = orders(obj, "{}")
    assert row[4] is None and len(lines[0]) == 4


@pytest.mark.parametrize("change, reason", [
    ({"Ref_Key": None}, "Ref_Key is missing"),
    ({"Ref_Key": "00000000-0000-0000-0000-000000000000"}, "Ref_Key is empty"),
    ({"Ref_Key": "not-a-guid"}, "Ref_Key is not a GUID"),
    ({"DataVersion": None}, "DataVersion is missing"),
    ({"Date": "22.02.2026"}, "Date is not a 1C date"),
    ({"Date": "2026-13-45T00:00:00"}, "Date is not a 1C date"),
    ({"СуммаДокумента": "много"}, "СуммаДокумента is not a number"),
    ({"СуммаДокумента": "1_000"}, "СуммаДокумента is not a number"),
    ({"СуммаДокумента": "1,5"}, "СуммаДокумента is not a number"),
    ({"СуммаДокумента": "nan"}, "СуммаДокумента is not a number"),
    ({"Posted": "maybe"}, "Posted is not a boolean"),
    ({"Контрагент_Key": "00000000-0000-0000-0000-000000000000"}, "Контрагент_Key is empty"),
    ({"Товары": "oops"}, "Товары is not a tabular section"),
    ({"Товары": [{"LineNumber": "x"}]}, "LineNumber is not a line number"),
    ({"Товары": [{"LineNumber": "1"}, {"LineNumber": "1"}]}, "line 1 appears twice"),
    ({"Товары": [{"LineNumber": "1", "Количество": [1]}]}, "Количество is not a number"),
])
def test_bad_documents_raise_badrow(sales_parser, change, reason):
    obj = sale()
    obj.update(change)
    if change.get("Ref_Key", REF) is None:
        del obj["Ref_Key"]
    with pytest.raises(parse.BadRow, match=reason):
        sales_parser(obj, "{}")


def test_not_an_object_is_bad(sales_parser):
    with pytest.raises(parse.BadRow, match="not a JSON object"):
        sales_parser(["x"], "[]")


def test_customer_contact_information():
    parser = _onec_parser("customers", onec_mapping()["customers"])[0]
    obj = {"Ref_Key": CUST, "DataVersion": "AAA=", "DeletionMark": False, "Code": "000123",
           "Description": "ТОВ Ромашка", "ЮрФизЛицо": "ЮрЛицо",
           "КонтактнаяИнформация": [
               {"LineNumber": "1", "Тип": "Адрес", "Регион": "Київська обл.", "Представление": "Київ, ..."},
               {"LineNumber": "2", "Тип": "Телефон", "НомерТелефона": "+380441234567"},
               {"LineNumber": "3", "Тип": "АдресЭлектроннойПочты", "АдресЭП": "", "Представление": "a@b.ua"}]}
    row, lines = parser(obj, "{}")
    assert row == (CUST, "000123", "ТОВ Ромашка", "company", "a@b.ua", "+380441234567", "Київська обл.", False,
                   "AAA=", "{}")
    assert lines == []


def test_delivery_version_is_a_hash_of_the_record():
    parser = _onec_parser("deliveries", onec_mapping()["deliveries"])[0]
    obj = {"Заказ_Key": ORDER, "ДатаДоставки": "2026-03-01T12:00:00", "Статус": "Доставлен"}
    row, _ = parser(obj, json.dumps(obj))
    row2, _ = parser(obj, json.dumps({**obj, "Статус": "Возврат"}))
    assert row[:4] == (ORDER, "2026-03-01T12:00:00", "Доставлен", None)
    assert row[4] != row2[4] and len(row[4]) == 32


def test_crm_contact_and_user():
    fields = crm_mapping()["contacts"]["fields"]
    contact = {"ID": "37", "NAME": "Олена", "LAST_NAME": "Коваль", "COMPANY_ID": "0", "ASSIGNED_BY_ID": "5",
               "UF_CRM_1C_CODE": "000123", "UF_CRM_SEGMENT": "B2B", "UF_CRM_LANGUAGE": "uk",
               "DATE_MODIFY": "2026-03-01T10:00:00+02:00",
               "EMAIL": [{"ID": "1", "VALUE_TYPE": "HOME", "VALUE": "home@x.ua", "TYPE_ID": "EMAIL"},
                         {"ID": "2", "VALUE_TYPE": "WORK", "VALUE": "work@x.ua", "TYPE_ID": "EMAIL"}],
               "PHONE": [{"ID": "3", "VALUE_TYPE": "WORK", "VALUE": "+380501112233", "TYPE_ID": "PHONE"}]}
    row, _ = parse.CrmContact(fields)(contact, "{}")
    assert row[:10] == ("37", "Олена", "Коваль", None, "000123", "B2B", "uk", "5", "work@x.ua", "+380501112233")
    assert row[10] == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(parse.BadRow, match="DATE_MODIFY is not an ISO 8601"):
        parse.CrmContact(fields)({**contact, "DATE_MODIFY": "01.03.2026"}, "{}")
    with pytest.raises(parse.BadRow, match="ID is missing"):
        parse.CrmContact(fields)({**contact, "ID": ""}, "{}")
    user = {"ID": "5", "EMAIL": "m@x.ua", "NAME": "Іван", "LAST_NAME": "Петренко", "ACTIVE": True}
    assert parse.CrmUser({})(user, "{}")[0] == ("5", "m@x.ua", "Іван", "Петренко", None, True, "{}")


def test_window_in_1c_local_time_and_filters():
    end = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # 01:00 Kyiv (UTC+2 in winter)
    lo, hi = onec_window(end - timedelta(days=1), end, 45, "Europe/Kyiv")
    assert hi == datetime(2026, 3, 2, 1, 0) and lo == datetime(2026, 1, 15, 1, 0)
    mapping = onec_mapping()
    assert _onec_filter("sales", mapping["sales"], lo, hi) == (
        "Date ge datetime'2026-01-15T01:00:00' and Date lt datetime'2026-03-02T01:00:00'")
    assert "ДатаДоставки eq datetime'0001-01-01T00:00:00'" in _onec_filter("deliveries", mapping["deliveries"], lo, hi)
    assert _onec_filter("customers", mapping["customers"], lo, hi) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        onec_window(datetime(2026, 3, 1), datetime(2026, 3, 2), 45, "Europe/Kyiv")


def test_mapping_override_file(tmp_path, monkeypatch):
    override = tmp_path / "my.yml"
    override.write_text("sales:\n  entity_set: Document_РеализацияТоваров\n  fields:\n    amount: Сумма\n",
                        encoding="utf-8")
    monkeypatch.setenv("NPS_ONEC_MAPPING", str(override))
    mapping = onec_mapping()
    assert mapping["sales"]["entity_set"] == "Document_РеализацияТоваров"
    assert mapping["sales"]["fields"]["amount"] == "Сумма"
    assert mapping["sales"]["fields"]["customer_ref"] == "Контрагент_Key"  # defaults kept
    override.write_text("orders:\n  fields:\n    date: ''\n", encoding="utf-8")
    with pytest.raises(ValueError, match="orders.fields` lacks date"):
        onec_mapping()
