"""The recognition workflow as data, and the pure engine that moves a dossier through it.

A definition (`workflows/*.yaml`) lists, per level of unit (commune, district, province), the
steps of the procedure, the administrative level and roles that may act on each, the actions
allowed there and where each leads, the gates (checks) an action must pass, and due dates.
The engine answers one question: may this actor take this action on a dossier at this step,
and if so where does it go? It does no I/O: gate results are computed by the service and
handed in.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class Action(StrEnum):
    submit = "submit"  # gửi / trình
    return_ = "return"  # trả lại để hoàn thiện hồ sơ
    accept = "accept"  # chấp nhận kết quả thẩm tra
    approve = "approve"  # thông qua / quyết định
    reject = "reject"  # không công nhận
    withdraw = "withdraw"  # rút hồ sơ


ACTION_VI: dict[Action, str] = {
    Action.submit: "gửi/trình",
    Action.return_: "trả lại để hoàn thiện",
    Action.accept: "chấp nhận",
    Action.approve: "thông qua",
    Action.reject: "không công nhận",
    Action.withdraw: "rút hồ sơ",
}

TERMINAL = ("recognised", "rejected", "withdrawn", "revoked")
Kind = Literal["recognition", "revocation"]
LEVELS = ("commune", "district", "province", "central")

Gate = Literal[
    "evaluation_snapshot",
    "satisfaction_recorded",
    "posting_completed",
    "commune_vote_passed",
    "sector_reviews_done",
    "field_survey_done",
    "council_vote_passed",
    "recognition_conditions",
    "decision_recorded",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Parameter(_Strict):
    value: Decimal
    verified: bool
    note: str


class Transition(_Strict):
    to: str
    gates: tuple[Gate, ...] = ()


class Step(_Strict):
    id: str
    name_vi: str
    name_en: str
    acting_level: Literal["own", "district", "province", "central"]
    roles: tuple[str, ...]
    due_days: Annotated[int, Field(gt=0)]
    skip_without: Literal["district"] | None = None
    actions: dict[Action, Transition]


class Flow(_Strict):
    applies_to: Literal["commune", "district", "province"]
    kind: Kind = "recognition"  # a revocation flow ends in `revoked` instead
    titles: tuple[str, ...]
    start: str
    steps: tuple[Step, ...]

    @model_validator(mode="after")
    def _closed(self) -> Flow:
        ids = [s.id for s in self.steps]
        if len(ids) != len(set(ids)):
            raise ValueError(f"{self.applies_to}: duplicate step ids")
        if self.start not in ids:
            raise ValueError(f"{self.applies_to}: start step {self.start} is not a step")
        known = set(ids) | set(TERMINAL)
        for step in self.steps:
            for action, t in step.actions.items():
                if t.to not in known:
                    raise ValueError(f"{step.id}.{action}: unknown target {t.to}")
        end = "recognised" if self.kind == "recognition" else "revoked"
        if not any(t.to == end for s in self.steps for t in s.actions.values()):
            raise ValueError(f"{self.applies_to} {self.kind}: no step leads to {end}")
        return self

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


class Workflow(_Strict):
    code: str
    version: int
    name_vi: str
    legal_basis: str
    parameters: dict[str, Parameter]
    flows: tuple[Flow, ...]

    @model_validator(mode="after")
    def _revocable(self) -> Workflow:
        """A title that can be recognised can be revoked (QĐ 18/2022), at the same level."""
        revocable = {
            (f.applies_to, t) for f in self.flows if f.kind == "revocation" for t in f.titles
        }
        missing = sorted(
            t
            for f in self.flows
            if f.kind == "recognition"
            for t in f.titles
            if (f.applies_to, t) not in revocable
        )
        if missing:
            raise ValueError(f"no revocation flow for: {', '.join(missing)}")
        return self

    def flow_for(self, title: str, kind: Kind = "recognition") -> Flow:
        for f in self.flows:
            if title in f.titles and f.kind == kind:
                return f
        raise KeyError(title)

    def parameter(self, name: str) -> Decimal:
        return self.parameters[name].value


def load_workflow(name: str = "qd18-2022") -> Workflow:
    raw = resources.files("services.appraisal").joinpath(f"workflows/{name}.yaml").read_bytes()
    return Workflow.model_validate(yaml.safe_load(raw))


# --- the engine --------------------------------------------------------------------------


class Actor(_Strict):
    """Who acts: a role bound to a unit (and so to that unit's level)."""

    subject: str
    role: str
    level: Literal["commune", "district", "province", "central"]
    unit_code: str | None = None


class Dossier(_Strict):
    """What the engine needs to know of a dossier."""

    title: str
    unit_level: Literal["commune", "district", "province"]
    has_district: bool = True  # False for a post-2025 commune: no district level exists
    kind: Kind = "recognition"
    step: str
    entered_on: date


class Refusal(_Strict):
    code: str
    message_vi: str
    message_en: str
    gates: tuple[str, ...] = ()


class Move(_Strict):
    """An allowed action: where the dossier goes, and the due date of the new step."""

    from_step: str
    to_step: str
    action: Action
    due_on: date | None


def _level_of(step: Step, dossier: Dossier) -> str:
    return dossier.unit_level if step.acting_level == "own" else step.acting_level


def _skipped(step: Step, dossier: Dossier) -> bool:
    return step.skip_without == "district" and not dossier.has_district


def _landing(flow: Flow, target: str, dossier: Dossier) -> str:
    """The step a transition lands on, past the steps that do not exist for this unit."""
    seen: set[str] = set()
    while target not in TERMINAL:
        step = flow.step(target)
        if not _skipped(step, dossier):
            return target
        if target in seen:  # pragma: no cover - a definition error, caught by validation
            raise ValueError("skip cycle")
        seen.add(target)
        forward = [t for a, t in step.actions.items() if a in (Action.submit, Action.accept)]
        target = forward[0].to
    return target


def decide(
    workflow: Workflow,
    dossier: Dossier,
    action: Action,
    actor: Actor,
    failed_gates: dict[str, tuple[str, str]],
    today: date,
) -> Move | Refusal:
    """May `actor` take `action` on `dossier`? `failed_gates` maps each gate that does not
    pass to its (Vietnamese, English) reason; the gates of the action must all pass."""
    flow = workflow.flow_for(dossier.title, dossier.kind)
    if dossier.step in TERMINAL:
        return Refusal(
            code="workflow.closed",
            message_vi=f"Hồ sơ đã kết thúc ({dossier.step}); không thể {ACTION_VI[action]}.",
            message_en=f"The dossier is closed ({dossier.step}); cannot {action.value}.",
        )
    step = flow.step(dossier.step)
    transition = step.actions.get(action)
    if transition is None:
        allowed = ", ".join(a.value for a in step.actions)
        return Refusal(
            code="workflow.action_not_allowed",
            message_vi=f"Bước '{step.name_vi}' không cho phép {ACTION_VI[action]}"
            f" (được phép: {allowed}).",
            message_en=f"Step '{step.name_en}' does not allow {action.value} (allowed: {allowed}).",
        )
    level = _level_of(step, dossier)
    if actor.role not in step.roles or actor.level != level:
        return Refusal(
            code="workflow.forbidden",
            message_vi=f"Bước '{step.name_vi}' do cấp {level} ({', '.join(step.roles)})"
            f" thực hiện; {actor.role} cấp {actor.level} không có quyền.",
            message_en=f"Step '{step.name_en}' is for the {level} level ({', '.join(step.roles)});"
            f" {actor.role} at {actor.level} level may not act.",
        )
    failing = [g for g in transition.gates if g in failed_gates]
    if failing:
        return Refusal(
            code="workflow.gate_failed",
            message_vi="Chưa đủ điều kiện: " + "; ".join(failed_gates[g][0] for g in failing),
            message_en="Conditions not met: " + "; ".join(failed_gates[g][1] for g in failing),
            gates=tuple(failing),
        )
    target = _landing(flow, transition.to, dossier)
    due = None if target in TERMINAL else today + timedelta(days=flow.step(target).due_days)
    return Move(from_step=step.id, to_step=target, action=action, due_on=due)


def editable_by(workflow: Workflow, dossier: Dossier) -> str | None:
    """The level that may edit the dossier's content now (None once closed): a dossier under
    review above is locked against edits by the level below."""
    if dossier.step in TERMINAL:
        return None
    flow = workflow.flow_for(dossier.title, dossier.kind)
    return _level_of(flow.step(dossier.step), dossier)


def overdue(workflow: Workflow, dossier: Dossier, today: date) -> bool:
    if dossier.step in TERMINAL:
        return False
    step = workflow.flow_for(dossier.title, dossier.kind).step(dossier.step)
    return today > dossier.entered_on + timedelta(days=step.due_days)


def start_step(workflow: Workflow, dossier: Dossier) -> str:
    """Where a new dossier of this title and kind begins (past steps this unit lacks)."""
    flow = workflow.flow_for(dossier.title, dossier.kind)
    return _landing(flow, flow.start, dossier)


def acting_level(workflow: Workflow, dossier: Dossier) -> str | None:
    """The level that acts on the dossier at its current step (None once closed)."""
    return editable_by(workflow, dossier)
