"""The UI's static files: our own stylesheet and script (in ``ui/static``), and the pinned htmx.

htmx is not committed: ``.ci/setup.d/50-ui.sh`` takes the pinned version from the npm registry, checks its
sha256 and puts it in the tool cache (``~/.cache/hodegos/htmx-<version>-<digest>/htmx.min.js``); the image
build copies the same file and points ``HODEGOS_UI_HTMX`` at it. htmx 2 is chosen deliberately over 4: the
UI is written for 2's semantics (XHR, attribute inheritance, ``responseHandling``).

Without htmx every page still works as plain HTML (links and form posts); only the live parts (toggles in
place, filters, the overview's refresh, test connection) need it.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

HTMX_VERSION = "2.0.11"
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
STATIC_DIR = Path(__file__).resolve().parent / "static"
OWN_FILES = {"hodegos.css": "text/css", "hodegos.js": "text/javascript", "favicon.svg": "image/svg+xml"}


def cache_root() -> Path:
    return Path(os.environ.get("HODEGOS_CACHE") or Path.home() / ".cache" / "hodegos")


def cached_htmx() -> Path:
    return cache_root() / f"htmx-{HTMX_VERSION}-{HTMX_SHA256[:12]}" / "htmx.min.js"


def htmx_path(configured: Path | None = None) -> Path | None:
    """Where htmx is: the configured path, ``$HODEGOS_UI_HTMX``, or the tool cache; ``None`` if nowhere."""
    for candidate in (configured, os.environ.get("HODEGOS_UI_HTMX"), cached_htmx()):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@cache
def read(path: Path) -> bytes:
    return path.read_bytes()
