from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controllers import leader

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_create_renew_and_respect_a_valid_holder() -> None:
    lease = leader.next_lease(None, "a", T0, 15)
    assert lease is not None and leader.holder(lease) == "a"
    renewed = leader.next_lease(lease, "a", T0 + timedelta(seconds=5), 15)
    assert renewed is not None and renewed["spec"]["renewTime"].startswith("2026-01-01T00:00:05")
    assert renewed["spec"]["acquireTime"] == lease["spec"]["acquireTime"]
    assert leader.next_lease(renewed, "b", T0 + timedelta(seconds=19), 15) is None


def test_take_over_expired_or_released() -> None:
    lease = leader.next_lease(None, "a", T0, 15)
    assert lease is not None
    taken = leader.next_lease(lease, "b", T0 + timedelta(seconds=16), 15)
    assert taken is not None and leader.holder(taken) == "b"
    assert taken["spec"]["leaseTransitions"] == 1
    released = {**lease, "spec": {**lease["spec"], "holderIdentity": None}}
    again = leader.next_lease(released, "c", T0 + timedelta(seconds=1), 15)
    assert again is not None and leader.holder(again) == "c"


def test_expired_edge() -> None:
    lease = leader.next_lease(None, "a", T0, 15)
    assert lease is not None
    assert not leader.expired(lease, T0 + timedelta(seconds=14))
    assert leader.expired(lease, T0 + timedelta(seconds=15))
    assert leader.expired({"spec": {}}, T0)
