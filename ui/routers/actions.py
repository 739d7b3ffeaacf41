"""``/actions``: the Actions (cluster info, renames, deletions, PII masking, Kubernetes attributes)."""

from __future__ import annotations

from ui.routers.rules import make_router
from ui.rules import ACTION_FAMILY

router = make_router(ACTION_FAMILY)
