"""Benchmarks (`make bench`): each reports ratios against a reference measured in the same run."""

from __future__ import annotations

from shared.auth import mint_local_token
from shared.settings import Settings


def auth_headers(settings: Settings) -> dict[str, str]:
    """A central officer's token signed with the local key the benchmarked apps verify with
    (`<data dir>/auth`, shared with a `ntm serve` child started in the same folder)."""
    token = mint_local_token(
        settings, role="central_officer", unit=None, ttl_s=24 * 3600, subject="bench"
    )
    return {"Authorization": f"Bearer {token}"}
