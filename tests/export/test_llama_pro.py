"""`tunefactory llama-pro` expands a model with identity blocks, and use_llama_pro trains only those blocks.

Both commands go through the CLI's entry point in this process (no interpreter start-up per command), and each
architecture is expanded once for the whole module."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from tunefactory.cli import main
from tunefactory.errors import ConfigError
from tunefactory.export.llama_pro import expand_blocks

REPO_ROOT = Path(__file__).resolve().parents[2]


def expand(arch, tiny_model_cache, tmp_path_factory):
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    base = ensure_tiny_model(tiny_model_cache, arch=arch, size="tiny")
    layers = AutoModelForCausalLM.from_pretrained(base).config.num_hidden_layers
    out = tmp_path_factory.mktemp(f"llama-pro-{arch}") / "expanded"
    assert main(["llama-pro", "--model_name_or_path", str(base), "--output_dir", str(out),
                 "--num_expand", str(layers)]) == 0
    return base, out, layers


@pytest.fixture(scope="module")
def expansions(tiny_model_cache, tmp_path_factory):
    """arch -> (base, expanded folder, base layers), each expanded once (the tests only read the folders)."""
    done = {}

    def get(arch):
        if arch not in done:
            done[arch] = expand(arch, tiny_model_cache, tmp_path_factory)
        return done[arch]

    return get


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def expanded(request, expansions):
    return expansions(request.param)


@pytest.fixture(scope="module")
def expanded_llama(expansions):
    return expansions("llama")


def test_the_expanded_model_computes_what_the_original_did(expanded):
    base, out, layers = expanded
    original, bigger = (AutoModelForCausalLM.from_pretrained(path).eval() for path in (base, out))
    assert bigger.config.num_hidden_layers == 2 * layers
    ids = torch.randint(3, 200, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(bigger(ids).logits, original(ids).logits, atol=1e-5, rtol=0)
        same = [m.generate(ids, do_sample=False, max_new_tokens=8).tolist() for m in (original, bigger)]
    assert same[0] == same[1]
    for index in range(1, 2 * layers, 2):  # every other layer is new: its outputs into the residual are zero
        block = bigger.model.layers[index]
        assert block.self_attn.o_proj.weight.abs().sum() == 0 and block.mlp.down_proj.weight.abs().sum() == 0
        assert block.self_attn.layer_idx == index
        copied = original.model.layers[index // 2].self_attn.q_proj.weight
        torch.testing.assert_close(block.self_attn.q_proj.weight, copied)
    assert (out / "tokenizer_config.json").is_file()


def test_expansion_refuses_a_used_folder_and_an_uneven_split(expanded, tmp_path):
    base, out, layers = expanded
    with pytest.raises(ConfigError, match="is not empty"):
        expand_blocks(str(base), str(out), layers)
    with pytest.raises(ConfigError, match=f"must divide the model's {layers} layers"):
        expand_blocks(str(base), str(tmp_path / "new"), layers + 1)


def train(config: dict) -> int:
    return main(["train", *(f"{k}={v}" for k, v in config.items())])


@pytest.mark.parametrize("method", ["freeze", "lora"])
def test_use_llama_pro_trains_only_the_new_blocks(expanded_llama, tmp_path, method, caplog):
    base, model, layers = expanded_llama
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="tunefactory"):
        code = train({"model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": method,
                      "use_llama_pro": True, "freeze_trainable_layers": layers, "dataset": "alpaca_demo",
                      "dataset_dir": str(REPO_ROOT / "data"), "template": "default", "cutoff_len": 64,
                      "max_samples": 16, "per_device_train_batch_size": 4, "max_steps": 4, "learning_rate": 1e-2,
                      "output_dir": str(out), "report_to": "none", "use_cpu": True, "logging_steps": 1})
    assert code == 0, caplog.text[-3000:]
    new = {index for index in range(1, 2 * layers, 2)}
    if method == "lora":
        names = load_file(out / "adapter_model.safetensors").keys()
        touched = {int(name.split(".layers.")[1].split(".")[0]) for name in names}
        assert touched == new, sorted(names)[:4]
        return
    before = load_file(model / "model.safetensors")
    after = load_file(out / "model.safetensors")
    for name, weight in after.items():
        layer = int(name.split(".layers.")[1].split(".")[0]) if ".layers." in name else None
        moved = not torch.equal(weight.float(), before[name].float())
        assert moved == (layer in new), name
    assert "LLaMA Pro" in caplog.text
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 2 * layers
