"""The services one process can run, in start-up order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI

from services.appraisal import app as appraisal
from services.criteria import app as criteria
from services.funding import app as funding
from shared.db import Database, MigrationTree
from shared.settings import Settings


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    tree: MigrationTree
    create_app: Callable[[Settings, Database | None], FastAPI]
    load_reference: Callable[[Database], Awaitable[None]] | None = None


SERVICES: dict[str, ServiceSpec] = {
    "criteria": ServiceSpec(
        "criteria", criteria.TREE, criteria.create_app, criteria.load_reference
    ),
    "funding": ServiceSpec("funding", funding.TREE, funding.create_app, funding.load_reference),
    "appraisal": ServiceSpec("appraisal", appraisal.TREE, appraisal.create_app),
}
