from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from controllers import diffing


def test_quantities() -> None:
    assert diffing.quantity("1Gi") == diffing.quantity("1024Mi") == Decimal(2**30)
    assert diffing.quantity("100m") == Decimal("0.1")
    assert diffing.quantity("1e3") == Decimal(1000) == diffing.quantity("1k")
    assert diffing.quantity("abc") is None and diffing.quantity("1Zi") is None


def test_covers_ignores_server_added_fields_but_not_changes() -> None:
    desired = {"spec": {"ports": [{"port": 4317}], "memory": "1024Mi"}}
    observed = {"spec": {"ports": [{"port": 4317, "protocol": "TCP"}], "memory": "1Gi", "clusterIP": "x"}}
    assert diffing.covers(observed, desired)
    assert not diffing.covers(observed, {"spec": {"ports": [{"port": 4318}]}})
    assert not diffing.covers(observed, {"spec": {"ports": [{"port": 4317}, {"port": 4318}]}})
    assert not diffing.covers(observed, {"spec": {"memory": "1Mi"}})
    assert not diffing.covers({"a": "1"}, {"a": 1})
    assert not diffing.covers({"a": 1}, {"a": {"b": 1}})


def test_stamp_detects_removed_fields() -> None:
    old = diffing.stamp({"metadata": {"name": "x"}, "spec": {"envFrom": [{"secretRef": {"name": "s"}}]}})
    new = diffing.stamp({"metadata": {"name": "x"}, "spec": {}})
    assert diffing.covers({"spec": {"envFrom": [1]}}, {"spec": {}})  # a subset check misses removals ...
    assert not diffing.up_to_date(old, new)  # ... the applied hash does not
    assert diffing.up_to_date(old, old)
    assert not diffing.up_to_date(None, new)
    assert diffing.stamp(old) == old  # stamping is idempotent


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)


@given(json_values)
def test_everything_covers_itself(value: object) -> None:
    assert diffing.covers(value, value)
