"""Continuous batching in the transformers engine: a request joins the running rows at the next step and
leaves when done; answers equal solo ``generate`` answers, streams never mix, and cancelling frees the row."""

from __future__ import annotations

import queue
import random
import threading
import time

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunefactory.config import parse_dict
from tunefactory.infer.continuous_batching import ContinuousBatch
from tunefactory.infer.hf_engine import GenerationRequest, HFEngine
from tunefactory.model.tokenizer import load_tokenizer

GREEDY = {"do_sample": False, "num_beams": 1, "repetition_penalty": 1.0, "length_penalty": 1.0}


@pytest.fixture(scope="module")
def setup(tiny_llama):
    from tunefactory.data.template import get_template

    config = parse_dict({"model_name_or_path": str(tiny_llama), "template": "llama3"}, command="chat")
    tokenizer = load_tokenizer(config.model)
    template = get_template(tokenizer, config.data, str(tiny_llama))
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).eval()
    stop_ids = template.stop_token_ids(tokenizer)
    prompts = [template.encode_prompt(tokenizer, [{"role": "user", "content": f"Question {i}: what is {i} plus "
                                                   f"{3 * i}?"}], None, None) for i in range(40)]
    return model, tokenizer, stop_ids, prompts


@pytest.fixture
def engine(setup):
    model, tokenizer, stop_ids, _ = setup
    engine = HFEngine(model, tokenizer, stop_ids, max_batch_rows=8)
    yield engine
    engine.close()


def solo(setup, prompt, max_new_tokens, **settings) -> list[int]:
    """One plain greedy ``generate`` call, cut at the first stop token."""
    model, tokenizer, stop_ids, _ = setup
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id,
                             **{"do_sample": False, **settings})
    answer = out[0, len(prompt):].tolist()
    return next((answer[:i] for i, token in enumerate(answer) if token in stop_ids), answer)


def long_prompts(setup, count, max_new_tokens):
    """Prompts whose greedy answer runs to ``max_new_tokens`` (random weights stop early on many)."""
    found = [p for p in setup[3] if len(solo(setup, p, max_new_tokens)) == max_new_tokens]
    assert len(found) >= count, "the tiny model must give enough long answers for this check"
    return found[:count]


def events_of(request, timeout=60):
    """Tokens per row and finish reasons, read until every row ended."""
    tokens, reasons = {i: [] for i in range(request.n)}, {}
    while len(reasons) < request.n:
        event = request.events.get(timeout=timeout)
        assert event[0] is not None, f"request failed: {event}"
        if len(event) == 3:
            reasons[event[0]] = event[2]
        else:
            tokens[event[0]].append(event[1])
    return tokens, reasons


def test_a_request_arriving_mid_generation_joins_and_leaves_first(setup, engine):
    long_prompt, short_prompt = long_prompts(setup, 2, 120)
    calls = []
    original = engine.model.generate
    engine.model.generate = lambda *a, **kw: calls.append(1) or original(*a, **kw)
    try:
        first = engine.submit(GenerationRequest(long_prompt, GREEDY, 120))
        for _ in range(5):  # the long answer is under way
            assert first.events.get(timeout=60)[1] is not None
        late = engine.submit(GenerationRequest(short_prompt, GREEDY, 4))
        late_tokens, late_reasons = events_of(late)
        assert len(engine._running.rows) == 1, "the late request ended while the long one was still running"
        rest, reasons = events_of(first)
    finally:
        engine.model.generate = original
    assert isinstance(engine._running, ContinuousBatch) and calls == []
    assert late_tokens[0] == solo(setup, short_prompt, 4) and late_reasons == {0: "length"}
    assert reasons == {0: "length"} and len(rest[0]) == 120 - 5


def test_staggered_streams_each_equal_their_solo_answer(setup, engine):
    prompts = setup[3][:12]
    expected = [solo(setup, p, 24) for p in prompts]
    results, errors = {}, []

    def ask(i):
        time.sleep(random.Random(i).uniform(0, 0.3))
        try:
            tokens, reasons = events_of(engine.submit(GenerationRequest(prompts[i], GREEDY, 24)))
            results[i] = tokens[0]
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert [results[i] for i in range(len(prompts))] == expected


def test_n_answers_and_stop_strings(setup, engine):
    tokenizer = setup[1]
    prompt = long_prompts(setup, 1, 30)[0]
    expected = solo(setup, prompt, 30)
    tokens, reasons = events_of(engine.submit(GenerationRequest(prompt, GREEDY, 30, n=3)))
    assert [tokens[i] for i in range(3)] == [expected] * 3 and set(reasons.values()) == {"length"}
    text = tokenizer.decode(expected, skip_special_tokens=False)
    stop = text[len(text) // 2: len(text) // 2 + 3]
    tokens, reasons = events_of(engine.submit(GenerationRequest(prompt, GREEDY, 30, stop_strings=(stop,))))
    assert reasons == {0: "stop"} and len(tokens[0]) < 30
    assert tokens[0] == expected[: len(tokens[0])] and stop in tokenizer.decode(tokens[0])


def test_cancelling_frees_the_row_in_the_manager(setup, engine):
    prompt = long_prompts(setup, 1, 120)[0]
    request = engine.submit(GenerationRequest(prompt, GREEDY, 120))
    assert request.events.get(timeout=60)[1] is not None
    request.cancelled.set()
    tokens, reasons = events_of(request)
    assert reasons == {0: "stop"} and len(tokens[0]) < 119
    scheduler = engine._running.manager.batch_processor.scheduler
    deadline = time.time() + 10
    while (scheduler.active_requests or scheduler.waiting_requests) and time.time() < deadline:
        time.sleep(0.05)
    assert not scheduler.active_requests and not scheduler.waiting_requests and not engine._running.rows
    # the next request is served as if nothing happened
    other = setup[3][5]
    assert events_of(engine.submit(GenerationRequest(other, GREEDY, 12)))[0][0] == solo(setup, other, 12)


def test_settings_continuous_batching_cannot_apply_go_through_generate(setup, engine):
    prompt = setup[3][1]
    penalised = {**GREEDY, "repetition_penalty": 1.5}
    calls = []
    original = engine.model.generate
    engine.model.generate = lambda *a, **kw: calls.append(1) or original(*a, **kw)
    try:
        tokens, _ = events_of(engine.submit(GenerationRequest(prompt, penalised, 16)))
    finally:
        engine.model.generate = original
    assert calls == [1]
    assert tokens[0] == solo(setup, prompt, 16, repetition_penalty=1.5)


class TimedQueue(queue.Queue):
    """An event queue that notes when each event was put."""

    def __init__(self):
        super().__init__()
        self.times = []

    def put(self, item, *args, **kwargs):
        self.times.append(time.perf_counter())
        super().put(item, *args, **kwargs)


def test_other_sampling_settings_wait_for_the_running_rows_then_switch(setup, engine):
    first_prompt = long_prompts(setup, 1, 60)[0]
    greedy = engine.submit(GenerationRequest(first_prompt, GREEDY, 60, events=TimedQueue()))
    sampling = {**GREEDY, "do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": 20}
    sampled = engine.submit(GenerationRequest(setup[3][2], sampling, 10, events=TimedQueue()))
    greedy_tokens, _ = events_of(greedy)
    sampled_tokens, _ = events_of(sampled)
    assert greedy_tokens[0] == solo(setup, first_prompt, 60)
    assert 1 <= len(sampled_tokens[0]) <= 10 and engine._running.key == sampled.batch_key()
    assert sampled.events.times[0] > greedy.events.times[-1], "the sampled request ran beside the greedy rows"
