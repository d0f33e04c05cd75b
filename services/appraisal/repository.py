"""All SQL of the appraisal service."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

# tasks sort by due date, a dossier without one as due at `infinity` (after every other):
# asyncpg sends date.max as PostgreSQL's `infinity`, so the key reads back in cursors as is
UNDATED = date.max
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
    ) -> tuple[Sequence[RowMapping], int]:
        """One page (`limit` rows from after the cursor) and how many match over all pages."""
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
        total = await self.session.execute(
            text(f"SELECT count(*) FROM appraisal.dossiers d WHERE {' AND '.join(where)}"), params
        )
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
        return rows.mappings().all(), int(total.scalar_one())

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

    async def audit_page(
        self, dossier_id: uuid.UUID, after: int | None, limit: int
    ) -> Sequence[RowMapping]:
        """At most `limit` entries of the chain after the entry `after` (None: from the first)."""
        rows = await self.session.execute(
            text(
                "SELECT seq, entry, prev_hash, hash FROM appraisal.audit_entries"
                " WHERE dossier_id = :d AND seq > :after ORDER BY seq LIMIT :n"
            ),
            {"d": dossier_id, "after": -1 if after is None else after, "n": limit},
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

    async def comments(
        self, dossier_id: uuid.UUID, after: int | None, limit: int
    ) -> tuple[Sequence[RowMapping], int]:
        """At most `limit` comments after the comment `after`, oldest first, and how many the
        dossier has."""
        rows = await self.session.execute(
            text(
                "SELECT id, step, criterion_number AS criterion, body, author, role,"
                " unit_code AS unit, created_at FROM appraisal.comments"
                " WHERE dossier_id = :d AND id > :after ORDER BY id LIMIT :n"
            ),
            {"d": dossier_id, "after": after or 0, "n": limit},
        )
        total = await self.session.scalar(
            text("SELECT count(*) FROM appraisal.comments WHERE dossier_id = :d"),
            {"d": dossier_id},
        )
        return rows.mappings().all(), int(total or 0)

    async def open_in_scope(
        self,
        steps: Sequence[tuple[str, str, str]],
        unit: str | None,
        after: tuple[date, datetime, uuid.UUID] | None,
        limit: int,
    ) -> tuple[Sequence[RowMapping], int]:
        """Open dossiers at any of (kind, flow level, step), of `unit` and the units below it
        (None: all): at most `limit` after the key `after`, the soonest due first (undated
        last), and how many there are."""
        if not steps:
            return [], 0
        keys = [f"(:k{i}, :l{i}, :s{i})" for i in range(len(steps))]
        params: dict[str, Any] = {}
        for i, (k, lvl, s) in enumerate(steps):
            params.update({f"k{i}": k, f"l{i}": lvl, f"s{i}": s})
        where = f"d.status = 'open' AND (d.kind, d.unit_level, d.step) IN ({', '.join(keys)})"
        if unit is not None:  # the unit is one segment of the path (a district: the middle)
            where += " AND ('.' || d.unit_path || '.') LIKE :segment"
            params["segment"] = f"%.{unit}.%"
        total = await self.session.scalar(
            text(f"SELECT count(*) FROM appraisal.dossiers d WHERE {where}"), params
        )
        due = "coalesce(d.due_on, DATE 'infinity')"
        if after is not None:
            where += f" AND ({due}, d.created_at, d.id) > (:due, :created, :id)"
            params.update({"due": after[0], "created": after[1], "id": after[2]})
        rows = await self.session.execute(
            text(
                f"SELECT {DOSSIER_COLUMNS} FROM appraisal.dossiers d WHERE {where}"
                f" ORDER BY {due}, d.created_at, d.id LIMIT :n"
            ),
            {**params, "n": limit},
        )
        return rows.mappings().all(), int(total or 0)


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


EVIDENCE_COLUMNS = (
    "e.id, e.sha256, e.filename, e.criterion_number AS criterion, e.indicator_code AS indicator,"
    " e.step, e.uploaded_by, e.role, e.unit_code AS unit, e.created_at, b.size, b.content_type"
)


class EvidenceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_blob(self, sha256: str, size: int, content_type: str) -> None:
        await self.session.execute(
            text(
                "INSERT INTO appraisal.evidence_blobs (sha256, size, content_type)"
                " VALUES (:h, :s, :t) ON CONFLICT (sha256) DO NOTHING"
            ),
            {"h": sha256, "s": size, "t": content_type},
        )

    async def cite(
        self,
        *,
        dossier_id: uuid.UUID,
        sha256: str,
        filename: str,
        criterion: int | None,
        indicator: str | None,
        step: str,
        uploaded_by: str,
        role: str,
        unit: str | None,
    ) -> int | None:
        """The new reference's id; None when the dossier already cites these bytes there."""
        row = await self.session.execute(
            text(
                "INSERT INTO appraisal.evidence (dossier_id, sha256, filename, criterion_number,"
                " indicator_code, step, uploaded_by, role, unit_code)"
                " VALUES (:d, :h, :f, :c, :i, :s, :by, :r, :u)"
                " ON CONFLICT (dossier_id, sha256, coalesce(criterion_number, 0),"
                " coalesce(indicator_code, '')) DO NOTHING RETURNING id"
            ),
            {"d": dossier_id, "h": sha256, "f": filename, "c": criterion, "i": indicator,
             "s": step, "by": uploaded_by, "r": role, "u": unit},
        )  # fmt: skip
        return row.scalar_one_or_none()

    async def citation(
        self, dossier_id: uuid.UUID, sha256: str, criterion: int | None, indicator: str | None
    ) -> RowMapping | None:
        row = await self.session.execute(
            text(
                f"SELECT {EVIDENCE_COLUMNS} FROM appraisal.evidence e"
                " JOIN appraisal.evidence_blobs b USING (sha256)"
                " WHERE e.dossier_id = :d AND e.sha256 = :h"
                " AND coalesce(e.criterion_number, 0) = coalesce(CAST(:c AS smallint), 0)"
                " AND coalesce(e.indicator_code, '') = coalesce(CAST(:i AS text), '')"
            ),
            {"d": dossier_id, "h": sha256, "c": criterion, "i": indicator},
        )
        return row.mappings().first()

    async def get(self, evidence_id: int) -> RowMapping:
        row = await self.session.execute(
            text(
                f"SELECT {EVIDENCE_COLUMNS} FROM appraisal.evidence e"
                " JOIN appraisal.evidence_blobs b USING (sha256) WHERE e.id = :id"
            ),
            {"id": evidence_id},
        )
        return row.mappings().one()

    async def of_dossier(
        self, dossier_id: uuid.UUID, after: int | None, limit: int
    ) -> tuple[Sequence[RowMapping], int]:
        """At most `limit` citations after the citation `after`, oldest first, and how many
        the dossier has."""
        rows = await self.session.execute(
            text(
                f"SELECT {EVIDENCE_COLUMNS} FROM appraisal.evidence e"
                " JOIN appraisal.evidence_blobs b USING (sha256)"
                " WHERE e.dossier_id = :d AND e.id > :after ORDER BY e.id LIMIT :n"
            ),
            {"d": dossier_id, "after": after or 0, "n": limit},
        )
        total = await self.session.scalar(
            text("SELECT count(*) FROM appraisal.evidence WHERE dossier_id = :d"),
            {"d": dossier_id},
        )
        return rows.mappings().all(), int(total or 0)

    async def blob(self, sha256: str) -> RowMapping | None:
        row = await self.session.execute(
            text("SELECT * FROM appraisal.evidence_blobs WHERE sha256 = :h"), {"h": sha256}
        )
        return row.mappings().first()

    async def citing_dossiers(self, sha256: str) -> Sequence[RowMapping]:
        """The dossiers citing these bytes, with the file name each gave them."""
        rows = await self.session.execute(
            text(
                "SELECT DISTINCT ON (d.id) d.id, d.unit_code, d.unit_path, e.filename"
                " FROM appraisal.evidence e JOIN appraisal.dossiers d ON d.id = e.dossier_id"
                " WHERE e.sha256 = :h ORDER BY d.id, e.id"
            ),
            {"h": sha256},
        )
        return rows.mappings().all()
