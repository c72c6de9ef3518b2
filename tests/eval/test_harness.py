"""`eval_backend: lm_eval`: a harness task on local data scores what the model's own log-likelihoods say."""

import json

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from tunefactory.config import parse_dict
from tunefactory.errors import ConfigError

pytest.importorskip("lm_eval")

from tunefactory.eval.harness import run_harness  # noqa: E402

ROWS = [
    {"question": "2 + 2 =", "choices": ["4", "5", "22"], "answer": 0},
    {"question": "The sky is", "choices": ["green", "blue", "loud"], "answer": 1},
    {"question": "Water boils at", "choices": ["10 degrees", "50 degrees", "100 degrees"], "answer": 2},
    {"question": "A cat says", "choices": ["meow", "moo", "quack"], "answer": 0},
    {"question": "Paris is in", "choices": ["Spain", "France", "Peru"], "answer": 1},
    {"question": "Ice is", "choices": ["hot", "dry", "cold"], "answer": 2},
]
TASK = "tunefactory_local_mc"


@pytest.fixture
def task_folder(tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    folder = tmp_path / "tasks"
    folder.mkdir()
    task = {"task": TASK, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
            "test_split": "test", "output_type": "multiple_choice", "doc_to_text": "Question: {{question}}\nAnswer:",
            "doc_to_choice": "{{choices}}", "doc_to_target": "{{answer}}",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1.0}}
    (folder / f"{TASK}.yaml").write_text(yaml.safe_dump(task), encoding="utf-8")
    return folder


def harness_config(model, **overrides):
    values = {"model_name_or_path": str(model), "template": "default", "eval_backend": "lm_eval", "batch_size": 2}
    return parse_dict({**values, **overrides}, command="eval")


def choice_loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    """Sum of log-probs of the continuation's tokens after the context, split as the harness splits them."""
    whole = tokenizer(context + continuation, add_special_tokens=False).input_ids
    context_ids = tokenizer(context, add_special_tokens=False).input_ids
    continuation_ids = whole[len(context_ids):]
    context_ids = whole[:len(context_ids)]
    if tokenizer.bos_token_id is not None and getattr(tokenizer, "add_bos_token", True):
        context_ids = [tokenizer.bos_token_id, *context_ids]
    ids = torch.tensor([context_ids + continuation_ids])
    with torch.inference_mode():
        logprobs = model(ids).logits.float().log_softmax(-1)[0]
    start = len(context_ids)
    return sum(logprobs[start - 1 + i, token].item() for i, token in enumerate(continuation_ids))


@pytest.mark.slow
def test_local_task_scores_the_models_own_loglikelihoods(tiny_llama, task_folder, tmp_path):
    save_dir = tmp_path / "eval"
    results = run_harness(harness_config(tiny_llama, tasks=TASK, include_path=str(task_folder),
                                         save_dir=str(save_dir), seed=0))
    acc = results["results"][TASK]["acc,none"]
    samples = results["samples"][TASK]
    assert len(samples) == len(ROWS)
    assert acc == pytest.approx(sum(s["acc"] for s in samples) / len(samples))

    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    by_question = {s["doc"]["question"]: s for s in samples}
    correct = 0
    for row in ROWS:
        context = f"Question: {row['question']}\nAnswer:"
        scores = [choice_loglikelihood(model, tokenizer, context, " " + choice) for choice in row["choices"]]
        sample = by_question[row["question"]]
        assert [tuple(args) for args in sample["arguments"]] == [(context, " " + c) for c in row["choices"]]
        logged = [float(resp[0]) for resp in sample["filtered_resps"]]
        assert logged == pytest.approx(scores, abs=1e-3)
        correct += max(range(len(scores)), key=scores.__getitem__) == row["answer"]
    assert acc == pytest.approx(correct / len(ROWS))

    saved = json.loads((save_dir / "results.json").read_text())
    assert saved["backend"] == "lm_eval" and saved["results"][TASK]["acc,none"] == pytest.approx(acc)
    assert TASK in (save_dir / "results.log").read_text()


def test_an_unknown_task_is_named_with_close_names(tiny_llama):
    with pytest.raises(ConfigError, match=r"'arc_easyy' is not a lm-evaluation-harness task.*arc_easy"):
        run_harness(harness_config(tiny_llama, tasks="arc_easyy"))


def test_lm_eval_requires_tasks_and_builtin_requires_task(tiny_llama):
    with pytest.raises(ConfigError, match="tasks is required with eval_backend: lm_eval"):
        harness_config(tiny_llama)
    with pytest.raises(ConfigError, match="task is required"):
        parse_dict({"model_name_or_path": str(tiny_llama), "template": "default"}, command="eval")


def test_a_task_whose_data_is_not_here_names_the_dataset_to_download(tiny_llama, tmp_path):
    import datasets

    if not datasets.config.HF_DATASETS_OFFLINE:
        pytest.skip("needs HF_DATASETS_OFFLINE=1 (as the suite runs)")
    from tunefactory.errors import DataError

    with pytest.raises(DataError, match=r"lm_eval task 'arc_easy'.*allenai/ai2_arc"):
        run_harness(harness_config(tiny_llama, tasks="arc_easy", save_dir=str(tmp_path / "eval")))
    assert not (tmp_path / "eval").exists()  # stopped before the model loaded and before anything was written


def test_harness_keys_are_refused_with_the_builtin_backend(tiny_llama):
    with pytest.raises(ConfigError, match="tasks only works with eval_backend: lm_eval"):
        parse_dict({"model_name_or_path": str(tiny_llama), "template": "default", "task": "mmlu_test",
                    "tasks": "arc_easy"}, command="eval")
