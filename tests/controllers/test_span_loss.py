"""The ``SpansDropped`` condition from the node agents' ``status.spanLoss`` entries (pure)."""

from __future__ import annotations

from controllers.instrumentor import _span_loss_condition


def test_any_node_dropping_makes_it_true_and_names_the_nodes() -> None:
    reports = {
        "node-b": {"dropping": True, "spansLost": 150, "message": "150 spans lost (ring buffer full: 150)"},
        "node-a": {"dropping": False, "spansLost": 3, "message": "no spans lost for 60s; 3 lost before"},
    }
    cond = _span_loss_condition(reports, generation=4)
    assert (cond["type"], cond["status"], cond["reason"], cond["observedGeneration"]) == (
        "SpansDropped", "True", "TracerLosingSpans", 4,
    )  # fmt: skip
    assert cond["message"] == "node-b: 150 spans lost (ring buffer full: 150)"


def test_no_node_dropping_is_false_with_the_earlier_total() -> None:
    reports = {"node-a": {"dropping": False, "spansLost": 3}, "node-b": {"dropping": False, "spansLost": 4}}
    cond = _span_loss_condition(reports, generation=None)
    assert (cond["status"], cond["reason"]) == ("False", "NoRecentLoss")
    assert "7 lost earlier" in cond["message"] and "observedGeneration" not in cond
