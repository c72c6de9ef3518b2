"""IBM's Granite formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, EOS

_ROLE = "<|start_of_role|>{role}<|end_of_role|>"
GRANITE = dict(system=_ROLE.format(role="system") + f"{C}<|end_of_text|>\n",
               user=_ROLE.format(role="user") + f"{C}<|end_of_text|>\n",
               generation_prompt=_ROLE.format(role="assistant"), assistant=f"{C}<|end_of_text|>\n",
               stop_words=("<|end_of_text|>",))
GRANITE_VISION_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                         "The assistant gives helpful, detailed, and polite answers to the user's questions.")

TEMPLATES = [
    Template("granite3", **GRANITE, observation=_ROLE.format(role="tool") + f"{C}<|end_of_text|>\n",
             family="IBM Granite 3.1-3.3 instruct",
             notes=("Without a system prompt the official template writes a default one holding today's date "
                    "(strftime_now), which a fixed template cannot; we write none, as LLaMA-Factory.",
                    "Tool results use Granite 3.3's `tool` role (LLaMA-Factory: user turns); its `available_tools` "
                    "block has no tool format here, so tools are described in LLaMA-Factory's ReAct style.")),
    Template("granite3_0", **GRANITE, observation=_ROLE.format(role="tool_response") + f"{C}<|end_of_text|>\n",
             family="IBM Granite 3.0 instruct",
             notes=("Not in LLaMA-Factory's main branch yet: Granite 3.0's template has no default system prompt "
                    "and writes tool results in the `tool_response` role.",)),
    Template("granite3_vision", system=f"<|system|>\n{C}\n", user=f"<|user|>\n{C}\n",
             generation_prompt="<|assistant|>\n", assistant=f"{C}{EOS}", default_system=GRANITE_VISION_SYSTEM,
             multimodal="llava_next", family="IBM Granite Vision 3.1-3.3"),
    Template("granite4", **GRANITE,
             observation=_ROLE.format(role="user") + f"\n<tool_response>\n{C}\n</tool_response><|end_of_text|>\n",
             tool_format="qwen", family="IBM Granite 4.0 instruct",
             notes=("Granite 4.0's template has no default system prompt; LLaMA-Factory writes 'You are Granite, "
                    "developed by IBM. You are a helpful AI assistant.' We follow the template.",
                    "Tool calls and results are written as Granite 4.0 writes them (Hermes `<tool_call>` JSON, "
                    "results in a user turn); the tool list uses Qwen's wording, not Granite's.")),
]
