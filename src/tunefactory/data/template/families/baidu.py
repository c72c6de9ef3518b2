"""Baidu's ERNIE formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C

TEMPLATES = [
    Template("ernie", system=f"<|im_start|>system\n{C}<|im_end|>\n\n", user=f"<|im_start|>user\n{C}<|im_end|>\n\n",
             generation_prompt="<|im_start|>assistant\n", assistant=f"{C}<|im_end|>\n\n",
             observation=f"<|im_start|>tool\n{C}<|im_end|>\n\n",
             default_system="<global_setting>\nthink_mode=True\n</global_setting>", stop_words=("<|im_end|>",),
             family="ERNIE 4.5 Thinking (21B-A3B-Thinking)"),
    Template("ernie_nothink", prefix="<|begin_of_sentence|>", system=f"{C}\n", user=f"User: {C}\n",
             generation_prompt="Assistant: ", assistant=f"{C}<|end_of_sentence|>",
             stop_words=("<|end_of_sentence|>",), family="ERNIE 4.5 (0.3B, 21B-A3B, 300B-A47B) without thinking"),
    Template("ernie_vl", prefix="<|begin_of_sentence|>", system=f"{C}\n", user=f"User: {C}",
             generation_prompt="\nAssistant: ", assistant=f"{C}<|end_of_sentence|>",
             stop_words=("<|end_of_sentence|>",), replace_eos=True, reasoning=True,
             multimodal="ernie_vl", family="ERNIE 4.5 VL",
             notes=("ERNIE 4.5 VL's template opens with '<|begin_of_sentence|>', which LLaMA-Factory omits; we "
                    "write it.",
                    "The final answer carries an empty thought block when it has none (as LLaMA-Factory's reasoning "
                    "templates); the official template writes the answer alone.")),
]
