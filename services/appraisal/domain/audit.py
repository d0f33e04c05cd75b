"""The tamper-evident audit timeline of a dossier: an append-only hash chain.

Each entry's hash is SHA-256 over the previous entry's hash and a canonical JSON form of the
entry (sorted keys, no whitespace, ISO dates). Changing, removing or reordering any entry
breaks every later link; `verify` names the first broken one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = bytes(32)


def canonical(entry: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8, non-JSON values (dates, UUIDs) as their strings."""
    return json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def link(previous: bytes, entry: Mapping[str, Any]) -> bytes:
    """The hash of `entry` chained after `previous`."""
    return hashlib.sha256(previous + canonical(entry)).digest()


@dataclass(frozen=True)
class Broken:
    seq: int
    reason: str


def verify(entries: Iterable[tuple[int, Mapping[str, Any], bytes, bytes]]) -> Broken | None:
    """Check (seq, entry, prev_hash, hash) rows in order; the first broken link, or None."""
    previous = GENESIS
    expected_seq = 1
    for seq, entry, prev_hash, stored in entries:
        if seq != expected_seq:
            return Broken(seq, f"expected entry {expected_seq}, found {seq} (entry missing)")
        if prev_hash != previous:
            return Broken(seq, "does not point at the previous entry")
        if link(previous, entry) != stored:
            return Broken(seq, "content does not match its hash (altered)")
        previous = stored
        expected_seq += 1
    return None
