"""Posting rules: periods, the accounts a kind of transfer moves between, in-kind valuation and
the idempotency fingerprint of a request (shared.idempotency's, re-exported for the ledger's
callers). Pure functions, no I/O."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from services.funding.models import AccountRole, Period, Stage, TransferKind
from shared.idempotency import fingerprint as fingerprint

PROGRAMME_START = date(2021, 1, 1)
PERIOD_2026_START = date(2026, 1, 1)
PROGRAMME_END = date(2030, 12, 31)


def period_of(day: date) -> Period:
    """The programme period a value date falls in (the caller checks the programme bounds)."""
    return Period.p2021 if day < PERIOD_2026_START else Period.p2026


def in_programme(day: date) -> bool:
    return PROGRAMME_START <= day <= PROGRAMME_END


def sides(kind: TransferKind, *, from_pledge: bool = False) -> tuple[AccountRole, AccountRole]:
    """(debit role, credit role) of a posting of `kind`; a reversal swaps its original's."""
    if kind is TransferKind.pledge:
        return AccountRole.pledged, AccountRole.contributor
    if kind is TransferKind.receipt:
        return AccountRole.fund, AccountRole.pledged if from_pledge else AccountRole.contributor
    if kind is TransferKind.disbursement:
        return AccountRole.work, AccountRole.fund
    if kind is TransferKind.settlement:
        return AccountRole.settled, AccountRole.work
    raise ValueError("a reversal takes its sides from the transfer it reverses")


def stage_of(kind: TransferKind) -> Stage:
    return Stage(kind.value)


def needs_work(kind: TransferKind) -> bool:
    return kind in (TransferKind.disbursement, TransferKind.settlement)


def in_kind_value(quantity: Decimal, rate_vnd: int) -> int:
    """The money value of a gift: quantity × rate, rounded half up to the đồng."""
    return int((quantity * rate_vnd).to_integral_value(rounding=ROUND_HALF_UP))
