"""Alembic environment of the criteria service (schema `criteria`)."""

from sqlmodel import SQLModel

from services.criteria import models
from shared.alembic_env import run

run(models.SCHEMA, SQLModel.metadata)
