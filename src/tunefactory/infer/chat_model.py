"""ChatModel: a trained model, ready to chat, stream or score, with the template it was trained with.

    config (model, data, finetuning, generating groups: `tunefactory chat/api/webchat`)
      -> tokenizer + template (the same `get_template` as training, so prompts match the training format)
      -> model: base + adapter(s) merged for inference, or a merged/exported model;
         stage: rm gives a reward model with its value head, which scores instead of generating
      -> engine: `huggingface` (transformers generate in a batching worker) or `vllm` (GPU only)

``chat``/``stream_chat`` are synchronous; ``achat``/``astream_chat`` are their asyncio forms for the
API server. Every request may override the generation keys (temperature, top_p, max_new_tokens …).
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..config.stages import get_stage
from ..data.bad_rows import BadRow
from ..data.multimodal import PLACEHOLDERS, PLUGINS
from ..data.processors.common import MEDIA_OUTPUTS
from ..errors import ConfigError, TuneFactoryError
from ..model.tokenizer import load_media
from .hf_engine import GenerationRequest, HFEngine

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)

OVERRIDABLE = ("do_sample", "temperature", "top_p", "top_k", "num_beams", "repetition_penalty", "length_penalty",
               "max_new_tokens", "max_length", "skip_special_tokens")

GREEDY_BELOW_TEMPERATURE = 1e-5


def _media_of(messages: list[dict], column: str) -> list:
    """The images (``column`` "images") or sounds ("audios") the messages carry, in order (their placeholders say
    where)."""
    return [item for message in messages for item in message.get(column) or ()]


@dataclass
class Response:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" or "length"


def inference_problems(config: RunConfig) -> list[str]:
    """What stops chat, webchat and api before the model loads (`validate --command chat` reports these too)."""
    model_args = config.model
    if model_args.infer_backend not in ("huggingface", "vllm"):
        return [f"infer_backend: {model_args.infer_backend} is not supported; use huggingface or vllm"]
    if model_args.infer_backend == "huggingface":
        return []
    if get_stage(config.finetuning.stage).scores:
        return ["a reward model (stage: rm) scores with infer_backend: huggingface, not vllm"]
    from .vllm_engine import vllm_problems

    return vllm_problems(config)


class ChatModel:
    def __init__(self, config: RunConfig, max_batch_rows: int = 16, tokenizer_and_template: tuple | None = None):
        """``tokenizer_and_template``: the pair `get_template` already returned for this config, if the caller
        has it (batch prediction reads its data before the model loads)."""
        from ..data.template import get_template
        from ..model.loader import ModelSpec, load_model
        from ..model.seeding import seed_everything
        from ..model.tokenizer import load_tokenizer

        seed_everything(config.seed)
        self.config = config
        model_args = config.model
        problems = inference_problems(config)
        if problems:
            raise ConfigError(problems)
        if tokenizer_and_template is None:
            tokenizer = load_tokenizer(model_args)
            tokenizer_and_template = tokenizer, get_template(tokenizer, config.data, model_args.model_name_or_path)
        self.tokenizer, self.template = tokenizer_and_template
        self.stop_ids = self.template.stop_token_ids(self.tokenizer)
        self.media = load_media(config.model, self.template)
        self.is_reward_model = get_stage(config.finetuning.stage).scores
        # achat/astream_chat wait for the engine in these threads (one per request in flight), not in
        # asyncio's small default pool, which would hold back requests beyond its size from the batch
        self._waiters = ThreadPoolExecutor(max(64, 4 * max_batch_rows), thread_name_prefix="tunefactory-wait")
        if model_args.infer_backend == "vllm":
            from .vllm_engine import VLLMEngine

            self.model, self.engine = None, VLLMEngine(config, self.stop_ids)  # vLLM loads its own weights
            return
        self.model = load_model(self.tokenizer, ModelSpec.from_config(config), is_trainable=False,
                                add_valuehead=self.is_reward_model,
                                require_value_head=self.is_reward_model)
        self.engine = None if self.is_reward_model else HFEngine(self.model, self.tokenizer, self.stop_ids,
                                                                  max_batch_rows=max_batch_rows)

    # --- prompts and settings ---------------------------------------------------------------------------------

    def prompt_ids(self, messages: list[dict], system: str | None = None, tools: str | list | None = None) -> list[int]:
        """The conversation as the template encodes it, ending with the assistant header.

        A message may carry ``images`` (paths, bytes or PIL images) for its ``<image>`` placeholders, or ``audios``
        (paths, bytes, or ``{"array", "sampling_rate"}``) for its ``<audio>`` ones, as its model takes."""
        if not messages or messages[-1].get("role") not in ("user", "observation", "tool"):
            raise TuneFactoryError("the conversation must end with a user (or tool) message")
        messages, _ = self._expand_media(messages)
        return self.template.encode_prompt(self.tokenizer, messages, system, tools)

    def _expand_media(self, messages: list[dict]) -> tuple[list[dict], list]:
        """(messages with each placeholder written as the model's media tokens, the media in order)."""
        texts = [{key: value for key, value in m.items() if key not in MEDIA_OUTPUTS} for m in messages]
        sent = [column for column in MEDIA_OUTPUTS
                if _media_of(messages, column) or any(PLACEHOLDERS[column] in m["content"] for m in texts)]
        if not sent:
            return texts, []
        if self.media is None:
            raise TuneFactoryError(f"this model takes no {' or '.join(sent)}: template {self.template.name!r} has no "
                                   f"media plugin (those with one: {', '.join(PLUGINS)})")
        other = [column for column in sent if column != self.media.column]
        if other:
            raise TuneFactoryError(f"this model takes {self.media.column}, not {' or '.join(other)}")
        items = _media_of(messages, self.media.column)
        try:
            return self.media.expand(texts, items), items
        except BadRow as error:
            raise TuneFactoryError(str(error)) from None

    def _media_inputs(self, messages: list[dict], prompt_ids: list[int]) -> dict | None:
        """The pixel (sound) inputs for a prompt whose ids (with its media tokens) are ``prompt_ids``."""
        items = _media_of(messages, self.media.column) if self.media is not None else []
        if not items:
            return None
        return self.media.batch_inputs([items], torch.tensor([prompt_ids]), self.tokenizer)

    def generation_settings(self, **overrides) -> tuple[dict, int, bool]:
        """(sampling settings for generate, max_new_tokens, skip_special_tokens) from the generating
        arguments and a request's overrides (None means: keep the configured value)."""
        unknown = sorted(set(overrides) - set(OVERRIDABLE))
        if unknown:
            raise TuneFactoryError(f"unknown generation setting(s) {', '.join(unknown)}; "
                                   f"valid: {', '.join(OVERRIDABLE)}")
        g = {key: getattr(self.config.generating, key) for key in OVERRIDABLE}
        g.update({key: value for key, value in overrides.items() if value is not None})
        # temperature 0 means greedy, as OpenAI's API reads it; so does one so small that logits / temperature
        # overflows to inf (sampling from it fails), which leaves the likeliest token as the only choice anyway
        if not g["temperature"] or g["temperature"] < GREEDY_BELOW_TEMPERATURE:
            g["do_sample"] = False
        settings = {"do_sample": g["do_sample"], "num_beams": g["num_beams"],
                    "repetition_penalty": g["repetition_penalty"], "length_penalty": g["length_penalty"]}
        if g["do_sample"]:
            settings.update(temperature=g["temperature"], top_p=g["top_p"], top_k=g["top_k"])
        max_new_tokens = g["max_new_tokens"] if g["max_new_tokens"] and g["max_new_tokens"] > 0 else g["max_length"]
        return settings, int(max_new_tokens), bool(g["skip_special_tokens"])

    def request(self, messages, system=None, tools=None, n: int = 1, stop=None, **overrides) -> GenerationRequest:
        if self.engine is None:
            raise TuneFactoryError("this is a reward model (stage: rm): it scores texts (get_scores), it does not chat")
        settings, max_new_tokens, _ = self.generation_settings(**overrides)
        stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
        prompt = self.prompt_ids(messages, system, tools)
        return GenerationRequest(prompt, settings, max_new_tokens, n=n, stop_strings=stops,
                                 media_inputs=self._media_inputs(messages, prompt))

    # --- answers ----------------------------------------------------------------------------------------------

    def chat(self, messages: list[dict], system: str | None = None, tools=None, n: int = 1, stop=None,
             **overrides) -> list[Response]:
        request = self.engine_submit(self.request(messages, system, tools, n, stop, **overrides))
        tokens, reasons = _collect(request)
        return [self.response(request, tokens[i], reasons[i], **overrides) for i in range(request.n)]

    def stream_chat(self, messages: list[dict], system: str | None = None, tools=None, stop=None,
                    on_finish: Callable[[str, int], None] | None = None, **overrides) -> Iterator[str]:
        """The answer's text in pieces as it is generated (one answer). ``on_finish(finish_reason,
        completion_tokens)`` is called when the answer is complete, before its last piece."""
        request = self.engine_submit(self.request(messages, system, tools, 1, stop, **overrides))
        decoder = self.decoder(request, **overrides)
        try:
            while True:
                piece, done = _decode_events(decoder, _drain(request.events), on_finish)
                if done or piece:
                    yield piece
                if done:
                    return
        finally:
            request.cancelled.set()  # the consumer stopped early (a client went away): free the row

    def complete_batch(self, prompts: list[list[int]], seed: int | None = None) -> list[Response]:
        """One answer per prompt (token ids), generated together with the configured settings (batch
        prediction). Row i is seeded with ``seed + i``; on the transformers engine the prompts form one
        ``generate`` call of their own, so the same prompts and seed give the same answers."""
        if self.engine is None:
            raise TuneFactoryError("this is a reward model (stage: rm): it scores texts (get_scores), it does not "
                                   "generate")
        settings, max_new_tokens, _ = self.generation_settings()
        requests = [GenerationRequest(ids, settings, max_new_tokens, seed=None if seed is None else seed + i)
                    for i, ids in enumerate(prompts)]
        self.engine.submit_batch(requests)
        answers = []
        for request in requests:
            tokens, reasons = _collect(request)
            answers.append(self.response(request, tokens[0], reasons[0]))
        return answers

    async def achat(self, *args, **kwargs) -> list[Response]:
        return await asyncio.wrap_future(self._waiters.submit(lambda: self.chat(*args, **kwargs)))

    async def astream_chat(self, messages: list[dict], system: str | None = None, tools=None, stop=None,
                           on_finish: Callable[[str, int], None] | None = None, **overrides) -> AsyncIterator[str]:
        """`stream_chat` for asyncio: the engine's thread wakes this reader when tokens arrive (no thread waits
        per piece); the prompt is written in a thread, off the event loop."""
        loop = asyncio.get_running_loop()
        request = await loop.run_in_executor(self._waiters, lambda: self.request(messages, system, tools, 1, stop,
                                                                                 **overrides))
        arrived = asyncio.Event()
        wake_pending = [False]  # one wake-up on its way covers every token put before this reader drains

        def on_put() -> None:  # in the engine's thread
            if not wake_pending[0]:
                wake_pending[0] = True
                loop.call_soon_threadsafe(arrived.set)

        request.events.on_put = on_put
        decoder = self.decoder(request, **overrides)
        self.engine_submit(request)
        try:
            while True:
                await arrived.wait()
                arrived.clear()
                wake_pending[0] = False  # before draining: a token put after the drain schedules the next wake-up
                events = _drain(request.events, wait=False)
                if not events:
                    continue
                piece, done = _decode_events(decoder, events, on_finish)
                if done or piece:
                    yield piece
                if done:
                    return
        finally:
            request.cancelled.set()  # the reader stopped early (a client went away): free the row

    def engine_submit(self, request: GenerationRequest) -> GenerationRequest:
        return self.engine.submit(request)

    def decoder(self, request: GenerationRequest, **overrides) -> StreamDecoder:
        _, _, skip = self.generation_settings(**overrides)
        return StreamDecoder(self.tokenizer, skip, request.stop_strings)

    def response(self, request: GenerationRequest, tokens: list[int], reason: str, **overrides) -> Response:
        _, _, skip = self.generation_settings(**overrides)
        text = _cut_at_stop_strings(self.tokenizer.decode(tokens, skip_special_tokens=skip), request.stop_strings)
        return Response(text, len(request.prompt_ids), len(tokens), reason)

    # --- scores -----------------------------------------------------------------------------------------------

    def get_scores(self, texts: list[str], max_length: int | None = None) -> list[float]:
        """A reward model's score of each whole text (prompt and answer, as formatted by the template)."""
        import torch

        from ..model.value_head import last_token_scores

        if not self.is_reward_model:
            raise TuneFactoryError("scores come from a reward model: load one with stage: rm")
        scores = []
        for text in texts:
            ids = self.tokenizer.encode(text, add_special_tokens=False)[: max_length or None]
            device = next(self.model.parameters()).device
            input_ids = torch.tensor([ids], device=device)
            mask = torch.ones_like(input_ids)
            with torch.inference_mode():
                _, values = self.model(input_ids=input_ids, attention_mask=mask, return_logits=False)
            scores.append(float(last_token_scores(values, mask)[0]))
        return scores


class StreamDecoder:
    """Token ids in, new text out: decodes the whole answer so far and returns what was not yet given,
    holding back an incomplete character and any text that may be the start of a stop string."""

    def __init__(self, tokenizer, skip_special_tokens: bool, stop_strings: tuple[str, ...] = ()):
        self.tokenizer, self.skip, self.stops = tokenizer, skip_special_tokens, stop_strings
        self.tokens: list[int] = []
        self.sent = 0
        self.stopped = False

    def add(self, *tokens: int) -> str:
        if self.stopped:
            return ""
        self.tokens.extend(tokens)
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=self.skip)
        cut = _cut_at_stop_strings(text, self.stops)
        if cut != text:
            self.stopped = True
            return self._emit(cut)
        if text.endswith("\ufffd"):  # half of a multi-byte character
            return ""
        hold = max((len(s) - 1 for s in self.stops), default=0)
        return self._emit(text[: len(text) - hold] if hold else text)

    def flush(self) -> str:
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=self.skip)
        return self._emit(_cut_at_stop_strings(text, self.stops))

    def _emit(self, text: str) -> str:
        piece = text[self.sent:]
        self.sent = max(self.sent, len(text))
        return piece


def _cut_at_stop_strings(text: str, stops: tuple[str, ...]) -> str:
    positions = [text.find(stop) for stop in stops if stop and stop in text]
    return text[: min(positions)] if positions else text


def _drain(events: queue.Queue, wait: bool = True) -> list[tuple]:
    """Every event already there; with ``wait``, after waiting for the first."""
    drained = [events.get()] if wait else []
    try:
        while True:
            drained.append(events.get_nowait())
    except queue.Empty:
        return drained


def _decode_events(decoder: StreamDecoder, events: list[tuple], on_finish) -> tuple[str, bool]:
    """(the text of the events' tokens, whether the answer ended); every token waiting is decoded at once, so a
    reader that fell behind catches up in one piece. At the end, ``on_finish`` is called and the rest flushed."""
    end = next((event for event in events if event[0] is None or len(event) == 3), None)
    tokens = [event[1] for event in events[: events.index(end) if end else len(events)]]
    piece = decoder.add(*tokens) if tokens else ""
    if end is None:
        return piece, False
    _raise_if_error(end)
    if on_finish is not None:
        on_finish(end[2], len(decoder.tokens))
    return piece + decoder.flush(), True


def _raise_if_error(event: tuple) -> None:
    if event[0] is None and isinstance(event[2], str) and event[2].startswith("error"):
        raise TuneFactoryError(f"generation failed: {event[2][len('error: '):]}")


def _collect(request: GenerationRequest) -> tuple[dict[int, list[int]], dict[int, str]]:
    tokens: dict[int, list[int]] = {i: [] for i in range(request.n)}
    reasons: dict[int, str] = {}
    while len(reasons) < request.n:
        try:
            event = request.events.get(timeout=600)
        except queue.Empty as error:
            raise TuneFactoryError("generation timed out after 600 s") from error
        if event[0] is None:
            _raise_if_error(event)
            return tokens, {i: reasons.get(i, "stop") for i in range(request.n)}
        if len(event) == 3:
            reasons[event[0]] = event[2]
        else:
            tokens[event[0]].append(event[1])
    return tokens, reasons
