"""Ant Group's Ling / Bailing formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C

TEMPLATES = [
    Template("bailing", system=f"<role>SYSTEM</role>{C}", user=f"<role>HUMAN</role>{C}",
             generation_prompt="<role>ASSISTANT</role>", assistant=C, observation=f"<role>TOOL</role>{C}",
             stop_words=("<|endoftext|>",), efficient_eos=True, family="Ling-lite, Ling-plus (Bailing)",
             notes=("Tool results use Ling's `TOOL` role (its template upper-cases the role name); LLaMA-Factory "
                    "writes `OBSERVATION`.",)),
    Template("bailing_v2", system=f"<role>SYSTEM</role>{C}<|role_end|>", user=f"<role>HUMAN</role>{C}<|role_end|>",
             generation_prompt="<role>ASSISTANT</role>", assistant=f"{C}<|role_end|>",
             observation=f"<role>OBSERVATION</role>\n<tool_response>\n{C}\n</tool_response><|role_end|>",
             tool_format="qwen", stop_words=("<|endoftext|>",), efficient_eos=True,
             family="Ling 2.0, Ring 2.0 (Bailing v2)",
             notes=("LLaMA-Factory's `ling` tool format is written with Qwen's Hermes-style `<tool_call>` JSON "
                    "and tool list.",)),
]
