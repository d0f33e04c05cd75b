"""`make bench`: benchmarks on a real PostgreSQL, each reported as a ratio against a reference
measured in the same run. Uses BENCH_DATABASE_URL when set, else an embedded server in
./.ntm-bench. Prints a Markdown table to paste into BENCHMARKS.md."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bench import auth_headers
from bench.dashboard import bench_dashboard
from bench.evaluation import bench_province_report
from bench.funding_imports import bench_single_postings, bench_transfer_import
from bench.funding_report import bench_province_funding_report
from bench.imports import bench_indicator_import
from services.criteria.app import create_app as create_criteria_app
from services.criteria.reference.admin_units import build_national_units
from services.criteria.repository import UnitRepository
from services.gateway.app import create_app as create_gateway_app
from services.runtime import prepare_database
from shared.db import Database, raw_connection
from shared.embedded import EmbeddedPostgres
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


async def timed(fn: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    await fn()  # warm-up
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - started)
    return out


async def bench_reference_load(db: Database, repeat: int) -> tuple[str, float, float]:
    """Upserting the national units (COPY → staging → INSERT…SELECT, parents, lineage) vs a
    bare COPY of the same unit rows into a same-shaped temp table."""
    data = build_national_units()

    async def ours() -> None:
        async for session in db.session_scope():
            await UnitRepository(session).load_national_units(data)

    async def bare_copy() -> None:
        async for session in db.session_scope():
            conn = await raw_connection(session)
            await conn.execute(
                "CREATE TEMP TABLE bare ON COMMIT DROP AS SELECT code, edition, level,"
                " level_order, name, short_name, type_name, parent_code, province_code, path,"
                " valid_from, valid_to, search_key, source FROM criteria.units WITH NO DATA"
            )
            await conn.copy_records_to_table(
                "bare",
                columns=["code", "edition", "level", "level_order", "name", "short_name",
                         "type_name", "parent_code", "province_code", "path", "valid_from",
                         "valid_to", "search_key", "source"],
                records=[
                    (u.code, u.edition.value, u.level.value, u.level_order, u.name, u.short_name,
                     u.type_name, u.parent_code, u.province_code, u.path, u.valid_from,
                     u.valid_to, u.search_key, u.source)
                    for u in data.units
                ],
            )  # fmt: skip

    t_ours = statistics.median(await timed(ours, repeat))
    t_ref = statistics.median(await timed(bare_copy, repeat))
    return ("reference load of 14,149 units + lineage vs bare COPY of the units", t_ours, t_ref)


async def bench_gateway_units(
    settings: Settings, db: Database, repeat: int
) -> tuple[str, float, float]:
    """547 communes of province 38 with their district's name: GraphQL through the gateway
    vs the same two REST calls made directly (both in-process, so only our code differs)."""
    criteria_app = create_criteria_app(settings, db)
    transport = httpx.ASGITransport(app=criteria_app)
    gateway = create_gateway_app(settings, transports={"criteria": transport})
    query = (
        '{ units(parentCode:"38", level: COMMUNE, asOf:"2023-01-01", first: 1000)'
        " { totalCount nodes { code name parent { name } } } }"
    )
    async with (
        gateway.router.lifespan_context(gateway),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway),
            base_url="http://gw",
            headers=auth_headers(settings),
        ) as gw,
        httpx.AsyncClient(
            transport=transport, base_url="http://criteria", headers=auth_headers(settings)
        ) as rest,
    ):

        async def via_gateway() -> None:
            r = await gw.post("/graphql", json={"query": query})
            assert len(r.json()["data"]["units"]["nodes"]) == 547

        async def direct() -> None:
            page = (
                await rest.get(
                    "/v1/units",
                    params={"parent_code": "38", "level": "commune", "as_of": "2023-01-01",
                            "limit": 1000},
                )
            ).json()  # fmt: skip
            parents = sorted({u["parent_code"] for u in page["items"]})
            keys = [{"code": c, "as_of": "2023-01-01"} for c in parents]
            found = (await rest.post("/v1/units/lookup", json={"keys": keys})).json()
            names = {u["code"]: u["name"] for u in found["items"]}
            assert len([names[u["parent_code"]] for u in page["items"]]) == 547

        t_gw = statistics.median(await timed(via_gateway, repeat))
        t_direct = statistics.median(await timed(direct, repeat))
    return ("GraphQL: 547 communes + parent names vs the same 2 REST calls", t_gw, t_direct)


async def main(
    repeat: int,
    rows: int = 500_000,
    transfers: int = 1_000_000,
    postings: int = 5_000,
    dashboard_requests: int = 64,
    only: str | None = None,
) -> None:
    url = os.environ.get("BENCH_DATABASE_URL")
    server = None
    if not url:
        server = EmbeddedPostgres.start(ROOT / ".ntm-bench")
        name = f"bench_{uuid.uuid4().hex[:6]}"
        server.ensure_database(name)
        url = server.url(name)
    db = Database.from_url(url)
    try:
        await prepare_database(db)
        settings = Settings(database_url=url, log_json=False)
        results = []
        if only == "report":
            rows = transfers = postings = dashboard_requests = 0
            results.append(await bench_province_report(settings, db, repeat))
        elif only == "dashboard":
            rows = transfers = postings = 0
        else:
            results += [
                await bench_reference_load(db, repeat),
                await bench_gateway_units(settings, db, repeat),
                await bench_province_report(settings, db, repeat),
            ]
        if rows:  # after the report: its 500,000 values would change what the report reads
            results.append((await bench_indicator_import(settings, db, rows)).row())
        if postings:
            posted = await bench_single_postings(settings, db, postings)
            results.append(posted.row())
            print(posted)
        if transfers:  # the report seeds 1,000,000 transfers by COPY if fewer are there
            results.append(await bench_province_funding_report(settings, db, repeat))
            imported = await bench_transfer_import(settings, db, transfers)
            results.append(imported.row())
            print(imported)
        if dashboard_requests:  # last: it seeds only what the benchmarks before left missing
            # as `make serve` runs it (one process), and as deployed (one process a service)
            for distributed in (False, True):
                dashboard = await bench_dashboard(
                    settings, db, dashboard_requests, distributed=distributed
                )
                results.append(dashboard.row())
                print(dashboard)
    finally:
        await db.dispose()
        if server is not None:
            server.drop_database(name)
            server.stop()
    print(f"\n| benchmark (median of {repeat}) | ours | reference | ratio |")
    print("|---|---|---|---|")
    for label, ours, ref in results:
        print(f"| {label} | {ours * 1000:.1f} ms | {ref * 1000:.1f} ms | {ours / ref:.2f}× |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--rows", type=int, default=500_000, help="rows of the import benchmark (0: skip it)"
    )
    parser.add_argument(
        "--transfers",
        type=int,
        default=1_000_000,
        help="rows of the funding import benchmark; the funding report runs with it (0: skip)",
    )
    parser.add_argument(
        "--postings", type=int, default=5_000, help="single postings from 32 clients (0: skip)"
    )
    parser.add_argument(
        "--dashboard-requests",
        type=int,
        default=64,
        help="provincial dashboard requests each side, from 16 clients (0: skip)",
    )
    parser.add_argument(
        "--only",
        choices=["report", "dashboard"],
        help="run one benchmark alone (report: the criteria report of two provinces;"
        " dashboard: the gateway's provincial dashboard)",
    )
    args = parser.parse_args()
    asyncio.run(
        main(args.repeat, args.rows, args.transfers, args.postings, args.dashboard_requests,
             args.only)
    )  # fmt: skip
