"""What keeps the UI safe to leave open on a laptop: headers, CSRF, read-only mode.

- Every response carries a Content-Security-Policy that allows scripts, styles and requests from the UI's
  own origin only (no inline script or style anywhere, no ``eval``: htmx runs with ``allowEval`` off),
  ``X-Frame-Options: DENY`` and ``frame-ancestors 'none'``, ``nosniff``, a same-origin referrer policy, and
  ``no-store`` on pages (they show cluster state).
- CSRF: a random cookie (``SameSite=Strict``, ``HttpOnly``) and a token derived from it with the server's
  key (HMAC); every state-changing request must send the token in ``X-CSRF-Token`` (htmx does, from the
  page's ``hx-headers``) or a ``csrf_token`` form field. A missing or wrong token, a cross-site
  ``Sec-Fetch-Site`` or a foreign ``Origin`` is refused with 403 before anything runs.
- Read-only mode refuses every state-changing request with 403 (the pages hide the controls too).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from ui.errors import Forbidden
from ui.settings import Settings

CSRF_COOKIE = "hodegos_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_COOKIE_FORMAT = re.compile(r"^[A-Za-z0-9_-]{32,64}$")

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make the browser send "Origin: null" on posts
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def token_for(key: str, cookie: str) -> str:
    return hmac.new(key.encode(), cookie.encode(), hashlib.sha256).hexdigest()


def csrf_cookie(request: Request) -> str:
    """This request's CSRF cookie value (a fresh one when the browser sent none or a malformed one)."""
    cookie: str = getattr(request.state, "csrf_cookie", "")
    return cookie


def csrf_token(request: Request, settings: Settings) -> str:
    return token_for(settings.csrf_key, csrf_cookie(request))


def middleware(
    settings: Settings,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Headers on every response; the CSRF cookie set when the browser has none."""

    async def secure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        sent = request.cookies.get(CSRF_COOKIE, "")
        fresh = not _COOKIE_FORMAT.match(sent)
        request.state.csrf_cookie = secrets.token_urlsafe(32) if fresh else sent
        request.state.csrf_fresh = fresh
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                request.state.csrf_cookie,
                httponly=True,
                samesite="strict",
                secure=settings.secure_cookies,
                path="/",
            )
        return response

    return secure


async def check_request(request: Request, settings: Settings) -> None:
    """Refuse a state-changing request that is read-only or not provably from our own pages."""
    if request.method in SAFE_METHODS:
        return
    if settings.read_only:
        raise Forbidden("this UI is read-only: no change can be made here")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Forbidden("cross-site request refused")
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden(f"request from origin {origin} refused")
    if getattr(request.state, "csrf_fresh", True):
        raise Forbidden("missing CSRF cookie: reload the page and try again")
    given = request.headers.get(CSRF_HEADER)
    if not given:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if not given or not hmac.compare_digest(given, csrf_token(request, settings)):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")
