"""A level-triggered work queue: keys, not events.

- A key added many times before a worker takes it is processed once (deduplication).
- A key added while it is being processed is processed again afterwards, never concurrently.
- :meth:`WorkQueue.retry` re-adds a key after an exponential per-key backoff; :meth:`WorkQueue.forget`
  resets it after a success.
- Delayed adds (``after=``) serve backoff and periodic resync alike.

The clock is injectable so the behaviour is tested without sleeping.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Hashable


class WorkQueue:
    def __init__(
        self,
        base_delay: float = 0.2,
        max_delay: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_delay, self.max_delay, self.clock = base_delay, max_delay, clock
        self._cond = threading.Condition()
        self._due: dict[Hashable, float] = {}  # key -> when it becomes ready
        self._heap: list[tuple[float, int, Hashable]] = []
        self._seq = 0
        self._processing: set[Hashable] = set()
        self._dirty: dict[Hashable, float] = {}  # added while processing -> due time
        self._failures: dict[Hashable, int] = {}
        self._shutdown = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._due)

    def add(self, key: Hashable, after: float = 0.0) -> None:
        with self._cond:
            when = self.clock() + after
            if key in self._processing:
                self._dirty[key] = min(when, self._dirty.get(key, when))
                return
            if key in self._due and self._due[key] <= when:
                return
            self._push(key, when)

    def _push(self, key: Hashable, when: float) -> None:
        self._due[key] = when
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, key))
        self._cond.notify()

    def get(self, timeout: float | None = None) -> Hashable | None:
        """The next ready key, or ``None`` after ``timeout`` seconds or on shutdown."""
        deadline = None if timeout is None else self.clock() + timeout
        with self._cond:
            while not self._shutdown:
                while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # superseded entry
                now = self.clock()
                if self._heap and self._heap[0][0] <= now:
                    _, _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    self._processing.add(key)
                    return key
                wait = self._heap[0][0] - now if self._heap else None
                if deadline is not None:
                    left = deadline - now
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)
            return None

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                when = self._dirty.pop(key)
                if key not in self._due or self._due[key] > when:
                    self._push(key, when)

    def retry(self, key: Hashable) -> float:
        """Re-add ``key`` after its backoff; returns the delay."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        delay = float(min(self.base_delay * (2**failures), self.max_delay))
        self.add(key, after=delay)
        return delay

    def forget(self, key: Hashable) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: Hashable) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()
