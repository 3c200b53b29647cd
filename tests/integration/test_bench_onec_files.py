"""bench/onec_files.py (the dbt benchmark's in-process 1C source) answers exactly what the fake 1C answers over HTTP."""

from __future__ import annotations

import sys

import msgspec

from nps.config import REPO_ROOT
from nps.extract.onec import OneCClient

if str(REPO_ROOT) not in sys.path:  # bench/ is a top-level package of the repository, not installed
    sys.path.insert(0, str(REPO_ROOT))

from bench.onec_files import FileOneCClient

SALES = "Document_РеализацияТоваровУслуг"
DELIVERIES = "InformationRegister_ДоставкаЗаказов"


def _keys(pages, field: str = "Ref_Key") -> list:
    return sorted(str(msgspec.json.decode(raw)[field]) for page in pages for raw in page)


def test_file_client_filters_like_the_fake(fake_data_dir):
    from nps_dev.fakes.onec import OneCFake

    fake = OneCFake(fake_data_dir / "onec").start()
    try:
        with OneCClient(fake.service_root, "odata", "odata") as http:
            files = FileOneCClient(fake_data_dir)
            window = "Date ge datetime'2026-01-10T00:00:00' and Date lt datetime'2026-01-20T00:00:00'"
            expected = _keys(http.pages(SALES, filter=window, orderby="Ref_Key"))
            assert expected and _keys(files.pages(SALES, filter=window, orderby="Ref_Key")) == expected
            assert len(_keys(files.pages(SALES))) > len(expected)
            empty = "ДатаДоставки eq datetime'0001-01-01T00:00:00'"
            assert _keys(files.pages(DELIVERIES, filter=empty), "Заказ_Key") == \
                _keys(http.pages(DELIVERIES, filter=empty, orderby="Заказ_Key"), "Заказ_Key")
            first = _keys(files.pages(SALES))[0]
            assert msgspec.json.decode(files.get_by_key(SALES, first))["Ref_Key"] == first
            assert files.get_by_key(SALES, "00000000-0000-0000-0000-00000000dead") is None
            assert len(files.page(SALES, top=3, skip=1)) == 3
    finally:
        fake.stop()
