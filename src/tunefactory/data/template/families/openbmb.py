"""OpenBMB's MiniCPM formats."""

from __future__ import annotations

from ..core import Template
from ._slots import CHATML, QWEN

MINICPM_O_SYSTEM = "You are a helpful assistant. You can accept audio and text input and output voice and text."
MINICPM = dict(CHATML, observation="<|im_start|>tool\n{{content}}<|im_end|>\n", stop_words=("<|im_end|>",))

TEMPLATES = [
    Template("cpm4", **MINICPM, family="MiniCPM 4",
             notes=("No BOS before the first turn, as MiniCPM4's chat template writes; "
                    "LLaMA-Factory writes the BOS.",)),
    Template("minicpm_v", **MINICPM, default_system="You are a helpful assistant.", multimodal="minicpm_v",
             family="MiniCPM-V 2.5, 2.6 (MiniCPM-V 4.0 ships plain ChatML: use `chatml`)"),
    Template("minicpm_v_4_6", **QWEN, reasoning=True, enable_thinking=False, multimodal="minicpm_v_4_6",
             family="MiniCPM-V 4.6",
             notes=("As MiniCPM-V 4.6's template (thinking off by default): no default system prompt, the final "
                    "answer after an empty thought block '<think>\\n\\n</think>\\n\\n', thoughts dropped; "
                    "LLaMA-Factory writes plain ChatML answers with 'You are a helpful assistant.'.",
                    "MiniCPM-V 4.6 writes tool calls as XML (<function=...><parameter=...>) after its own tool "
                    "prompt; we write Hermes JSON calls (the qwen tool format).")),
    Template("minicpm_o", **MINICPM, default_system=MINICPM_O_SYSTEM, multimodal="minicpm_v",
             family="MiniCPM-o 2.6"),
]
