"""Builds the national administrative units from the packages that carry the official lists.

- pre-2025 edition (63 provinces, districts, communes), valid until 2025-06-30:
  `vietnamadminunits` (table `admin_units_legacy`);
- post-2025 edition (34 provinces, 3,321 communes), valid from 2025-07-01: `vietnam-provinces`
  (the current official code list);
- lineage old commune -> new commune(s), old province -> new province: the 2025 conversion
  tables of `vietnamadminunits`. That package names new communes by key; they are matched to
  the official list by province code and folded name (the two packages' 2025 codes differ for
  about 160 communes; the official list wins).

Nothing here is typed by hand. The result is plain rows, loaded set-wise by the repository.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from importlib import metadata, resources
from pathlib import Path

from services.criteria.models import LEVEL_ORDER, Edition, UnitLevel
from shared.vn import fold, nfc

DATASET = "national-admin-units"
LOADER_VERSION = "3"
LEGACY_VALID_TO = date(2025, 6, 30)
V2025_VALID_FROM = date(2025, 7, 1)
SOURCE_LEGACY = "vietnamadminunits"
SOURCE_2025 = "vietnam-provinces"


@dataclass(frozen=True, slots=True)
class UnitRow:
    code: str
    edition: Edition
    level: UnitLevel
    name: str
    short_name: str
    type_name: str
    parent_code: str | None
    province_code: str
    path: str
    valid_from: date | None
    valid_to: date | None
    source: str

    @property
    def level_order(self) -> int:
        return LEVEL_ORDER[self.level]

    @property
    def search_key(self) -> str:
        return fold(self.name)


@dataclass(frozen=True, slots=True)
class LineageRow:
    predecessor_code: str
    predecessor_edition: Edition
    successor_code: str
    successor_edition: Edition
    is_primary: bool


@dataclass(frozen=True)
class NationalUnits:
    units: list[UnitRow]
    lineage: list[LineageRow]
    checksum: str


_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")  # huyền, sắc, ngã, hỏi, nặng


def _name_key(name: str) -> str:
    """Compares names whatever the tone placement ("Hoà" = "Hòa") and punctuation, but keeps
    tones apart ("Thành" != "Thạnh", which plain folding would merge). Apostrophes vary between
    the sources ("H'Leo", "H’leo") and are dropped."""
    words = []
    plain = re.sub(r"['\u2019`]", "", unicodedata.normalize("NFD", name.lower()))
    for word in re.split(r"[\s\-\u2013\u2014]+", plain):
        tones = "".join(sorted(ch for ch in word if ch in _TONES))
        words.append("".join(ch for ch in word if ch not in _TONES) + tones)
    return " ".join(w for w in words if w)


def _clean(name: str) -> str:
    return re.sub(r"\s+", " ", nfc(name)).strip()


def _strip_type(name: str, type_name: str) -> str:
    return name[len(type_name) :].strip() if name.startswith(type_name + " ") else name


def _capital(word: str) -> str:
    return word[:1].upper() + word[1:]


def _package_file(package: str, relative: str) -> Path:
    return Path(str(resources.files(package).joinpath(relative)))


def _legacy_rows() -> tuple[list[UnitRow], dict[str, str], dict[str, str]]:
    """The legacy edition, plus key -> code maps used to resolve the conversion tables."""
    db = _package_file("vietnamadminunits", "data/dataset.db")
    units: dict[str, UnitRow] = {}
    ward_keys: dict[str, str] = {}
    province_keys: dict[str, str] = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT province, provinceShort, provinceCode, provinceKey,"
            " district, districtShort, districtType, districtCode, districtKey,"
            " ward, wardShort, wardType, wardCode, wardKey FROM admin_units_legacy"
        ).fetchall()
    for (
        p,
        p_short,
        p_code,
        p_key,
        d,
        d_short,
        d_type,
        d_code,
        d_key,
        w,
        w_short,
        w_type,
        w_code,
        w_key,
    ) in rows:
        province_keys[p_key] = p_code
        if p_code not in units:
            p_type = "Thành phố" if p.startswith("Thành phố") else "Tỉnh"
            units[p_code] = UnitRow(
                p_code,
                Edition.legacy,
                UnitLevel.province,
                _clean(p),
                _clean(p_short),
                p_type,
                None,
                p_code,
                p_code,
                None,
                LEGACY_VALID_TO,
                SOURCE_LEGACY,
            )
        if d_code not in units:
            units[d_code] = UnitRow(
                d_code,
                Edition.legacy,
                UnitLevel.district,
                _clean(d),
                _clean(d_short),
                d_type,
                p_code,
                p_code,
                f"{p_code}.{d_code}",
                None,
                LEGACY_VALID_TO,
                SOURCE_LEGACY,
            )
        if w_code:
            units[w_code] = UnitRow(
                w_code,
                Edition.legacy,
                UnitLevel.commune,
                _clean(w),
                _clean(w_short),
                w_type,
                d_code,
                p_code,
                f"{p_code}.{d_code}.{w_code}",
                None,
                LEGACY_VALID_TO,
                SOURCE_LEGACY,
            )
        # Island districts have no communes: the conversion names them by district alone.
        ward_keys[f"{p_key}_{d_key}_{w_key or ''}"] = w_code or d_code
    return list(units.values()), ward_keys, province_keys


def _v2025_rows() -> list[UnitRow]:
    path = _package_file("vietnam_provinces", "data/nested-divisions.json")
    provinces = json.loads(path.read_text(encoding="utf-8"))
    out: list[UnitRow] = []
    for p in provinces:
        p_code = f"{int(p['code']):02d}"
        p_type = "Thành phố" if p["division_type"].startswith("thành phố") else "Tỉnh"
        p_short = _strip_type(_clean(p["name"]), p_type)
        out.append(
            UnitRow(
                p_code,
                Edition.v2025,
                UnitLevel.province,
                f"{p_type} {p_short}",
                p_short,
                p_type,
                None,
                p_code,
                p_code,
                V2025_VALID_FROM,
                None,
                SOURCE_2025,
            )
        )
        for w in p["wards"]:
            w_code = f"{int(w['code']):05d}"
            w_type = _capital(w["division_type"])
            w_name = _clean(w["name"])
            out.append(
                UnitRow(
                    w_code,
                    Edition.v2025,
                    UnitLevel.commune,
                    w_name,
                    _strip_type(w_name, w_type),
                    w_type,
                    p_code,
                    p_code,
                    f"{p_code}.{w_code}",
                    V2025_VALID_FROM,
                    None,
                    SOURCE_2025,
                )
            )
    return out


def _lineage(
    v2025: list[UnitRow], ward_keys: dict[str, str], province_keys: dict[str, str]
) -> Iterator[LineageRow]:
    """Resolve the conversion tables (by keys) into code pairs."""
    conv = json.loads(
        _package_file("vietnamadminunits", "data/converter_2025.json").read_text(encoding="utf-8")
    )
    db = _package_file("vietnamadminunits", "data/dataset.db")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        new_rows = conn.execute(
            "SELECT provinceKey, provinceCode, wardKey, ward FROM admin_units"
        ).fetchall()
    official = {
        (u.province_code, _name_key(u.name)): u.code for u in v2025 if u.level is UnitLevel.commune
    }
    new_province = {pk: pc for pk, pc, _, _ in new_rows}
    new_ward: dict[tuple[str, str], str] = {}
    for pk, pc, wk, ward in new_rows:
        key = (pc, _name_key(ward))
        if key not in official:
            raise ValueError(f"2025 commune {ward!r} ({pc}) is not in the official list")
        new_ward[(pk, wk)] = official[key]
    if len(set(new_ward.values())) != len(official):
        raise ValueError("the 2025 conversion does not map one-to-one onto the official list")

    for new_pk, old_pks in conv["DICT_PROVINCE"].items():
        for old_pk in old_pks:
            yield LineageRow(
                province_keys[old_pk], Edition.legacy, new_province[new_pk], Edition.v2025, True
            )
    for new_pk, wards in conv["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_wk, old_keys in wards.items():
            for old_key in old_keys:
                yield LineageRow(
                    ward_keys[old_key],
                    Edition.legacy,
                    new_ward[(new_pk, new_wk)],
                    Edition.v2025,
                    True,
                )
    for new_pk, splits in conv["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, parts in splits.items():
            for part in parts:
                yield LineageRow(
                    ward_keys[old_key],
                    Edition.legacy,
                    new_ward[(new_pk, part["newWardKey"])],
                    Edition.v2025,
                    bool(part["isDefaultNewWard"]),
                )


def build_national_units() -> NationalUnits:
    """All units of both editions and their lineage, with a checksum of the source packages."""
    legacy, ward_keys, province_keys = _legacy_rows()
    v2025 = _v2025_rows()
    pairs: dict[tuple[str, str], LineageRow] = {}
    for row in _lineage(v2025, ward_keys, province_keys):
        key = (row.predecessor_code, row.successor_code)
        # an old commune that is both merged whole and split keeps the primary flag if any says so
        if key not in pairs or row.is_primary:
            pairs[key] = row
    # Districts were abolished without successors of their own: their history is attributed
    # through their communes' lineage.
    return NationalUnits(
        units=legacy + v2025, lineage=list(pairs.values()), checksum=national_checksum()
    )


def national_checksum() -> str:
    """Identifies the data a load would produce: the loader and the source packages' versions."""
    parts = [
        LOADER_VERSION,
        metadata.version("vietnamadminunits"),
        metadata.version("vietnam-provinces"),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def lineage_index(rows: list[LineageRow]) -> dict[str, list[str]]:
    """predecessor code -> successor codes (a helper for checks and tests)."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        out[r.predecessor_code].append(r.successor_code)
    return out
