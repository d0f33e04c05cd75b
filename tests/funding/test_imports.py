"""Bulk import of transfers over REST, on the real database: NDJSON and CSV bodies, the same
rules and fingerprint as POST /v1/transfers, atomic / partial / dry run, idempotent re-sends,
concurrent imports, and background jobs."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from services.funding import imports
from services.funding.domain.ledger import fingerprint
from services.funding.repository.imports import SourceValidity, UnitValidity
from services.funding.schemas import TransferIn
from shared.bulk import ImportFormat
from shared.db import Database
from tests.conftest import auth_headers

COMMUNE = "15592"  # Xã Xuân Minh, Thọ Xuân, Thanh Hóa: a commune until 2025-06-30
OTHER = "15520"
URL = "/v1/imports/transfers"
NDJSON = "application/x-ndjson"
CSV = "text/csv"


def transfer(external_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "unit": COMMUNE,
        "source": "NSTW-DT",
        "amount": 1_250_000_000,
        "date": "2023-04-12",
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


async def post(
    client: httpx.AsyncClient,
    body: bytes,
    content_type: str = NDJSON,
    headers: dict[str, str] | None = None,
    **params: str,
) -> httpx.Response:
    return await client.post(
        URL, content=body, headers={"Content-Type": content_type, **(headers or {})}, params=params
    )


def failures(body: dict[str, Any], key: str = "errors") -> list[tuple[int, str | None, str]]:
    """(line, field, code) of each error; problem+json names the line `row`."""
    return [(e.get("line", e.get("row")), e["field"], e["code"]) for e in body[key]]


async def ledger(db: Database) -> dict[str, Any]:
    """What the ledger holds, comparable across two databases states: the transfers by
    external id (without generated ids and times) and the monthly aggregates."""
    async with db.engine.connect() as conn:
        transfers = (
            await conn.execute(
                text(
                    "SELECT t.external_id, t.body_hash, t.kind, t.stage, t.sign, u.code AS unit,"
                    " t.source_code, da.role AS debit, da.period, da.purpose,"
                    " ca.role AS credit, t.amount, t.value_date, w.code AS work,"
                    " p.external_id AS pledge, t.in_kind_kind, t.quantity, t.households,"
                    " t.rate_id, t.rate_vnd, t.memo, t.recorded_by"
                    " FROM funding.transfers t JOIN funding.units u ON u.id = t.unit_id"
                    " JOIN funding.accounts da ON da.id = t.debit_account_id"
                    " JOIN funding.accounts ca ON ca.id = t.credit_account_id"
                    " LEFT JOIN funding.works w ON w.id = t.work_id"
                    " LEFT JOIN funding.transfers p ON p.id = t.pledge_id"
                    " ORDER BY t.external_id"
                )
            )
        ).mappings()
        monthly = (
            await conn.execute(
                text(
                    "SELECT unit_id, month, source_code, stage, in_kind_kind, work_id, amount,"
                    " quantity, households, transfers FROM funding.monthly"
                    " WHERE transfers <> 0 ORDER BY 1, 2, 3, 4, 5, 6"
                )
            )
        ).all()
        accounts = await conn.scalar(text("SELECT count(*) FROM funding.accounts"))
    return {
        "transfers": [dict(r) for r in transfers],
        "monthly": [tuple(r) for r in monthly],
        "accounts": accounts,
    }


async def count(db: Database, where: str = "TRUE") -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text(f"SELECT count(*) FROM funding.transfers WHERE {where}")))


async def reset(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE funding.transfers, funding.monthly, funding.accounts,"
                " funding.import_jobs CASCADE"
            )
        )


async def create_work(db: Database, code: str = "DUONG-01", unit: str = COMMUNE) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO funding.works (unit_id, code, name, kind)"
                " SELECT id, :code, 'Đường trục xã', 'road' FROM funding.units"
                " WHERE code = :unit AND edition = 'legacy'"
            ),
            {"code": code, "unit": unit},
        )


# A file that exercises every rule that passes: kinds, in-kind (valued or not), works,
# pledges (posted earlier in the file), purposes, memos, many units and months.
MIXED: list[dict[str, Any]] = [
    transfer("M-1"),
    transfer("M-2", source="NST", amount=300_000_000, date="2022-01-31", memo="Đợt 1"),
    transfer("M-3", type="pledge", source="DN", amount=500_000_000),
    transfer("M-4", source="DN", amount=200_000_000, pledge="M-3", date="2023-05-02"),
    transfer(
        "M-5",
        source="CD-HV",
        amount=None,
        kind="land",
        quantity=1200,
        quantity_unit="m2",
        households=35,
    ),
    transfer("M-6", source="CD-HV", amount=7_000_000, kind="labour", quantity="35.5"),
    transfer("M-7", type="disbursement", work="DUONG-01", amount=900_000_000),
    transfer("M-8", type="settlement", work="DUONG-01", amount=800_000_000),
    transfer("M-9", unit=OTHER, source="CD-TM", amount=15_000_000, purpose="nuoc-sach"),
    transfer("M-10", unit="38", source="NST", amount=10**12, date="2025-08-01"),
    transfer("M-11", source="KHAC", amount=1, date="2021-01-01", extra_field="kept out"),
]


class TestSameAsOneByOne:
    async def test_an_import_posts_what_posting_one_by_one_posts(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        await create_work(db)
        for row in MIXED:
            response = await funding.post("/v1/transfers", json=row)
            assert response.status_code == 201, response.text
        one_by_one = await ledger(db)
        await reset(db)
        response = await post(funding, ndjson(MIXED))
        assert response.status_code == 200, response.text
        summary = response.json()
        assert (summary["created"], summary["ignored"], summary["rejected"]) == (len(MIXED), 0, 0)
        imported = await ledger(db)
        assert imported == one_by_one
        assert len(imported["transfers"]) == len(MIXED)

    async def test_rows_posted_one_by_one_are_ignored_by_the_import_and_vice_versa(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        """The same fingerprint both ways: the single POST and the import agree on it."""
        await create_work(db)
        for row in MIXED[:6]:
            assert (await funding.post("/v1/transfers", json=row)).status_code == 201
        summary = (await post(funding, ndjson(MIXED))).json()
        assert (summary["created"], summary["ignored"], summary["rejected"]) == (5, 6, 0)
        for row in MIXED:
            again = await funding.post("/v1/transfers", json=row)
            assert again.status_code == 200, again.text
            assert again.json()["replayed"] is True
        assert await count(db) == len(MIXED)

    @pytest.mark.parametrize(
        ("extra", "field", "code"),
        [
            ({"unit": "99999"}, "unit", "unit.not_found"),
            ({"source": "XYZ"}, "source", "source.unknown"),
            ({"amount": 0}, "amount", None),
            ({"amount": 12.5}, "amount", None),
            ({"amount": "1.000"}, "amount", None),
            ({"date": "2023-02-31"}, "date", None),
            ({"date": "2019-05-01"}, "date", "date.out_of_programme"),
            ({"date": "2030-12-01"}, "date", "date.in_future"),
            ({"type": "reversal"}, "type", "transfer.type_invalid"),
            (
                {"source": "NSH", "unit": "38", "date": "2025-08-01"},
                "source",
                "source.not_in_force",
            ),
            ({"source": "CD-HV"}, "kind", "in_kind.kind_required"),
            ({"kind": "land"}, "quantity", "in_kind.incomplete"),
            ({"kind": "gold", "quantity": 1}, "kind", "in_kind.kind_unknown"),
            ({"kind": "land", "quantity": 5, "quantity_unit": "ha"}, "quantity_unit", None),
            (
                {"kind": "materials", "quantity": "0.001", "amount": None},
                "quantity",
                "valuation.zero",
            ),
            ({"amount": None}, "amount", "amount.required"),
            ({"type": "disbursement"}, "work", "work.required"),
            ({"type": "disbursement", "work": "NOPE"}, "work", "work.not_found"),
            ({"pledge": "NOPE"}, "pledge", "pledge.invalid"),
            ({"purpose": "Không"}, "purpose", None),
        ],
    )
    async def test_a_row_the_single_post_refuses_is_rejected_naming_the_same_field(
        self,
        funding: httpx.AsyncClient,
        db: Database,
        extra: dict[str, Any],
        field: str,
        code: str | None,
    ) -> None:
        row = transfer("XM-BAD-1", **extra)
        single = await funding.post("/v1/transfers", json=row)
        assert single.status_code in (404, 422), single.text
        assert field in {e["field"] for e in single.json()["errors"]}
        if code is not None:
            assert single.json()["code"] == code
        response = await post(funding, ndjson([transfer("XM-OK-1"), row]))
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == "import.rejected"
        assert [(e["row"], e["field"]) for e in problem["errors"]] == [(2, field)]
        if code is not None:
            assert problem["errors"][0]["code"] == code
        assert problem["errors"][0]["message_vi"].startswith("Dòng 2")
        assert problem["errors"][0]["message_en"].startswith("Line 2")
        assert await count(db) == 0


class TestIdempotency:
    async def test_resending_a_file_creates_nothing_twice(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        rows = [transfer(f"R-{i}", amount=1000 + i) for i in range(20)]
        first = (await post(funding, ndjson(rows))).json()
        assert (first["created"], first["ignored"]) == (20, 0)
        monthly = (await ledger(db))["monthly"]
        again = (await post(funding, ndjson([*rows, transfer("R-20")]))).json()
        assert (again["total"], again["created"], again["ignored"], again["rejected"]) == (
            21,
            1,
            20,
            0,
        )
        assert await count(db) == 21
        assert (await ledger(db))["monthly"] != monthly
        assert sum(r[6] for r in (await ledger(db))["monthly"]) == sum(
            r["amount"] for r in [*rows, transfer("R-20")]
        )

    async def test_a_posted_id_with_another_body_is_a_conflict(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        assert (await funding.post("/v1/transfers", json=transfer("C-1"))).status_code == 201
        rows = [transfer("C-1", amount=5), transfer("C-2")]
        response = await post(funding, ndjson(rows), mode="partial")
        summary = response.json()
        assert (summary["created"], summary["rejected"]) == (1, 1)
        assert failures(summary) == [(1, "external_id", "transfer.idempotency_conflict")]
        assert await count(db) == 2

    async def test_repeats_inside_a_file(self, funding: httpx.AsyncClient, db: Database) -> None:
        rows = [
            transfer("D-1"),
            transfer("D-2"),
            transfer("D-1"),  # identical: ignored
            transfer("D-2", amount=7),  # another body: rejected
            transfer("D-1"),  # identical again: ignored
        ]
        summary = (await post(funding, ndjson(rows), mode="partial")).json()
        assert (summary["created"], summary["ignored"], summary["rejected"]) == (2, 2, 1)
        assert failures(summary) == [(4, "external_id", "transfer.idempotency_conflict")]
        assert await count(db) == 2
        atomic = await post(funding, ndjson(rows))
        assert atomic.status_code == 422
        assert failures(atomic.json()) == [(4, "external_id", "transfer.idempotency_conflict")]

    async def test_concurrent_imports_of_overlapping_files_post_each_id_once(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        rows = [
            transfer(f"P-{i:04d}", amount=1000 + i, date=f"2023-{1 + i % 12:02d}-15")
            for i in range(600)
        ]
        files = [rows[:400], rows[200:], rows[100:500], rows]
        responses = await asyncio.gather(*(post(funding, ndjson(f)) for f in files))
        summaries = [r.json() for r in responses]
        assert all(r.status_code == 200 for r in responses), summaries
        assert sum(s["created"] for s in summaries) == 600
        assert sum(s["ignored"] for s in summaries) == sum(len(f) for f in files) - 600
        assert all(s["rejected"] == 0 for s in summaries)
        assert await count(db) == 600
        state = await ledger(db)
        assert sum(r[6] for r in state["monthly"]) == sum(r["amount"] for r in rows)
        assert sum(r[9] for r in state["monthly"]) == 600


class TestModes:
    BAD_CSV = (
        "external_id,unit,source,amount,date\n"
        f"V-1,{COMMUNE},NSTW-DT,1.250.000.000,12/04/2023\n"  # line 2: fine
        f"V-2,{COMMUNE},NSTW-DT,1.000.000,31/02/2023\n"  # line 3: no 31 February
        f'V-3,{COMMUNE},NSTW-DT,"12,5",12/04/2023\n'  # line 4: not a whole number
        f"V-4,{COMMUNE},NSTW-DT,1.5,12/04/2023\n"  # line 5: ambiguous
        f"V-5,99999,NSTW-DT,1.000,12/04/2023\n"  # line 6: no such unit
        f"V-6,{COMMUNE},XYZ,1.000,12/04/2023\n"  # line 7: no such source
        f"V-7,{COMMUNE},CD-TM,892.738,18/11/2023\n"  # line 8: fine
    )
    EXPECTED: ClassVar[list[tuple[int, str, str]]] = [
        (3, "date", "date.invalid"),
        (4, "amount", "number.not_integer"),
        (5, "amount", "number.ambiguous"),
        (6, "unit", "unit.not_found"),
        (7, "source", "source.unknown"),
    ]

    async def test_atomic_one_bad_row_imports_nothing_and_names_every_bad_row(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        response = await post(funding, self.BAD_CSV.encode(), CSV)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "import.rejected"
        assert failures(problem) == self.EXPECTED
        assert "31" in problem["errors"][0]["message_en"]
        assert problem["errors"][0]["message_vi"].startswith("Dòng 3")
        summary = problem["summary"]
        assert (summary["total"], summary["created"], summary["ignored"]) == (7, 0, 2)
        assert summary["rejected"] == 5
        assert await count(db) == 0
        async with db.engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM funding.accounts")) == 0

    async def test_partial_mode_posts_the_good_rows(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        response = await post(funding, self.BAD_CSV.encode(), CSV, mode="partial")
        assert response.status_code == 200
        summary = response.json()
        assert (summary["created"], summary["rejected"], summary["ignored"]) == (2, 5, 0)
        assert failures(summary) == self.EXPECTED
        posted = (await funding.get("/v1/transfers/by-external-id/V-7")).json()
        assert posted["amount"] == 892_738
        assert posted["date"] == "2023-11-18"

    async def test_dry_run_checks_everything_and_changes_nothing(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        before = await ledger(db)
        response = await post(funding, self.BAD_CSV.encode(), CSV, dry_run="true", mode="partial")
        assert response.status_code == 200
        summary = response.json()
        assert summary["dry_run"] is True
        assert (summary["created"], summary["rejected"]) == (2, 5)
        assert failures(summary) == self.EXPECTED
        good = await post(funding, ndjson(MIXED[:2]), dry_run="true")
        assert good.status_code == 200
        assert good.json()["created"] == 2
        assert await ledger(db) == before


class TestCsv:
    async def test_vietnamese_styles_in_force_and_in_kind(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        body = (
            "\ufeffExternal_id;Unit;Source;Amount;Date;Kind;Quantity;Quantity_unit;Households;Memo\r\n"
            f"CSV-1;{COMMUNE};NSTW-DT;1.250.000.000;12/04/2023;;;;;Đợt 1\r\n"
            f"CSV-2;{COMMUNE};CD-HV;;18/11/2023;land;1.200;m2;35;Hiến đất\r\n"
            f"CSV-3;{COMMUNE};CD-HV;;2023-11-18;labour;12,5;;;\r\n"
            ";;;;;;;;;\r\n"
        )
        response = await post(funding, body.encode(), "text/csv; charset=utf-8")
        assert response.status_code == 200, response.text
        assert (response.json()["total"], response.json()["created"]) == (3, 3)
        land = (await funding.get("/v1/transfers/by-external-id/CSV-2")).json()
        assert Decimal(land["quantity"]) == 1200
        assert land["amount"] == 1200 * land["rate_vnd"]
        assert land["households"] == 35
        labour = (await funding.get("/v1/transfers/by-external-id/CSV-3")).json()
        assert Decimal(labour["quantity"]) == Decimal("12.5")
        assert labour["amount"] == 12.5 * labour["rate_vnd"]
        # the same transfers as JSON are repeats, not conflicts: one fingerprint
        again = [
            transfer("CSV-1", memo="Đợt 1"),
            transfer(
                "CSV-2",
                source="CD-HV",
                amount=None,
                date="2023-11-18",
                kind="land",
                quantity=1200,
                quantity_unit="m2",
                households=35,
                memo="Hiến đất",
            ),
        ]
        summary = (await post(funding, ndjson(again))).json()
        assert (summary["ignored"], summary["created"]) == (2, 0)

    async def test_a_missing_column_is_refused_before_any_row(
        self, funding: httpx.AsyncClient
    ) -> None:
        response = await post(funding, b"external_id,unit,amount\nX,15592,1\n", CSV)
        assert response.status_code == 422
        assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
            ("source", "csv.column_missing"),
            ("date", "csv.column_missing"),
        ]


class TestRefusedBodies:
    async def test_wrong_type_empty_body_and_unknown_kind(self, funding: httpx.AsyncClient) -> None:
        wrong = await post(funding, b"{}", "application/json")
        assert wrong.status_code == 415
        assert wrong.json()["code"] == "import.unsupported_media_type"
        empty = await post(funding, b"\n\n")
        assert empty.status_code == 422
        assert empty.json()["code"] == "import.empty"
        unknown = await funding.post("/v1/imports/indicator-values", content=b"")
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "import.kind_unknown"

    async def test_odd_values_are_row_errors_not_server_errors(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        body = ndjson(
            [
                transfer("O-1", memo="a\u0000b"),
                transfer("O-2", source="X\u0000"),
                transfer("O-3", amount=True),
                transfer("O-4", kind="land", quantity="1" + "0" * 20, amount=None, source="CD-HV"),
                transfer("O-5", unit=15592, date=20230412),
            ]
        )
        problem = (await post(funding, body)).json()
        assert failures(problem) == [
            (1, "memo", "field.invalid"),
            (2, "source", "field.invalid"),
            (3, "amount", "field.invalid"),
            (4, "quantity", "field.invalid"),
            (5, "unit", "field.invalid"),
            (5, "date", "field.invalid"),
        ]
        assert await count(db) == 0

    async def test_malformed_lines_are_named(self, funding: httpx.AsyncClient) -> None:
        body = ndjson([transfer("J-1")]) + b'{"external_id": "J-2",\n[1]\n'
        summary = (await post(funding, body, mode="partial")).json()
        assert failures(summary) == [(2, None, "json.invalid"), (3, None, "json.not_object")]
        assert summary["created"] == 1


async def poll(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    for _ in range(400):
        job: dict[str, Any] = (await client.get(url)).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.025)
    raise AssertionError(f"job did not finish: {job}")


class TestJobs:
    async def test_a_large_body_is_a_job_with_progress_and_its_summary(
        self, funding: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(imports, "JOB_THRESHOLD_ROWS", 10)
        monkeypatch.setattr(imports, "PROGRESS_EVERY_S", 0.0)
        rows = [transfer(f"JOB-{i}", amount=10 + i) for i in range(50)]
        rows.append(transfer("JOB-BAD", unit="99999"))
        await post(funding, ndjson(rows[:3]))  # already posted: ignored by the job
        response = await post(funding, ndjson(rows), mode="partial")
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert response.headers["location"] == f"/v1/imports/jobs/{accepted['id']}"
        assert accepted["status"] in ("queued", "running")
        assert accepted["total"] == len(rows)
        job = await poll(funding, response.headers["location"])
        assert job["status"] == "succeeded", job
        assert job["processed"] == job["total"] == len(rows)
        assert (job["created"], job["ignored"], job["rejected"]) == (47, 3, 1)
        assert failures(job) == [(len(rows), "unit", "unit.not_found")]
        assert job["summary"]["created"] == 47
        assert job["started_at"]
        assert job["finished_at"]
        assert job["recorded_by"] == "test-central"  # the subject of the client's token
        assert await count(db, f"import_job_id = '{accepted['id']}'") == 47
        assert await count(db) == 50

    async def test_an_atomic_job_with_a_bad_row_fails_and_posts_nothing(
        self, funding: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(imports, "JOB_THRESHOLD_BYTES", 100)
        response = await post(funding, ndjson([transfer("A-1"), transfer("A-2", amount=1.5)]))
        assert response.status_code == 202
        job = await poll(funding, response.headers["location"])
        assert job["status"] == "failed"
        assert job["problem"]["code"] == "import.rejected"
        assert failures(job) == [(2, "amount", "field.invalid")]
        assert await count(db) == 0

    async def test_an_unknown_job_is_404(self, funding: httpx.AsyncClient) -> None:
        response = await funding.get("/v1/imports/jobs/00000000-0000-4000-8000-000000000000")
        assert response.status_code == 404
        assert response.json()["code"] == "import_job.not_found"


class TestRecordedBy:
    """Who recorded a transfer is the subject of the caller's token, whatever a header says."""

    async def test_a_transfer_records_the_token_subject(self, funding: httpx.AsyncClient) -> None:
        token = auth_headers("commune_officer", COMMUNE, subject="nguyen-van-a")
        posted = await funding.post(
            "/v1/transfers",
            json=transfer("WHO-1"),
            headers={**token, "X-Recorded-By": "someone-else"},
        )
        assert posted.status_code == 201, posted.text
        assert posted.json()["recorded_by"] == "nguyen-van-a"
        read = await funding.get(f"/v1/transfers/{posted.json()['id']}")
        assert read.json()["recorded_by"] == "nguyen-van-a"

    async def test_an_import_job_and_its_transfers_record_the_token_subject(
        self, funding: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(imports, "JOB_THRESHOLD_ROWS", 1)
        token = auth_headers("province_officer", "38", subject="ke-toan-tinh")
        rows = [transfer("WHO-2"), transfer("WHO-3")]
        response = await post(
            funding, ndjson(rows), headers={**token, "X-Recorded-By": "someone-else"}
        )
        assert response.status_code == 202, response.text
        assert response.json()["recorded_by"] == "ke-toan-tinh"
        job = await poll(funding, response.headers["location"])
        assert (job["status"], job["created"], job["recorded_by"]) == (
            "succeeded",
            2,
            "ke-toan-tinh",
        )
        assert await count(db, "recorded_by = 'ke-toan-tinh'") == 2


REFERENCE = imports.Reference(
    units={
        COMMUNE: [UnitValidity(1, "38", None, date(2025, 6, 30))],
        "38": [UnitValidity(3, "38", date(2025, 7, 1), None), UnitValidity(2, "38", None, None)],
    },
    sources={
        "NSTW-DT": SourceValidity(False, None, None),
        "NSH": SourceValidity(False, None, date(2025, 6, 30)),
        "CD-HV": SourceValidity(True, None, None),
    },
    today=date(2026, 1, 1),
)


class TestRowChecks:
    """The per-row checks in Python, without the database."""

    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**16), max_value=10**16),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=6),
        st.sampled_from(
            [
                COMMUNE,
                "38",
                " 15592",
                "NSTW-DT",
                "NSH",
                "CD-HV",
                "X-1",
                "X 1",
                "2023-04-12",
                "12/04/2023",
                "2025-08-01",
                "2023-04-12T00:00:00",
                "2019-01-01",
                "receipt",
                "pledge",
                "reversal",
                "ntm",
                "nuoc-sach",
                1_250_000_000,
                10**15,
                10**15 + 1,
                "a\x00b",
                "",
                [],
            ]
        ),
    )
    rows = st.fixed_dictionaries(
        {
            "external_id": st.one_of(st.sampled_from(["X-1", "XM-2023/01", "é-1"]), values),
            "unit": values,
            "source": values,
            "amount": values,
            "date": values,
        },
        optional={
            "type": values,
            "purpose": values,
            "memo": values,
            "kind": values,
            "other": values,
        },
    )

    @settings(max_examples=600)
    @given(raw=rows)
    def test_the_fast_path_agrees_with_the_full_checks(self, raw: dict[str, Any]) -> None:
        full = imports._checked(7, raw, ImportFormat.ndjson, REFERENCE)
        fast = imports._fast_json(7, raw, REFERENCE)
        if fast is not None:
            assert fast == full
        if isinstance(full, list):
            assert full
            assert all(e.line == 7 and e.field for e in full)

    @settings(max_examples=300)
    @given(raw=rows)
    def test_the_fingerprint_is_the_single_posts(self, raw: dict[str, Any]) -> None:
        record = imports.convert(3, raw, ImportFormat.ndjson, REFERENCE)
        if isinstance(record, list):
            return
        body = TransferIn.model_validate(raw)
        assert record[2] == fingerprint(body.model_dump(mode="json"))

    def test_today_bounds_the_dates(self) -> None:
        tomorrow = (REFERENCE.today + timedelta(days=1)).isoformat()
        record = imports.convert(1, transfer("T-1", date=tomorrow), ImportFormat.ndjson, REFERENCE)
        assert not isinstance(record, list)
        assert record[3] == "date.in_future"
