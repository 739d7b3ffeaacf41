"""Test app: a Flask server (instrumented by the injected agent, never imported by it here).

GET /hello answers; GET /chain calls /hello over urllib: one trace with a server, a client and a server span.
"""

import os
import urllib.request

from flask import Flask

PORT = int(os.environ["PORT"])
app = Flask(__name__)


@app.get("/hello")
def hello() -> str:
    return "hello from python\n"


@app.get("/chain")
def chain() -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/hello", timeout=5) as reply:
        body: bytes = reply.read()
        return body


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=PORT, threaded=True)
