"""Images through the OpenAI-compatible API: ``image_url`` parts as ``data:`` URLs, sent by the official client."""

from __future__ import annotations

import base64
from pathlib import Path

import openai
import pytest

from tunefactory.api.app import ApiSettings, create_app
from tunefactory.config import parse_dict
from tunefactory.infer.chat_model import ChatModel

IMAGE = Path(__file__).resolve().parents[2] / "data" / "mllm_demo_data" / "1.png"


@pytest.fixture(scope="module")
def vl_model(tiny_qwen2_vl):
    model = ChatModel(parse_dict({"model_name_or_path": str(tiny_qwen2_vl), "template": "qwen2_vl",
                                  "temperature": 0, "max_new_tokens": 6}, command="api"))
    yield model
    model.engine.close()


@pytest.fixture(scope="module")
def vl_client(vl_model, live_server):
    server = live_server(create_app(vl_model, ApiSettings(model_name="tiny-vl")))
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=60)


def image_message(url: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                         {"type": "text", "text": "What colour is it?"}]}]


def test_a_data_url_image_is_answered_as_the_model_answers_it(vl_client, vl_model):
    url = "data:image/png;base64," + base64.b64encode(IMAGE.read_bytes()).decode()
    reply = vl_client.chat.completions.create(model="tiny-vl", messages=image_message(url))
    expected = vl_model.chat([{"role": "user", "content": "<image>What colour is it?", "images": [str(IMAGE)]}])
    assert reply.choices[0].message.content == expected[0].text
    assert reply.usage.prompt_tokens == len(vl_model.prompt_ids(
        [{"role": "user", "content": "<image>What colour is it?", "images": [str(IMAGE)]}]))


@pytest.mark.parametrize("url", ["https://example.com/cat.png", str(IMAGE), "file:///etc/passwd",
                                 "data:image/png;base64,@@@"])
def test_remote_urls_and_files_are_refused_with_a_400(vl_client, url):
    with pytest.raises(openai.BadRequestError) as refused:
        vl_client.chat.completions.create(model="tiny-vl", messages=image_message(url))
    assert "image_url.url" in str(refused.value)
