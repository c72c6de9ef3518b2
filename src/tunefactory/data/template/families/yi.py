"""01.AI's Yi formats."""

from __future__ import annotations

from ..core import Template
from ._slots import CHATML

TEMPLATES = [
    Template("yi", **CHATML, stop_words=("<|im_end|>",), family="Yi, Yi-1.5 chat"),
]
