"""Pieces of `api/completions.py` that need no live server."""

from __future__ import annotations

import json

import pytest

from tunefactory.api.completions import _TEXT_MARK, text_chunk_writer
from tunefactory.api.protocol import ChatCompletionChunk, ChunkChoice, Delta


def model_chunk(content: str) -> str:
    return ChatCompletionChunk(id="chatcmpl-1", created=1700000000, model="m \"q\" ü",
                               choices=[ChunkChoice(delta=Delta(content=content))]).to_json()


@pytest.mark.parametrize("piece", ["Hello", " world", 'say "hi"\n\tthen\\go', "héllo 日本 🎉", "\x00text\x00",
                                   "</s>", "\u2028", "{\"content\":\"\"}"])
def test_a_text_chunk_is_the_chunk_models_json(piece):
    write = text_chunk_writer(model_chunk(_TEXT_MARK))
    assert write(piece) == model_chunk(piece)
    assert json.loads(write(piece))["choices"][0] == {"index": 0, "delta": {"content": piece}, "finish_reason": None}
