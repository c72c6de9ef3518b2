"""Sounds through the OpenAI-compatible API: ``input_audio`` parts (base64 data), sent by the official client."""

from __future__ import annotations

import base64
from pathlib import Path

import openai
import pytest

SOUND = Path(__file__).resolve().parents[2] / "data" / "mllm_demo_data" / "2.wav"


@pytest.fixture(scope="module")
def audio_client(qwen2_audio_chat, live_server):
    from tunefactory.api.app import ApiSettings, create_app

    server = live_server(create_app(qwen2_audio_chat, ApiSettings(model_name="tiny-audio")))
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=60)


def audio_message(data: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}},
                                         {"type": "text", "text": "What do you hear?"}]}]


def test_an_input_audio_part_is_answered_as_the_model_answers_it(audio_client, qwen2_audio_chat):
    data = base64.b64encode(SOUND.read_bytes()).decode()
    reply = audio_client.chat.completions.create(model="tiny-audio", messages=audio_message(data))
    messages = [{"role": "user", "content": "<audio>What do you hear?", "audios": [str(SOUND)]}]
    assert reply.choices[0].message.content == qwen2_audio_chat.chat(messages)[0].text
    assert reply.usage.prompt_tokens == len(qwen2_audio_chat.prompt_ids(messages))


@pytest.mark.parametrize(("data", "why"), [("@@@", "must be base64-encoded audio"), ("", "is empty"),
                                           (base64.b64encode(b"not a sound").decode(), "cannot be read")])
def test_bad_audio_data_is_a_400(audio_client, data, why):
    with pytest.raises(openai.BadRequestError) as refused:
        audio_client.chat.completions.create(model="tiny-audio", messages=audio_message(data))
    assert why in str(refused.value)
