"""Moonshot AI's Kimi / Moonlight formats."""

from __future__ import annotations

from ..core import Template

TEMPLATES: list[Template] = [
]
