"""The criteria report of whole provinces vs the bare SQL that reads the same current values.

No legacy province has 1,000 communes (the largest: 38 Thanh Hóa 547, 01 Hà Nội 526) and no
unit sits above the provinces, so the two largest are reported on, one after the other:
1,073 commune-level units with 57 values each for xa-ntm-2021, year 2023, seeded by COPY.
Values are drawn at random around each indicator's threshold (about 1 in 20 fails), so no two
communes are alike. Our side is the REST report through the app (httpx, in-process): unit,
set, units below with profiles, the DISTINCT ON read, 1,073 evaluations, the report and its
JSON, decoded by the client (orjson, as a client that cares about speed would). The reference
is the plain DISTINCT ON statement (`CURRENT_VALUES_SQL`) alone, on a bare asyncpg connection,
for the same units.

Our report reads the values in a cheaper shape than that statement (unit by unit along the
index, no sort; see `repository/reports.py`), so the label also gives, for information, the
ratio to that same shape run bare (`INDEX_READ_SQL`, one row per value): the stricter figure,
what our Python and HTTP layers cost over the cheapest read we know."""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import orjson

from bench import auth_headers
from services.criteria.app import create_app as create_criteria_app
from services.criteria.domain.evaluation import UnitProfile, Value, select_threshold
from services.criteria.reference.catalog import load_catalog
from services.criteria.repository.reports import CURRENT_VALUES_SQL
from shared.db import Database, raw_connection
from shared.settings import Settings

SET = "xa-ntm-2021"
YEAR = 2023
AS_OF = date(2023, 5, 19)
PROVINCES = {"38": "BTB", "01": "DBSH"}  # the two largest, with their regions
FAIL_RATE = 0.05

# The current values read unit by unit along ix_indicator_values_current, as the report reads
# them (`VALUES_BY_UNIT_SQL`), but one row per value and nothing aggregated.
INDEX_READ_SQL = (
    "SELECT k.id, d.indicator_code, d.value_bool, d.value_num"
    " FROM unnest($3::bigint[]) AS k(id) CROSS JOIN LATERAL ("
    " SELECT DISTINCT ON (v.indicator_code) v.indicator_code, v.value_bool, v.value_num"
    " FROM criteria.indicator_values v"
    " WHERE v.set_code = $1 AND v.year = $2 AND v.unit_id = k.id"
    " ORDER BY v.indicator_code DESC, v.as_of DESC, v.id DESC) d"
)


async def _timed(fn: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    """Like `bench.__main__.timed`, with a full garbage collection before each run (not
    timed): reading 60,000 values allocates enough to set off a full collection of this
    process's large heap (the national units, ~90 ms here) every few runs, on either side,
    and which side it hits is chance."""
    await fn()  # warm-up
    out = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - started)
    return out


def _value(rng: random.Random, threshold: Value, comparator: str) -> Value:
    if isinstance(threshold, bool):
        return threshold if rng.random() > FAIL_RATE else not threshold
    step = Decimal(rng.randint(0, 200)) / 10  # 0.0 … 20.0 away from the threshold
    meets = rng.random() > FAIL_RATE
    upward = comparator in ("ge", "gt")
    if comparator in ("gt", "lt") and step == 0:
        step = Decimal("0.1")
    if meets == upward:
        return threshold + step
    return max(Decimal(0), threshold - step)


async def seed(db: Database) -> dict[str, list[int]]:
    """Profiles and 57 values for every commune-level unit of the provinces (COPY); returns
    the unit ids per province."""
    criteria_set = next(s for s in load_catalog() if s.code == SET)
    rng = random.Random(20230519)
    ids: dict[str, list[int]] = {}
    async for session in db.session_scope():
        conn = await raw_connection(session)
        records: list[tuple[object, ...]] = []
        for province, region in PROVINCES.items():
            rows = await conn.fetch(
                "SELECT u.id FROM criteria.units u WHERE u.path LIKE $1 AND u.level = 'commune'"
                " AND (u.valid_from IS NULL OR u.valid_from <= $2)"
                " AND (u.valid_to IS NULL OR u.valid_to >= $2) ORDER BY u.id",
                province + ".%",
                AS_OF,
            )
            ids[province] = [r["id"] for r in rows]
            await conn.execute(
                "INSERT INTO criteria.unit_profiles (unit_id, region, specially_disadvantaged)"
                " SELECT unnest($1::bigint[]), $2, false ON CONFLICT (unit_id) DO UPDATE"
                " SET region = EXCLUDED.region",
                ids[province],
                region,
            )
            profile = UnitProfile(region=region, commune_group=None)
            thresholds = [
                (i.code, i.comparator.value, t.value)
                for c in criteria_set.criteria
                for i in c.indicators
                if (t := select_threshold(i, criteria_set.threshold_scheme, profile, YEAR))
            ]
            for unit_id in ids[province]:
                for code, comparator, threshold in thresholds:
                    value = _value(rng, threshold, comparator)
                    is_bool = isinstance(value, bool)
                    records.append(
                        (
                            unit_id,
                            SET,
                            code,
                            YEAR,
                            value if is_bool else None,
                            None if is_bool else value,
                            AS_OF,
                            "bench",
                        )
                    )
        await conn.copy_records_to_table(
            "indicator_values",
            schema_name="criteria",
            columns=[
                "unit_id",
                "set_code",
                "indicator_code",
                "year",
                "value_bool",
                "value_num",
                "as_of",
                "recorded_by",
            ],
            records=records,
        )
        await conn.execute("ANALYZE criteria.indicator_values")
    return ids


async def bench_province_report(
    settings: Settings, db: Database, repeat: int = 15
) -> tuple[str, float, float]:
    """The REST report of provinces 38 and 01 (1,073 communes × 57 values) vs the bare
    DISTINCT ON read of the same current values."""
    ids = await seed(db)
    total = sum(len(v) for v in ids.values())
    app = create_criteria_app(settings, db)
    params: dict[str, str | int] = {"set": SET, "year": YEAR, "as_of": AS_OF.isoformat()}
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://criteria",
            headers=auth_headers(settings),
        ) as client,
        db.engine.connect() as bare,
    ):
        raw: Any = (await bare.get_raw_connection()).driver_connection

        async def report() -> None:
            evaluated = 0
            for province in PROVINCES:
                response = await client.get(f"/v1/units/{province}/criteria-report", params=params)
                assert response.status_code == 200, response.text
                evaluated += orjson.loads(response.content)["units_evaluated"]
            assert evaluated == total

        def bare_read(sql: str) -> Callable[[], Awaitable[None]]:
            async def read() -> None:
                rows = 0
                for province in PROVINCES:
                    rows += len(await raw.fetch(sql, SET, YEAR, ids[province]))
                assert rows == total * 57

            return read

        t_ours = statistics.median(await _timed(report, repeat))
        t_ref = statistics.median(await _timed(bare_read(CURRENT_VALUES_SQL), repeat))
        t_index = statistics.median(await _timed(bare_read(INDEX_READ_SQL), repeat))
    return (
        f"criteria report of {total:,} communes × 57 values (provinces 38 + 01, REST) "
        "vs the bare DISTINCT ON read of their current values"
        f" (vs the same per-unit index read, bare: {t_index * 1000:.1f} ms,"
        f" {t_ours / t_index:.2f}×)",
        t_ours,
        t_ref,
    )
