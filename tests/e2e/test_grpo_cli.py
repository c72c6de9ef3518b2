"""`tunefactory train` with stage: grpo as a user runs it: rewards from a file, the run's outputs and logs, the
errors a user's reward can cause, and what validate refuses.

The run whose stderr is the point (a failing reward) goes in a process of its own; the others go through the CLI's
entry point in this process (`run_here`: what it prints to stderr, no interpreter start-up per run)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]
USER_REWARDS = REPO_ROOT / "tests" / "fixtures" / "grpo_rewards.py"

pytestmark = pytest.mark.slow


def settings(model, output_dir, **extra):
    return {"model_name_or_path": str(model), "stage": "grpo", "do_train": True, "finetuning_type": "lora",
            "lora_target": "all", "template": "qwen", "dataset": "arith_train",
            "dataset_dir": str(REPO_ROOT / "data"), "max_samples": 16, "num_generations": 4,
            "max_completion_length": 6, "per_device_train_batch_size": 8, "max_steps": 3, "learning_rate": 5e-3,
            "logging_steps": 1, "save_strategy": "no", "output_dir": str(output_dir), "report_to": "none",
            "use_cpu": True, "seed": 3, "disable_gradient_checkpointing": True,
            "reward_funcs": f"{USER_REWARDS}:digits,length", "reward_weights": "1.0,0.5", **extra}


def train(config: dict, command="train") -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "tunefactory.cli", command, *(f"{k}={v}" for k, v in config.items())]
    return subprocess.run(args, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})


def run_here(capsys, config: dict, command="train") -> tuple[int, str]:
    """`tunefactory <command>` through the CLI's entry point in this process: its exit code and what it printed to
    stderr (log records go to pytest's log capture, not here)."""
    from tunefactory.cli import main

    code = main([command, *(f"{k}={v}" for k, v in config.items())])
    return code, capsys.readouterr().err


def test_a_grpo_run_logs_its_rewards_and_changes_the_adapter(tiny_qwen2, tmp_path, capsys):
    out = tmp_path / "run"
    code, stderr = run_here(capsys, settings(tiny_qwen2, out, plot_loss=True))
    assert code == 0, stderr[-3000:]
    lines = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    lines = [line for line in lines if "loss" in line]  # the last line is the run's summary
    assert [line["current_steps"] for line in lines] == [1, 2, 3]
    for key in ("loss", "reward", "reward_std", "rewards/digits/mean", "rewards/digits/std", "rewards/length/mean",
                "completions/mean_length", "clip_ratio/region_mean", "entropy"):
        assert key in lines[0], key
    # reward is the weighted sum of the two rewards' means (weights 1.0 and 0.5)
    first = lines[0]
    assert first["reward"] == pytest.approx(first["rewards/digits/mean"] + 0.5 * first["rewards/length/mean"],
                                            abs=1e-5)
    assert (out / "training_reward.png").is_file() and (out / "training_loss.png").is_file()
    adapter = load_file(out / "adapter_model.safetensors")
    assert any(name.endswith("lora_B.weight") and tensor.abs().sum() > 0 for name, tensor in adapter.items())
    assert "chat_template" in (out / "tokenizer_config.json").read_text() or (out / "chat_template.jinja").is_file()


def test_a_failing_user_reward_stops_the_run_naming_it_and_the_row(tiny_qwen2, tmp_path):
    result = train(settings(tiny_qwen2, tmp_path / "run", max_samples=4, per_device_train_batch_size=4,
                            reward_funcs=f"{USER_REWARDS}:fails_on_57_plus_9", reward_weights="null",
                            disable_shuffling=True))
    assert result.returncode == 1
    assert "reward 'fails_on_57_plus_9' failed on row 0 of the batch (prompt '" in result.stderr
    assert "What is 57 + 9?" in result.stderr and "ZeroDivisionError" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("overrides, message", [
    ({"reward_funcs": "null", "reward_weights": "null"}, "stage: grpo needs reward_funcs"),
    ({"reward_weights": "1.0"}, "reward_weights has 1 values for 2 reward_funcs"),
    ({"num_generations": 3}, "(8) completions are generated per step; it must be a multiple of num_generations (3)"),
    ({"reward_funcs": "acuracy", "reward_weights": "null"}, "'acuracy' is not a built-in reward"),
    ({"val_size": 0.1}, "stage: grpo does not evaluate"),
    ({"sync_ref_model": True}, "sync_ref_model moves the reference model, which exists only with beta > 0"),
])
def test_validate_refuses_what_grpo_cannot_run(tiny_qwen2, tmp_path, overrides, message, capsys):
    code, stderr = run_here(capsys, settings(tiny_qwen2, tmp_path / "run", **overrides), command="validate")
    assert code == 1 and message in stderr, stderr


def test_grpo_keys_are_refused_in_other_stages(tiny_qwen2, tmp_path, capsys):
    config = {key: value for key, value in settings(tiny_qwen2, tmp_path / "run", stage="sft").items()
              if key not in ("reward_weights",)}
    code, stderr = run_here(capsys, {**config, "dataset": "alpaca_demo"}, command="validate")
    assert code == 1
    assert "reward_funcs only works with stage: grpo (this config has stage: sft)" in stderr
    assert "num_generations only works with stage: grpo" in stderr


def test_a_stage_rm_output_rewards_grpo(tiny_qwen2, tmp_path, capsys):
    """reward_funcs names a LoRA reward model trained with stage: rm; its scores are the reward."""
    rm = tmp_path / "rm"
    code, stderr = run_here(capsys, {"model_name_or_path": str(tiny_qwen2), "stage": "rm", "do_train": True,
                                     "finetuning_type": "lora", "lora_target": "all", "template": "qwen",
                                     "dataset": "style_pref_train", "dataset_dir": str(REPO_ROOT / "data"),
                                     "max_samples": 8, "per_device_train_batch_size": 4, "max_steps": 2,
                                     "save_strategy": "no", "output_dir": str(rm), "report_to": "none",
                                     "use_cpu": True, "disable_gradient_checkpointing": True})
    assert code == 0, stderr[-3000:]
    out = tmp_path / "grpo"
    code, stderr = run_here(capsys, settings(tiny_qwen2, out, reward_funcs=str(rm), reward_weights="null",
                                             max_steps=2))
    assert code == 0, stderr[-3000:]
    lines = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines() if "loss" in line]
    scores = [line["rewards/rm/mean"] for line in lines]
    assert all(score != 0 for score in scores) and lines[0]["rewards/rm/std"] > 0  # a real model's varied scores


HAS_VLLM_GPU = __import__("importlib.util").util.find_spec("vllm") is not None and __import__("torch").cuda.is_available()


@pytest.mark.skipif(HAS_VLLM_GPU, reason="this machine can run vLLM")
def test_use_vllm_without_vllm_is_refused_before_loading(tiny_qwen2, tmp_path, capsys):
    code, stderr = run_here(capsys, settings(tiny_qwen2, tmp_path / "run", use_vllm=True), command="validate")
    assert code == 1
    assert "use_vllm: true generates GRPO rollouts with vLLM, which needs a CUDA GPU" in stderr


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_VLLM_GPU, reason="needs a CUDA GPU and pip install 'tunefactory[vllm]'")
def test_vllm_colocated_rollouts(tiny_qwen2, tmp_path):
    out = tmp_path / "run"
    result = train(settings(tiny_qwen2, out, use_cpu=False, use_vllm=True, vllm_mode="colocate",
                            vllm_gpu_memory_utilization=0.2, max_steps=2))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines() if "loss" in line]
    assert len(lines) == 2 and "rewards/digits/mean" in lines[0]


def test_grpo_learns_a_verifiable_reward(tiny_qwen2, tmp_path, capsys):
    """From random weights, the share of digits in the answers (the `digits` reward) climbs to nearly all: the
    advantages point the right way and reach the weights. (Arithmetic itself is beyond these models in CPU
    minutes: see docs/alignment.md.)"""
    out = tmp_path / "run"
    code, stderr = run_here(capsys, settings(tiny_qwen2, out, finetuning_type="full",
                                             reward_funcs=f"{USER_REWARDS}:digits", reward_weights="null",
                                             num_generations=4, per_device_train_batch_size=16, max_steps=60,
                                             learning_rate=5e-3, lr_scheduler_type="constant", logging_steps=5, seed=1))
    assert code == 0, stderr[-3000:]
    rewards = [json.loads(line)["reward"] for line in (out / "trainer_log.jsonl").read_text().splitlines()
               if '"reward"' in line]
    print(f"grpo, digits reward every 5 steps: {[round(r, 3) for r in rewards]}")
    assert rewards[0] < 0.3 and rewards[-1] > 0.8, rewards
