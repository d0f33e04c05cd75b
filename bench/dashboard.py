"""The provincial dashboard through the gateway vs the same data from the services' REST APIs.

The query (issue 6): every commune of a province with its evaluation counts for a set and year
and its funding total. No legacy province has 1,000 communes (the largest: 38 Thanh Hóa 547,
01 Hà Nội 526), so one request asks the two largest at once, as two aliased `unit` fields:
1,073 communes, the units bench/evaluation.py reports on. Data: 57 values per commune for
xa-ntm-2021, year 2023 (bench/evaluation.py's seed), the funding ledger of province 38
(bench/funding_report.py's seed, up to its size when the full bench ran first) and 40 receipts
per legacy unit of province 01 (one INSERT … SELECT here), all only when not there yet.

Both sides run against one `ntm serve` process (the embedded app: gateway and services in one
uvicorn server on a real socket, the gateway reaching the services in-process, as deployed by
`make serve`), from `clients` concurrent clients in this process, `requests` requests each
side. Gateway: POST /graphql with the query. Direct: the REST calls a client would make for
the same data, with the same fan-out the gateway makes — the two provinces and their communes
(`POST /criteria/v1/units/lookup`, `POST /criteria/v1/units/children/lookup`), then
concurrently their evaluations' counts (`POST /criteria/v1/evaluations/lookup` with
`detail: summary`, as the gateway asks when a query wants no explanation) and their funding
totals (`POST /funding/v1/summaries/lookup` with `detail: totals`, 1,000 keys a call) —
joined into the same shape. Both decode with orjson, and the bench checks that both give the
same numbers first. Reported: requests/s and p50/p99 latency of each side; the ratio is
gateway time over direct time for the same requests (the inverse of the throughputs' ratio;
target ≤ 1.5×)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import auth_headers, evaluation, funding_report
from bench.funding_imports import FUNDING_TABLES, serve, vacuum
from shared.db import Database, raw_connection
from shared.settings import Settings, to_asyncpg_url

PROVINCES = tuple(evaluation.PROVINCES)  # 38, 01
SET, YEAR, AS_OF = evaluation.SET, evaluation.YEAR, evaluation.AS_OF.isoformat()
LEDGER = 200_000  # transfers of province 38 when the funding report's seed has not run
RECEIPTS_PER_UNIT = 40  # for province 01, which the funding report's seed leaves empty
FUNDING_KEYS = 1_000  # funding's largest summaries lookup
MONEY_SOURCES = ["NSTW-DT", "NSTW-SN", "NST", "NSH", "NSX", "LG", "TD", "DN", "CD-TM", "KHAC"]
EVALUATION = "criteriaMet criteriaTotal indicatorsMet indicatorsTotal meetsStandard"


def query(provinces: tuple[str, ...] = PROVINCES) -> str:
    """The dashboard of each province, as aliased `unit` fields of one query."""
    return "{ " + " ".join(
        f'p{code}: unit(code:"{code}", asOf:"{AS_OF}") {{ name children(level: COMMUNE,'
        f' first: 1000) {{ totalCount nodes {{ code name evaluation(criteriaSet:"{SET}",'
        f" year:{YEAR}) {{ {EVALUATION} }} funding(year:{YEAR}) {{ total }} }} }} }}"
        for code in provinces
    ) + " }"  # fmt: skip


OPEN_ACCOUNTS_SQL = (
    "INSERT INTO funding.accounts (unit_id, period, purpose, source_code, role)"
    " SELECT u.id, '2021-2025', 'ntm', s, r FROM funding.units u, unnest($2::text[]) s,"
    " unnest(ARRAY['contributor', 'fund']) r"
    " WHERE u.edition = 'legacy' AND (u.path = $1 OR u.path LIKE $1 || '.%')"
    " ON CONFLICT ON CONSTRAINT uq_accounts_key DO NOTHING"
)
# receipts spread over the sources and 2021–2024, by arithmetic on the unit id and the number
RECEIPTS_SQL = (
    "INSERT INTO funding.transfers (id, external_id, body_hash, kind, stage, sign, unit_id,"
    " source_code, debit_account_id, debit_role, credit_account_id, credit_role, amount,"
    " value_date, period)"
    " SELECT gen_random_uuid(), 'DASH-' || u.id || '-' || n, '\\x00'::bytea, 'receipt',"
    " 'receipt', 1, u.id, s.code, f.id, 'fund', c.id, 'contributor',"
    " (1 + (u.id * 7919 + n * 104729) % 5000) * 100000,"
    " date '2021-01-01' + ((u.id * 31 + n * 97) % 1461)::int, '2021-2025'"
    " FROM funding.units u CROSS JOIN generate_series(1, $3) n"
    " CROSS JOIN LATERAL (SELECT ($2::text[])[1 + (u.id + n) % cardinality($2::text[])]"
    " AS code) s"
    " JOIN funding.accounts f ON f.unit_id = u.id AND f.source_code = s.code"
    " AND f.role = 'fund' AND f.period = '2021-2025' AND f.purpose = 'ntm' AND f.work_id IS NULL"
    " JOIN funding.accounts c ON c.unit_id = u.id AND c.source_code = s.code"
    " AND c.role = 'contributor' AND c.period = '2021-2025' AND c.purpose = 'ntm'"
    " AND c.work_id IS NULL"
    " WHERE u.edition = 'legacy' AND (u.path = $1 OR u.path LIKE $1 || '.%')"
)


async def seed(db: Database) -> str:
    """Values and transfers for the two provinces, each only if missing; says what it did."""
    done = []
    async for session in db.session_scope():
        conn = await raw_connection(session)
        valued = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM criteria.indicator_values WHERE set_code = $1"
            " AND year = $2 AND recorded_by = 'bench')",
            SET,
            YEAR,
        )
        funded = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM funding.transfers WHERE external_id LIKE 'DASH-%')"
        )
    if not valued:
        await evaluation.seed(db)
        done.append("values by COPY")
    posted = await funding_report.seed(db, LEDGER)
    if posted:
        done.append(f"{posted:,} transfers of province 38 by COPY")
    if not funded:
        async for session in db.session_scope():
            conn = await raw_connection(session)
            await conn.execute(OPEN_ACCOUNTS_SQL, PROVINCES[1], MONEY_SOURCES)
            status = await conn.execute(
                RECEIPTS_SQL, PROVINCES[1], MONEY_SOURCES, RECEIPTS_PER_UNIT
            )
            await conn.execute("ANALYZE funding.transfers")
        done.append(f"{int(status.split()[-1]):,} receipts of province {PROVINCES[1]}")
    return ", ".join(done) or "data already there"


# --- the two sides -------------------------------------------------------------------------

Dashboard = dict[str, Any]  # province code → {name, total_count, communes: {code: (…)}}


async def via_gateway(
    client: httpx.AsyncClient, provinces: tuple[str, ...] = PROVINCES
) -> Dashboard:
    body = await _post(client, "/graphql", {"query": query(provinces)})
    if "errors" in body:
        raise RuntimeError(f"the gateway answered errors: {str(body['errors'])[:500]}")
    out: Dashboard = {}
    for code in provinces:
        unit = body["data"][f"p{code}"]
        children = unit["children"]
        out[code] = {
            "name": unit["name"],
            "total_count": children["totalCount"],
            "communes": {
                n["code"]: (n["name"], n["evaluation"], n["funding"]["total"])
                for n in children["nodes"]
            },
        }
    return out


async def _post(client: httpx.AsyncClient, path: str, body: Any) -> Any:
    """POST JSON, decoded with orjson. Sent again once on a connection the server had closed
    while it sat in the pool (a keep-alive race that 16 busy clients meet now and then: every
    call here is a read)."""
    content = orjson.dumps(body)
    headers = {"content-type": "application/json"}
    try:
        response = await client.post(path, content=content, headers=headers)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        response = await client.post(path, content=content, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:500]}")
    return orjson.loads(response.content)


EMBEDDED = {"criteria": "/criteria", "funding": "/funding"}  # where `ntm serve` mounts them


async def direct(
    client: httpx.AsyncClient,
    provinces: tuple[str, ...] = PROVINCES,
    services: dict[str, str] = EMBEDDED,
) -> Dashboard:
    """The same data from the services' REST APIs, at `services` (a path on the client's base
    URL, or a service's own URL)."""
    criteria, funding = services["criteria"], services["funding"]
    keys = [{"code": code, "as_of": AS_OF} for code in provinces]
    children_keys = [{**k, "level": "commune", "limit": 1000} for k in keys]
    units, pages = await asyncio.gather(
        _post(client, f"{criteria}/v1/units/lookup", {"keys": keys}),
        _post(client, f"{criteria}/v1/units/children/lookup", {"keys": children_keys}),
    )
    communes = [c for page in pages["items"] for c in page["items"]]
    evaluation_keys = [{"unit": c["code"], "as_of": AS_OF, "set": SET, "year": YEAR}
                       for c in communes]  # fmt: skip
    summary_keys = [{"unit": c["code"], "as_of": AS_OF} for c in communes]
    evaluations, *summaries = await asyncio.gather(
        _post(client, f"{criteria}/v1/evaluations/lookup",
              {"keys": evaluation_keys, "detail": "summary"}),
        *(
            _post(client, f"{funding}/v1/summaries/lookup",
                  {"keys": summary_keys[i : i + FUNDING_KEYS], "year": YEAR,
                   "detail": "totals"})
            for i in range(0, len(summary_keys), FUNDING_KEYS)
        ),
    )  # fmt: skip
    totals = [s["total"] for chunk in summaries for s in chunk["items"]]
    counts = [
        {"criteriaMet": e["criteria_met"], "criteriaTotal": e["criteria_total"],
         "indicatorsMet": e["indicators_met"], "indicatorsTotal": e["indicators_total"],
         "meetsStandard": e["meets_standard"]}
        for e in evaluations["items"]
    ]  # fmt: skip
    out: Dashboard = {}
    i = 0
    for code, unit, page in zip(provinces, units["items"], pages["items"], strict=True):
        rows = {}
        for c in page["items"]:
            rows[c["code"]] = (c["name"], counts[i], totals[i])
            i += 1
        out[code] = {"name": unit["name"], "total_count": page["total_count"], "communes": rows}
    return out


# --- the load ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    def __add__(self, other: Load) -> Load:
        return Load(self.seconds + other.seconds, self.latencies + other.latencies)


def rounds(requests: int, clients: int) -> list[int]:
    """`requests` in rounds of four times the clients (the last may be smaller)."""
    size = 4 * clients
    return [min(size, requests - start) for start in range(0, requests, size)]


async def load(
    fn: Callable[[httpx.AsyncClient], Awaitable[object]],
    client: httpx.AsyncClient,
    clients: int,
    requests: int,
) -> Load:
    """`requests` calls of `fn` from `clients` concurrent workers sharing one pool."""
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await fn(client)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return Load(time.perf_counter() - started, latencies)


@dataclass(frozen=True)
class DashboardBench:
    provinces: tuple[str, ...]
    communes: int
    clients: int
    gateway: Load
    direct: Load
    seeded: str
    workers: int = 1
    distributed: bool = False

    @property
    def ratio(self) -> float:
        return self.gateway.seconds / self.direct.seconds

    @property
    def served(self) -> str:
        if self.distributed:
            return (
                "distributed: `ntm serve gateway`, `ntm serve criteria`, `ntm serve funding`,"
                " one process each"
            )
        return f"embedded: `ntm serve --workers {self.workers}`"

    def row(self) -> tuple[str, float, float]:
        """The row of `python -m bench`'s table: mean time per request of each side."""
        g, d = self.gateway, self.direct
        label = (
            f"dashboard: {self.communes:,} communes of provinces {' + '.join(self.provinces)} with"
            f" evaluation counts and funding total, {len(g.latencies)} requests from"
            f" {self.clients} clients over HTTP ({self.served}):"
            f" GraphQL {g.per_second:.1f} req/s,"
            f" p50 {g.percentile(0.5):.0f} ms, p99 {g.percentile(0.99):.0f} ms vs the same REST"
            f" calls direct {d.per_second:.1f} req/s, p50 {d.percentile(0.5):.0f} ms,"
            f" p99 {d.percentile(0.99):.0f} ms (target ≤ 1.5×; {self.seeded})"
        )
        return label, g.seconds / len(g.latencies), d.seconds / len(d.latencies)

    def __str__(self) -> str:
        return self.row()[0] + f": {self.ratio:.2f}×"


async def bench_dashboard(
    settings: Settings,
    db: Database,
    requests: int = 64,
    clients: int = 16,
    provinces: tuple[str, ...] = PROVINCES,
    workers: int = 1,
    distributed: bool = False,
) -> DashboardBench:
    """Embedded: one `ntm serve` (`workers` processes) serves the gateway and the services,
    which the gateway calls in-process. Distributed: the gateway, criteria and funding each in
    their own `ntm serve` process, the gateway calling the services over HTTP, and the direct
    side calling the services' own ports."""
    seeded = await seed(db)
    # untimed: VACUUM ANALYZE what both sides read (the seeding and the benchmarks before left
    # work), so that autovacuum does not pick it up during the measurement
    await vacuum(db, [*FUNDING_TABLES, "criteria.indicator_values"])
    with tempfile.TemporaryDirectory() as folder:
        async with contextlib.AsyncExitStack() as stack:
            # a dashboard holds three sessions at once (evaluations, two funding bodies)
            pool = 3 * clients // workers
            if distributed:
                services = {}
                for name in ("criteria", "funding"):
                    (Path(folder) / name).mkdir()
                    started = serve(
                        settings, Path(folder) / name, (name, "--no-migrate"), pool_size=pool
                    )
                    services[name] = (await stack.enter_async_context(started)).url
                upstreams = {f"NTM_{n.upper()}_URL": url for n, url in services.items()}
                # the dashboard does not reach appraisal; nothing listens there
                upstreams["NTM_APPRAISAL_URL"] = "http://127.0.0.1:9"
                (Path(folder) / "gateway").mkdir()
                started = serve(settings, Path(folder) / "gateway", ("gateway",), env=upstreams)
                gateway_url = (await stack.enter_async_context(started)).url
            else:
                started = serve(settings, Path(folder), (), pool_size=pool, workers=workers)
                gateway_url, services = (await stack.enter_async_context(started)).url, EMBEDDED
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=gateway_url,
                    headers=auth_headers(settings),
                    timeout=httpx.Timeout(600.0),
                    # the direct side sends up to four calls at once
                    limits=httpx.Limits(max_connections=4 * clients, keepalive_expiry=2.0),
                )
            )
            mine = partial(via_gateway, provinces=provinces)
            theirs = partial(direct, provinces=provinces, services=services)
            answer = await mine(client)
            if answer != await theirs(client):
                raise AssertionError("the gateway and the REST calls disagree")
            communes = sum(len(p["communes"]) for p in answer.values())
            await load(mine, client, clients, clients)  # warm-up, both sides
            await load(theirs, client, clients, clients)
            # the sides alternate in rounds: whatever the database or the machine does in the
            # background meanwhile (autovacuum after the benchmarks before) falls on both
            on_gateway = on_rest = Load(0.0, [])
            for size in rounds(requests, clients):
                on_gateway += await load(mine, client, clients, size)
                on_rest += await load(theirs, client, clients, size)
    return DashboardBench(
        provinces, communes, clients, on_gateway, on_rest, seeded, workers, distributed
    )


async def main(
    requests: int,
    clients: int,
    provinces: tuple[str, ...],
    workers: int = 1,
    distributed: bool = False,
) -> None:  # pragma: no cover - a command
    import os

    from services.runtime import prepare_database
    from shared.embedded import EmbeddedPostgres

    url = os.environ.get("BENCH_DATABASE_URL")
    server = None
    if url:
        url = to_asyncpg_url(url)
    else:
        server = EmbeddedPostgres.start(funding_report.BENCH_DIR)
        server.ensure_database("bench_dashboard")
        url = server.url("bench_dashboard")
    db = Database.from_url(url)
    try:
        await prepare_database(db)
        result = await bench_dashboard(
            Settings(database_url=url, log_json=False),
            db,
            requests,
            clients,
            provinces,
            workers,
            distributed,
        )
    finally:
        await db.dispose()
        if server is not None:
            server.stop()
    print(result)
    print(f"| {result.row()[0]} | {result.row()[1] * 1000:.1f} ms |"
          f" {result.row()[2] * 1000:.1f} ms | {result.ratio:.2f}× |")  # fmt: skip


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.dashboard")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--provinces", default=",".join(PROVINCES), help="38,01 or one of them")
    parser.add_argument("--workers", type=int, default=1, help="`ntm serve --workers`")
    parser.add_argument(
        "--distributed", action="store_true", help="the gateway and each service in a process"
    )
    args = parser.parse_args()
    provinces = tuple(args.provinces.split(","))
    asyncio.run(main(args.requests, args.clients, provinces, args.workers, args.distributed))
