"""Google's Gemma formats (<start_of_turn> turns, no system role)."""

from __future__ import annotations

from ..core import Template
from ._slots import GEMMA

TEMPLATES = [
    Template("gemma", **GEMMA, family="Gemma, Gemma 2"),
    Template("gemma3", **GEMMA, multimodal="gemma3", family="Gemma 3"),
]
