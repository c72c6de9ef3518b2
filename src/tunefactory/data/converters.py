"""Rows of any supported format -> one canonical example.

The canonical example (what templates and processors read):

    _prompt:   [{"role", "content"}, ...]  user/assistant/function/observation turns before the answer
    _response: [{"role", "content"}, ...]  one answer; two for preference pairs (chosen, rejected);
                                            for KTO, [answer, ""] when desirable, ["", answer] when not
    _system:   str       _tools: str (JSON list of function specs)
    _images / _videos / _audios: list of paths (resolved against media_dir) or None; images and sounds that
               come inside the rows (a hub dataset's decoded images and sounds, or {"bytes": ...}) are written
               once to files named by their content, under embedded_media_dir

A row that cannot be converted raises `BadRow` with the reason; the pipeline skips it,
reports it with its index and counts it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from .bad_rows import BadRow
from .registry import DatasetAttr

USER, ASSISTANT, SYSTEM, FUNCTION, OBSERVATION = "user", "assistant", "system", "function", "observation"
CANONICAL_COLUMNS = ("_prompt", "_response", "_system", "_tools", "_images", "_videos", "_audios")
EMPTY_EXAMPLE = {"_prompt": [], "_response": [], "_system": "", "_tools": "", "_images": None, "_videos": None,
                 "_audios": None}  # what a skipped row holds until it is dropped


@dataclass
class Converter:
    """Turns one row of `attr`'s format into a canonical example (picklable, for worker processes)."""

    attr: DatasetAttr
    media_dir: str
    embedded_media_dir: str = ""  # where images held inside rows are written as files (the datasets cache)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        if self.attr.formatting == "alpaca":
            prompt, response, system = self._alpaca(row)
        else:
            prompt, response, system = self._messages(row)
        return {
            "_prompt": prompt,
            "_response": response,
            "_system": system,
            "_tools": self._tools(row),
            "_images": self._media(row, "images"),
            "_videos": self._media(row, "videos"),
            "_audios": self._media(row, "audios"),
        }

    # --- alpaca: instruction / input / output (+ system, history) ---
    def _alpaca(self, row):
        a = self.attr
        prompt = []
        history = row.get(a.history) if a.history else None
        if history:
            if not isinstance(history, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in history):
                raise BadRow(f"column {a.history!r} must be a list of [question, answer] pairs")
            for question, answer in history:
                prompt += [_message(USER, question, a.history), _message(ASSISTANT, answer, a.history)]
        parts = [_text(row.get(col), col) for col in (a.prompt, a.query) if col and row.get(col)]
        if not parts:
            raise BadRow(f"empty prompt: column {a.prompt!r} has no text")
        prompt.append({"role": USER, "content": "\n".join(parts)})
        response = self._alpaca_response(row)
        system = _text(row.get(a.system), a.system) if a.system and row.get(a.system) else ""
        return prompt, response, system

    def _alpaca_response(self, row):
        a = self.attr
        if a.kto_tag:
            return _kto_response(_text(row.get(a.response), a.response), row.get(a.kto_tag), a.kto_tag)
        if a.ranking:
            chosen, rejected = (_text(row.get(col), col) for col in (a.chosen, a.rejected))
            return [{"role": ASSISTANT, "content": chosen}, {"role": ASSISTANT, "content": rejected}]
        answer = row.get(a.response) if a.response else None
        if answer is None:
            return []  # unsupervised: prompts only (prediction, PPO)
        return [{"role": ASSISTANT, "content": _text(answer, a.response)}]

    # --- sharegpt / openai: a list of role-tagged messages ---
    def _messages(self, row):
        a = self.attr
        raw = row.get(a.messages)
        if not isinstance(raw, list) or not raw:
            raise BadRow(f"column {a.messages!r} must be a non-empty list of messages")
        system = _text(row.get(a.system), a.system) if a.system and row.get(a.system) else ""
        if _role_of(raw[0], a) == a.system_tag:
            system = _text(raw[0].get(a.content_tag), a.content_tag)
            raw = raw[1:]
        turns = _merge_tool_results(self._canonical_turn(m) for m in raw)
        for i, turn in enumerate(turns):
            expected = (USER, OBSERVATION) if i % 2 == 0 else (ASSISTANT, FUNCTION)
            if turn["role"] not in expected:
                raise BadRow(f"broken turn order: message {i} is {turn['role']!r}, expected one of {list(expected)}")
        if a.ranking:
            return turns, self._ranked_response(row, turns), system
        if len(turns) % 2:
            raise BadRow(f"broken turn order: {len(turns)} messages; the last one must be the assistant's answer")
        if a.kto_tag:
            answer = turns[-1]["content"]
            return turns[:-1], _kto_response(answer, row.get(a.kto_tag), a.kto_tag), system
        return turns[:-1], turns[-1:], system

    def _ranked_response(self, row, turns):
        a = self.attr
        if len(turns) % 2 == 0:
            raise BadRow("broken turn order: a preference prompt must end with a user (or observation) message")
        pair = []
        for column in (a.chosen, a.rejected):
            message = row.get(column)
            if not isinstance(message, dict):
                raise BadRow(f"column {column!r} must be a message object with {a.role_tag!r} and {a.content_tag!r}")
            turn = self._canonical_turn(message)
            if turn["role"] not in (ASSISTANT, FUNCTION):
                raise BadRow(f"column {column!r} must be an assistant message, got role {turn['role']!r}")
            pair.append(turn)
        return pair

    def _canonical_turn(self, message) -> dict[str, str]:
        a = self.attr
        if not isinstance(message, dict):
            raise BadRow(f"each message must be an object, got {type(message).__name__}")
        tag = _role_of(message, a)
        tool_calls = message.get("tool_calls")
        if tool_calls and tag in (a.assistant_tag, a.function_tag):  # OpenAI-style calls
            calls = [call.get("function", call) for call in tool_calls]
            body = json.dumps(calls if len(calls) > 1 else calls[0], ensure_ascii=False)
            text = message.get(a.content_tag) if isinstance(message.get(a.content_tag), str) else ""
            # text said alongside the calls is kept, in LLaMA-Factory's `text<tool_call>json</tool_call>` spelling
            return {"role": FUNCTION, "content": f"{text}<tool_call>{body}</tool_call>" if text.strip() else body}
        roles = {a.user_tag: USER, a.assistant_tag: ASSISTANT, a.observation_tag: OBSERVATION,
                 a.function_tag: FUNCTION, a.system_tag: SYSTEM}
        if tag not in roles or roles[tag] == SYSTEM:
            allowed = [t for t in (a.user_tag, a.assistant_tag, a.observation_tag, a.function_tag) if t]
            raise BadRow(f"unknown role {tag!r} (expected one of {allowed}; a system message may only come first)")
        content = message.get(a.content_tag)
        if content is None and roles[tag] == ASSISTANT:
            content = ""
        return {"role": roles[tag], "content": _text(content, a.content_tag)}

    def _tools(self, row) -> str:
        column = self.attr.tools
        tools = row.get(column) if column else None
        if not tools:
            return ""
        if isinstance(tools, (list, dict)):
            return json.dumps(tools, ensure_ascii=False)
        try:
            json.loads(tools)
        except (TypeError, json.JSONDecodeError):
            raise BadRow(f"column {column!r} must hold a JSON list of function specs") from None
        return tools

    def _media(self, row, kind: str) -> list | None:
        column = getattr(self.attr, kind)
        value = row.get(column) if column else None
        if not value:
            return None
        items = value if isinstance(value, list) else [value]
        resolved = []
        for item in items:
            if isinstance(item, dict) and not item.get("bytes") and isinstance(item.get("path"), str):
                item = item["path"]  # a hub Image feature that stores only the file's path
            if isinstance(item, str):
                if not os.path.isfile(item):
                    candidate = os.path.join(self.media_dir, item)
                    if not os.path.isfile(candidate):
                        raise BadRow(f"{kind[:-1]} file not found: {item!r} (looked in {self.media_dir!r})")
                    item = candidate
            elif kind == "images":
                item = self._embedded_file(_image_bytes(item))
            elif kind == "audios":
                item = self._embedded_file(_audio_bytes(item))
            else:
                raise BadRow(f"{kind[:-1]} must be a file path, not {type(item).__name__}")
            resolved.append(item)
        return resolved

    def _embedded_file(self, data: bytes) -> str:
        """An image or sound held in the row, written once to a file named by its content (the canonical columns
        hold paths, and the file is read again lazily when its batch is built)."""
        if not self.embedded_media_dir:
            raise BadRow("this row holds its media itself rather than a file path, and no folder was given to keep "
                         "it")
        digest = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.embedded_media_dir, digest[:2], digest)
        if not os.path.isfile(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            partial = f"{path}.{os.getpid()}.partial"
            with open(partial, "wb") as handle:
                handle.write(data)
            os.replace(partial, path)  # whole or absent, even with several workers writing the same image
        return path


def _image_bytes(item: Any) -> bytes:
    """The encoded bytes of an image held in a row: {"bytes": ...} as datasets' Image feature stores it, raw bytes,
    or a decoded PIL image (saved as PNG, lossless)."""
    if isinstance(item, dict) and isinstance(item.get("bytes"), (bytes, bytearray)):
        return bytes(item["bytes"])
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with the multimodal install
        Image = None
    if Image is not None and isinstance(item, Image.Image):
        from io import BytesIO

        buffer = BytesIO()
        item.save(buffer, format="PNG")
        return buffer.getvalue()
    raise BadRow(f"image must be a file path, a decoded image or {{'bytes': ...}}, not {type(item).__name__}")


def _audio_bytes(item: Any) -> bytes:
    """The encoded bytes of a sound held in a row: {"bytes": ...}, raw bytes, or datasets' decoded Audio value
    {"array", "sampling_rate"} (written as a float32 WAV, without loss)."""
    if isinstance(item, dict) and isinstance(item.get("bytes"), (bytes, bytearray)):
        return bytes(item["bytes"])
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if isinstance(item, dict) and item.get("array") is not None and item.get("sampling_rate"):
        from io import BytesIO

        import numpy as np
        from scipy.io import wavfile

        buffer = BytesIO()
        wavfile.write(buffer, int(item["sampling_rate"]), np.asarray(item["array"], dtype=np.float32))
        return buffer.getvalue()
    raise BadRow(f"audio must be a file path, a decoded sound {{'array', 'sampling_rate'}} or {{'bytes': ...}}, not "
                 f"{type(item).__name__}")


def _role_of(message: Any, attr: DatasetAttr) -> Any:
    return message.get(attr.role_tag) if isinstance(message, dict) else None


def _message(role: str, content: Any, column: str) -> dict[str, str]:
    return {"role": role, "content": _text(content, column)}


def _text(value: Any, column: str | None) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        raise BadRow(f"missing value in column {column!r}")
    raise BadRow(f"column {column!r} must be text, got {type(value).__name__}")


def _kto_response(answer: str, label: Any, column: str) -> list[dict[str, str]]:
    if not isinstance(label, bool):
        raise BadRow(f"column {column!r} must be true or false (the KTO label), got {label!r}")
    empty = {"role": ASSISTANT, "content": ""}
    given = {"role": ASSISTANT, "content": answer}
    return [given, empty] if label else [empty, given]


def _merge_tool_results(turns) -> list[dict[str, str]]:
    """Consecutive tool results (OpenAI sends one `tool` message per call) become one observation
    holding a JSON list, the same shape as ShareGPT data with parallel calls."""
    merged: list[dict[str, str]] = []
    pending: list[str] = []
    for turn in turns:
        if turn["role"] == OBSERVATION:
            pending.append(turn["content"])
            continue
        if pending:
            merged.append(_observation(pending))
            pending = []
        merged.append(turn)
    if pending:
        merged.append(_observation(pending))
    return merged


def _observation(results: list[str]) -> dict[str, str]:
    if len(results) == 1:
        return {"role": OBSERVATION, "content": results[0]}
    return {"role": OBSERVATION, "content": json.dumps(results, ensure_ascii=False)}
