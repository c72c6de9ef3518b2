"""Mistral AI's formats ([INST] turns; tokenizer v1-v3, tekken, and v7+ with [SYSTEM_PROMPT])."""

from __future__ import annotations

from ..core import Template
from ._slots import C, BOS, EOS

# tekken v3 (Mistral NeMo, Pixtral): no spaces around [INST]…[/INST], the system prompt inside a user turn
TEKKEN = dict(prefix=BOS, user=f"[INST]{C}[/INST]", assistant=f"{C}{EOS}", function=f"[TOOL_CALLS]{C}{EOS}",
              system=f"{C}\n\n", system_in_user=True, observation=f'[TOOL_RESULTS]{{"content": {C}}}[/TOOL_RESULTS]',
              tool_format="mistral")
# v7+ (Mistral Small 3.x, Ministral 3): a [SYSTEM_PROMPT] block before the first turn
SYSTEM_PROMPT = dict(TEKKEN, system=f"[SYSTEM_PROMPT]{C}[/SYSTEM_PROMPT]", system_in_user=False)
SYSTEM_LAST = ("The system prompt opens the first user message; Mistral's template puts it (and the tool list) "
               "before the last user message instead, which would change earlier turns' ids.")
V7_TOOLS = ("Tool calls are written `[TOOL_CALLS][{…}]` as for tokenizer v3: the v7+ template writes "
            "`[TOOL_CALLS]name[ARGS]{…}`, the tool list as `[AVAILABLE_TOOLS]…` outside the system block, and needs "
            "9-character call ids, which no tool format here writes yet.")

TEMPLATES = [
    Template("mistral", prefix=BOS, user=f"[INST] {C}[/INST]", assistant=f" {C}{EOS}",
             function=f"[TOOL_CALLS] {C}{EOS}", system=f"{C}\n\n", system_in_user=True,
             observation=f'[TOOL_RESULTS] {{"content": {C}}}[/TOOL_RESULTS]', tool_format="mistral",
             family="Mistral 7B Instruct v0.1-v0.3, Mixtral (tokenizer v1-v3)", notes=(SYSTEM_LAST,)),
    Template("ministral", **TEKKEN, family="Ministral 8B, Mistral NeMo (tekken tokenizer)", notes=(SYSTEM_LAST,)),
    Template("pixtral", **TEKKEN, multimodal="pixtral", family="Pixtral 12B", notes=(SYSTEM_LAST,)),
    Template("mistral_small", **SYSTEM_PROMPT, multimodal="pixtral", family="Mistral Small 3, 3.1, 3.2",
             notes=("No default system prompt is written: Mistral Small's template writes its own long one "
                    "(with today's date) when none is given, which LLaMA-Factory does not write either.", V7_TOOLS)),
    Template("ministral3", **SYSTEM_PROMPT, multimodal="pixtral", family="Ministral 3 (3B, 8B, 14B)",
             notes=("The system prompt is a `[SYSTEM_PROMPT]…[/SYSTEM_PROMPT]` block as in Ministral 3's template; "
                    "LLaMA-Factory writes it as `system\\n\\n` inside the first [INST]. No default system prompt is "
                    "written (the Reasoning checkpoints' template writes its thinking instructions when none is "
                    "given).", V7_TOOLS)),
]
