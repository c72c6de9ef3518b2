"""Microsoft's Phi formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C

TEMPLATES = [
    Template("phi", system=f"<|system|>\n{C}<|end|>\n", user=f"<|user|>\n{C}<|end|>\n",
             generation_prompt="<|assistant|>\n", assistant=f"{C}<|end|>\n", stop_words=("<|end|>",),
             replace_eos=True, family="Phi-3, Phi-3.5"),
    Template("phi4", system=f"<|im_start|>system<|im_sep|>{C}<|im_end|>",
             user=f"<|im_start|>user<|im_sep|>{C}<|im_end|>",
             generation_prompt="<|im_start|>assistant<|im_sep|>", assistant=f"{C}<|im_end|>",
             stop_words=("<|im_end|>",), replace_eos=True, family="Phi-4"),
]
