"""Tables of the criteria service (schema `criteria`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Numeric,
    SmallInteger,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

import shared.db  # noqa: F401  - installs the naming convention on SQLModel.metadata

SCHEMA = "criteria"


class UnitLevel(StrEnum):
    province = "province"
    district = "district"
    commune = "commune"
    village = "village"


LEVEL_ORDER: dict[UnitLevel, int] = {
    UnitLevel.province: 1,
    UnitLevel.district: 2,
    UnitLevel.commune: 3,
    UnitLevel.village: 4,
}


class Edition(StrEnum):
    """Which national list a unit belongs to."""

    legacy = "legacy"  # 63 provinces, districts, communes: valid until 2025-06-30
    v2025 = "2025"  # 34 provinces, communes, no districts: valid from 2025-07-01


class Unit(SQLModel, table=True):
    """An administrative unit of one edition, valid over [valid_from, valid_to]."""

    __tablename__ = "units"
    __table_args__ = (
        Index("ix_units_edition_code", "edition", "code", unique=True),
        Index("ix_units_code", "code"),
        CheckConstraint("level IN ('province', 'district', 'commune', 'village')", name="level"),
        CheckConstraint("edition IN ('legacy', '2025')", name="edition"),
        CheckConstraint(
            "valid_from IS NULL OR valid_to IS NULL OR valid_from <= valid_to", name="validity"
        ),
        Index("ix_units_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
        Index("ix_units_parent_id", "parent_id"),
        Index("ix_units_level_province", "level", "province_code"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    code: str = Field(sa_column=Column(Text, nullable=False))
    edition: str = Field(sa_column=Column(Text, nullable=False))
    level: str = Field(sa_column=Column(Text, nullable=False))
    level_order: int = Field(sa_column=Column(SmallInteger, nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    short_name: str = Field(sa_column=Column(Text, nullable=False))
    type_name: str = Field(sa_column=Column(Text, nullable=False))
    parent_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, ForeignKey(f"{SCHEMA}.units.id"), nullable=True)
    )
    parent_code: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    province_code: str = Field(sa_column=Column(Text, nullable=False))
    path: str = Field(sa_column=Column(Text, nullable=False))
    valid_from: date | None = None
    valid_to: date | None = None
    search_key: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class UnitLineage(SQLModel, table=True):
    """`predecessor` became (part of) `successor` on `effective_on` (the 2025 reorganisation)."""

    __tablename__ = "unit_lineage"
    __table_args__ = (Index("ix_unit_lineage_successor_id", "successor_id"), {"schema": SCHEMA})

    predecessor_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey(f"{SCHEMA}.units.id"), primary_key=True)
    )
    successor_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey(f"{SCHEMA}.units.id"), primary_key=True)
    )
    is_primary: bool = Field(default=True, description="The default successor of a split unit")
    effective_on: date


class ReferenceLoad(SQLModel, table=True):
    """Which version of a reference data set is loaded, so a restart skips an unchanged load."""

    __tablename__ = "reference_loads"
    __table_args__ = ({"schema": SCHEMA},)

    dataset: str = Field(sa_column=Column(Text, primary_key=True))
    checksum: str = Field(sa_column=Column(Text, nullable=False))
    rows: int
    loaded_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class CriteriaSetRow(SQLModel, table=True):
    """A criteria set as loaded from its catalog file; `definition` is the validated document."""

    __tablename__ = "criteria_sets"
    __table_args__ = (
        CheckConstraint("level IN ('province', 'district', 'commune', 'village')", name="level"),
        {"schema": SCHEMA},
    )

    code: str = Field(sa_column=Column(Text, primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    name_en: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    level: str = Field(sa_column=Column(Text, nullable=False))
    title: str = Field(sa_column=Column(Text, nullable=False))
    legal_basis: str = Field(sa_column=Column(Text, nullable=False))
    valid_from: date | None = None
    valid_to: date | None = None
    threshold_scheme: str = Field(sa_column=Column(Text, nullable=False))
    extends: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    province_code: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    criteria_count: int
    indicator_count: int
    definition: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class CriteriaIndicatorRow(SQLModel, table=True):
    """One indicator of a set, for set-wise validation of recorded values."""

    __tablename__ = "criteria_indicators"
    __table_args__ = ({"schema": SCHEMA},)

    set_code: str = Field(
        sa_column=Column(Text, ForeignKey(f"{SCHEMA}.criteria_sets.code"), primary_key=True)
    )
    code: str = Field(sa_column=Column(Text, primary_key=True))
    criterion_number: int = Field(sa_column=Column(SmallInteger, nullable=False))
    kind: str = Field(sa_column=Column(Text, nullable=False))
    verified: bool


class UnitProfile(SQLModel, table=True):
    """What selects a unit's thresholds: its region (2021–2025) and commune group (2026–)."""

    __tablename__ = "unit_profiles"
    __table_args__ = (
        CheckConstraint(
            "region IS NULL OR region IN ('TDMNPB','DBSH','BTB','DHNTB','TN','DNB','DBSCL')",
            name="region",
        ),
        CheckConstraint("commune_group IS NULL OR commune_group IN ('1','2','3')", name="group"),
        {"schema": SCHEMA},
    )

    unit_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey(f"{SCHEMA}.units.id"), primary_key=True)
    )
    region: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    commune_group: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    specially_disadvantaged: bool = False
    updated_by: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class IndicatorValue(SQLModel, table=True):
    """One recorded value. Append-only: a correction is a new row; the current value of
    (unit, set, indicator, year) is the latest by as_of, then by recording order."""

    __tablename__ = "indicator_values"
    __table_args__ = (
        Index(
            "ix_indicator_values_current",
            "set_code",
            "year",
            "unit_id",
            "indicator_code",
            "as_of",
            "id",
        ),
        CheckConstraint("(value_bool IS NULL) <> (value_num IS NULL)", name="one_value"),
        ForeignKeyConstraint(
            ["set_code", "indicator_code"],
            [f"{SCHEMA}.criteria_indicators.set_code", f"{SCHEMA}.criteria_indicators.code"],
            name="fk_indicator_values_set_code_criteria_indicators",
        ),
        {"schema": SCHEMA},
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    unit_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey(f"{SCHEMA}.units.id"), nullable=False)
    )
    set_code: str = Field(sa_column=Column(Text, nullable=False))
    indicator_code: str = Field(sa_column=Column(Text, nullable=False))
    year: int = Field(sa_column=Column(SmallInteger, nullable=False))
    value_bool: bool | None = None
    value_num: Decimal | None = Field(default=None, sa_column=Column(Numeric, nullable=True))
    as_of: date
    recorded_by: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    evidence: list[str] = Field(sa_column=Column(JSONB, nullable=False, server_default="[]"))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    recorded_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class RecognisedTitle(SQLModel, table=True):
    """A title a unit holds (or held): the criteria service's projection of appraisal's
    recognition and revocation decisions, fed by their events."""

    __tablename__ = "recognised_titles"
    __table_args__ = (
        Index("ix_recognised_titles_unit_id_title", "unit_id", "title"),
        Index("ix_recognised_titles_granted_event_id", "granted_event_id", unique=True),
        CheckConstraint(
            "revoked_on IS NULL OR revoked_on >= effective_on", name="revocation_after_grant"
        ),
        {"schema": SCHEMA},
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    unit_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey(f"{SCHEMA}.units.id"), nullable=False)
    )
    title: str = Field(sa_column=Column(Text, nullable=False))
    year: int = Field(sa_column=Column(SmallInteger, nullable=False))
    decision_number: str = Field(sa_column=Column(Text, nullable=False))
    decision_date: date
    effective_on: date
    revoked_on: date | None = None
    revocation_decision: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    granted_event_id: uuid.UUID = Field(sa_column=Column(PG_UUID(as_uuid=True), nullable=False))
    revoked_event_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(PG_UUID(as_uuid=True), nullable=True)
    )
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class InboxEvent(SQLModel, table=True):
    """Events already applied, so a redelivery has no second effect."""

    __tablename__ = "inbox"
    __table_args__ = ({"schema": SCHEMA},)

    event_id: uuid.UUID = Field(sa_column=Column(PG_UUID(as_uuid=True), primary_key=True))
    event_type: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class Target(SQLModel, table=True):
    """A yearly target of a unit: how many new titles of a kind (or a manually tracked count)."""

    __tablename__ = "targets"
    __table_args__ = (
        Index("ix_targets_unit_id_year_kind", "unit_id", "year", "kind", unique=True),
        CheckConstraint("quantity > 0", name="positive"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    unit_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey(f"{SCHEMA}.units.id"), nullable=False)
    )
    year: int = Field(sa_column=Column(SmallInteger, nullable=False))
    kind: str = Field(sa_column=Column(Text, nullable=False))
    label_vi: str = Field(sa_column=Column(Text, nullable=False))
    quantity: int
    achieved_manual: int | None = None
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    updated_by: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class ImportJob(SQLModel, table=True):
    """A large bulk import processed in the background: its progress, then its summary.
    `updated_at` moves with every progress update (a job whose process died stops moving)."""

    __tablename__ = "import_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        CheckConstraint("mode IN ('atomic', 'partial')", name="mode"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = Field(sa_column=Column(PG_UUID(as_uuid=True), primary_key=True))
    kind: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(Text, nullable=False))
    dry_run: bool
    mode: str = Field(sa_column=Column(Text, nullable=False))
    total: int = 0
    processed: int = 0
    created: int = 0
    updated: int = 0
    ignored: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONB, nullable=False, server_default="[]")
    )
    errors_truncated: bool = False
    problem: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    recorded_by: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # the unit the submitter's role is bound to (None: national); who else may read the job
    submitter_unit: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    request_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    started_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
