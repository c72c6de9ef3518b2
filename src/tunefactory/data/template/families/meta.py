"""Meta's Llama formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, BOS, EOS, LLAMA3

TEMPLATES = [
    Template("llama2", user=f"{BOS}[INST] {C} [/INST]", assistant=f" {C} {EOS}",
             system=f"<<SYS>>\n{C}\n<</SYS>>\n\n", system_in_user=True, family="Llama 2 chat",
             notes=("Answers are written ` answer </s>` (spaces on both sides) as in Meta's template; "
                    "LLaMA-Factory writes `answer</s>`.",)),
    Template("llama3", **LLAMA3, family="Llama 3, 3.1, 3.2, 3.3 Instruct",
             notes=("Without tools no `Cutting Knowledge Date` header is written (Llama 3.0 format); with tools "
                    "the 3.1 JSON tool prompt (`Environment: ipython`, tools before the system text, as with "
                    "`tools_in_user_message=false`) uses the fixed date 26 Jul 2024, the official template's default, "
                    "so renders are reproducible (LLaMA-Factory uses today's date).",)),
    Template("llama4", prefix=BOS, system=f"<|header_start|>system<|header_end|>\n\n{C}<|eot|>",
             user=f"<|header_start|>user<|header_end|>\n\n{C}<|eot|>",
             generation_prompt="<|header_start|>assistant<|header_end|>\n\n", assistant=f"{C}<|eot|>",
             observation=f"<|header_start|>ipython<|header_end|>\n\n{C}<|eot|>", tool_format="llama3",
             stop_words=("<|eot|>", "<|eom|>"), replace_eos=True, multimodal="llama4", family="Llama 4"),
]
