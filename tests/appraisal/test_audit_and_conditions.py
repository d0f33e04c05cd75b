"""The audit hash chain and the four recognition conditions (pure)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.appraisal.domain.audit import GENESIS, link, verify
from services.appraisal.domain.conditions import (
    DebtEvidence,
    EvaluationEvidence,
    SatisfactionEvidence,
    SecurityEvidence,
    check_conditions,
)


def chain(entries: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any], bytes, bytes]]:
    out = []
    previous = GENESIS
    for i, e in enumerate(entries, start=1):
        h = link(previous, e)
        out.append((i, e, previous, h))
        previous = h
    return out


ENTRY = st.fixed_dictionaries(
    {"actor": st.text(max_size=8), "action": st.sampled_from(["submit", "return", "approve"]),
     "at": st.dates().map(str), "after": st.dictionaries(st.text(max_size=4), st.integers())}
)  # fmt: skip


@given(st.lists(ENTRY, min_size=1, max_size=12), st.data())
def test_any_change_is_found_at_its_entry(
    entries: list[dict[str, Any]], data: st.DataObject
) -> None:
    rows = chain(entries)
    assert verify(rows) is None
    i = data.draw(st.integers(0, len(rows) - 1))
    seq, entry, prev, h = rows[i]
    tampered = dict(entry, actor=entry["actor"] + "x")
    broken = verify([*rows[:i], (seq, tampered, prev, h), *rows[i + 1 :]])
    assert broken is not None
    assert broken.seq == seq
    dropped = verify(rows[:i] + rows[i + 1 :])
    if i + 1 < len(rows):
        assert dropped is not None
        assert dropped.seq == rows[i + 1][0]
    else:
        # cutting the tail leaves a valid shorter chain: the dossier keeps the head's hash
        # (and the service compares it) to catch that
        assert dropped is None


def test_conditions_all_met_and_each_failure_named() -> None:
    good = dict(
        evaluation=EvaluationEvidence(True, 19, 19, 0, "ab12"),
        satisfaction=SatisfactionEvidence(800, 1000, Decimal("0.93")),
        debt=DebtEvidence(0, date(2023, 6, 1)),
        security=SecurityEvidence(True, "Công an xã", date(2023, 6, 1)),
    )
    results = check_conditions(**good, satisfaction_threshold=Decimal("0.9"))  # type: ignore[arg-type]
    assert [r.met for r in results] == [True, True, True, True]
    bad = dict(
        good,
        evaluation=EvaluationEvidence(False, 18, 19, 1, "cd34"),
        debt=DebtEvidence(250_000_000, date(2023, 6, 1)),
    )
    results = check_conditions(**bad, satisfaction_threshold=Decimal("0.9"))  # type: ignore[arg-type]
    failing = {r.code: r for r in results if not r.met}
    assert set(failing) == {"criteria", "construction_debt"}
    assert "18/19" in failing["criteria"].message_vi
    assert "250.000.000" in failing["construction_debt"].message_vi
    low = check_conditions(
        **dict(good, satisfaction=SatisfactionEvidence(600, 1000, Decimal("0.95"))),  # type: ignore[arg-type]
        satisfaction_threshold=Decimal("0.9"),
        survey_coverage=Decimal("0.7"),
    )
    assert [r.code for r in low if not r.met] == ["satisfaction"]
    missing = check_conditions(
        evaluation=None, satisfaction=None, debt=None, security=None,
        satisfaction_threshold=Decimal("0.9"),
    )  # fmt: skip
    assert [r.met for r in missing] == [False] * 4
