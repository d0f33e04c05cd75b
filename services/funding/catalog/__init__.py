"""The funding taxonomy shipped as data: sources, source groups, in-kind kinds and the national
default valuation rates (`sources.yaml`), validated by a schema when loaded."""

from __future__ import annotations

import hashlib
from datetime import date
from importlib import resources
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

CODE = r"^[A-Z]+(-[A-Z]+)?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupSpec(_Strict):
    code: Annotated[str, Field(pattern=r"^[A-Z]+$")]
    name_vi: str
    name_en: str


class SourceSpec(_Strict):
    code: Annotated[str, Field(pattern=CODE)]
    group: str
    name_vi: str
    name_en: str
    in_kind: bool = False
    valid_from: date | None = None
    valid_to: date | None = None


class KindSpec(_Strict):
    code: Annotated[str, Field(pattern=r"^[a-z_]+$")]
    name_vi: str
    name_en: str
    quantity_unit: str
    quantity_unit_vi: str


class RateSpec(_Strict):
    kind: str
    valid_from: date
    valid_to: date | None = None
    rate_vnd: Annotated[int, Field(gt=0)]
    verified: bool
    source_note: str


class Taxonomy(_Strict):
    version: str
    groups: list[GroupSpec]
    sources: list[SourceSpec]
    in_kind_kinds: list[KindSpec]
    valuation_rates: list[RateSpec]

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        groups = {g.code for g in self.groups}
        kinds = {k.code for k in self.in_kind_kinds}
        for what, codes in (
            ("group", [g.code for g in self.groups]),
            ("source", [s.code for s in self.sources]),
            ("in-kind kind", [k.code for k in self.in_kind_kinds]),
        ):
            if len(codes) != len(set(codes)):
                raise ValueError(f"duplicate {what} codes")
        for s in self.sources:
            if s.group not in groups:
                raise ValueError(f"source {s.code}: unknown group {s.group}")
        for r in self.valuation_rates:
            if r.kind not in kinds:
                raise ValueError(f"valuation rate: unknown kind {r.kind}")
        return self


def raw_taxonomy() -> bytes:
    return resources.files(__package__).joinpath("sources.yaml").read_bytes()


def load_taxonomy(raw: bytes | None = None) -> Taxonomy:
    return Taxonomy.model_validate(yaml.safe_load(raw if raw is not None else raw_taxonomy()))


def taxonomy_checksum(raw: bytes | None = None) -> str:
    return hashlib.sha256(raw if raw is not None else raw_taxonomy()).hexdigest()
