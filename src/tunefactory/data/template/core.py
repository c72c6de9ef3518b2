"""A chat template: how one model family writes a conversation as text, and so as token ids.

A template is a handful of text slots with ``{{content}}`` where a message goes, and
``{{bos_token}}``/``{{eos_token}}`` where the tokenizer's own tokens go:

    prefix                           once, at the very start (usually the BOS token)
    system                           wraps the system prompt (plus the tool description)
    user / observation               wrap a user message / a tool result
    generation_prompt                what follows every user or tool message: the assistant's header
    generation_opener                only when the model is asked to answer (the chat ends with a prompt):
                                     text after the header that the model continues (QwQ's `<think>\n`)
    end_of_conversation              once after the last message when no generation prompt follows (Phi-3's EOS)
    assistant / function             wrap an assistant answer / its tool calls (after the header)

A conversation alternates prompt-side messages (user, observation) and response-side ones
(assistant, function). Each message becomes one text segment, so training gets exact
``(prompt_ids, response_ids)`` pairs per turn; the segments joined are the rendered conversation,
and `jinja.py` turns the same slots into a Hugging Face ``chat_template`` that renders identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import DataError
from ..converters import ASSISTANT, FUNCTION, OBSERVATION, USER
from ..token_ids import encode_texts
from .tools import ToolFormat, get_tool_format, tool_specs

CONTENT = "{{content}}"
PROMPT_ROLES = (USER, OBSERVATION)
RESPONSE_ROLES = (ASSISTANT, FUNCTION)


@dataclass(frozen=True)
class Template:
    name: str
    prefix: str = ""
    system: str = CONTENT
    user: str = CONTENT
    generation_prompt: str = ""
    generation_opener: str = ""
    end_of_conversation: str = ""
    assistant: str = CONTENT + "{{eos_token}}"
    function: str | None = None  # None: written like an assistant answer
    observation: str | None = None  # None: written like a user message
    tool_format: str = "default"
    default_system: str = ""
    system_in_user: bool = False  # no system role: the system text opens the first user message
    stop_words: tuple[str, ...] = ()
    efficient_eos: bool = False  # EOS is learned at turn ends but never written between turns
    replace_eos: bool = False  # the first stop word becomes the tokenizer's EOS
    reasoning: bool = False  # the model writes a thought block before answering
    thought_words: tuple[str, str] = ("<think>\n", "\n</think>\n\n")
    answer_header: str = ""  # between a thought block and the answer (gpt-oss's final channel)
    enable_thinking: bool | None = True
    preserve_thinking: bool = False
    multimodal: str | None = None  # the media plugin, for multimodal families
    family: str = ""  # which models use it (shown by `tunefactory template --list`)
    notes: tuple[str, ...] = field(default=(), compare=False)  # where we differ from others, and why

    def __post_init__(self):
        for slot in ("system", "user", "assistant", "function", "observation"):
            value = getattr(self, slot)
            if value is not None and CONTENT not in value:
                raise ValueError(f"template {self.name!r}: the {slot} slot needs {CONTENT}")
        get_tool_format(self.tool_format)

    # --- slots ----------------------------------------------------------------------------------

    @property
    def function_slot(self) -> str:
        return self.function if self.function is not None else self.assistant

    @property
    def observation_slot(self) -> str:
        return self.observation if self.observation is not None else self.user

    @property
    def tools(self) -> ToolFormat:
        return get_tool_format(self.tool_format)

    @property
    def empty_thought(self) -> str:
        return self.thought_words[0] + self.thought_words[1]

    # --- rendering --------------------------------------------------------------------------------

    def segments(self, messages: list[dict], system: str | None = None, tools: str | list | None = None,
                 *, bos: str = "", eos: str = "", add_generation_prompt: bool = True) -> list[str]:
        """One text segment per message; prompt-side segments end with the assistant's header.

        ``add_generation_prompt`` only matters when the conversation ends with a prompt-side message.
        """
        _check_roles(messages)
        messages, thought_in_prompt = self._apply_thinking(messages, add_generation_prompt)
        system_text = self.tools.system_with_tools(system or self.default_system, tool_specs(tools))

        def fill(slot: str, content: str = "") -> str:
            return slot.replace("{{bos_token}}", bos).replace("{{eos_token}}", eos).replace(CONTENT, content)

        segments = []
        for index, message in enumerate(messages):
            role, content = message["role"], message["content"]
            head = ""
            if index == 0:
                head = fill(self.prefix)
                if system_text and self.system_in_user:
                    content = fill(self.system, system_text) + content
                elif system_text:
                    head += fill(self.system, system_text)
            last = index == len(messages) - 1
            if role in PROMPT_ROLES:
                body = fill(self.user if role == USER else self.observation_slot, content)
                if not last or add_generation_prompt:
                    body += fill(self.generation_prompt)
                    if thought_in_prompt and index >= len(messages) - 2:
                        body += self.empty_thought
                    elif last:
                        body += fill(self.generation_opener)
            else:
                thought, content = self._split_thought(content)
                if role == FUNCTION:
                    body = fill(self.function_slot, thought + self.tools.render_function(content))
                else:
                    body = fill(self.assistant, thought + content)
            if last and not (role in PROMPT_ROLES and add_generation_prompt):
                body += fill(self.end_of_conversation)
            segments.append(head + body)
        return segments

    def render(self, messages: list[dict], system: str | None = None, tools: str | list | None = None,
               *, bos: str = "", eos: str = "", add_generation_prompt: bool = True) -> str:
        return "".join(self.segments(messages, system, tools, bos=bos, eos=eos,
                                     add_generation_prompt=add_generation_prompt))

    # --- token ids --------------------------------------------------------------------------------

    def encode_multiturn(self, tokenizer, messages: list[dict], system: str | None = None,
                         tools: str | list | None = None) -> list[tuple[list[int], list[int]]]:
        """``[(prompt_ids, response_ids), …]``, one pair per turn, in this family's exact format."""
        if len(messages) % 2:
            raise DataError("a training conversation must end with an assistant (or function) message")
        ids = self._encode_segments(tokenizer, messages, system, tools, add_generation_prompt=True)
        return [(ids[i], ids[i + 1]) for i in range(0, len(ids), 2)]

    def encode_oneturn(self, tokenizer, messages: list[dict], system: str | None = None,
                       tools: str | list | None = None) -> tuple[list[int], list[int]]:
        """Everything before the last message as the prompt, the last message as the response."""
        ids = self._encode_segments(tokenizer, messages, system, tools, add_generation_prompt=True)
        return [i for segment in ids[:-1] for i in segment], ids[-1]

    def encode_prompt(self, tokenizer, messages: list[dict], system: str | None = None,
                      tools: str | list | None = None) -> list[int]:
        """The ids to generate from: a conversation ending with a user (or tool) message, plus the header."""
        ids = self._encode_segments(tokenizer, messages, system, tools, add_generation_prompt=True)
        return [i for segment in ids for i in segment]

    def _encode_segments(self, tokenizer, messages, system, tools, add_generation_prompt) -> list[list[int]]:
        texts = self.segments(messages, system, tools, bos=tokenizer.bos_token or "", eos=tokenizer.eos_token or "",
                              add_generation_prompt=add_generation_prompt)
        return encode_texts(tokenizer, texts)

    def stop_token_ids(self, tokenizer) -> list[int]:
        ids = [tokenizer.eos_token_id] + [tokenizer.convert_tokens_to_ids(word) for word in self.stop_words]
        return list(dict.fromkeys(i for i in ids if i is not None))

    def extract_tool_calls(self, generated: str):
        """``(text, calls)`` from a model's reply; ``calls`` is empty when it answered in prose."""
        return self.tools.extract(generated)

    # --- reasoning ------------------------------------------------------------------------------

    def has_thought(self, content: str) -> bool:
        return self.thought_words[0].strip() in content or self.thought_words[1].strip() in content

    def remove_thought(self, content: str) -> str:
        close = self.thought_words[1].strip()
        return content.split(close)[-1].lstrip("\n") if close in content else content

    def _split_thought(self, content: str) -> tuple[str, str]:
        """``(normalised thought block, answer)``; the block is ``""`` when there is none."""
        if not self.reasoning:
            return "", content
        opening, closing = (word.strip() for word in self.thought_words)
        if closing not in content:
            return "", self.answer_header + content.removeprefix(self.answer_header)
        thought = content.split(closing)[0].split(opening)[-1].strip("\n")
        answer = content.split(closing)[-1].lstrip("\n").removeprefix(self.answer_header)
        return self.thought_words[0] + thought + self.thought_words[1], self.answer_header + answer

    def _apply_thinking(self, messages: list[dict], add_generation_prompt: bool) -> tuple[list[dict], bool]:
        """Drop thoughts the model never sees at inference, and give the final answer a thought block.

        As in the families' own templates: answers before the last user message lose their thoughts
        (unless ``preserve_thinking``); the final answer keeps its thought or gets an empty one.
        With thinking disabled every thought goes and the empty block joins the prompt (no loss).
        Returns the messages and whether the final prompt ends with the empty thought block.
        """
        if not self.reasoning:
            return messages, False
        last_user = max((i for i, m in enumerate(messages) if m["role"] == USER), default=-1)
        final = len(messages) - 1 if messages and messages[-1]["role"] in RESPONSE_ROLES else None
        result = []
        for index, message in enumerate(messages):
            content = message["content"]
            if message["role"] in RESPONSE_ROLES:
                if self.enable_thinking is False or (index < last_user and not self.preserve_thinking):
                    content = self.remove_thought(content)
                if index == final and self.enable_thinking is not False and not self.has_thought(content):
                    content = self.empty_thought + content
            result.append({**message, "content": content})
        thought_in_prompt = self.enable_thinking is False and (final is not None or add_generation_prompt)
        return result, thought_in_prompt


def _check_roles(messages: list[dict]) -> None:
    for index, message in enumerate(messages):
        expected = PROMPT_ROLES if index % 2 == 0 else RESPONSE_ROLES
        if message.get("role") not in expected:
            raise DataError(f"message {index} has role {message.get('role')!r}; turns must alternate "
                            f"user/observation and assistant/function, starting with a user message")
