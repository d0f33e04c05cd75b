"""Bulk import of indicator values over REST, on the real database: NDJSON and CSV bodies,
atomic / partial / dry-run, idempotent re-sends, row errors by line, and background jobs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any, ClassVar

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text as sql

from services.criteria import imports
from shared.bulk import ImportFormat, ImportLimits
from shared.db import Database
from tests.conftest import auth_headers

COMMUNE = "15592"  # Xã Xuân Minh, Thọ Xuân, Thanh Hóa: a commune until 2025-06-30
DISTRICT = "395"  # Huyện Thọ Xuân
SET = "xa-ntm-2021"
AS_OF = "2023-05-19"
URL = "/v1/imports/indicator-values"
NDJSON = "application/x-ndjson"
CSV = "text/csv"
CURRENT: dict[str, str | int] = {"set": SET, "year": 2023, "as_of": AS_OF}


def row(indicator: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {
        "unit": COMMUNE,
        "set": SET,
        "year": 2023,
        "indicator": indicator,
        "value": value,
        "as_of": AS_OF,
        **extra,
    }


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


async def post(
    client: httpx.AsyncClient, body: bytes, content_type: str = NDJSON, **params: str
) -> httpx.Response:
    return await client.post(
        URL, content=body, headers={"Content-Type": content_type}, params=params
    )


async def current(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get(f"/v1/units/{COMMUNE}/indicator-values", params=CURRENT)
    assert response.status_code == 200
    return {v["indicator"]: v["value"] for v in response.json()}


def failures(body: dict[str, Any], key: str = "errors") -> list[tuple[int, str | None, str]]:
    """(line, field, code) of each error; problem+json names the line `row`."""
    return [(e.get("line", e.get("row")), e["field"], e["code"]) for e in body[key]]


@pytest.fixture
async def kinds(criteria: httpx.AsyncClient) -> dict[str, list[str]]:
    """Indicator codes of xa-ntm-2021 by kind, as the API publishes them."""
    body = (await criteria.get(f"/v1/criteria-sets/{SET}")).json()
    out: dict[str, list[str]] = {}
    for criterion in body["criteria"]:
        for indicator in criterion["indicators"]:
            out.setdefault(indicator["kind"], []).append(indicator["code"])
    assert "3.1" in out["percent"]
    assert "3.2" in out["boolean"]
    return out


class TestNdjsonImport:
    async def test_rows_are_created_and_visible_as_current_values(
        self, criteria: httpx.AsyncClient, kinds: dict[str, list[str]]
    ) -> None:
        boolean = next(c for c in kinds["boolean"] if c != "3.2")
        body = ndjson(
            [
                row("3.1", 35.59, evidence=["QĐ-12/UBND"], note="Theo báo cáo"),
                row("3.2", True),
                row(boolean, False),
                row(kinds["number"][0], "52.5"),
            ]
        )
        response = await post(criteria, body)
        assert response.status_code == 200, response.text
        summary = response.json()
        assert summary == {
            "kind": "indicator-values",
            "dry_run": False,
            "mode": "atomic",
            "total": 4,
            "created": 4,
            "updated": 0,
            "ignored": 0,
            "rejected": 0,
            "errors": [],
            "errors_truncated": False,
        }
        values = await current(criteria)
        assert values == {"3.1": "35.59", "3.2": True, boolean: False, kinds["number"][0]: "52.5"}
        history = await criteria.get(
            f"/v1/units/{COMMUNE}/indicator-values/3.1/history", params=CURRENT
        )
        assert history.json()["items"][0]["evidence"] == ["QĐ-12/UBND"]
        assert history.json()["items"][0]["note"] == "Theo báo cáo"

    async def test_recorded_by_is_the_token_subject_not_a_header(
        self, criteria: httpx.AsyncClient
    ) -> None:
        token = auth_headers("commune_officer", COMMUNE, subject="nguyen-van-a")
        response = await criteria.post(
            URL,
            content=ndjson([row("3.2", True)]),
            headers={"Content-Type": NDJSON, "X-Recorded-By": "someone-else", **token},
        )
        assert response.status_code == 200, response.text
        history = await criteria.get(
            f"/v1/units/{COMMUNE}/indicator-values/3.2/history", params=CURRENT
        )
        assert history.json()["items"][0]["recorded_by"] == "nguyen-van-a"

    async def test_resending_the_same_file_ignores_every_row(
        self, criteria: httpx.AsyncClient
    ) -> None:
        body = ndjson([row("3.1", 80), row("3.2", True), row("3.1", 80, as_of="2023-01-02")])
        first = (await post(criteria, body)).json()
        assert (first["created"], first["ignored"]) == (3, 0)
        again = (await post(criteria, body)).json()
        assert (again["total"], again["created"], again["ignored"]) == (3, 0, 3)
        history = await criteria.get(
            f"/v1/units/{COMMUNE}/indicator-values/3.1/history", params=CURRENT
        )
        assert len(history.json()["items"]) == 2

    async def test_a_changed_value_is_a_new_version_and_repeats_in_a_file_are_ignored(
        self, criteria: httpx.AsyncClient
    ) -> None:
        await post(criteria, ndjson([row("3.1", 80)]))
        body = ndjson(
            [
                row("3.1", "80.0"),  # the current value again (numerically equal): ignored
                row("3.1", 82),  # a correction: a new version
                row("3.1", 82),  # the same again in the file: ignored
                row("3.1", 80),  # back to 80: a new version, and the current one
            ]
        )
        summary = (await post(criteria, body)).json()
        assert (summary["created"], summary["ignored"], summary["updated"]) == (2, 2, 0)
        assert (await current(criteria))["3.1"] == "80"
        history = await criteria.get(
            f"/v1/units/{COMMUNE}/indicator-values/3.1/history", params=CURRENT
        )
        assert [v["value"] for v in history.json()["items"]] == ["80", "82", "80"]

    async def test_a_malformed_line_is_named_by_its_line_number(
        self, criteria: httpx.AsyncClient
    ) -> None:
        body = ndjson([row("3.1", 80)]) + b"\n" + b'{"unit": "15592", "set":\n' + b"[1, 2]\n"
        response = await post(criteria, body, mode="partial")
        assert response.status_code == 200
        summary = response.json()
        assert (summary["total"], summary["created"], summary["rejected"]) == (3, 1, 2)
        assert failures(summary) == [(3, None, "json.invalid"), (4, None, "json.not_object")]
        assert summary["errors"][0]["message_vi"].startswith("Dòng 3")

    async def test_dry_run_checks_everything_and_changes_nothing(
        self, criteria: httpx.AsyncClient
    ) -> None:
        body = ndjson([row("3.1", 80), row("3.2", True), row("3.2", True, unit="99999")])
        response = await post(criteria, body, dry_run="true", mode="partial")
        assert response.status_code == 200
        summary = response.json()
        assert summary["dry_run"] is True
        assert (summary["created"], summary["rejected"]) == (2, 1)
        assert failures(summary) == [(3, "unit", "unit.not_found")]
        assert await current(criteria) == {}
        atomic = await post(criteria, body, dry_run="true")
        assert atomic.status_code == 200
        assert (atomic.json()["created"], atomic.json()["ignored"]) == (0, 2)
        assert await current(criteria) == {}


class TestCsvImport:
    async def test_vietnamese_numbers_dates_and_words_are_read(
        self, criteria: httpx.AsyncClient, kinds: dict[str, list[str]]
    ) -> None:
        boolean = [c for c in kinds["boolean"] if c != "3.2"]
        percent = [c for c in kinds["percent"] if c != "3.1"]
        text = (
            "unit,set,year,indicator,value,as_of,evidence,note\n"
            f'{COMMUNE},{SET},2023,3.1,"35,59",19/05/2023,QĐ-12/UBND; BC-3,Theo báo cáo\n'
            f"{COMMUNE},{SET},2023,3.2,Đạt,19/05/2023,,\n"
            f"{COMMUNE},{SET},2023,{boolean[0]},không đạt,2023-05-19,,\n"
            f"{COMMUNE},{SET},2023,{boolean[1]},x,19-05-2023,,\n"
            f'{COMMUNE},{SET},2023,{percent[0]},"35,59%",19/05/2023,,\n'
            f"{COMMUNE},{SET},2023,{kinds['number'][0]},1.234,19/05/2023,,\n"
        )
        response = await post(criteria, text.encode(), CSV)
        assert response.status_code == 200, response.text
        assert response.json()["created"] == 6
        assert await current(criteria) == {
            "3.1": "35.59",
            "3.2": True,
            boolean[0]: False,
            boolean[1]: True,
            percent[0]: "35.59",
            kinds["number"][0]: "1234",
        }
        history = await criteria.get(
            f"/v1/units/{COMMUNE}/indicator-values/3.1/history", params=CURRENT
        )
        assert history.json()["items"][0]["evidence"] == ["QĐ-12/UBND", "BC-3"]

    async def test_semicolon_delimited_file_with_bom_and_crlf(
        self, criteria: httpx.AsyncClient
    ) -> None:
        text = (
            "\ufeffUnit;Set;Year;Indicator;Value;As_of\r\n"
            f"{COMMUNE};{SET};2023;3.1;35,59;19/05/2023\r\n"
            f"{COMMUNE};{SET};2023;3.2;true;19/05/2023\r\n"
            ";;;;;\r\n"
        )
        response = await post(criteria, text.encode(), "text/csv; charset=utf-8")
        assert response.status_code == 200, response.text
        assert (response.json()["total"], response.json()["created"]) == (2, 2)
        assert await current(criteria) == {"3.1": "35.59", "3.2": True}

    async def test_a_missing_column_is_refused_before_any_row(
        self, criteria: httpx.AsyncClient
    ) -> None:
        text = f"unit,set,year,indicator,value\n{COMMUNE},{SET},2023,3.2,đạt\n"
        response = await post(criteria, text.encode(), CSV)
        assert response.status_code == 422
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["code"] == "import.csv_columns_missing"
        assert [(e["field"], e["code"]) for e in problem["errors"]] == [
            ("as_of", "csv.column_missing")
        ]
        assert "as_of" in problem["message_vi"]


class TestAtomicAndPartial:
    BAD_ROWS = (
        "unit,set,year,indicator,value,as_of\n"
        f"{COMMUNE},{SET},2023,3.1,80,19/05/2023\n"  # line 2: fine
        f"99999,{SET},2023,3.1,80,19/05/2023\n"  # line 3: no such unit
        f"{COMMUNE},{SET},2023,3.1,80,31/02/2023\n"  # line 4: no 31 February
        f"{COMMUNE},{SET},2023,3.99,đạt,19/05/2023\n"  # line 5: unknown indicator
        f"{COMMUNE},{SET},2023,3.2,75,19/05/2023\n"  # line 6: a number for a boolean
        f"{DISTRICT},{SET},2023,3.2,đạt,19/05/2023\n"  # line 7: a district, a commune set
        f"15502,{SET},2023,3.2,đạt,01/08/2025\n"  # line 8: a commune merged away in 2025
        f'{COMMUNE},{SET},2023,3.1,"35.59",19/05/2023\n'  # line 9: English-style number
        f"{COMMUNE},{SET},2023,3.2,đạt,19/05/2023\n"  # line 10: fine
    )
    EXPECTED: ClassVar[list[tuple[int, str, str]]] = [
        (3, "unit", "unit.not_found"),
        (4, "as_of", "date.invalid"),
        (5, "indicator", "indicator.not_found"),
        (6, "value", "value.wrong_kind"),
        (7, "set", "criteria_set.wrong_level"),
        (8, "unit", "unit.not_found"),
        (9, "value", "number.ambiguous"),
    ]

    async def test_one_bad_row_imports_nothing_and_every_bad_row_is_named(
        self, criteria: httpx.AsyncClient
    ) -> None:
        response = await post(criteria, self.BAD_ROWS.encode(), CSV)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "import.rejected"
        assert failures(problem) == self.EXPECTED
        assert problem["errors"][1]["message_vi"].startswith("Dòng 4")
        assert "31" in problem["errors"][1]["message_en"]
        summary = problem["summary"]
        assert (summary["total"], summary["created"], summary["ignored"]) == (9, 0, 2)
        assert summary["rejected"] == 7
        assert failures(summary) == self.EXPECTED
        assert await current(criteria) == {}

    async def test_partial_mode_imports_the_good_rows_and_reports_the_rest(
        self, criteria: httpx.AsyncClient
    ) -> None:
        response = await post(criteria, self.BAD_ROWS.encode(), CSV, mode="partial")
        assert response.status_code == 200
        summary = response.json()
        assert (summary["created"], summary["rejected"], summary["ignored"]) == (2, 7, 0)
        assert failures(summary) == self.EXPECTED
        assert await current(criteria) == {"3.1": "80", "3.2": True}

    async def test_a_derived_indicator_is_refused(self, criteria: httpx.AsyncClient) -> None:
        district_set = (await criteria.get("/v1/criteria-sets/huyen-ntm-2021")).json()
        derived = next(
            i["code"]
            for c in district_set["criteria"]
            for i in c["indicators"]
            if i["kind"] == "derived"
        )
        body = ndjson(
            [
                row(derived, 100, unit=DISTRICT, set="huyen-ntm-2021"),
                row("3.1", 80, set="no-such-set"),
            ]
        )
        problem = (await post(criteria, body)).json()
        assert failures(problem) == [
            (1, "indicator", "indicator.derived"),
            (2, "set", "criteria_set.not_found"),
        ]

    async def test_shape_errors_name_their_field(self, criteria: httpx.AsyncClient) -> None:
        body = ndjson(
            [
                {"unit": COMMUNE, "set": SET, "year": 2023, "indicator": "3.1", "value": 1},
                row("3.1", 80, year="two thousand"),
                row("3.1", 80, unit=15592),
                row("x", "abc"),
                row("3.1", None, as_of="23/5/19", evidence="not a list"),
            ]
        )
        problem = (await post(criteria, body)).json()
        assert failures(problem) == [
            (1, "as_of", "field.missing"),
            (2, "year", "field.invalid"),
            (3, "unit", "field.invalid"),
            (4, "indicator", "field.invalid"),
            (4, "value", "field.invalid"),
            (5, "value", "field.missing"),
            (5, "as_of", "date.ambiguous"),
            (5, "evidence", "field.invalid"),
        ]
        assert problem["summary"]["rejected"] == 5


class TestRefusedBodies:
    async def test_a_wrong_content_type_is_415(self, criteria: httpx.AsyncClient) -> None:
        response = await post(criteria, b"{}", "application/json")
        assert response.status_code == 415
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "import.unsupported_media_type"
        assert "text/csv" in response.json()["message_vi"]
        latin = await post(criteria, b"unit\n", "text/csv; charset=windows-1258")
        assert latin.status_code == 415
        assert latin.json()["code"] == "import.unsupported_charset"

    async def test_a_body_over_the_limit_is_413(
        self, criteria: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(imports, "LIMITS", ImportLimits(max_bytes=1000, max_rows=5))
        big = await post(criteria, ndjson([row("3.1", 80)] * 20))
        assert big.status_code == 413
        assert big.json()["code"] == "import.too_large"
        many = await post(criteria, b"\n" * 10)
        assert many.status_code == 413
        assert many.json()["code"] == "import.too_many_rows"
        assert "dòng" in many.json()["message_vi"]

    async def test_a_line_over_the_limit_is_413_and_nothing_is_written(
        self, criteria: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(imports, "LIMITS", ImportLimits(max_line_bytes=200))
        body = ndjson([row("3.2", True), row("3.1", 80, note="x" * 300)])
        response = await post(criteria, body, mode="partial")
        assert response.status_code == 413
        assert response.json()["code"] == "import.line_too_long"
        assert "2" in response.json()["message_en"]
        assert await current(criteria) == {}

    async def test_an_empty_body_is_422(self, criteria: httpx.AsyncClient) -> None:
        response = await post(criteria, b"\n\n")
        assert response.status_code == 422
        assert response.json()["code"] == "import.empty"
        csv = await post(criteria, b"", CSV)
        assert csv.status_code == 422
        assert csv.json()["code"] == "import.csv_header_missing"

    async def test_an_unknown_kind_is_404(self, criteria: httpx.AsyncClient) -> None:
        response = await criteria.post("/v1/imports/transfers", content=b"")
        assert response.status_code == 404
        assert response.json()["code"] == "import.kind_unknown"

    async def test_non_utf8_csv_rows_are_named(self, criteria: httpx.AsyncClient) -> None:
        body = (
            b"unit,set,year,indicator,value,as_of\n"
            + f"{COMMUNE},{SET},2023,3.2,\u0111\u1ea1t,19/05/2023\n".encode()
            + f"{COMMUNE},{SET},2023,3.2,".encode()
            + b"\xd0\xe1t,19/05/2023\n"  # "đạt" as a Windows code page would write it
        )
        summary = (await post(criteria, body, CSV, mode="partial")).json()
        assert summary["created"] == 1
        assert failures(summary) == [(3, None, "encoding.invalid")]


async def poll(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    for _ in range(400):
        job: dict[str, Any] = (await client.get(url)).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.025)
    raise AssertionError(f"job did not finish: {job}")


class TestJobs:
    async def test_a_large_body_becomes_a_job_that_succeeds_with_the_right_counts(
        self,
        criteria: httpx.AsyncClient,
        kinds: dict[str, list[str]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(imports, "JOB_THRESHOLD_ROWS", 10)
        monkeypatch.setattr(imports, "PROGRESS_EVERY_S", 0.0)
        rows = [row(code, True) for code in kinds["boolean"]]
        rows += [row(code, 50) for code in kinds["percent"]]
        rows.append(row("3.1", 50, unit="99999"))
        await post(criteria, ndjson(rows[:3]))  # already current: ignored by the job
        response = await post(criteria, ndjson(rows), mode="partial")
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert response.headers["location"] == f"/v1/imports/jobs/{accepted['id']}"
        assert accepted["url"] == response.headers["location"]
        assert accepted["status"] in ("queued", "running")
        assert accepted["total"] == len(rows)
        job = await poll(criteria, response.headers["location"])
        assert job["status"] == "succeeded", job
        assert job["processed"] == job["total"] == len(rows)
        assert (job["created"], job["ignored"], job["rejected"]) == (len(rows) - 4, 3, 1)
        assert failures(job) == [(len(rows), "unit", "unit.not_found")]
        assert job["summary"]["created"] == len(rows) - 4
        assert job["started_at"]
        assert job["finished_at"]
        assert job["recorded_by"] == "test-central"  # the subject of the client's token
        assert len(await current(criteria)) == len(rows) - 1

    async def test_an_atomic_job_with_a_bad_row_fails_and_writes_nothing(
        self, criteria: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(imports, "JOB_THRESHOLD_BYTES", 100)
        rows = [row("3.1", 80), row("3.2", "đạt")]
        response = await post(criteria, ndjson(rows))
        assert response.status_code == 202
        job = await poll(criteria, response.headers["location"])
        assert job["status"] == "failed"
        assert job["problem"]["code"] == "import.rejected"
        assert failures(job) == [(2, "value", "field.invalid")]
        assert (job["summary"]["created"], job["summary"]["rejected"]) == (0, 1)
        assert await current(criteria) == {}

    async def test_a_csv_job_without_required_columns_is_refused_at_once(
        self, criteria: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(imports, "JOB_THRESHOLD_ROWS", 1)
        response = await post(criteria, b"unit,set\n1,2\n3,4\n", CSV)
        assert response.status_code == 422
        assert response.json()["code"] == "import.csv_columns_missing"

    async def test_an_unknown_job_is_404(self, criteria: httpx.AsyncClient) -> None:
        response = await criteria.get("/v1/imports/jobs/00000000-0000-4000-8000-000000000000")
        assert response.status_code == 404
        assert response.json()["code"] == "import_job.not_found"
        bad = await criteria.get("/v1/imports/jobs/not-a-uuid")
        assert bad.status_code == 422

    async def running_job(self, db: Database, silent_for: timedelta) -> uuid.UUID:
        """A job row as a running process leaves it, its heartbeat last moved `silent_for` ago."""
        job_id = uuid.uuid4()
        async with db.engine.begin() as conn:
            await conn.execute(
                sql(
                    "INSERT INTO criteria.import_jobs (id, kind, status, dry_run, mode, total,"
                    " processed, created, updated, ignored, rejected, errors_truncated,"
                    " started_at, updated_at) VALUES (:id, 'indicator-values', 'running',"
                    " false, 'atomic', 10, 0, 0, 0, 0, 0, false, now() - interval '1 hour',"
                    " now() - CAST(:silent AS interval))"
                ),
                {"id": job_id, "silent": silent_for},
            )
        return job_id

    async def test_a_running_job_whose_heartbeat_stopped_reads_as_interrupted(
        self, criteria: httpx.AsyncClient, db: Database
    ) -> None:
        job_id = await self.running_job(db, timedelta(minutes=11))
        body = (await criteria.get(f"/v1/imports/jobs/{job_id}")).json()
        assert body["status"] == "failed"
        assert body["problem"]["code"] == "import.interrupted"

    async def test_a_job_still_moving_is_not_declared_dead(
        self, criteria: httpx.AsyncClient, db: Database
    ) -> None:
        job_id = await self.running_job(db, timedelta(minutes=1))
        body = (await criteria.get(f"/v1/imports/jobs/{job_id}")).json()
        assert body["status"] == "running"


class TestRowChecks:
    """The per-row checks in Python, without the database."""

    field_values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**16), max_value=10**16),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
        st.lists(st.text(max_size=4), max_size=3),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
        st.sampled_from(
            [
                COMMUNE,
                f"{COMMUNE}\n",
                f" {COMMUNE}",
                SET,
                f"{SET} ",
                "3.1",
                "3.1\n",
                "2023-05-19",
                " 2023-05-19",
                "19/05/2023",
                2023,
                "2023",
                "35.59",
                "",
                [],
                "a\x00b",
            ]
        ),
    )
    rows = st.dictionaries(
        st.sampled_from(["unit", "set", "year", "indicator", "value", "as_of", "evidence", "note"]),
        field_values,
    )

    @settings(max_examples=500)
    @given(raw=rows)
    def test_the_fast_path_agrees_with_the_full_checks_and_nothing_raises(
        self, raw: dict[str, Any]
    ) -> None:
        full = imports._checked(7, raw, ImportFormat.ndjson)  # also remembers a valid date
        fast = imports._fast_json(7, raw)
        if fast is not None:
            assert fast == full
        if isinstance(full, list):
            assert full
            assert all(e.line == 7 and e.field for e in full)
        for text in (str(raw.get(k)) for k in ("set", "note")):
            if "\x00" in text:
                assert isinstance(full, list)

    async def test_odd_values_are_row_errors_not_server_errors(
        self, criteria: httpx.AsyncClient
    ) -> None:
        body = ndjson(
            [
                row("3.1", 80, set="xa\u0000"),
                row("3.1", 80, note="a\u0000b"),
                row("3.1", 80, evidence={}),
                row("3.1", 80, note=0),
                row("3.1", 1e300),
                row("3.1", "1E-30"),
            ]
        )
        problem = (await post(criteria, body)).json()
        assert failures(problem) == [
            (1, "set", "field.invalid"),
            (2, "note", "field.invalid"),
            (3, "evidence", "field.invalid"),
            (4, "note", "field.invalid"),
            (5, "value", "value.out_of_range"),
            (6, "value", "value.out_of_range"),
        ]
