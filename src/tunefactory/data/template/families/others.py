"""Other vendors' formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, BOS, EOS, CHATML, VICUNA, INTERNLM_SYSTEM

TEMPLATES = [
    Template("llava", **VICUNA, multimodal="llava", family="LLaVA-1.5 (Vicuna format with <image>)"),
    Template("yi", **CHATML, stop_words=("<|im_end|>",), family="Yi, Yi-1.5 chat"),
    Template("cohere", prefix=BOS, system=f"<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{C}<|END_OF_TURN_TOKEN|>",
             user=f"<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{C}<|END_OF_TURN_TOKEN|>",
             generation_prompt="<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>", assistant=f"{C}<|END_OF_TURN_TOKEN|>",
             stop_words=("<|END_OF_TURN_TOKEN|>",), replace_eos=True, family="Command R, Command R+, Aya"),
    Template("intern2", **dict(CHATML, prefix=BOS), default_system=INTERNLM_SYSTEM, stop_words=("<|im_end|>",),
             family="InternLM2, InternLM2.5"),
    Template("granite3", system=f"<|start_of_role|>system<|end_of_role|>{C}<|end_of_text|>\n",
             user=f"<|start_of_role|>user<|end_of_role|>{C}<|end_of_text|>\n",
             generation_prompt="<|start_of_role|>assistant<|end_of_role|>", assistant=f"{C}<|end_of_text|>\n",
             observation=f"<|start_of_role|>tool_response<|end_of_role|>{C}<|end_of_text|>\n",
             family="IBM Granite 3.0-3.3 instruct",
             notes=("Tool results use Granite's `tool_response` role; LLaMA-Factory writes them as user turns.",)),
    Template("gpt_oss", system=f"<|start|>system<|message|>{C}<|end|>", user=f"<|start|>user<|message|>{C}<|end|>",
             generation_prompt="<|start|>assistant", assistant=f"{C}{EOS}", reasoning=True,
             thought_words=("<|channel|>analysis<|message|>", "<|end|><|start|>assistant"),
             answer_header="<|channel|>final<|message|>",
             stop_words=("<|return|>", "<|call|>"),
             default_system="You are ChatGPT, a large language model trained by OpenAI.", family="gpt-oss",
             notes=("A subset of OpenAI's Harmony format: no developer message, reasoning-effort line or "
                    "commentary channel; every answer ends with EOS (`<|return|>`).",)),
]
