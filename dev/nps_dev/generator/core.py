"""A Ukrainian building-materials distributor's 1C and Bitrix24 data, deterministic by seed.

`generate(out_dir, GeneratorConfig(...))` writes the fakes' layout:
  out_dir/onec/Catalog_Контрагенты.json, Catalog_Номенклатура.json, Catalog_Валюты.json,
               Document_ЗаказКлиента.json, Document_РеализацияТоваровУслуг.json,
               InformationRegister_ДоставкаЗаказов.json
  out_dir/crm/crm.company.json, crm.contact.json, crm.deal.json, user.json
  out_dir/sendgrid/suppressions.json   (the survey ASM group; empty lists), webhook_key.pem (signing key)
  out_dir/meta/summary.json, region_spellings.csv, truth.json (what the data hides, for tests and the demo)

What is in it (all rates configurable): B2B companies and private persons in segments (dealer, contractor,
retail, developer); customers in 22 oblasts + Kyiv city with region names spelled many ways (uk/ru/en); e-mails
some invalid or missing; orders with a promised date (`ДатаОтгрузки`); shipments (sales), some partial (shipped
< ordered on a line) with a follow-up shipment for part of those; one delivery record per shipped order, with
delays that depend on region (distance, frontline) and carrier, and some never delivered; Bitrix24 companies and
contacts linked by `UF_CRM_1C_CODE` (some unlinked, some duplicated), the customer's language in
`UF_CRM_LANGUAGE`, managers (`user`) responsible per region.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import math
import random
import struct
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nps_dev.fakes import fastjson
from nps_dev.fakes.base import gc_paused
from nps_dev.generator.regions import BY_CANONICAL, LANGUAGE_MIX, REGIONS, Region, spellings

KYIV = ZoneInfo("Europe/Kyiv")
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"
UAH_KEY = "5a6b8c1e-0c9d-11e4-80c6-00155d010b01"

DEFAULT_SEGMENTS = {"dealer": 0.22, "contractor": 0.30, "retail": 0.33, "developer": 0.15}
# orders per customer relative to the mean, and lines per order (min, max)
SEGMENT_ACTIVITY = {"dealer": 2.2, "contractor": 1.0, "retail": 0.6, "developer": 0.8}
SEGMENT_LINES = {"dealer": (2, 12), "contractor": (1, 8), "retail": (1, 4), "developer": (3, 10)}
CARRIERS = {  # name: (transit factor, probability late, probability lost)
    "Нова Пошта": (1.0, 0.08, 0.015),
    "Делівері": (1.3, 0.22, 0.03),
    "Meest Express": (1.15, 0.15, 0.025),
    "Власний транспорт": (0.8, 0.10, 0.01),
}


@dataclass
class GeneratorConfig:
    seed: int = 42
    customers: int = 400
    start: date = date(2026, 1, 5)  # first order day
    days: int = 77  # ~3 weeks of history + ~8 weeks of the demo
    orders_per_customer: float = 2.5  # mean over the whole span
    target_purchase_lines: int | None = None  # when set, orders_per_customer is derived from it
    segments: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SEGMENTS))
    person_share: float = 0.3  # private persons (ФизЛицо) among customers
    missing_email_rate: float = 0.06
    invalid_email_rate: float = 0.03
    partial_rate: float = 0.09  # orders shipped short on at least one line
    follow_up_rate: float = 0.45  # of partial orders: the rest ships later as a second sale
    unshipped_rate: float = 0.015  # orders never shipped
    unlinked_company_rate: float = 0.04
    duplicated_company_rate: float = 0.03
    unlinked_contact_rate: float = 0.03
    missing_language_rate: float = 0.08
    deletion_rate: float = 0.004
    deleted_customer_rate: float = 0.005  # customers marked for deletion (DeletionMark) who still have history
    direct_sale_rate: float = 0.006  # counter sales without an order (Заказ_Key is the empty GUID, no delivery)
    missing_promise_rate: float = 0.005  # orders whose ДатаОтгрузки is 1C's empty date
    unposted_rate: float = 0.01
    products: int = 240
    managers: int = 12

    def __post_init__(self) -> None:
        if isinstance(self.start, str):
            self.start = date.fromisoformat(self.start)
        if self.customers < 1 or self.days < 1:
            raise ValueError("customers and days must be positive")
        total = sum(self.segments.values())
        if total <= 0 or any(w < 0 for w in self.segments.values()):
            raise ValueError("segment weights must be non-negative with a positive sum")


# ---- names -------------------------------------------------------------------------------------------------------
FIRST_M = ["Олександр", "Андрій", "Сергій", "Володимир", "Дмитро", "Іван", "Михайло", "Юрій", "Олег", "Василь",
           "Петро", "Богдан", "Тарас", "Максим", "Віталій", "Роман", "Ігор", "Назар", "Євген", "Степан"]
FIRST_F = ["Олена", "Наталія", "Тетяна", "Ірина", "Оксана", "Світлана", "Юлія", "Марія", "Анна", "Людмила",
           "Галина", "Катерина", "Ольга", "Вікторія", "Софія", "Христина"]
LAST = ["Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравченко", "Олійник", "Шевчук", "Поліщук",
        "Бойко", "Мельник", "Ковальчук", "Лисенко", "Марченко", "Савченко", "Руденко", "Петренко", "Мороз",
        "Кравчук", "Павленко", "Клименко", "Гончаренко", "Федоренко", "Романенко", "Левченко", "Сидоренко",
        "Харченко", "Костенко", "Гриценко", "Литвиненко", "Захарченко", "Дячук", "Семенюк", "Гнатюк", "Якименко"]
PATRON_M = ["Олександрович", "Іванович", "Петрович", "Михайлович", "Васильович", "Сергійович", "Андрійович"]
PATRON_F = ["Олександрівна", "Іванівна", "Петрівна", "Михайлівна", "Василівна", "Сергіївна", "Андріївна"]
ROOTS = ["Будмайстер", "Технобуд", "Оптторг", "Дніпробуд", "Галбуд", "Євробуд", "Теплодім", "Профбуд", "Буд-Сервіс",
         "Майстерня", "Стройінвест", "Промтех", "Агробудсервіс", "Укрбудпостач", "Смарт Хаус", "Новобуд", "Фасад",
         "Покрівля", "Інтербуд", "Альфа-Буд", "Карпати-Буд", "Поділля", "Слобожанщина", "Полісся", "Таврія"]
SUFFIX = ["", "", " Плюс", " Груп", " Трейд", "-Схід", "-Захід", "-2000", " Центр", " Девелопмент", " і К"]
FORMS = ["ТОВ", "ТОВ", "ТОВ", "ПП", "ПрАТ", "ФОП"]
TRANSLIT = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie", "ж": "zh", "з": "z", "и": "y",
    "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s",
    "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu",
    "я": "ia", "'": "", " ": "", "-": "-"})
PERSON_DOMAINS = ["gmail.example.com", "ukr.example.net", "i.example.org", "meta.example.com"]
PRODUCTS = ["Цемент М500 25 кг", "Цемент М400 50 кг", "Суміш штукатурна", "Клей для плитки", "Гіпсокартон 12.5 мм",
            "Профіль CD-60", "Профіль UD-27", "Утеплювач мінвата 100 мм", "Пінопласт ПСБ-С 50", "Цегла М-150",
            "Газоблок 300 мм", "Арматура 12 мм", "Металочерепиця", "Профнастил ПС-20", "Ґрунтовка глибокого проникнення",
            "Фарба фасадна 10 л", "Шпаклівка фінішна", "Ламінат 32 клас", "Плитка керамічна", "Труба ПП 20 мм",
            "Кабель ВВГ 3x2.5", "Саморізи 3.5x25", "Піна монтажна", "Герметик силіконовий", "Сітка штукатурна"]


def _translit(text: str) -> str:
    return text.lower().translate(TRANSLIT)


def _weighted(rng: random.Random, weights: dict):
    r = rng.random() * sum(weights.values())
    for key, w in weights.items():
        r -= w
        if r <= 0:
            return key
    return key


class _Ids:
    """Deterministic GUIDs and 1C DataVersions."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.version = 0

    def guid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def data_version(self) -> str:
        self.version += 1
        return base64.b64encode(struct.pack(">II", self.version, 0)).decode()


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S")


def _phone(rng: random.Random) -> str:
    op = rng.choice(["50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99"])
    n = f"{rng.randrange(10_000_000):07d}"
    style = rng.random()
    if style < 0.4:
        return f"+380 {op} {n[:3]} {n[3:5]} {n[5:]}"
    if style < 0.7:
        return f"(0{op}) {n[:3]}-{n[3:5]}-{n[5:]}"
    if style < 0.85:
        return f"0{op}{n}"
    return f"+380{op}{n}"


def _spell(rng: random.Random, region: Region, language: str) -> str:
    """How a 1C user typed the region: mostly the canonical name, often a variant matching their language."""
    r = rng.random()
    if r < 0.5:
        return region.canonical
    if language == "ru" and r < 0.8:
        return rng.choice([region.ru, region.ru.replace("область", "обл.")])
    if language in ("en", "pl") and r < 0.8:
        return rng.choice([region.en, region.en_translit])
    return rng.choice(region.variants)


# ---- contact information rows (Catalog_Контрагенты.КонтактнаяИнформация) ----------------------------------------
def _ci_row(parent: str, line: int, kind: str, value: str, region: str = "", city: str = "") -> dict:
    row = {"Ref_Key": parent, "LineNumber": str(line), "Тип": kind, "Вид_Key": CI_KIND[kind],
           "Представление": value, "Страна": "", "Регион": "", "Город": "", "АдресЭП": "",
           "ДоменноеИмяСервера": "", "НомерТелефона": "", "НомерТелефонаБезКодов": "", "ВидДляСписка_Key": EMPTY_GUID}
    if kind == "АдресЭлектроннойПочты":
        row["АдресЭП"] = value
        row["ДоменноеИмяСервера"] = value.rpartition("@")[2] if "@" in value else ""
    elif kind == "Телефон":
        digits = "".join(c for c in value if c.isdigit())
        row["НомерТелефона"] = value
        row["НомерТелефонаБезКодов"] = digits[-7:]
    else:
        row.update({"Страна": "УКРАЇНА", "Регион": region, "Город": city})
    return row


CI_KIND = {"АдресЭлектроннойПочты": "9f3c2d20-1a4e-11e4-80c6-00155d010b01",
           "Телефон": "9f3c2d21-1a4e-11e4-80c6-00155d010b01",
           "Адрес": "9f3c2d22-1a4e-11e4-80c6-00155d010b01"}


@dataclass
class _Customer:
    ref: str
    code: str
    name: str
    is_person: bool
    segment: str
    region: Region
    language: str
    email: str | None
    phone: str
    activity: float
    first_day: int
    manager_id: str
    person: tuple[str, str, str] = ("", "", "")  # first, patronymic, last of the contact person
    deleted: bool = False


def generate(out_dir: Path | str, config: GeneratorConfig | None = None) -> dict:
    """Write the fakes' data directory and return a summary (counts, rates, timing)."""
    cfg = config or GeneratorConfig()
    with gc_paused():
        return _generate(Path(out_dir), cfg)


def _generate(out: Path, cfg: GeneratorConfig) -> dict:
    t0 = time.perf_counter()
    for sub in ("onec", "crm", "sendgrid", "meta"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rng = random.Random(cfg.seed)
    ids = _Ids(random.Random(cfg.seed * 7919 + 1))
    base_day = datetime.combine(cfg.start, datetime.min.time())

    # managers: each region has one responsible manager; a manager covers one to three regions
    users, region_manager = _managers(rng, cfg)

    products = []
    for i in range(cfg.products):
        name = PRODUCTS[i % len(PRODUCTS)] + ("" if i < len(PRODUCTS) else f" (арт. {1000 + i})")
        products.append({"Ref_Key": ids.guid(), "DataVersion": ids.data_version(), "DeletionMark": False,
                         "Parent_Key": EMPTY_GUID, "IsFolder": False, "Code": f"{i + 1:09d}", "Description": name,
                         "Артикул": f"UA-{10000 + i}", "ЕдиницаИзмерения_Key": EMPTY_GUID,
                         "_price": round(rng.uniform(40, 4500), 2)})

    customers = _customers(rng, ids, cfg, region_manager)
    onec_customers = [_customer_object(c, ids, rng) for c in customers]

    writers = {name: _ArrayWriter(out / "onec" / f"{name}.json") for name in (
        "Document_ЗаказКлиента", "Document_РеализацияТоваровУслуг", "InformationRegister_ДоставкаЗаказов")}
    stats, truth_lines, direct = _documents(rng, ids, cfg, customers, products, base_day, *writers.values())
    for w in writers.values():
        w.close()
    for p in products:
        p.pop("_price")

    companies, contacts, deals = _crm(rng, cfg, customers, base_day)
    sendgrid = {"groups": [{"id": 1001, "name": "NPS surveys", "description": "Опитування задоволеності",
                            "is_default": False}],
                "global_unsubscribes": [], "group_suppressions": [], "bounces": []}

    _dump(out / "onec" / "Catalog_Контрагенты.json", onec_customers)
    _dump(out / "onec" / "Catalog_Номенклатура.json", products)
    _dump(out / "onec" / "Catalog_Валюты.json", [{
        "Ref_Key": UAH_KEY, "DataVersion": "AAAAAQAAAAA=", "DeletionMark": False, "Code": "980",
        "Description": "грн", "НаименованиеПолное": "Українська гривня"}])
    _dump(out / "crm" / "crm.company.json", companies)
    _dump(out / "crm" / "crm.contact.json", contacts)
    _dump(out / "crm" / "crm.deal.json", deals)
    _dump(out / "crm" / "user.json", users)
    # the fake SendGrid's Event Webhook signing key, derived from the seed: a receiver configured once keeps working
    key = ec.derive_private_key(int(stable_hash(cfg.seed, "webhook-key") * 2**62) + 1, ec.SECP256R1())
    (out / "sendgrid" / "webhook_key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public_key = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    (out / "sendgrid" / "suppressions.json").write_text(json.dumps(sendgrid, ensure_ascii=False, indent=1),
                                                        encoding="utf-8")
    with (out / "meta" / "region_spellings.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["spelling", "region"])
        writer.writerows(spellings())
    truth = {"customers": {c.ref: {"code": c.code, "segment": c.segment, "region": c.region.canonical,
                                   "language": c.language, "is_person": c.is_person, "email": c.email,
                                   "manager_id": c.manager_id} for c in customers},
             "orders": truth_lines, "sales_without_order": direct}
    _dump(out / "meta" / "truth.json", truth)

    summary = {
        "seed": cfg.seed, "out_dir": str(out), "start": cfg.start.isoformat(), "days": cfg.days,
        "customers": len(customers), "persons": sum(c.is_person for c in customers),
        **{k: int(stats[k]) for k in ("orders", "sales", "purchase_lines", "order_lines", "deliveries",
                                      "never_delivered", "partial_orders", "direct_sales")},
        "crm_companies": len(companies), "crm_contacts": len(contacts), "crm_deals": len(deals),
        "managers": len(users) - 1,
        "missing_email": sum(c.email is None for c in customers),
        "invalid_email": sum(c.email is not None and not _valid_email(c.email) for c in customers),
        "sendgrid_public_key": public_key,
        "seconds": 0.0, "config": {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(cfg).items()},
    }
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    (out / "meta" / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return summary


def _valid_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    return bool(local) and at == "@" and "." in domain and " " not in email and "@" not in domain


def _dump(path: Path, data) -> None:
    path.write_bytes(fastjson.dumps(data))


def _managers(rng: random.Random, cfg: GeneratorConfig) -> tuple[list[dict], dict[str, str]]:
    users = [{"ID": "1", "ACTIVE": True, "EMAIL": "admin@distributor.example.com", "NAME": "Адміністратор",
              "LAST_NAME": "Порталу", "SECOND_NAME": "", "PERSONAL_GENDER": "", "PERSONAL_MOBILE": "",
              "PERSONAL_CITY": "Київ", "WORK_POSITION": "Адміністратор", "UF_DEPARTMENT": [1],
              "USER_TYPE": "employee", "UF_USR_NPS_REGIONS": "", "TIME_ZONE": "Europe/Kyiv"}]
    n = max(1, min(cfg.managers, len(REGIONS)))
    regions = sorted(REGIONS, key=lambda r: -r.weight)
    buckets: list[list[Region]] = [[] for _ in range(n)]
    for i, region in enumerate(regions):  # snake order spreads big regions over managers
        idx = i % n if (i // n) % 2 == 0 else n - 1 - i % n
        buckets[idx].append(region)
    region_manager = {}
    for i, bucket in enumerate(buckets):
        female = rng.random() < 0.5
        first = rng.choice(FIRST_F if female else FIRST_M)
        last = rng.choice(LAST)
        uid = str(10 + i)
        names = [r.canonical for r in bucket]
        users.append({
            "ID": uid, "ACTIVE": True, "EMAIL": f"{_translit(first)}.{_translit(last)}{uid}@distributor.example.com",
            "NAME": first, "LAST_NAME": last, "SECOND_NAME": rng.choice(PATRON_F if female else PATRON_M),
            "PERSONAL_GENDER": "F" if female else "M", "PERSONAL_MOBILE": _phone(rng),
            "PERSONAL_CITY": bucket[0].canonical.replace(" область", "").replace("м. ", ""),
            "WORK_POSITION": "Регіональний менеджер: " + ", ".join(names), "UF_DEPARTMENT": [3 + i % 3],
            "USER_TYPE": "employee", "UF_USR_NPS_REGIONS": ", ".join(names), "TIME_ZONE": "Europe/Kyiv"})
        for name in names:
            region_manager[name] = uid
    # a former manager, deactivated, still responsible for some older CRM records
    users.append({"ID": "90", "ACTIVE": False, "EMAIL": "former.manager90@distributor.example.com",
                  "NAME": "Борис", "LAST_NAME": "Звільнений", "SECOND_NAME": "Петрович", "PERSONAL_GENDER": "M",
                  "PERSONAL_MOBILE": "", "PERSONAL_CITY": "Київ", "WORK_POSITION": "Регіональний менеджер (звільнений)",
                  "UF_DEPARTMENT": [3], "USER_TYPE": "employee", "UF_USR_NPS_REGIONS": "", "TIME_ZONE": "Europe/Kyiv"})
    return users, region_manager


def _customers(rng, ids, cfg, region_manager) -> list[_Customer]:
    weights = {r.canonical: r.weight for r in REGIONS}
    seg_weights = dict(cfg.segments)
    person_segs = {s: w * (3.0 if s == "retail" else 0.3 if s == "contractor" else 0.05)
                   for s, w in seg_weights.items()}
    out = []
    used_emails: set[str] = set()
    for i in range(cfg.customers):
        region = BY_CANONICAL[_weighted(rng, weights)]
        language = _weighted(rng, LANGUAGE_MIX[region.zone])
        is_person = rng.random() < cfg.person_share
        segment = _weighted(rng, person_segs if is_person and sum(person_segs.values()) > 0 else seg_weights)
        female = rng.random() < 0.5
        first = rng.choice(FIRST_F if female else FIRST_M)
        last = rng.choice(LAST)
        patron = rng.choice(PATRON_F if female else PATRON_M)
        if is_person:
            name = f"{last} {first} {patron}"
            local = f"{_translit(first)}.{_translit(last)}"
            domain = rng.choice(PERSON_DOMAINS)
        else:
            form = rng.choice(FORMS)
            root = rng.choice(ROOTS) + rng.choice(SUFFIX)
            name = f"ФОП {last} {first[0]}.{patron[0]}." if form == "ФОП" else f"{form} «{root}»"
            local = rng.choice(["info", "office", "sales", "zakupivli", _translit(first)])
            domain = f"{_translit(root.split()[0])}-{i}.example.com"
        email = f"{local}@{domain}"
        while email in used_emails:
            email = f"{local}{rng.randrange(100)}@{domain}"
        used_emails.add(email)
        r = rng.random()
        if r < cfg.missing_email_rate:
            email = None
        elif r < cfg.missing_email_rate + cfg.invalid_email_rate:
            email = rng.choice([email.replace("@", "@@"), email.replace("@", " @"), email.rsplit(".", 1)[0],
                                email.replace("@", "."), email.replace(".", ",", 1)])
        activity = SEGMENT_ACTIVITY.get(segment, 1.0) * rng.lognormvariate(0, 0.6)
        # most customers exist from the start; some join during the span
        first_day = 0 if rng.random() < 0.8 else rng.randrange(cfg.days)
        out.append(_Customer(ids.guid(), f"{i + 1:09d}", name, is_person, segment, region, language, email,
                             _phone(rng), activity, first_day, region_manager[region.canonical],
                             (first, patron, last), rng.random() < cfg.deleted_customer_rate))
    return out


def _customer_object(c: _Customer, ids: _Ids, rng: random.Random) -> dict:
    rows = []
    if c.email is not None:
        rows.append(("АдресЭлектроннойПочты", c.email))
    rows.append(("Телефон", c.phone))
    spelled = _spell(rng, c.region, c.language)
    city = c.region.canonical.replace(" область", "").replace("м. ", "")
    rows.append(("Адрес", f"{spelled}, {city}, вул. Центральна, {rng.randrange(1, 120)}"))
    ci = [_ci_row(c.ref, i + 1, kind, value, spelled if kind == "Адрес" else "", city if kind == "Адрес" else "")
          for i, (kind, value) in enumerate(rows)]
    return {"Ref_Key": c.ref, "DataVersion": ids.data_version(), "DeletionMark": c.deleted, "Parent_Key": EMPTY_GUID,
            "IsFolder": False, "Code": c.code, "Description": c.name,
            "НаименованиеПолное": c.name if not c.is_person else c.name,
            "ЮрФизЛицо": "ФизЛицо" if c.is_person else "ЮрЛицо",
            "ИНН": f"{rng.randrange(10**9, 10**10)}" if c.is_person else f"{rng.randrange(10**7, 10**8)}",
            "ОсновнойМенеджер_Key": EMPTY_GUID, "Комментарий": "",
            "КонтактнаяИнформация": ci}


class _ArrayWriter:
    """Streams a JSON array to a file in chunks (C encoder per chunk), so 1M lines never sit in one string."""

    def __init__(self, path: Path, chunk: int = 5000) -> None:
        self.fh = path.open("wb")
        self.fh.write(b"[")
        self.buf: list = []
        self.chunk = chunk
        self.count = 0

    def add(self, obj) -> None:
        self.buf.append(obj)
        if len(self.buf) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            if self.count:
                self.fh.write(b",")
            self.fh.write(fastjson.dumps(self.buf)[1:-1])
            self.count += len(self.buf)
            self.buf = []

    def close(self) -> None:
        self.flush()
        self.fh.write(b"]")
        self.fh.close()


def _documents(rng, ids, cfg, customers, products, base_day, w_orders, w_sales, w_deliveries):
    rnd = rng.random
    weight = [c.activity * (cfg.days - c.first_day) / cfg.days for c in customers]
    total_activity = sum(weight) or 1.0
    mean_lines = sum(w * sum(SEGMENT_LINES.get(c.segment, (1, 6))) / 2
                     for w, c in zip(weight, customers, strict=True)) / total_activity
    n_orders = cfg.customers * cfg.orders_per_customer
    if cfg.target_purchase_lines:
        # a shipped order has about mean_lines sale lines; follow-up shipments add a few
        n_orders = cfg.target_purchase_lines / mean_lines / (1 - cfg.unshipped_rate) / (
            1 + cfg.partial_rate * cfg.follow_up_rate * 0.35)
    scale = n_orders / total_activity
    plan = []  # (day offset, seconds, customer index)
    for idx, c in enumerate(customers):
        span = cfg.days - c.first_day
        expected = c.activity * span / cfg.days * scale
        count = int(expected) + (1 if rnd() < expected - int(expected) else 0)
        for _ in range(count):
            plan.append((c.first_day + int(rnd() * span), 8 * 3600 + int(rnd() * 11 * 3600), idx))
    plan.sort()

    truth: dict[str, dict] = {}
    direct: list[str] = []
    stats = Counter()
    n_products = len(products)
    prices = [p["_price"] for p in products]
    keys = [p["Ref_Key"] for p in products]
    carriers = list(CARRIERS)
    day_cache: dict[int, datetime] = {}
    sale_no = 0
    for n, (day, secs, idx) in enumerate(plan, 1):
        c = customers[idx]
        base = day_cache.get(day)
        if base is None:
            base = day_cache[day] = base_day + timedelta(days=day)
        order_dt = base + timedelta(seconds=secs)
        if rnd() < cfg.direct_sale_rate:  # picked up at the counter: a sale without an order or a delivery
            n_lines = 1 + int(rnd() * 3)
            items = [(int(rnd() * n_products), 1 + int(rnd() * 10)) for _ in range(n_lines)]
            sale_no += 1
            sale = _sale(ids, sale_no, order_dt, EMPTY_GUID, c, items, prices, keys, rnd, cfg)
            w_sales.add(sale)
            stats["sales"] += 1
            stats["direct_sales"] += 1
            stats["purchase_lines"] += n_lines
            direct.append(sale["Ref_Key"])
            continue
        order_ref = ids.guid()
        lo, hi = SEGMENT_LINES.get(c.segment, (1, 6))
        n_lines = lo + int(rnd() * (hi - lo + 1))
        big = 5 if c.segment in ("developer", "dealer") else 1
        lines = [(ln, int(rnd() * n_products), (1 + int(rnd() * 20)) * big) for ln in range(1, n_lines + 1)]
        band = c.region.band
        # promise: a day in the warehouse, the usual transit for the distance, a day of slack
        promised = base + timedelta(days=2 + math.ceil(0.6 + 0.8 * band))
        order_rows = []
        order_sum = 0.0
        for ln, pi, qty in lines:
            amount = round(prices[pi] * qty, 2)
            order_sum += amount
            order_rows.append({"Ref_Key": order_ref, "LineNumber": str(ln), "Номенклатура_Key": keys[pi],
                               "Количество": qty, "Цена": prices[pi], "Сумма": amount})
        deleted = rnd() < cfg.deletion_rate
        no_promise = rnd() < cfg.missing_promise_rate
        w_orders.add({"Ref_Key": order_ref, "DataVersion": ids.data_version(), "DeletionMark": deleted,
                      "Number": f"ЗК00-{n:06d}", "Date": order_dt.isoformat(), "Posted": not deleted,
                      "Контрагент_Key": c.ref, "ДатаОтгрузки": EMPTY_DATE if no_promise else promised.isoformat(),
                      "ВалютаДокумента_Key": UAH_KEY,
                      "СуммаДокумента": round(order_sum, 2), "Статус": "КОтгрузке", "Комментарий": "",
                      "Товары": order_rows})
        stats["orders"] += 1
        stats["order_lines"] += n_lines
        if deleted or rnd() < cfg.unshipped_rate:
            truth[order_ref] = {"customer": c.ref, "shipped": False, "in_full": False, "delay_days": None,
                                "delivered": False, "carrier": None}
            continue
        # shipment: usually the next working day, sometimes late in the warehouse
        ship_lag = (0, 1, 1, 1, 2)[int(rnd() * 5)] + (1 + int(rnd() * 4) if rnd() < 0.06 else 0)
        ship_dt = base + timedelta(days=ship_lag, hours=8 + int(rnd() * 10), minutes=int(rnd() * 60))
        partial = rnd() < cfg.partial_rate
        short_lines = set(rng.sample(range(1, n_lines + 1), k=1 + int(rnd() * max(1, n_lines // 3)))) if partial \
            else ()
        shipped, rest = [], []
        for ln, pi, qty in lines:
            if ln in short_lines:
                q = int(rnd() * qty)  # 0 .. qty-1
                if q:
                    shipped.append((pi, q))
                rest.append((pi, qty - q))
            else:
                shipped.append((pi, qty))
        if not shipped:
            shipped.append(rest.pop(0))
        sale_no += 1
        w_sales.add(_sale(ids, sale_no, ship_dt, order_ref, c, shipped, prices, keys, rnd, cfg))
        stats["sales"] += 1
        stats["purchase_lines"] += len(shipped)
        if partial and rest and rnd() < cfg.follow_up_rate:
            sale_no += 1
            later = ship_dt + timedelta(days=3 + int(rnd() * 8))
            w_sales.add(_sale(ids, sale_no, later, order_ref, c, rest, prices, keys, rnd, cfg))
            stats["sales"] += 1
            stats["purchase_lines"] += len(rest)
        # delivery by carrier; far and frontline regions are slower and less reliable
        pool = carriers[:3] if band >= 2 else carriers
        carrier = pool[int(rnd() * len(pool))]
        factor, p_late, p_lost = CARRIERS[carrier]
        if c.region.frontline:
            p_late += 0.15
            p_lost *= 2.5
        p_late += 0.04 * band
        transit = max(1, round((0.6 + band * 0.8) * factor + rnd() - 0.4))
        extra = min(21, int(rng.expovariate(1 / (2.5 + band))) + 1) if rnd() < p_late else 0
        delivered_dt = (ship_dt + timedelta(days=transit + extra)).replace(hour=9 + int(rnd() * 10),
                                                                          minute=int(rnd() * 60))
        lost = rnd() < p_lost
        status = ("ВПути", "Утеряна")[int(rnd() * 2)] if lost else "Доставлена"
        w_deliveries.add({"Заказ_Key": order_ref, "ДатаДоставки": EMPTY_DATE if lost else delivered_dt.isoformat(),
                          "Статус": status, "Перевозчик": carrier})
        stats["deliveries"] += 1
        stats["never_delivered"] += lost
        stats["partial_orders"] += partial
        truth[order_ref] = {"customer": c.ref, "shipped": True, "in_full": not partial,
                            "delay_days": None if lost or no_promise else (delivered_dt.date() - promised.date()).days,
                            "delivered": not lost, "carrier": carrier}
    return stats, truth, direct


def _sale(ids, number, dt, order_ref, c, items, prices, keys, rnd, cfg) -> dict:
    ref = ids.guid()
    rows = []
    total = 0.0
    for ln, (pi, qty) in enumerate(items, 1):
        amount = round(prices[pi] * qty, 2)
        total += amount
        rows.append({"Ref_Key": ref, "LineNumber": str(ln), "Номенклатура_Key": keys[pi], "Количество": qty,
                     "Цена": prices[pi], "Сумма": amount, "СтавкаНДС": "НДС20", "СуммаНДС": round(amount / 6, 2)})
    return {"Ref_Key": ref, "DataVersion": ids.data_version(), "DeletionMark": False, "Number": f"РТ00-{number:06d}",
            "Date": dt.isoformat(), "Posted": rnd() >= cfg.unposted_rate, "ВидОперации": "Товары",
            "Заказ_Key": order_ref, "Контрагент_Key": c.ref, "ВалютаДокумента_Key": UAH_KEY,
            "СуммаДокумента": round(total, 2), "СуммаВключаетНДС": True, "Комментарий": "",
            "ДоверенностьДата": EMPTY_DATE, "Товары": rows, "Услуги": []}


def _bx_multi(rng, start_id: int, value: str, type_id: str, value_type: str) -> dict:
    return {"ID": str(start_id), "VALUE_TYPE": value_type, "VALUE": value, "TYPE_ID": type_id}


def _crm(rng, cfg, customers, base_day):
    companies, contacts, deals = [], [], []
    multi_id = 100
    cid = 0
    pid = 0

    def stamp(days_before: int) -> str:
        dt = base_day - timedelta(days=days_before, seconds=rng.randrange(86400))
        return dt.replace(tzinfo=KYIV).isoformat()  # Bitrix24 dates carry the portal's UTC offset

    for c in customers:
        assigned = c.manager_id if rng.random() > 0.03 else "90"
        email_vals = []
        if c.email is not None or rng.random() < 0.3:
            multi_id += 1
            email_vals.append(_bx_multi(rng, multi_id, c.email or f"crm-only-{c.code}@mail.example.com", "EMAIL",
                                        "WORK"))
        multi_id += 1
        phone_vals = [_bx_multi(rng, multi_id, c.phone, "PHONE", "WORK")]
        created = stamp(rng.randint(30, 900))
        modified = stamp(rng.randint(1, 29))
        company_id = None
        if not c.is_person:
            copies = 2 if rng.random() < cfg.duplicated_company_rate else 1
            for k in range(copies):
                cid += 1
                linked = rng.random() >= cfg.unlinked_company_rate
                companies.append({
                    "ID": str(cid), "TITLE": c.name if k == 0 else c.name.upper(), "COMPANY_TYPE": "CUSTOMER",
                    "INDUSTRY": "CONSTRUCTION", "OPENED": "Y", "ASSIGNED_BY_ID": assigned, "CREATED_BY_ID": "1",
                    "MODIFY_BY_ID": assigned, "DATE_CREATE": created,
                    "DATE_MODIFY": modified if k == 0 else stamp(rng.randint(60, 400)),
                    "ADDRESS_REGION": c.region.canonical if rng.random() < 0.7 else None,
                    "HAS_PHONE": "Y", "HAS_EMAIL": "Y" if email_vals else "N", "PHONE": phone_vals,
                    "EMAIL": email_vals, "UF_CRM_1C_CODE": c.code if linked or k > 0 else None,
                    "UF_CRM_SEGMENT": c.segment if k == 0 or rng.random() < 0.5 else rng.choice(list(cfg.segments)),
                })
                if k == 0:
                    company_id = str(cid)
        n_contacts = 1 if c.is_person else rng.choice([1, 1, 2])
        for k in range(n_contacts):
            pid += 1
            first, patron, last = c.person if k == 0 else (rng.choice(FIRST_M + FIRST_F), "", rng.choice(LAST))
            linked = rng.random() >= cfg.unlinked_contact_rate
            language = c.language if rng.random() >= cfg.missing_language_rate else None
            contacts.append({
                "ID": str(pid), "NAME": first, "SECOND_NAME": patron, "LAST_NAME": last, "TYPE_ID": "CLIENT",
                "SOURCE_ID": rng.choice(["CALL", "WEB", "RECOMMENDATION", "STORE"]), "OPENED": "Y", "EXPORT": "Y",
                "COMPANY_ID": company_id, "ASSIGNED_BY_ID": assigned, "CREATED_BY_ID": "1",
                "DATE_CREATE": created, "DATE_MODIFY": modified, "HAS_PHONE": "Y",
                "HAS_EMAIL": "Y" if (email_vals and k == 0) else "N",
                "PHONE": phone_vals if k == 0 else [_bx_multi(rng, multi_id + 500000 + pid, _phone(rng), "PHONE",
                                                              "MOBILE")],
                "EMAIL": email_vals if k == 0 else [],
                "ADDRESS_REGION": c.region.canonical if rng.random() < 0.5 else None,
                "UF_CRM_1C_CODE": c.code if (linked and k == 0) else None,
                "UF_CRM_LANGUAGE": language,
                "UF_CRM_SEGMENT": c.segment if c.is_person else None,
            })
        if not c.is_person:
            deals.append({"ID": str(len(deals) + 1), "TITLE": f"Договір постачання {c.code}", "TYPE_ID": "SALE",
                          "STAGE_ID": "WON", "CATEGORY_ID": "0", "CLOSED": "Y", "OPPORTUNITY": f"{rng.randint(5, 900) * 1000}.00",
                          "CURRENCY_ID": "UAH", "COMPANY_ID": company_id, "CONTACT_ID": str(pid),
                          "ASSIGNED_BY_ID": assigned, "DATE_CREATE": created, "DATE_MODIFY": modified,
                          "BEGINDATE": created[:10] + "T00:00:00" + created[19:], "UF_CRM_1C_CODE": c.code})
    return companies, contacts, deals


def stable_hash(*parts) -> float:
    """A uniform [0, 1) number from the parts (stable across processes, unlike hash())."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
