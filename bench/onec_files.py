"""The read side of `nps.extract.onec.OneCClient` over the generator's JSON files, in this process (bench setup only).

At 5M purchase lines the fake 1C server would hold ~20 GiB of objects; this reads one entity set's file at a time
as raw bytes (msgspec.Raw slices, no per-object Python dicts kept) and answers `pages` / `page` / `get_by_key` with
the fake's own `$filter` evaluator (nps_dev.fakes.odata_filter), so `nps.extract.run_onec` loads `raw` exactly as it
does over HTTP: same parser, same upserts, same quarantine. Only the HTTP round trips are missing, which is why the
dbt benchmark uses it for its (untimed) setup and not the extract benchmark.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import msgspec

from nps_dev.fakes.odata_filter import compile_filter, infer_kind

_objects = msgspec.json.Decoder(list[msgspec.Raw])
_object = msgspec.json.Decoder(dict)


class FileOneCClient:
    page_size = 5000
    prefetch = False

    def __init__(self, data_dir: Path | str) -> None:
        self.dir = Path(data_dir) / "onec"
        if not self.dir.is_dir():
            raise FileNotFoundError(f"no generated 1C data under {self.dir}")
        self.requests = 0
        self._name: str | None = None
        self._rows: list[msgspec.Raw] = []
        self._schema: dict[str, str] = {}

    def _entity(self, entity_set: str) -> tuple[list[msgspec.Raw], dict[str, str]]:
        if entity_set != self._name:
            path = self.dir / f"{entity_set}.json"
            if not path.exists():
                raise FileNotFoundError(f"{entity_set}: no {path}")
            self._rows, self._name = [], None  # free the previous set before reading the next
            self._rows = _objects.decode(path.read_bytes())
            schema: dict[str, str] = {}
            for raw in self._rows[:2000]:  # as the fake learns its schema
                for name, value in _object.decode(raw).items():
                    if schema.get(name, "any") == "any":
                        schema[name] = infer_kind(name, value)
            self._name, self._schema = entity_set, schema
        return self._rows, self._schema

    def pages(self, entity_set: str, *, filter: str | None = None, orderby: str | None = None
              ) -> Iterator[list[msgspec.Raw]]:
        rows, schema = self._entity(entity_set)
        keep = compile_filter(filter, schema) if filter else None
        page: list[msgspec.Raw] = []
        for raw in rows:
            if keep is None or keep(_object.decode(raw)):
                page.append(raw)
                if len(page) == self.page_size:
                    self.requests += 1
                    yield page
                    page = []
        self.requests += 1
        yield page

    def page(self, entity_set: str, *, filter: str | None = None, orderby: str | None = None,
             top: int | None = None, skip: int = 0) -> list[msgspec.Raw]:
        found = (raw for page in self.pages(entity_set, filter=filter) for raw in page)
        return list(islice(found, skip, skip + top if top else None))

    def get_by_key(self, entity_set: str, ref_key: str) -> msgspec.Raw | None:
        rows, _ = self._entity(entity_set)
        self.requests += 1
        for raw in rows:
            if _object.decode(raw).get("Ref_Key") == ref_key:
                return raw
        return None

    def close(self) -> None:
        self._rows, self._name = [], None
