"""Kuaishou's Keye formats."""

from __future__ import annotations

from ..core import Template

TEMPLATES: list[Template] = [
]
