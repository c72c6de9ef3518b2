"""Image and sound training is repeatable: one seed gives the same weights, and a run resumed from a checkpoint left
on disk ends where the uninterrupted run ends (sft on the tiny Qwen2-VL, Llama 3.2 Vision and Qwen2-Audio, dpo on
Qwen2-VL; LoRA with dropout so the RNG matters)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_audio_sft import audio_sft
from test_multimodal_dpo import dpo, image_pairs  # noqa: F401 - image_pairs is a fixture used below
from test_multimodal_sft import Family, mllm_sft
from test_resume import assert_same_run, train_in_process

pytestmark = pytest.mark.slow
REPEATABLE = {"finetuning_type": "lora", "lora_target": "all", "lora_dropout": 0.1, "max_steps": 8, "save_steps": 4}


# images laid out flat (Qwen2-VL), by row with a cross-attention mask (Llama 3.2 Vision), and sounds (Qwen2-Audio)
RUNS = {"qwen2_vl": ("tiny_qwen2_vl", "qwen2_vl"), "mllama": ("tiny_mllama", "mllama"),
        "qwen2_audio": ("tiny_qwen2_audio", "qwen2_audio")}


@pytest.fixture(scope="module", params=sorted(RUNS))
def sft_config(request):
    fixture, template = RUNS[request.param]
    folder = request.getfixturevalue(fixture)
    if request.param == "qwen2_audio":
        return lambda out, **changes: audio_sft(folder, out, **REPEATABLE, **changes)
    return lambda out, **changes: mllm_sft(Family(request.param, folder, template), out, **REPEATABLE, **changes)


@pytest.fixture(scope="module")
def sft_run(sft_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("mm-sft") / "run"
    train_in_process(sft_config(out))
    return out


def test_one_seed_gives_the_same_weights(sft_run, sft_config, tmp_path):
    again = tmp_path / "again"
    train_in_process(sft_config(again))
    ours, theirs = load_file(again / "adapter_model.safetensors"), load_file(sft_run / "adapter_model.safetensors")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    other_seed = tmp_path / "other-seed"
    train_in_process(sft_config(other_seed, seed=1))
    other = load_file(other_seed / "adapter_model.safetensors")
    assert any(not torch.equal(other[k], theirs[k]) for k in other)  # the seed really decides


def test_a_resumed_sft_run_ends_where_the_uninterrupted_one_does(sft_run, sft_config, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(sft_run / "checkpoint-4", out / "checkpoint-4")
    shutil.copy(sft_run / "trainer_log.jsonl", out / "trainer_log.jsonl")
    assert "resuming the run from its last checkpoint" in train_in_process(sft_config(out))
    assert_same_run(out, sft_run)


def test_a_resumed_dpo_run_ends_where_the_uninterrupted_one_does(tiny_qwen2_vl, image_pairs, tmp_path):  # noqa: F811
    reference, out = tmp_path / "reference", tmp_path / "resumed"
    train_in_process(dpo(tiny_qwen2_vl, image_pairs, reference, **REPEATABLE))
    shutil.copytree(reference / "checkpoint-4", out / "checkpoint-4")
    shutil.copy(reference / "trainer_log.jsonl", out / "trainer_log.jsonl")
    assert "resuming the run from its last checkpoint" in train_in_process(dpo(tiny_qwen2_vl, image_pairs, out,
                                                                                **REPEATABLE))
    assert_same_run(Path(out), reference)
