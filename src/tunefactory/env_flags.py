"""On/off switches read from environment variables (FORCE_TORCHRUN, USE_RAY, USE_MODELSCOPE_HUB, …), with one
idea of "on" for all of them. Imports nothing from the package, so any layer can use it."""

from __future__ import annotations

import os
from collections.abc import Mapping

# LLaMA-Factory's spellings of "on" (1, true, y), plus yes and on; compared case-insensitively.
TRUE_SPELLINGS = frozenset({"1", "true", "y", "yes", "on"})


def env_flag(name: str, default: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the switch ``name`` is on: a value in ``TRUE_SPELLINGS`` (any case, surrounding spaces ignored)
    is on, any other value is off, and an unset or empty variable gives ``default``."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    if not value:
        return default
    return value.lower() in TRUE_SPELLINGS
