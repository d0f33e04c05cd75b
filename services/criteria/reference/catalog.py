"""Reads the criteria sets shipped as YAML in `services/criteria/catalog/`."""

from __future__ import annotations

import hashlib
from importlib import resources

import yaml
from pydantic import ValidationError

from services.criteria.domain.catalog import CriteriaSet

PACKAGE = "services.criteria.catalog"
DATASET = "criteria-catalog"


class CatalogError(ValueError):
    """A catalog file that does not match the schema: names the file and the failing path."""


def catalog_files() -> list[tuple[str, str]]:
    """(file name, text) of every shipped set, in name order."""
    root = resources.files(PACKAGE)
    return sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in root.iterdir()
        if entry.name.endswith(".yaml")
    )


def parse_catalog(name: str, text: str) -> CriteriaSet:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{name}: not valid YAML: {exc}") from exc
    try:
        return CriteriaSet.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]
        )
        raise CatalogError(f"{name}: {problems}") from exc


def load_catalog() -> list[CriteriaSet]:
    """Every shipped set, validated; a province variant's base must ship too."""
    sets = [parse_catalog(name, text) for name, text in catalog_files()]
    codes = {s.code for s in sets}
    if len(codes) != len(sets):
        raise CatalogError("two catalog files declare the same set code")
    for s in sets:
        if s.extends is not None and s.extends not in codes:
            raise CatalogError(f"{s.code}: extends unknown set {s.extends!r}")
    return sets


def catalog_checksum() -> str:
    digest = hashlib.sha256()
    for name, text in catalog_files():
        digest.update(name.encode())
        digest.update(text.encode())
    return digest.hexdigest()
