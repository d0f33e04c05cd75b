"""The national administrative units: built from the packages, loaded set-wise, idempotent."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources

import pytest
from sqlalchemy import text

from services.criteria.models import Edition, UnitLevel
from services.criteria.reference.admin_units import NationalUnits, build_national_units
from services.criteria.service import load_reference_data
from shared.db import Database


@pytest.fixture(scope="module")
def national() -> NationalUnits:
    return build_national_units()


class TestBuildNationalUnits:
    def test_counts_match_the_national_lists(self, national: NationalUnits) -> None:
        counts = Counter((u.edition, u.level) for u in national.units)
        assert counts[(Edition.legacy, UnitLevel.province)] == 63
        assert counts[(Edition.legacy, UnitLevel.district)] == 696
        assert counts[(Edition.legacy, UnitLevel.commune)] == 10035
        assert counts[(Edition.v2025, UnitLevel.province)] == 34
        assert counts[(Edition.v2025, UnitLevel.commune)] == 3321

    def test_current_codes_and_names_are_those_of_the_official_list(
        self, national: NationalUnits
    ) -> None:
        path = resources.files("vietnam_provinces").joinpath("data/flat-divisions.json")
        official = {f"{w['code']:05d}" for w in json.loads(path.read_text(encoding="utf-8"))}
        ours = {
            u.code
            for u in national.units
            if u.edition is Edition.v2025 and u.level is UnitLevel.commune
        }
        assert ours == official

    def test_every_legacy_commune_has_a_successor_and_every_new_one_a_predecessor(
        self, national: NationalUnits
    ) -> None:
        units = national.units
        lineage = national.lineage
        legacy_communes = {
            u.code for u in units if u.edition is Edition.legacy and u.level is UnitLevel.commune
        }
        new_communes = {
            u.code for u in units if u.edition is Edition.v2025 and u.level is UnitLevel.commune
        }
        predecessors = {r.predecessor_code for r in lineage}
        successors = {r.successor_code for r in lineage}
        assert legacy_communes <= predecessors
        assert new_communes <= successors

    def test_a_split_commune_has_exactly_one_primary_successor(
        self, national: NationalUnits
    ) -> None:
        by_predecessor: dict[str, list[bool]] = {}
        for r in national.lineage:
            by_predecessor.setdefault(r.predecessor_code, []).append(r.is_primary)
        split = {code: flags for code, flags in by_predecessor.items() if len(flags) > 1}
        assert split, "the 2025 conversion splits some communes"
        assert all(flags.count(True) >= 1 for flags in split.values())

    def test_thanh_hoa_and_tho_xuan_are_where_the_statistics_office_puts_them(
        self, national: NationalUnits
    ) -> None:
        legacy = {u.code: u for u in national.units if u.edition is Edition.legacy}
        assert legacy["38"].name == "Tỉnh Thanh Hóa"
        assert legacy["395"].name == "Huyện Thọ Xuân"
        assert legacy["395"].parent_code == "38"
        assert sum(1 for u in legacy.values() if u.parent_code == "395") == 30
        assert (
            sum(
                1
                for u in legacy.values()
                if u.province_code == "38" and u.level is UnitLevel.commune
            )
            == 547
        )


class TestLoadReferenceData:
    async def test_second_load_of_the_same_version_is_skipped(self, db: Database) -> None:
        async for session in db.session_scope():
            result = await load_reference_data(session)
        assert result.loaded is False

    async def test_forced_reload_changes_nothing(self, db: Database) -> None:
        async def snapshot() -> tuple[int, int, int]:
            async with db.engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT (SELECT count(*) FROM criteria.units),"
                            " (SELECT count(*) FROM criteria.unit_lineage),"
                            " (SELECT max(id) FROM criteria.units)"
                        )
                    )
                ).one()
            return int(row[0]), int(row[1]), int(row[2])

        before = await snapshot()
        async for session in db.session_scope():
            result = await load_reference_data(session, force=True)
        assert result.loaded is True
        assert await snapshot() == before

    async def test_every_unit_but_provinces_has_its_parent_linked(self, db: Database) -> None:
        async with db.engine.connect() as conn:
            orphans = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM criteria.units"
                        " WHERE level <> 'province' AND parent_id IS NULL"
                    )
                )
            ).scalar_one()
        assert orphans == 0


class TestLoadNationalUnitsTransaction:
    async def test_a_load_as_the_first_statement_of_a_session_is_one_transaction(
        self, db: Database
    ) -> None:
        """The load stages into ON COMMIT DROP tables through the raw driver connection: it
        must run inside the session's transaction even when it is the session's first work."""
        from services.criteria.repository import UnitRepository

        data = build_national_units()
        async for session in db.session_scope():
            rows = await UnitRepository(session).load_national_units(data)
        assert rows == len(data.units) + len(data.lineage)
