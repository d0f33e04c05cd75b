"""Alembic environment of the appraisal service (schema `appraisal`)."""

from sqlmodel import SQLModel

from services.appraisal import models
from shared.alembic_env import run

run(models.SCHEMA, SQLModel.metadata)
