"""Xiaomi's MiMo formats (Qwen-style ChatML)."""

from __future__ import annotations

from ..core import Template
from ._slots import QWEN

C = "{{content}}"

TEMPLATES: list[Template] = [
    Template("mimo", **QWEN, reasoning=True, default_system="You are a helpful assistant.", family="MiMo-7B"),
    Template("mimo_v2", system=f"<|im_start|>system\n{C}<|im_end|>", user=f"<|im_start|>user\n{C}<|im_end|>",
             generation_prompt="<|im_start|>assistant\n", assistant=f"{C}<|im_end|>",
             observation=f"<|im_start|>tool\n<tool_response>\n{C}\n</tool_response>\n<|im_end|>", tool_format="qwen",
             stop_words=("<|im_end|>",), replace_eos=True, thought_words=("<think>", "</think>"),
             generation_opener="<think>",
             default_system="You are MiMo, a helpful AI assistant engineered by Xiaomi.", family="MiMo-V2-Flash",
             notes=("LLaMA-Factory ends every turn with '<|im_end|>\\n'; MiMo-V2's own template joins turns with no "
                    "newline, as we do.",
                    "Answers are written as given (MiMo-V2 keeps every thought).",
                    "MiMo-V2 writes tool calls as XML (<function=...><parameter=...>); we write Hermes JSON calls.")),
    Template("mimo_vl", **QWEN, default_system="You are MiMo, an AI assistant developed by Xiaomi.",
             multimodal="qwen2_vl", family="MiMo-VL",
             notes=("LLaMA-Factory adds an empty thought block to answers without one; MiMo-VL's template writes "
                    "answers as given, as we do.",)),
]
