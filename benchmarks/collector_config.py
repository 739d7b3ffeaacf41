"""Benchmark: rendering gateway configs for 1, 10, 100 and 1,000 destinations, and validating them with the
real pinned collector (`otelcol validate`).

    .venv/bin/python benchmarks/collector_config.py [--sizes 1,10,100,1000] [--repeat 5]

Destinations cycle through every renderable catalogue type with each field's sample value, all supported
signals, so a set of N has N exporters and up to 3N pipelines. Render time is the best and the median of
``--repeat`` runs (the machine is shared, so the best is the steadier figure) of
:func:`pipelines.render_gateway` (pure: load, check, template, assemble); validate time is one
``otelcol validate`` run including process start; the config size is the YAML text length.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.models import SIGNALS  # noqa: E402
from destinations import catalogue, collector  # noqa: E402
from destinations.components import built  # noqa: E402
from pipelines import render_gateway  # noqa: E402


def destinations(count: int) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    types = [
        t
        for t in catalogue.all_types()
        if all(built(c) for c in t.required_components()) and any(s in SIGNALS for s in t.signals)
    ]
    out: list[dict[str, Any]] = []
    keys: dict[str, set[str]] = {}
    for index in range(count):
        t = types[index % len(types)]
        data, secrets = t.sample_data()
        name = f"{t.type}-{index}"
        spec: dict[str, Any] = {
            "type": t.type,
            "signals": [s for s in SIGNALS if s in t.signals],
            "data": data,
        }
        if secrets:
            spec["secretRef"] = {"name": f"{name}-secret"}
            keys[f"{name}-secret"] = set(secrets)
        out.append({"metadata": {"name": name}, "spec": spec})
    return out, keys


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,10,100,1000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    binary = collector.collector_path() if collector.is_built() else None
    if binary is None:
        print("note: the pinned collector is not built (make setup); validation is skipped", file=sys.stderr)
    header = f"{'destinations':>12} {'pipelines':>9} {'render ms best/median':>22}"
    print(f"{header} {'config KiB':>10} {'validate ms':>11}")
    for size in (int(s) for s in args.sizes.split(",")):
        dests, keys = destinations(size)
        timings = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            rendered = render_gateway(dests, secret_keys=keys)
            timings.append(time.perf_counter() - start)
        assert all(r.configured for r in rendered.results.values())
        text = rendered.yaml()
        validate_ms = "-"
        if binary is not None:
            start = time.perf_counter()
            collector.validate(text, binary=binary, env={name: "x" for name in rendered.secret_env})
            validate_ms = f"{(time.perf_counter() - start) * 1000:.0f}"
        pipelines = len(rendered.config["service"]["pipelines"])
        render = f"{min(timings) * 1000:.2f} / {statistics.median(timings) * 1000:.2f}"
        print(f"{size:>12} {pipelines:>9} {render:>22} {len(text) / 1024:>10.1f} {validate_ms:>11}")


if __name__ == "__main__":
    main()
