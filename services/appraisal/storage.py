"""The evidence store: bytes named by their SHA-256, written once however often cited.

`EvidenceStore` is what the service needs; `LocalStore` keeps the files in a folder
(`<root>/<aa>/<bb>/<sha256>`, staged in `<root>/.staging` on the same file system so the final
rename is atomic). An S3-compatible implementation would stage the same way and `put` with the
digest as the key; it is not written yet (see `Settings.evidence_store`)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from shared.settings import Settings

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


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / ".staging"

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def stage(self, source: IO[bytes], limit: int) -> Staged:
        self.staging.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        head = b""
        fd, name = tempfile.mkstemp(dir=self.staging, prefix="upload-")
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


def store_for(settings: Settings) -> EvidenceStore:
    return LocalStore(settings.evidence_path)
