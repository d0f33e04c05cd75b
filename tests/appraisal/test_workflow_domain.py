"""The recognition workflow as data and its pure engine (QĐ 18/2022)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from services.appraisal.domain.workflow import (
    Action,
    Actor,
    Dossier,
    Move,
    Refusal,
    Workflow,
    decide,
    editable_by,
    load_workflow,
    overdue,
    start_step,
)

WF = load_workflow()
TODAY = date(2023, 6, 1)
COMMUNE = Actor(subject="u1", role="commune_officer", level="commune", unit_code="15592")
DISTRICT = Actor(subject="u2", role="district_officer", level="district", unit_code="395")
PROVINCE = Actor(subject="u3", role="province_officer", level="province", unit_code="38")
APPRAISER = Actor(subject="u4", role="appraiser", level="province", unit_code="38")
CENTRAL = Actor(subject="u5", role="central_officer", level="central")


def dossier(step: str, title: str = "xa-ntm", **kw: object) -> Dossier:
    level = {"xa": "commune", "huyen": "district", "tinh": "province"}[title.split("-")[0]]
    return Dossier(title=title, unit_level=level, step=step, entered_on=TODAY, **kw)


def test_every_title_has_a_flow_that_ends_in_a_decision() -> None:
    for title in ("xa-ntm", "xa-ntm-nang-cao", "xa-ntm-kieu-mau", "huyen-ntm", "tinh-htnv"):
        flow = WF.flow_for(title)
        assert flow.steps[-1].id == "decision"
        assert flow.steps[-1].actions[Action.approve].to == "recognised"
        assert "recognition_conditions" in flow.steps[-1].actions[Action.approve].gates
    assert WF.parameter("satisfaction_share") == Decimal("0.90")
    assert WF.parameters["satisfaction_share"].verified is False


def test_a_commune_dossier_walks_the_whole_procedure() -> None:
    path = [
        ("self_assessment", Action.submit, COMMUNE, "survey_and_posting"),
        ("survey_and_posting", Action.submit, COMMUNE, "commune_vote"),
        ("commune_vote", Action.submit, COMMUNE, "district_verification"),
        ("district_verification", Action.accept, DISTRICT, "district_posting"),
        ("district_posting", Action.submit, DISTRICT, "provincial_appraisal"),
        ("provincial_appraisal", Action.accept, APPRAISER, "council_vote"),
        ("council_vote", Action.approve, PROVINCE, "publication"),
        ("publication", Action.submit, PROVINCE, "decision"),
        ("decision", Action.approve, PROVINCE, "recognised"),
    ]
    for step, action, actor, target in path:
        move = decide(WF, dossier(step), action, actor, {}, TODAY)
        assert isinstance(move, Move), (step, move)
        assert move.to_step == target
    final = decide(WF, dossier("recognised"), Action.submit, PROVINCE, {}, TODAY)
    assert isinstance(final, Refusal)
    assert final.code == "workflow.closed"


def test_a_post_2025_commune_skips_the_district() -> None:
    move = decide(
        WF, dossier("commune_vote", has_district=False), Action.submit, COMMUNE, {}, TODAY
    )
    assert isinstance(move, Move)
    assert move.to_step == "provincial_appraisal"


def test_return_loops_back_and_sets_a_due_date() -> None:
    move = decide(WF, dossier("provincial_appraisal"), Action.return_, APPRAISER, {}, TODAY)
    assert isinstance(move, Move)
    assert move.to_step == "self_assessment"
    assert move.due_on == date(2023, 7, 1)


@pytest.mark.parametrize(
    ("step", "action", "actor", "code"),
    [
        ("self_assessment", Action.approve, COMMUNE, "workflow.action_not_allowed"),
        ("district_verification", Action.accept, COMMUNE, "workflow.forbidden"),
        ("decision", Action.approve, DISTRICT, "workflow.forbidden"),
        ("decision", Action.approve, APPRAISER, "workflow.forbidden"),
        ("self_assessment", Action.submit, DISTRICT, "workflow.forbidden"),
    ],
)
def test_actions_reserved_to_another_level_are_refused(
    step: str, action: Action, actor: Actor, code: str
) -> None:
    refusal = decide(WF, dossier(step), action, actor, {}, TODAY)
    assert isinstance(refusal, Refusal)
    assert refusal.code == code
    assert refusal.message_vi
    assert refusal.message_en


def test_a_failing_gate_blocks_and_says_which() -> None:
    failed = {"recognition_conditions": ("Còn nợ đọng XDCB", "Outstanding construction debt")}
    refusal = decide(WF, dossier("decision"), Action.approve, PROVINCE, failed, TODAY)
    assert isinstance(refusal, Refusal)
    assert refusal.code == "workflow.gate_failed"
    assert refusal.gates == ("recognition_conditions",)
    assert "nợ đọng" in refusal.message_vi
    # a gate of another action does not matter
    other = decide(WF, dossier("decision"), Action.reject, PROVINCE, failed, TODAY)
    assert isinstance(other, Move)


def test_district_and_province_titles_are_decided_centrally() -> None:
    refusal = decide(WF, dossier("decision", "huyen-ntm"), Action.approve, PROVINCE, {}, TODAY)
    assert isinstance(refusal, Refusal)
    move = decide(WF, dossier("decision", "tinh-htnv"), Action.approve, CENTRAL, {}, TODAY)
    assert isinstance(move, Move)
    assert move.to_step == "recognised"


def test_the_level_below_cannot_edit_a_dossier_in_review() -> None:
    assert editable_by(WF, dossier("self_assessment")) == "commune"
    assert editable_by(WF, dossier("provincial_appraisal")) == "province"
    assert editable_by(WF, dossier("recognised")) is None


def test_overdue() -> None:
    d = dossier("district_verification")
    assert not overdue(WF, d, date(2023, 6, 21))
    assert overdue(WF, d, date(2023, 6, 22))


def test_every_recognisable_title_is_revoked_by_the_authority_that_recognised_it() -> None:
    for flow in WF.flows:
        if flow.kind != "recognition":
            continue
        for title in flow.titles:
            revocation = WF.flow_for(title, "revocation")
            assert revocation.applies_to == flow.applies_to, title
            granted, revoked = flow.step("decision"), revocation.step("decision")
            assert (revoked.acting_level, revoked.roles) == (
                granted.acting_level,
                granted.roles,
            ), title
            assert revoked.actions[Action.approve].to == "revoked"
            assert "decision_recorded" in revoked.actions[Action.approve].gates


def test_a_province_title_is_revoked_through_the_ministry_and_the_prime_minister() -> None:
    start = Dossier(title="tinh-htnv", unit_level="province", kind="revocation", step="_",
                    entered_on=TODAY)  # fmt: skip
    assert start_step(WF, start) == "revocation_review"
    review = dossier("revocation_review", "tinh-htnv", kind="revocation")
    refused = decide(WF, review, Action.accept, PROVINCE, {}, TODAY)
    assert isinstance(refused, Refusal)
    assert refused.code == "workflow.forbidden"
    accepted = decide(WF, review, Action.accept, CENTRAL, {}, TODAY)
    assert isinstance(accepted, Move)
    assert accepted.to_step == "decision"
    assert accepted.due_on == date(2023, 6, 21)

    at_decision = dossier("decision", "tinh-htnv", kind="revocation")
    assert editable_by(WF, at_decision) == "central"
    unsigned = {"decision_recorded": ("Chưa có quyết định", "No decision recorded")}
    blocked = decide(WF, at_decision, Action.approve, CENTRAL, unsigned, TODAY)
    assert isinstance(blocked, Refusal)
    assert blocked.gates == ("decision_recorded",)
    revoked = decide(WF, at_decision, Action.approve, CENTRAL, {}, TODAY)
    assert isinstance(revoked, Move)
    assert revoked.to_step == "revoked"
    for actor in (PROVINCE, APPRAISER):
        by_province = decide(WF, at_decision, Action.approve, actor, {}, TODAY)
        assert isinstance(by_province, Refusal)
        assert by_province.code == "workflow.forbidden"


def test_a_definition_where_a_title_cannot_be_revoked_is_refused() -> None:
    raw: dict[str, Any] = yaml.safe_load(
        resources.files("services.appraisal").joinpath("workflows/qd18-2022.yaml").read_bytes()
    )
    raw["flows"] = [
        f
        for f in raw["flows"]
        if not (f.get("kind") == "revocation" and f["applies_to"] == "province")
    ]
    with pytest.raises(ValidationError, match="no revocation flow for: tinh-htnv"):
        Workflow.model_validate(raw)
