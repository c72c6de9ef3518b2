"""ByteDance's Seed formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, BOS, EOS

# Seed: `<bos>role\n content <eos>` for every message, the BOS/EOS tokens themselves marking turns.
_SEED = dict(system=f"{BOS}system\n{C}{EOS}", user=f"{BOS}user\n{C}{EOS}", generation_prompt=f"{BOS}assistant\n",
             assistant=f"{C}{EOS}")

TEMPLATES = [
    Template("seed_coder", **_SEED, family="Seed-Coder instruct",
             default_system=("You are an AI programming assistant, utilizing the Seed-Coder model, developed by "
                             "ByteDance Seed, and you only answer questions related to computer science. For "
                             "politically sensitive questions, security and privacy issues, and other non-computer "
                             "science questions, you will refuse to answer.\n\n")),
    Template("seed_oss", **_SEED, observation=f"{BOS}tool\n{C}{EOS}", thought_words=("<seed:think>", "</seed:think>\n"),
             family="Seed-OSS",
             notes=("Thoughts are written as the data gives them (`<seed:think>...</seed:think>` in an answer): "
                    "Seed-OSS keeps them in every turn and writes no empty block, so the template is not flagged "
                    "reasoning; LLaMA-Factory adds an empty thought block to answers without one.",
                    "Tool calls use the generic ReAct format: Seed-OSS's own `<seed:tool_call>` XML format is not "
                    "implemented.")),
]
