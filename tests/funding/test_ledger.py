"""The ledger on real PostgreSQL: posting, idempotency, reversal, and the invariants the
database itself holds."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.db import Database

COMMUNE = "15592"  # a commune of Thanh Hóa (legacy edition, valid until 2025-06-30)


def transfer(external_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "unit": COMMUNE,
        "source": "NSTW-DT",
        "amount": 1_250_000_000,
        "date": "2023-04-12",
    }
    body.update(extra)
    return body


async def test_sources_follow_the_contract(funding: httpx.AsyncClient) -> None:
    response = await funding.get("/v1/sources")
    assert response.status_code == 200
    by_code = {s["code"]: s["group"] for s in response.json()}
    assert by_code == {
        "NSTW-DT": "NSNN",
        "NSTW-SN": "NSNN",
        "NST": "NSNN",
        "NSH": "NSNN",
        "NSX": "NSNN",
        "LG": "LG",
        "TD": "TD",
        "DN": "XHH",
        "CD-TM": "XHH",
        "CD-HV": "XHH",
        "KHAC": "XHH",
    }


async def test_post_then_read(funding: httpx.AsyncClient) -> None:
    response = await funding.post("/v1/transfers", json=transfer("XM-2023-0001"))
    assert response.status_code == 201, response.text
    posted = response.json()
    assert posted["amount"] == 1_250_000_000
    assert posted["unit"] == COMMUNE
    assert posted["edition"] == "legacy"
    assert posted["type"] == "receipt"
    assert posted["period"] == "2021-2025"
    again = await funding.get(response.headers["location"])
    assert again.status_code == 200
    assert again.json()["id"] == posted["id"]


async def test_same_id_same_body_posts_once(funding: httpx.AsyncClient, db: Database) -> None:
    first = await funding.post("/v1/transfers", json=transfer("XM-2023-0002"))
    second = await funding.post("/v1/transfers", json=transfer("XM-2023-0002"))
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["replayed"] is True
    async with db.engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM funding.transfers WHERE external_id = 'XM-2023-0002'")
        )
    assert count == 1


async def test_same_id_other_body_is_a_conflict(funding: httpx.AsyncClient) -> None:
    await funding.post("/v1/transfers", json=transfer("XM-2023-0003"))
    response = await funding.post("/v1/transfers", json=transfer("XM-2023-0003", amount=5))
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "transfer.idempotency_conflict"
    assert problem["errors"][0]["field"] == "external_id"
    assert problem["message_vi"]
    assert problem["message_en"]


async def test_same_id_from_two_connections_posts_once(
    funding: httpx.AsyncClient, db: Database
) -> None:
    """Two concurrent requests (two sessions, two connections) with one external id."""
    responses = await asyncio.gather(
        *(funding.post("/v1/transfers", json=transfer("XM-2023-0004")) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    async with db.engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM funding.transfers WHERE external_id = 'XM-2023-0004'")
        )
        total = await conn.scalar(text("SELECT sum(amount) FROM funding.monthly"))
    assert count == 1
    assert total == 1_250_000_000


@pytest.mark.parametrize(
    ("extra", "field", "code"),
    [
        ({"unit": "99999"}, "unit", "unit.not_found"),
        ({"source": "XYZ"}, "source", "source.unknown"),
        ({"amount": 0}, "amount", "validation_failed"),
        ({"amount": 12.5}, "amount", "validation_failed"),
        ({"amount": "1.000"}, "amount", "validation_failed"),
        ({"date": "2023-02-31"}, "date", "validation_failed"),
        ({"date": "2019-05-01"}, "date", "date.out_of_programme"),
        ({"source": "NSH", "unit": "38", "date": "2025-08-01"}, "source", "source.not_in_force"),
        ({"source": "CD-HV"}, "kind", "in_kind.kind_required"),
        ({"kind": "land"}, "quantity", "in_kind.incomplete"),
        ({"kind": "gold", "quantity": 1}, "kind", "in_kind.kind_unknown"),
        ({"kind": "land", "quantity": 5, "quantity_unit": "ha"}, "quantity_unit", None),
        ({"type": "disbursement"}, "work", "work.required"),
        ({"type": "disbursement", "work": "NOPE"}, "work", "work.not_found"),
        ({"pledge": "NOPE"}, "pledge", "pledge.invalid"),
        ({"memo": "a\u0000b"}, "memo", "validation_failed"),
        ({"source": "NS\u0000T"}, "source", "validation_failed"),
    ],
)
async def test_bad_input_names_the_field(
    funding: httpx.AsyncClient, db: Database, extra: dict[str, Any], field: str, code: str | None
) -> None:
    response = await funding.post("/v1/transfers", json=transfer("XM-BAD-1", **extra))
    assert response.status_code in (404, 422), response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    if code is not None:
        assert problem["code"] == code
    assert field in {e["field"] for e in problem["errors"]}
    assert problem["message_vi"]
    assert problem["message_en"]
    async with db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM funding.transfers")) == 0


async def test_in_kind_land_is_valued_and_keeps_its_quantity(funding: httpx.AsyncClient) -> None:
    response = await funding.post(
        "/v1/transfers",
        json=transfer(
            "XM-HV-1",
            source="CD-HV",
            amount=None,
            kind="land",
            quantity=1200,
            quantity_unit="m2",
            households=35,
        ),
    )
    assert response.status_code == 201, response.text
    posted = response.json()
    rates = (await funding.get("/v1/in-kind-kinds")).json()
    assert {k["code"] for k in rates} >= {"land", "labour"}
    assert posted["quantity"] in ("1200.000", "1200", 1200)
    assert posted["quantity_unit"] == "m2"
    assert posted["households"] == 35
    assert posted["rate_vnd"]
    assert posted["amount"] == 1200 * posted["rate_vnd"]


async def test_reversal_mirrors_and_is_idempotent(funding: httpx.AsyncClient, db: Database) -> None:
    posted = (await funding.post("/v1/transfers", json=transfer("XM-R-1"))).json()
    reversal = await funding.post(
        f"/v1/transfers/{posted['id']}/reversal", json={"reason": "nhập trùng"}
    )
    assert reversal.status_code == 201, reversal.text
    out = reversal.json()
    assert out["reverses"] == posted["id"]
    assert out["sign"] == -1
    assert out["amount"] == posted["amount"]
    assert out["date"] == posted["date"]
    again = await funding.post(
        f"/v1/transfers/{posted['id']}/reversal", json={"reason": "nhập trùng"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == out["id"]
    other = await funding.post(
        f"/v1/transfers/{posted['id']}/reversal", json={"reason": "x", "external_id": "R-2"}
    )
    assert other.status_code == 409
    assert other.json()["code"] == "transfer.already_reversed"
    of_reversal = await funding.post(f"/v1/transfers/{out['id']}/reversal", json={"reason": "x"})
    assert of_reversal.status_code == 409
    assert of_reversal.json()["code"] == "transfer.not_reversible"
    original = (await funding.get(f"/v1/transfers/{posted['id']}")).json()
    assert original["reversed_by"] == out["id"]
    async with db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM funding.transfers")) == 2
        assert await conn.scalar(text("SELECT sum(amount) FROM funding.monthly")) == 0
    accounts = (await funding.get(f"/v1/units/{COMMUNE}/accounts?as_of=2023-04-12")).json()
    assert accounts["balanced"] is True
    assert all(a["balance"] == 0 for a in accounts["accounts"])


async def test_pledge_then_receipt_moves_through_the_accounts(
    funding: httpx.AsyncClient,
) -> None:
    pledge = await funding.post(
        "/v1/transfers", json=transfer("P-1", type="pledge", source="DN", amount=300_000_000)
    )
    assert pledge.status_code == 201, pledge.text
    receipt = await funding.post(
        "/v1/transfers",
        json=transfer("P-1-R", source="DN", amount=200_000_000, pledge="P-1"),
    )
    assert receipt.status_code == 201, receipt.text
    assert receipt.json()["pledge_id"] == pledge.json()["id"]
    accounts = (await funding.get(f"/v1/units/{COMMUNE}/accounts?as_of=2023-04-12")).json()
    balance = {a["role"]: a["balance"] for a in accounts["accounts"]}
    assert balance == {"contributor": -300_000_000, "pledged": 100_000_000, "fund": 200_000_000}


async def _one_posted_id(db: Database) -> str:
    async with db.engine.connect() as conn:
        return str(await conn.scalar(text("SELECT id FROM funding.transfers LIMIT 1")))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE funding.transfers SET amount = amount + 1 WHERE id = :id",
        "DELETE FROM funding.transfers WHERE id = :id",
        "UPDATE funding.accounts SET role = 'fund'",
    ],
)
async def test_the_database_refuses_to_change_a_posting(
    funding: httpx.AsyncClient, db: Database, statement: str
) -> None:
    await funding.post("/v1/transfers", json=transfer("XM-I-1"))
    transfer_id = await _one_posted_id(db)
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.engine.begin() as conn:
            await conn.execute(text(statement), {"id": transfer_id})


async def test_the_database_refuses_an_unbalanced_or_mismatched_posting(
    funding: httpx.AsyncClient, db: Database
) -> None:
    """Roles that do not fit the kind, or a 'reversal' that does not mirror, are refused by
    constraints and triggers, not only by the Python code."""
    await funding.post("/v1/transfers", json=transfer("XM-I-2"))
    async with db.engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM funding.transfers LIMIT 1"))).mappings().one()
    base = dict(row)
    attempts = [
        # receipt with its sides swapped (credit the fund, debit the contributor)
        dict(
            base,
            debit_account_id=row["credit_account_id"],
            debit_role=row["credit_role"],
            credit_account_id=row["debit_account_id"],
            credit_role=row["debit_role"],
        ),
        # a negative amount
        dict(base, amount=-5),
        # a reversal of a different amount
        dict(
            base,
            kind="reversal",
            sign=-1,
            reverses=row["id"],
            amount=row["amount"] - 1,
            debit_account_id=row["credit_account_id"],
            debit_role=row["credit_role"],
            credit_account_id=row["debit_account_id"],
            credit_role=row["debit_role"],
        ),
        # a role that lies about its account
        dict(base, debit_role="pledged"),
    ]
    for n, values in enumerate(attempts):
        values = dict(values, id=f"00000000-0000-0000-0000-00000000000{n}", external_id=f"X{n}")
        cols = ", ".join(values)
        marks = ", ".join(f":{c}" for c in values)
        with pytest.raises(DBAPIError):
            async with db.engine.begin() as conn:
                await conn.execute(
                    text(f"INSERT INTO funding.transfers ({cols}) VALUES ({marks})"), values
                )


async def test_a_2025_unit_lists_the_transfers_of_the_legacy_units_merged_into_it(
    funding: httpx.AsyncClient,
) -> None:
    await funding.post("/v1/transfers", json=transfer("XM-L-1"))
    await funding.post("/v1/transfers", json=transfer("XM-L-2", date="2023-05-01"))
    for as_of in ("2023-06-01", "2025-08-01"):  # the legacy province, then the 2025 one
        page = (await funding.get(f"/v1/transfers?unit=38&as_of={as_of}&limit=1")).json()
        assert page["total_count"] == 2
        assert [t["external_id"] for t in page["items"]] == ["XM-L-2"]
        rest = (
            await funding.get(
                f"/v1/transfers?unit=38&as_of={as_of}&limit=1&cursor={page['next_cursor']}"
            )
        ).json()
        assert [t["external_id"] for t in rest["items"]] == ["XM-L-1"]
        assert rest["next_cursor"] is None
    forged = await funding.get("/v1/transfers?unit=38&cursor=WzFd")  # [1]
    assert forged.status_code == 422
    assert forged.json()["code"] == "cursor.invalid"
