"""The funding ledger over HTTP: a bulk import of transfers vs a bare COPY of the same rows, and
single postings under concurrent clients.

Both run against the funding service in a process of its own (`ntm serve funding`, uvicorn on
127.0.0.1, started here with DATABASE_URL and stopped after), so the server's peak memory is
its own: VmHWM from /proc/<pid>/status.

Import. Ours: one NDJSON body of `rows` valid transfers (real legacy communes, all of them,
dates 2021-01-01..2025-06-30 spread over every month, the ten money sources, 10% pledges and
2% in-kind labour valued from the rates) POSTed over a real socket, answered 202; the clock
stops when the job has succeeded. It covers the upload, spooling, parsing and per-row checks,
the fingerprints, the COPY into staging, the set-wise checks, opening the accounts, and the
INSERT … SELECT into `funding.transfers` with its constraints and triggers (the monthly
aggregates included). Reference: asyncpg `copy_records_to_table` of the same rows, accounts
opened beforehand (untimed), into the same `funding.transfers` with all its constraints and
triggers, in a transaction rolled back; it runs first, then VACUUM ANALYZE (untimed). Target:
reference / ours ≥ 0.5.

Single postings: POST /v1/transfers, `postings` transfers from `clients` concurrent clients;
transfers/s and p99 latency. Reference: the same INSERT of each posting (accounts opened
beforehand) from as many asyncpg connections, one transaction per posting, rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import text

from bench import auth_headers
from bench.imports import import_over_http
from services.funding.domain.ledger import in_kind_value, period_of
from shared.db import Database
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MONEY_SOURCES = ("NSTW-DT", "NSTW-SN", "NST", "NSH", "NSX", "LG", "TD", "DN", "CD-TM", "KHAC")
FIRST_DAY = date(2021, 1, 1)
DAYS = (date(2025, 6, 30) - FIRST_DAY).days + 1


@dataclass(frozen=True)
class Row:
    external_id: str
    unit: str
    source: str
    type: str
    amount: int | None
    day: date
    quantity: int | None  # labour days of an in-kind gift (amount from the rate)

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "external_id": self.external_id,
            "unit": self.unit,
            "source": self.source,
            "date": self.day.isoformat(),
        }
        if self.amount is not None:
            out["amount"] = self.amount
        if self.type != "receipt":
            out["type"] = self.type
        if self.quantity is not None:
            out.update(kind="labour", quantity=self.quantity, quantity_unit="day")
        return out


def _rows(communes: list[str], rows: int, run: str) -> Iterator[Row]:
    n = len(communes)
    for i in range(rows):
        day = FIRST_DAY + timedelta(days=(i * 7919) % DAYS)
        ext = f"B{run}-{i:07d}"
        if i % 50 == 7:
            yield Row(ext, communes[i % n], "CD-HV", "receipt", None, day, 1 + i % 40)
            continue
        source = MONEY_SOURCES[(i // n + i) % len(MONEY_SOURCES)]
        kind = "pledge" if i % 10 == 3 else "receipt"
        yield Row(ext, communes[i % n], source, kind, 1_000_000 + (i * 37 % 1000) * 1000, day, None)


@dataclass(frozen=True)
class ImportBench:
    rows: int
    ours_s: float
    reference_s: float
    created: int
    server_peak_mib: float
    phases: dict[str, float]

    @property
    def ratio(self) -> float:
        """Reference time / ours (target ≥ 0.5)."""
        return self.reference_s / self.ours_s

    def row(self) -> tuple[str, float, float]:
        """The row of `python -m bench`'s table (its ratio column is ours / reference)."""
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in self.phases.items())
        label = (
            f"import of {self.rows:,} transfers (NDJSON over HTTP, job) vs bare COPY into"
            f" funding.transfers: reference/ours {self.ratio:.2f} (target ≥ 0.5); server side"
            f" {phases}; server peak RSS {self.server_peak_mib:.0f} MiB (target < 300)"
        )
        return label, self.ours_s, self.reference_s


@dataclass(frozen=True)
class PostingBench:
    postings: int
    clients: int
    ours_s: float
    reference_s: float
    p50_ms: float
    p99_ms: float
    server_peak_mib: float

    @property
    def per_second(self) -> float:
        return self.postings / self.ours_s

    def row(self) -> tuple[str, float, float]:
        label = (
            f"{self.postings:,} single postings (POST /v1/transfers, {self.clients} concurrent"
            f" clients) vs the same INSERTs over asyncpg: {self.per_second:,.0f} transfers/s,"
            f" p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms; server peak RSS"
            f" {self.server_peak_mib:.0f} MiB"
        )
        return label, self.ours_s, self.reference_s


# --------------------------------------------------------------------------- the server


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def peak_mib(self) -> float:
        """VmHWM (peak resident set) of the server process."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/<pid>/status")

    def phases(self) -> dict[str, float]:
        """The import's own timing record (read / check / write), from the server's JSON log."""
        for line in reversed(self.log.read_text().splitlines()):
            if "transfers imported" in line:
                record = orjson.loads(line)
                return {
                    p.removesuffix("_s"): float(record[p]) for p in ("read_s", "check_s", "write_s")
                }
        return {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve(
    settings: Settings,
    folder: Path,
    service: tuple[str, ...] = ("funding", "--no-migrate"),
    pool_size: int = 20,
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Server]:
    """`ntm serve funding` (or `ntm serve *service`: `()` for the embedded app) in a child
    process on an ephemeral port, until the block ends; `pool_size` connections a worker."""
    port = _free_port()
    log = folder / "server.log"
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "NTM_LOG_JSON": "true",
        "NTM_LOG_LEVEL": "INFO",
        "NTM_DB_POOL_SIZE": str(pool_size),
        "NTM_DB_MAX_OVERFLOW": "10",
        **(env or {}),
    }
    argv = [sys.executable, "-c", "from services.cli import main; main()"]
    argv += ["serve", *service, "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        process = await asyncio.to_thread(
            subprocess.Popen, argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            for _ in range(600):
                if process.poll() is not None:
                    raise SystemExit(f"the server stopped: {log.read_text()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
        yield server
    except BaseException:
        print(log.read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()


# --------------------------------------------------------------------------- data


async def _communes(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT code FROM funding.units WHERE level = 'commune' AND edition = 'legacy'"
                " AND (valid_to IS NULL OR valid_to >= '2025-06-30') ORDER BY code"
            )
        )
        return [r.code for r in rows]


def _write_body(path: Path, rows: Iterator[Row]) -> None:
    with path.open("wb") as f:
        batch: list[bytes] = []
        for row in rows:
            batch.append(orjson.dumps(row.json()))
            if len(batch) == 10_000:
                f.write(b"\n".join(batch) + b"\n")
                batch.clear()
        if batch:
            f.write(b"\n".join(batch) + b"\n")


_ROLES = {"receipt": ("fund", "contributor"), "pledge": ("pledged", "contributor")}
_COLUMNS = [
    "id", "external_id", "body_hash", "kind", "stage", "sign", "unit_id", "source_code",
    "debit_account_id", "debit_role", "credit_account_id", "credit_role", "amount", "value_date",
    "period", "in_kind_kind", "quantity", "rate_id", "rate_vnd",
]  # fmt: skip


async def _open_accounts(raw: Any, communes: list[str], unit_ids: dict[str, int]) -> None:
    await raw.execute(
        "INSERT INTO funding.accounts (unit_id, period, purpose, source_code, role)"
        " SELECT u, p, 'ntm', s, r FROM unnest($1::bigint[]) u, unnest($2::text[]) p,"
        " unnest($3::text[]) s, unnest($4::text[]) r"
        " ON CONFLICT ON CONSTRAINT uq_accounts_key DO NOTHING",
        [unit_ids[c] for c in communes],
        ["2021-2025"],
        [*MONEY_SOURCES, "CD-HV"],
        ["fund", "contributor", "pledged"],
    )


async def _account_ids(raw: Any) -> dict[tuple[int, str, str], int]:
    rows = await raw.fetch(
        "SELECT id, unit_id, source_code, role FROM funding.accounts"
        " WHERE period = '2021-2025' AND purpose = 'ntm' AND work_id IS NULL"
    )
    return {(r["unit_id"], r["source_code"], r["role"]): r["id"] for r in rows}


async def _unit_ids(raw: Any) -> dict[str, int]:
    rows = await raw.fetch(
        "SELECT code, id FROM funding.units WHERE level = 'commune' AND edition = 'legacy'"
    )
    return {r["code"]: r["id"] for r in rows}


async def _labour_rate(raw: Any) -> tuple[int, int]:
    row = await raw.fetchrow(
        "SELECT id, rate_vnd FROM funding.valuation_rates WHERE province_code = ''"
        " AND kind = 'labour' ORDER BY valid_from DESC LIMIT 1"
    )
    return int(row["id"]), int(row["rate_vnd"])


def _record(
    row: Row,
    unit_ids: dict[str, int],
    accounts: dict[tuple[int, str, str], int],
    rate: tuple[int, int],
) -> tuple[Any, ...]:
    unit_id = unit_ids[row.unit]
    debit, credit = _ROLES[row.type]
    in_kind = row.quantity is not None
    amount = in_kind_value(Decimal(row.quantity), rate[1]) if row.quantity else row.amount
    return (
        uuid.uuid4(),
        row.external_id,
        hashlib.sha256(row.external_id.encode()).digest(),
        row.type,
        row.type,
        1,
        unit_id,
        row.source,
        accounts[(unit_id, row.source, debit)],
        debit,
        accounts[(unit_id, row.source, credit)],
        credit,
        amount,
        row.day,
        period_of(row.day).value,
        "labour" if in_kind else None,
        Decimal(row.quantity) if row.quantity else None,
        rate[0] if in_kind else None,
        rate[1] if in_kind else None,
    )


async def _reference_copy(db: Database, communes: list[str], rows: int, run: str) -> float:
    """COPY of the same rows into funding.transfers, rolled back; its time."""
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        tx = raw.transaction()
        await tx.start()
        try:
            unit_ids = await _unit_ids(raw)
            await _open_accounts(raw, communes, unit_ids)
            accounts = await _account_ids(raw)
            rate = await _labour_rate(raw)
            started = time.perf_counter()
            await raw.copy_records_to_table(
                "transfers",
                schema_name="funding",
                columns=_COLUMNS,
                records=(_record(r, unit_ids, accounts, rate) for r in _rows(communes, rows, run)),
            )
            return time.perf_counter() - started
        finally:
            await tx.rollback()


FUNDING_TABLES = ("funding.transfers", "funding.accounts", "funding.monthly", "funding.rollup")


async def vacuum(db: Database, tables: Sequence[str] = FUNDING_TABLES) -> None:
    """VACUUM ANALYZE `tables` (outside a transaction, as VACUUM must be)."""
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        for table in tables:
            await raw.execute(f"VACUUM ANALYZE {table}")


async def bench_transfer_import(
    settings: Settings, db: Database, rows: int = 1_000_000
) -> ImportBench:
    """Time one import of `rows` transfers over HTTP, and a bare COPY of the same rows."""
    communes = await _communes(db)
    run = uuid.uuid4().hex[:6]  # ids of their own, so a re-run on the same database creates
    reference = await _reference_copy(db, communes, rows, run)
    await vacuum(db)
    with tempfile.TemporaryDirectory(prefix="ntm-bench-") as name:
        folder = Path(name)
        body = folder / "transfers.ndjson"
        await asyncio.to_thread(_write_body, body, _rows(communes, rows, run))
        async with serve(settings, folder) as server:
            started = time.perf_counter()
            job = await import_over_http(
                server.url, "/v1/imports/transfers", body, auth_headers(settings)
            )
            ours = time.perf_counter() - started
            peak = server.peak_mib()
            phases = server.phases()
    if job["status"] != "succeeded" or job["created"] != rows:
        raise SystemExit(f"the import did not create every row: {job}")
    return ImportBench(
        rows=rows,
        ours_s=ours,
        reference_s=reference,
        created=job["created"],
        server_peak_mib=peak,
        phases=phases,
    )


# --------------------------------------------------------------------------- postings


async def _reference_inserts(
    db: Database, communes: list[str], postings: list[Row], clients: int
) -> float:
    """The INSERT of each posting from `clients` asyncpg connections, each rolled back."""
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        unit_ids = await _unit_ids(raw)
        async with raw.transaction():
            await _open_accounts(raw, communes, unit_ids)
        accounts = await _account_ids(raw)
        rate = await _labour_rate(raw)
    records = [_record(r, unit_ids, accounts, rate) for r in postings]
    cols = ", ".join(_COLUMNS)
    marks = ", ".join(f"${i + 1}" for i in range(len(_COLUMNS)))
    statement = f"INSERT INTO funding.transfers ({cols}) VALUES ({marks})"
    queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    for record in records:
        queue.put_nowait(record)

    async def worker() -> None:
        async with db.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            while not queue.empty():
                record = queue.get_nowait()
                tx = raw.transaction()
                await tx.start()
                await raw.execute(statement, *record)
                await tx.rollback()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started


async def bench_single_postings(
    settings: Settings, db: Database, postings: int = 5_000, clients: int = 32
) -> PostingBench:
    """POST /v1/transfers `postings` times from `clients` concurrent clients."""
    communes = await _communes(db)
    run = uuid.uuid4().hex[:6]
    rows = list(_rows(communes, postings, f"S{run}"))
    reference = await _reference_inserts(db, communes, rows, clients)
    latencies: list[float] = []
    queue: asyncio.Queue[Row] = asyncio.Queue()
    for row in rows:
        queue.put_nowait(row)
    with tempfile.TemporaryDirectory(prefix="ntm-bench-") as name:
        async with serve(settings, Path(name)) as server:
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            async with httpx.AsyncClient(
                base_url=server.url, limits=limits, timeout=60, headers=auth_headers(settings)
            ) as http:

                async def client() -> None:
                    while not queue.empty():
                        row = queue.get_nowait()
                        began = time.perf_counter()
                        try:
                            response = await http.post("/v1/transfers", json=row.json())
                        except httpx.ReadError:
                            # a keep-alive connection the server closed as it was reused:
                            # sent again (the external id makes the retry safe)
                            response = await http.post("/v1/transfers", json=row.json())
                        latencies.append(time.perf_counter() - began)
                        if response.status_code != 201:
                            raise SystemExit(f"posting answered {response.status_code}")

                started = time.perf_counter()
                await asyncio.gather(*(client() for _ in range(clients)))
                ours = time.perf_counter() - started
            peak = server.peak_mib()
    cuts = statistics.quantiles(latencies, n=100)
    return PostingBench(
        postings=postings,
        clients=clients,
        ours_s=ours,
        reference_s=reference,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        server_peak_mib=peak,
    )


async def _main(rows: int, postings: int) -> None:  # pragma: no cover - a manual entry point
    from services.runtime import prepare_database
    from shared.embedded import EmbeddedPostgres

    url = os.environ.get("BENCH_DATABASE_URL")
    server = None
    name = f"bench_{uuid.uuid4().hex[:6]}"
    if not url:
        server = EmbeddedPostgres.start(ROOT / ".ntm-bench")
        server.ensure_database(name)
        url = server.url(name)
    db = Database.from_url(url)
    try:
        await prepare_database(db)
        settings = Settings(database_url=url, log_json=False)
        results: list[ImportBench | PostingBench] = []
        if postings > 0:  # 0 skips the single postings
            results.append(await bench_single_postings(settings, db, postings))
        results.append(await bench_transfer_import(settings, db, rows))
        for result in results:
            label, ours, ref = result.row()
            print(f"| {label} | {ours * 1000:.1f} ms | {ref * 1000:.1f} ms | {ours / ref:.2f}× |")
            print(result)
    finally:
        await db.dispose()
        if server is not None:
            server.drop_database(name)
            server.stop()


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
                      int(sys.argv[2]) if len(sys.argv) > 2 else 5_000))  # fmt: skip
