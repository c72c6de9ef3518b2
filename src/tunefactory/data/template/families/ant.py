"""Ant Group's Ling / Bailing formats."""

from __future__ import annotations

from ..core import Template

TEMPLATES: list[Template] = [
]
