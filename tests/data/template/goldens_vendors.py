"""Hand goldens for vendor templates whose published chat template is not in the fixtures yet.

Written from each family's format (LLaMA-Factory's slots, checked against the model cards), with the
conversations of test_families.py and BOS "<s>" / EOS "</s>". Efficient-EOS families (index,
bailing_v2) write no EOS between turns.
"""

from __future__ import annotations

ERNIE_SETTING = "<global_setting>\nthink_mode=True\n</global_setting>"
MINICPM_O_SYSTEM = "You are a helpful assistant. You can accept audio and text input and output voice and text."


def chatml(system: str | None, bos: str = "") -> dict[str, str]:
    """ChatML turns; ``system`` is the default system prompt (None: none)."""
    default = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
    brief = "<|im_start|>system\nBe brief.<|im_end|>\n"
    hi = "<|im_start|>user\nHi<|im_end|>\n"
    hello = "<|im_start|>assistant\nHello!<|im_end|>\n"
    return {
        "single_turn": bos + default + hi + hello,
        "system": bos + brief + hi + hello,
        "multi_turn": bos + brief + hi + hello
                      + "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\nFine.<|im_end|>\n",
        "generation_prompt": bos + default + hi + "<|im_start|>assistant\n",
        "no_generation_prompt": bos + default + hi,
    }


CASES = {
    "intern_s1": chatml(None, bos="<s>"),
    "minicpm_o": chatml(MINICPM_O_SYSTEM),
    "lfm2_vl": chatml("You are a helpful multimodal assistant by Liquid AI.", bos="<s>"),  # BOS first, as LFM2
    "ernie": {  # ERNIE 4.5 Thinking: ChatML turns separated by a blank line
        "single_turn": "<|im_start|>system\n" + ERNIE_SETTING + "<|im_end|>\n\n"
                       "<|im_start|>user\nHi<|im_end|>\n\n<|im_start|>assistant\nHello!<|im_end|>\n\n",
        "system": "<|im_start|>system\nBe brief.<|im_end|>\n\n"
                  "<|im_start|>user\nHi<|im_end|>\n\n<|im_start|>assistant\nHello!<|im_end|>\n\n",
        "multi_turn": "<|im_start|>system\nBe brief.<|im_end|>\n\n"
                      "<|im_start|>user\nHi<|im_end|>\n\n<|im_start|>assistant\nHello!<|im_end|>\n\n"
                      "<|im_start|>user\nHow are you?<|im_end|>\n\n<|im_start|>assistant\nFine.<|im_end|>\n\n",
        "generation_prompt": "<|im_start|>system\n" + ERNIE_SETTING + "<|im_end|>\n\n"
                             "<|im_start|>user\nHi<|im_end|>\n\n<|im_start|>assistant\n",
        "no_generation_prompt": "<|im_start|>system\n" + ERNIE_SETTING + "<|im_end|>\n\n"
                                "<|im_start|>user\nHi<|im_end|>\n\n",
    },
    "ernie_vl": {  # ERNIE 4.5 VL: the final answer carries a (here empty) thought block
        "single_turn": "<|begin_of_sentence|>User: Hi\nAssistant: <think>\n\n</think>\n\nHello!<|end_of_sentence|>",
        "system": "<|begin_of_sentence|>Be brief.\nUser: Hi\nAssistant: <think>\n\n</think>\n\nHello!"
                  "<|end_of_sentence|>",
        "multi_turn": "<|begin_of_sentence|>Be brief.\nUser: Hi\nAssistant: Hello!<|end_of_sentence|>"
                      "User: How are you?\nAssistant: <think>\n\n</think>\n\nFine.<|end_of_sentence|>",
        "generation_prompt": "<|begin_of_sentence|>User: Hi\nAssistant: ",
        "no_generation_prompt": "<|begin_of_sentence|>User: Hi",
    },
    "minimax1": {  # MiniMax-Text-01
        "single_turn": "<beginning_of_sentence>system ai_setting=assistant\nYou are a helpful assistant."
                       "<end_of_sentence>\n<beginning_of_sentence>user name=user\nHi<end_of_sentence>\n"
                       "<beginning_of_sentence>ai name=assistant\nHello!<end_of_sentence>\n",
        "system": "<beginning_of_sentence>system ai_setting=assistant\nBe brief.<end_of_sentence>\n"
                  "<beginning_of_sentence>user name=user\nHi<end_of_sentence>\n"
                  "<beginning_of_sentence>ai name=assistant\nHello!<end_of_sentence>\n",
        "multi_turn": "<beginning_of_sentence>system ai_setting=assistant\nBe brief.<end_of_sentence>\n"
                      "<beginning_of_sentence>user name=user\nHi<end_of_sentence>\n"
                      "<beginning_of_sentence>ai name=assistant\nHello!<end_of_sentence>\n"
                      "<beginning_of_sentence>user name=user\nHow are you?<end_of_sentence>\n"
                      "<beginning_of_sentence>ai name=assistant\nFine.<end_of_sentence>\n",
        "generation_prompt": "<beginning_of_sentence>system ai_setting=assistant\nYou are a helpful assistant."
                             "<end_of_sentence>\n<beginning_of_sentence>user name=user\nHi<end_of_sentence>\n"
                             "<beginning_of_sentence>ai name=assistant\n",
        "no_generation_prompt": "<beginning_of_sentence>system ai_setting=assistant\nYou are a helpful assistant."
                                "<end_of_sentence>\n<beginning_of_sentence>user name=user\nHi<end_of_sentence>\n",
    },
    "bailing_v2": {  # Ling 2.0: every turn closed by <|role_end|>
        "single_turn": "<role>HUMAN</role>Hi<|role_end|><role>ASSISTANT</role>Hello!<|role_end|>",
        "system": "<role>SYSTEM</role>Be brief.<|role_end|><role>HUMAN</role>Hi<|role_end|>"
                  "<role>ASSISTANT</role>Hello!<|role_end|>",
        "multi_turn": "<role>SYSTEM</role>Be brief.<|role_end|><role>HUMAN</role>Hi<|role_end|>"
                      "<role>ASSISTANT</role>Hello!<|role_end|><role>HUMAN</role>How are you?<|role_end|>"
                      "<role>ASSISTANT</role>Fine.<|role_end|>",
        "generation_prompt": "<role>HUMAN</role>Hi<|role_end|><role>ASSISTANT</role>",
        "no_generation_prompt": "<role>HUMAN</role>Hi<|role_end|>",
    },
    "index": {  # Index-1.9B-Chat: system after <unk>, user between reserved_0 and reserved_1
        "single_turn": "reserved_0Hireserved_1Hello!",
        "system": "<unk>Be brief.reserved_0Hireserved_1Hello!",
        "multi_turn": "<unk>Be brief.reserved_0Hireserved_1Hello!reserved_0How are you?reserved_1Fine.",
        "generation_prompt": "reserved_0Hireserved_1",
        "no_generation_prompt": "reserved_0Hireserved_1",
    },
}
