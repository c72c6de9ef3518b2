"""`tunefactory predict`: every row answered by the model through its template, scored, and resumable."""

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunefactory.config import parse_dict
from tunefactory.data.template import get_template
from tunefactory.errors import DataError
from tunefactory.eval.predict import load_examples, prediction_problems, run_predict
from tunefactory.infer.hf_engine import GenerationRequest, HFEngine
from tunefactory.model.tokenizer import load_tokenizer
from tunefactory.train.metrics import score_text_pair

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
ROWS = json.loads((DATA_DIR / "alpaca_demo.json").read_text(encoding="utf-8"))


def predict_config(model, save_name, **overrides):
    values = {"model_name_or_path": str(model), "template": "llama3", "dataset": "alpaca_demo",
              "dataset_dir": str(DATA_DIR), "max_samples": 5, "batch_size": 2, "max_new_tokens": 8,
              "save_name": str(save_name)}
    return parse_dict({**values, **overrides}, command="predict")


def read_lines(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def greedy_run(tiny_llama, tmp_path_factory):
    save_name = tmp_path_factory.mktemp("predict") / "out" / "generated_predictions.jsonl"
    config = predict_config(tiny_llama, save_name, do_sample=False)
    return config, run_predict(config), read_lines(save_name)


def test_each_line_is_the_rows_prompt_label_and_the_models_own_greedy_answer(tiny_llama, greedy_run):
    config, _, lines = greedy_run
    tokenizer = load_tokenizer(config.model)
    template = get_template(tokenizer, config.data, config.model.model_name_or_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    assert len(lines) == 5
    assert not any(row["history"] for row in ROWS[:5])
    for row, line in zip(ROWS, lines):
        messages = [{"role": "user", "content": f"{row['instruction']}\n{row['input']}".strip()}]
        ids = template.encode_prompt(tokenizer, messages)
        assert line["prompt"] == tokenizer.decode(ids)
        assert line["prompt"].endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
        assert line["label"] == row["output"]
        # the same prompt alone, greedy: the batch (left padding beside other rows) changes nothing
        alone = model.generate(torch.tensor([ids]), max_new_tokens=8, do_sample=False,
                               eos_token_id=template.stop_token_ids(tokenizer), pad_token_id=tokenizer.pad_token_id)
        assert line["predict"] == tokenizer.decode(alone[0, len(ids):], skip_special_tokens=True)


def test_scores_are_the_mean_of_each_rows_bleu_and_rouge(greedy_run):
    config, scores, lines = greedy_run
    by_row = [score_text_pair(line["predict"], line["label"]) for line in lines]
    for key in ("bleu-4", "rouge-1", "rouge-2", "rouge-l"):
        assert scores[f"predict_{key}"] == pytest.approx(sum(s[key] for s in by_row) / len(by_row), abs=1e-4)
    assert scores["predict_samples"] == 5
    saved = json.loads((Path(config.prediction.save_name).parent / "predict_results.json").read_text())
    assert saved == scores


def test_a_complete_file_is_scored_again_without_generating(greedy_run, monkeypatch):
    config, scores, lines = greedy_run
    monkeypatch.setattr("tunefactory.infer.chat_model.ChatModel.__init__",
                        lambda *a, **k: pytest.fail("the model must not load"))
    assert run_predict(config) == scores
    assert read_lines(config.prediction.save_name) == lines


def test_an_interrupted_sampling_run_resumes_to_the_same_file(tiny_llama, tmp_path):
    whole = tmp_path / "whole.jsonl"
    run_predict(predict_config(tiny_llama, whole, do_sample=True, temperature=1.5, seed=7))
    text = whole.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    assert len({json.loads(line)["predict"] for line in lines}) > 1

    cut_mid_batch = tmp_path / "cut.jsonl"  # two whole lines, then half of the second batch's first line
    cut_mid_batch.write_text("".join(lines[:3]) + lines[3][:20], encoding="utf-8")
    run_predict(predict_config(tiny_llama, cut_mid_batch, do_sample=True, temperature=1.5, seed=7))
    assert cut_mid_batch.read_text(encoding="utf-8") == text

    other_seed = tmp_path / "seed8.jsonl"
    run_predict(predict_config(tiny_llama, other_seed, do_sample=True, temperature=1.5, seed=8))
    assert other_seed.read_text(encoding="utf-8") != text


def test_a_file_of_other_content_is_refused_and_left_alone(tiny_llama, tmp_path):
    foreign = tmp_path / "mine.jsonl"
    foreign.write_text('{"prompt": "something else", "predict": "x", "label": "y"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1 is not the prompt and label of row 0\); it is left as it is"):
        run_predict(predict_config(tiny_llama, foreign))
    assert foreign.read_text(encoding="utf-8") == '{"prompt": "something else", "predict": "x", "label": "y"}\n'


def test_prompts_over_cutoff_len_are_skipped_and_counted(tiny_llama, tmp_path, caplog):
    save_name = tmp_path / "p.jsonl"
    config = predict_config(tiny_llama, save_name, max_samples=None, cutoff_len=30, max_new_tokens=2)
    tokenizer = load_tokenizer(config.model)
    template = get_template(tokenizer, config.data, config.model.model_name_or_path)
    examples = load_examples(config)  # canonical rows: the conversation with its history
    lengths = [len(template.encode_prompt(tokenizer, e["_prompt"], e["_system"] or None)) for e in examples]
    kept = [e["_response"][0]["content"] for e, n in zip(examples, lengths) if n <= 30]
    assert 0 < len(kept) < len(ROWS)
    with caplog.at_level("WARNING"):
        run_predict(config)
    assert [line["label"] for line in read_lines(save_name)] == kept
    assert f"{len(ROWS) - len(kept)} of {len(ROWS)} rows skipped: their prompt is longer than cutoff_len=30" \
        in caplog.text


def test_the_evaluation_split_is_predicted_when_there_is_one(tiny_llama, tmp_path):
    save_name = tmp_path / "p.jsonl"
    run_predict(predict_config(tiny_llama, save_name, dataset="arith_train", eval_dataset="alpaca_demo",
                               max_samples=3, max_new_tokens=2))
    assert [line["label"] for line in read_lines(save_name)] == [r["output"] for r in ROWS[:3]]


def test_problems_are_reported_before_anything_loads(tiny_llama, tmp_path):
    (tmp_path / "folder").mkdir()
    config = predict_config(tiny_llama, tmp_path / "folder", dataset=None, batch_size=0, stage="rm")
    problems = "\n".join(prediction_problems(config))
    assert "save_name: " in problems and "is a folder" in problems
    assert "batch_size must be 1 or more" in problems
    assert "set eval_dataset (or dataset)" in problems
    assert "a reward model (stage: rm) scores" in problems


@pytest.mark.parametrize("continuous", [True, False], ids=["continuous-batching", "generate-only"])
def test_a_submitted_batch_is_generated_on_its_own(tiny_llama, continuous):
    """Batch prediction's rows never share a generate call with requests that happened to be waiting (which
    continuous batching serves without generate, or generate serves in calls of their own)."""
    config = predict_config(tiny_llama, "unused.jsonl")
    tokenizer = load_tokenizer(config.model)
    get_template(tokenizer, config.data, config.model.model_name_or_path)  # sets the pad token
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    engine = HFEngine(model, tokenizer, [tokenizer.eos_token_id], max_batch_rows=8, continuous=continuous)
    calls = []
    original = model.generate
    model.generate = lambda **kw: calls.append(kw["input_ids"].shape[0]) or original(**kw)
    settings = {"do_sample": False}
    early = GenerationRequest([1, 2, 3], settings, 2)
    engine._waiting.put(early)  # queued before the worker looks
    batch = [GenerationRequest([4, 5], settings, 2, seed=3), GenerationRequest([6], settings, 2, seed=4)]
    engine.submit_batch(batch)
    singles = [early, engine.submit(GenerationRequest([7, 8], settings, 2))]
    for request in batch + singles:
        while (event := request.events.get(timeout=60))[1] is not None:
            pass
        assert event[2] in ("stop", "length")
    engine.close()
    assert calls == ([2] if continuous else [1, 2, 1])


def test_a_tokenized_path_is_skipped_with_a_warning(tiny_llama, tmp_path, caplog):
    """tokenized rows have lost their conversations: predict reads the datasets, and says so."""
    save_name = tmp_path / "p.jsonl"
    with caplog.at_level("WARNING"):
        run_predict(predict_config(tiny_llama, save_name, tokenized_path=str(tmp_path / "tokenized"), max_samples=2,
                                   max_new_tokens=2))
    assert "tokenized_path is ignored by predict" in caplog.text
    assert [line["label"] for line in read_lines(save_name)] == [r["output"] for r in ROWS[:2]]
    assert not (tmp_path / "tokenized").exists()
