"""`use_dft_loss`, `use_eaft_loss` and `use_asft_loss` in real `tunefactory train` runs: each lowers its loss on a
memorisable set, ASFT starts exactly at DFT (the model is its own reference at step 1), and a resumed run ends
where the uninterrupted one ends. The runs go through the CLI's entry point in this process (`train_in_process`):
no interpreter start-up per run."""

import json
import shutil

import pytest
from test_resume import REPO_ROOT, assert_same_run, losses, train_in_process

pytestmark = pytest.mark.slow


def settings(model, output_dir, **extra):
    return {"model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "lora",
            "lora_target": "all", "lora_rank": 8, "dataset": "arith_train", "dataset_dir": str(REPO_ROOT / "data"),
            "template": "qwen", "cutoff_len": 64, "max_samples": 16, "per_device_train_batch_size": 4,
            "max_steps": 12, "save_steps": 4, "logging_steps": 1, "learning_rate": 2e-2, "seed": 11,
            "output_dir": str(output_dir), "report_to": "none", "use_cpu": True,
            "disable_gradient_checkpointing": True, "save_only_model": False,
            # the plain cross-entropy of the same rows before and after (evaluation keeps the plain loss)
            "do_eval": True, "eval_dataset": "arith_train", "eval_strategy": "steps", "eval_steps": 12,
            "eval_on_start": True, "per_device_eval_batch_size": 8, **extra}


@pytest.fixture(scope="module")
def runs(tiny_qwen2, tmp_path_factory):
    root = tmp_path_factory.mktemp("sft-losses")
    variants = {"plain": {}, "dft": {"use_dft_loss": True}, "eaft": {"use_eaft_loss": True, "eaft_alpha": 0.5},
                "asft": {"use_asft_loss": True}}
    out = {}
    for name, extra in variants.items():
        log = train_in_process(settings(tiny_qwen2, root / name, **extra))
        out[name] = root / name
        (root / f"{name}.log").write_text(log)
    return out


def eval_losses(output_dir):
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return [entry["eval_loss"] for entry in state["log_history"] if "eval_loss" in entry]


@pytest.mark.parametrize("name", ["plain", "dft", "eaft", "asft"])
def test_each_variant_lowers_the_cross_entropy_of_a_memorisable_set(runs, name):
    # a DFT loss value can rise while the model learns (p log 1/p grows up to p = 1/e): judge by the plain loss.
    # ASFT's KL term holds the model near its (random) start, so it moves least.
    before, after = eval_losses(runs[name])[:2]
    assert after < before - (0.05 if name == "asft" else 0.4), (before, after)


def test_variants_weigh_the_plain_cross_entropy_down(runs):
    # DFT's weight p(y) and EAFT's (H20/3)^alpha are below 1 on a random model: the same first batch scores lower
    first = {name: losses(folder)[1] for name, folder in runs.items()}
    assert first["dft"] < first["plain"] and first["eaft"] < first["plain"], first


def test_asft_starts_as_dft_then_pays_for_leaving_its_reference(runs):
    dft, asft = losses(runs["dft"]), losses(runs["asft"])
    assert asft[1] == pytest.approx(dft[1], abs=1e-6)  # the LoRA adapter starts at zero: KL(reference || model) = 0
    assert asft[12] != pytest.approx(dft[12], abs=1e-4)
    log = (runs["asft"].parent / "asft.log").read_text()
    assert "reference model: the base model with the LoRA adapter switched off" in log


def test_a_dft_run_resumes_to_the_same_adapter(runs, tiny_qwen2, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(runs["dft"] / "checkpoint-4", out / "checkpoint-4")
    shutil.copy(runs["dft"] / "trainer_log.jsonl", out / "trainer_log.jsonl")
    log = train_in_process(settings(tiny_qwen2, out, use_dft_loss=True))
    assert "resuming the run from its last checkpoint" in log
    assert_same_run(out, runs["dft"])


def test_asft_with_full_fine_tuning_compares_with_a_frozen_copy(tiny_qwen2, tmp_path):
    log = train_in_process(settings(tiny_qwen2, tmp_path / "run", finetuning_type="full", use_asft_loss=True,
                                    learning_rate=1e-3, max_steps=4))
    assert "reference model: a frozen copy of the starting model" in log
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
