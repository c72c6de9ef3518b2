"""`use_muon`, `use_adam_mini`, `use_galore`, `use_apollo` and `use_badam` (layer and ratio modes) in real
`tunefactory train` runs: the optimizer is really the one asked for, it learns the memorisable set as AdamW does, and
a run resumed from a checkpoint ends where the uninterrupted run ends. The runs go through the CLI's entry point in
this process (`train_in_process`, one thread): no interpreter start-up per run, which was most of each run's time."""

import shutil

import pytest
import torch
from safetensors.torch import load_file
from test_resume import assert_same_run, losses, settings, train_in_process

pytestmark = pytest.mark.slow

SWITCHES = {"muon": {"use_muon": True}, "adam_mini": {"use_adam_mini": True},
            "galore": {"use_galore": True, "galore_rank": 8, "galore_update_interval": 5},
            "apollo": {"use_apollo": True, "apollo_rank": 8, "apollo_update_interval": 5, "apollo_scale": 1.0},
            "badam": {"use_badam": True, "badam_switch_interval": 3},
            "badam_ratio": {"use_badam": True, "badam_mode": "ratio", "badam_update_ratio": 0.5,
                            "badam_switch_interval": 3}}
LOG_LINES = {"muon": "optimizer: Muon on", "adam_mini": "optimizer: Adam-mini",
             "galore": "optimizer: galore_adamw on ", "apollo": "optimizer: apollo_adamw on ",
             "badam": "optimizer: BAdam, one decoder layer at a time",
             "badam_ratio": "optimizer: BAdam, sparse Adam on 0.5 of each weight's entries"}


@pytest.fixture(scope="module")
def runs(tiny_qwen2, tmp_path_factory):
    root = tmp_path_factory.mktemp("optimizers")
    out = {}
    for name, extra in {"adamw": {}, **SWITCHES}.items():
        out[name] = (root / name, train_in_process(settings(tiny_qwen2, root / name, **extra)))
    return out


@pytest.mark.parametrize("name", SWITCHES)
def test_the_optimizer_learns_like_adamw_with_its_own_updates(runs, name):
    for run in ("adamw", name):
        curve = list(losses(runs[run][0]).values())
        # 0.3 lower on average (BAdam: 0.05, it trains one of the two layers at a time or half of each weight, never
        # the embeddings)
        assert sum(curve[-3:]) < sum(curve[:3]) - (0.15 if run.startswith("badam") else 0.9), (run, curve)
    assert LOG_LINES[name] in runs[name][1] and "optimizer: " not in runs["adamw"][1]
    ours, theirs = (load_file(runs[run][0] / "model.safetensors") for run in (name, "adamw"))
    changed = [n for n in ours if "layers.0.self_attn.q_proj.weight" in n]
    assert changed and not torch.allclose(ours[changed[0]].float(), theirs[changed[0]].float(), atol=1e-4)


@pytest.mark.parametrize("name", SWITCHES)
def test_a_run_resumes_to_the_same_weights(runs, tiny_qwen2, tmp_path, name):
    reference = runs[name][0]
    out = tmp_path / "run"
    shutil.copytree(reference / "checkpoint-4", out / "checkpoint-4")
    shutil.copy(reference / "trainer_log.jsonl", out / "trainer_log.jsonl")
    log = train_in_process(settings(tiny_qwen2, out, **SWITCHES[name]))
    assert "resuming the run from its last checkpoint" in log
    assert_same_run(out, reference)


def test_layerwise_galore_steps_each_weight_as_its_gradient_arrives(runs, tiny_qwen2, tmp_path):
    out = tmp_path / "run"
    log = train_in_process(settings(tiny_qwen2, out, use_galore=True, galore_layerwise=True, galore_rank=8,
                                    max_steps=6))
    assert "optimizer: galore_adamw_layerwise on " in log
    curve = list(losses(out).values())
    reference = list(losses(runs["galore"][0]).values())[:6]
    assert sum(curve[-2:]) < sum(curve[:2]) and curve != reference  # it learns, in its own way
