"""Train with the tokenizer's own ``chat_template`` when the config names no template.

Per-turn ids are cut from renders of growing prefixes of the conversation: turn k's text is what
rendering k messages adds to rendering k-1. That is exact for any template that never rewrites
earlier turns; one that does (e.g. drops old thoughts) is refused with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import DataError
from .core import Template, _check_roles
from .tools import tool_specs


@dataclass(frozen=True)
class TokenizerChatTemplate(Template):
    chat_template: str = ""

    def segments(self, messages, system=None, tools=None, *, bos="", eos="", add_generation_prompt=True):
        _check_roles(messages)
        chat = to_openai_messages(messages, system or self.default_system)
        offset = len(chat) - len(messages)  # a leading system message
        specs = [{"type": "function", "function": spec} for spec in tool_specs(tools)] or None
        segments, previous = [], ""
        for index in range(len(messages)):
            prompt_side = messages[index]["role"] in ("user", "observation")
            generation = prompt_side and (index < len(messages) - 1 or add_generation_prompt)
            text = self._render(chat[: offset + index + 1], specs, generation, bos, eos)
            if not text.startswith(previous):
                raise DataError(
                    "the tokenizer's chat_template rewrites earlier turns when a new one is added (for example it "
                    "drops old thoughts), so per-turn training ids can't be cut from it; set `template:` to the "
                    "model family's template (`tunefactory template --list`)")
            segments.append(text[len(previous):])
            previous = text
        return segments

    def _render(self, chat, tools, add_generation_prompt, bos, eos) -> str:
        from transformers.utils.chat_template_utils import render_jinja_template

        extra = {} if self.enable_thinking is None else {"enable_thinking": self.enable_thinking}
        rendered, _ = render_jinja_template([chat], tools=tools, chat_template=self.chat_template,
                                            add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos,
                                            **extra)
        return rendered[0]


def to_openai_messages(messages: list[dict], system: str | None = None) -> list[dict]:
    """Canonical messages as the OpenAI-style list ``apply_chat_template`` expects."""
    from .tools import parse_function_message

    chat = [{"role": "system", "content": system}] if system else []
    for message in messages:
        role, content = message["role"], message["content"]
        if role == "function":
            text, calls = parse_function_message(content)
            chat.append({"role": "assistant", "content": text,
                         "tool_calls": [{"id": f"call_{i}", "type": "function",
                                         "function": {"name": call.name, "arguments": call.arguments}}
                                        for i, call in enumerate(calls)]})
        elif role == "observation":
            chat.append({"role": "tool", "content": content})
        else:
            chat.append({"role": role, "content": content})
    return chat
