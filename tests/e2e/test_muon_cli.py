"""`use_muon: true` in real `tunefactory train` runs: the optimizer is really Muon + AdamW, it learns the memorisable
set as AdamW does, and a run resumed from a checkpoint ends where the uninterrupted run ends."""

import shutil

import pytest
import torch
from safetensors.torch import load_file
from test_resume import assert_same_run, losses, settings, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tiny_qwen2, tmp_path_factory):
    root = tmp_path_factory.mktemp("muon")
    out = {}
    for name, extra in {"adamw": {}, "muon": {"use_muon": True}}.items():
        result = train(settings(tiny_qwen2, root / name, **extra))
        assert result.returncode == 0, result.stderr[-3000:]
        out[name] = (root / name, result.stderr)
    return out


def test_muon_learns_like_adamw_with_its_own_updates(runs):
    for name, (folder, _) in runs.items():
        curve = list(losses(folder).values())
        assert sum(curve[-3:]) < sum(curve[:3]) - 0.9, (name, curve)  # 0.3 lower on average
    muon_log = runs["muon"][1]
    assert "optimizer: Muon on" in muon_log and "optimizer: Muon" not in runs["adamw"][1]
    ours, theirs = (load_file(runs[name][0] / "model.safetensors") for name in ("muon", "adamw"))
    changed = [n for n in ours if "layers.0.self_attn.q_proj.weight" in n]
    assert changed and not torch.allclose(ours[changed[0]].float(), theirs[changed[0]].float(), atol=1e-4)


def test_a_muon_run_resumes_to_the_same_weights(runs, tiny_qwen2, tmp_path):
    reference = runs["muon"][0]
    out = tmp_path / "run"
    shutil.copytree(reference / "checkpoint-4", out / "checkpoint-4")
    shutil.copy(reference / "trainer_log.jsonl", out / "trainer_log.jsonl")
    result = train(settings(tiny_qwen2, out, use_muon=True))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming the run from its last checkpoint" in result.stderr
    assert_same_run(out, reference)
