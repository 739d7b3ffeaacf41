"""A small keep-alive HTTP load generator for the tracer tests and the overhead benchmark."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

ROUTES = (("/hello", 200), ("/created", 201), ("/missing", 404), ("/fail", 500), ("/deep", 200))
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


@dataclass
class Sent:
    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    traceparents: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # trace id -> (span id, method, path)
    failures: list[str] = field(default_factory=list)


def traceparent(n: int) -> tuple[str, str, str]:
    trace_id, span_id = f"{0xABC0000000000000 + n:032x}", f"{0x5EED000000000000 + n:016x}"
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def mixed(address: str, total: int, workers: int = 4, traceparent_every: int = 10) -> Sent:
    """``total`` requests cycling through methods x routes; every Nth carries a unique traceparent."""
    sent = Sent()
    lock = threading.Lock()
    host, port = address.rsplit(":", 1)

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        for n in range(index, total, workers):
            path, status = ROUTES[n % len(ROUTES)]
            method = METHODS[(n // len(ROUTES)) % len(METHODS)]
            headers = {}
            target = path + ("?ms=2" if path == "/created" else "")
            tp = None
            if traceparent_every and n % traceparent_every == 0:
                tp = traceparent(n)
                headers["traceparent"] = tp[0]
            try:
                conn.request(method, target, headers=headers)
                response = conn.getresponse()
                response.read()
                got = response.status
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    sent.failures.append(f"{method} {path}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                continue
            with lock:
                sent.requests[(method, path, got)] += 1
                if got != status:
                    sent.failures.append(f"{method} {path}: status {got}, expected {status}")
                if tp:
                    sent.traceparents[tp[1]] = (tp[2], method, path)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sent


def timed_sequential(address: str, total: int, path: str = "/hello") -> float:
    """Mean seconds per request over one keep-alive connection."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    start = time.perf_counter()
    for _ in range(total):
        conn.request("GET", path)
        conn.getresponse().read()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed / total
