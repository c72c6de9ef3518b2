"""OpenBMB's MiniCPM formats."""

from __future__ import annotations

from ..core import Template
from ._slots import BOS, CHATML

MINICPM_O_SYSTEM = "You are a helpful assistant. You can accept audio and text input and output voice and text."
MINICPM = dict(CHATML, observation="<|im_start|>tool\n{{content}}<|im_end|>\n", stop_words=("<|im_end|>",))

TEMPLATES = [
    Template("cpm4", **MINICPM, prefix=BOS, family="MiniCPM 4"),
    Template("minicpm_v", **MINICPM, default_system="You are a helpful assistant.", multimodal="minicpm_v",
             family="MiniCPM-V 2.5, 2.6, 4.0, 4.5"),
    Template("minicpm_v_4_6", **MINICPM, default_system="You are a helpful assistant.", multimodal="minicpm_v_4_6",
             family="MiniCPM-V 4.6"),
    Template("minicpm_o", **MINICPM, default_system=MINICPM_O_SYSTEM, multimodal="minicpm_v",
             family="MiniCPM-o 2.6"),
]
