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


@pytest.mark.parametrize(("url", "why"), [
    ("https://example.com/cat.png", "does not fetch URLs"), (str(IMAGE), "does not read files"),
    ("file:///etc/passwd", "does not read files"), ("data:image/png;base64,@@@", "base64 data is not valid")])
def test_remote_urls_and_files_are_refused_with_a_400_by_default(vl_client, url, why):
    with pytest.raises(openai.BadRequestError) as refused:
        vl_client.chat.completions.create(model="tiny-vl", messages=image_message(url))
    assert "messages[0].content[0].image_url.url" in str(refused.value) and why in str(refused.value)


@pytest.fixture(scope="module")
def image_server():
    """A local HTTP server holding the image, to stand for a remote URL."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(IMAGE.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_files_and_urls_are_read_only_where_the_operator_allows(vl_model, live_server, image_server):
    from tunefactory.api.completions import MediaAccess

    expected = vl_model.chat([{"role": "user", "content": "<image>What colour is it?", "images": [str(IMAGE)]}])[0]
    folder = IMAGE.parent
    allowed = ApiSettings(model_name="tiny-vl", media_access=MediaAccess(media_dir=folder, fetch_urls=True))
    client = openai.OpenAI(base_url=f"{live_server(create_app(vl_model, allowed))}/v1", api_key="unused",
                           max_retries=0, timeout=60)
    for url in (IMAGE.name, f"file://{IMAGE}", f"{image_server}/{IMAGE.name}"):
        reply = client.chat.completions.create(model="tiny-vl", messages=image_message(url))
        assert reply.choices[0].message.content == expected.text, url
    for url in ("../dataset_info.json", "/etc/hostname", f"file://{folder.parent / 'dataset_info.json'}"):
        with pytest.raises(openai.BadRequestError, match="no such file inside the server's media folder"):
            client.chat.completions.create(model="tiny-vl", messages=image_message(url))


def test_the_environment_names_what_the_server_may_read():
    settings = ApiSettings.from_env({"API_MEDIA_DIR": "/srv/images", "API_FETCH_MEDIA_URLS": "1"})
    assert settings.media_access.media_dir == Path("/srv/images") and settings.media_access.fetch_urls
    default = ApiSettings.from_env({}).media_access
    assert default.media_dir is None and not default.fetch_urls
