"""The four recognition conditions of QĐ 18/2022 (domain.md §4), checked on frozen evidence.

(1) the unit meets its criteria set in full (the criteria service's evaluation, snapshotted
with its hash); (2) residents' satisfaction reaches the threshold; (3) no outstanding
construction debt under the programme (the funding service's figure); (4) no complicated
security situation (an attestation recorded on the dossier). A failing or missing piece of
evidence blocks the decision and says which condition and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.vn import format_vn_number, format_vnd


@dataclass(frozen=True)
class EvaluationEvidence:
    meets_standard: bool
    criteria_met: int
    criteria_total: int
    unknown_criteria: int
    snapshot_hash: str


@dataclass(frozen=True)
class SatisfactionEvidence:
    households_surveyed: int
    households_total: int | None
    satisfied_share: Decimal  # 0..1


@dataclass(frozen=True)
class DebtEvidence:
    total_vnd: int
    as_of: date


@dataclass(frozen=True)
class SecurityEvidence:
    stable: bool
    attested_by: str
    attested_on: date


@dataclass(frozen=True)
class ConditionResult:
    number: int
    code: str
    met: bool
    message_vi: str
    message_en: str


def _pct(share: Decimal) -> str:
    return format_vn_number(share * 100, 2) + "%"


def check_conditions(
    *,
    evaluation: EvaluationEvidence | None,
    satisfaction: SatisfactionEvidence | None,
    debt: DebtEvidence | None,
    security: SecurityEvidence | None,
    satisfaction_threshold: Decimal,
    survey_coverage: Decimal | None = None,
) -> list[ConditionResult]:
    out: list[ConditionResult] = []
    if evaluation is None:
        out.append(
            ConditionResult(1, "criteria", False, "Chưa có kết quả đánh giá tiêu chí.",
                            "No criteria evaluation is on the dossier.")
        )  # fmt: skip
    elif not evaluation.meets_standard:
        unknown = (
            f", {evaluation.unknown_criteria} tiêu chí thiếu số liệu"
            if evaluation.unknown_criteria
            else ""
        )
        out.append(
            ConditionResult(
                1,
                "criteria",
                False,
                f"Mới đạt {evaluation.criteria_met}/{evaluation.criteria_total} tiêu chí{unknown}.",
                f"Meets {evaluation.criteria_met}/{evaluation.criteria_total} criteria"
                f"{f', {evaluation.unknown_criteria} without data' if unknown else ''}.",
            )
        )
    else:
        out.append(
            ConditionResult(
                1,
                "criteria",
                True,
                f"Đạt {evaluation.criteria_met}/{evaluation.criteria_total} tiêu chí.",
                f"Meets {evaluation.criteria_met}/{evaluation.criteria_total} criteria.",
            )
        )
    if satisfaction is None:
        out.append(
            ConditionResult(2, "satisfaction", False, "Chưa có kết quả lấy ý kiến sự hài lòng.",
                            "No satisfaction survey is on the dossier.")
        )  # fmt: skip
    else:
        coverage_ok = True
        if survey_coverage is not None and satisfaction.households_total:
            covered = Decimal(satisfaction.households_surveyed) / satisfaction.households_total
            coverage_ok = covered >= survey_coverage
        met = satisfaction.satisfied_share >= satisfaction_threshold and coverage_ok
        out.append(
            ConditionResult(
                2,
                "satisfaction",
                met,
                f"Tỷ lệ hài lòng {_pct(satisfaction.satisfied_share)}"
                f" (yêu cầu ≥ {_pct(satisfaction_threshold)})"
                + ("" if coverage_ok else "; số hộ được lấy ý kiến chưa đủ"),
                f"Satisfaction {satisfaction.satisfied_share * 100:.2f}%"
                f" (required ≥ {satisfaction_threshold * 100:.2f}%)"
                + ("" if coverage_ok else "; too few households surveyed"),
            )
        )
    if debt is None:
        out.append(
            ConditionResult(3, "construction_debt", False, "Chưa có số liệu nợ đọng XDCB.",
                            "No construction-debt figure is on the dossier.")
        )  # fmt: skip
    else:
        out.append(
            ConditionResult(
                3,
                "construction_debt",
                debt.total_vnd == 0,
                "Không còn nợ đọng xây dựng cơ bản."
                if debt.total_vnd == 0
                else f"Còn nợ đọng XDCB {format_vnd(debt.total_vnd, 'dong')}"
                f" đến {debt.as_of:%d/%m/%Y}.",
                "No outstanding construction debt."
                if debt.total_vnd == 0
                else f"Outstanding construction debt of {debt.total_vnd:,} VND"
                f" as of {debt.as_of.isoformat()}.",
            )
        )
    if security is None:
        out.append(
            ConditionResult(4, "security", False, "Chưa có xác nhận về an ninh, trật tự.",
                            "No security attestation is on the dossier.")
        )  # fmt: skip
    else:
        out.append(
            ConditionResult(
                4,
                "security",
                security.stable,
                "An ninh, trật tự ổn định." if security.stable else "Có vấn đề an ninh phức tạp.",
                "Security is stable." if security.stable else "A complicated security situation.",
            )
        )
    return out
