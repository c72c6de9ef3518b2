"""ChatModel and its batching engine on a tiny offline model: same answers as a plain generate() call,
alone, streamed, batched with other requests, or cut by limits and stop strings."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest
import torch

from tunefactory.config import parse_dict
from tunefactory.errors import TuneFactoryError
from tunefactory.infer.chat_model import ChatModel, StreamDecoder

QUESTIONS = [f"Tell me about {topic}." for topic in ("rivers", "bread", "the moon", "maps", "rain", "owls")]


def user(text):
    return [{"role": "user", "content": text}]


def load(model_dir, **overrides):
    settings = {"model_name_or_path": str(model_dir), "template": "llama3", "max_new_tokens": 24,
                "do_sample": False, **overrides}
    return ChatModel(parse_dict(settings, command="chat"))


@pytest.fixture(scope="module")
def chat_model(tiny_llama):
    return load(tiny_llama)


def reference_answer(chat_model, messages, max_new_tokens=24) -> list[int]:
    """Greedy generate() on the template's prompt, cut at the first stop token: what the engine must match."""
    ids = torch.tensor([chat_model.prompt_ids(messages)])
    with torch.inference_mode():
        out = chat_model.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                        max_new_tokens=max_new_tokens, eos_token_id=chat_model.stop_ids,
                                        pad_token_id=chat_model.tokenizer.pad_token_id)
    answer = out[0, ids.shape[1]:].tolist()
    for i, token in enumerate(answer):
        if token in chat_model.stop_ids:
            return answer[:i]
    return answer


def test_greedy_answer_equals_plain_generate(chat_model):
    for question in QUESTIONS[:3]:
        expected = reference_answer(chat_model, user(question))
        response = chat_model.chat(user(question))[0]
        assert response.text == chat_model.tokenizer.decode(expected, skip_special_tokens=True)
        assert response.completion_tokens == len(expected)
        assert response.prompt_tokens == len(chat_model.prompt_ids(user(question)))
        assert response.finish_reason == ("length" if len(expected) == 24 else "stop")


def test_stream_pieces_join_to_the_answer(chat_model):
    for question in QUESTIONS[:3]:
        pieces = list(chat_model.stream_chat(user(question)))
        assert "".join(pieces) == chat_model.chat(user(question))[0].text
        assert len([p for p in pieces if p]) > 1


def test_async_streams_wake_on_tokens_without_a_thread_per_piece(chat_model, monkeypatch):
    submitted = []
    submit = chat_model._waiters.submit
    monkeypatch.setattr(chat_model._waiters, "submit", lambda *a, **k: submitted.append(a) or submit(*a, **k))
    finished = {}

    async def read(question) -> list[str]:
        return [piece async for piece in chat_model.astream_chat(
            user(question), on_finish=lambda reason, tokens: finished.update({question: (reason, tokens)}))]

    async def read_all():
        return await asyncio.gather(*(read(question) for question in QUESTIONS[:4]))

    for question, pieces in zip(QUESTIONS[:4], asyncio.run(read_all()), strict=True):
        answer = chat_model.chat(user(question))[0]
        assert "".join(pieces) == answer.text  # four concurrent streams, none mixed with another
        assert len([piece for piece in pieces if piece]) > 1
        assert finished[question] == (answer.finish_reason, answer.completion_tokens)
    assert len(submitted) == 4  # one hop per stream (writing its prompt), none per piece


def test_concurrent_requests_are_batched_without_mixing_answers(chat_model):
    solo = {q: chat_model.chat(user(q))[0].text for q in QUESTIONS}
    together, errors = {}, []

    def ask(question):
        try:
            together[question] = chat_model.chat(user(question))[0].text
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(q,)) for q in QUESTIONS * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and together == solo


def test_limits_n_and_overrides(chat_model):
    short = chat_model.chat(user(QUESTIONS[0]), max_new_tokens=3)[0]
    full = reference_answer(chat_model, user(QUESTIONS[0]))
    assert len(full) > 3, "the tiny model must say more than 3 tokens for this check"
    assert short.completion_tokens == 3 and short.finish_reason == "length"
    assert short.text == chat_model.tokenizer.decode(full[:3], skip_special_tokens=True)
    two = chat_model.chat(user(QUESTIONS[0]), n=2)
    assert len(two) == 2 and two[0].text == two[1].text  # greedy: both the same
    sampled = chat_model.chat(user(QUESTIONS[0]), n=4, do_sample=True, temperature=2.0, top_k=0, top_p=1.0)
    assert len({r.text for r in sampled}) > 1
    greedy_by_zero_temperature = chat_model.chat(user(QUESTIONS[0]), do_sample=True, temperature=0)[0]
    assert greedy_by_zero_temperature.text == chat_model.chat(user(QUESTIONS[0]))[0].text
    # a temperature too small to divide logits by (5e-324 overflowed to inf) is greedy too, not an error
    tiny = chat_model.chat(user(QUESTIONS[0]), do_sample=True, temperature=5e-324, top_p=5e-324)[0]
    assert tiny.text == greedy_by_zero_temperature.text
    with pytest.raises(TuneFactoryError, match="unknown generation setting"):
        chat_model.chat(user(QUESTIONS[0]), temprature=0.5)
    with pytest.raises(TuneFactoryError, match="must end with a user"):
        chat_model.chat([{"role": "assistant", "content": "hi"}])


def test_stop_strings_cut_the_answer(chat_model):
    text = chat_model.chat(user(QUESTIONS[1]))[0].text
    assert len(text) > 6
    stop = text[3:6]
    cut = chat_model.chat(user(QUESTIONS[1]), stop=[stop])[0]
    assert cut.text == text[: text.find(stop)] and cut.finish_reason == "stop"
    streamed = "".join(chat_model.stream_chat(user(QUESTIONS[1]), stop=stop))
    assert streamed == cut.text


def test_an_abandoned_stream_frees_its_row(chat_model):
    stream = chat_model.stream_chat(user(QUESTIONS[2]), max_new_tokens=200)
    next(stream)
    stream.close()  # what the API does when a client disconnects
    assert chat_model.chat(user(QUESTIONS[3]))[0].text == chat_model.chat(user(QUESTIONS[3]))[0].text


def test_stream_decoder_holds_back_partial_stop_strings(chat_model):
    tokenizer = chat_model.tokenizer
    ids = tokenizer.encode("abc END tail", add_special_tokens=False)
    decoder = StreamDecoder(tokenizer, True, ("END",))
    text = "".join(decoder.add(i) for i in ids) + decoder.flush()
    assert text == "abc "


def test_adapter_answers_like_peft(tiny_llama, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama),
                                LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    with_adapter = load(tiny_llama, adapter_name_or_path=str(tmp_path / "adapter"), finetuning_type="lora")
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), tmp_path / "adapter")
    ids = torch.tensor([with_adapter.prompt_ids(user(QUESTIONS[0]))])
    out = reference.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=12,
                             eos_token_id=with_adapter.stop_ids, pad_token_id=with_adapter.tokenizer.pad_token_id)
    expected = out[0, ids.shape[1]:].tolist()
    expected = expected[: next((i for i, t in enumerate(expected) if t in with_adapter.stop_ids), len(expected))]
    answer = with_adapter.chat(user(QUESTIONS[0]), max_new_tokens=12)[0]
    assert answer.text == with_adapter.tokenizer.decode(expected, skip_special_tokens=True)


def test_piped_terminal_chat_answers_one_line_per_turn(tiny_llama, tmp_path, chat_model):
    config = tmp_path / "chat.yaml"
    config.write_text(f"model_name_or_path: {tiny_llama}\ntemplate: llama3\nmax_new_tokens: 24\ndo_sample: false\n")
    lines = f"{QUESTIONS[0]}\nclear\n{QUESTIONS[0]}\n{QUESTIONS[1]}\nexit\n{QUESTIONS[2]}\n"
    result = subprocess.run([sys.executable, "-m", "tunefactory.cli", "chat", str(config)], input=lines,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    answers = result.stdout.split("\n")[:-1]
    assert len(answers) == 3  # nothing after `exit`
    first = chat_model.chat(user(QUESTIONS[0]))[0].text
    assert answers[0] == answers[1] == first.replace("\n", "\\n")  # `clear` started a new conversation
    history = [*user(QUESTIONS[0]), {"role": "assistant", "content": first}, *user(QUESTIONS[1])]
    assert answers[2] == chat_model.chat(history)[0].text.replace("\n", "\\n")


def test_a_reward_model_scores_texts_and_refuses_to_chat(tiny_llama, tmp_path):
    from transformers import AutoModelForCausalLM

    from tunefactory.model.value_head import ModelWithValueHead, last_token_scores

    torch.manual_seed(0)
    reward = ModelWithValueHead(AutoModelForCausalLM.from_pretrained(tiny_llama))
    reward.save_pretrained(tmp_path / "rm")
    chat_model = load(tiny_llama)
    chat_model.tokenizer.save_pretrained(tmp_path / "rm")
    scorer = load(tmp_path / "rm", stage="rm")
    texts = ["a short text", "a somewhat longer text about rivers and maps"]
    expected = []
    for text in texts:
        ids = torch.tensor([scorer.tokenizer.encode(text, add_special_tokens=False)])
        with torch.no_grad():
            _, values = reward(input_ids=ids, attention_mask=torch.ones_like(ids))
        expected.append(float(last_token_scores(values, torch.ones_like(ids))[0]))
    assert scorer.get_scores(texts) == pytest.approx(expected, abs=1e-5)
    with pytest.raises(TuneFactoryError, match="reward model"):
        scorer.chat(user("hi"))
    with pytest.raises(TuneFactoryError, match="reward model"):
        chat_model.get_scores(texts)
