"""`tunefactory train` end to end on tiny offline models: losses fall, outputs are complete and load elsewhere.

Most runs go in-process (``run_train(parse_dict(...))``) and are trained once per module; the output_dir
rules and the loss guard go through the CLI, as a user meets them. Every run is a few CPU steps.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
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
ALPACA = json.loads((DATA_DIR / "alpaca_demo.json").read_text(encoding="utf-8"))
ARITH_TEST = json.loads((DATA_DIR / "arith_test.json").read_text(encoding="utf-8"))
LOG_KEYS = {"current_steps", "total_steps", "loss", "lr", "epoch", "percentage", "elapsed_time", "remaining_time"}
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

# name -> (config overrides, how far the last logged loss must fall below the first)
SFT_VARIANTS = {
    "full": ({"finetuning_type": "full", "learning_rate": 5e-3}, 1.5),
    "freeze": ({"finetuning_type": "freeze", "freeze_trainable_layers": 1, "learning_rate": 5e-3}, 0.4),
    "lora": ({"finetuning_type": "lora", "lora_target": "all", "learning_rate": 1e-2}, 0.3),
    "dora": ({"finetuning_type": "lora", "lora_target": "all", "use_dora": True, "learning_rate": 1e-2}, 0.25),
    # rsLoRA scales by alpha/sqrt(r) (5.7 here) instead of alpha/r (2): the same step is larger
    "rslora": ({"finetuning_type": "lora", "lora_target": "all", "use_rslora": True, "learning_rate": 4e-3}, 0.3),
    "pissa": ({"finetuning_type": "lora", "lora_target": "all", "pissa_init": True, "learning_rate": 1e-2}, 0.3),
}
SFT_EPOCHS = 12  # 8 examples in one batch of 8: one step per epoch


def settings(model, output_dir, **overrides) -> dict:
    """A tiny sft run: 8 alpaca_demo examples, one batch, CPU, no checkpoints, a log line every step."""
    return {"model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "lora",
            "dataset": "alpaca_demo", "dataset_dir": str(DATA_DIR), "template": "qwen", "cutoff_len": 128,
            "max_samples": 8, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 8,
            "num_train_epochs": 3, "logging_steps": 1, "learning_rate": 1e-2, "save_strategy": "no",
            "output_dir": str(output_dir), "report_to": "none", "use_cpu": True,
            "disable_gradient_checkpointing": True, **overrides}


def train_in_process(config: dict):
    """Run `tunefactory train` in this process; return the trainer the run ended with (its model is the trained one)."""
    from tunefactory.config import parse_dict
    from tunefactory.train import steps
    from tunefactory.train.run import run_train

    seen = {}
    original = steps.finish

    def finish(trainer, run_config, metrics):
        seen["trainer"] = trainer
        return original(trainer, run_config, metrics)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(steps, "finish", finish)
        run_train(parse_dict(config))
    return seen["trainer"]


def run_cli(config: dict) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "tunefactory.cli", "train", *(f"{key}={value}" for key, value in config.items())]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)


def log_records(output_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(output_dir) / "trainer_log.jsonl").read_text().splitlines()]


def logged_losses(output_dir) -> dict[int, float]:
    return {r["current_steps"]: r["loss"] for r in log_records(output_dir) if "loss" in r}


def read_json(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def chat_input(tokenizer_path, question: str = "What is the average of 11, 13, 26 and 48?") -> torch.Tensor:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)
    return torch.tensor([tokenizer(text, add_special_tokens=False).input_ids])


@torch.no_grad()
def logits_of(model, ids: torch.Tensor) -> torch.Tensor:
    model.eval()
    return model(input_ids=ids).logits.float()


def alpaca_messages(row: dict) -> list[dict]:
    """An alpaca row as chat messages (OpenAI style, with its system prompt when it has one)."""
    user = "\n".join(part for part in (row["instruction"], row.get("input")) if part)
    system = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    return [*system, {"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]


# --- runs trained once per module --------------------------------------------------------------------------------

_RUNS: dict[str, SimpleNamespace] = {}


def trained_sft(variant: str, base: Path, tmp_path_factory) -> SimpleNamespace:
    if variant not in _RUNS:
        overrides, min_drop = SFT_VARIANTS[variant]
        base_hash = sha256(base / "model.safetensors")
        out = tmp_path_factory.mktemp(f"sft-{variant}") / "out"
        trainer = train_in_process(settings(base, out, num_train_epochs=SFT_EPOCHS, cutoff_len=256, **overrides))
        _RUNS[variant] = SimpleNamespace(name=variant, out=out, base=base, model=trainer.model, min_drop=min_drop,
                                         lora=overrides["finetuning_type"] == "lora", base_hash=base_hash)
    return _RUNS[variant]


@pytest.fixture(params=list(SFT_VARIANTS))
def sft_run(request, tiny_qwen2, tmp_path_factory):
    return trained_sft(request.param, tiny_qwen2, tmp_path_factory)


# --- 1. sft with every fine-tuning method ---------------------------------------------------------------------------

def test_sft_loss_falls_and_trainer_log_has_llamafactory_keys(sft_run):
    records = log_records(sft_run.out)
    steps = [r for r in records if "loss" in r]
    assert [r["current_steps"] for r in steps] == list(range(1, SFT_EPOCHS + 1))
    for record in steps:
        assert LOG_KEYS <= record.keys(), record
        assert record["total_steps"] == SFT_EPOCHS and math.isfinite(record["loss"])
        assert record["percentage"] == pytest.approx(record["current_steps"] / SFT_EPOCHS * 100, abs=0.01)
    assert steps[-1]["percentage"] == 100 and steps[-1]["epoch"] == pytest.approx(SFT_EPOCHS)
    first, last = steps[0]["loss"], steps[-1]["loss"]
    assert first == pytest.approx(math.log(1024), abs=0.1)  # a random tiny model: about uniform over 1024 tokens
    assert last < first - sft_run.min_drop, [round(r["loss"], 3) for r in steps]
    train_results = read_json(sft_run.out / "train_results.json")
    assert train_results["train_loss"] == pytest.approx(sum(r["loss"] for r in steps) / len(steps), rel=1e-4)
    assert read_json(sft_run.out / "trainer_state.json")["global_step"] == SFT_EPOCHS


def test_sft_output_dir_holds_every_output(sft_run):
    from tunefactory.config import parse_dict

    out = sft_run.out
    names = {p.name for p in out.iterdir()}
    common = {"trainer_log.jsonl", "train_results.json", "all_results.json", "trainer_state.json",
              "training_args.yaml", "README.md", "tokenizer.json", "tokenizer_config.json"}
    weights = {"adapter_model.safetensors", "adapter_config.json"} if sft_run.lora else {"model.safetensors",
                                                                                       "config.json"}
    assert common | weights <= names, sorted(names)
    assert ("model.safetensors" in names) is not sft_run.lora  # an adapter run does not save a full copy
    assert not any(name.startswith("checkpoint-") for name in names)  # save_strategy: no
    assert read_json(out / "all_results.json")["train_loss"] == read_json(out / "train_results.json")["train_loss"]

    tokenizer_config = read_json(out / "tokenizer_config.json")
    assert (out / "chat_template.jinja").is_file() or "chat_template" in tokenizer_config

    card = (out / "README.md").read_text(encoding="utf-8")
    library = "peft" if sft_run.lora else "transformers"
    assert f"library_name: {library}" in card and f"base_model: {sft_run.base}" in card
    assert "| train_loss |" in card and "alpaca_demo" in card

    saved = yaml.safe_load((out / "training_args.yaml").read_text(encoding="utf-8"))
    overrides, _ = SFT_VARIANTS[sft_run.name]
    assert {key: saved[key] for key in overrides if key != "lora_target"} == {
        key: value for key, value in overrides.items() if key != "lora_target"}
    assert saved["output_dir"] == str(out) and saved["dataset"] == ["alpaca_demo"]
    parse_dict(saved)  # the recorded config is a valid config (the header says it repeats the run)


def test_sft_changes_only_the_weights_it_trains(sft_run):
    base = load_file(sft_run.base / "model.safetensors")
    assert sha256(sft_run.base / "model.safetensors") == sft_run.base_hash  # the base folder is never written
    if not sft_run.lora:
        saved = load_file(sft_run.out / "model.safetensors")
        assert saved.keys() == base.keys()
        changed = {name for name in base if not torch.equal(saved[name], base[name])}
        if sft_run.name == "full":
            assert changed == set(base)
        else:  # freeze_trainable_layers: 1 of 2 -> only layer 1 trains
            assert changed == {name for name in base if ".layers.1." in name}
        trained = {name.removeprefix("model.").replace("base_model.model.", ""): value
                   for name, value in sft_run.model.state_dict().items()}
        for name, value in saved.items():
            torch.testing.assert_close(value, trained[name.removeprefix("model.")], atol=0, rtol=0, msg=name)
        return

    adapter = load_file(sft_run.out / "adapter_model.safetensors")
    assert adapter and all("lora_" in name for name in adapter), sorted(adapter)[:5]
    assert any("lora_B" in name and value.abs().max() > 0 for name, value in adapter.items())
    config = read_json(sft_run.out / "adapter_config.json")
    assert set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj"}
    assert config["r"] == 8 and config["lora_alpha"] == 16
    assert config["use_dora"] is (sft_run.name == "dora") and config["use_rslora"] is (sft_run.name == "rslora")
    assert config["base_model_name_or_path"] == str(sft_run.base)

    # The trained model's base weights: untouched, except PiSSA's residual in the targeted layers (by design).
    trained_base = {}
    for name, value in sft_run.model.state_dict().items():
        if "lora_" in name:
            continue
        trained_base[name.replace("base_model.model.", "").replace(".base_layer", "")] = value
    targeted = {name for name in base if name.endswith(".weight") and any(f".{t}." in name
                                                                         for t in config["target_modules"])}
    for name, value in base.items():
        if sft_run.name == "pissa" and name in targeted:
            assert not torch.equal(trained_base[name], value), name
        else:
            torch.testing.assert_close(trained_base[name], value, atol=0, rtol=0, msg=name)


# --- 2. what a run saves loads with plain transformers / peft ------------------------------------------------------

def test_saved_output_loads_outside_tunefactory_and_is_the_trained_model(sft_run):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = chat_input(sft_run.out)
    base_logits = logits_of(AutoModelForCausalLM.from_pretrained(sft_run.base), ids)
    if sft_run.lora:
        loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(sft_run.base), sft_run.out)
    else:
        loaded = AutoModelForCausalLM.from_pretrained(sft_run.out)
    loaded_logits = logits_of(loaded, ids)
    assert (loaded_logits - base_logits).abs().max() > 1e-2  # the training shows
    if sft_run.name == "pissa":
        # A PiSSA adapter (without pissa_convert) belongs on the residual model PiSSA made, which is not saved:
        # on the original base peft redoes the randomised SVD, so it only approximates the trained model.
        return
    torch.testing.assert_close(loaded_logits, logits_of(sft_run.model, ids), atol=1e-5, rtol=1e-5)


def test_full_model_saves_stop_tokens_for_generation(tiny_qwen2, tmp_path_factory):
    from transformers import AutoTokenizer, GenerationConfig

    run = trained_sft("full", tiny_qwen2, tmp_path_factory)
    tokenizer = AutoTokenizer.from_pretrained(run.out)
    eos = GenerationConfig.from_pretrained(run.out).eos_token_id
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in ([eos] if isinstance(eos, int) else eos)


def test_pissa_convert_saves_an_adapter_for_the_original_base(tiny_qwen2, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "out"
    overrides, _ = SFT_VARIANTS["pissa"]
    trainer = train_in_process(settings(tiny_qwen2, out, pissa_convert=True, **overrides))
    ids = chat_input(out)
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_qwen2), out)
    torch.testing.assert_close(logits_of(loaded, ids), logits_of(trainer.model, ids), atol=1e-5, rtol=1e-5)


def test_saved_tokenizer_formats_chats_exactly_as_training_did(tiny_qwen2, tmp_path_factory):
    from transformers import AutoTokenizer

    from tunefactory.config import parse_dict
    from tunefactory.data.template import TEMPLATES
    from tunefactory.train import steps

    run = trained_sft("lora", tiny_qwen2, tmp_path_factory)
    saved = AutoTokenizer.from_pretrained(run.out)
    assert saved.eos_token == "<|im_end|>"  # qwen's replace_eos: turns end with <|im_end|>
    messages = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]
    rendered = saved.apply_chat_template(messages, tokenize=False)
    ours = TEMPLATES["qwen"].render(messages, bos=saved.bos_token or "", eos=saved.eos_token)
    assert rendered == ours
    assert rendered == (f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                        "<|im_start|>assistant\n4<|im_end|>\n")
    system = [{"role": "system", "content": "Be brief."}, *messages]
    assert saved.apply_chat_template(system, tokenize=False) == TEMPLATES["qwen"].render(
        messages, "Be brief.", bos="", eos=saved.eos_token)
    prompt = saved.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == TEMPLATES["qwen"].render(messages[:1], bos="", eos=saved.eos_token)
    assert prompt.endswith("<|im_start|>assistant\n")

    # What training encoded: the processed training rows are the saved template's renders of the 8 examples.
    config = parse_dict(yaml.safe_load((run.out / "training_args.yaml").read_text(encoding="utf-8")))
    tokenizer, template = steps.load_tokenizer_and_template(config)
    encoded = steps.load_data(config, template, tokenizer).train
    assert len(encoded) == 8
    expected = {tuple(saved(saved.apply_chat_template(alpaca_messages(row), tokenize=False),
                            add_special_tokens=False).input_ids) for row in ALPACA[:8]}
    assert {tuple(row["input_ids"]) for row in encoded} == expected
    for row in encoded:  # the loss is on the answer and its <|im_end|>, never on the prompt
        labels = [label for label in row["labels"] if label != -100]
        assert labels == row["input_ids"][len(row["input_ids"]) - len(labels):]
        assert saved.decode(labels).endswith("<|im_end|>\n")
        assert saved.decode(row["input_ids"][: len(row["input_ids"]) - len(labels)]).endswith(
            "<|im_start|>assistant\n")


# --- 3. evaluation and prediction ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def arith_run(tiny_qwen2, tmp_path_factory):
    """Full fine-tune on arithmetic, evaluated with token accuracy on 8 arith_test rows."""
    out = tmp_path_factory.mktemp("arith") / "out"
    train_in_process(settings(tiny_qwen2, out, dataset="arith_train", eval_dataset="arith_test", max_samples=8,
                              cutoff_len=64, finetuning_type="full", learning_rate=5e-3, num_train_epochs=4,
                              do_eval=True, compute_accuracy=True))
    return out


def test_sft_eval_accuracy_is_the_token_accuracy_of_the_saved_model(arith_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunefactory.data.template import TEMPLATES

    results = read_json(arith_run / "eval_results.json")
    assert 0.0 <= results["eval_accuracy"] <= 1.0 and math.isfinite(results["eval_loss"])
    assert read_json(arith_run / "all_results.json")["eval_accuracy"] == results["eval_accuracy"]
    assert [r["eval_loss"] for r in log_records(arith_run) if "eval_loss" in r] == [results["eval_loss"]]

    # Recount: teacher-forced next-token predictions of the saved model on the answers (and <|im_end|>).
    tokenizer = AutoTokenizer.from_pretrained(arith_run)
    model = AutoModelForCausalLM.from_pretrained(arith_run)
    correct = total = 0
    for row in ARITH_TEST[:8]:
        prompt, response = TEMPLATES["qwen"].encode_oneturn(tokenizer, alpaca_messages(row))
        ids = torch.tensor([prompt + response])
        predicted = logits_of(model, ids)[0].argmax(-1)
        start = len(prompt)
        correct += int((predicted[start - 1:-1] == ids[0, start:]).sum())
        total += len(response)
    assert results["eval_accuracy"] == pytest.approx(correct / total, abs=1e-9)


@pytest.fixture(scope="module")
def prediction_run(arith_run, tmp_path_factory):
    """The arithmetic model predicts 6 arith_test answers by greedy generation (no training)."""
    out = tmp_path_factory.mktemp("predict") / "out"
    train_in_process(settings(arith_run, out, do_train=False, do_predict=True, eval_dataset="arith_test",
                              max_samples=6, cutoff_len=64, finetuning_type="full", predict_with_generate=True,
                              max_new_tokens=8, do_sample=False, per_device_eval_batch_size=4))
    return SimpleNamespace(out=out, model=arith_run,
                           lines=[json.loads(line) for line in (out / "generated_predictions.jsonl").read_text(
                               encoding="utf-8").splitlines()])


def test_predict_writes_one_prediction_per_example_and_similarity_metrics(prediction_run):
    from tunefactory.train.metrics import score_text_pair

    lines = prediction_run.lines
    assert len(lines) == 6
    for line, row in zip(lines, ARITH_TEST, strict=False):
        assert set(line) == {"prompt", "predict", "label"}
        # the chat text of the prompt, ending with the assistant header (with or without its special tokens)
        plain = line["prompt"].replace("<|im_start|>", "").replace("<|im_end|>", "")
        assert plain == f"system\n{QWEN_SYSTEM}\nuser\n{row['instruction']}\nassistant\n"
        assert line["label"].strip() == row["output"]
    results = read_json(prediction_run.out / "predict_results.json")
    for key in ("bleu-4", "rouge-1", "rouge-2", "rouge-l"):
        assert 0.0 <= results[f"predict_{key}"] <= 100.0
        # the metrics are those of the texts written in generated_predictions.jsonl
        expected = sum(score_text_pair(line["predict"], line["label"])[key] for line in lines) / len(lines)
        assert results[f"predict_{key}"] == pytest.approx(expected, abs=1e-3), key
    assert not (prediction_run.out / "model.safetensors").exists()  # nothing trained, nothing saved


def test_predictions_are_the_models_greedy_generations(prediction_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunefactory.data.template import TEMPLATES

    tokenizer = AutoTokenizer.from_pretrained(prediction_run.model)
    model = AutoModelForCausalLM.from_pretrained(prediction_run.model).eval()
    stop = TEMPLATES["qwen"].stop_token_ids(tokenizer)
    for line, row in zip(prediction_run.lines, ARITH_TEST, strict=False):
        ids = TEMPLATES["qwen"].encode_prompt(tokenizer, alpaca_messages(row)[:1])
        with torch.no_grad():
            generated = model.generate(torch.tensor([ids]), max_new_tokens=8, do_sample=False, eos_token_id=stop,
                                       pad_token_id=tokenizer.pad_token_id)
        assert line["predict"] == tokenizer.decode(generated[0, len(ids):], skip_special_tokens=True)


def test_prediction_prompts_are_the_exact_prompts_generated_from(prediction_run):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(prediction_run.model)
    for line, row in zip(prediction_run.lines, ARITH_TEST, strict=False):
        expected = tokenizer.apply_chat_template(alpaca_messages(row)[:1], tokenize=False, add_generation_prompt=True)
        assert expected.endswith("<|im_start|>assistant\n")
        assert line["prompt"] == expected


def test_prediction_labels_are_the_reference_answers(prediction_run):
    # LLaMA-Factory writes '134\n' (the template's newline after <|im_end|>), so a perfect '134' scored BLEU-4 60.3.
    assert [line["label"] for line in prediction_run.lines] == [row["output"] for row in ARITH_TEST[:6]]


# --- 4. continued pre-training ----------------------------------------------------------------------------------

@pytest.mark.parametrize("finetuning_type, min_drop", [("full", 0.8), ("lora", 0.1)])
def test_pt_loss_falls_and_eval_reports_perplexity(tiny_qwen2, tmp_path, finetuning_type, min_drop):
    # 8 texts packed into 128-token blocks, one batch: every step sees the same text (LoRA learns raw text slowly)
    out = tmp_path / "out"
    config = settings(tiny_qwen2, out, stage="pt", dataset="pretrain_text", max_samples=12, val_size=4,
                      do_eval=True, finetuning_type=finetuning_type, num_train_epochs=8,
                      **({"learning_rate": 5e-3} if finetuning_type == "full" else {"learning_rate": 1e-2,
                                                                                     "lora_alpha": 64}))
    del config["template"]
    train_in_process(config)
    losses = logged_losses(out)
    assert len(losses) >= 6
    first, last = losses[min(losses)], losses[max(losses)]
    assert last < first - min_drop, losses
    results = read_json(out / "eval_results.json")
    assert math.isfinite(results["eval_loss"])
    assert results["perplexity"] == pytest.approx(math.exp(results["eval_loss"]), rel=1e-9)
    assert read_json(out / "all_results.json")["perplexity"] == results["perplexity"]
    weights = "adapter_model.safetensors" if finetuning_type == "lora" else "model.safetensors"
    assert (out / weights).is_file() and (out / "README.md").is_file()


# --- 5. output_dir rules and the loss guard, through the CLI ---------------------------------------------------------

@pytest.fixture(scope="module")
def two_step_run(tiny_qwen2, tmp_path_factory):
    """A finished 2-step lora run that left checkpoint-2 in its output_dir."""
    out = tmp_path_factory.mktemp("two-steps") / "out"
    train_in_process(cli_settings(tiny_qwen2, out, num_train_epochs=1))
    assert (out / "checkpoint-2").is_dir() and max(logged_losses(out)) == 2
    return out


def cli_settings(model, out, **overrides) -> dict:
    return settings(model, out, cutoff_len=64, per_device_train_batch_size=4, save_strategy="steps", save_steps=2,
                    **overrides)


@pytest.mark.slow
def test_non_empty_output_dir_without_checkpoint_is_refused(two_step_run, tiny_qwen2, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_step_run, out)
    for checkpoint in out.glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    result = run_cli(cli_settings(tiny_qwen2, out, num_train_epochs=2))
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"output_dir {str(out)!r} is not empty" in result.stderr
    assert "overwrite_output_dir: true" in result.stderr and "Traceback" not in result.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # nothing was touched


@pytest.mark.slow
def test_a_second_run_resumes_from_the_last_checkpoint(two_step_run, tiny_qwen2, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_step_run, out)
    first_losses = logged_losses(out)
    result = run_cli(cli_settings(tiny_qwen2, out, num_train_epochs=2))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming the run from its last checkpoint {out / 'checkpoint-2'}" in result.stderr
    losses = logged_losses(out)
    assert sorted(losses) == [1, 2, 3, 4]  # steps 1-2 kept from the first run, 3-4 trained now, none twice
    loss_steps = [r["current_steps"] for r in log_records(out) if "loss" in r]
    assert loss_steps == [1, 2, 3, 4]
    assert {step: losses[step] for step in (1, 2)} == first_losses
    assert read_json(out / "trainer_state.json")["global_step"] == 4
    assert (out / "checkpoint-4").is_dir()


@pytest.mark.slow
def test_overwrite_output_dir_starts_a_new_run(two_step_run, tiny_qwen2, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_step_run, out)
    result = run_cli(cli_settings(tiny_qwen2, out, num_train_epochs=2, overwrite_output_dir=True, seed=3))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming" not in result.stderr and "overwrite_output_dir: starting a new run" in result.stderr
    records = log_records(out)
    assert [r["current_steps"] for r in records if "loss" in r] == [1, 2, 3, 4]  # the old log was replaced
    assert read_json(out / "trainer_state.json")["global_step"] == 4
    assert yaml.safe_load((out / "training_args.yaml").read_text())["seed"] == 3


@pytest.mark.slow
def test_a_diverging_loss_stops_the_run_with_exit_code_1(tiny_qwen2, tmp_path):
    # Adam steps about learning_rate per weight, with gradient clipping on: 1e30 overflows the weights at step 1.
    out = tmp_path / "out"
    result = run_cli(settings(tiny_qwen2, out, finetuning_type="full", learning_rate=1e30, max_samples=8,
                              per_device_train_batch_size=4, num_train_epochs=2, cutoff_len=64))
    assert result.returncode == 1, result.stderr[-3000:]
    assert "tunefactory train: training loss became nan at step 2" in result.stderr
    assert "lower learning_rate" in result.stderr and "Traceback" not in result.stderr
    assert [r["loss"] for r in log_records(out) if "loss" in r][-1] == 0.0  # logged as 0 by logging_nan_inf_filter
    assert not (out / "model.safetensors").exists()


def test_a_nan_loss_is_named_when_the_log_filter_is_off(tiny_qwen2, tmp_path):
    from tunefactory.errors import TuneFactoryError

    out = tmp_path / "out"
    config = settings(tiny_qwen2, out, finetuning_type="full", learning_rate=1e30, per_device_train_batch_size=4,
                      num_train_epochs=2, cutoff_len=64, logging_nan_inf_filter=False)
    with pytest.raises(TuneFactoryError, match=r"^training loss became nan at step 2: lower learning_rate"):
        train_in_process(config)
    assert math.isnan(logged_losses(out)[2])  # written to trainer_log.jsonl before the guard stopped the run

