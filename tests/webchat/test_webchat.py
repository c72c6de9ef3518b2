"""The Gradio chat page, served live on localhost and driven with gradio_client: its answers are the
ChatModel's, with the page's system prompt and settings applied."""

from __future__ import annotations

import os
import socket

import pytest

from tunefactory.config import parse_dict

gradio = pytest.importorskip("gradio", reason="the webui extra (gradio) is not installed")

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chat_model(tiny_llama):
    from tunefactory.infer.chat_model import ChatModel

    return ChatModel(parse_dict({"model_name_or_path": str(tiny_llama), "template": "llama3",
                                 "max_new_tokens": 16, "do_sample": False, "temperature": 0.0}, command="webchat"))


def test_respond_streams_the_chat_models_answer_with_history_and_system(chat_model):
    from tunefactory.webchat.app import make_respond

    respond = make_respond(chat_model)
    history = [{"role": "user", "content": "Hello"},
               {"role": "assistant", "content": [{"type": "text", "text": "Hi there."}]}]
    partials = list(respond("Tell me about rivers.", history, "Be brief.", 0.0, 1.0, 16))
    expected = chat_model.chat([{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there."},
                                {"role": "user", "content": "Tell me about rivers."}], system="Be brief.",
                               max_new_tokens=16)[0].text
    assert partials[-1] == expected
    assert all(expected.startswith(p) for p in partials)  # each yield is the answer so far


def test_the_live_page_answers_like_the_chat_model(chat_model):
    from gradio_client import Client

    from tunefactory.webchat.app import create_demo

    demo = create_demo(chat_model)
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        answer = client.predict("Tell me about maps.", "", 0.0, 1.0, 16, api_name="/chat")
        assert answer == chat_model.chat([{"role": "user", "content": "Tell me about maps."}],
                                         max_new_tokens=16)[0].text
    finally:
        demo.close()
