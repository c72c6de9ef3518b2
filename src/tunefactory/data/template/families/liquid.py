"""Liquid AI's LFM formats."""

from __future__ import annotations

from ..core import Template
from ._slots import BOS, C, CHATML

LFM2 = dict(CHATML, prefix=BOS, observation=f"<|im_start|>tool\n<|tool_response_start|>{C}<|tool_response_end|><|im_end|>\n",
            stop_words=("<|im_end|>",), replace_eos=True)
LFM2_TOOLS_NOTE = ("LFM2's own tool format (<|tool_list_start|> / <|tool_call_start|> pythonic calls) is not "
                   "available; tools are described and called in LLaMA-Factory's ReAct style.")

TEMPLATES = [
    Template("lfm2", **LFM2, family="Liquid LFM2, LFM2.5",
             notes=("As LFM2's template: the BOS `<|startoftext|>` opens the chat and there is no default system "
                    "prompt; LLaMA-Factory writes no BOS and adds 'You are a helpful AI assistant.'",
                    LFM2_TOOLS_NOTE)),
    Template("lfm2_vl", **LFM2, default_system="You are a helpful multimodal assistant by Liquid AI.",
             multimodal="lfm2_vl", family="Liquid LFM2-VL", notes=(LFM2_TOOLS_NOTE,)),
]
