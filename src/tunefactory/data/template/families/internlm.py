"""Shanghai AI Lab's InternLM / InternVL / Intern-S1 formats."""

from __future__ import annotations

from ..core import Template
from ._slots import BOS, CHATML, INTERNLM_SYSTEM

TEMPLATES = [
    Template("intern2", **dict(CHATML, prefix=BOS), default_system=INTERNLM_SYSTEM, stop_words=("<|im_end|>",),
             family="InternLM2, InternLM2.5"),
]
