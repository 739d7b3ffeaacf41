"""A small app for the real-node tests, run by CPython 3.11 in the probe image.

``probe.py api``: GET the API server's /version and a forbidden list through the ``kubernetes`` Service with
the pod's ServiceAccount token, print ``version=<v> forbidden=<status>``.
``probe.py serve [port]``: an HTTP server answering ``<pod name> <pod IP>``.
``probe.py app``: an application process: print whether the OpenTelemetry agent was loaded at start-up
(by the injected PYTHONPATH's sitecustomize), then keep running.
"""

import http.server
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def api() -> None:
    token = open(f"{SA}/token").read()
    context = ssl.create_default_context(cafile=f"{SA}/ca.crt")
    headers = {"Authorization": f"Bearer {token}"}

    def get(path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(f"https://kubernetes.default.svc{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    status, body = get("/version")
    version = json.loads(body)["gitVersion"] if status == 200 else f"error-{status}"
    forbidden, _ = get("/api/v1/namespaces/kube-system/secrets")
    print(f"version={version} forbidden={forbidden}", flush=True)


def serve(port: int) -> None:
    answer = f"{os.environ.get('POD_NAME', '?')} {os.environ.get('POD_IP', '?')}\n".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


def app() -> None:
    loaded = sorted({m.split(".")[0] for m in sys.modules if m.startswith("opentelemetry")})
    print(f"agent-loaded={bool(loaded)} pid={os.getpid()}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if mode == "api":
        api()
    elif mode == "app":
        app()
    else:
        serve(int(sys.argv[2]) if len(sys.argv) > 2 else 8080)
