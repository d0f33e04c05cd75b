"""Alembic environment of the funding service (schema `funding`)."""

from sqlmodel import SQLModel

from services.funding import models
from shared.alembic_env import run

run(models.SCHEMA, SQLModel.metadata)
