"""Loading the model a run trains: embeddings grown for the template's tokens, LoRA targets, RoPE scaling, refusals."""

import json

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from tunefactory.config import parse_dict
from tunefactory.data.template import get_template
from tunefactory.errors import ConfigError, ModelError
from tunefactory.model.adapters import all_linear_modules
from tunefactory.model.loader import ModelSpec, apply_rope_scaling, load_hf_config, load_model, resize_embeddings
from tunefactory.model.tokenizer import load_tokenizer

LLAMA_LINEAR = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def run_config(model, tmp_path, **overrides):
    return parse_dict({"model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "lora",
                       "dataset": "alpaca_demo", "template": "qwen", "output_dir": str(tmp_path / "out"),
                       "use_cpu": True, "disable_gradient_checkpointing": True, **overrides})


def tokenizer_for(config):
    """The run's tokenizer after the template fixed it, as `train` prepares it before loading the model."""
    tokenizer = load_tokenizer(config.model)
    get_template(tokenizer, config.data, config.model.model_name_or_path)
    return tokenizer


def test_template_tokens_grow_the_embeddings_with_mean_rows(tiny_llama, tmp_path):
    config = run_config(tiny_llama, tmp_path, finetuning_type="full")
    tokenizer = tokenizer_for(config)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    rows = base.get_input_embeddings().weight.shape[0]
    assert len(tokenizer) == rows + 1 and tokenizer.convert_tokens_to_ids("<|im_end|>") == rows  # qwen's EOS is new

    model = load_model(tokenizer, ModelSpec.from_config(config), is_trainable=False)
    assert model.config.vocab_size == rows + 1
    for ours, theirs in ((model.get_input_embeddings(), base.get_input_embeddings()),
                         (model.get_output_embeddings(), base.get_output_embeddings())):
        assert ours is not None and ours.weight.shape[0] == rows + 1
        assert torch.equal(ours.weight[:rows], theirs.weight)  # old rows untouched
        torch.testing.assert_close(ours.weight[rows], theirs.weight.mean(dim=0), atol=1e-6, rtol=0)
    assert resize_embeddings(model, tokenizer) is False  # already big enough: nothing to do


def test_grown_embeddings_train_with_lora_and_freeze(tiny_llama, tmp_path):
    config = run_config(tiny_llama, tmp_path)
    lora = load_model(tokenizer_for(config), ModelSpec.from_config(config), is_trainable=True)
    assert set(lora.peft_config["default"].modules_to_save) == {"embed_tokens", "lm_head"}
    config = run_config(tiny_llama, tmp_path, finetuning_type="freeze", freeze_trainable_layers=1)
    freeze = load_model(tokenizer_for(config), ModelSpec.from_config(config), is_trainable=True)
    trainable = {name for name, param in freeze.named_parameters() if param.requires_grad}
    assert {"model.embed_tokens.weight", "lm_head.weight"} <= trainable
    assert not any(".layers.0." in name for name in trainable) and any(".layers.1." in name for name in trainable)


def test_all_linear_modules_leave_out_the_head(tiny_llama):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    assert isinstance(model.lm_head, torch.nn.Linear)  # a linear layer, yet never a LoRA target under `all`
    assert all_linear_modules(model) == LLAMA_LINEAR


def test_lora_target_all_adapts_every_linear_layer_but_the_head(tiny_llama, tmp_path):
    config = run_config(tiny_llama, tmp_path, lora_target="all")
    model = load_model(tokenizer_for(config), ModelSpec.from_config(config), is_trainable=True)
    assert set(model.peft_config["default"].target_modules) == set(LLAMA_LINEAR)
    assert not any("lm_head" in name and "lora_" in name for name, _ in model.named_parameters())


def test_unknown_lora_target_lists_the_linear_layers(tiny_llama, tmp_path):
    config = run_config(tiny_llama, tmp_path, lora_target="q_proj,qproj")
    with pytest.raises(ConfigError) as error:
        load_model(tokenizer_for(config), ModelSpec.from_config(config), is_trainable=True)
    message = str(error.value)
    assert "lora_target: qproj not found in this model" in message
    assert "its linear layers are: " + ", ".join(LLAMA_LINEAR) in message and "lora_target: all" in message


def test_rope_scaling_stretches_the_context_to_cutoff_len(tiny_llama):
    hf_config = AutoConfig.from_pretrained(tiny_llama)
    assert hf_config.max_position_embeddings == 1024
    theta = hf_config.rope_parameters["rope_theta"]
    apply_rope_scaling(hf_config, "linear", cutoff_len=2048, is_trainable=True)
    assert hf_config.rope_parameters == {"rope_type": "linear", "factor": 2.0, "rope_theta": theta}
    assert hf_config.max_position_embeddings == 2048

    fits = AutoConfig.from_pretrained(tiny_llama)
    apply_rope_scaling(fits, "linear", cutoff_len=1024, is_trainable=True)  # training within the context: unchanged
    assert fits.rope_parameters["rope_type"] == "default" and fits.max_position_embeddings == 1024
    longer = AutoConfig.from_pretrained(tiny_llama)
    apply_rope_scaling(longer, "dynamic", cutoff_len=2500, is_trainable=True)
    assert longer.rope_parameters["factor"] == 3.0 and longer.max_position_embeddings == 3072


def test_loaded_model_uses_the_scaled_rope(tiny_llama, tmp_path):
    config = run_config(tiny_llama, tmp_path, finetuning_type="full", rope_scaling="linear", cutoff_len=2048)
    model = load_model(tokenizer_for(config), ModelSpec.from_config(config), is_trainable=True)
    assert model.config.rope_parameters["rope_type"] == "linear" and model.config.rope_parameters["factor"] == 2.0
    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    torch.testing.assert_close(model.model.rotary_emb.inv_freq, base.model.rotary_emb.inv_freq / 2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_quantization_on_cpu_is_refused_with_a_reason(tiny_llama, tmp_path):
    config = run_config(tiny_llama, tmp_path, quantization_bit=4)
    with pytest.raises(ModelError, match="needs a CUDA GPU"):
        load_model(tokenizer_for(config), ModelSpec.from_config(config), is_trainable=True)


def test_custom_code_models_need_trust_remote_code(tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "tunefactory_custom", "architectures": ["CustomForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_custom.CustomConfig",
                     "AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"},
    }))
    try:
        AutoConfig.from_pretrained(folder, trust_remote_code=False)
    except ValueError as exc:
        if "trust_remote_code" not in str(exc):
            pytest.skip(f"transformers refuses custom code with another message: {exc}")
    else:
        pytest.skip("transformers does not refuse custom code offline here")
    config = run_config(folder, tmp_path)
    with pytest.raises(ModelError) as error:
        load_hf_config(config.model, str(folder))
    message = str(error.value)
    assert f"{str(folder)!r} ships its own modelling code" in message and "trust_remote_code: true" in message
    with pytest.raises(ModelError, match="trust_remote_code: true"):
        load_model(None, ModelSpec.from_config(config), is_trainable=True)


def test_liger_kernels_are_a_machine_note_where_they_cannot_run():
    import importlib.util

    from tunefactory.config import parse_dict

    config = parse_dict({"model_name_or_path": "m", "stage": "sft", "do_train": True, "dataset": "alpaca_demo",
                         "output_dir": "out", "enable_liger_kernel": True})
    notes = [n for n in config.environment_notes if n.startswith("enable_liger_kernel")]
    runnable = importlib.util.find_spec("liger_kernel") and importlib.util.find_spec("triton")
    assert bool(notes) != bool(runnable)


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU and pip install liger-kernel")
def test_liger_kernels_patch_the_model(tiny_llama):
    from tunefactory.config import parse_dict
    from tunefactory.model.loader import ModelSpec, load_model
    from tunefactory.model.tokenizer import load_tokenizer

    config = parse_dict({"model_name_or_path": str(tiny_llama), "stage": "sft", "do_train": True,
                         "dataset": "alpaca_demo", "output_dir": "out", "finetuning_type": "full",
                         "template": "llama3", "enable_liger_kernel": True})
    model = load_model(load_tokenizer(config.model), ModelSpec.from_config(config), is_trainable=True)
    assert "Liger" in type(model.model.norm).__name__
