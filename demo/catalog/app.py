"""The shop's catalog (Python, Flask, no OpenTelemetry code): items, each priced by the pricing service
(Java)."""

from __future__ import annotations

import json
import os
import time
import urllib.request

from flask import Flask, jsonify

PRICING = os.environ.get("PRICING_URL", "http://pricing:8080")
ITEMS = [{"id": "tea", "name": "Green tea"}, {"id": "mug", "name": "Mug"}, {"id": "pot", "name": "Teapot"}]

app = Flask(__name__)


@app.get("/items")
def items() -> object:
    started = time.monotonic()
    ids = ",".join(item["id"] for item in ITEMS)
    with urllib.request.urlopen(f"{PRICING}/prices?items={ids}", timeout=5) as reply:
        prices = json.load(reply)
    out = [{**item, "price": prices[item["id"]]} for item in ITEMS]
    took = 1000 * (time.monotonic() - started)
    print(f"catalog GET /items 200 {len(out)} items in {took:.0f} ms", flush=True)
    return jsonify(out)


@app.get("/healthz")
def healthz() -> str:
    return "ok\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))
