from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api.models import Condition
from controllers import conditions as c

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_transition_time_changes_only_on_status_change() -> None:
    first = c.set_condition([], c.condition("Ready", False, "Creating", generation=1), T0)
    assert first[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    same = c.set_condition(first, c.condition("Ready", False, "StillCreating", "msg", generation=2), T1)
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert same[0]["reason"] == "StillCreating" and same[0]["observedGeneration"] == 2
    flipped = c.set_condition(same, c.condition("Ready", True, "Available"), T1)
    assert flipped[0]["lastTransitionTime"] == "2026-01-01T00:05:00Z"
    Condition.model_validate(flipped[0])


def test_other_conditions_keep_order_and_new_ones_append() -> None:
    conds = c.set_condition([], c.condition("A", True, "R"), T0)
    conds = c.set_condition(conds, c.condition("B", True, "R"), T0)
    conds = c.set_condition(conds, c.condition("A", False, "R"), T1)
    assert [x["type"] for x in conds] == ["A", "B"]
    assert c.is_true(conds, "B") and not c.is_true(conds, "A") and not c.is_true(conds, "Z")
    assert [x["type"] for x in c.remove_condition(conds, "A")] == ["B"]


@given(st.lists(st.tuples(st.sampled_from(["A", "B"]), st.booleans()), max_size=12))
def test_reasserting_is_idempotent(steps: list[tuple[str, bool]]) -> None:
    conds: list[dict[str, Any]] = []
    for i, (type_, status) in enumerate(steps):
        conds = c.set_condition(conds, c.condition(type_, status, "R"), T0 + timedelta(seconds=i))
    again = conds
    for type_, status in steps[-1:]:
        again = c.set_condition(conds, c.condition(type_, status, "R"), T1 + timedelta(days=1))
    assert again == conds
    assert len({x["type"] for x in conds}) == len(conds)
