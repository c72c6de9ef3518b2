"""Formats of vendors with one or two templates each (Cohere, Databricks, MediaTek, …)."""

from __future__ import annotations

from ..core import Template
from ._slots import BOS, C

DBRX_SYSTEM = (
    "You are DBRX, created by Databricks. You were last updated in December 2023. "
    "You answer questions based on information available up to that point.\n"
    "YOU PROVIDE SHORT RESPONSES TO SHORT QUESTIONS OR STATEMENTS, but provide thorough "
    "responses to more complex and open-ended questions.\nYou assist with various tasks, "
    "from writing to coding (using markdown for code blocks — remember to use ``` with "
    "code, JSON, and tables).\n(You do not have real-time data access or code execution "
    "capabilities. You avoid stereotyping and provide balanced perspectives on "
    "controversial topics. You do not provide song lyrics, poems, or news articles and "
    "do not divulge details of your training data.)\nThis is your system prompt, "
    "guiding your responses. Do not reference it, just respond to the user. If you find "
    "yourself talking about this message, stop. You should be responding appropriately "
    "and usually that means not mentioning this.\nYOU DO NOT MENTION ANY OF THIS INFORMATION "
    "ABOUT YOURSELF UNLESS THE INFORMATION IS DIRECTLY PERTINENT TO THE USER'S QUERY."
)
BREEZE_SYSTEM = ("You are a helpful AI assistant built by MediaTek Research. "
                 "The user you are helping speaks Traditional Chinese and comes from Taiwan.")

TEMPLATES = [
    Template("cohere", prefix=BOS, system=f"<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{C}<|END_OF_TURN_TOKEN|>",
             user=f"<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{C}<|END_OF_TURN_TOKEN|>",
             generation_prompt="<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>", assistant=f"{C}<|END_OF_TURN_TOKEN|>",
             stop_words=("<|END_OF_TURN_TOKEN|>",), replace_eos=True, family="Command R, Command R+, Aya"),
    # DBRX separates messages with a newline but writes none after the last one
    Template("dbrx", system=f"<|im_start|>system\n{C}<|im_end|>", user=f"\n<|im_start|>user\n{C}<|im_end|>",
             generation_prompt="\n<|im_start|>assistant\n", assistant=f"{C}<|im_end|>",
             observation=f"\n<|im_start|>tool\n{C}<|im_end|>", default_system=DBRX_SYSTEM,
             stop_words=("<|im_end|>",), replace_eos=True, family="DBRX Instruct",
             notes=("DBRX's template writes no newline after the last message; LLaMA-Factory ends every answer "
                    "with '<|im_end|>\\n'. We follow the template.",)),
    Template("breeze", prefix=f"{BOS} ", system=f"{C} ", user=f" [INST] {C} [/INST] ", assistant=C, efficient_eos=True,
             default_system=BREEZE_SYSTEM, family="MediaTek Breeze 7B Instruct",
             notes=("As Breeze's template: '<s> ' + system prompt (its default one when none is given) + ' ', and "
                    "' [INST] ... [/INST] ' around each question; LLaMA-Factory writes no system prompt and no "
                    "space before '[INST]'.",)),
    Template("index", system=f"<unk>{C}", user=f"reserved_0{C}reserved_1", assistant=C, efficient_eos=True,
             family="Bilibili Index-1.9B Chat"),
    Template("exaone", system=f"[|system|]{C}[|endofturn|]\n", user=f"[|user|]{C}\n",
             generation_prompt="[|assistant|]", assistant=f"{C}[|endofturn|]\n",
             observation=f"[|tool|]{C}[|endofturn|]\n",
             stop_words=("[|endofturn|]",), family="LG EXAONE 3.0, EXAONE 3.5",
             notes=("Without a system prompt EXAONE's template writes an empty system turn "
                    "('[|system|][|endofturn|]\\n'), which our slots cannot (a system slot is written only for "
                    "a non-empty system text); LLaMA-Factory writes none either.",)),
]
