"""OpenAI requests in, ChatModel calls, OpenAI responses out.

A chat request becomes the canonical conversation the template trained on: system messages at the
start become the system prompt, ``tool`` messages become ``observation`` turns (consecutive ones
merge into one, as in training data), and an assistant message with ``tool_calls`` becomes a
``function`` turn, which the template writes in its family's native call format. The prompt is
checked against the model's context before anything is generated.

Answers go back through the template's tool parser when the request offered tools: a reply the
parser reads as calls is returned as ``message.tool_calls`` with finish_reason ``tool_calls``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

from ..data.converters import ASSISTANT, FUNCTION, OBSERVATION, USER, _merge_tool_results
from ..data.multimodal import AUDIO_PLACEHOLDER, IMAGE_PLACEHOLDER
from ..data.template import FunctionCall, function_message
from ..errors import TuneFactoryError
from .protocol import (
    ApiError,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    Delta,
    ScoreEvaluationRequest,
    ToolCallDelta,
    ToolCallOut,
    Usage,
)

logger = logging.getLogger(__name__)

ROLES = {"user": USER, "assistant": ASSISTANT, "tool": OBSERVATION, "function": FUNCTION}
SYSTEM_ROLES = ("system", "developer")
PROMPT_SIDE = ("user", "tool")
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


@dataclass
class ChatCall:
    """A chat request as ChatModel arguments, checked against the model."""

    messages: list[dict]
    system: str | None
    tools: list[dict] | None
    n: int
    stop: list[str] | None
    overrides: dict
    prompt_tokens: int
    include_usage: bool = False

    @property
    def parse_tools(self) -> bool:
        return bool(self.tools)

    def kwargs(self) -> dict:
        return {"system": self.system, "tools": self.tools, "stop": self.stop, **self.overrides}


# --- requests ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MediaAccess:
    """Where an ``image_url`` may point besides a ``data:`` URL; nothing unless the server's operator says so.

    ``media_dir`` (API_MEDIA_DIR): files inside this folder, as ``file://`` URLs or paths;
    ``fetch_urls`` (API_FETCH_MEDIA_URLS=1): http(s) URLs, fetched by the server (at most MAX_FETCHED_BYTES).
    """

    media_dir: Path | None = None
    fetch_urls: bool = False

    def read(self, url: str, param: str) -> bytes:
        if url.startswith("data:"):
            return _data_url_bytes(url, param)
        if url.startswith(("http://", "https://")):
            if not self.fetch_urls:
                raise ApiError(400, f"{param}: this server does not fetch URLs (send a data:image/...;base64 URL, "
                                    "or start the server with API_FETCH_MEDIA_URLS=1)", param=param)
            return _fetch(url, param)
        if self.media_dir is None:
            raise ApiError(400, f"{param} must be a data:image/...;base64 URL: this server does not read files named "
                                "by a request (start it with API_MEDIA_DIR=<folder> to allow files in that folder)",
                           param=param)
        return self._local_file(url.removeprefix("file://"), param)

    def _local_file(self, path: str, param: str) -> bytes:
        folder = self.media_dir.resolve()
        target = (folder / path).resolve()  # an absolute path stays itself; ".." is resolved before the check
        if not target.is_relative_to(folder) or not target.is_file():
            raise ApiError(400, f"{param}: no such file inside the server's media folder (API_MEDIA_DIR)", param=param)
        return target.read_bytes()


MAX_FETCHED_BYTES = 20 * 2**20


def _data_url_bytes(url: str, param: str) -> bytes:
    header, comma, payload = url.partition(",")
    if not (url.startswith("data:image/") and comma and header.endswith(";base64")):
        raise ApiError(400, f"{param} must be a data:image/...;base64 URL", param=param)
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise ApiError(400, f"{param}: the base64 data is not valid", param=param) from None


def _fetch(url: str, param: str) -> bytes:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - http(s) only, checked above
            data = response.read(MAX_FETCHED_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ApiError(400, f"{param}: the image could not be fetched ({error})", param=param) from None
    if len(data) > MAX_FETCHED_BYTES:
        raise ApiError(400, f"{param}: the image is larger than {MAX_FETCHED_BYTES // 2**20} MiB", param=param)
    return data


def prepare_chat(chat_model, body: ChatCompletionRequest, media_access: MediaAccess = MediaAccess()) -> ChatCall:
    """Check a chat request and turn it into ChatModel arguments (it tokenizes the prompt: run it off the loop)."""
    if chat_model.is_reward_model:
        raise ApiError(400, "this server holds a reward model (stage: rm): it scores texts at POST "
                            "/v1/score/evaluation and cannot chat", code="model_cannot_chat")
    if body.stream and body.n > 1:
        raise ApiError(400, "n > 1 cannot be streamed: send stream: false for several answers", param="n")
    most = getattr(chat_model.engine, "max_batch_rows", None)  # vLLM has no such limit
    if most is not None and body.n > most:
        raise ApiError(400, f"n is {body.n}; this server answers at most {most} times per request", param="n")
    system, messages = canonical_messages(body.messages, media_access)
    offered = body.tools and body.tool_choice != "none"
    tools = [tool.model_dump(exclude_none=True) for tool in body.tools] if offered else None
    try:
        prompt = chat_model.prompt_ids(messages, system, tools)
    except TuneFactoryError as error:
        raise ApiError(400, f"the messages cannot be formatted for this model: {error}", param="messages") from None
    requested = body.max_completion_tokens or body.max_tokens
    overrides = {"temperature": body.temperature, "top_p": body.top_p, "do_sample": body.do_sample,
                 "max_new_tokens": _max_new_tokens(chat_model, len(prompt), requested)}
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return ChatCall(messages, system, tools, body.n, stop, overrides, len(prompt), include_usage)


def canonical_messages(messages: list[ChatMessage], media_access: MediaAccess = MediaAccess()
                       ) -> tuple[str | None, list[dict]]:
    """(system prompt, canonical turns) from OpenAI messages; a 400 names the first message that does not fit."""
    if not messages:
        raise ApiError(400, "messages is empty: send at least one user message", param="messages")
    start = 0
    while start < len(messages) and messages[start].role in SYSTEM_ROLES:
        start += 1
    system = "\n".join(_text(messages[i], i) or "" for i in range(start)) or None
    if start == len(messages):
        raise ApiError(400, "messages holds only system messages: add a user message", param="messages")
    _check_order(messages, start)
    turns = [_turn(messages[i], i, media_access) for i in range(start, len(messages))]
    return system, _merge_tool_results(turns)


def _check_order(messages: list[ChatMessage], start: int) -> None:
    """After the system messages: user (or tool) and assistant messages alternate, ending on the user's side.
    Consecutive tool messages (results of parallel calls) count as one turn."""
    prompt_next = True
    for index in range(start, len(messages)):
        role = messages[index].role
        if role in SYSTEM_ROLES:
            raise ApiError(400, f"messages[{index}] is a {role} message: system messages may only open the "
                                "conversation", param=f"messages[{index}].role")
        if role == "tool" and index > start and messages[index - 1].role == "tool":
            continue
        if (role in PROMPT_SIDE) != prompt_next:
            wanted = "a user or tool" if prompt_next else "an assistant"
            raise ApiError(400, f"messages[{index}] has role {role!r} where {wanted} message must come: after the "
                                "system messages, user (or tool) and assistant messages alternate, starting with "
                                "a user message", param=f"messages[{index}].role")
        prompt_next = not prompt_next
    if prompt_next:
        raise ApiError(400, f"the last message (messages[{len(messages) - 1}]) is from the assistant: the "
                            "conversation must end with a user or tool message for the model to answer",
                       param="messages")


def _turn(message: ChatMessage, index: int, media_access: MediaAccess) -> dict:
    text = _text(message, index)
    images = _images(message, index, media_access)
    audios = _audios(message, index)
    if message.role == "assistant" and message.tool_calls:
        calls = [FunctionCall(call.function.name, _arguments(call.function.arguments, index, j))
                 for j, call in enumerate(message.tool_calls)]
        return {"role": FUNCTION, "content": function_message(text or "", calls)}
    if text is None:
        raise ApiError(400, f"messages[{index}] ({message.role}) has no content", param=f"messages[{index}].content")
    turn = {"role": ROLES[message.role], "content": text}
    return {**turn, **({"images": images} if images else {}), **({"audios": audios} if audios else {})}


def _text(message: ChatMessage, index: int) -> str | None:
    if message.content is None or isinstance(message.content, str):
        return message.content
    texts = []
    for j, part in enumerate(message.content):
        if part.type == "image_url":
            texts.append(IMAGE_PLACEHOLDER)  # where the image goes; its bytes are read by `_images`
        elif part.type == "input_audio":
            texts.append(AUDIO_PLACEHOLDER)  # where the sound goes; its bytes are read by `_audios`
        elif part.type != "text" or part.text is None:
            raise ApiError(400, f"messages[{index}].content[{j}] is a {part.type!r} part: this server reads text, "
                                "image_url and input_audio parts", param=f"messages[{index}].content[{j}].type")
        else:
            texts.append(part.text)
    return "".join(texts)


def _images(message: ChatMessage, index: int, media_access: MediaAccess) -> list[bytes]:
    """The message's images: ``data:`` URLs, and files or fetched URLs only where the server allows them."""
    if not isinstance(message.content, list):
        return []
    images = []
    for j, part in enumerate(message.content):
        if part.type == "image_url":
            param = f"messages[{index}].content[{j}].image_url.url"
            images.append(media_access.read(part.image_url.url if part.image_url else "", param))
    return images


def _audios(message: ChatMessage, index: int) -> list[bytes]:
    """The message's sounds: OpenAI's ``input_audio`` parts, base64 data in the request (never a file or URL)."""
    if not isinstance(message.content, list):
        return []
    audios = []
    for j, part in enumerate(message.content):
        if part.type != "input_audio":
            continue
        param = f"messages[{index}].content[{j}].input_audio.data"
        try:
            audios.append(base64.b64decode((part.input_audio.data if part.input_audio else ""), validate=True))
        except (binascii.Error, ValueError):
            raise ApiError(400, f"{param} must be base64-encoded audio (wav, mp3, flac)", param=param) from None
        if not audios[-1]:
            raise ApiError(400, f"{param} is empty: send the sound's bytes, base64-encoded", param=param)
    return audios


def _arguments(arguments: str | dict, index: int, j: int) -> dict:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            arguments = None
    if not isinstance(arguments, dict):
        raise ApiError(400, f"messages[{index}].tool_calls[{j}].function.arguments must be a JSON object "
                            "(as text)", param=f"messages[{index}].tool_calls[{j}].function.arguments")
    return arguments


def model_context(chat_model) -> int | None:
    """The most tokens (prompt and answer) the served model takes: its position limit (huggingface engine) or
    the budget vLLM was sized for (vllm_maxlen)."""
    if chat_model.model is None:
        return getattr(chat_model.config.model, "vllm_maxlen", None)
    return context_length(chat_model.model.config)


def context_length(config) -> int | None:
    """The longest sequence a model config's positions cover, or None when it does not say."""
    for key in CONTEXT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    text_config = getattr(config, "text_config", None)
    return context_length(text_config) if text_config is not None else None


def _max_new_tokens(chat_model, prompt_tokens: int, requested: int | None) -> int | None:
    """The request's max_tokens, refused when prompt + answer would not fit the context; without one, the
    configured max_new_tokens, shortened to what fits (None: no limit known, keep the configured value)."""
    limit = model_context(chat_model)
    if limit is None:
        return requested
    if prompt_tokens >= limit:
        raise ApiError(400, f"the prompt is {prompt_tokens} tokens, but the model's context is {limit} tokens "
                            ": shorten the messages", param="messages",
                       code="context_length_exceeded")
    room = limit - prompt_tokens
    if requested is None:
        return min(chat_model.generation_settings()[1], room)
    if requested > room:
        raise ApiError(400, f"the prompt ({prompt_tokens} tokens) plus max_tokens ({requested}) is "
                            f"{prompt_tokens + requested} tokens, more than the model's context of {limit} tokens: "
                            f"ask for at most {room} tokens or shorten the messages", param="max_tokens",
                       code="context_length_exceeded")
    return requested


# --- answers ----------------------------------------------------------------------------------------------------

def completion_response(chat_model, call: ChatCall, responses: list, model: str) -> ChatCompletion:
    choices = []
    for index, response in enumerate(responses):
        message, finish_reason = _answer(chat_model, call, response.text, response.finish_reason)
        choices.append(Choice(index=index, message=message, finish_reason=finish_reason))
    completion_tokens = sum(response.completion_tokens for response in responses)
    usage = Usage(prompt_tokens=call.prompt_tokens, completion_tokens=completion_tokens,
                  total_tokens=call.prompt_tokens + completion_tokens)
    return ChatCompletion(id=new_id("chatcmpl-"), model=model, choices=choices, usage=usage)


def _answer(chat_model, call: ChatCall, text: str, finish_reason: str) -> tuple[AssistantMessage, str]:
    """The assistant message for a generated text: tool calls when tools were offered and the template's
    parser finds calls in it, the text itself otherwise."""
    if call.parse_tools:
        prose, calls = chat_model.template.extract_tool_calls(text)
        if calls and all(isinstance(c.name, str) and isinstance(c.arguments, dict) for c in calls):
            tool_calls = [ToolCallOut(**{**c.to_openai(i), "id": new_id("call_")}) for i, c in enumerate(calls)]
            return AssistantMessage(content=prose or None, tool_calls=tool_calls), "tool_calls"
    return AssistantMessage(content=text), "length" if finish_reason == "length" else "stop"


async def stream_chunks(chat_model, call: ChatCall, model: str) -> AsyncIterator[str]:
    """The SSE data lines of a streamed answer: the role, the text in pieces, the finish reason, [DONE].

    With tools offered, the answer comes in one piece once generated: a call can only be recognised
    whole. Closing this generator (the client went away) closes `astream_chat`, which cancels the request.
    """
    chunk_id, created = new_id("chatcmpl-"), int(time.time())  # every chunk of a stream carries the same two

    def chunk(delta: Delta, finish_reason: str | None = None) -> str:
        choice = ChunkChoice(delta=delta, finish_reason=finish_reason)
        return ChatCompletionChunk(id=chunk_id, created=created, model=model, choices=[choice]).to_json()

    text_chunk = text_chunk_writer(chunk(Delta(content=_TEXT_MARK)))

    yield chunk(Delta(role="assistant", content=""))
    try:
        if call.parse_tools:
            [response] = await chat_model.achat(call.messages, n=1, **call.kwargs())
            message, finish_reason = _answer(chat_model, call, response.text, response.finish_reason)
            completion_tokens = response.completion_tokens
            if message.tool_calls:
                calls = [ToolCallDelta(index=i, **c.model_dump()) for i, c in enumerate(message.tool_calls)]
                yield chunk(Delta(content=message.content, tool_calls=calls))
            elif message.content:
                yield chunk(Delta(content=message.content))
        else:
            finished: dict = {}
            pieces = chat_model.astream_chat(
                call.messages, on_finish=lambda reason, tokens: finished.update(reason=reason, tokens=tokens),
                **call.kwargs())
            async with aclosing(pieces):  # closed at once when this generator is, not whenever it is collected
                async for piece in pieces:
                    if piece:
                        yield text_chunk(piece)
            finish_reason = "length" if finished.get("reason") == "length" else "stop"
            completion_tokens = finished.get("tokens", 0)
    except Exception as error:  # the 200 is already sent: the error goes in the stream, as OpenAI's does
        logger.exception("streamed generation failed")
        yield json.dumps(ApiError(500, f"generation failed: {error}", "server_error").body())
        return
    yield chunk(Delta(), finish_reason)
    if call.include_usage:
        usage = Usage(prompt_tokens=call.prompt_tokens, completion_tokens=completion_tokens,
                      total_tokens=call.prompt_tokens + completion_tokens)
        yield ChatCompletionChunk(id=chunk_id, created=created, model=model, choices=[], usage=usage).to_json()
    yield "[DONE]"


_TEXT_MARK = "\x00text\x00"  # stands for a piece in the chunk written once per stream


def text_chunk_writer(template: str):
    """A piece of text -> its chunk's JSON, by filling the piece into ``template`` (a chunk whose content is
    ``_TEXT_MARK``): the same JSON as building the chunk's model, without doing so for every piece."""
    head, tail = template.split(json.dumps(_TEXT_MARK, ensure_ascii=False), 1)
    return lambda piece: head + json.dumps(piece, ensure_ascii=False) + tail


# --- scores -----------------------------------------------------------------------------------------------------

def check_score_request(chat_model, body: ScoreEvaluationRequest) -> None:
    """Refuse what a reward model cannot score: a chat model, no texts, an empty text, one beyond the context."""
    if not chat_model.is_reward_model:
        raise ApiError(400, "this server holds a chat model: scores come from a reward model; serve one with "
                            "`tunefactory api` on a config with stage: rm", code="model_cannot_score")
    if not body.messages:
        raise ApiError(400, "messages is empty: send the texts to score", param="messages")
    limit = model_context(chat_model)
    for index, text in enumerate(body.messages):
        tokens = len(chat_model.tokenizer.encode(text, add_special_tokens=False))
        kept = min(tokens, body.max_length) if body.max_length else tokens
        if kept == 0:
            raise ApiError(400, f"messages[{index}] is empty: there is nothing to score", param=f"messages[{index}]")
        if limit is not None and kept > limit:
            raise ApiError(400, f"messages[{index}] is {kept} tokens, more than the model's context of {limit} "
                                "tokens: shorten it, or send max_length to score only its start",
                           param=f"messages[{index}]", code="context_length_exceeded")


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]
