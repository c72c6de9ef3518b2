"""Formats of smaller labs and community models (XuanYuan, TeleChat, Yuan, OpenCoder, …)."""

from __future__ import annotations

from ..core import Template

TEMPLATES: list[Template] = [
]
