"""`tunefactory api`: live uvicorn servers on tiny offline models, driven by the official openai client.

Three models, each loaded once for the module:

  chat    tiny Llama (llama3 template) with random weights: greedy answers are gibberish, but deterministic,
          different for every prompt, and some run to any length, which is what the parity, stop,
          concurrency and disconnect checks need
  tools   tiny Qwen2 overfit by sft (full, lr 1e-2, 60 steps, ~8 s) on the first two `sharegpt_tools` rows,
          until its greedy answer to the first row is that row's <tool_call>
  rm      tiny Qwen2 trained two steps as a reward model (stage: rm), with its value head

Raw-body checks go through urllib, so the server sees exactly the bytes sent.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
import torch
from openai import OpenAI

from tunefactory.api import ApiSettings, create_app
from tunefactory.api.completions import canonical_messages
from tunefactory.api.protocol import ChatMessage
from tunefactory.api.server import listen_port
from tunefactory.config import parse_dict
from tunefactory.errors import ConfigError
from tunefactory.infer.chat_model import ChatModel

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
MAX_TOKENS = 24
CONTEXT = 1024  # the tiny models' max_position_embeddings
ERROR_KEYS = {"message", "type", "param", "code"}
SYSTEM = "You are terse."
LONG = "Question 3: what is 3 plus 9?"  # the tiny Llama's greedy answer to it runs to any max_tokens
SHORT = "Question 20: what is 20 plus 60?"  # ... and this one stops by itself after 11 tokens


def user(text: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


def greedy(chat_model, text: str):
    """ChatModel's own answer to what `user(text)` sends the server."""
    return chat_model.chat([{"role": "user", "content": text}], system=SYSTEM, temperature=0,
                           max_new_tokens=MAX_TOKENS)[0]


def post(url: str, body, headers: dict | None = None) -> tuple[int, dict]:
    """POST raw bytes (or a JSON-able value); returns (status, JSON body)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def load(model, **overrides) -> ChatModel:
    return ChatModel(parse_dict({"model_name_or_path": str(model), "temperature": 0, "max_new_tokens": MAX_TOKENS,
                                 **overrides}, command="api"))


def client_for(server: str, api_key: str = "unused") -> OpenAI:
    return OpenAI(base_url=f"{server}/v1", api_key=api_key, max_retries=0, timeout=60)


# --- the chat model ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chat_model(tiny_llama):
    return load(tiny_llama, template="llama3")


@pytest.fixture(scope="module")
def server(chat_model, live_server):
    return live_server(create_app(chat_model, ApiSettings(model_name="tiny-llama")))


@pytest.fixture(scope="module")
def client(server):
    return client_for(server)


def test_models_lists_the_served_model(client):
    models = client.models.list()
    assert [model.id for model in models.data] == ["tiny-llama"]
    assert models.data[0].object == "model"


def test_settings_come_from_llamafactorys_environment_variables():
    assert ApiSettings.from_env({}) == ApiSettings(api_key=None, model_name="gpt-3.5-turbo", root_path="")
    assert ApiSettings.from_env({"API_KEY": "k", "API_MODEL_NAME": "m"}) == ApiSettings("k", "m")
    assert ApiSettings.from_env({"API_KEY": ""}).api_key is None  # empty: no auth
    assert listen_port("8000") == 8000
    for bad in ("http", "0", "70000", "-1"):
        with pytest.raises(ConfigError, match="API_PORT"):
            listen_port(bad)


@pytest.mark.parametrize("environ, host", [({}, "127.0.0.1"), ({"API_HOST": "0.0.0.0"}, "0.0.0.0")])
def test_the_server_listens_on_this_machine_unless_told(chat_model, monkeypatch, environ, host):
    import uvicorn

    from tunefactory.api.server import run_api

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port: seen.update(host=host, port=port))
    assert run_api(chat_model, environ) == 0
    assert seen == {"host": host, "port": 8000}


def test_the_cli_serves_a_config_with_the_environments_settings(tiny_llama, tmp_path):
    """`tunefactory api cfg.yaml` as a user runs it: API_HOST, API_PORT, API_MODEL_NAME and API_KEY are read."""
    config = tmp_path / "api.yaml"
    config.write_text(f"model_name_or_path: {tiny_llama}\ntemplate: llama3\nmax_new_tokens: 8\n", encoding="utf-8")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "API_HOST": "127.0.0.1", "API_PORT": str(port), "API_MODEL_NAME": "from-env",
           "API_KEY": "k3y", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "tunefactory.cli", "api", str(config)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = client_for(f"http://127.0.0.1:{port}", "k3y")
        deadline = time.monotonic() + 60
        while True:
            try:
                models = client.models.list()
                break
            except openai.APIConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "tunefactory api did not start"
                time.sleep(0.2)
        assert [model.id for model in models.data] == ["from-env"]
        reply = client.chat.completions.create(model="from-env", messages=user(SHORT), temperature=0)
        assert reply.choices[0].message.content and reply.usage.completion_tokens <= 8
        with pytest.raises(openai.AuthenticationError):
            client_for(f"http://127.0.0.1:{port}", "wrong").models.list()
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert f"http://127.0.0.1:{port}/v1" in output and "API_KEY is required" in output


@pytest.mark.parametrize("text", [LONG, SHORT])
def test_chat_is_chat_models_greedy_answer_with_its_token_counts(client, chat_model, text):
    expected = greedy(chat_model, text)
    reply = client.chat.completions.create(model="tiny-llama", messages=user(text), temperature=0,
                                           max_tokens=MAX_TOKENS)
    assert reply.object == "chat.completion" and reply.model == "tiny-llama"
    [choice] = reply.choices
    assert choice.message.role == "assistant" and choice.message.content == expected.text
    assert choice.finish_reason == expected.finish_reason == ("length" if text == LONG else "stop")
    prompt_tokens = len(chat_model.prompt_ids([{"role": "user", "content": text}], SYSTEM))
    assert reply.usage.prompt_tokens == expected.prompt_tokens == prompt_tokens
    assert reply.usage.completion_tokens == expected.completion_tokens
    assert reply.usage.total_tokens == prompt_tokens + expected.completion_tokens


@pytest.mark.parametrize("text", [LONG, SHORT])
def test_stream_pieces_join_to_the_same_answer(client, chat_model, text):
    expected = greedy(chat_model, text)
    chunks = list(client.chat.completions.create(model="tiny-llama", messages=user(text), temperature=0,
                                                 max_tokens=MAX_TOKENS, stream=True,
                                                 stream_options={"include_usage": True}))
    *answer, usage = chunks
    assert {chunk.id for chunk in chunks} == {chunks[0].id} and chunks[0].object == "chat.completion.chunk"
    assert answer[0].choices[0].delta.role == "assistant"
    assert all(chunk.choices[0].delta.role is None for chunk in answer[1:])
    pieces = [chunk.choices[0].delta.content for chunk in answer[1:-1]]
    assert len(pieces) > 1 and all(pieces) and "".join(pieces) == expected.text
    assert [chunk.choices[0].finish_reason for chunk in answer] == [None] * (len(answer) - 1) + [expected.finish_reason]
    assert usage.choices == []
    assert (usage.usage.prompt_tokens, usage.usage.completion_tokens) == (expected.prompt_tokens,
                                                                         expected.completion_tokens)


def test_sse_lines_are_data_chunks_ending_with_done(server):
    connection = http.client.HTTPConnection(server.removeprefix("http://"), timeout=60)
    body = {"messages": user(SHORT), "temperature": 0, "stream": True}
    connection.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("content-type").startswith("text/event-stream")
    assert response.getheader("cache-control") == "no-store" and response.getheader("x-accel-buffering") == "no"
    raw = response.read().decode()
    connection.close()
    events = raw.split("\n\n")  # each event one data line, ended by a blank line
    assert events[-1] == "" and all(event.startswith("data: ") and "\n" not in event for event in events[:-1])
    lines = events[:-1]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and len(chunks) > 2
    assert len({(chunk["id"], chunk["created"]) for chunk in chunks}) == 1  # as OpenAI's: one id and time a stream


def test_n_answers(client, chat_model):
    expected = greedy(chat_model, LONG)
    reply = client.chat.completions.create(model="m", messages=user(LONG), temperature=0, n=2,
                                           max_tokens=MAX_TOKENS)
    assert [choice.index for choice in reply.choices] == [0, 1]
    assert [choice.message.content for choice in reply.choices] == [expected.text] * 2
    assert reply.usage.completion_tokens == 2 * expected.completion_tokens
    assert reply.usage.prompt_tokens == expected.prompt_tokens  # the prompt is counted once
    sampled = client.chat.completions.create(model="m", messages=user(LONG), temperature=1.0, top_p=0.9, n=3,
                                             max_tokens=8)
    assert len(sampled.choices) == 3 and all(choice.message.content for choice in sampled.choices)


def test_stop_strings_cut_the_answer(client, chat_model):
    full = greedy(chat_model, LONG).text
    word = next(m for m in re.finditer(r"[A-Za-z]{3,6}", full) if m.start() >= 4).group()
    cut = full[: full.find(word)]
    for stop in (word, [word, "never-in-the-answer"]):
        reply = client.chat.completions.create(model="m", messages=user(LONG), temperature=0, stop=stop,
                                               max_tokens=MAX_TOKENS)
        assert reply.choices[0].message.content == cut and reply.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(model="m", messages=user(LONG), temperature=0, stop=word,
                                            max_tokens=MAX_TOKENS, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == cut


def test_api_key_is_required_when_set(chat_model, live_server):
    secured = live_server(create_app(chat_model, ApiSettings(api_key="s3cret")))
    with pytest.raises(openai.AuthenticationError):
        client_for(secured, "wrong").models.list()
    with pytest.raises(openai.AuthenticationError):
        client_for(secured, "wrong").chat.completions.create(model="m", messages=user(SHORT))
    status, body = post(f"{secured}/v1/chat/completions", {"messages": user(SHORT)})  # no Authorization header
    assert status == 401 and set(body["error"]) == ERROR_KEYS
    assert body["error"]["type"] == "authentication_error" and "Bearer" in body["error"]["message"]
    assert post(f"{secured}/v1/score/evaluation", {"messages": ["a"]})[0] == 401
    reply = client_for(secured, "s3cret").chat.completions.create(model="m", messages=user(SHORT), temperature=0)
    assert reply.choices[0].message.content == greedy(chat_model, SHORT).text


TOO_MANY_ROWS = 99
BAD_REQUESTS = {  # name -> (body, the error's param, a piece of its message)
    "not json": (b'{"messages": [', None, "not valid JSON"),
    "not an object": (b"[1, 2]", None, "valid dictionary"),
    "no body": (b"", None, "required"),
    "no messages": ({"model": "m"}, "messages", "messages is required"),
    "empty messages": ({"messages": []}, "messages", "messages is empty"),
    "only system": ({"messages": [{"role": "system", "content": "x"}]}, "messages", "only system"),
    "unknown role": ({"messages": [{"role": "bot", "content": "x"}]}, "messages.0.role", "'user'"),
    "assistant first": ({"messages": [{"role": "assistant", "content": "x"}]}, "messages[0].role", "alternate"),
    "two users": ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
                  "messages[1].role", "an assistant message must come"),
    "ends with assistant": ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
                            "messages", "must end with a user or tool message"),
    "late system": ({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]},
                    "messages[1].role", "may only open"),
    "no content": ({"messages": [{"role": "user"}]}, "messages[0].content", "no content"),
    "image url": ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
                  "messages[0].content[0].image_url.url", "must be a data:image/...;base64 URL"),
    "audio part": ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
                   "messages[0].content[0].input_audio.data", "is empty"),
    "video part": ({"messages": [{"role": "user", "content": [{"type": "video_url"}]}]},
                   "messages[0].content[0].type", "reads text, image_url and input_audio parts"),
    "bad call arguments": ({"messages": [{"role": "user", "content": "a"},
                                         {"role": "assistant", "tool_calls": [
                                             {"id": "1", "type": "function",
                                              "function": {"name": "f", "arguments": "{oops"}}]},
                                         {"role": "tool", "content": "1"}]},
                           "messages[1].tool_calls[0].function.arguments", "JSON object"),
    "negative temperature": ({"messages": user("a"), "temperature": -1}, "temperature", "greater than or equal to 0"),
    "temperature above 2": ({"messages": user("a"), "temperature": 2.5}, "temperature", "less than or equal to 2"),
    "n zero": ({"messages": user("a"), "n": 0}, "n", "greater than or equal to 1"),
    "n too many": ({"messages": user("a"), "n": TOO_MANY_ROWS}, "n", "at most 16"),
    "streamed n": ({"messages": user("a"), "n": 2, "stream": True}, "n", "cannot be streamed"),
    "top_p zero": ({"messages": user("a"), "top_p": 0}, "top_p", "greater than 0"),
    "max_tokens zero": ({"messages": user("a"), "max_tokens": 0}, "max_tokens", "greater than or equal to 1"),
    "stop number": ({"messages": user("a"), "stop": 7}, "stop", "valid string"),
    "tools not a list": ({"messages": user("a"), "tools": {"name": "f"}}, "tools", "valid list"),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_requests_get_a_400_with_an_openai_error(server, name):
    body, param, message = BAD_REQUESTS[name]
    status, answer = post(f"{server}/v1/chat/completions", body)
    assert status == 400, answer
    assert set(answer) == {"error"} and set(answer["error"]) == ERROR_KEYS
    assert answer["error"]["type"] == "invalid_request_error" and answer["error"]["param"] == param
    assert message in answer["error"]["message"], answer["error"]["message"]


def test_unknown_routes_and_methods_get_openai_errors_and_the_server_keeps_serving(server, client):
    status, body = get(f"{server}/v1/nothing")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = get(f"{server}/v1/chat/completions")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"
    assert client.models.list().data


def test_a_prompt_beyond_the_context_is_refused_naming_the_lengths(client, chat_model):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="m", messages=user("hello " * CONTEXT))
    error = refused.value.body
    prompt_tokens = len(chat_model.prompt_ids([{"role": "user", "content": "hello " * CONTEXT}], SYSTEM))
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert f"the prompt is {prompt_tokens} tokens" in error["message"] and f"{CONTEXT} tokens" in error["message"]
    with pytest.raises(openai.BadRequestError, match="more than the model's context of 1024 tokens") as refused:
        client.chat.completions.create(model="m", messages=user(SHORT), max_tokens=CONTEXT)
    assert refused.value.body["param"] == "max_tokens"


def test_without_max_tokens_the_answer_is_shortened_to_fit_the_context(client, chat_model):
    def prompt_tokens(words: int) -> int:
        return len(chat_model.prompt_ids([{"role": "user", "content": "hello " * words}], SYSTEM))

    low, high = 0, CONTEXT  # the most words whose prompt leaves at least 5 tokens of the context
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if prompt_tokens(middle) <= CONTEXT - 5 else (low, middle - 1)
    words = low
    reply = client.chat.completions.create(model="m", messages=user("hello " * words), temperature=0)
    room = CONTEXT - prompt_tokens(words)
    assert reply.usage.prompt_tokens == prompt_tokens(words) and 5 <= room < MAX_TOKENS
    assert reply.usage.completion_tokens == room < MAX_TOKENS  # the greedy answer runs on: cut at the context


def test_16_concurrent_streams_each_get_their_own_answer(client, chat_model):
    prompts = [f"Question {i}: what is {i} plus {i * 3}?" for i in range(16)]
    solo = [greedy(chat_model, prompt).text for prompt in prompts]

    def stream(prompt: str) -> str:
        chunks = client.chat.completions.create(model="m", messages=user(prompt), temperature=0,
                                                max_tokens=MAX_TOKENS, stream=True)
        return "".join(chunk.choices[0].delta.content or "" for chunk in chunks)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(stream, prompts, timeout=60))
    assert len(set(solo)) > 8  # the prompts' answers differ, so a mix-up would show
    assert answers == solo


def test_a_client_leaving_mid_stream_cancels_its_request(server, client, chat_model, monkeypatch, caplog):
    """Tokens come slowly here, so the client leaves while a thread waits inside the answer's generator (the
    case where closing it must wait for that thread); the engine must end the row long before max_tokens."""
    submitted = []
    submit = chat_model.engine_submit
    monkeypatch.setattr(chat_model, "engine_submit", lambda request: submitted.append(request) or submit(request))
    forward = chat_model.model.forward
    monkeypatch.setattr(chat_model.model, "forward", lambda *a, **k: time.sleep(0.02) or forward(*a, **k))
    max_tokens = CONTEXT - 64
    connection = http.client.HTTPConnection(server.removeprefix("http://"), timeout=60)
    body = {"messages": user(LONG), "temperature": 0, "stream": True, "max_tokens": max_tokens}
    connection.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    contents = 0
    while contents < 2:  # the role chunk, then the first piece of text
        contents += response.readline().startswith(b"data: ")
    response.close()
    connection.close()

    [request] = submitted
    assert request.cancelled.wait(timeout=10), "the server never cancelled the abandoned request"
    tokens, finished = 0, False
    while not finished:  # what the engine sent the request: the row ended long before max_tokens
        event = request.events.get(timeout=10)
        finished = event[0] is None or len(event) == 3
        tokens += not finished
    assert tokens < max_tokens // 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text  # a clean cancellation
    monkeypatch.undo()
    reply = client.chat.completions.create(model="m", messages=user(SHORT), temperature=0, timeout=10)
    assert reply.choices[0].message.content == greedy(chat_model, SHORT).text


def test_cancelling_the_task_that_reads_a_stream_cancels_its_request(chat_model, monkeypatch):
    """What the server does when a client leaves, without the server: the reading task is cancelled while a
    stream waits for its next (slow) token."""
    submitted = []
    submit = chat_model.engine_submit
    monkeypatch.setattr(chat_model, "engine_submit", lambda request: submitted.append(request) or submit(request))
    forward = chat_model.model.forward
    monkeypatch.setattr(chat_model.model, "forward", lambda *a, **k: time.sleep(0.02) or forward(*a, **k))

    async def read(pieces: list) -> None:
        async for piece in chat_model.astream_chat([{"role": "user", "content": LONG}], temperature=0,
                                                   max_new_tokens=500):
            pieces.append(piece)

    async def leave_after_two_pieces() -> None:
        pieces: list = []
        task = asyncio.create_task(read(pieces))
        while len(pieces) < 2:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(leave_after_two_pieces())
    [request] = submitted
    assert request.cancelled.wait(timeout=5)


class BrokenEngine:
    """The real model for every check, but generation fails: a bug the server must survive."""

    def __init__(self, chat_model):
        self.chat_model = chat_model

    def __getattr__(self, name):
        return getattr(self.chat_model, name)

    async def achat(self, *args, **kwargs):
        raise RuntimeError("the engine broke")

    async def astream_chat(self, *args, **kwargs):
        raise RuntimeError("the engine broke")
        yield


def test_internal_errors_are_json_500s_and_the_server_lives_on(chat_model, live_server):
    broken = live_server(create_app(BrokenEngine(chat_model), ApiSettings()))
    status, body = post(f"{broken}/v1/chat/completions", {"messages": user(SHORT)})
    assert status == 500 and set(body["error"]) == ERROR_KEYS
    assert body["error"]["type"] == "server_error" and "the engine broke" in body["error"]["message"]
    with pytest.raises(openai.APIError, match="the engine broke"):  # mid-stream: an error event, then the end
        list(client_for(broken).chat.completions.create(model="m", messages=user(SHORT), stream=True))
    assert client_for(broken).models.list().data


# --- tool calls -------------------------------------------------------------------------------------------------

TOOL_ROW = json.loads((DATA_DIR / "sharegpt_tools.json").read_text(encoding="utf-8"))[0]
TOOLS = [{"type": "function", "function": spec} for spec in json.loads(TOOL_ROW["tools"])]
CALL = json.loads(TOOL_ROW["conversations"][1]["value"])  # {"name": "days_between", "arguments": {...}}
TOOL_MESSAGES = [{"role": "system", "content": TOOL_ROW["system"]},
                 {"role": "user", "content": TOOL_ROW["conversations"][0]["value"]}]


@pytest.fixture(scope="module")
def tool_model(tiny_qwen2, tmp_path_factory):
    from tunefactory.train.run import run_train

    out = tmp_path_factory.mktemp("tool-sft")
    run_train(parse_dict({
        "model_name_or_path": str(tiny_qwen2), "stage": "sft", "do_train": True, "finetuning_type": "full",
        "dataset": "sharegpt_tools", "dataset_dir": str(DATA_DIR), "template": "qwen", "max_samples": 2,
        "cutoff_len": 512, "per_device_train_batch_size": 2, "max_steps": 100, "learning_rate": 1e-2,
        "lr_scheduler_type": "constant", "save_strategy": "no", "output_dir": str(out), "report_to": "none",
        "use_cpu": True, "bf16": False, "disable_gradient_checkpointing": True, "plot_loss": False,
        "disable_tqdm": True}))
    # the tiny tokenizer marks <tool_call> special (real Qwen tokenizers do not): keep it in the decoded text
    return load(out, template="qwen", skip_special_tokens=False, max_new_tokens=64)


@pytest.fixture(scope="module")
def tool_client(tool_model, live_server):
    return client_for(live_server(create_app(tool_model, ApiSettings())))


def test_a_generated_call_comes_back_as_tool_calls(tool_client, tool_model):
    text = tool_model.chat(TOOL_MESSAGES[1:], system=TOOL_ROW["system"], tools=TOOLS)[0].text
    assert "<tool_call>" in text, f"the overfit model did not learn its call: {text!r}"
    reply = tool_client.chat.completions.create(model="m", messages=TOOL_MESSAGES, tools=TOOLS, temperature=0)
    [choice] = reply.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == CALL["name"] and json.loads(call.function.arguments) == CALL["arguments"]

    chunks = list(tool_client.chat.completions.create(model="m", messages=TOOL_MESSAGES, tools=TOOLS,
                                                      temperature=0, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    [streamed] = [call for chunk in chunks for call in chunk.choices[0].delta.tool_calls or []]
    assert streamed.index == 0 and streamed.function.name == CALL["name"]
    assert json.loads(streamed.function.arguments) == CALL["arguments"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_without_tools_offered_the_answer_stays_text(tool_client, tool_model):
    reply = tool_client.chat.completions.create(model="m", messages=TOOL_MESSAGES, tools=TOOLS, tool_choice="none",
                                                temperature=0)
    plain = tool_model.chat(TOOL_MESSAGES[1:], system=TOOL_ROW["system"])[0]
    assert reply.choices[0].message.tool_calls is None and reply.choices[0].message.content == plain.text
    assert reply.usage.prompt_tokens == plain.prompt_tokens  # tool_choice none: the tools are not described


def test_call_history_is_written_in_the_templates_call_format(tool_client, tool_model):
    result = TOOL_ROW["conversations"][2]["value"]
    messages = TOOL_MESSAGES + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": CALL["name"], "arguments": json.dumps(CALL["arguments"])}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": result}]
    canonical = [TOOL_MESSAGES[1], {"role": "function", "content": json.dumps(CALL)},
                 {"role": "observation", "content": result}]
    expected = tool_model.chat(canonical, system=TOOL_ROW["system"], tools=TOOLS)[0]
    reply = tool_client.chat.completions.create(model="m", messages=messages, tools=TOOLS, temperature=0)
    assert reply.usage.prompt_tokens == len(tool_model.prompt_ids(canonical, TOOL_ROW["system"], TOOLS))
    assert reply.choices[0].message.content == expected.text
    rendered = tool_model.template.render(canonical, TOOL_ROW["system"], TOOLS)
    assert '<tool_call>\n{"name": "days_between", "arguments": {"start_date"' in rendered


def test_parallel_tool_results_merge_into_one_observation():
    calls = [{"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": json.dumps({"x": i})}}
             for i in range(2)]
    messages = [ChatMessage(**m) for m in [
        {"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "a"},
                                                                            {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "let me see", "tool_calls": calls},
        {"role": "tool", "content": "1"}, {"role": "tool", "content": "2"}]]
    system, turns = canonical_messages(messages)
    assert system == "s"
    assert turns == [{"role": "user", "content": "ab"},
                     {"role": "function", "content": 'let me see<tool_call>[{"name": "f", "arguments": {"x": 0}}, '
                                                     '{"name": "f", "arguments": {"x": 1}}]</tool_call>'},
                     {"role": "observation", "content": '["1", "2"]'}]


# --- the reward model -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reward_model(tiny_qwen2, tmp_path_factory):
    from tunefactory.train.run import run_train

    out = tmp_path_factory.mktemp("rm")
    run_train(parse_dict({
        "model_name_or_path": str(tiny_qwen2), "stage": "rm", "do_train": True, "finetuning_type": "full",
        "dataset": "style_pref_train", "dataset_dir": str(DATA_DIR), "template": "qwen", "max_samples": 8,
        "cutoff_len": 96, "per_device_train_batch_size": 4, "max_steps": 2, "learning_rate": 1e-3,
        "save_strategy": "no", "output_dir": str(out), "report_to": "none", "use_cpu": True, "bf16": False,
        "disable_gradient_checkpointing": True, "plot_loss": False, "disable_tqdm": True}))
    return load(out, template="qwen", stage="rm")


@pytest.fixture(scope="module")
def rm_server(reward_model, live_server):
    return live_server(create_app(reward_model, ApiSettings(model_name="tiny-rm")))


TEXTS = ["<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>",
         "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nGo away.<|im_end|>", "plain text"]


def test_scores_are_the_reward_models_scores(rm_server, reward_model):
    status, body = post(f"{rm_server}/v1/score/evaluation", {"model": "model", "messages": TEXTS})
    assert status == 200 and set(body) == {"id", "object", "model", "scores"}
    assert body["object"] == "score.evaluation" and body["model"] == "model" and body["id"].startswith("scoreval-")
    assert body["scores"] == pytest.approx(reward_model.get_scores(TEXTS), abs=1e-6)
    assert len(set(body["scores"])) == 3
    status, body = post(f"{rm_server}/v1/score/evaluation", {"messages": TEXTS, "max_length": 4})
    assert status == 200 and body["model"] == "tiny-rm"
    assert body["scores"] == pytest.approx(reward_model.get_scores(TEXTS, max_length=4), abs=1e-6)


def test_ppos_reward_api_client_reads_the_scores(rm_server, reward_model):
    from tunefactory.train.ppo_trainer import RewardAPIScorer

    tokenizer = reward_model.tokenizer
    sequences = [tokenizer.encode(text, add_special_tokens=False) for text in TEXTS]
    scores = RewardAPIScorer(f"{rm_server}/v1/score/evaluation", tokenizer)(sequences)
    expected = reward_model.get_scores([tokenizer.decode(row, skip_special_tokens=False) for row in sequences])
    torch.testing.assert_close(scores, torch.tensor(expected, dtype=torch.float32))


def test_chat_and_scores_go_only_to_the_model_that_can_answer(rm_server, server):
    status, body = post(f"{rm_server}/v1/chat/completions", {"messages": user(SHORT)})
    assert status == 400 and body["error"]["code"] == "model_cannot_chat" and "reward model" in body["error"]["message"]
    status, body = post(f"{server}/v1/score/evaluation", {"messages": ["a"]})
    assert status == 400 and body["error"]["code"] == "model_cannot_score" and "stage: rm" in body["error"]["message"]


@pytest.mark.parametrize("body, param, message", [
    ({"messages": []}, "messages", "messages is empty"),
    ({"messages": ["fine", ""]}, "messages[1]", "is empty"),
    ({"messages": ["hello " * CONTEXT]}, "messages[0]", "more than the model's context of 1024 tokens"),
    ({"messages": ["a"], "max_length": 0}, "max_length", "greater than or equal to 1"),
    ({"messages": "a"}, "messages", "valid list"),
])
def test_bad_score_requests_get_a_400(rm_server, body, param, message):
    status, answer = post(f"{rm_server}/v1/score/evaluation", body)
    assert status == 400 and set(answer["error"]) == ERROR_KEYS and answer["error"]["param"] == param
    assert message in answer["error"]["message"], answer["error"]["message"]


def test_a_long_text_is_scored_when_max_length_keeps_it_within_the_context(rm_server, reward_model):
    text = "hello " * CONTEXT
    status, body = post(f"{rm_server}/v1/score/evaluation", {"messages": [text], "max_length": 100})
    assert status == 200 and body["scores"] == pytest.approx(reward_model.get_scores([text], 100), abs=1e-6)
