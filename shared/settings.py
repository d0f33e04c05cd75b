"""Process settings: one pydantic-settings class, `NTM_` prefix, a few well-known plain names."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """Configuration of one ntm process (embedded: all apps; distributed: one service)."""

    # errors never echo the input: it holds secrets (the S3 key, a database URL's password)
    model_config = SettingsConfigDict(
        env_prefix="NTM_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    env: Environment = Environment.development
    host: str = "127.0.0.1"
    port: int = Field(default=8000, validation_alias=AliasChoices("PORT", "NTM_PORT"))
    workers: int = Field(
        default=1, ge=1, le=64, description="`ntm serve` worker processes: about one per core"
    )
    data_dir: Path = Field(default=Path(".ntm"), description="Embedded PostgreSQL data folder")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "NTM_DATABASE_URL"),
        description="PostgreSQL URL; when unset, an embedded PostgreSQL 16 is started",
    )
    nats_url: str | None = Field(
        default=None, validation_alias=AliasChoices("NATS_URL", "NTM_NATS_URL")
    )
    nats_appraisal_stream: str = Field(
        default="NTM_APPRAISAL", description="JetStream stream of appraisal's events"
    )
    nats_appraisal_subject_prefix: str = Field(
        default="ntm.appraisal", description="Appraisal's events go to <prefix>.<event type>"
    )
    nats_criteria_titles_durable: str = Field(
        default="criteria-titles",
        description="Durable consumer name of criteria's title-event intake (one per deployment)",
    )
    nats_nak_delay_s: float = Field(
        default=5.0, gt=0, description="Pause before a failed event is redelivered"
    )
    evidence_store: Literal["local", "s3"] = Field(
        default="local",
        description="Where evidence files are kept: 'local' (a folder) or 's3' (an S3-compatible"
        " bucket: AWS, MinIO, Ceph…)",
    )
    evidence_dir: Path | None = Field(
        default=None,
        description="Folder of the local evidence store (default <data dir>/evidence); with 's3'"
        " only uploads being checked are staged there",
    )
    evidence_s3_endpoint_url: str | None = Field(
        default=None, description="The S3 API's URL (e.g. http://minio:9000); unset: AWS"
    )
    evidence_s3_bucket: str | None = Field(default=None, description="Required with 's3'")
    evidence_s3_region: str = "us-east-1"
    evidence_s3_access_key: str | None = Field(default=None, description="Required with 's3'")
    evidence_s3_secret_key: SecretStr | None = Field(default=None, description="Required with 's3'")
    evidence_s3_addressing_style: Literal["path", "virtual", "auto"] = Field(
        default="path", description="'path' suits MinIO and most self-hosted stores"
    )
    evidence_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    evidence_content_types: list[str] = Field(
        default=[
            "application/pdf",
            "image/jpeg",
            "image/png",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ],
        description="Accepted evidence types, as detected from the bytes (JSON list in env)",
    )
    # --- authentication (shared/auth.py) and authorisation (shared/authz.py) ---
    auth_jwks_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NTM_AUTH_JWKS_URL", "NTM_JWKS_URL"),
        description="The identity provider's JWKS; unset: tokens are signed with a local key"
        " (in production only from an explicit NTM_AUTH_KEY_DIR)",
    )
    auth_issuer: str = Field(
        default="ntm-local",
        validation_alias=AliasChoices("NTM_AUTH_ISSUER", "NTM_JWT_ISSUER"),
        description="The `iss` every token must carry",
    )
    auth_audience: str = Field(
        default="ntm",
        validation_alias=AliasChoices("NTM_AUTH_AUDIENCE", "NTM_JWT_AUDIENCE"),
        description="The `aud` every token must carry",
    )
    auth_leeway_s: int = Field(default=30, ge=0, le=300, description="Clock skew allowed")
    auth_jwks_refetch_s: float = Field(
        default=30.0,
        ge=0,
        description="At most one JWKS fetch per this many seconds for unknown key ids",
    )
    auth_jwks_max_age_s: float = Field(
        default=3600.0, gt=0, description="Keys older than this are fetched again on next use"
    )
    auth_key_dir: Path | None = Field(
        default=None,
        description="Folder of the local signing key (default <data dir>/auth; in production a"
        " folder every replica shares, e.g. a mounted secret)",
    )
    auth_anonymous_aggregates: bool = Field(
        default=False, description="Published aggregates (reports, evaluations) need no token"
    )
    auth_service_token: str | None = Field(
        default=None,
        description="The token appraisal's outbox relay presents to criteria over HTTP (an"
        " integrator with scope events:titles); unset: minted with the local key",
    )
    log_level: str = "INFO"
    log_json: bool = True
    db_pool_size: int = 10
    db_max_overflow: int = 10
    criteria_url: str | None = None
    funding_url: str | None = None
    appraisal_url: str | None = None
    upstream_timeout_s: float = 10.0
    max_page_size: int = 1000

    @model_validator(mode="after")
    def _s3_complete(self) -> Settings:
        if self.evidence_store == "s3":
            missing = [
                f"NTM_EVIDENCE_S3_{name.upper()}"
                for name in ("bucket", "access_key", "secret_key")
                if not getattr(self, f"evidence_s3_{name}")
            ]
            if missing:
                raise ValueError(f"NTM_EVIDENCE_STORE=s3 needs {', '.join(missing)}")
        return self

    # --- GraphQL gateway: what a client may ask (services/gateway/limits.py) ---------------
    # Everything here is refused before any upstream call. `None` defaults depend on NTM_ENV:
    # read them through the properties below.
    graphiql: bool | None = Field(
        default=None, description="Serve GraphiQL at /graphql (default: on, off in production)"
    )
    graphql_introspection: bool | None = Field(
        default=None, description="Answer __schema / __type (default: on, off in production)"
    )
    graphql_max_depth: int = Field(default=12, ge=1, description="Nested field levels")
    graphql_max_aliases: int = Field(default=30, ge=0, description="Aliases per operation")
    graphql_max_tokens: int = Field(default=5000, ge=1, description="Parser tokens per document")
    graphql_max_cost: int = Field(
        default=100_000,
        ge=1,
        description="Estimated fields resolved: each field counts once per object it is asked"
        " on, a list multiplies by its page size (`first`, or the argument's default)",
    )
    graphql_list_size: int = Field(
        default=10, ge=1, description="Length assumed, in the cost, for a list without `first`"
    )
    graphql_max_body_bytes: int = Field(
        default=256 * 1024, ge=1, description="Request body size; larger is a 413 before parsing"
    )
    graphql_persisted_queries: Path | None = Field(
        default=None,
        description="Registered operations: a JSON file ({sha256: query} or an Apollo persisted"
        " query manifest) or a folder of .graphql / .json files",
    )
    graphql_persisted_only: bool = Field(
        default=False,
        description="Allow-list mode: only operations of the registry run (by hash or by text)",
    )
    graphql_rate_per_minute: int | None = Field(
        default=None,
        ge=0,
        description="Requests per client and minute, 0 = no limit (default: 600 in production,"
        " otherwise no limit)",
    )
    graphql_rate_burst: int = Field(
        default=60, ge=1, description="Requests a client may send at once before the rate applies"
    )

    # --- the services' REST APIs: what a client may send (shared/limits.py) -----------------
    # The gateway's /graphql has its own settings above; in the embedded process a call the
    # gateway makes to a service on a client's behalf is not counted again.
    rest_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="Request body size of a service route; larger is a 413 before it is read",
    )
    rest_import_max_body_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1,
        description="Request body size of a bulk import (POST /v1/imports/…); each kind also"
        " has its own limit (criteria 256 MiB, funding 512 MiB)",
    )
    rest_rate_per_minute: int | None = Field(
        default=None,
        ge=0,
        description="Requests per client, service and minute, 0 = no limit (default: 3000 in"
        " production, otherwise no limit). A gateway in another process calls the services"
        " with its clients' tokens: those calls count too",
    )
    rest_rate_burst: int = Field(
        default=300, ge=1, description="Requests a client may send at once before the rate applies"
    )

    @property
    def rest_rate_limit(self) -> int:
        """Requests per client, service and minute; 0 when clients are not limited."""
        if self.rest_rate_per_minute is not None:
            return self.rest_rate_per_minute
        return 3000 if self.production else 0

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.production

    @property
    def graphql_introspection_enabled(self) -> bool:
        if self.graphql_introspection is not None:
            return self.graphql_introspection
        return not self.production

    @property
    def graphql_rate_limit(self) -> int:
        """Requests per client and minute; 0 when clients are not limited."""
        if self.graphql_rate_per_minute is not None:
            return self.graphql_rate_per_minute
        return 600 if self.production else 0

    @property
    def production(self) -> bool:
        return self.env == Environment.production

    # --- end of the GraphQL gateway's settings -----------------------------------------------

    @property
    def evidence_path(self) -> Path:
        return self.evidence_dir or self.data_dir / "evidence"

    @property
    def auth_key_path(self) -> Path:
        return self.auth_key_dir or self.data_dir / "auth"

    @property
    def async_database_url(self) -> str | None:
        """The configured URL with the asyncpg driver, whatever scheme the operator wrote."""
        return to_asyncpg_url(self.database_url) if self.database_url else None


def to_asyncpg_url(url: str) -> str:
    """Accept `postgres://`, `postgresql://` or `postgresql+asyncpg://` and return the latter."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")
