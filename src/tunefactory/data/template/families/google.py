"""Google's Gemma formats (<start_of_turn> turns; Gemma 4's <|turn> turns) and PaliGemma."""

from __future__ import annotations

from ..core import Template
from ._slots import BOS, C, EOS, GEMMA

_NO_TOOLS = "Gemma's template has no tool role; LLaMA-Factory's '<start_of_turn>tool' turns are kept for tool data."
GEMMA4 = dict(prefix=BOS, system=f"<|turn>system\n{C}<turn|>\n", user=f"<|turn>user\n{C}<turn|>\n",
              generation_prompt="<|turn>model\n", assistant=f"{C}<turn|>\n",
              observation=f"<|turn>tool\n{C}<turn|>\n", stop_words=("<turn|>",), replace_eos=True,
              generation_opener="<|channel>thought\n<channel|>")  # thinking off (the default): an empty thought
_GEMMA4_NOTES = (
    "Gemma 4's template writes a system turn '<|turn>system\\n…<turn|>'; LLaMA-Factory adds '<|think|>' to it "
    "and a default system prompt, we write neither (thinking is switched on by the template's enable_thinking).",
    "Tool declarations and calls use Gemma 4's own syntax, which no tool format here writes yet.",
)

TEMPLATES = [
    Template("gemma", **GEMMA, family="Gemma (gemma-2b-it, gemma-7b-it)", notes=(_NO_TOOLS,)),
    Template("gemma2", **GEMMA, family="Gemma 2", notes=(
        "Gemma 2's template rejects a system message; like LLaMA-Factory we open the first user turn with it.",
        "LLaMA-Factory's gemma2 keeps the tokenizer's <eos> (efficient_eos); we end answers with <end_of_turn> "
        "as the chat template does.")),
    Template("gemma3", **GEMMA, multimodal="gemma3", family="Gemma 3", notes=(_NO_TOOLS,)),
    Template("gemma3n", **GEMMA, multimodal="gemma3n", family="Gemma 3n", notes=(_NO_TOOLS,)),
    Template("gemma4", **GEMMA4, multimodal="gemma4", family="Gemma 4", notes=_GEMMA4_NOTES),
    Template("gemma4n", **GEMMA4, multimodal="gemma4", family="Gemma 4 with audio (E2B, E4B)", notes=_GEMMA4_NOTES),
    Template("paligemma", prefix=BOS, system=C, system_in_user=True, user=f"{C}\n", assistant=f"{C}{EOS}",
             multimodal="paligemma", family="PaliGemma, PaliGemma 2 (pretrained / mix: prompt + newline)"),
    Template("paligemma_chat", **dict(GEMMA, system=C), multimodal="paligemma",
             family="PaliGemma fine-tuned on Gemma-style chat turns"),
]
