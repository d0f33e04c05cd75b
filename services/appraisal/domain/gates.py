"""The workflow's gates, computed from what the dossier holds (pure: no I/O).

The service gathers the evidence (content pieces, frozen snapshots, the four conditions'
results) and hands it in; each failing gate maps to its Vietnamese and English reason, which
`workflow.decide` quotes in its refusal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from services.appraisal.domain.conditions import ConditionResult
from services.appraisal.domain.workflow import Workflow

LEVEL_VI = {"commune": "xã", "district": "huyện", "province": "tỉnh", "central": "trung ương"}


@dataclass(frozen=True)
class Evidence:
    content: Mapping[str, Any]
    posting_level: str  # the level whose public posting the current step needs
    today: date
    has_evaluation_snapshot: bool
    snapshot_criteria: tuple[int, ...]  # criterion numbers of the frozen evaluation
    conditions: tuple[ConditionResult, ...] | None  # None: not computed (gate not asked)
    decision_given: bool


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _vote(
    content: Mapping[str, Any], body: str, share: Decimal, vi: str, en: str
) -> tuple[str, str] | None:
    vote = (content.get("votes") or {}).get(body)
    if not vote:
        return (f"Chưa có kết quả biểu quyết của {vi}.", f"No {en} vote is recorded.")
    total = int(vote.get("total") or 0)
    agree = int(vote.get("for") or 0)
    if total <= 0 or Decimal(agree) / total < share:
        return (
            f"{vi.capitalize()} biểu quyết {agree}/{total}, chưa đạt tỷ lệ"
            f" {share * 100:.0f}% đồng ý.",
            f"The {en} voted {agree}/{total}, below the required {share * 100:.0f}% in favour.",
        )
    return None


def failed_gates(
    workflow: Workflow, gates: Iterable[str], ev: Evidence
) -> dict[str, tuple[str, str]]:
    """Each of `gates` that does not pass, with its (vi, en) reason."""
    failed: dict[str, tuple[str, str]] = {}
    content = ev.content
    for gate in gates:
        reason: tuple[str, str] | None = None
        if gate == "evaluation_snapshot":
            if not ev.has_evaluation_snapshot:
                reason = (
                    "Chưa lấy được kết quả đánh giá tiêu chí từ dịch vụ tiêu chí.",
                    "The criteria evaluation could not be obtained from the criteria service.",
                )
        elif gate == "satisfaction_recorded":
            survey = content.get("satisfaction")
            if not survey or int(survey.get("households_surveyed") or 0) <= 0:
                reason = (
                    "Chưa ghi kết quả lấy ý kiến sự hài lòng của người dân.",
                    "The residents' satisfaction survey is not recorded.",
                )
        elif gate == "posting_completed":
            posting = (content.get("postings") or {}).get(ev.posting_level)
            lvl = LEVEL_VI.get(ev.posting_level, ev.posting_level)
            if not posting:
                reason = (
                    f"Chưa ghi việc công bố công khai kết quả ở cấp {lvl}.",
                    f"No public posting is recorded at the {ev.posting_level} level.",
                )
            else:
                start = date.fromisoformat(posting["from"])
                end = date.fromisoformat(posting["to"])
                days = int(workflow.parameter("posting_days"))
                if end >= ev.today:
                    reason = (
                        f"Thời gian công bố công khai cấp {lvl} chưa kết thúc"
                        f" (đến {end:%d/%m/%Y}).",
                        f"The {ev.posting_level} public posting has not ended"
                        f" (until {end.isoformat()}).",
                    )
                elif (end - start).days + 1 < days:
                    reason = (
                        f"Công bố công khai cấp {lvl} chỉ {(end - start).days + 1} ngày,"
                        f" yêu cầu ít nhất {days} ngày.",
                        f"The {ev.posting_level} posting lasted {(end - start).days + 1} days;"
                        f" at least {days} are required.",
                    )
        elif gate == "commune_vote_passed":
            reason = _vote(
                content,
                "commune_board",
                workflow.parameter("commune_vote_share"),
                "ban chỉ đạo xã",
                "commune steering board",
            )
        elif gate == "council_vote_passed":
            reason = _vote(
                content,
                "council",
                workflow.parameter("council_vote_share"),
                "hội đồng thẩm định",
                "appraisal council",
            )
        elif gate == "sector_reviews_done":
            reviews = content.get("sector_reviews") or {}
            missing = [n for n in ev.snapshot_criteria if str(n) not in reviews]
            if not ev.snapshot_criteria:
                reason = (
                    "Chưa có kết quả đánh giá tiêu chí để thẩm định theo ngành.",
                    "No frozen evaluation lists the criteria to review.",
                )
            elif missing:
                listed = ", ".join(str(n) for n in missing)
                reason = (
                    f"Các sở, ngành chưa thẩm định tiêu chí: {listed}.",
                    f"Sector reviews missing for criteria: {listed}.",
                )
        elif gate == "field_survey_done":
            if not content.get("field_survey"):
                reason = (
                    "Chưa ghi kết quả khảo sát thực tế.",
                    "The field survey is not recorded.",
                )
        elif gate == "recognition_conditions":
            failing = [c for c in ev.conditions or () if not c.met]
            if ev.conditions is None:
                reason = ("Chưa kiểm tra các điều kiện công nhận.", "Conditions not checked.")
            elif failing:
                reason = (
                    "Điều kiện công nhận chưa đạt: "
                    + " ".join(f"({c.number}) {c.message_vi}" for c in failing),
                    "Recognition conditions not met: "
                    + " ".join(f"({c.number}) {c.message_en}" for c in failing),
                )
        elif gate == "decision_recorded":
            if not ev.decision_given:
                reason = (
                    "Thiếu thông tin quyết định (số, ngày, người ký).",
                    "The decision (number, date, signer) is missing.",
                )
        else:  # pragma: no cover - the workflow file's Gate literal lists every gate
            reason = (f"Điều kiện không xác định: {gate}.", f"Unknown gate: {gate}.")
        if reason is not None:
            failed[gate] = reason
    return failed


def satisfaction_share(content: Mapping[str, Any]) -> Decimal | None:
    survey = content.get("satisfaction")
    return _dec(survey.get("satisfied_share")) if survey else None
