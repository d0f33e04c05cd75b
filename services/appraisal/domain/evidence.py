"""What an evidence file is, judged from its bytes (never from the name or the header the
client sent), and a safe file name to show for it."""

from __future__ import annotations

import re
import unicodedata
import zipfile
from typing import IO

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

SNIFF_BYTES = 16


def detect(head: bytes, body: IO[bytes]) -> str | None:
    """The content type of a file from its first bytes (`head`) and, for the Office Open XML
    formats (zip containers), its table of contents read through `body` (seekable)."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"PK\x03\x04"):
        try:
            body.seek(0)
            with zipfile.ZipFile(body) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        if "[Content_Types].xml" not in names:
            return None
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
    return None


def clean_filename(raw: str | None) -> str:
    """NFC, the last path component only, no control characters, at most 200 characters."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:200] or "evidence"
