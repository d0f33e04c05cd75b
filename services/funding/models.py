"""The funding service's vocabulary (schema `funding`).

The tables themselves are defined by the migrations (`migrations/versions/`), which hold the
ledger's invariants as constraints and triggers; this module names their enumerated values.
"""

from __future__ import annotations

from enum import StrEnum

SCHEMA = "funding"


class TransferKind(StrEnum):
    """What a posting records. The lifecycle is pledged → received → disbursed → settled."""

    pledge = "pledge"  # cam kết: committed, not yet received
    receipt = "receipt"  # đã huy động: received (or given in kind)
    disbursement = "disbursement"  # đã giải ngân: paid out to a work
    settlement = "settlement"  # đã quyết toán: settled on a work
    reversal = "reversal"  # bút toán đảo: cancels one earlier posting


class Stage(StrEnum):
    pledge = "pledge"
    receipt = "receipt"
    disbursement = "disbursement"
    settlement = "settlement"


class AccountRole(StrEnum):
    contributor = "contributor"
    pledged = "pledged"
    fund = "fund"
    work = "work"
    settled = "settled"


class Period(StrEnum):
    p2021 = "2021-2025"
    p2026 = "2026-2030"


class ObligationBasis(StrEnum):
    contract = "contract"  # hợp đồng
    acceptance = "acceptance"  # khối lượng nghiệm thu


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
