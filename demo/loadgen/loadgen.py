"""The shop's load generator: GET / on the front end at a steady rate, forever (or --count requests).

Not instrumented (it runs in an ignored container name): the traces start at the front end.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import urllib.error
import urllib.request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=os.environ.get("FRONTEND_URL", "http://frontend:8080/"))
    parser.add_argument("--rate", type=float, default=float(os.environ.get("RATE", "2")))
    parser.add_argument("--count", type=int, default=int(os.environ.get("COUNT", "0")))
    args = parser.parse_args()
    # As PID 1 in its container, a signal with no handler is ignored: without this, a scaled-down loadgen
    # would keep sending for the whole termination grace period (30 s), past the end of a measured step.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))
    sent = ok = 0
    start = time.monotonic()
    while not args.count or sent < args.count:
        sent += 1
        try:
            with urllib.request.urlopen(args.url, timeout=10) as reply:
                ok += reply.status == 200
        except (urllib.error.URLError, OSError) as exc:
            print(f"loadgen: {exc}", flush=True)
        if sent % 50 == 0:
            print(f"loadgen: {sent} sent, {ok} ok", flush=True)
        time.sleep(max(0.0, start + sent / args.rate - time.monotonic()))


if __name__ == "__main__":
    main()
