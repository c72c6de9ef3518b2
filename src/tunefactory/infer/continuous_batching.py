"""Continuous batching: requests join the running batch at the next decoding step and leave it when done.

This wraps transformers' own continuous-batching manager (``model.init_continuous_batching``: a paged
KV cache, a scheduler that mixes new prompts' prefill with the running rows' decoding, and a generation
thread of its own). What it does not do, this module adds:

- **Stop strings and our finish reasons.** The manager stops at stop tokens and at ``max_new_tokens``;
  a stop string is seen here, token by token, and its row is cancelled in the manager.
- **Cancellation.** A request whose consumer went away (``request.cancelled``) is cancelled in the
  manager, which frees its cache pages at its next step.
- **Events.** Each row's new tokens go to its request's queue as ``(row, token)`` and its end as
  ``(row, None, finish_reason)``, exactly as the one-``generate``-per-batch path sends them.

One manager serves one set of sampling settings (the manager's logits processors and its choice of
greedy or sampling are global to it); the engine drains it before switching settings. Settings it
cannot apply (beam search, repetition penalty: the manager would drop that processor with a warning)
are served by the engine's ``generate`` path instead, see `supports`.
"""

from __future__ import annotations

import copy
import logging
import queue

import torch

logger = logging.getLogger(__name__)

PAGE_SIZE = 64  # tokens per cache page on the CPU (transformers' default, 256, wastes more per short row)
CPU_CONTEXT_BUDGET = 4096  # cache tokens reserved per row on the CPU, where transformers would take 60 % of RAM
CPU_MAX_BATCH_TOKENS = 2048  # prompt tokens prefilled per step: a long prompt is split, not a stall for the others


def generation_config_for(model, settings: dict, stop_ids: list[int], pad_id: int | None):
    """The model's generation config with a request's sampling settings, as ``generate(**settings)`` would use."""
    config = copy.deepcopy(model.generation_config)
    config.update(**settings, eos_token_id=list(stop_ids), pad_token_id=pad_id)
    return config


def supports(model, generation_config) -> bool:
    """True when the manager applies every setting of ``generation_config``: no beams, and no logits
    processor that transformers marks as unsupported by continuous batching."""
    if (generation_config.num_beams or 1) > 1:
        return False
    processors = model._get_logits_processor(generation_config)
    return all(getattr(processor, "supports_continuous_batching", None) is not False for processor in processors)


def cache_config(model, max_rows: int):
    """On a GPU, transformers sizes its paged cache from free memory; on the CPU that would reserve most of the
    machine's RAM, so the cache holds ``max_rows`` rows of ``CPU_CONTEXT_BUDGET`` tokens instead."""
    from transformers.generation.configuration_utils import ContinuousBatchingConfig

    if model.device.type != "cpu":
        return ContinuousBatchingConfig(max_requests_per_batch=max_rows)
    context = min(getattr(model.config.get_text_config(), "max_position_embeddings", None) or CPU_CONTEXT_BUDGET,
                  CPU_CONTEXT_BUDGET)
    pages = -(-max_rows * context // PAGE_SIZE)
    return ContinuousBatchingConfig(page_size=PAGE_SIZE, num_blocks=pages, max_batch_tokens=CPU_MAX_BATCH_TOKENS,
                                    max_requests_per_batch=max_rows)


class ContinuousBatch:
    """The rows being generated with one set of sampling settings, on one running manager."""

    def __init__(self, model, tokenizer, stop_ids: list[int], key: tuple, generation_config, max_rows: int):
        self.tokenizer, self.stop_ids, self.key, self.max_rows = tokenizer, set(stop_ids), key, max_rows
        self.rows: dict[str, object] = {}  # the manager's request id -> our _Row
        self.manager = model.init_continuous_batching(generation_config=generation_config,
                                                      continuous_batching_config=cache_config(model, max_rows))
        with torch.inference_mode():  # the manager's thread runs in the mode it was started in
            self.manager.start()

    def has_room_for(self, rows: int) -> bool:
        return len(self.rows) + rows <= self.max_rows

    def add(self, request, make_row) -> None:
        """Start ``request.n`` rows for ``request``; they join the batch at the manager's next step."""
        for index in range(request.n):
            request_id = self.manager.add_request(list(request.prompt_ids), max_new_tokens=request.max_new_tokens,
                                                  streaming=True, eos_token_id=sorted(self.stop_ids))
            if request_id is None:  # the manager refused it (it is stopping or has failed)
                raise RuntimeError("the continuous-batching manager accepts no more requests")
            self.rows[request_id] = make_row(request, index)

    def pump(self, timeout: float) -> None:
        """Forward the tokens the manager produced (waiting up to ``timeout`` for the first), then cancel the
        rows whose consumers went away."""
        outputs = self.manager.output_router.output_queue
        try:
            self._forward(outputs.get(timeout=timeout))
            while True:
                self._forward(outputs.get_nowait())
        except queue.Empty:
            pass
        for request_id, row in list(self.rows.items()):
            if row.request.cancelled.is_set():
                self._finish(request_id, "cancelled", cancel=True)
        if self.rows and not self.manager.is_running():  # its thread died: fail what it held
            error = self.manager.background_thread_status.fatal_error or "the generation thread stopped"
            for request_id, row in list(self.rows.items()):
                self.rows.pop(request_id)
                row.request.events.put((None, None, f"error: {error}"))

    def _forward(self, output) -> None:
        row = self.rows.get(output.request_id)
        if row is None:  # a row we already finished (a stop string, a cancellation)
            return
        if output.error is not None:
            self.rows.pop(output.request_id)
            row.request.events.put((None, None, f"error: {output.error}"))
            return
        request = row.request
        for token in output.generated_tokens[len(row.tokens):]:
            if token in self.stop_ids:
                return self._finish(output.request_id, "stop", cancel=not output.is_finished())
            row.tokens.append(token)
            request.events.put((row.index, token))
            if len(row.tokens) >= request.max_new_tokens:
                return self._finish(output.request_id, "length", cancel=not output.is_finished())
            if request.stop_strings and ends_with_stop(self.tokenizer, row.tokens, request.stop_strings):
                return self._finish(output.request_id, "stop", cancel=True)
        if output.is_finished():
            self._finish(output.request_id, "length" if len(row.tokens) >= request.max_new_tokens else "stop")

    def _finish(self, request_id: str, reason: str, cancel: bool = False) -> None:
        row = self.rows.pop(request_id)
        if cancel:
            self.manager.cancel_request(request_id)
        row.request.events.put((row.index, None, "stop" if reason == "cancelled" else reason))

    def close(self) -> None:
        """Stop the manager's thread; the model gets its own attention implementation back."""
        self.manager.stop(block=True, timeout=60)


def ends_with_stop(tokenizer, tokens: list[int], stops: tuple[str, ...]) -> bool:
    tail = tokenizer.decode(tokens[-16:], skip_special_tokens=False)
    return any(stop in tail for stop in stops)
