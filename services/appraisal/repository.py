"""All SQL of the appraisal service."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

JSON_COLUMNS = (
    "content",
    "revocation_grounds",
    "submitted_evaluation",
    "decision_evaluation",
    "construction_debt",
)
DOSSIER_COLUMNS = (
    "d.*, (SELECT x.id FROM appraisal.decisions x WHERE x.dossier_id = d.id) AS decision_id"
)


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


class DossierRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, row: dict[str, Any]) -> None:
        cols = list(row)
        values = [f"CAST(:{c} AS jsonb)" if c in JSON_COLUMNS else f":{c}" for c in cols]
        params = {c: dumps(v) if c in JSON_COLUMNS else v for c, v in row.items()}
        await self.session.execute(
            text(
                f"INSERT INTO appraisal.dossiers ({', '.join(cols)}) VALUES ({', '.join(values)})"
            ),
            params,
        )

    async def live_exists(
        self, kind: str, unit_code: str, edition: str, title: str, year: int
    ) -> bool:
        row = await self.session.execute(
            text(
                "SELECT 1 FROM appraisal.dossiers WHERE kind = :k AND unit_code = :u"
                " AND unit_edition = :e AND title = :t AND year = :y"
                " AND status NOT IN ('withdrawn', 'rejected')"
            ),
            {"k": kind, "u": unit_code, "e": edition, "t": title, "y": year},
        )
        return row.first() is not None

    async def get(self, dossier_id: uuid.UUID, *, for_update: bool = False) -> RowMapping | None:
        lock = " FOR UPDATE OF d" if for_update else ""
        row = await self.session.execute(
            text(f"SELECT {DOSSIER_COLUMNS} FROM appraisal.dossiers d WHERE d.id = :id{lock}"),
            {"id": dossier_id},
        )
        return row.mappings().first()

    async def held_recognition(self, unit_code: str, edition: str, title: str) -> RowMapping | None:
        """The unit's latest recognised (and not revoked) dossier for the title."""
        row = await self.session.execute(
            text(
                f"SELECT {DOSSIER_COLUMNS} FROM appraisal.dossiers d"
                " WHERE d.kind = 'recognition' AND d.status = 'recognised'"
                " AND d.unit_code = :u AND d.unit_edition = :e AND d.title = :t"
                " ORDER BY d.year DESC LIMIT 1"
            ),
            {"u": unit_code, "e": edition, "t": title},
        )
        return row.mappings().first()

    async def list(
        self,
        *,
        unit: str | None,
        status: str | None,
        title: str | None,
        year: int | None,
        kind: str | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[RowMapping]:
        where = ["true"]
        params: dict[str, Any] = {"limit": limit}
        for col, val in (
            ("unit_code", unit),
            ("status", status),
            ("title", title),
            ("year", year),
            ("kind", kind),
        ):
            if val is not None:
                where.append(f"d.{col} = :{col}")
                params[col] = val
        if after is not None:
            where.append("(d.created_at, d.id) > (:after_at, :after_id)")
            params["after_at"], params["after_id"] = after
        rows = await self.session.execute(
            text(
                f"SELECT {DOSSIER_COLUMNS} FROM appraisal.dossiers d WHERE {' AND '.join(where)}"
                " ORDER BY d.created_at, d.id LIMIT :limit"
            ),
            params,
        )
        return rows.mappings().all()

    async def update(self, dossier_id: uuid.UUID, version: int, fields: dict[str, Any]) -> bool:
        """Set `fields` if the dossier is still at `version`; bumps the version."""
        sets = [
            f"{c} = CAST(:{c} AS jsonb)" if c in JSON_COLUMNS else f"{c} = :{c}" for c in fields
        ]
        params = {c: dumps(v) if c in JSON_COLUMNS else v for c, v in fields.items()}
        params.update({"id": dossier_id, "version": version})
        result = await self.session.execute(
            text(
                f"UPDATE appraisal.dossiers SET {', '.join([*sets, 'version = version + 1'])},"
                " updated_at = now() WHERE id = :id AND version = :version RETURNING id"
            ),
            params,
        )
        return result.first() is not None

    async def append_audit(
        self, dossier_id: uuid.UUID, seq: int, entry: dict[str, Any], prev: bytes, digest: bytes
    ) -> None:
        await self.session.execute(
            text(
                "INSERT INTO appraisal.audit_entries (dossier_id, seq, entry, prev_hash, hash)"
                " VALUES (:d, :s, CAST(:e AS jsonb), :p, :h)"
            ),
            {"d": dossier_id, "s": seq, "e": dumps(entry), "p": prev, "h": digest},
        )

    async def audit_entries(self, dossier_id: uuid.UUID) -> Sequence[RowMapping]:
        rows = await self.session.execute(
            text(
                "SELECT seq, entry, prev_hash, hash FROM appraisal.audit_entries"
                " WHERE dossier_id = :d ORDER BY seq"
            ),
            {"d": dossier_id},
        )
        return rows.mappings().all()

    async def add_comment(
        self,
        dossier_id: uuid.UUID,
        step: str,
        criterion: int | None,
        body: str,
        author: str | None,
        role: str | None,
        unit: str | None,
    ) -> RowMapping:
        row = await self.session.execute(
            text(
                "INSERT INTO appraisal.comments (dossier_id, step, criterion_number, body, author,"
                " role, unit_code) VALUES (:d, :s, :c, :b, :a, :r, :u)"
                " RETURNING id, step, criterion_number AS criterion, body, author, role,"
                " unit_code AS unit, created_at"
            ),
            {"d": dossier_id, "s": step, "c": criterion, "b": body, "a": author, "r": role,
             "u": unit},
        )  # fmt: skip
        return row.mappings().one()

    async def comments(self, dossier_id: uuid.UUID) -> Sequence[RowMapping]:
        rows = await self.session.execute(
            text(
                "SELECT id, step, criterion_number AS criterion, body, author, role,"
                " unit_code AS unit, created_at FROM appraisal.comments"
                " WHERE dossier_id = :d ORDER BY id"
            ),
            {"d": dossier_id},
        )
        return rows.mappings().all()

    async def open_in_scope(
        self, steps: Sequence[tuple[str, str, str]], path_prefix: str | None
    ) -> Sequence[RowMapping]:
        """Open dossiers at any of (kind, flow level, step), under `path_prefix` (None: all)."""
        if not steps:
            return []
        keys = [f"(:k{i}, :l{i}, :s{i})" for i in range(len(steps))]
        params: dict[str, Any] = {}
        for i, (k, lvl, s) in enumerate(steps):
            params.update({f"k{i}": k, f"l{i}": lvl, f"s{i}": s})
        scope = ""
        if path_prefix is not None:
            scope = " AND (d.unit_path = :p OR d.unit_path LIKE :pp)"
            params.update({"p": path_prefix, "pp": path_prefix + ".%"})
        rows = await self.session.execute(
            text(
                f"SELECT {DOSSIER_COLUMNS} FROM appraisal.dossiers d WHERE d.status = 'open'"
                f" AND (d.kind, d.unit_level, d.step) IN ({', '.join(keys)}){scope}"
                " ORDER BY d.due_on NULLS LAST, d.created_at"
            ),
            params,
        )
        return rows.mappings().all()


class DecisionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(
        self,
        *,
        decision_id: uuid.UUID,
        dossier_id: uuid.UUID,
        kind: str,
        number: str,
        on: date,
        signer: str,
        effective_on: date,
        pdf_ref: str | None,
        record: dict[str, Any],
        signature: bytes,
        key_id: str,
    ) -> None:
        await self.session.execute(
            text(
                "INSERT INTO appraisal.decisions (id, dossier_id, kind, number, date, signer,"
                " effective_on, pdf_ref, record, signature, key_id) VALUES (:id, :d, :k, :n,"
                " :on, :s, :eff, :pdf, CAST(:rec AS jsonb), :sig, :kid)"
            ),
            {"id": decision_id, "d": dossier_id, "k": kind, "n": number, "on": on, "s": signer,
             "eff": effective_on, "pdf": pdf_ref, "rec": dumps(record), "sig": signature,
             "kid": key_id},
        )  # fmt: skip

    async def get(self, decision_id: uuid.UUID) -> RowMapping | None:
        row = await self.session.execute(
            text("SELECT * FROM appraisal.decisions WHERE id = :id"), {"id": decision_id}
        )
        return row.mappings().first()


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, event_id: uuid.UUID, type_: str, payload: dict[str, Any]) -> None:
        await self.session.execute(
            text(
                "INSERT INTO appraisal.outbox (event_id, type, payload)"
                " VALUES (:e, :t, CAST(:p AS jsonb))"
            ),
            {"e": event_id, "t": type_, "p": dumps(payload)},
        )

    async def claim_pending(self, limit: int) -> Sequence[RowMapping]:
        """Pending rows, locked for this transaction (another relay skips them)."""
        rows = await self.session.execute(
            text(
                "SELECT id, event_id, type, payload, attempts FROM appraisal.outbox"
                " WHERE published_at IS NULL ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {"n": limit},
        )
        return rows.mappings().all()

    async def mark_published(self, row_id: int) -> None:
        await self.session.execute(
            text(
                "UPDATE appraisal.outbox SET published_at = now(), attempts = attempts + 1,"
                " last_error = NULL WHERE id = :id"
            ),
            {"id": row_id},
        )

    async def mark_failed(self, row_id: int, error: str) -> None:
        await self.session.execute(
            text(
                "UPDATE appraisal.outbox SET attempts = attempts + 1, last_error = :e"
                " WHERE id = :id"
            ),
            {"id": row_id, "e": error[:2000]},
        )

    async def all(self) -> Sequence[RowMapping]:
        rows = await self.session.execute(text("SELECT * FROM appraisal.outbox ORDER BY id"))
        return rows.mappings().all()
