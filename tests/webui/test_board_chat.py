"""The Chat tab's session: answers equal the model's own, thoughts fold, tool calls become function turns."""

from __future__ import annotations

import pytest

from tunefactory.errors import TuneFactoryError
from tunefactory.webui.chat import ChatSession, checked_tools, displayed


@pytest.fixture(scope="module")
def session(tiny_llama):
    chat = ChatSession()
    chat.load({"model_name_or_path": str(tiny_llama), "template": "llama3", "temperature": 0,
               "max_new_tokens": 8})
    yield chat
    chat.unload()


def test_streamed_reply_equals_the_models_greedy_answer(session):
    conversation = [{"role": "user", "content": "Name a colour."}]
    *_, reply = session.stream(conversation, max_new_tokens=8, temperature=0)
    expected = session.model.chat(conversation, max_new_tokens=8, temperature=0)[0].text
    assert reply == expected
    assert session.finish(reply) == {"role": "assistant", "content": reply}


def test_unloaded_session_refuses_to_chat():
    with pytest.raises(TuneFactoryError, match="Load model"):
        next(ChatSession().stream([{"role": "user", "content": "hi"}]))


def test_tools_box_is_checked():
    assert checked_tools("") is None
    with pytest.raises(TuneFactoryError, match="tools: invalid JSON at line 1"):
        checked_tools("[{")
    with pytest.raises(TuneFactoryError, match="JSON list"):
        checked_tools('{"name": "f"}')


def test_thoughts_fold_and_tool_turns_are_labelled():
    shown = displayed([
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
        {"role": "function", "content": '{"name": "calc", "arguments": {"x": 1}}'},
        {"role": "observation", "content": "1"},
        {"role": "assistant", "content": "<think>\nstill going"},
    ])
    assert shown[1] == {"role": "assistant", "content": "add them", "metadata": {"title": "Thinking",
                                                                                  "status": "done"}}
    assert shown[2] == {"role": "assistant", "content": "4"}
    assert shown[3]["metadata"]["title"] == "Tool call" and shown[4]["metadata"]["title"] == "Tool result"
    assert shown[5]["metadata"]["status"] == "pending" and len(shown) == 6


def test_an_attached_image_reaches_a_multimodal_model(tiny_qwen2_vl):
    from pathlib import Path

    from tunefactory.webui.chat import user_turn

    image = str(Path(__file__).resolve().parents[2] / "data" / "mllm_demo_data" / "3.png")
    chat = ChatSession()
    chat.load({"model_name_or_path": str(tiny_qwen2_vl), "template": "qwen2_vl"})
    try:
        turn = user_turn("user", "What is drawn?", image)
        assert turn == {"role": "user", "content": "<image>What is drawn?", "images": [image]}
        *_, reply = chat.stream([turn], max_new_tokens=6, temperature=0)
        assert reply == chat.model.chat([turn], max_new_tokens=6, temperature=0)[0].text
        assert displayed([turn])[0]["content"] == "🖼️ What is drawn?"
    finally:
        chat.unload()


def test_an_attached_sound_reaches_an_audio_model(tiny_qwen2_audio):
    from pathlib import Path

    from tunefactory.webui.chat import user_turn

    sound = str(Path(__file__).resolve().parents[2] / "data" / "mllm_demo_data" / "1.wav")
    chat = ChatSession()
    chat.load({"model_name_or_path": str(tiny_qwen2_audio), "template": "qwen2_audio"})
    try:
        turn = user_turn("user", "What do you hear?", sound=sound)
        assert turn == {"role": "user", "content": "<audio>What do you hear?", "audios": [sound]}
        *_, reply = chat.stream([turn], max_new_tokens=6, temperature=0)
        assert reply == chat.model.chat([turn], max_new_tokens=6, temperature=0)[0].text
        assert displayed([turn])[0]["content"] == "🔊 What do you hear?"
    finally:
        chat.unload()
