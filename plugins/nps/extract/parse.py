"""Source objects -> typed rows of the raw tables. A row that cannot be parsed raises `BadRow` (-> quarantine).

Hot path (a million 1C lines per run): plain dict lookups, pre-bound names, validated strings passed through as
they are (COPY's text format takes 1C's `YYYY-MM-DDTHH:MM:SS` and numbers' text directly).
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DIGITS = re.compile(r"\d+")


class BadRow(ValueError):
    """A source object that cannot become a raw row; `reason` is stored in raw.quarantine."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# -- scalar checks (each returns the value to COPY, or None for 1C's empty values) ------------------------------

def guid(obj: dict, name: str, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None or value == "" or value == EMPTY_GUID:
        if required:
            raise BadRow(f"{name} is missing" if value is None else f"{name} is empty")
        return None
    if type(value) is not str or not _GUID.fullmatch(value):
        raise BadRow(f"{name} is not a GUID: {value!r:.60}")
    return value


def onec_date(obj: dict, name: str, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None or value == EMPTY_DATE or value == "":
        if required:
            raise BadRow(f"{name} is missing" if value is None else f"{name} is empty")
        return None
    if type(value) is not str or len(value) != 19:
        raise BadRow(f"{name} is not a 1C date: {value!r:.60}")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise BadRow(f"{name} is not a 1C date: {value!r:.60}") from None
    return value


def number(obj: dict, name: str):
    value = obj.get(name)
    kind = type(value)
    if kind is int or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise BadRow(f"{name} is not a finite number: {value!r}")
        return value
    if kind is str:
        if value == "":
            return None
        try:
            parsed = float(value)
        except ValueError:
            raise BadRow(f"{name} is not a number: {value!r:.60}") from None
        if not math.isfinite(parsed):
            raise BadRow(f"{name} is not a finite number: {value!r:.60}")
        return value.strip()
    raise BadRow(f"{name} is not a number: {value!r:.60}")


def boolean(obj: dict, name: str, default: bool | None = False) -> bool | None:
    value = obj.get(name)
    if value is True or value is False:
        return value
    if value is None:
        return default
    if isinstance(value, str) and value.lower() in ("true", "false", "y", "n"):
        return value.lower() in ("true", "y")
    raise BadRow(f"{name} is not a boolean: {value!r:.60}")


def text(obj: dict, name: str | None, required: bool = False) -> str | None:
    if not name:
        return None
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise BadRow(f"{name} is missing")
        return None
    if type(value) is str:
        return value
    if type(value) in (int, float):
        return str(value)
    raise BadRow(f"{name} is not a string: {value!r:.60}")


def key_of(obj, name: str) -> str | None:
    """The natural key for raw.quarantine, when there is a usable one."""
    if isinstance(obj, dict):
        value = obj.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value) not in ("", EMPTY_GUID):
            return str(value)
    return None


# -- 1C -----------------------------------------------------------------------------------------------------

class OneCDocument:
    """Document_ЗаказКлиента / Document_РеализацияТоваровУслуг -> (header row, [line rows]).

    `extra` names the header's extra typed columns (after customer_ref) in their raw-table order, `line_extra`
    those of a line after product_ref.
    """

    def __init__(self, section: dict, header: tuple[str, ...], line_cols: tuple[str, ...]):
        f = section["fields"]
        self.ref, self.version, self.deleted = f["ref_key"], f["version"], f["deletion_mark"]
        self.posted, self.number, self.date = f["posted"], f["number"], f["date"]
        self.header = [(col, f.get(col)) for col in header]
        lines = section.get("lines") or {}
        self.section = lines.get("section")
        self.line_number = lines.get("line_number", "LineNumber")
        self.line_cols = [(col, lines.get(col)) for col in line_cols]

    def __call__(self, obj: dict, payload: str) -> tuple[tuple, list[tuple]]:
        if type(obj) is not dict:
            raise BadRow(f"not a JSON object but {type(obj).__name__}")
        ref = guid(obj, self.ref, required=True)
        version = obj.get(self.version)
        if type(version) is not str or not version:
            raise BadRow(f"{self.version} is missing")
        values: list = [ref, text(obj, self.number), onec_date(obj, self.date, required=True)]
        for col, name in self.header:
            values.append(self._typed(obj, col, name))
        values += [boolean(obj, self.posted), boolean(obj, self.deleted), version, payload]
        lines: list[tuple] = []
        if self.section:
            rows = obj.get(self.section)
            if rows is None:
                rows = []
            if type(rows) is not list:
                raise BadRow(f"{self.section} is not a tabular section: {type(rows).__name__}")
            seen = set()
            for row in rows:
                if type(row) is not dict:
                    raise BadRow(f"{self.section}: a row is not a JSON object")
                raw_no = row.get(self.line_number)
                if type(raw_no) is int and raw_no > 0:
                    no = raw_no
                elif type(raw_no) is str and _DIGITS.fullmatch(raw_no):
                    no = int(raw_no)
                else:
                    raise BadRow(f"{self.section}.{self.line_number} is not a line number: {raw_no!r:.40}")
                if no in seen:
                    raise BadRow(f"{self.section}: line {no} appears twice")
                seen.add(no)
                line = [ref, no]
                for col, name in self.line_cols:
                    if not name:
                        line.append(None)
                    elif col.endswith("_ref"):
                        line.append(guid(row, name))
                    else:
                        line.append(number(row, name))
                lines.append(tuple(line))
        return tuple(values), lines

    @staticmethod
    def _typed(obj: dict, col: str, name: str | None):
        if not name:
            return None
        if col.endswith("_ref"):
            return guid(obj, name, required=(col == "customer_ref"))
        if col.endswith("_date"):
            return onec_date(obj, name)
        if col == "amount":
            return number(obj, name)
        value = obj.get(name)
        if col == "currency" and value == EMPTY_GUID:
            return None
        return text(obj, name)


class OneCCustomer:
    """Catalog_Контрагенты -> (ref_key, code, name, legal_kind, email, phone, region_raw, deletion_mark,
    _source_version, payload)."""

    def __init__(self, section: dict):
        f = section["fields"]
        self.ref, self.version, self.deleted = f["ref_key"], f["version"], f["deletion_mark"]
        self.code, self.name, self.kind = f["code"], f["name"], f.get("legal_kind")
        self.kinds = section.get("legal_kind_values") or {}
        ci = section.get("contact_info") or {}
        self.ci_section, self.ci_type = ci.get("section"), ci.get("type")
        self.email_type, self.phone_type = ci.get("email_type"), ci.get("phone_type")
        self.ci_email, self.ci_phone, self.ci_region = ci.get("email"), ci.get("phone"), ci.get("region")
        self.ci_presentation = ci.get("presentation")

    def __call__(self, obj: dict, payload: str) -> tuple[tuple, list]:
        if type(obj) is not dict:
            raise BadRow(f"not a JSON object but {type(obj).__name__}")
        ref = guid(obj, self.ref, required=True)
        version = obj.get(self.version)
        if type(version) is not str or not version:
            raise BadRow(f"{self.version} is missing")
        kind = text(obj, self.kind)
        kind = self.kinds.get(kind, kind)
        email = phone = region = None
        rows = obj.get(self.ci_section) if self.ci_section else None
        if rows is not None and type(rows) is not list:
            raise BadRow(f"{self.ci_section} is not a tabular section: {type(rows).__name__}")
        for row in rows or ():
            if type(row) is not dict:
                raise BadRow(f"{self.ci_section}: a row is not a JSON object")
            kind_of_row = row.get(self.ci_type)
            if email is None and kind_of_row == self.email_type:
                email = text(row, self.ci_email) or text(row, self.ci_presentation)
            elif phone is None and kind_of_row == self.phone_type:
                phone = text(row, self.ci_phone) or text(row, self.ci_presentation)
            if region is None:
                region = text(row, self.ci_region)
        return (ref, text(obj, self.code), text(obj, self.name), kind, email, phone, region,
                boolean(obj, self.deleted), version, payload), []


class OneCDelivery:
    """InformationRegister_ДоставкаЗаказов -> (order_ref, delivered_at, status, carrier, _source_version,
    payload). A register record has no DataVersion: its version is a hash of the record as 1C sent it."""

    def __init__(self, section: dict):
        f = section["fields"]
        self.order, self.date, self.status, self.carrier = f["order_ref"], f["delivered_at"], f["status"], \
            f.get("carrier")

    def __call__(self, obj: dict, payload: str) -> tuple[tuple, list]:
        if type(obj) is not dict:
            raise BadRow(f"not a JSON object but {type(obj).__name__}")
        order = guid(obj, self.order, required=True)
        carrier = obj.get(self.carrier) if self.carrier else None
        if carrier == EMPTY_GUID:
            carrier = None
        elif carrier is not None:
            carrier = text(obj, self.carrier)
        version = hashlib.md5(payload.encode("utf-8")).hexdigest()
        return (order, onec_date(obj, self.date), text(obj, self.status), carrier, version, payload), []


# -- Bitrix24 -----------------------------------------------------------------------------------------------

def crm_id(obj: dict, name: str = "ID", required: bool = True) -> str | None:
    value = obj.get(name)
    if type(value) is int and not isinstance(value, bool):
        value = str(value)
    if value is None or value == "" or value == "0":
        if required:
            raise BadRow(f"{name} is missing")
        return None
    if type(value) is not str or not _DIGITS.fullmatch(value):
        raise BadRow(f"{name} is not a Bitrix24 id: {value!r:.40}")
    return value


def crm_datetime(obj: dict, name: str, required: bool = False) -> datetime | None:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise BadRow(f"{name} is missing")
        return None
    try:
        parsed = datetime.fromisoformat(value) if type(value) is str else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise BadRow(f"{name} is not an ISO 8601 date with offset: {value!r:.60}")
    return parsed


def first_multifield(obj: dict, name: str) -> str | None:
    """PHONE / EMAIL: a list of {VALUE, VALUE_TYPE, ...}; the first non-empty VALUE (WORK before others)."""
    values = obj.get(name)
    if values is None or values == "" or values == []:
        return None
    if type(values) is not list:
        raise BadRow(f"{name} is not a list of values: {type(values).__name__}")
    best = None
    for item in values:
        if type(item) is not dict:
            raise BadRow(f"{name}: an item is not an object")
        value = item.get("VALUE")
        if not value or type(value) is not str:
            continue
        if item.get("VALUE_TYPE") == "WORK":
            return value
        best = best or value
    return best


def crm_text(obj: dict, name: str | None) -> str | None:
    if not name:
        return None
    value = obj.get(name)
    if value is None or value == "" or value is False:
        return None
    if type(value) in (str, int, float):
        return str(value)
    if type(value) is list:  # a multiple custom field: its first value
        return crm_text({"v": value[0]}, "v") if value else None
    if type(value) is dict and "VALUE" in value:
        return crm_text(value, "VALUE")
    raise BadRow(f"{name} is not a scalar: {type(value).__name__}")


class CrmContact:
    def __init__(self, fields: dict):
        self.code, self.segment, self.language = fields.get("onec_code"), fields.get("segment"), \
            fields.get("language")

    def __call__(self, obj: dict, payload: str) -> tuple[tuple, list]:
        if type(obj) is not dict:
            raise BadRow(f"not a JSON object but {type(obj).__name__}")
        return (crm_id(obj), crm_text(obj, "NAME"), crm_text(obj, "LAST_NAME"),
                crm_id(obj, "COMPANY_ID", required=False), crm_text(obj, self.code), crm_text(obj, self.segment),
                crm_text(obj, self.language), crm_id(obj, "ASSIGNED_BY_ID", required=False),
                first_multifield(obj, "EMAIL"), first_multifield(obj, "PHONE"),
                crm_datetime(obj, "DATE_MODIFY", required=True), payload), []


class CrmCompany:
    def __init__(self, fields: dict):
        self.code, self.segment = fields.get("onec_code"), fields.get("segment")

    def __call__(self, obj: dict, payload: str) -> tuple[tuple, list]:
        if type(obj) is not dict:
            raise BadRow(f"not a JSON object but {type(obj).__name__}")
        return (crm_id(obj), crm_text(obj, "TITLE"), crm_text(obj, self.code), crm_text(obj, self.segment),
                crm_id(obj, "ASSIGNED_BY_ID", required=False), first_multifield(obj, "EMAIL"),
                first_multifield(obj, "PHONE"), crm_datetime(obj, "DATE_MODIFY", required=True), payload), []


class CrmUser:
    def __init__(self, fields: dict):
        self.language = fields.get("language")

    def __call__(self, obj: dict, payload: str) -> tuple[tuple, list]:
        if type(obj) is not dict:
            raise BadRow(f"not a JSON object but {type(obj).__name__}")
        email = obj.get("EMAIL")
        if isinstance(email, list):
            email = first_multifield(obj, "EMAIL")
        else:
            email = crm_text(obj, "EMAIL")
        return (crm_id(obj), email, crm_text(obj, "NAME"), crm_text(obj, "LAST_NAME"),
                crm_text(obj, self.language), boolean(obj, "ACTIVE", default=None), payload), []
