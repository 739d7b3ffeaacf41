from __future__ import annotations

import threading

from kube.workqueue import WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_deduplicates_keys() -> None:
    q = WorkQueue()
    for _ in range(5):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert q.get(0) == "a" and q.get(0) == "b" and q.get(0) is None


def test_key_added_while_processing_is_processed_again_after_done() -> None:
    q = WorkQueue()
    q.add("a")
    assert q.get(0) == "a"
    q.add("a")
    assert q.get(0) is None  # never handed out twice at once
    q.done("a")
    assert q.get(0) == "a"


def test_backoff_is_exponential_per_key_and_forget_resets() -> None:
    clock = Clock()
    q = WorkQueue(base_delay=1, max_delay=5, clock=clock)
    delays = [q.retry("a") for _ in range(5)]
    assert delays == [1, 2, 4, 5, 5]
    assert q.failures("a") == 5
    q.forget("a")
    assert q.retry("a") == 1
    assert q.retry("b") == 1  # independent per key


def test_delayed_keys_wait_their_turn_and_earlier_add_wins() -> None:
    clock = Clock()
    q = WorkQueue(clock=clock)
    q.add("late", after=10)
    q.add("soon", after=1)
    assert q.get(0) is None
    clock.now = 1
    assert q.get(0) == "soon"
    q.add("late", after=0)  # an immediate add supersedes the delayed one
    assert q.get(0) == "late"
    clock.now = 20
    assert q.get(0) is None  # the superseded entry is not handed out again


def test_get_blocks_until_add_and_shutdown_releases() -> None:
    q = WorkQueue()
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(q.get(5)))
    t.start()
    q.add("x")
    t.join(5)
    assert got == ["x"]
    t2 = threading.Thread(target=lambda: got.append(q.get()))
    t2.start()
    q.shutdown()
    t2.join(5)
    assert got == ["x", None]
