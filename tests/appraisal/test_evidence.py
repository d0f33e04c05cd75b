"""Evidence files over REST: upload (type from the bytes, size limit, content-addressed and
stored once), listing, download within the actor's scope, the audit chain, and the lock
against the level that does not hold the dossier.

Every test that uploads runs twice, once per store: a local folder, and an S3 bucket. The S3
peer is moto's standalone server (`ThreadedMotoServer`) on a free loopback port: a real HTTP
server speaking the S3 API, standing where MinIO or AWS would. It is the store's counterpart,
not a mock of our code: `S3Store` goes through boto3, request signing, HTTP and the server's
SHA-256 checksum check exactly as it does in production."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from fastapi import FastAPI
from moto.server import ThreadedMotoServer
from pydantic import ValidationError
from sqlalchemy import text

from services.appraisal.storage import LocalStore, S3Store, key_of, store_for
from shared.db import Database
from shared.settings import Settings
from tests.appraisal.test_dossiers_api import (
    COMMUNE,
    H_COMMUNE,
    H_DISTRICT,
    H_OTHER_DISTRICT,
    H_PROVINCE,
    act,
    create,
    ok,
)
from tests.conftest import auth_headers

PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def pdf_bytes() -> bytes:
    """A (minimal) PDF unique to the call, so tests never share a blob."""
    return b"%PDF-1.4\n% " + os.urandom(16).hex().encode() + b"\n%%EOF\n"


def xlsx_bytes() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["Tiêu chí", "Đạt"])  # type: ignore[union-attr]
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def docx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


Store = LocalStore | S3Store


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free port of the loopback interface, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_settings(settings: Settings, endpoint: str, bucket: str, folder: Path) -> Settings:
    return Settings(
        database_url=settings.database_url,
        env=settings.env,
        evidence_store="s3",
        evidence_dir=folder,
        evidence_s3_endpoint_url=endpoint,
        evidence_s3_bucket=bucket,
        evidence_s3_region="ap-southeast-1",
        evidence_s3_access_key="ntm-test",
        evidence_s3_secret_key="ntm-test-secret",
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, appraisal_app: FastAPI, tmp_path: Path) -> Store:
    """The app's evidence store, of this test's own: a folder, or a new bucket on the S3
    server with the app configured for it (`NTM_EVIDENCE_STORE=s3`)."""
    if request.param == "local":
        local = LocalStore(tmp_path / "evidence")
        appraisal_app.state.evidence_store = local
        return local
    endpoint: str = request.getfixturevalue("s3_endpoint")
    bucket = f"ntm-evidence-{uuid.uuid4().hex[:12]}"
    settings = s3_settings(appraisal_app.state.settings, endpoint, bucket, tmp_path / "evidence")
    s3 = store_for(settings)
    assert isinstance(s3, S3Store)
    s3.client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"}
    )
    appraisal_app.state.settings = settings
    appraisal_app.state.evidence_store = s3
    return s3


def stored_keys(store: Store) -> list[str]:
    """What the store holds, as keys relative to it (`aa/bb/<sha256>`)."""
    if isinstance(store, LocalStore):
        return sorted(
            str(p.relative_to(store.root))
            for p in store.root.rglob("*")
            if p.is_file() and ".staging" not in p.parts
        )
    listed = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(o["Key"] for o in listed.get("Contents", []))


async def stored_bytes(store: Store, sha256: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(sha256)])


@pytest.fixture
async def dossier(appraisal: httpx.AsyncClient, store: Store) -> str:
    out: str = (await create(appraisal))["id"]
    return out


async def upload(
    appraisal: httpx.AsyncClient,
    dossier: str,
    data: bytes,
    headers: dict[str, str],
    *,
    name: str = "bien-ban.pdf",
    declared: str = PDF,
    **fields: Any,
) -> httpx.Response:
    return await appraisal.post(
        f"/v1/dossiers/{dossier}/evidence",
        files={"file": (name, data, declared)},
        data={k: str(v) for k, v in fields.items()},
        headers=headers,
    )


def problem_field(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["message_vi"]
    assert body["message_en"]
    return body


class TestUpload:
    async def test_an_upload_is_hashed_listed_and_recorded_in_the_audit_chain(
        self, appraisal: httpx.AsyncClient, dossier: str, store: Store
    ) -> None:
        data = pdf_bytes()
        response = await upload(
            appraisal, dossier, data, H_COMMUNE, name="Biên bản họp.pdf", criterion=2,
            indicator="2.1",
        )  # fmt: skip
        assert response.status_code == 201, response.text
        body = response.json()
        digest = hashlib.sha256(data).hexdigest()
        assert body["sha256"] == digest
        assert (body["content_type"], body["size"]) == (PDF, len(data))
        assert (body["criterion"], body["indicator"]) == (2, "2.1")
        assert body["filename"] == "Biên bản họp.pdf"
        assert body["created"] is True
        assert stored_keys(store) == [key_of(digest)]
        assert await stored_bytes(store, digest) == data

        listed = await appraisal.get(f"/v1/dossiers/{dossier}/evidence", headers=H_COMMUNE)
        assert [e["sha256"] for e in listed.json()["items"]] == [digest]
        timeline = (await appraisal.get(f"/v1/dossiers/{dossier}/timeline")).json()["items"]
        added = timeline[-1]["entry"]
        assert added["action"] == "evidence.added"
        assert added["after"]["sha256"] == digest
        verified = (await appraisal.get(f"/v1/dossiers/{dossier}/timeline/verify")).json()
        assert verified["intact"] is True

    async def test_the_same_bytes_are_stored_once_for_many_dossiers(
        self, appraisal: httpx.AsyncClient, dossier: str, store: Store, db: Database
    ) -> None:
        other = (await create(appraisal, title="xa-ntm", year=2024))["id"]
        data = pdf_bytes()
        digest = hashlib.sha256(data).hexdigest()
        first = await upload(appraisal, dossier, data, H_COMMUNE)
        second = await upload(appraisal, other, data, H_COMMUNE, name="ban-sao.pdf")
        assert (first.status_code, second.status_code) == (201, 201)
        again = await upload(appraisal, dossier, data, H_COMMUNE)
        assert again.status_code == 200
        assert again.json()["created"] is False
        assert again.json()["id"] == first.json()["id"]

        assert stored_keys(store) == [key_of(digest)]
        assert not any(store.staging.iterdir())
        async with db.engine.connect() as conn:
            blobs = await conn.execute(
                text("SELECT count(*) FROM appraisal.evidence_blobs WHERE sha256 = :h"),
                {"h": digest},
            )
            cites = await conn.execute(
                text("SELECT count(*) FROM appraisal.evidence WHERE sha256 = :h"), {"h": digest}
            )
            assert (blobs.scalar_one(), cites.scalar_one()) == (1, 2)
        # the repeated upload added no audit entry
        timeline = (await appraisal.get(f"/v1/dossiers/{dossier}/timeline")).json()["items"]
        assert [e["entry"]["action"] for e in timeline].count("evidence.added") == 1

    async def test_office_files_are_recognised_from_their_contents(
        self, appraisal: httpx.AsyncClient, dossier: str
    ) -> None:
        sheet = await upload(
            appraisal, dossier, xlsx_bytes(), H_COMMUNE, name="bang.xlsx", declared="text/plain"
        )
        assert sheet.status_code == 201, sheet.text
        assert sheet.json()["content_type"] == XLSX
        doc = await upload(appraisal, dossier, docx_bytes(), H_COMMUNE, name="to-trinh.docx")
        assert doc.status_code == 201, doc.text
        assert doc.json()["content_type"] == DOCX

    async def test_a_file_over_the_limit_is_a_413_naming_the_field(
        self, appraisal: httpx.AsyncClient, appraisal_app: FastAPI, dossier: str
    ) -> None:
        settings = appraisal_app.state.settings
        appraisal_app.state.settings = settings.model_copy(update={"evidence_max_bytes": 1000})
        small = await upload(appraisal, dossier, pdf_bytes(), H_COMMUNE)
        assert small.status_code == 201
        big = b"%PDF-1.4\n" + b"0" * 2000
        body = problem_field(await upload(appraisal, dossier, big, H_COMMUNE), 413)
        assert body["code"] == "evidence.too_large"
        assert [e["field"] for e in body["errors"]] == ["file"]
        # refused from Content-Length alone, before the body is read
        huge = b"%PDF-1.4\n" + b"0" * 200_000
        body = problem_field(await upload(appraisal, dossier, huge, H_COMMUNE), 413)
        assert "file" in body["message_vi"]

    async def test_a_file_of_several_mib_passes_the_services_body_limit(
        self, appraisal: httpx.AsyncClient, dossier: str, store: Store
    ) -> None:
        # over NTM_REST_MAX_BODY_BYTES (1 MiB): the upload route has the evidence's own limit
        data = pdf_bytes()[:-7] + b"%" + b"0" * (3 * 1024 * 1024) + b"\n%%EOF\n"
        response = await upload(appraisal, dossier, data, H_COMMUNE)
        assert response.status_code == 201, response.text
        assert response.json()["size"] == len(data)

    async def test_a_type_outside_the_allow_list_is_a_415_whatever_it_claims(
        self, appraisal: httpx.AsyncClient, dossier: str, store: Store
    ) -> None:
        for data in (b"MZ\x90\x00 not a pdf", b"PK\x03\x04 broken zip", b""):
            body = problem_field(
                await upload(appraisal, dossier, data, H_COMMUNE, name="a.pdf", declared=PDF), 415
            )
            assert body["code"] == "evidence.unsupported_type"
            assert [e["field"] for e in body["errors"]] == ["file"]
        assert not any(store.staging.iterdir())
        assert stored_keys(store) == []
        listed = await appraisal.get(f"/v1/dossiers/{dossier}/evidence", headers=H_COMMUNE)
        assert listed.json()["items"] == []

    async def test_bad_form_fields_are_a_422_naming_the_field(
        self, appraisal: httpx.AsyncClient, dossier: str
    ) -> None:
        for fields, field in (
            ({"criterion": "0"}, "criterion"),
            ({"criterion": "abc"}, "criterion"),
            ({"indicator": "a b/c"}, "indicator"),
        ):
            response = await upload(appraisal, dossier, pdf_bytes(), H_COMMUNE, **fields)
            body = problem_field(response, 422)
            assert [e["field"] for e in body["errors"]] == [field]
        missing = await appraisal.post(
            f"/v1/dossiers/{dossier}/evidence", data={"criterion": "1"}, headers=H_COMMUNE
        )
        assert [e["field"] for e in problem_field(missing, 422)["errors"]] == ["file"]
        garbled = await appraisal.post(
            f"/v1/dossiers/{dossier}/evidence",
            content=b"--x\r\nnot a part",
            headers={**H_COMMUNE, "Content-Type": "multipart/form-data; boundary=x"},
        )
        assert 400 <= garbled.status_code < 500
        no_token = await upload(appraisal, dossier, pdf_bytes(), {"Authorization": ""})
        assert problem_field(no_token, 401)["code"] == "auth.token_missing"

    async def test_an_upload_is_refused_while_another_level_holds_the_dossier(
        self, appraisal: httpx.AsyncClient, dossier: str
    ) -> None:
        locked = await upload(appraisal, dossier, pdf_bytes(), H_DISTRICT)
        assert problem_field(locked, 403)["code"] == "dossier.locked"
        outside = await upload(appraisal, dossier, pdf_bytes(), H_OTHER_DISTRICT)
        assert problem_field(outside, 403)["code"] == "dossier.out_of_scope"
        await ok(await act(appraisal, dossier, "withdraw", H_COMMUNE), "withdrawn")
        closed = await upload(appraisal, dossier, pdf_bytes(), H_COMMUNE)
        assert problem_field(closed, 403)["code"] == "dossier.locked"
        missing = await upload(
            appraisal, "00000000-0000-0000-0000-000000000000", pdf_bytes(), H_COMMUNE
        )
        assert problem_field(missing, 404)["code"] == "dossier.not_found"


class TestDownload:
    async def test_a_file_is_served_with_its_checked_type_within_scope_only(
        self, appraisal: httpx.AsyncClient, dossier: str
    ) -> None:
        data = pdf_bytes()
        digest = (await upload(appraisal, dossier, data, H_COMMUNE, name="Tờ trình.pdf")).json()[
            "sha256"
        ]
        for headers in (H_COMMUNE, H_DISTRICT, H_PROVINCE, auth_headers("central_officer")):
            got = await appraisal.get(f"/v1/evidence/{digest}", headers=headers)
            assert got.status_code == 200, got.text
            assert got.content == data
            assert got.headers["content-type"] == PDF
            assert got.headers["x-content-type-options"] == "nosniff"
            assert "attachment" in got.headers["content-disposition"]
        refused = await appraisal.get(f"/v1/evidence/{digest}", headers=H_OTHER_DISTRICT)
        assert problem_field(refused, 403)["code"] == "dossier.out_of_scope"
        listing = await appraisal.get(f"/v1/dossiers/{dossier}/evidence", headers=H_OTHER_DISTRICT)
        assert listing.status_code == 403
        unknown = await appraisal.get(f"/v1/evidence/{'0' * 64}", headers=H_COMMUNE)
        assert problem_field(unknown, 404)["code"] == "evidence.not_found"
        bad = await appraisal.get("/v1/evidence/not-a-digest", headers=H_COMMUNE)
        assert bad.status_code == 422
        assert COMMUNE in (await appraisal.get(f"/v1/dossiers/{dossier}")).json()["unit"]["code"]


class TestS3Configuration:
    def test_the_s3_store_needs_its_bucket_and_credentials(self, tmp_path: Path) -> None:
        with pytest.raises(ValidationError) as refused:
            Settings(evidence_store="s3", evidence_s3_access_key="a", evidence_s3_secret_key="")
        message = str(refused.value)
        assert "NTM_EVIDENCE_S3_BUCKET" in message
        assert "NTM_EVIDENCE_S3_SECRET_KEY" in message
        assert "NTM_EVIDENCE_S3_ACCESS_KEY" not in message
        with pytest.raises(ValidationError) as no_bucket:
            Settings(evidence_store="s3", evidence_s3_access_key="a",
                     evidence_s3_secret_key="do-not-echo")  # fmt: skip
        assert "do-not-echo" not in str(no_bucket.value)
        configured = s3_settings(Settings(), "http://127.0.0.1:9", "b-1", tmp_path)
        assert "ntm-test-secret" not in repr(configured)
        assert isinstance(store_for(configured), S3Store)
        assert isinstance(store_for(Settings(evidence_dir=tmp_path)), LocalStore)

    async def test_an_unreachable_store_is_a_503_and_records_nothing(
        self, appraisal: httpx.AsyncClient, appraisal_app: FastAPI, tmp_path: Path
    ) -> None:
        with socket.socket() as probe:  # a loopback port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        settings = s3_settings(
            appraisal_app.state.settings, f"http://127.0.0.1:{port}", "nowhere", tmp_path
        )
        appraisal_app.state.settings = settings
        appraisal_app.state.evidence_store = store_for(settings)
        dossier = (await create(appraisal))["id"]
        body = problem_field(await upload(appraisal, dossier, pdf_bytes(), H_COMMUNE), 503)
        assert body["code"] == "evidence.store_unavailable"
        assert not any((tmp_path / ".staging").iterdir())
        listed = await appraisal.get(f"/v1/dossiers/{dossier}/evidence", headers=H_COMMUNE)
        assert listed.json()["items"] == []
