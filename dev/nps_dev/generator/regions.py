"""Ukraine's regions as a distributor in Kyiv serves them: 22 oblasts (Luhansk and Donetsk excluded) + Kyiv city.

Each region has its canonical Ukrainian name (what the marts show), the spellings 1C users actually type (uk / ru /
en, abbreviated, lower-case, with stray spaces), a population weight, a distance band from the Kyiv warehouse and
a language mix. `spellings()` gives every spelling with its canonical name, for a dbt seed that maps them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    canonical: str  # "Львівська область"
    uk_short: str  # "Львівська обл."
    ru: str  # "Львовская область"
    en: str  # "Lviv Oblast"
    en_translit: str  # "Lvivska oblast"
    weight: float  # share of customers
    band: int  # 0 Kyiv area, 1 near, 2 mid, 3 far
    zone: str  # west / center / north / east / south / kyiv
    frontline: bool = False  # deliveries are slower and less reliable

    @property
    def variants(self) -> tuple[str, ...]:
        return (self.canonical, self.uk_short, self.canonical.lower(), self.ru, self.ru.replace("область", "обл."),
                self.en, self.en_translit, f" {self.canonical} ", self.canonical.replace("область", "обл"))


def _r(stem_uk, stem_ru, en, translit, weight, band, zone, frontline=False) -> Region:
    return Region(f"{stem_uk} область", f"{stem_uk} обл.", f"{stem_ru} область", f"{en} Oblast",
                  f"{translit} oblast", weight, band, zone, frontline)


REGIONS: tuple[Region, ...] = (
    Region("м. Київ", "Київ", "г. Киев", "Kyiv", "Kyiv City", 9.0, 0, "kyiv"),
    _r("Київська", "Киевская", "Kyiv", "Kyivska", 5.5, 0, "north"),
    _r("Вінницька", "Винницкая", "Vinnytsia", "Vinnytska", 3.6, 1, "center"),
    _r("Волинська", "Волынская", "Volyn", "Volynska", 2.3, 2, "west"),
    _r("Дніпропетровська", "Днепропетровская", "Dnipropetrovsk", "Dnipropetrovska", 7.5, 2, "east", True),
    _r("Житомирська", "Житомирская", "Zhytomyr", "Zhytomyrska", 2.8, 1, "north"),
    _r("Закарпатська", "Закарпатская", "Zakarpattia", "Zakarpatska", 2.8, 3, "west"),
    _r("Запорізька", "Запорожская", "Zaporizhzhia", "Zaporizka", 3.5, 3, "south", True),
    _r("Івано-Франківська", "Ивано-Франковская", "Ivano-Frankivsk", "Ivano-Frankivska", 3.0, 3, "west"),
    _r("Кіровоградська", "Кировоградская", "Kirovohrad", "Kirovohradska", 2.1, 2, "center"),
    _r("Львівська", "Львовская", "Lviv", "Lvivska", 6.0, 2, "west"),
    _r("Миколаївська", "Николаевская", "Mykolaiv", "Mykolaivska", 2.5, 3, "south", True),
    _r("Одеська", "Одесская", "Odesa", "Odeska", 5.8, 3, "south"),
    _r("Полтавська", "Полтавская", "Poltava", "Poltavska", 3.1, 2, "center"),
    _r("Рівненська", "Ровенская", "Rivne", "Rivnenska", 2.5, 2, "west"),
    _r("Сумська", "Сумская", "Sumy", "Sumska", 2.2, 2, "north", True),
    _r("Тернопільська", "Тернопольская", "Ternopil", "Ternopilska", 2.2, 2, "west"),
    _r("Харківська", "Харьковская", "Kharkiv", "Kharkivska", 6.2, 2, "east", True),
    _r("Херсонська", "Херсонская", "Kherson", "Khersonska", 1.8, 3, "south", True),
    _r("Хмельницька", "Хмельницкая", "Khmelnytskyi", "Khmelnytska", 2.8, 2, "west"),
    _r("Черкаська", "Черкасская", "Cherkasy", "Cherkaska", 2.7, 1, "center"),
    _r("Чернівецька", "Черновицкая", "Chernivtsi", "Chernivetska", 2.0, 3, "west"),
    _r("Чернігівська", "Черниговская", "Chernihiv", "Chernihivska", 2.2, 1, "north", True),
)

# language mix of customers by zone: uk / ru / en / pl
LANGUAGE_MIX = {
    "west": {"uk": 0.88, "ru": 0.03, "en": 0.04, "pl": 0.05},
    "center": {"uk": 0.82, "ru": 0.12, "en": 0.05, "pl": 0.01},
    "north": {"uk": 0.80, "ru": 0.14, "en": 0.05, "pl": 0.01},
    "kyiv": {"uk": 0.70, "ru": 0.19, "en": 0.10, "pl": 0.01},
    "east": {"uk": 0.55, "ru": 0.39, "en": 0.05, "pl": 0.01},
    "south": {"uk": 0.57, "ru": 0.36, "en": 0.06, "pl": 0.01},
}

BY_CANONICAL = {r.canonical: r for r in REGIONS}


def spellings() -> list[tuple[str, str]]:
    """Every spelling the generator writes, with its canonical region: (spelling, canonical), de-duplicated."""
    seen: dict[str, str] = {}
    for region in REGIONS:
        for v in region.variants:
            seen.setdefault(v, region.canonical)
    return sorted(seen.items())
