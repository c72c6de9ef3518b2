"""Microsoft's Phi formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C

# Phi-3's templates end a render without generation prompt with the tokenizer's own EOS (`<|endoftext|>`)
PHI3 = dict(system=f"<|system|>\n{C}<|end|>\n", user=f"<|user|>\n{C}<|end|>\n", generation_prompt="<|assistant|>\n",
            assistant=f"{C}<|end|>\n", stop_words=("<|end|>",), replace_eos=True, end_of_conversation="<|endoftext|>")
PHI3_TRAILING_EOS = ("A conversation ends with `<|endoftext|>` after the last `<|end|>` as in Phi-3's templates "
                     "(`{% else %}{{ eos_token }}`); LLaMA-Factory omits it.")

TEMPLATES = [
    Template("phi", **PHI3, family="Phi-3, Phi-3.5", notes=(PHI3_TRAILING_EOS,)),
    Template("phi_small", **PHI3, prefix="<|endoftext|>", family="Phi-3-small",
             notes=(PHI3_TRAILING_EOS, "`<|endoftext|>` (Phi-3-small's BOS) opens every conversation.")),
    Template("phi4", system=f"<|im_start|>system<|im_sep|>{C}<|im_end|>",
             user=f"<|im_start|>user<|im_sep|>{C}<|im_end|>",
             generation_prompt="<|im_start|>assistant<|im_sep|>", assistant=f"{C}<|im_end|>",
             stop_words=("<|im_end|>",), replace_eos=True, family="Phi-4"),
    Template("phi4_mini", system=f"<|system|>{C}<|end|>", user=f"<|user|>{C}<|end|>", generation_prompt="<|assistant|>",
             assistant=f"{C}<|end|>", stop_words=("<|end|>",), replace_eos=True, end_of_conversation="<|endoftext|>",
             family="Phi-4-mini",
             notes=(PHI3_TRAILING_EOS,
                    "Phi-4-mini's tool list (`<|tool|>[…]<|/tool|>` after the system text) has no tool format here "
                    "yet, so tools are described in the ReAct `default` format.")),
]
