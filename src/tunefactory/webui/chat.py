"""The Chat tab's model and conversation, apart from the page so they are tested without a browser.

The conversation is kept in the template's own roles (user, assistant, function = a tool call, observation = a
tool result); the chat box shows it with thoughts folded and tool calls labelled, so the user can answer a call
with its result (role: observation) and the model carries on.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ..data.multimodal import AUDIO_PLACEHOLDER, IMAGE_PLACEHOLDER
from ..data.template.tools import function_message
from ..errors import ConfigError, TuneFactoryError

logger = logging.getLogger(__name__)

USER, ASSISTANT, FUNCTION, OBSERVATION = "user", "assistant", "function", "observation"


class ChatSession:
    """One model loaded at a time, shared by the page's visitors (as LLaMA Board does)."""

    def __init__(self):
        self.model = None
        self.loaded_from: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def load(self, config: dict[str, Any]) -> None:
        from ..config import parse_dict
        from ..infer.chat_model import ChatModel

        if not str(config.get("model_name_or_path", "")).strip():
            raise ConfigError(["model_name_or_path: choose a model path first"])
        with self._lock:
            self.unload()
            self.model = ChatModel(parse_dict(config, command="chat", source="the Chat tab"))
            self.loaded_from = dict(config)

    def unload(self) -> None:
        if self.model is not None and getattr(self.model, "engine", None) is not None:
            self.model.engine.close()
        self.model, self.loaded_from = None, None

    def stream(self, conversation: list[dict[str, str]], system: str = "", tools: str = "",
               **settings) -> Iterator[str]:
        """The assistant's reply to the conversation so far, as it grows."""
        if self.model is None:
            raise TuneFactoryError("no model is loaded: press Load model first")
        thinking = settings.pop("enable_thinking", None)
        if thinking is not None and self.model.template.enable_thinking != thinking:
            self.model.template = replace(self.model.template, enable_thinking=thinking)
        reply = ""
        for piece in self.model.stream_chat(conversation, system=system or None, tools=checked_tools(tools),
                                            **settings):
            reply += piece
            yield reply

    def finish(self, reply: str) -> dict[str, str]:
        """The reply as the conversation stores it: a tool call becomes a function message."""
        text, calls = self.model.template.extract_tool_calls(reply)
        if calls:
            return {"role": FUNCTION, "content": function_message(text, calls)}
        return {"role": ASSISTANT, "content": reply}


def user_turn(role: str, text: str, image: str | None = None, sound: str | None = None) -> dict[str, Any]:
    """A prompt-side turn; an attached image (sound) goes first, where its ``<image>`` (``<audio>``) placeholder
    says."""
    turn = {"role": role, "content": text}
    if sound:
        turn = {**turn, "content": AUDIO_PLACEHOLDER + turn["content"], "audios": [sound]}
    if image:
        turn = {**turn, "content": IMAGE_PLACEHOLDER + turn["content"], "images": [image]}
    return turn


def checked_tools(tools: str) -> str | None:
    """The tools box: empty, or a JSON list of function definitions (refused with the reason otherwise)."""
    if not (tools or "").strip():
        return None
    try:
        parsed = json.loads(tools)
    except json.JSONDecodeError as exc:
        raise TuneFactoryError(f"tools: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(parsed, list):
        raise TuneFactoryError("tools: expected a JSON list of function definitions")
    return tools


def displayed(conversation: list[dict[str, str]], thought_words: tuple[str, str] = ("<think>", "</think>"),
              labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The chat box's messages: thoughts folded under a title, tool calls and results labelled."""
    labels = {"thinking": "Thinking", "tool_call": "Tool call", "tool_result": "Tool result", **(labels or {})}
    shown: list[dict[str, Any]] = []
    for turn in conversation:
        role, content = turn["role"], turn["content"]
        if role == USER:
            shown.append({"role": "user",
                          "content": content.replace(IMAGE_PLACEHOLDER, "🖼️ ").replace(AUDIO_PLACEHOLDER, "🔊 ")})
        elif role == OBSERVATION:
            shown.append({"role": "user", "content": content, "metadata": {"title": labels["tool_result"]}})
        elif role == FUNCTION:
            shown.append({"role": "assistant", "content": content, "metadata": {"title": labels["tool_call"]}})
        else:
            shown.extend(_assistant_messages(content, thought_words, labels["thinking"]))
    return shown


def _assistant_messages(content: str, thought_words: tuple[str, str], title: str) -> list[dict[str, Any]]:
    opening, closing = (word.strip() for word in thought_words)
    if opening not in content and closing not in content:
        return [{"role": "assistant", "content": content}]
    before, _, rest = content.partition(opening) if opening in content else ("", "", content)
    thought, done, answer = rest.partition(closing)
    messages = [{"role": "assistant", "content": thought.strip(),
                 "metadata": {"title": title, "status": "done" if done else "pending"}}]
    answer = (before + answer).strip()
    if answer:
        messages.append({"role": "assistant", "content": answer})
    return messages
