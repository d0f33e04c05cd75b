"""Property test of the ledger: random sequences of postings and reversals through the REST app
on real PostgreSQL keep every invariant of the books.

Each example starts from empty books (the tables are truncated per example: the conftest reset
runs only once per test), records four works, then applies the sequence and compares the
database with a model of what should have been posted."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from shared.db import Database

UNITS = ("15592", "15493")  # two communes of one legacy district of Thanh Hóa
WORKS = ("GT-01", "TH-01")
SOURCES = ("NSTW-DT", "NST", "DN", "CD-TM")
DATES = ("2023-01-15", "2023-02-28", "2024-07-01", "2025-06-30")

TRUNCATE = (
    "TRUNCATE funding.transfers, funding.monthly, funding.accounts, funding.work_obligations,"
    " funding.works CASCADE"
)

amounts = st.integers(min_value=1, max_value=10**12)
where = st.tuples(st.sampled_from(UNITS), st.sampled_from(SOURCES), st.sampled_from(DATES))
operations = st.lists(
    st.one_of(
        st.tuples(st.just("pledge"), where, amounts),
        st.tuples(st.just("receipt"), where, amounts, st.booleans()),
        st.tuples(st.just("in_kind"), st.sampled_from(UNITS), st.sampled_from(DATES), amounts),
        st.tuples(st.just("disbursement"), where, amounts, st.sampled_from(WORKS)),
        st.tuples(st.just("settlement"), where, amounts, st.sampled_from(WORKS)),
        st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=1000)),
    ),
    min_size=1,
    max_size=20,
)


@dataclass
class Posted:
    id: str
    external_id: str
    unit: str
    source: str
    stage: str
    kind: str
    amount: int
    reversed: bool = False


@dataclass
class Model:
    posted: list[Posted] = field(default_factory=list)
    # every row seen in the database, by id: (xmin, the row's values)
    seen: dict[str, tuple[str, tuple[Any, ...]]] = field(default_factory=dict)
    seen_accounts: dict[int, tuple[str, tuple[Any, ...]]] = field(default_factory=dict)

    def stage_totals(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for p in self.posted:
            if p.kind != "reversal" and not p.reversed:
                totals[p.stage] += p.amount
        return dict(totals)


async def _post(funding: httpx.AsyncClient, model: Model, body: dict[str, Any]) -> None:
    response = await funding.post("/v1/transfers", json=body)
    assert response.status_code == 201, response.text
    out = response.json()
    model.posted.append(
        Posted(
            id=out["id"],
            external_id=out["external_id"],
            unit=out["unit"],
            source=out["source"],
            stage=out["stage"],
            kind=out["type"],
            amount=out["amount"],
        )
    )


async def _apply(funding: httpx.AsyncClient, model: Model, n: int, op: tuple[Any, ...]) -> None:
    name = op[0]
    external_id = f"P-{n}"
    if name == "reverse":
        if not model.posted:
            return
        target = model.posted[op[1] % len(model.posted)]
        response = await funding.post(
            f"/v1/transfers/{target.id}/reversal",
            json={"reason": f"đảo {n}", "external_id": f"R-{n}"},
        )
        if target.kind == "reversal":
            assert response.status_code == 409
            assert response.json()["code"] == "transfer.not_reversible"
        elif target.reversed:
            assert response.status_code == 409
            assert response.json()["code"] == "transfer.already_reversed"
        else:
            assert response.status_code == 201, response.text
            out = response.json()
            assert out["reverses"] == target.id
            target.reversed = True
            model.posted.append(
                Posted(
                    id=out["id"],
                    external_id=out["external_id"],
                    unit=target.unit,
                    source=target.source,
                    stage=target.stage,
                    kind="reversal",
                    amount=out["amount"],
                )
            )
        return
    if name == "in_kind":
        _, unit, day, quantity = op
        body: dict[str, Any] = {
            "external_id": external_id,
            "unit": unit,
            "source": "CD-HV",
            "date": day,
            "kind": "materials",  # valued at 1 đồng per đồng: the amount is the quantity
            "quantity": quantity,
            "households": 1,
        }
        await _post(funding, model, body)
        return
    (unit, source, day), amount = op[1], op[2]
    body = {
        "external_id": external_id,
        "unit": unit,
        "source": source,
        "amount": amount,
        "date": day,
        "type": name,
    }
    if name == "receipt" and op[3]:
        pledges = [
            p for p in model.posted if p.kind == "pledge" and p.unit == unit and p.source == source
        ]
        if pledges:
            body["pledge"] = pledges[-1].external_id
    if name in ("disbursement", "settlement"):
        body["work"] = op[3]
    await _post(funding, model, body)


async def _snapshot(db: Database, model: Model) -> None:
    """Remember every row with its xmin: a row updated later gets another xmin, a deleted one
    disappears."""
    async with db.engine.connect() as conn:
        for row in await conn.execute(
            text(
                "SELECT id::text, xmin::text, kind, amount, debit_account_id, credit_account_id,"
                " value_date, reverses FROM funding.transfers"
            )
        ):
            model.seen.setdefault(row[0], (row[1], tuple(row[2:])))
        for row in await conn.execute(
            text("SELECT id, xmin::text, unit_id, source_code, role, work_id FROM funding.accounts")
        ):
            model.seen_accounts.setdefault(row[0], (row[1], tuple(row[2:])))


async def _check(db: Database, model: Model) -> None:
    async with db.engine.connect() as conn:
        # the books balance: Σ over all accounts of (debits − credits) is 0
        total = await conn.scalar(
            text(
                "SELECT coalesce(sum(b), 0) FROM ("
                " SELECT debit_account_id, amount AS b FROM funding.transfers"
                " UNION ALL SELECT credit_account_id, -amount FROM funding.transfers) x"
            )
        )
        assert total == 0
        # every transfer has two sides and a positive amount
        bad = await conn.scalar(
            text(
                "SELECT count(*) FROM funding.transfers"
                " WHERE debit_account_id = credit_account_id OR amount <= 0"
            )
        )
        assert bad == 0
        # the monthly aggregates equal a GROUP BY from scratch over the transfers (signed)
        aggregated = await conn.execute(
            text(
                "SELECT unit_id, month, source_code, stage, in_kind_kind, work_id, amount,"
                " quantity, households, transfers FROM funding.monthly"
            )
        )
        scratch = await conn.execute(
            text(
                "SELECT unit_id, date_trunc('month', value_date)::date, source_code, stage,"
                " coalesce(in_kind_kind, ''), coalesce(work_id, 0), sum(sign * amount),"
                " coalesce(sum(sign * quantity), 0), coalesce(sum(sign * households), 0),"
                " sum(sign) FROM funding.transfers GROUP BY 1, 2, 3, 4, 5, 6"
            )
        )
        assert sorted(map(tuple, aggregated)) == sorted(map(tuple, scratch))
        # each reversed transfer nets to zero: same amount, the sides swapped
        pairs = (
            await conn.execute(
                text(
                    "SELECT o.amount = r.amount AND o.debit_account_id = r.credit_account_id"
                    " AND o.credit_account_id = r.debit_account_id AND r.sign = -1"
                    " AND o.stage = r.stage"
                    " FROM funding.transfers r JOIN funding.transfers o ON o.id = r.reverses"
                )
            )
        ).scalars()
        assert all(pairs)
        # nothing updated or deleted
        now = {
            row[0]: (row[1], tuple(row[2:]))
            for row in await conn.execute(
                text(
                    "SELECT id::text, xmin::text, kind, amount, debit_account_id,"
                    " credit_account_id, value_date, reverses FROM funding.transfers"
                )
            )
        }
        assert all(now.get(k) == v for k, v in model.seen.items())
        accounts_now = {
            row[0]: (row[1], tuple(row[2:]))
            for row in await conn.execute(
                text(
                    "SELECT id, xmin::text, unit_id, source_code, role, work_id"
                    " FROM funding.accounts"
                )
            )
        }
        assert all(accounts_now.get(k) == v for k, v in model.seen_accounts.items())
        # and the books hold exactly what the model posted
        assert set(now) == {p.id for p in model.posted}
        by_stage = {
            row[0]: int(row[1])
            for row in await conn.execute(
                text("SELECT stage, sum(amount) FROM funding.monthly GROUP BY 1")
            )
        }
    assert {s: a for s, a in by_stage.items() if a} == model.stage_totals()


@settings(
    max_examples=30,  # about 6 s on a laptop
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(ops=operations)
async def test_random_postings_and_reversals_keep_the_books(
    funding: httpx.AsyncClient, db: Database, ops: list[tuple[Any, ...]]
) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(TRUNCATE))
    for unit in UNITS:
        for code in WORKS:
            response = await funding.post(
                f"/v1/units/{unit}/works?as_of=2023-01-01",
                json={"code": code, "name": f"Công trình {code}", "kind": "road"},
            )
            assert response.status_code == 201, response.text
    model = Model()
    for n, op in enumerate(ops):
        await _apply(funding, model, n, op)
        await _snapshot(db, model)
    await _check(db, model)
    for unit in UNITS:
        accounts = (await funding.get(f"/v1/units/{unit}/accounts?as_of=2023-01-01")).json()
        assert accounts["balanced"] is True
        assert sum(a["balance"] for a in accounts["accounts"]) == 0
