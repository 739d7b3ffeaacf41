"""``/sampling``: the SamplingRules (tail sampling on the gateway, head sampling in the agents)."""

from __future__ import annotations

from ui.routers.rules import make_router
from ui.rules import SAMPLING_FAMILY

router = make_router(SAMPLING_FAMILY)
