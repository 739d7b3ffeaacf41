from __future__ import annotations

from api import constants
from api.config import HodegosConfig
from api.models import CollectorsGroup
from controllers import scheduling
from tests.controllers.factories import destination, record

CONFIG = HodegosConfig()


def test_nothing_when_nothing() -> None:
    assert scheduling.desired_groups([], [], CONFIG) == {}


def test_gateway_iff_an_enabled_destination() -> None:
    groups = scheduling.desired_groups([destination("a", signals=("traces", "metrics"))], [], CONFIG)
    assert list(groups) == [constants.GATEWAY_NAME]
    assert groups[constants.GATEWAY_NAME]["spec"] == {"role": "gateway", "signals": ["traces", "metrics"]}
    CollectorsGroup.model_validate(groups[constants.GATEWAY_NAME])
    disabled = destination("b")
    disabled["spec"]["disabled"] = True
    assert scheduling.desired_groups([disabled], [], CONFIG) == {}


def test_signals_are_the_union_in_canonical_order() -> None:
    dests = [destination("a", signals=("logs",)), destination("b", signals=("traces",))]
    assert scheduling.destination_signals(dests) == ["traces", "logs"]


def test_node_collector_iff_instrumented_or_go_or_logs() -> None:
    assert constants.NODE_COLLECTOR_NAME in scheduling.desired_groups([], [record("python")], CONFIG)
    assert constants.NODE_COLLECTOR_NAME in scheduling.desired_groups([], [record("go")], CONFIG)
    assert scheduling.desired_groups([], [record(None)], CONFIG) == {}
    rolled_back = record("python", rollback={"reason": "CrashLoopBackOff"})
    assert scheduling.desired_groups([], [rolled_back], CONFIG) == {}
    logs_only = scheduling.desired_groups([destination("l", signals=("logs",))], [], CONFIG)
    assert set(logs_only) == {constants.GATEWAY_NAME, constants.NODE_COLLECTOR_NAME}
    assert logs_only[constants.NODE_COLLECTOR_NAME]["spec"]["signals"] == ["logs"]
