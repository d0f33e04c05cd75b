"""The funding report of a whole province vs the bare SQL sum over its transfers.

When the ledger holds fewer than 1,000,000 transfers, the missing ones are posted first, fast:
the accounts are opened set-wise, then the transfers go by asyncpg COPY straight into
funding.transfers (the statement triggers fill funding.monthly and
the hierarchy rollups funding.rollup in the same statement). They fall on the legacy units of
province 38 (Thanh Hóa: 547 communes, 27 districts, the province), on random days of 2021–2024,
over every source; one in ten is a pledge, the community's in-kind gifts are land with
households.

Our side is the REST report through the app (httpx, in-process): the unit, the catalog, the
figures by source, stage and kind (window and cumulative) and the pledged balances from the
province's scope of the rollups (about a thousand rows, read by equality), the works, shares,
paragraph and JSON. The reference is the bare `SELECT source_code, sum(amount) … GROUP BY
source_code` over the same province's transfers, on a bare asyncpg connection."""

from __future__ import annotations

import gc
import hashlib
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench import auth_headers
from services.funding.app import create_app as create_funding_app
from shared.db import Database, raw_connection
from shared.settings import Settings

BENCH_DIR = Path(__file__).resolve().parent.parent / ".ntm-bench"
PROVINCE = "38"
TARGET = 1_000_000
BATCH = 200_000
SOURCES = ["NSTW-DT", "NSTW-SN", "NST", "NSH", "NSX", "LG", "TD", "DN", "CD-TM", "CD-HV", "KHAC"]
COLUMNS = [
    "id", "external_id", "body_hash", "kind", "stage", "sign", "unit_id", "source_code",
    "debit_account_id", "debit_role", "credit_account_id", "credit_role", "amount",
    "value_date", "period", "in_kind_kind", "quantity", "households",
]  # fmt: skip

BARE_SQL = (
    "SELECT t.source_code, sum(t.sign * t.amount) FROM funding.transfers t"
    " JOIN funding.units u ON u.id = t.unit_id"
    " WHERE t.stage = 'receipt' AND (u.path = $1 OR u.path LIKE $1 || '.%')"
    " GROUP BY t.source_code"
)


async def _timed(fn: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    await fn()  # warm-up
    out = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - started)
    return out


async def seed(db: Database, target: int = TARGET) -> int:
    """Post transfers until the ledger holds `target` (one transaction); returns how many."""
    posted = 0
    async for session in db.session_scope():
        posted = await _post(await raw_connection(session), target)
    return posted


async def _post(conn: Any, target: int) -> int:
    present = int(await conn.fetchval("SELECT count(*) FROM funding.transfers"))
    missing = target - present
    if missing <= 0:
        return 0
    units = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM funding.units WHERE edition = 'legacy'"
            " AND (path = $1 OR path LIKE $1 || '.%') ORDER BY id",
            PROVINCE,
        )
    ]
    await conn.execute(
        "INSERT INTO funding.accounts (unit_id, period, purpose, source_code, role)"
        " SELECT u, '2021-2025', 'ntm', s, r FROM unnest($1::bigint[]) u,"
        " unnest($2::text[]) s, unnest(ARRAY['contributor', 'pledged', 'fund']) r"
        " ON CONFLICT ON CONSTRAINT uq_accounts_key DO NOTHING",
        units,
        SOURCES,
    )
    accounts = {
        (r["unit_id"], r["source_code"], r["role"]): r["id"]
        for r in await conn.fetch(
            "SELECT id, unit_id, source_code, role FROM funding.accounts"
            " WHERE unit_id = ANY($1::bigint[]) AND period = '2021-2025' AND purpose = 'ntm'"
            " AND work_id IS NULL",
            units,
        )
    }
    rng = random.Random(20211231 + present)
    first = date(2021, 1, 1)
    days = (date(2024, 12, 31) - first).days + 1
    run = uuid.uuid4().hex[:8]
    digest = hashlib.sha256(b"bench").digest()
    posted = 0
    while posted < missing:
        records: list[tuple[Any, ...]] = []
        for _ in range(min(BATCH, missing - posted)):
            unit = rng.choice(units)
            source = rng.choice(SOURCES)
            pledge = rng.random() < 0.1
            debit = "pledged" if pledge else "fund"
            kind = quantity = households = None
            amount = rng.randint(1, 5_000) * 100_000
            if source == "CD-HV":
                kind, quantity = "land", Decimal(rng.randint(10, 2_000))
                households, amount = rng.randint(1, 40), int(quantity) * 150_000
            records.append(
                (
                    uuid.uuid4(), f"BENCH-{run}-{posted}", digest,
                    "pledge" if pledge else "receipt", "pledge" if pledge else "receipt", 1,
                    unit, source, accounts[(unit, source, debit)], debit,
                    accounts[(unit, source, "contributor")], "contributor", amount,
                    first + timedelta(days=rng.randrange(days)), "2021-2025", kind,
                    quantity, households,
                )
            )  # fmt: skip
            posted += 1
        await conn.copy_records_to_table("transfers", schema_name="funding",
                                         columns=COLUMNS, records=records)  # fmt: skip
    return posted


async def bench_province_funding_report(
    settings: Settings, db: Database, repeat: int
) -> tuple[str, float, float]:
    started = time.perf_counter()
    posted = await seed(db)
    seeding = time.perf_counter() - started
    async for session in db.session_scope():
        conn = await raw_connection(session)
        rows = int(
            await conn.fetchval(
                "SELECT count(*) FROM funding.transfers t JOIN funding.units u"
                " ON u.id = t.unit_id WHERE u.path = $1 OR u.path LIKE $1 || '.%'",
                PROVINCE,
            )
        )
    app = create_funding_app(settings, db)
    async with (
        db.engine.connect() as held,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://funding",
            headers=auth_headers(settings),
        ) as rest,
    ):
        plain = (await held.get_raw_connection()).driver_connection
        assert plain is not None

        async def ours() -> dict[str, int]:
            response = await rest.get(
                f"/v1/units/{PROVINCE}/report", params={"as_of": "2024-12-31"}
            )
            assert response.status_code == 200, response.text
            return {s["source"]: s["amount"] for s in response.json()["by_source"] if s["amount"]}

        async def bare() -> dict[str, int]:
            return {r[0]: int(r[1]) for r in await plain.fetch(BARE_SQL, PROVINCE)}

        mine, reference = await ours(), await bare()
        assert mine == {k: v for k, v in reference.items() if v}, (mine, reference)
        t_ours = statistics.median(await _timed(ours, repeat))
        t_ref = statistics.median(await _timed(bare, repeat))
    seeded = f"; {posted:,} posted by COPY in {seeding:.1f} s" if posted else ""
    return (
        f"funding report of province {PROVINCE} over {rows:,} transfers (REST, from the "
        f"hierarchy rollups) vs bare SQL sum by source over the transfers{seeded}",
        t_ours,
        t_ref,
    )


async def main(repeat: int) -> None:  # pragma: no cover - a command, run by hand
    import os

    from services.runtime import prepare_database
    from shared.embedded import EmbeddedPostgres

    url = os.environ.get("BENCH_DATABASE_URL")
    server = None
    if not url:
        server = EmbeddedPostgres.start(BENCH_DIR)
        server.ensure_database("bench_funding")
        url = server.url("bench_funding")
    db = Database.from_url(url)
    try:
        await prepare_database(db)
        label, ours, ref = await bench_province_funding_report(
            Settings(database_url=url, log_json=False), db, repeat
        )
    finally:
        await db.dispose()
        if server is not None:
            server.stop()
    print(f"| {label} | {ours * 1000:.1f} ms | {ref * 1000:.1f} ms | {ours / ref:.2f}× |")


if __name__ == "__main__":  # pragma: no cover
    import asyncio
    import sys

    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))
