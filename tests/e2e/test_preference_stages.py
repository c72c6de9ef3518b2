"""`tunefactory train` with stage rm, dpo and kto, end to end on tiny offline models.

Every run goes in-process (``run_train(parse_dict(...))``) on 32 examples, one epoch of 4 steps, and is
trained once per module. The strongest checks use what the losses must be before the first update, when
the policy *is* its reference: DPO's sigmoid loss is log 2, IPO's 1/(2 beta)^2, hinge's 1, kto_pair's and
KTO's 0.5 (times the example's weight), and every reward is 0.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from safetensors.torch import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
KTO_TEST = json.loads((DATA_DIR / "style_kto_test.json").read_text(encoding="utf-8"))
SAMPLES = 32  # train and eval examples (pairs for rm/dpo): 4 steps of 8
LOG2 = math.log(2)
BETA = 0.1  # pref_beta's default
VALUE_HEAD_KEYS = {"v_head.summary.weight", "v_head.summary.bias"}
RUN_FILES = {"trainer_log.jsonl", "train_results.json", "all_results.json", "trainer_state.json",
             "training_args.yaml", "README.md", "tokenizer.json", "tokenizer_config.json"}

# full runs on tiny_qwen2 (qwen template), LoRA runs on tiny_llama (llama3 template): both families go through
# every stage. name -> (model fixture, overrides)
VARIANTS = {
    "full": ("tiny_qwen2", {"finetuning_type": "full", "template": "qwen", "learning_rate": 1e-3}),
    "lora": ("tiny_llama", {"finetuning_type": "lora", "template": "llama3", "lora_target": "all",
                            "learning_rate": 1e-2}),
}
STAGE_DATA = {"rm": ("style_pref_train", "style_pref_test"), "dpo": ("style_pref_train", "style_pref_test"),
              "kto": ("style_kto_train", "style_kto_test")}


def settings(model, output_dir, stage: str, **overrides) -> dict:
    """A tiny run of ``stage``: 32 examples (or pairs), batches of 8, one epoch, CPU, a log line every step."""
    train, test = STAGE_DATA[stage]
    config = {"model_name_or_path": str(model), "stage": stage, "do_train": True, "finetuning_type": "lora",
              "lora_target": "all", "dataset": train, "eval_dataset": test, "dataset_dir": str(DATA_DIR),
              "template": "qwen", "cutoff_len": 96, "max_samples": SAMPLES, "per_device_train_batch_size": 8,
              "per_device_eval_batch_size": 8, "num_train_epochs": 1, "logging_steps": 1, "learning_rate": 1e-2,
              "save_strategy": "no", "output_dir": str(output_dir), "report_to": "none", "use_cpu": True,
              "disable_gradient_checkpointing": True, **overrides}
    if config["finetuning_type"] != "lora":
        config.pop("lora_target")
    if not config["do_train"]:
        config.pop("dataset")  # evaluation or prediction only: the eval_dataset is all it reads
    return {key: value for key, value in config.items() if value is not None}


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def train_in_process(config: dict) -> SimpleNamespace:
    """Run `tunefactory train` in this process; return the trainer it ended with and tunefactory's log messages."""
    from tunefactory.config import parse_dict
    from tunefactory.train import steps
    from tunefactory.train.run import run_train

    seen = {}
    original = steps.finish

    def finish(trainer, run_config, metrics):
        seen["trainer"] = trainer
        return original(trainer, run_config, metrics)

    handler, logger = _Messages(), logging.getLogger("tunefactory")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(steps, "finish", finish)
            run_train(parse_dict(config))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return SimpleNamespace(trainer=seen["trainer"], logs="\n".join(handler.messages), out=Path(config["output_dir"]))


def run_cli(config_path) -> subprocess.CompletedProcess:
    """`tunefactory train config.yaml`, as a user runs it."""
    args = [sys.executable, "-m", "tunefactory.cli", "train", str(config_path)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)


def log_records(output_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(output_dir) / "trainer_log.jsonl").read_text().splitlines()]


def step_logs(output_dir) -> list[dict]:
    """trainer_state.json's per-step training logs (the ones with a loss), in order."""
    return [r for r in read_json(Path(output_dir) / "trainer_state.json")["log_history"] if "loss" in r]


def read_json(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_scores(output_dir) -> list[dict]:
    return [json.loads(line) for line in
            (Path(output_dir) / "generated_predictions.jsonl").read_text(encoding="utf-8").splitlines()]


def assert_run_outputs(out: Path, lora: bool, value_head: bool = False) -> None:
    names = {p.name for p in out.iterdir()}
    weights = {"adapter_model.safetensors", "adapter_config.json"} if lora else {"model.safetensors", "config.json"}
    assert RUN_FILES | weights <= names, sorted(names)
    assert ("model.safetensors" in names) is not lora  # an adapter run does not save a full copy
    assert ("value_head.safetensors" in names) is value_head
    assert (out / "chat_template.jinja").is_file() or "chat_template" in read_json(out / "tokenizer_config.json")
    assert read_json(out / "all_results.json")["train_loss"] == read_json(out / "train_results.json")["train_loss"]
    assert read_json(out / "trainer_state.json")["global_step"] == SAMPLES // 8


# --- runs trained once per module --------------------------------------------------------------------------------

_RUNS: dict[str, SimpleNamespace] = {}


def trained(stage: str, variant: str, request, tmp_path_factory, **overrides) -> SimpleNamespace:
    key = f"{stage}-{variant}"
    if key not in _RUNS:
        fixture, variant_overrides = VARIANTS[variant]
        base = request.getfixturevalue(fixture)
        out = tmp_path_factory.mktemp(key) / "out"
        run = train_in_process(settings(base, out, stage, **{**variant_overrides, **overrides}))
        run.base, run.variant, run.lora = base, variant, variant == "lora"
        run.template = variant_overrides["template"]
        _RUNS[key] = run
    return _RUNS[key]


@pytest.fixture(params=list(VARIANTS))
def rm_run(request, tmp_path_factory):
    """A reward model trained, evaluated and asked to score the 32 eval pairs in one run."""
    return trained("rm", request.param, request, tmp_path_factory, do_eval=True, do_predict=True)


@pytest.fixture(params=list(VARIANTS))
def dpo_run(request, tmp_path_factory):
    return trained("dpo", request.param, request, tmp_path_factory)


@pytest.fixture(params=list(VARIANTS))
def kto_run(request, tmp_path_factory):
    return trained("kto", request.param, request, tmp_path_factory)


# --- 1. rm ---------------------------------------------------------------------------------------------------------

def test_rm_output_dir_holds_the_value_head_beside_the_weights(rm_run):
    out = rm_run.out
    assert_run_outputs(out, rm_run.lora, value_head=True)
    head = load_file(out / "value_head.safetensors")
    hidden = rm_run.trainer.model.config.hidden_size
    assert set(head) == VALUE_HEAD_KEYS
    assert head["v_head.summary.weight"].shape == (1, hidden) and head["v_head.summary.bias"].shape == (1,)
    trained_head = rm_run.trainer.accelerator.unwrap_model(rm_run.trainer.model).v_head.summary
    torch.testing.assert_close(head["v_head.summary.weight"], trained_head.weight.detach().cpu(), atol=0, rtol=0)
    torch.testing.assert_close(head["v_head.summary.bias"], trained_head.bias.detach().cpu(), atol=0, rtol=0)
    weights = load_file(out / ("adapter_model.safetensors" if rm_run.lora else "model.safetensors"))
    assert not any("v_head" in name for name in weights)  # the head lives in its own file only
    if rm_run.lora:
        assert weights and all("lora_" in name for name in weights), sorted(weights)[:5]
    else:
        assert weights.keys() == load_file(rm_run.base / "model.safetensors").keys()
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "rm" in card and "style_pref_train" in card
    losses = [r["loss"] for r in log_records(out) if "loss" in r]
    assert len(losses) == SAMPLES // 8 and all(math.isfinite(loss) for loss in losses)


def test_rm_predictions_are_a_score_pair_per_eval_pair_and_give_the_accuracy(rm_run):
    lines = read_scores(rm_run.out)
    assert len(lines) == SAMPLES
    for line in lines:
        assert set(line) == {"chosen", "rejected"} and all(isinstance(v, float) for v in line.values()), line
    predict = read_json(rm_run.out / "predict_results.json")
    recounted = sum(line["chosen"] > line["rejected"] for line in lines) / len(lines)
    assert predict["predict_accuracy"] == pytest.approx(recounted, abs=1e-9)
    # the same model on the same pairs: evaluation's accuracy is prediction's
    assert read_json(rm_run.out / "eval_results.json")["eval_accuracy"] == pytest.approx(recounted, abs=1e-9)
    expected_loss = sum(-torch.nn.functional.logsigmoid(torch.tensor(line["chosen"] - line["rejected"])).item()
                        for line in lines) / len(lines)
    assert predict["predict_loss"] == pytest.approx(expected_loss, abs=1e-4)  # Bradley-Terry on the written scores
    all_results = read_json(rm_run.out / "all_results.json")
    assert all_results["predict_accuracy"] == predict["predict_accuracy"] and "train_loss" in all_results


def test_rm_scores_are_the_saved_value_head_at_each_answers_last_token(rm_run):
    """Recomputed with plain transformers/peft from what the run saved, on the rows it encoded."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tunefactory.config import parse_dict
    from tunefactory.train import steps

    config = parse_dict(yaml.safe_load((rm_run.out / "training_args.yaml").read_text(encoding="utf-8")))
    tokenizer, template = steps.load_tokenizer_and_template(config)
    pairs = steps.load_data(config, template, tokenizer).eval
    if rm_run.lora:
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(rm_run.base), rm_run.out)
    else:
        model = AutoModelForCausalLM.from_pretrained(rm_run.out)
    model.eval()
    head = load_file(rm_run.out / "value_head.safetensors")
    weight, bias = head["v_head.summary.weight"][0], head["v_head.summary.bias"][0]
    lines = read_scores(rm_run.out)
    for row, line in zip(pairs.select(range(4)), lines, strict=False):
        for side in ("chosen", "rejected"):
            with torch.no_grad():
                hidden = model(input_ids=torch.tensor([row[f"{side}_input_ids"]]),
                               output_hidden_states=True).hidden_states[-1][0, -1].float()
            assert line[side] == pytest.approx(float(hidden @ weight + bias), abs=1e-4), side


def test_rm_predict_only_from_the_saved_reward_model_reproduces_its_scores(rm_run, tmp_path):
    fixture, overrides = VARIANTS[rm_run.variant]
    out = tmp_path / "scores"
    if rm_run.lora:  # the base model with the trained adapter (and the head saved beside it)
        location = {"model_name_or_path": str(rm_run.base), "adapter_name_or_path": str(rm_run.out)}
    else:
        location = {"model_name_or_path": str(rm_run.out)}
    run = train_in_process({**settings(rm_run.base, out, "rm", do_train=False, do_predict=True,
                                       **{**overrides, **location})})
    assert f"value head loaded from {rm_run.out}" in run.logs
    again, first = read_scores(out), read_scores(rm_run.out)
    assert len(again) == len(first) == SAMPLES
    for new, old in zip(again, first, strict=True):
        assert new["chosen"] == pytest.approx(old["chosen"], abs=1e-4)
        assert new["rejected"] == pytest.approx(old["rejected"], abs=1e-4)
    assert read_json(out / "predict_results.json")["predict_accuracy"] == pytest.approx(
        read_json(rm_run.out / "predict_results.json")["predict_accuracy"], abs=1e-9)
    assert not (out / "model.safetensors").exists() and not (out / "value_head.safetensors").exists()


@pytest.mark.parametrize("where", ["model", "adapter"])
def test_rm_predict_only_without_a_value_head_names_the_missing_file(where, request, tmp_path_factory, tmp_path):
    from tunefactory.errors import ModelError

    if where == "model":  # a plain causal LM
        fixture, overrides = VARIANTS["full"]
        base = request.getfixturevalue(fixture)
        location, folder = {}, base
    else:  # a LoRA adapter trained by dpo: an adapter, but no reward model
        dpo = trained("dpo", "lora", request, tmp_path_factory)
        fixture, overrides = VARIANTS["lora"]
        base, location, folder = dpo.base, {"adapter_name_or_path": str(dpo.out)}, dpo.out
    with pytest.raises(ModelError) as error:
        train_in_process(settings(base, tmp_path / "out", "rm", do_train=False, do_predict=True,
                                  **{**overrides, **location}))
    message = str(error.value)
    assert f"{folder} has no value_head.safetensors" in message and "stage: rm" in message, message
    assert not (tmp_path / "out" / "generated_predictions.jsonl").exists()


# --- 2. dpo --------------------------------------------------------------------------------------------------------

def test_dpo_logs_reward_metrics_and_starts_from_the_reference(dpo_run):
    records = [r for r in log_records(dpo_run.out) if "loss" in r]
    history = step_logs(dpo_run.out)
    assert [r["current_steps"] for r in records] == [r["step"] for r in history] == list(range(1, SAMPLES // 8 + 1))
    for record, logged in zip(records, history, strict=True):
        assert record["accuracy"] == logged["rewards/accuracies"]  # trainer_log.jsonl's accuracy
        for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
                    "logps/rejected", "logits/chosen", "logits/rejected"):
            assert math.isfinite(logged[key]), (key, logged)
        assert logged["rewards/margins"] == pytest.approx(logged["rewards/chosen"] - logged["rewards/rejected"],
                                                          abs=1e-5)
        assert logged["logps/chosen"] < 0 and 0.0 <= logged["rewards/accuracies"] <= 1.0
    # step 1 is computed before any update: the policy is its reference
    first = history[0]
    assert first["loss"] == pytest.approx(LOG2, abs=1e-5)
    assert first["rewards/chosen"] == first["rewards/rejected"] == first["rewards/margins"] == 0.0
    assert first["rewards/accuracies"] == 0.0
    # and then it learns the polite closing: the reward margin opens, the loss falls below log 2
    assert history[-1]["rewards/margins"] > 0 and history[-1]["loss"] < LOG2 - 0.01, history[-1]
    assert read_json(dpo_run.out / "train_results.json")["train_loss"] == pytest.approx(
        sum(r["loss"] for r in history) / len(history), rel=1e-4)


def test_dpo_compares_with_the_reference_it_names_in_the_log(dpo_run):
    trainer = dpo_run.trainer
    assert_run_outputs(dpo_run.out, dpo_run.lora)
    if dpo_run.lora:
        assert "reference model: the base model with the LoRA adapter switched off" in dpo_run.logs
        assert trainer.ref_model is None  # no second copy of the weights
        return
    assert "reference model: a frozen copy of the starting model" in dpo_run.logs
    assert trainer.ref_model is not None and trainer.ref_model is not trainer.model
    assert not any(p.requires_grad for p in trainer.ref_model.parameters())
    base = load_file(dpo_run.base / "model.safetensors")
    reference = trainer.ref_model.state_dict()
    for name, value in base.items():  # still the starting model after training
        torch.testing.assert_close(reference[name], value, atol=0, rtol=0, msg=name)
    trained_weights = load_file(dpo_run.out / "model.safetensors")
    assert any(not torch.equal(trained_weights[name], value) for name, value in base.items())


def test_dpo_evaluation_before_training_has_zero_rewards_and_loss_log2(tiny_qwen2, tmp_path):
    out = tmp_path / "out"
    _, overrides = VARIANTS["full"]
    run = train_in_process(settings(tiny_qwen2, out, "dpo", do_train=False, do_eval=True, **overrides))
    assert "evaluation only: the reference is the model itself" in run.logs  # no second copy loaded
    results = read_json(out / "eval_results.json")
    assert results["eval_loss"] == pytest.approx(LOG2, abs=1e-4)
    for key in ("eval_rewards/chosen", "eval_rewards/rejected", "eval_rewards/margins", "eval_rewards/accuracies"):
        assert results[key] == pytest.approx(0.0, abs=1e-6), key
    assert results["eval_logps/chosen"] < 0
    assert read_json(out / "all_results.json")["eval_loss"] == results["eval_loss"]
    assert not (out / "model.safetensors").exists()  # nothing trained, nothing saved


@pytest.mark.parametrize("stage", ["dpo", "kto"])
def test_lora_evaluation_before_training_compares_the_model_with_itself(stage, tiny_llama, tmp_path):
    out = tmp_path / "out"
    _, overrides = VARIANTS["lora"]
    train_in_process(settings(tiny_llama, out, stage, do_train=False, do_eval=True, **overrides))
    assert read_json(out / "eval_results.json")["eval_loss"] == pytest.approx(LOG2 if stage == "dpo" else 0.5,
                                                                              abs=1e-4)


# pref_loss -> the first step's loss, when the policy is its reference (None: no reference, nothing fixed)
LOSS_VARIANTS = {"orpo": None, "simpo": None, "ipo": (1 / (2 * BETA)) ** 2, "hinge": 1.0, "kto_pair": 0.5}


@pytest.mark.parametrize("pref_loss", list(LOSS_VARIANTS))
def test_dpo_loss_variants_train_with_lora(pref_loss, tiny_qwen2, tmp_path):
    out = tmp_path / "out"
    run = train_in_process(settings(tiny_qwen2, out, "dpo", pref_loss=pref_loss, learning_rate=1e-3))
    history = step_logs(out)
    assert len(history) == SAMPLES // 8
    assert all(math.isfinite(r["loss"]) for r in history)
    assert math.isfinite(read_json(out / "train_results.json")["train_loss"])
    assert (out / "adapter_model.safetensors").is_file()
    start = LOSS_VARIANTS[pref_loss]
    if start is not None:  # a reference-based loss: the adapter switched off
        assert "reference model: the base model with the LoRA adapter switched off" in run.logs
        assert history[0]["loss"] == pytest.approx(start, abs=1e-4)
        assert history[0]["rewards/margins"] == 0.0
        return
    assert "reference model" not in run.logs  # orpo and simpo load none and switch nothing off
    assert run.trainer.ref_model is None and not run.trainer.uses_reference()
    if pref_loss == "orpo":  # the chosen answer's mean NLL plus beta x the odds-ratio loss
        for record in history:
            assert record["sft_loss"] > 0 and record["odds_ratio_loss"] > 0
            assert record["loss"] == pytest.approx(record["sft_loss"] + BETA * record["odds_ratio_loss"], rel=1e-5)
    else:
        assert "sft_loss" not in history[0] and "odds_ratio_loss" not in history[0]


def test_dpo_with_an_explicit_ref_model_compares_with_that_model(request, tmp_path_factory, tmp_path):
    # The reference is the dpo-trained model, the policy starts from the base: at step 1 they differ, and the
    # trained model prefers the polite answers more than the base does, so the margin starts below zero.
    reference = trained("dpo", "full", request, tmp_path_factory)
    out = tmp_path / "out"
    _, overrides = VARIANTS["full"]
    run = train_in_process(settings(reference.base, out, "dpo", ref_model=str(reference.out), **overrides))
    assert f"reference model: {reference.out}" in run.logs and "frozen copy" not in run.logs
    assert not any(p.requires_grad for p in run.trainer.ref_model.parameters())
    first = step_logs(out)[0]
    assert first["rewards/margins"] < 0 and first["loss"] > LOG2, first
    assert (out / "model.safetensors").is_file()


# --- 3. kto --------------------------------------------------------------------------------------------------------

def test_kto_trains_and_logs_kl_and_rewards(kto_run):
    assert_run_outputs(kto_run.out, kto_run.lora)
    reference = ("the base model with the LoRA adapter switched off" if kto_run.lora
                 else "a frozen copy of the starting model")
    assert f"reference model: {reference}" in kto_run.logs
    history = step_logs(kto_run.out)
    assert len(history) == SAMPLES // 8
    for record in history:
        assert {"kl", "rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected"} <= record.keys(), record
        assert record["kl"] >= 0 and all(math.isfinite(v) for v in record.values())
    first = history[0]  # before any update: policy == reference, KL 0, each loss weight x (1 - sigmoid(0))
    assert first["loss"] == pytest.approx(0.5, abs=1e-6)
    assert first["kl"] == first["rewards/chosen"] == first["rewards/rejected"] == 0.0
    assert all(math.isfinite(r["loss"]) for r in log_records(kto_run.out) if "loss" in r)


@pytest.mark.parametrize("chosen_weight, rejected_weight", [(1.0, 1.0), (2.0, 0.5)])
def test_kto_evaluation_before_training_is_half_the_mean_weight(chosen_weight, rejected_weight, tiny_qwen2,
                                                                tmp_path):
    out = tmp_path / "out"
    _, overrides = VARIANTS["full"]
    train_in_process(settings(tiny_qwen2, out, "kto", do_train=False, do_eval=True, kto_chosen_weight=chosen_weight,
                              kto_rejected_weight=rejected_weight, **overrides))
    results = read_json(out / "eval_results.json")
    labels = [row["label"] for row in KTO_TEST[:SAMPLES]]
    assert 0 < sum(labels) < len(labels)  # both kinds are in the eval set
    weights = [chosen_weight if desirable else rejected_weight for desirable in labels]
    assert results["eval_loss"] == pytest.approx(0.5 * sum(weights) / len(weights), abs=1e-5)
    if chosen_weight == rejected_weight == 1.0:
        assert results["eval_loss"] == pytest.approx(0.5, abs=1e-6)
    assert results["eval_kl"] == results["eval_rewards/chosen"] == results["eval_rewards/rejected"] == 0.0


# --- 4. config and data errors, before any model is loaded ---------------------------------------------------------

@pytest.fixture
def no_model_load(monkeypatch):
    """The data checks come before the model: loading one fails the test."""
    from tunefactory.train import dpo, rm

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the data was checked")

    for recipe in (dpo, rm):  # kto runs dpo's recipe (`run_against_reference`)
        monkeypatch.setattr(recipe, "load_model", refuse)


@pytest.mark.parametrize("stage", ["dpo", "rm"])
def test_a_preference_stage_on_a_dataset_without_pairs_names_ranking(stage, tiny_qwen2, tmp_path, no_model_load):
    from tunefactory.errors import DataError

    out = tmp_path / "out"
    with pytest.raises(DataError, match="ranking") as error:
        train_in_process(settings(tiny_qwen2, out, stage, dataset="alpaca_demo", eval_dataset=None, max_samples=8))
    assert "'alpaca_demo'" in str(error.value) and "chosen/rejected" in str(error.value)
    assert not out.exists() or not any(out.iterdir())


def test_the_cli_refuses_dpo_on_a_dataset_without_pairs(tiny_qwen2, tmp_path, write_yaml):
    out = tmp_path / "out"
    config = write_yaml(settings(tiny_qwen2, out, "dpo", dataset="alpaca_demo", eval_dataset=None, max_samples=8))
    result = run_cli(config)
    assert result.returncode == 1, result.stderr[-3000:]
    assert ("tunefactory train: stage dpo trains on preference pairs: dataset 'alpaca_demo' needs \"ranking\": true"
            in result.stderr), result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_kto_on_a_dataset_without_labels_names_kto_tag(tiny_qwen2, tmp_path, no_model_load):
    from tunefactory.errors import DataError

    with pytest.raises(DataError, match="kto_tag") as error:
        train_in_process(settings(tiny_qwen2, tmp_path / "out", "kto", dataset="alpaca_demo", eval_dataset=None,
                                  max_samples=8))
    assert "'alpaca_demo'" in str(error.value)


def test_kto_on_preference_pairs_is_refused(tiny_qwen2, tmp_path, no_model_load):
    from tunefactory.errors import DataError

    with pytest.raises(DataError, match="ranking: true"):
        train_in_process(settings(tiny_qwen2, tmp_path / "out", "kto", dataset="preference_pairs", eval_dataset=None,
                                  max_samples=8))


@pytest.mark.parametrize("pref_loss", ["hinge", "ipo", "orpo"])
def test_label_smoothing_outside_sigmoid_fails_validation(pref_loss, tmp_path):
    from tunefactory.config import parse_dict
    from tunefactory.errors import ConfigError

    config = settings("/nowhere/model", tmp_path / "out", "dpo", pref_loss=pref_loss, dpo_label_smoothing=0.1)
    with pytest.raises(ConfigError, match="dpo_label_smoothing only works with pref_loss: sigmoid") as error:
        parse_dict(config)
    assert repr(pref_loss) in str(error.value)
    parse_dict({**config, "pref_loss": "sigmoid"})  # cDPO: the one loss it smooths
