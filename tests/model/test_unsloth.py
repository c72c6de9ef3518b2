"""`use_unsloth` and `use_unsloth_gc`.

Unsloth itself needs a CUDA GPU: the real run is the `gpu` test at the end. On the CPU, a recording stand-in for
`unsloth.FastLanguageModel` (transformers' and peft's own loading behind it) checks what TuneFactory asks of Unsloth:
the settings passed, the adapter created by Unsloth, our own checkpointing left to Unsloth's, and the fallback to
transformers for a model type Unsloth refuses. `use_unsloth_gc` is transformers' offloaded activation checkpointing and
runs here for real."""

import importlib.machinery
import importlib.util
import logging
import sys
import types

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunefactory.config import parse_dict
from tunefactory.errors import ConfigError, ModelError
from tunefactory.model.loader import ModelSpec, load_model
from tunefactory.model.tokenizer import load_tokenizer
from tunefactory.model.unsloth import LOADED_BY_UNSLOTH


def run_config(model, tmp_path, **overrides):
    return parse_dict({"model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "lora",
                       "dataset": "alpaca_demo", "template": "qwen", "output_dir": str(tmp_path / "out"),
                       "use_cpu": True, "cutoff_len": 256, **overrides})


class RecordingFastLanguageModel:
    """Unsloth's API, recording its calls; the model and adapter come from transformers and peft."""

    calls: list = []
    unsupported = False

    @classmethod
    def from_pretrained(cls, **kwargs):
        cls.calls.append(("from_pretrained", kwargs))
        if cls.unsupported:
            raise NotImplementedError("Unsloth: this model type is not supported yet")
        return AutoModelForCausalLM.from_pretrained(kwargs["model_name"], dtype=kwargs["dtype"]), None

    @classmethod
    def get_peft_model(cls, model, **kwargs):
        from peft import LoraConfig, get_peft_model

        cls.calls.append(("get_peft_model", kwargs))
        return get_peft_model(model, LoraConfig(r=kwargs["r"], target_modules=kwargs["target_modules"],
                                                lora_alpha=kwargs["lora_alpha"], lora_dropout=kwargs["lora_dropout"],
                                                use_rslora=kwargs["use_rslora"], task_type="CAUSAL_LM"))


@pytest.fixture
def fake_unsloth(monkeypatch):
    RecordingFastLanguageModel.calls = []
    RecordingFastLanguageModel.unsupported = False
    module = types.ModuleType("unsloth")
    module.__spec__ = importlib.machinery.ModuleSpec("unsloth", None)
    module.FastLanguageModel = RecordingFastLanguageModel
    monkeypatch.setitem(sys.modules, "unsloth", module)
    return RecordingFastLanguageModel


def test_unsloth_loads_the_model_and_creates_the_adapter_with_the_runs_settings(tiny_llama, tmp_path, fake_unsloth):
    config = run_config(tiny_llama, tmp_path, use_unsloth=True, lora_rank=4, lora_alpha=8, use_rslora=True,
                        lora_target="q_proj,v_proj")
    torch.manual_seed(3)
    model = load_model(load_tokenizer(config.model), ModelSpec.from_config(config), is_trainable=True)
    (_, loaded), (_, adapter) = fake_unsloth.calls
    assert loaded["model_name"] == str(tiny_llama) and loaded["max_seq_length"] == 256
    assert loaded["load_in_4bit"] is False and loaded["full_finetuning"] is False
    assert loaded["use_gradient_checkpointing"] == "unsloth" and loaded["fix_tokenizer"] is False
    assert (adapter["r"], adapter["lora_alpha"], adapter["use_rslora"]) == (4, 8, True)
    assert adapter["target_modules"] == ["q_proj", "v_proj"] and adapter["max_seq_length"] == 256
    assert getattr(model.get_base_model(), LOADED_BY_UNSLOTH)
    # Unsloth's checkpointing, not ours, and the adapter's random_state follows the run's seed
    assert not any(getattr(m, "gradient_checkpointing", False) for m in model.modules())
    torch.manual_seed(3)
    load_model(load_tokenizer(config.model), ModelSpec.from_config(config), is_trainable=True)
    assert fake_unsloth.calls[-1][1]["random_state"] == adapter["random_state"]
    assert {n for n, p in model.named_parameters() if p.requires_grad} and all(
        "lora_" in n for n, p in model.named_parameters() if p.requires_grad)


def test_unsloth_full_finetuning_and_inference_loading(tiny_llama, tmp_path, fake_unsloth, caplog):
    config = run_config(tiny_llama, tmp_path, use_unsloth=True, finetuning_type="full",
                        disable_gradient_checkpointing=True)
    load_model(load_tokenizer(config.model), ModelSpec.from_config(config), is_trainable=True)
    ((_, loaded),) = fake_unsloth.calls
    assert loaded["full_finetuning"] is True and loaded["use_gradient_checkpointing"] is False
    with caplog.at_level(logging.INFO, logger="tunefactory"):
        load_model(load_tokenizer(config.model), ModelSpec.from_config(config), is_trainable=False)
    assert len(fake_unsloth.calls) == 1 and "use_unsloth applies to training" in caplog.text


def test_a_model_type_unsloth_refuses_loads_with_transformers_and_a_warning(tiny_llama, tmp_path, fake_unsloth,
                                                                              caplog):
    fake_unsloth.unsupported = True
    config = run_config(tiny_llama, tmp_path, use_unsloth=True)
    with caplog.at_level(logging.WARNING, logger="tunefactory"):
        model = load_model(load_tokenizer(config.model), ModelSpec.from_config(config), is_trainable=True)
    assert "Unsloth does not support llama models" in caplog.text
    assert [name for name, _ in fake_unsloth.calls] == ["from_pretrained"]  # peft made the adapter
    assert not getattr(model.get_base_model(), LOADED_BY_UNSLOTH, False)
    assert any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


@pytest.mark.skipif(importlib.util.find_spec("unsloth") is not None, reason="unsloth is installed here")
def test_without_unsloth_validate_notes_it_and_loading_says_what_to_install(tiny_llama, tmp_path):
    config = run_config(tiny_llama, tmp_path, use_unsloth=True)
    assert any(note.startswith("use_unsloth loads the model through Unsloth, which needs a CUDA GPU")
               for note in config.environment_notes)
    with pytest.raises(ModelError, match=r"pip install 'tunefactory\[unsloth\]'"):
        load_model(load_tokenizer(config.model), ModelSpec.from_config(config), is_trainable=True)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"finetuning_type": "freeze"}, "use_unsloth trains a LoRA adapter (finetuning_type: lora, QLoRA too) or"),
    ({"use_dora": True}, "use_unsloth creates plain LoRA or rsLoRA adapters through Unsloth"),
])
def test_unsloth_settings_it_cannot_take_are_refused(tiny_llama, tmp_path, overrides, expected):
    with pytest.raises(ConfigError) as info:
        run_config(tiny_llama, tmp_path, use_unsloth=True, **overrides)
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_unsloth_gc_checkpoints_every_layer_with_the_same_gradients(tiny_llama, tmp_path, caplog):
    def gradients(**overrides):
        config = run_config(tiny_llama, tmp_path, finetuning_type="full", **overrides)
        model = load_model(load_tokenizer(config.model), ModelSpec.from_config(config), is_trainable=True)
        model.train()
        calls = []
        model.model.layers[0].mlp.register_forward_hook(lambda *args: calls.append(1))
        ids = torch.randint(3, model.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
        model(input_ids=ids, labels=ids).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}, len(calls), model

    with caplog.at_level(logging.INFO, logger="tunefactory"):
        offloaded, runs, model = gradients(use_unsloth_gc=True)
    plain, plain_runs, _ = gradients(disable_gradient_checkpointing=True)
    assert runs == 2 and plain_runs == 1  # the layer ran again in the backward pass: it was checkpointed
    assert all(layer.gradient_checkpointing for layer in model.model.layers)
    for name, grad in plain.items():
        torch.testing.assert_close(offloaded[name], grad, atol=1e-6, rtol=1e-5)
    if not torch.accelerator.is_available():
        assert "use_unsloth_gc: no GPU here" in caplog.text


def test_unsloth_gc_with_checkpointing_off_is_refused(tiny_llama, tmp_path):
    with pytest.raises(ConfigError) as info:
        run_config(tiny_llama, tmp_path, use_unsloth_gc=True, disable_gradient_checkpointing=True)
    assert any("use_unsloth_gc is a kind of activation checkpointing" in p for p in info.value.problems)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("unsloth") is None,
                    reason="needs a CUDA GPU and pip install 'tunefactory[unsloth]'")
def test_unsloth_trains_a_lora_adapter_on_the_gpu(tiny_llama, tmp_path):
    from tunefactory.cli import main

    out = tmp_path / "run"
    assert main(["train", "--model_name_or_path", str(tiny_llama), "--stage", "sft", "--do_train", "true",
                 "--finetuning_type", "lora", "--dataset", "alpaca_demo", "--template", "qwen", "--max_steps", "10",
                 "--learning_rate", "1e-3", "--logging_steps", "1", "--use_unsloth", "true", "--bf16", "true",
                 "--output_dir", str(out), "--report_to", "none"]) == 0
    import json

    losses = [json.loads(line)["loss"] for line in (out / "trainer_log.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    assert losses[-1] < losses[0]
    assert (out / "adapter_model.safetensors").is_file()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (offloading moves activations off it)")
def test_unsloth_gc_keeps_less_on_the_gpu(tiny_llama, tmp_path):
    def peak(**overrides):
        config = run_config(tiny_llama, tmp_path, finetuning_type="full", use_cpu=False, **overrides)
        model = load_model(load_tokenizer(config.model), ModelSpec.from_config(config), is_trainable=True).cuda()
        model.train()
        torch.cuda.reset_peak_memory_stats()
        ids = torch.randint(3, model.config.vocab_size, (8, 1024), device="cuda")
        model(input_ids=ids, labels=ids).loss.backward()
        return torch.cuda.max_memory_allocated()

    assert peak(use_unsloth_gc=True) < peak()
