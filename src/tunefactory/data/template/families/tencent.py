"""Tencent's Hunyuan and Youtu formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, BOS, EOS

HY_USER, HY_ASSISTANT = "<｜hy_User｜>", "<｜hy_Assistant｜>"
HY_SYSTEM_END, HY_EOS = "<｜hy_place▁holder▁no▁3｜>", "<｜hy_place▁holder▁no▁2｜>"

# Hunyuan-7B (0124) / Hunyuan-MT: every user turn opens with the BOS, the system text inside the first one.
_HUNYUAN_7B = dict(system=f"{C}<|extra_4|>", system_in_user=True, user=f"{BOS}{C}<|extra_0|>")
_BOS_PER_TURN_NOTE = ("Every user turn after the first starts with `<|startoftext|>`, as the model's own chat template "
                      "writes; LLaMA-Factory writes it once.")
# Hunyuan dense instruct (0.5B-7B) and Hy-MT 1.5/2 small models: the `hy_` special tokens.
_HY_DENSE = dict(prefix=BOS, system=f"{C}{HY_SYSTEM_END}", user=f"{HY_USER}{C}", generation_prompt=HY_ASSISTANT,
                 assistant=f"{C}{EOS}", stop_words=(HY_EOS,))

TEMPLATES = [
    Template("hunyuan", **_HUNYUAN_7B, assistant=f"{C}<|eos|>", stop_words=("<|eos|>",),
             family="Hunyuan-MT-7B", notes=(_BOS_PER_TURN_NOTE,)),
    Template("hunyuan_small", prefix="<｜hy_begin▁of▁sentence｜>", system=f"{C}{HY_SYSTEM_END}",
             user=f"{HY_USER}{C}<｜hy_place▁holder▁no▁8｜>", assistant=f"{C}{HY_EOS}", stop_words=(HY_EOS,),
             family="Hunyuan small dense models (LLaMA-Factory's `hunyuan_small`)"),
    Template("hunyuan_instruct", **_HY_DENSE, reasoning=True, family="Hunyuan-0.5B/1.8B/4B/7B-Instruct"),
    Template("hy_dense_1_8b", **_HY_DENSE, end_of_conversation="<｜hy_place▁holder▁no▁8｜>",
             family="Hy-MT2-1.8B (and 0.5B/4B dense)",
             notes=("Follows Tencent's own LLaMA-Factory template for Hy-MT2 (hy_dense_template.py), plus the "
                    "'<｜hy_place▁holder▁no▁8｜>' Hy-MT2's chat template writes after a conversation with no "
                    "generation prompt (LLaMA-Factory omits it).",)),
    Template("hy_dense_7b", **_HUNYUAN_7B, assistant=f"{C}{EOS}", stop_words=("<|eos|>",), family="Hy-MT2-7B",
             notes=(_BOS_PER_TURN_NOTE,)),
    Template("hy_mt_1_8b", **_HY_DENSE, family="HY-MT1.5-1.8B"),
    Template("hy_mt_7b", **_HUNYUAN_7B, assistant=f"{C}<|eos|>", stop_words=("<|eos|>",), family="HY-MT1.5-7B",
             notes=(_BOS_PER_TURN_NOTE,)),
    Template("hy3", prefix=BOS, user=f"{HY_USER}{C}", generation_prompt=HY_ASSISTANT, assistant=f"{C}<｜hy_eos｜>",
             stop_words=("<｜hy_eos｜>",), replace_eos=True, reasoning=True, thought_words=("<think>", "</think>"),
             family="Hy3 (Hunyuan 3)",
             notes=("The reasoning-effort marker (`<｜reasoning_mode｜>reasoning_effort:...`) Hy3's template appends "
                    "to the system text is not written; put it in the system prompt if wanted.",
                    "Earlier answers lose their thoughts entirely, where Hy3's template writes an empty "
                    "`<think></think>` before each.")),
    Template("youtu", prefix=BOS, user=f"<|User|>{C}", generation_prompt="<|Assistant|>",
             assistant=f"{C}<|end_of_text|>", function=C,
             observation=f"<tool_response>\n{C}\n</tool_response>", stop_words=("<|end_of_text|>",),
             replace_eos=True, reasoning=True, family="Youtu-LLM"),
    Template("youtu_vl", system=f"<|begin_of_text|>system\n{C}<|end_of_text|>\n",
             user=f"<|begin_of_text|>user\n{C}<|end_of_text|>\n", generation_prompt="<|begin_of_text|>assistant\n",
             assistant=f"{C}<|end_of_text|>\n", default_system="You are a helpful assistant.",
             stop_words=("<|end_of_text|>",), multimodal="youtu_vl", family="Youtu-VL"),
]
