"""Formats of vendors with one or two templates each (Cohere, Databricks, MediaTek, …)."""

from __future__ import annotations

from ..core import Template
from ._slots import BOS, C

TEMPLATES = [
    Template("cohere", prefix=BOS, system=f"<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{C}<|END_OF_TURN_TOKEN|>",
             user=f"<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{C}<|END_OF_TURN_TOKEN|>",
             generation_prompt="<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>", assistant=f"{C}<|END_OF_TURN_TOKEN|>",
             stop_words=("<|END_OF_TURN_TOKEN|>",), replace_eos=True, family="Command R, Command R+, Aya"),
]
