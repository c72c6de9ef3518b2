"""The transformers inference engine: one worker thread owns the model and serves every request.

Requests (one prompt, ``n`` answers) wait in a queue. By default they are served by **continuous
batching** (`continuous_batching.py`, on transformers' own manager): a request joins the rows being
generated at the next decoding step and each row leaves when it is done, so a request that arrives
while others are answering starts at once instead of waiting for their whole batch. Rows of one
batch share their sampling settings; a request with other settings waits until the running rows end.

Where continuous batching cannot serve a request exactly (beam search, a repetition penalty, a seeded
batch from batch prediction, or a model the manager does not support) the worker uses ``generate``:
it takes the waiting requests whose settings match, up to ``max_batch_rows`` rows, left-pads their
prompts into one batch and runs ``generate`` once for all of them, a streamer handing each row's tokens
to its request. Either way a row stops on its own at a stop token, a stop string, its own
``max_new_tokens``, or when its request is cancelled (a client went away), so one slow or abandoned
request never holds the others.
"""

from __future__ import annotations

import atexit
import collections
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from ..data.multimodal import TOKEN_TYPE_INPUTS
from .continuous_batching import ContinuousBatch, ends_with_stop, generation_config_for, supports

logger = logging.getLogger(__name__)

_EMPTY = object()  # nothing is waiting
SAMPLING_KEYS = ("do_sample", "temperature", "top_p", "top_k", "num_beams", "repetition_penalty", "length_penalty")


class EventQueue(queue.Queue):
    """A request's events; ``on_put`` (when set) is called after each one arrives, from the thread that put it:
    an asyncio reader wakes on it instead of a thread blocking on ``get`` for every piece."""

    on_put: Callable[[], None] | None = None

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        if self.on_put is not None:
            self.on_put()


@dataclass
class GenerationRequest:
    """One prompt to answer ``n`` times; the worker fills ``events`` with ``(row, token_id)``, then
    ``(row, None, finish_reason)`` per row."""

    prompt_ids: list[int]
    settings: dict
    max_new_tokens: int
    n: int = 1
    stop_strings: tuple[str, ...] = ()
    seed: int | None = None  # set by batch prediction: sampling then repeats exactly
    media_inputs: dict | None = None  # the prompt's images as model inputs (pixel_values, ...): served alone
    events: EventQueue = field(default_factory=EventQueue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def batch_key(self) -> tuple:
        # a request with images never shares a batch: its pixel inputs belong to its own rows
        return (*(self.settings.get(key) for key in SAMPLING_KEYS), id(self) if self.media_inputs else None)


@dataclass
class _Row:
    request: GenerationRequest
    index: int  # which of the request's n answers
    tokens: list[int] = field(default_factory=list)
    finished: str | None = None


class _RowStreamer(BaseStreamer):
    """Receives each step's new token of every row and forwards it to the row's request."""

    def __init__(self, rows: list[_Row], stop_ids: set[int]):
        self.rows, self.stop_ids, self.prompt_seen = rows, stop_ids, False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first puts the prompt itself
            self.prompt_seen = True
            return
        for row, token in zip(self.rows, value.view(-1).tolist(), strict=True):
            if row.finished is None and len(row.tokens) >= row.request.max_new_tokens:
                row.finished = "length"
            if row.finished is not None:
                continue
            if token in self.stop_ids:
                row.finished = "stop"
                continue
            row.tokens.append(token)
            row.request.events.put((row.index, token))

    def end(self) -> None:
        pass


class _RowStops(StoppingCriteria):
    """Per row: done when finished by a stop token, cancelled, at its own token limit, or at a stop string."""

    def __init__(self, rows: list[_Row], tokenizer):
        self.rows, self.tokenizer = rows, tokenizer

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = []
        for row in self.rows:
            request = row.request
            if row.finished is None:
                if request.cancelled.is_set():
                    row.finished = "cancelled"
                elif len(row.tokens) >= request.max_new_tokens:
                    row.finished = "length"
                elif request.stop_strings and ends_with_stop(self.tokenizer, row.tokens, request.stop_strings):
                    row.finished = "stop"
            done.append(row.finished is not None)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class HFEngine:
    def __init__(self, model, tokenizer, stop_ids: list[int], max_batch_rows: int = 16, continuous: bool = True):
        self.model, self.tokenizer = model, tokenizer
        self.stop_ids = list(stop_ids)
        self.max_batch_rows = max_batch_rows
        self.continuous = continuous  # off after the manager failed to start for this model
        self.device = next(model.parameters()).device
        self._waiting: queue.Queue[GenerationRequest] = queue.Queue()
        self._held: collections.deque = collections.deque()  # taken from the queue but left for a later batch
        self._running: ContinuousBatch | None = None
        self._supported: dict[tuple, bool] = {}  # sampling settings -> continuous batching applies them all
        self._worker = threading.Thread(target=self._serve, name="tunefactory-generate", daemon=True)
        self._worker.start()
        atexit.register(self.close)

    def close(self) -> None:
        """Stop the worker after the rows it is generating (interpreter exit does this too)."""
        if self._worker.is_alive():
            self._waiting.put(None)
            self._worker.join(timeout=60)

    def submit(self, request: GenerationRequest) -> GenerationRequest:
        self._waiting.put(request)
        return request

    def submit_batch(self, requests: list[GenerationRequest]) -> list[GenerationRequest]:
        """Generate these requests together, in one ``generate`` call of their own, seeded with the first one's
        seed: a row's neighbours and padding then never depend on what else was waiting, so batch prediction
        gives the same answers on every run."""
        self._waiting.put(list(requests))
        return requests

    # --- the worker ---------------------------------------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            busy = self._running is not None and bool(self._running.rows)
            if busy:
                self._pump()
            item = self._take(block=not busy)
            if item is _EMPTY:
                continue
            if item is None:  # closing: finish the running rows first
                while self._running is not None and self._running.rows:
                    self._pump()
                self._stop_running()
                return
            if self._continuous_for(item):
                if not self._join_running(item):
                    self._held.appendleft(item)  # first in line once rows leave
                continue
            if busy:  # generate() needs the model to itself: wait for the running rows to end
                self._held.appendleft(item)
                continue
            self._stop_running()
            self._held.appendleft(item)
            self._serve_one_generate_call()

    def _continuous_for(self, item) -> bool:
        if not self.continuous or isinstance(item, list) or item.seed is not None or item.media_inputs:
            return False
        key = item.batch_key()
        if key not in self._supported:
            config = generation_config_for(self.model, item.settings, self.stop_ids, self.tokenizer.pad_token_id)
            self._supported[key] = supports(self.model, config)
        return self._supported[key]

    def _join_running(self, request: GenerationRequest) -> bool:
        """Add the request's rows to the running batch; False when they must wait (other settings, no room)."""
        if request.cancelled.is_set():
            request.events.put((None, None, "cancelled"))
            return True
        running = self._running
        if running is not None and running.key != request.batch_key():
            if running.rows:
                return False
            self._stop_running()
            running = None
        if running is None:
            try:
                running = self._running = self._start_running(request)
            except Exception as error:  # e.g. a model the manager does not support: generate() serves it
                logger.warning("continuous batching is not available for this model (%s); serving each batch of "
                               "waiting requests with one generate call", error)
                self.continuous = False
                self._held.appendleft(request)
                return True
        if not running.has_room_for(request.n) and running.rows:
            return False
        try:
            running.add(request, _Row)
        except Exception as error:
            logger.exception("continuous batching failed to take a request")
            request.events.put((None, None, f"error: {error}"))
        return True

    def _start_running(self, request: GenerationRequest) -> ContinuousBatch:
        config = generation_config_for(self.model, request.settings, self.stop_ids, self.tokenizer.pad_token_id)
        return ContinuousBatch(self.model, self.tokenizer, self.stop_ids, request.batch_key(), config,
                               max(self.max_batch_rows, request.n))

    def _pump(self) -> None:
        try:
            self._running.pump(timeout=0.005)
        except Exception as error:  # keep serving: fail these rows, not the server
            logger.exception("continuous batching failed")
            for row in self._running.rows.values():
                row.request.events.put((None, None, f"error: {error}"))
            self._running.rows.clear()
            self._stop_running()

    def _stop_running(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            try:
                running.close()
            except Exception:
                logger.exception("stopping the continuous-batching manager failed")

    def _serve_one_generate_call(self) -> None:
        batch = self._next_batch()
        if batch is None:
            return
        try:
            self._generate(batch)
        except Exception as error:  # keep serving: fail these requests, not the server
            logger.exception("generation failed")
            for request in {id(r): r for r in batch}.values():
                request.events.put((None, None, f"error: {error}"))

    def _next_batch(self) -> list[GenerationRequest] | None:
        first = self._take(block=True)
        if first is None or isinstance(first, list):  # closing, or a batch submitted whole
            return first
        batch, rows, held = [first], first.n, []
        while rows < self.max_batch_rows:
            request = self._take(block=False)
            if request is _EMPTY:
                break
            if request is None or isinstance(request, list):  # closing, or a whole batch: after this one
                held.append(request)
                break
            if request.batch_key() == first.batch_key() and rows + request.n <= self.max_batch_rows:
                batch.append(request)
                rows += request.n
            else:
                held.append(request)
        self._held.extendleft(reversed(held))  # served next, in the order they came
        return batch

    def _take(self, block: bool):
        """The oldest waiting item: one held back from the last batch, else the next in the queue."""
        if self._held:
            return self._held.popleft()
        if block:
            return self._waiting.get()
        try:
            return self._waiting.get_nowait()
        except queue.Empty:
            return _EMPTY

    def _generate(self, batch: list[GenerationRequest]) -> None:
        rows = [_Row(request, i) for request in batch for i in range(request.n) if not request.cancelled.is_set()]
        for request in batch:
            if request.cancelled.is_set():
                request.events.put((None, None, "cancelled"))
        if not rows:
            return
        pad = self.tokenizer.pad_token_id
        width = max(len(row.request.prompt_ids) for row in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):  # left padding: every row continues from the right edge
            prompt = row.request.prompt_ids
            ids[i, width - len(prompt):] = torch.tensor(prompt)
            mask[i, width - len(prompt):] = 1
        settings = dict(batch[0].settings)
        if batch[0].seed is not None:
            torch.manual_seed(batch[0].seed)
        streamed = settings.get("num_beams", 1) == 1  # beam search cannot stream: its rows arrive at the end
        media = _media_inputs(batch[0], len(rows), width, self.device)
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **media,
                max_new_tokens=max(row.request.max_new_tokens for row in rows),
                eos_token_id=self.stop_ids, pad_token_id=pad,
                streamer=_RowStreamer(rows, set(self.stop_ids)) if streamed else None,
                stopping_criteria=StoppingCriteriaList([_RowStops(rows, self.tokenizer)]) if streamed else None,
                **settings,
            )
        if not streamed:
            streamer = _RowStreamer(rows, set(self.stop_ids))
            streamer.prompt_seen = True
            for step in output[:, width:].T:
                streamer.put(step)
        for row in rows:
            reason = row.finished or ("length" if len(row.tokens) >= row.request.max_new_tokens else "stop")
            row.request.events.put((row.index, None, "stop" if reason == "cancelled" else reason))


def _media_inputs(request: GenerationRequest, rows: int, width: int, device) -> dict:
    """A request's image inputs for its ``rows`` answers (its prompt repeated), token types padded on the left."""
    if not request.media_inputs:
        return {}
    inputs = {}
    for name, value in request.media_inputs.items():
        if name in TOKEN_TYPE_INPUTS:  # one row per answer, aligned with the left-padded ids
            row = torch.zeros((1, width), dtype=value.dtype)
            row[0, width - value.shape[-1]:] = value.reshape(-1)
            inputs[name] = row.repeat(rows, 1).to(device)
        else:  # per image: every answer's copy of the prompt has its own images
            inputs[name] = torch.cat([value] * rows).to(device)
    return inputs
