"""The criteria report of whole provinces vs the bare SQL that reads the same current values.

No legacy province has 1,000 communes (the largest: 38 Thanh Hóa 547, 01 Hà Nội 526) and no
unit sits above the provinces, so the two largest are reported on, one after the other:
1,073 commune-level units with 57 values each for xa-ntm-2021, year 2023, seeded by COPY.
Values are drawn at random around each indicator's threshold (about 1 in 20 fails), so no two
communes are alike. Our side is the REST report through the app (httpx, in-process): unit,
set, units below with profiles, the DISTINCT ON read, 1,073 evaluations, the report and its
JSON. The reference is that DISTINCT ON statement alone, on a bare asyncpg connection, for
the same units."""

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
            transport=httpx.ASGITransport(app=app), base_url="http://criteria"
        ) as client,
        db.engine.connect() as bare,
    ):
        raw: Any = (await bare.get_raw_connection()).driver_connection

        async def report() -> None:
            evaluated = 0
            for province in PROVINCES:
                response = await client.get(f"/v1/units/{province}/criteria-report", params=params)
                assert response.status_code == 200, response.text
                evaluated += response.json()["units_evaluated"]
            assert evaluated == total

        async def bare_sql() -> None:
            rows = 0
            for province in PROVINCES:
                rows += len(await raw.fetch(CURRENT_VALUES_SQL, SET, YEAR, ids[province]))
            assert rows == total * 57

        t_ours = statistics.median(await _timed(report, repeat))
        t_ref = statistics.median(await _timed(bare_sql, repeat))
    return (
        f"criteria report of {total:,} communes × 57 values (provinces 38 + 01, REST) "
        "vs the bare DISTINCT ON read of their current values",
        t_ours,
        t_ref,
    )
