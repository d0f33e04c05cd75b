"""Idempotency-Key on writes (contract.md, REST conventions): the same key with the same body
returns the first result; with another body, 409.

A service keeps that promise in one of two ways, both judging "the same body" by `fingerprint`:
- on the row the write creates, when a write makes exactly one row: funding's transfers and
  obligations keep their key (`external_id`, `idempotency_key`) and `body_hash` in the row;
- with the first answer itself, in `<schema>.idempotency_keys` (`shared.replay`), when a
  write's result is not one row: an appraisal action moves a dossier, appends to its audit
  chain and may sign a decision.

Pure (no I/O, no web framework), so the services' domain code may use it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

KEY_PATTERN = r"^[\w][\w.:/\-]{0,99}$"
"""What an Idempotency-Key may be: up to 100 word characters, dots, colons, slashes, dashes."""


def fingerprint(body: Mapping[str, Any]) -> bytes:
    """SHA-256 of a canonical form of a request (sorted keys, no whitespace, no nulls)."""
    canonical = {k: v for k, v in body.items() if v is not None}
    return hashlib.sha256(
        orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS, default=str)
    ).digest()
