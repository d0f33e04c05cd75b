"""The evidence store: bytes named by their SHA-256, written once however often cited.

`EvidenceStore` is what the service needs. An upload is first staged in a local folder (hashed
while copied, refused past the size limit) because its digest, which names it, and its type,
judged from the bytes, are known only once it is whole; `commit` then puts it in the store.
`LocalStore` keeps the files in a folder (`<root>/<aa>/<bb>/<sha256>`, staged in
`<root>/.staging` on the same file system so the final rename is atomic); `S3Store` keeps them
in an S3-compatible bucket under the same key, `Settings.evidence_store` chooses."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from services.appraisal.errors import EvidenceStoreUnavailable
from shared.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 1024 * 1024


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Staged:
    """An upload copied aside, with its digest and size, not yet in the store."""

    path: Path
    sha256: str
    size: int
    head: bytes


class EvidenceStore(Protocol):
    def stage(self, source: IO[bytes], limit: int) -> Staged:
        """Copy `source` aside in chunks, hashing as it goes; TooLarge past `limit` bytes."""
        ...

    def commit(self, staged: Staged) -> bool:
        """Put the staged file under its digest; False when those bytes were stored already."""
        ...

    def discard(self, staged: Staged) -> None: ...

    def exists(self, sha256: str) -> bool: ...

    def read(self, sha256: str) -> AsyncIterator[bytes]: ...


def key_of(sha256: str) -> str:
    """Where a digest's bytes live, relative to the store: two levels of fan-out."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def stage_in(folder: Path, source: IO[bytes], limit: int) -> Staged:
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(limit)
                if len(head) < 16:
                    head = (head + chunk)[:16]
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Staged(path=path, sha256=digest.hexdigest(), size=size, head=head)


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / ".staging"

    def path_of(self, sha256: str) -> Path:
        return self.root / key_of(sha256)

    def stage(self, source: IO[bytes], limit: int) -> Staged:
        return stage_in(self.staging, source, limit)

    def commit(self, staged: Staged) -> bool:
        target = self.path_of(staged.sha256)
        if target.exists():
            staged.path.unlink(missing_ok=True)
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged.path, 0o444)
        os.replace(staged.path, target)
        return True

    def discard(self, staged: Staged) -> None:
        staged.path.unlink(missing_ok=True)

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    async def read(self, sha256: str) -> AsyncIterator[bytes]:
        fh = await asyncio.to_thread(self.path_of(sha256).open, "rb")
        try:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                yield chunk
        finally:
            with contextlib.suppress(OSError):
                fh.close()


class S3Store:
    """Evidence in a bucket of an S3-compatible store (boto3, its calls run in threads like the
    local store's file calls).

    `commit` asks whether the key exists before it puts: two replicas racing on the same new
    bytes may both put them, which is harmless since the key is the content's digest. The put
    carries the SHA-256 checksum, so a store that checks it (AWS, MinIO) refuses bytes damaged
    on the way."""

    def __init__(self, client: S3Client, bucket: str, staging: Path) -> None:
        self.client = client
        self.bucket = bucket
        self.staging = staging

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        secret = settings.evidence_s3_secret_key
        # both checked by Settings when the store is s3
        assert settings.evidence_s3_bucket is not None
        assert secret is not None
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.evidence_s3_endpoint_url,
            region_name=settings.evidence_s3_region,
            aws_access_key_id=settings.evidence_s3_access_key,
            aws_secret_access_key=secret.get_secret_value(),
            config=Config(
                s3={"addressing_style": settings.evidence_s3_addressing_style},
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
        return cls(client, settings.evidence_s3_bucket, settings.evidence_path / ".staging")

    def stage(self, source: IO[bytes], limit: int) -> Staged:
        return stage_in(self.staging, source, limit)

    def commit(self, staged: Staged) -> bool:
        try:
            if self._exists(staged.sha256):
                return False
            checksum = base64.b64encode(bytes.fromhex(staged.sha256)).decode()
            with staged.path.open("rb") as body:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key_of(staged.sha256),
                    Body=body,
                    ContentLength=staged.size,
                    ChecksumSHA256=checksum,
                )
        except (BotoCoreError, ClientError) as exc:
            raise EvidenceStoreUnavailable(_reason(exc)) from exc
        finally:
            staged.path.unlink(missing_ok=True)
        return True

    def discard(self, staged: Staged) -> None:
        staged.path.unlink(missing_ok=True)

    def _exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key_of(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def exists(self, sha256: str) -> bool:
        try:
            return self._exists(sha256)
        except (BotoCoreError, ClientError) as exc:
            raise EvidenceStoreUnavailable(_reason(exc)) from exc

    async def read(self, sha256: str) -> AsyncIterator[bytes]:
        obj = await asyncio.to_thread(
            self.client.get_object, Bucket=self.bucket, Key=key_of(sha256)
        )
        body = obj["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return type(exc).__name__


def store_for(settings: Settings) -> EvidenceStore:
    if settings.evidence_store == "s3":
        return S3Store.from_settings(settings)
    return LocalStore(settings.evidence_path)
