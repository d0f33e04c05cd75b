"""The hierarchy rollups (migration f0006_rollups) on real PostgreSQL: the scopes of every unit
follow the reports' path rule, the rollup equals an aggregation from scratch over the transfers
for every scope after postings, reversals and an import, and the batch lookup runs a fixed
number of SQL statements whatever the number of keys."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
from sqlalchemy import event, text

from shared.db import Database

COMMUNE = "15592"  # legacy commune in district 395 of province 38; passed into 2025 commune
NEIGHBOUR = "15583"  # also in 395, also passed into the 2025 commune 15592
DISTRICT = "395"
OTHER_DISTRICT_COMMUNE = "14755"  # in district 380
NEW_COMMUNE = "14797"  # a 2025 commune of province 38

_ids = itertools.count(1)


def _below(column: str) -> str:
    # `column LIKE k.path || '.%'`, in the pattern operators the text_pattern_ops indexes serve
    return f"({column} ~>=~ (k.path || '.') AND {column} ~<~ (k.path || '/'))"


# The reports' rule as it read before the rollups, by path prefix at read time: every (key,
# unit) with the unit in the key's scope, for every unit as a key. The rollup must agree.
PATH_RULE_SCOPES = f"""
WITH k AS (
    SELECT DISTINCT edition, CASE edition WHEN '2025' THEN current_path ELSE path END AS path
      FROM funding.units WHERE edition = 'legacy' OR current_path IS NOT NULL
)
SELECT k.edition, k.path, u.id FROM k JOIN funding.units u
    ON k.edition = 'legacy' AND (u.path = k.path OR {_below("u.path")})
UNION ALL
SELECT k.edition, k.path, u.id FROM k JOIN funding.units u
    ON k.edition = '2025' AND (u.current_path = k.path OR {_below("u.current_path")})
UNION ALL
SELECT k.edition, k.path, d.id FROM k
  JOIN funding.units p ON k.edition = '2025' AND p.edition = 'legacy'
       AND p.level = 'province' AND (p.current_path = k.path OR {_below("p.current_path")})
  JOIN funding.units d ON d.edition = 'legacy' AND d.level = 'district'
       AND d.current_path IS NULL AND d.province_code = p.code
"""

FROM_SCRATCH = f"""
WITH scopes AS ({PATH_RULE_SCOPES})
SELECT CASE s.edition WHEN '2025' THEN 'C:' ELSE 'L:' END || s.path AS scope,
       date_trunc('month', t.value_date)::date AS month, t.source_code, t.stage,
       coalesce(t.in_kind_kind, '') AS in_kind_kind,
       sum(t.sign * t.amount)::bigint AS amount,
       coalesce(sum(t.sign * t.quantity), 0) AS quantity,
       coalesce(sum(t.sign * t.households), 0)::bigint AS households,
       sum(t.sign)::bigint AS transfers,
       sum(CASE WHEN t.debit_role = 'pledged' THEN t.amount
                WHEN t.credit_role = 'pledged' THEN -t.amount ELSE 0 END)::bigint AS pledged
  FROM funding.transfers t JOIN scopes s ON s.id = t.unit_id
 GROUP BY 1, 2, 3, 4, 5
"""

ROLLUP = """
SELECT scope, month, source_code, stage, in_kind_kind, amount, quantity, households, transfers,
       pledged
  FROM funding.rollup
"""


async def post(funding: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("external_id", f"RLP-{next(_ids)}")
    body.setdefault("date", "2023-04-12")
    response = await funding.post("/v1/transfers", json=body)
    assert response.status_code == 201, response.text
    posted: dict[str, Any] = response.json()
    return posted


async def reverse(funding: httpx.AsyncClient, posted: dict[str, Any]) -> None:
    response = await funding.post(
        f"/v1/transfers/{posted['id']}/reversal", json={"reason": "nhập sai"}
    )
    assert response.status_code == 201, response.text


async def rows(db: Database, sql: str) -> set[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return {tuple(r) for r in await conn.execute(text(sql))}


async def create_work(db: Database, unit: str, code: str) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO funding.works (unit_id, code, name, kind)"
                " SELECT id, :code, 'Nhà văn hóa', 'culture' FROM funding.units"
                " WHERE edition = 'legacy' AND code = :unit"
            ),
            {"code": code, "unit": unit},
        )


class TestUnitScopes:
    async def test_every_units_scopes_follow_the_path_rule_of_the_reports(
        self, db: Database
    ) -> None:
        expected = await rows(
            db,
            f"SELECT DISTINCT id, CASE edition WHEN '2025' THEN 'C:' ELSE 'L:' END || path"
            f" FROM ({PATH_RULE_SCOPES}) s",
        )
        assert await rows(db, "SELECT unit_id, scope FROM funding.unit_scopes") == expected
        legacy_commune = await rows(
            db,
            "SELECT s.scope FROM funding.unit_scopes s JOIN funding.units u ON u.id = s.unit_id"
            f" WHERE u.edition = 'legacy' AND u.code = '{COMMUNE}'",
        )
        assert legacy_commune == {
            ("L:38",),
            ("L:38.395",),
            (f"L:38.395.{COMMUNE}",),
            ("C:38",),
            (f"C:38.{COMMUNE}",),
        }
        legacy_district = await rows(
            db,
            "SELECT s.scope FROM funding.unit_scopes s JOIN funding.units u ON u.id = s.unit_id"
            f" WHERE u.edition = 'legacy' AND u.code = '{DISTRICT}'",
        )
        # no successor of its own: it counts for its province's successor
        assert legacy_district == {("L:38",), ("L:38.395",), ("C:38",)}


class TestRollup:
    async def test_rollup_equals_an_aggregation_from_scratch_for_every_scope(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        await create_work(db, COMMUNE, "NVH-01")
        await post(funding, unit=COMMUNE, source="NSTW-DT", amount=10_000_000_000)
        wrong = await post(funding, unit=NEIGHBOUR, source="DN", amount=999_000_000)
        await post(funding, unit=DISTRICT, source="NSH", amount=1_500_000_000, date="2023-09-30")
        await post(funding, unit="38", source="NST", amount=30_000_000, date="2025-03-01")
        await post(funding, unit=NEW_COMMUNE, source="NSX", amount=4_000_000, date="2025-08-01")
        await post(funding, unit=OTHER_DISTRICT_COMMUNE, source="CD-TM", amount=7_000_000)
        await post(funding, unit=COMMUNE, source="DN", amount=300_000_000, type="pledge",
                   external_id="RLP-PL-1")  # fmt: skip
        against = await post(funding, unit=COMMUNE, source="DN", amount=200_000_000,
                             pledge="RLP-PL-1")  # fmt: skip
        gift = await post(funding, unit=NEIGHBOUR, source="CD-HV", kind="land", quantity=800.5,
                          households=4, amount=120_000_000)  # fmt: skip
        spent = await post(funding, unit=COMMUNE, source="NSTW-DT", amount=600_000_000,
                           type="disbursement", work="NVH-01", date="2023-06-01")  # fmt: skip
        await post(funding, unit=COMMUNE, source="NSTW-DT", amount=500_000_000,
                   type="settlement", work="NVH-01", date="2023-11-20")  # fmt: skip
        for posted in (wrong, against, gift, spent):
            await reverse(funding, posted)
        body = b"".join(
            orjson.dumps(row) + b"\n"
            for row in [
                {"external_id": "RLP-IMP-1", "unit": COMMUNE, "source": "NST",
                 "amount": 250_000_000, "date": "2022-02-03"},
                {"external_id": "RLP-IMP-2", "unit": NEIGHBOUR, "source": "DN",
                 "amount": 70_000_000, "date": "2024-12-31", "type": "pledge"},
                {"external_id": "RLP-IMP-3", "unit": NEW_COMMUNE, "source": "CD-TM",
                 "amount": 9_000_000, "date": "2025-10-01"},
                {"external_id": "RLP-IMP-4", "unit": DISTRICT, "source": "CD-HV",
                 "kind": "land", "quantity": 12, "households": 1, "amount": 1_800_000,
                 "date": "2024-01-15"},
            ]
        )  # fmt: skip
        response = await funding.post(
            "/v1/imports/transfers",
            content=body,
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["created"] == 4

        expected = await rows(db, FROM_SCRATCH)
        assert await rows(db, ROLLUP) == expected
        scopes = {r[0] for r in expected}
        assert {"L:38", "L:38.395", f"L:38.395.{COMMUNE}", "C:38", f"C:38.{COMMUNE}"} <= scopes
        assert f"C:38.{NEW_COMMUNE}" in scopes
        # what a reversal took back nets to zero in every scope above it
        dn = {r[0]: r[5] for r in expected if r[2] == "DN" and r[3] == "receipt"}
        assert dn["L:38.395"] == dn["C:38"] == 200_000_000 - 200_000_000

    async def test_a_truncate_of_the_transfers_empties_the_rollup(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        await post(funding, unit=COMMUNE, source="NSTW-DT", amount=1_000_000)
        assert await rows(db, "SELECT count(*) FROM funding.rollup") == {(5,)}
        async with db.engine.begin() as conn:
            await conn.execute(
                text("TRUNCATE funding.transfers, funding.monthly, funding.accounts CASCADE")
            )
        assert await rows(db, "SELECT count(*) FROM funding.rollup") == {(0,)}


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements the engine runs inside the block (its own and the ones the tests'
    harness runs are all counted, so the block holds only the request)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


class TestLookupStatements:
    async def test_the_batch_lookup_runs_the_same_statements_for_1_or_500_keys(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        await post(funding, unit=COMMUNE, source="NSTW-DT", amount=10_000_000_000)
        await post(funding, unit=NEW_COMMUNE, source="NSX", amount=4_000_000, date="2025-08-01")
        async with db.engine.connect() as conn:
            codes = [
                r[0]
                for r in await conn.execute(
                    text(
                        "SELECT code FROM funding.units WHERE province_code = '38'"
                        " AND edition = 'legacy' ORDER BY code LIMIT 499"
                    )
                )
            ]
        counts = []
        for keys in (
            [{"unit": COMMUNE}],
            [{"unit": c} for c in codes] + [{"unit": "38", "as_of": "2025-12-31"}],
        ):
            with statements(db) as seen:
                response = await funding.post(
                    "/v1/summaries/lookup", json={"keys": keys, "year": 2023}
                )
            assert response.status_code == 200, response.text
            counts.append(len(seen))
        # the units the codes name, the catalog (sources, in-kind kinds), the figures
        assert counts == [4, 4]
