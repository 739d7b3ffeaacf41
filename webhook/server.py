"""The HTTPS shell around the admission core: a FastAPI app and a uvicorn runner.

Routes:

- ``POST /mutate``: admission.k8s.io/v1 AdmissionReview in, AdmissionReview out, always ``allowed: true``.
  The body is read with a size cap (413 beyond it), parsed with orjson, and checked for the envelope
  (apiVersion, kind, request, uid); anything else gets a 4xx with a JSON body ``{"reason", "message"}`` and
  the server keeps serving. The core runs in a worker thread under the server's own deadline (below the
  webhook's ``timeoutSeconds``): late or raising, the answer is allowed with no patch, counted as fail-safe.
- ``/healthz``: the process answers. ``/readyz``: the watch cache has synced and the certificate is loaded.
- ``/metrics``: Prometheus text (:mod:`webhook.metrics`).

The admission path makes no API call: everything comes from the :class:`~webhook.admission.ClusterView`,
and the configuration from a :class:`kube.ConfigSource` read at each admission (``hodegos-config`` followed
live, or a file), so an edit of the ConfigMap applies to the next pod without a restart.
:func:`serve` runs uvicorn with our own reloading ``ssl.SSLContext`` (:mod:`certs.reloading`), polled for new
files from an asyncio task on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import uvicorn
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from api import constants
from api.config import HodegosConfig
from certs.reloading import ReloadingContext
from kube.liveconfig import ConfigSource, StaticConfig
from webhook import admission
from webhook.admission import AdmissionRequestError, ClusterView, Outcome
from webhook.errors import BadRequest
from webhook.metrics import Metrics

log = logging.getLogger(__name__)

ReviewFunction = Callable[[Mapping[str, Any], ClusterView, HodegosConfig], Outcome]
ADMISSION_API_VERSION = "admission.k8s.io/v1"
JSON = "application/json"


class CachedView(ClusterView, Protocol):
    """A view the server can report on: sync state and object counts."""

    @property
    def synced(self) -> bool: ...

    def sizes(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class Settings:
    """Server knobs. ``deadline`` must stay below the webhook's ``timeoutSeconds`` (3 s by default)."""

    deadline: float = 2.0
    max_body: int = 3 * 1024 * 1024
    workers: int = 4  # threads running the core; a hung core only ever costs its deadline
    # False runs the core on the event loop thread: a little faster, but a core stuck in a loop would stall
    # the server instead of costing one deadline. Kept for the benchmark's comparison.
    offload: bool = True
    reload_interval: float = 1.0  # seconds between certificate file checks


def _problem(status: int, reason: str, message: str) -> Response:
    return Response(orjson.dumps({"reason": reason, "message": message}), status_code=status, media_type=JSON)


async def _read_body(request: Request, limit: int) -> bytes:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != JSON:
        raise BadRequest(415, "UnsupportedMediaType", f"Content-Type must be {JSON}, got {content_type!r}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(
            413, "BodyTooLarge", f"request body of {declared} bytes exceeds the {limit}-byte limit"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, "BodyTooLarge", f"request body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_review(body: bytes) -> tuple[dict[str, Any], str]:
    """The AdmissionReview document and its request uid, or :class:`BadRequest` saying what is wrong."""
    if not body:
        raise BadRequest(
            400, "EmptyBody", "request body is empty; expected an admission.k8s.io/v1 AdmissionReview"
        )
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in str(exc):
            raise BadRequest(400, "InvalidUTF8", f"request body is not valid UTF-8: {exc}") from exc
        raise BadRequest(400, "InvalidJSON", f"request body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise BadRequest(400, "NotAdmissionReview", f"expected a JSON object, got {type(doc).__name__}")
    if doc.get("apiVersion") != ADMISSION_API_VERSION or doc.get("kind") != "AdmissionReview":
        raise BadRequest(
            400,
            "NotAdmissionReview",
            f"expected apiVersion {ADMISSION_API_VERSION} kind AdmissionReview, "
            f"got apiVersion {doc.get('apiVersion')!r} kind {doc.get('kind')!r}",
        )
    request = doc.get("request")
    if not isinstance(request, dict):
        raise BadRequest(400, "MissingRequest", "AdmissionReview has no request object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadRequest(400, "MissingUID", "AdmissionReview request has no uid")
    return doc, uid


def create_app(
    view: CachedView,
    config: ConfigSource | HodegosConfig | None = None,
    *,
    review: ReviewFunction = admission.review,
    settings: Settings | None = None,
    metrics: Metrics | None = None,
    tls: ReloadingContext | None = None,
) -> FastAPI:
    """The webhook app. ``review`` is the core (replaceable in tests); ``tls`` is polled for new certs.

    ``config`` is read at every admission: a :class:`kube.LiveConfig` follows ``hodegos-config``.
    """
    source: ConfigSource = (
        StaticConfig(config) if config is None or isinstance(config, HodegosConfig) else config
    )
    settings = settings or Settings()
    metrics = metrics or Metrics()
    executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="admission")
    metrics.watch_cache(view.sizes, lambda: view.synced)
    if tls is not None:
        metrics.cert_reloads.set_function(lambda: float(tls.reloads))
        metrics.cert_expiry.set_function(lambda: tls.loaded.not_after.timestamp() if tls.loaded else 0.0)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_watch_certificate(tls, settings.reload_interval)) if tls else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="hodegos-webhook", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.metrics = metrics
    app.state.view = view

    async def mutate(request: Request) -> Response:
        started = time.perf_counter()
        try:
            doc, uid = parse_review(await _read_body(request, settings.max_body))
        except BadRequest as exc:
            metrics.bad_requests.labels(exc.reason).inc()
            log.info("refused admission request: %s", exc.message)
            return _problem(exc.status, exc.reason, exc.message)
        loop = asyncio.get_running_loop()
        try:
            if settings.offload:
                outcome = await asyncio.wait_for(
                    loop.run_in_executor(executor, review, doc, view, source.current), settings.deadline
                )
            else:
                outcome = review(doc, view, source.current)
                if time.perf_counter() - started > settings.deadline:
                    raise TimeoutError
        except AdmissionRequestError as exc:
            metrics.bad_requests.labels("InvalidAdmissionReview").inc()
            return _problem(400, "InvalidAdmissionReview", str(exc))
        except TimeoutError:
            metrics.failsafe.labels("deadline").inc()
            outcome = admission.allow_unchanged(uid, f"no decision within {settings.deadline}s")
            log.warning(
                "admission %s: core missed the %.1fs deadline; allowed unchanged", uid, settings.deadline
            )
            return _answer(outcome, "failsafe", started, metrics)
        except Exception as exc:
            metrics.failsafe.labels("error").inc()
            outcome = admission.allow_unchanged(uid, f"internal error: {type(exc).__name__}")
            log.exception("admission %s: core failed; allowed unchanged", uid)
            return _answer(outcome, "failsafe", started, metrics)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "admission %s: %s (%s), %d patch ops", uid, outcome.result, outcome.reason, len(outcome.patch)
            )
        return _answer(outcome, outcome.result, started, metrics)

    async def healthz(_: Request) -> Response:
        return Response(b"ok", media_type="text/plain")

    async def readyz(_: Request) -> Response:
        problems = []
        if not view.synced:
            error = getattr(view, "last_error", None)
            problems.append("watch cache not synced" + (f" ({error})" if error else ""))
        if tls is not None and not tls.ready:
            problems.append(f"certificate not loaded: {tls.last_error or 'no files'}")
        if problems:
            return Response("; ".join(problems).encode(), status_code=503, media_type="text/plain")
        return Response(b"ok", media_type="text/plain")

    async def metrics_endpoint(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # Plain Starlette routes: no dependency injection or model validation on the hot path.
    app.router.add_route(constants.WEBHOOK_PATH, mutate, methods=["POST"])
    app.router.add_route("/healthz", healthz, methods=["GET"])
    app.router.add_route("/readyz", readyz, methods=["GET"])
    app.router.add_route("/metrics", metrics_endpoint, methods=["GET"])
    return app


def _answer(outcome: Outcome, result: str, started: float, metrics: Metrics) -> Response:
    body = orjson.dumps(outcome.response)
    metrics.admitted(
        result, time.perf_counter() - started, ((d.action, d.language) for d in outcome.containers)
    )
    return Response(body, media_type=JSON)


async def _watch_certificate(tls: ReloadingContext | None, interval: float) -> None:
    # On the loop thread on purpose: handshakes run here too, so none sees a half-loaded chain.
    while tls is not None:
        await asyncio.sleep(interval)
        try:
            tls.reload_if_changed()
        except Exception:
            log.exception("certificate reload check failed")


def uvicorn_server(
    app: FastAPI, host: str, port: int, tls: ReloadingContext | None, log_level: str = "warning"
) -> uvicorn.Server:
    """A configured uvicorn server (one worker, uvloop + httptools, HTTP/1.1) using ``tls``'s context."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_keep_alive=60,
    )
    config.load()
    # uvicorn would build its own context from file names once; ours stays reloadable.
    config.ssl = tls.context if tls is not None else None
    return uvicorn.Server(config)


def serve(
    app: FastAPI, host: str, port: int, tls: ReloadingContext | None, log_level: str = "warning"
) -> None:
    """Run until interrupted (SIGINT/SIGTERM)."""
    uvicorn_server(app, host, port, tls, log_level).run()


@contextlib.contextmanager
def running(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0, tls: ReloadingContext | None = None
) -> Iterator[str]:
    """Serve in a background thread; yield the base URL (``https://`` with ``tls``). Tests, benchmarks."""
    server = uvicorn_server(app, host, port, tls)
    thread = threading.Thread(target=server.run, name="webhook-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("webhook server did not start")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://{host}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
