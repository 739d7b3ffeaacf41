"""How one UI server runs: which namespace Hodegos lives in, read-only or not, page sizes, timeouts.

A plain pydantic model, built by ``hodegos ui`` from its flags and by tests directly; routes get it through
the :func:`ui.dependencies.settings` dependency (so a test can override it), never as a global.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from api import constants


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Where Destinations, their Secrets, the collectors and hodegos-config live.
    namespace: str = constants.NAMESPACE
    # Hide every control that writes, and refuse every state-changing request with 403.
    read_only: bool = False
    # Rows per page of the sources table (1,000 workloads stay fast: only one page is rendered).
    page_size: int = Field(default=50, ge=5, le=500)
    # Seconds between two scrapes of the collectors' own metrics (the overview's live throughput).
    metrics_interval: float = Field(default=5.0, gt=0)
    metrics_timeout: float = Field(default=2.0, gt=0)
    # Test connection: seconds to wait, and (optionally) the only hosts it may contact.
    test_connection_timeout: float = Field(default=5.0, gt=0)
    test_connection_hosts: tuple[str, ...] | None = None
    # Key for the CSRF tokens; a fresh one per process unless given (several replicas share one).
    csrf_key: str = Field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    # The htmx file to serve; None: the pinned copy in the tool cache (see ui.assets).
    htmx_path: Path | None = None
    # Set the Secure flag on the CSRF cookie (when served over HTTPS, e.g. behind an ingress).
    secure_cookies: bool = False
