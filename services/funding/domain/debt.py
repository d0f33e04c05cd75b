"""Works and their construction debt ("nợ đọng xây dựng cơ bản"): the kinds of works, the
criteria a work may serve, and the debt that recognition condition 3 (QĐ 18/2022) needs to be
zero. Pure functions, no I/O.

Definition of the debt of a work as of a date D:

- obligation(D) = max(Σ contract amounts dated ≤ D, Σ acceptance amounts dated ≤ D): what the
  unit owes is at least the contract value signed, and more when the accepted volumes
  (nghiệm thu) exceed it. Corrections of obligations are rows with the opposite amount, so
  they enter the sums as negatives, on the date of the row they correct;
- paid(D) = Σ disbursements to the work with value date ≤ D, signed (a reversal of a
  disbursement keeps its original's date and subtracts);
- debt(D) = max(0, obligation(D) − paid(D)): an overpayment is no debt (and not a credit that
  would hide another work's debt);
- the debt of a unit (and everything below it) is the sum over its works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from services.funding.models import ObligationBasis

# The vocabulary of work kinds: code -> (Vietnamese label, English label). Codes are stable
# and part of the API; labels may be refined. `other` catches what fits nowhere else.
WORK_KINDS: dict[str, tuple[str, str]] = {
    "road": ("Đường giao thông", "Road"),
    "bridge": ("Cầu, cống", "Bridge or culvert"),
    "irrigation": ("Công trình thủy lợi, kênh mương", "Irrigation works, canals"),
    "electricity": ("Công trình điện", "Electricity network"),
    "school": ("Trường học", "School"),
    "health": ("Trạm y tế", "Health station"),
    "culture": ("Nhà văn hóa, khu thể thao", "Cultural house, sports ground"),
    "market": ("Chợ, hạ tầng thương mại", "Market, commercial infrastructure"),
    "water": ("Công trình cấp nước sạch", "Clean water supply system"),
    "environment": (
        "Công trình môi trường (thu gom, xử lý rác thải, nước thải)",
        "Environmental works (waste collection, waste water treatment)",
    ),
    "telecom": ("Hạ tầng thông tin, truyền thông", "Information and communication"),
    "other": ("Công trình khác", "Other works"),
}


def kind_label(kind: str) -> tuple[str, str]:
    """(Vietnamese, English) label of a work kind; an unknown code is shown as itself."""
    return WORK_KINDS.get(kind, (kind, kind))


CriterionProblem = Literal["set_unknown", "number_out_of_range"]


def base_set(set_code: str) -> str:
    """The national set a province-tailored one derives from (`xa-ntm-2021@38` → `xa-ntm-2021`)."""
    return set_code.split("@", 1)[0]


def check_criterion(
    set_code: str, number: int, criteria: Mapping[str, Mapping[int, str]]
) -> CriterionProblem | None:
    """Whether `number` is a criterion of `set_code` (or of the national set a provincial one
    derives from), given the criteria of each set; None when it is."""
    numbers = criteria.get(base_set(set_code))
    if numbers is None:
        return "set_unknown"
    if number not in numbers:
        return "number_out_of_range"
    return None


@dataclass(frozen=True, slots=True)
class Obligation:
    """A contract value or an accepted volume on a work (negative for a correction)."""

    basis: ObligationBasis
    amount: int
    date: date


@dataclass(frozen=True, slots=True)
class Payment:
    """A disbursement to a work, signed: a reversal is negative and keeps its original's date."""

    amount: int
    date: date


@dataclass(frozen=True, slots=True)
class WorkDebt:
    contract: int
    acceptance: int
    paid: int

    @property
    def obligation(self) -> int:
        return max(self.contract, self.acceptance)

    @property
    def debt(self) -> int:
        return max(0, self.obligation - self.paid)


def work_debt(
    obligations: Iterable[Obligation], payments: Iterable[Payment], as_of: date | None
) -> WorkDebt:
    """The debt figures of one work as of `as_of` (everything recorded when None)."""

    def counts(day: date) -> bool:
        return as_of is None or day <= as_of

    contract = acceptance = 0
    for o in obligations:
        if not counts(o.date):
            continue
        if o.basis is ObligationBasis.contract:
            contract += o.amount
        else:
            acceptance += o.amount
    paid = sum(p.amount for p in payments if counts(p.date))
    return WorkDebt(contract=contract, acceptance=acceptance, paid=paid)


def unit_debt(works: Iterable[WorkDebt]) -> int:
    """The construction debt of a unit: the sum of its works' debts (never netted between
    works)."""
    return sum(w.debt for w in works)
