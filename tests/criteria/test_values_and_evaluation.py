"""Indicator values (append-only, atomic batches) and the explained evaluation, over REST."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.db import Database
from tests.conftest import auth_headers
from tests.criteria.test_report_domain import THIRTEEN
from tests.criteria.test_reports_api import TWELVE, VARIANT, counting_statements, give_values
from tests.criteria.test_titles_and_derived import event

COMMUNE = "15592"  # Xã Xuân Minh, Thọ Xuân, Thanh Hóa (pre-2025)
AS_OF = "2023-05-19"
SET = "xa-ntm-2021"


def meeting_value(indicator: dict[str, Any], region: str) -> bool | str:
    """A value that meets the indicator's threshold for the region (general if none)."""
    thresholds = indicator["thresholds"]
    regional = [t for t in thresholds if t["region"] == region and t["year"] in (None, 2023)]
    general = [t for t in thresholds if t["region"] is None and t["year"] in (None, 2023)]
    chosen = (regional or general or thresholds)[0]["value"]
    if indicator["kind"] == "boolean":
        return bool(chosen)
    return str(chosen)


def failing_value(indicator: dict[str, Any], region: str) -> bool | str:
    value = meeting_value(indicator, region)
    if isinstance(value, bool):
        return not value
    step = -1 if indicator["comparator"] in ("ge", "gt", "eq") else 1
    return str(float(value) + step * max(1.0, abs(float(value)) * 0.5))


async def recordable(criteria: httpx.AsyncClient) -> list[dict[str, Any]]:
    body = (await criteria.get(f"/v1/criteria-sets/{SET}")).json()
    return [i for c in body["criteria"] for i in c["indicators"] if i["kind"] != "derived"]


def row(indicator: str, value: bool | str | int, **extra: Any) -> dict[str, Any]:
    return {
        "unit": COMMUNE,
        "set": SET,
        "year": 2023,
        "indicator": indicator,
        "value": value,
        "as_of": AS_OF,
        **extra,
    }


@pytest.fixture
async def dbsh(criteria: httpx.AsyncClient) -> None:
    response = await criteria.put(
        f"/v1/units/{COMMUNE}/profile", params={"as_of": AS_OF}, json={"region": "BTB"}
    )
    assert response.status_code == 200
    assert response.json()["region"] == "BTB"


class TestRecordValues:
    async def test_a_correction_is_a_new_version_and_history_keeps_both(
        self, criteria: httpx.AsyncClient
    ) -> None:
        first = await criteria.post(
            "/v1/indicator-values",
            json={"values": [row("3.1", "75", as_of="2023-03-01", evidence=["QD-12/UBND"])]},
            headers={
                **auth_headers("commune_officer", COMMUNE, subject="nguyen-van-a"),
                "X-Recorded-By": "someone-else",  # not the identity: the token is
            },
        )
        assert first.status_code == 201
        assert first.json() == {"created": 1}
        second = await criteria.post("/v1/indicator-values", json={"values": [row("3.1", "82")]})
        assert second.status_code == 201
        params: dict[str, str | int] = {"set": SET, "year": 2023, "as_of": AS_OF}
        current = (
            await criteria.get(f"/v1/units/{COMMUNE}/indicator-values", params=params)
        ).json()
        assert [(v["indicator"], v["value"]) for v in current] == [("3.1", "82")]
        history = (
            await criteria.get(f"/v1/units/{COMMUNE}/indicator-values/3.1/history", params=params)
        ).json()["items"]
        assert [v["value"] for v in history] == ["82", "75"]
        assert history[1]["recorded_by"] == "nguyen-van-a"
        assert history[0]["recorded_by"] == "test-central"  # the client's default token
        assert history[1]["evidence"] == ["QD-12/UBND"]

    async def test_one_bad_row_rejects_the_batch_and_names_it(
        self, criteria: httpx.AsyncClient
    ) -> None:
        response = await criteria.post(
            "/v1/indicator-values",
            json={"values": [row("3.1", "85"), row("3.2", True, unit="99999"), row("3.2", "1")]},
        )
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "values.rejected"
        assert [(e["row"], e["field"], e["code"]) for e in problem["errors"]] == [
            (2, "unit", "unit.not_found"),
            (3, "value", "value.wrong_kind"),
        ]
        assert "Dòng 2" in problem["errors"][0]["message_vi"]
        params: dict[str, str | int] = {"set": SET, "year": 2023, "as_of": AS_OF}
        current = await criteria.get(f"/v1/units/{COMMUNE}/indicator-values", params=params)
        assert current.json() == []

    async def test_unknown_indicator_and_wrong_level_are_named(
        self, criteria: httpx.AsyncClient
    ) -> None:
        response = await criteria.post(
            "/v1/indicator-values",
            json={"values": [row("3.99", True), row("3.1", "80", unit="395")]},
        )
        assert response.status_code == 422
        assert [e["code"] for e in response.json()["errors"]] == [
            "indicator.not_found",
            "criteria_set.wrong_level",
        ]

    async def test_a_number_never_becomes_a_boolean(self, criteria: httpx.AsyncClient) -> None:
        response = await criteria.post("/v1/indicator-values", json={"values": [row("3.2", 1)]})
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "value.wrong_kind"

    async def test_history_cannot_be_rewritten_in_the_database(
        self, criteria: httpx.AsyncClient, db: Database
    ) -> None:
        await criteria.post("/v1/indicator-values", json={"values": [row("3.1", "85")]})
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.engine.begin() as conn:
                await conn.execute(text("UPDATE criteria.indicator_values SET value_num = 99"))
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.engine.begin() as conn:
                await conn.execute(text("DELETE FROM criteria.indicator_values"))


class TestEvaluation:
    async def record_all(
        self, criteria: httpx.AsyncClient, override: dict[str, bool | str | None] | None = None
    ) -> None:
        override = override or {}
        rows = []
        for indicator in await recordable(criteria):
            value = override.get(indicator["code"], meeting_value(indicator, "BTB"))
            if value is not None:
                rows.append(row(indicator["code"], value))
        response = await criteria.post("/v1/indicator-values", json={"values": rows})
        assert response.status_code == 201, response.text

    async def evaluate(self, criteria: httpx.AsyncClient) -> dict[str, Any]:
        response = await criteria.get(
            f"/v1/units/{COMMUNE}/evaluation", params={"set": SET, "year": 2023}
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def test_a_commune_meeting_every_indicator_meets_the_standard(
        self, criteria: httpx.AsyncClient, dbsh: None
    ) -> None:
        await self.record_all(criteria)
        result = await self.evaluate(criteria)
        derived = result["indicators_total"] - len(await recordable(criteria))
        assert result["criteria_total"] == 19
        assert result["indicators_total"] == 57
        assert result["indicators_met"] == 57 - derived
        if derived == 0:
            assert result["meets_standard"] is True
            assert result["criteria_met"] == 19
        assert result["revocation_risk"] is False

    async def test_failing_one_indicator_fails_exactly_its_criterion(
        self, criteria: httpx.AsyncClient, dbsh: None
    ) -> None:
        irrigation = next(i for i in await recordable(criteria) if i["code"] == "3.1")
        await self.record_all(criteria, {"3.1": failing_value(irrigation, "BTB")})
        result = await self.evaluate(criteria)
        not_met = [c["number"] for c in result["criteria"] if c["met"] is False]
        assert not_met == [3]
        [failed] = [i for c in result["criteria"] for i in c["indicators"] if i["met"] is False]
        assert failed["code"] == "3.1"
        assert failed["gap"] > 0
        assert failed["threshold"].startswith("≥")
        assert result["meets_standard"] is False

    async def test_a_missing_value_is_missing_not_failed(
        self, criteria: httpx.AsyncClient, dbsh: None
    ) -> None:
        await self.record_all(criteria, {"3.1": None})
        result = await self.evaluate(criteria)
        criterion = next(c for c in result["criteria"] if c["number"] == 3)
        assert criterion["met"] is None
        indicator = next(i for i in criterion["indicators"] if i["code"] == "3.1")
        assert indicator["missing"] is True
        assert indicator["met"] is None
        assert result["meets_standard"] is False
        assert 3 not in [c["number"] for c in result["criteria"] if c["met"] is False]

    async def test_unknown_set_and_unit_are_404(self, criteria: httpx.AsyncClient) -> None:
        no_set = await criteria.get(
            f"/v1/units/{COMMUNE}/evaluation", params={"set": "nope", "year": 2023}
        )
        no_unit = await criteria.get(
            "/v1/units/99999/evaluation", params={"set": SET, "year": 2023}
        )
        assert no_set.json()["code"] == "criteria_set.not_found"
        assert no_unit.json()["code"] == "unit.not_found"


async def lookup(
    criteria: httpx.AsyncClient, keys: list[dict[str, Any]], detail: str = "full"
) -> list[Any]:
    response = await criteria.post("/v1/evaluations/lookup", json={"keys": keys, "detail": detail})
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    assert len(items) == len(keys)
    return items


def commune_keys(codes: list[str]) -> list[dict[str, Any]]:
    """Each commune against the national set and against Thanh Hóa's variant, in 2023."""
    return [
        {"unit": code, "set": set_code, "year": 2023, "as_of": AS_OF}
        for code in codes
        for set_code in (SET, "xa-ntm-2021@38")
    ]


@pytest.fixture
async def district_395(criteria: httpx.AsyncClient) -> list[str]:
    """Twelve communes of district 395 with values for 2023 (one, Tây Hồ, without any), a
    province variant with an indicator of its own recorded for Xuân Minh, which also holds
    the NTM title; Xuân Lai held it and lost it in 2024. Xuân Minh has two values for 2022.
    Returns the communes' codes."""
    await give_values(criteria, TWELVE)
    put = await criteria.put("/v1/criteria-sets/xa-ntm-2021/variants/38", json=VARIANT)
    assert put.status_code == 200, put.text
    own = row("3.9", True) | {"set": "xa-ntm-2021@38"}
    earlier = [row("3.1", "60", year=2022), row("3.2", True, year=2022)]
    assert (await criteria.post("/v1/indicator-values", json={"values": [own]})).is_success
    assert (await criteria.post("/v1/indicator-values", json={"values": earlier})).is_success
    events = [
        event("15592", "xa-ntm"),
        event("15583", "xa-ntm"),
        event(
            "15583",
            "xa-ntm",
            "recognition.revoked",
            decision={"number": "9/QĐ-UBND", "date": "2024-03-01"},
        ),
    ]
    for body in events:
        assert (await criteria.post("/v1/events/titles", json=body)).is_success
    return [code for code, *_ in THIRTEEN]


class TestEvaluationLookup:
    async def test_a_batch_answers_each_key_as_a_lookup_of_that_key_alone(
        self, criteria: httpx.AsyncClient, district_395: list[str]
    ) -> None:
        keys = [
            *commune_keys(district_395),
            {"unit": "15592", "set": SET, "year": 2022},  # another year, the default date
            {"unit": "15592", "set": SET, "year": 2024},  # its title held
            {"unit": "395", "set": "huyen-ntm-2021", "year": 2023, "as_of": AS_OF},
            {"unit": "395", "set": "huyen-ntm-2021", "year": 2024},  # a commune revoked
            {"unit": "99999", "set": SET, "year": 2023},  # no such unit
            {"unit": "15592", "set": "xa-ntm-1999", "year": 2023},  # no such set
            {"unit": "15592", "set": SET, "year": 2023, "as_of": AS_OF},  # asked twice
        ]
        batch = await lookup(criteria, keys)
        for key, item in zip(keys, batch, strict=True):
            assert [item] == await lookup(criteria, [key]), key
        # what the batch holds: every kind of answer
        assert batch[-3:-1] == [None, None]
        assert batch[-1] == batch[0]
        assert {i["indicators_total"] for i in batch[:-3]} == {57, 58, 37}
        assert any(i["revocation"]["holds_title"] for i in batch[:-3])
        district_2024 = batch[-4]
        assert district_2024["revocation"]["communes_revoked_share"] == pytest.approx(1 / 30)
        assert any(i["indicators_missing"] == i["indicators_total"] for i in batch[:-3])
        of_2022, of_2024 = batch[len(district_395) * 2 : len(district_395) * 2 + 2]
        assert (of_2022["year"], of_2022["indicators_missing"]) == (2022, 55)
        assert (of_2024["year"], of_2024["indicators_missing"]) == (2024, 57)

    async def test_a_summary_is_the_full_evaluation_without_its_explanation(
        self, criteria: httpx.AsyncClient, district_395: list[str]
    ) -> None:
        keys = [
            *commune_keys(district_395),
            {"unit": "15592", "set": SET, "year": 2024},  # its title held
            {"unit": "395", "set": "huyen-ntm-2021", "year": 2023, "as_of": AS_OF},
            {"unit": "395", "set": "huyen-ntm-2021", "year": 2024},  # a commune revoked
            {"unit": "99999", "set": SET, "year": 2023},  # no such unit
        ]
        full = await lookup(criteria, keys)
        summary = await lookup(criteria, keys, detail="summary")
        assert summary[-1] is None
        for explained, counted in zip(full[:-1], summary[:-1], strict=True):
            assert "criteria" not in counted
            assert counted == {k: v for k, v in explained.items() if k != "criteria"}
        # the batch is not uniform: the comparison covers met, failed and unknown criteria
        assert len({(i["criteria_met"], i["criteria_not_met"]) for i in summary[:-1]}) > 5
        assert any(i["criteria_unknown"] for i in summary[:-1])
        assert any(i["revocation"]["not_met"] for i in summary[:-1])
        assert any(i["revocation"]["communes_revoked_share"] for i in summary[:-1])

    async def test_a_batch_answers_as_the_explained_evaluation_of_each_unit(
        self, criteria: httpx.AsyncClient, district_395: list[str]
    ) -> None:
        keys = commune_keys(district_395[:4])
        for key, item in zip(keys, await lookup(criteria, keys), strict=True):
            single = await criteria.get(
                f"/v1/units/{key['unit']}/evaluation",
                params={"set": key["set"], "year": key["year"], "as_of": key["as_of"]},
            )
            assert item == single.json()

    async def test_the_statements_of_a_batch_do_not_grow_with_its_keys(
        self, criteria: httpx.AsyncClient, db: Database, district_395: list[str]
    ) -> None:
        with counting_statements(db) as few:
            await lookup(criteria, commune_keys(district_395[:2]))
        with counting_statements(db) as many:
            await lookup(criteria, commune_keys(district_395))
        assert len(few) == len(many)
        # units, sets, profiles; per set and year: the current values; per title and date:
        # who holds it
        assert len(many) == 6, many
