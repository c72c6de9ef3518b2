"""Hand goldens for the Qwen, Qwen-based (Sailor), Xiaomi MiMo and Kuaishou Keye templates without a fixture.

Each string is written from the family's published format (model card / chat_template as documented), or,
where we found none, from LLaMA-Factory's definition; the conversations are test_families.py's.
``_differs`` marks what the published format writes and our template cannot (a strict xfail there).
"""

from __future__ import annotations

import sys
from pathlib import Path

HELPFUL = "You are a helpful assistant."
SAILOR_SYSTEM = ("You are an AI assistant named Sailor created by Sea AI Lab. "
                 "Your answer should be friendly, unbiased, faithful, informative and detailed.")
MIMO_V2_SYSTEM = "You are MiMo, a helpful AI assistant engineered by Xiaomi."
EMPTY_THOUGHT = "<think>\n\n</think>\n\n"


def _differs(expected: str, reason: str):
    """test_families.Differs; this file is loaded while test_families.py runs."""
    families = next(module for module in list(sys.modules.values())
                    if Path(getattr(module, "__file__", None) or "").name == "test_families.py")
    return families.Differs(expected, reason)


def _chatml(system: str = "", thought: str = "", user: str = "user", assistant: str = "assistant",
            think_prompt: bool = False) -> dict:
    """The five cases for a ChatML-style format; ``thought`` goes before the final answer."""
    def sys_block(text):
        return f"<|im_start|>system\n{text}<|im_end|>\n" if text else ""

    def turn(text):
        return f"<|im_start|>{user}\n{text}<|im_end|>\n<|im_start|>{assistant}\n"

    prompt = sys_block(system) + turn("Hi")
    cases = {
        "single_turn": prompt + thought + "Hello!<|im_end|>\n",
        "system": sys_block("Be brief.") + turn("Hi") + thought + "Hello!<|im_end|>\n",
        "multi_turn": sys_block("Be brief.") + turn("Hi") + "Hello!<|im_end|>\n" + turn("How are you?") + thought
                      + "Fine.<|im_end|>\n",
        "generation_prompt": prompt,
        "no_generation_prompt": sys_block(system) + f"<|im_start|>{user}\nHi<|im_end|>\n",
    }
    if think_prompt:
        cases["generation_prompt"] = prompt + "<think>\n"  # the model continues the opened thought
    return cases


def _mimo_v2() -> dict:
    """MiMo-V2: ChatML turns joined without newlines, the default system always written."""
    def head(system):
        return f"<|im_start|>system\n{system}<|im_end|>"

    turn = "<|im_start|>user\nHi<|im_end|><|im_start|>assistant\n"
    prompt = head(MIMO_V2_SYSTEM) + turn
    return {
        "single_turn": prompt + "Hello!<|im_end|>",
        "system": head("Be brief.") + turn + "Hello!<|im_end|>",
        "multi_turn": head("Be brief.") + turn + "Hello!<|im_end|>"
                      "<|im_start|>user\nHow are you?<|im_end|><|im_start|>assistant\nFine.<|im_end|>",
        "generation_prompt": prompt + "<think>",  # the generation prompt opens the thought
        "no_generation_prompt": head(MIMO_V2_SYSTEM) + "<|im_start|>user\nHi<|im_end|>",
    }


CASES = {
    # Qwen2-Audio-Instruct: ChatML with "You are a helpful assistant." when no system is given
    # Sailor chat (model card): 'question' and 'answer' roles, its own default system prompt
    "sailor": _chatml(SAILOR_SYSTEM, user="question", assistant="answer"),
    # Keye-VL and MiMo-7B (LLaMA-Factory's definitions): Qwen3-style thought block on the final answer
    "keye_vl": _chatml(thought=EMPTY_THOUGHT),
    "mimo": _chatml(HELPFUL, thought=EMPTY_THOUGHT),
    "mimo_v2": _mimo_v2(),
}
