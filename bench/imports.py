"""Bulk import of indicator values over HTTP vs an asyncpg COPY of the same rows into the same
table.

Ours: one NDJSON body of `rows` valid values (real legacy communes × the recorded indicators of
xa-ntm-2021, year 2023) POSTed to the criteria app served by uvicorn on a real socket on
127.0.0.1 (started here, stopped after), answered 202; the clock stops when the job has
succeeded. So it covers the upload, spooling, parsing and per-row checks, the COPY into
staging, the set-wise checks, the INSERT … SELECT into the indexed, constrained
`criteria.indicator_values`, and the polling.

Reference, as issue 3 words it ("raw asyncpg COPY of the same rows into the same table in the
same run"): `copy_records_to_table` of the same rows (as tuples built on the fly, unit codes
resolved to ids beforehand, untimed) into `criteria.indicator_values` itself, with its foreign
keys, its index and its append-only trigger, in a transaction that is rolled back (the table
refuses DELETE; the rollback leaves nothing). It runs before our import, so that ours inserts
the same rows without finding them recorded, and `VACUUM (ANALYZE)` then clears the dead rows,
untimed, before ours. Target: reference / ours ≥ 0.3 (stretch 0.5).

Informational second figure: the same COPY into a fresh table of the same columns with no
index or constraint (the bare cost of moving the rows; the previous, stricter reference).

The server runs in this process, so the resident memory sampled during the import is the
server's (plus the client's, which streams the body from a file): it should stay flat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from sqlalchemy import text

from bench import auth_headers
from services.criteria.app import create_app as create_criteria_app
from shared.db import Database
from shared.settings import Settings

SET = "xa-ntm-2021"
YEAR = 2023
COLUMNS = ["unit", "set", "year", "indicator", "value_bool", "value_num", "as_of"]
TABLE_COLUMNS = [
    "unit_id", "set_code", "year", "indicator_code", "value_bool", "value_num", "as_of"
]  # fmt: skip


@dataclass(frozen=True)
class ImportBench:
    rows: int
    ours_s: float
    reference_s: float  # COPY into criteria.indicator_values, rolled back
    bare_s: float  # COPY into a fresh unindexed, unconstrained table
    created: int
    rss_before_mib: float
    rss_during_max_mib: float
    peak_rss_mib: float
    phases: dict[str, float]

    @property
    def ratio(self) -> float:
        """Reference time / ours (target ≥ 0.3)."""
        return self.reference_s / self.ours_s

    @property
    def bare_ratio(self) -> float:
        """Bare-table COPY time / ours (informational)."""
        return self.bare_s / self.ours_s

    def row(self) -> tuple[str, float, float]:
        """The row of `python -m bench`'s table (its ratio column is ours / reference)."""
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in self.phases.items())
        label = (
            f"import of {self.rows:,} indicator values (NDJSON over HTTP, job) vs COPY into"
            f" the same table (rolled back): reference/ours {self.ratio:.2f} (target ≥ 0.3);"
            f" vs bare unindexed table: {self.bare_ratio:.2f} ({self.bare_s * 1000:,.0f} ms);"
            f" server side {phases};"
            f" RSS {self.rss_before_mib:.0f} → max {self.rss_during_max_mib:.0f} MiB during"
            f" the import, peak {self.peak_rss_mib:.0f} MiB"
        )
        return label, self.ours_s, self.reference_s


class _Phases(logging.Handler):
    """Catches the import's own timing record (read / check / write)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.phases: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        for phase in ("read_s", "check_s", "write_s"):
            value = getattr(record, phase, None)
            if isinstance(value, float | int):
                self.phases[phase.removesuffix("_s")] = float(value)


def _rss_mib() -> float:
    """Current resident set size (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except OSError:
        return _peak_rss_mib()


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def _sample_rss(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(_rss_mib())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def _keys(db: Database, rows: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Legacy commune codes and the (code, kind) of every recorded indicator of the set."""
    async for session in db.session_scope():
        communes = (
            await session.execute(
                text(
                    "SELECT code FROM criteria.units WHERE level = 'commune'"
                    " AND edition = 'legacy' ORDER BY code LIMIT 10000"
                )
            )
        ).scalars()
        indicators = await session.execute(
            text(
                "SELECT code, kind FROM criteria.criteria_indicators WHERE set_code = :s"
                " AND kind <> 'derived' ORDER BY criterion_number, code"
            ),
            {"s": SET},
        )
        codes, kinds = list(communes), [(r.code, r.kind) for r in indicators]
    if len(codes) * len(kinds) < rows:
        raise SystemExit(f"only {len(codes) * len(kinds)} (commune, indicator) pairs")
    return codes, kinds


def _values(
    communes: list[str], indicators: list[tuple[str, str]], rows: int
) -> Iterator[tuple[str, str, bool | Decimal]]:
    n = 0
    for i, commune in enumerate(communes):
        for j, (code, kind) in enumerate(indicators):
            if n == rows:
                return
            yield (
                commune,
                code,
                ((i + j) % 3 != 0 if kind == "boolean" else Decimal((i * 7 + j) % 1000) / 10),
            )
            n += 1


def _write_body(
    path: Path, communes: list[str], indicators: list[tuple[str, str]], rows: int, as_of: date
) -> None:
    day = as_of.isoformat()
    with path.open("wb") as f:
        batch: list[bytes] = []
        for commune, code, value in _values(communes, indicators, rows):
            line = {
                "unit": commune,
                "set": SET,
                "year": YEAR,
                "indicator": code,
                "value": value if isinstance(value, bool) else float(value),
                "as_of": day,
            }
            batch.append(orjson.dumps(line))
            if len(batch) == 10_000:
                f.write(b"\n".join(batch) + b"\n")
                batch.clear()
        if batch:
            f.write(b"\n".join(batch) + b"\n")


async def _stream(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


@contextlib.asynccontextmanager
async def serve(settings: Settings, db: Database) -> AsyncIterator[str]:
    """The criteria app on a real socket on 127.0.0.1 (an ephemeral port); its base URL."""
    app = create_criteria_app(settings, db)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def import_over_http(
    base_url: str, path: str, body: Path, headers: dict[str, str]
) -> dict[str, Any]:
    """POST an NDJSON file as a stream to an import endpoint (answered 202) and poll its job,
    as the caller of `headers` (its token)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=None, headers=headers) as client:
        response = await client.post(
            path,
            content=_stream(body),
            headers={"Content-Type": "application/x-ndjson"},
        )
        if response.status_code != 202:
            raise SystemExit(f"import answered {response.status_code}: {response.text[:500]}")
        location = response.headers["location"]
        while True:
            job: dict[str, Any] = (await client.get(location)).json()
            if job["status"] in ("succeeded", "failed"):
                return job
            await asyncio.sleep(0.05)


def _records(
    communes: list[str],
    indicators: list[tuple[str, str]],
    rows: int,
    day: date,
    unit_ids: dict[str, int] | None = None,
) -> Iterator[tuple[object, ...]]:
    """The rows as COPY records: by unit code, or by unit id when `unit_ids` is given."""
    for commune, code, value in _values(communes, indicators, rows):
        is_bool = isinstance(value, bool)
        yield (
            commune if unit_ids is None else unit_ids[commune],
            SET,
            YEAR,
            code,
            value if is_bool else None,
            None if is_bool else value,
            day,
        )


async def _same_table_copy(
    db: Database, communes: list[str], indicators: list[tuple[str, str]], rows: int, day: date
) -> float:
    """COPY of the rows into `criteria.indicator_values` (foreign keys, index, trigger and
    all) in a transaction rolled back afterwards; then VACUUM (ANALYZE), untimed."""
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        ids = dict(
            await raw.fetch(
                "SELECT code, id FROM criteria.units WHERE code = ANY($1::text[])"
                " AND edition = 'legacy' AND level = 'commune'",
                communes,
            )
        )
        transaction = raw.transaction()
        await transaction.start()
        try:
            started = time.perf_counter()
            await raw.copy_records_to_table(
                "indicator_values",
                schema_name="criteria",
                columns=TABLE_COLUMNS,
                records=_records(communes, indicators, rows, day, ids),
            )
            elapsed = time.perf_counter() - started
        finally:
            await transaction.rollback()
        await raw.execute("VACUUM (ANALYZE) criteria.indicator_values")
    return elapsed


async def _bare_copy(
    db: Database, communes: list[str], indicators: list[tuple[str, str]], rows: int, day: date
) -> float:
    table = f"bench_copy_{os.getpid()}"
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                f"CREATE TABLE {table} (unit text, set text, year smallint, indicator text,"
                " value_bool boolean, value_num numeric, as_of date)"
            )
        )
    try:
        async with db.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            started = time.perf_counter()
            await raw.copy_records_to_table(
                table,
                columns=COLUMNS,
                records=_records(communes, indicators, rows, day),
            )
            return time.perf_counter() - started
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE {table}"))


async def bench_indicator_import(
    settings: Settings, db: Database, rows: int = 500_000
) -> ImportBench:
    """Time one import of `rows` values over HTTP, a COPY of the same rows into the same table
    (rolled back, first), and a bare COPY into a fresh unindexed table (last)."""
    communes, indicators = await _keys(db, rows)
    # a day of its own, so a re-run on the same database creates rather than ignores
    day = date.fromordinal(date(YEAR, 1, 1).toordinal() + os.getpid() % 365)
    reference = await _same_table_copy(db, communes, indicators, rows, day)
    with tempfile.TemporaryDirectory(prefix="ntm-bench-") as folder:
        body = Path(folder) / "values.ndjson"
        await asyncio.to_thread(_write_body, body, communes, indicators, rows, day)
        logger = logging.getLogger("ntm.criteria.imports")
        catcher, level = _Phases(), logger.level
        logger.addHandler(catcher)
        logger.setLevel(logging.INFO)
        async with serve(settings, db) as base_url:
            rss_before = _rss_mib()
            samples: list[float] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(_sample_rss(samples, stop))
            started = time.perf_counter()
            job = await import_over_http(
                base_url, "/v1/imports/indicator-values", body, auth_headers(settings)
            )
            ours = time.perf_counter() - started
            stop.set()
            await sampler
        logger.removeHandler(catcher)
        logger.setLevel(level)
    if job["status"] != "succeeded" or job["created"] != rows:
        raise SystemExit(f"the import did not create every row: {job}")
    bare = await _bare_copy(db, communes, indicators, rows, day)
    return ImportBench(
        rows=rows,
        ours_s=ours,
        reference_s=reference,
        bare_s=bare,
        created=job["created"],
        rss_before_mib=rss_before,
        rss_during_max_mib=max(samples, default=rss_before),
        peak_rss_mib=_peak_rss_mib(),
        phases=catcher.phases,
    )
