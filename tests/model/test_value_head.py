"""The value head: per-token float32 scores, last-token picking, and the LLaMA-Factory file format."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

from tunefactory.errors import ModelError
from tunefactory.model.value_head import (
    VALUE_HEAD_FILE,
    VALUE_HEAD_LEGACY_FILE,
    ModelWithValueHead,
    add_value_head,
    last_token_scores,
    read_value_head,
)

LF_KEYS = {"v_head.summary.weight", "v_head.summary.bias"}


def load(path, **kwargs):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(path, **kwargs).eval()


def batch(vocab_size: int):
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(0, vocab_size, (2, 5), generator=generator)
    attention_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    return input_ids, attention_mask


def lora(model):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))


# ---------------------------------------------------------------- forward


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_forward_returns_float32_values_of_shape_batch_by_seq(tiny_llama, dtype):
    wrapped = add_value_head(load(tiny_llama, dtype=dtype), None, required=False)
    assert isinstance(wrapped, ModelWithValueHead)
    assert wrapped.v_head.summary.weight.dtype == torch.float32
    input_ids, attention_mask = batch(wrapped.config.vocab_size)
    with torch.no_grad():
        logits, values = wrapped(input_ids=input_ids, attention_mask=attention_mask)
    assert values.shape == (2, 5)
    assert values.dtype == torch.float32
    assert torch.isfinite(values).all()
    assert logits.shape == (2, 5, wrapped.config.vocab_size)
    # without logits the values are the same, for every position
    with torch.no_grad():
        no_logits, values_again = wrapped(input_ids=input_ids, attention_mask=attention_mask, return_logits=False,
                                          labels=input_ids)
    assert no_logits is None
    torch.testing.assert_close(values_again, values)


def test_values_are_the_head_applied_to_the_last_hidden_state(tiny_llama):
    model = load(tiny_llama)
    wrapped = add_value_head(model, None, required=False)
    input_ids, attention_mask = batch(model.config.vocab_size)
    with torch.no_grad():
        _, values = wrapped(input_ids=input_ids, attention_mask=attention_mask)
        hidden = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True).hidden_states[-1]
    expected = hidden.float() @ wrapped.v_head.summary.weight[0] + wrapped.v_head.summary.bias[0]
    torch.testing.assert_close(values, expected)
    assert wrapped.v_head.summary.bias.item() == 0.0  # a fresh head starts with a zero bias


def test_gradients_reach_the_head_and_the_model(tiny_llama):
    wrapped = add_value_head(load(tiny_llama), None, required=False)
    input_ids, attention_mask = batch(wrapped.config.vocab_size)
    _, values = wrapped(input_ids=input_ids, attention_mask=attention_mask, return_logits=False)
    values.sum().backward()
    assert wrapped.v_head.summary.weight.grad.abs().sum() > 0
    assert wrapped.pretrained_model.model.embed_tokens.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- last_token_scores


def test_last_token_scores_picks_each_rows_last_real_token():
    values = torch.tensor([[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0], [-1.0, -2.0, -3.0, -4.0]])
    attention_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    assert last_token_scores(values, attention_mask).tolist() == pytest.approx([0.4, 2.0, -1.0])
    # a boolean mask works the same; an all-padding row falls back to position 0 instead of wrapping round
    bool_mask = torch.tensor([[True, True, True, False], [False, False, False, False], [True, True, True, True]])
    assert last_token_scores(values, bool_mask).tolist() == pytest.approx([0.3, 1.0, -4.0])


# ---------------------------------------------------------------- saving and loading


def test_save_pretrained_writes_the_model_and_a_lf_value_head(tiny_llama, tmp_path):
    wrapped = add_value_head(load(tiny_llama), None, required=False)
    wrapped.save_pretrained(str(tmp_path), state_dict={"ignored": torch.zeros(1)})
    files = set(os.listdir(tmp_path))
    assert {"config.json", "model.safetensors", VALUE_HEAD_FILE} <= files
    with safe_open(str(tmp_path / VALUE_HEAD_FILE), framework="pt") as head:
        assert set(head.keys()) == LF_KEYS
        assert head.metadata() == {"format": "pt"}
        assert head.get_tensor("v_head.summary.weight").shape == (1, wrapped.config.hidden_size)
        assert head.get_tensor("v_head.summary.bias").shape == (1,)
        torch.testing.assert_close(head.get_tensor("v_head.summary.weight"), wrapped.v_head.summary.weight.detach())
    # the head's keys stay out of the model file: transformers loads the folder as a plain causal LM
    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as weights:
        assert not any(key.startswith("v_head") for key in weights.keys())
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert reloaded.config.model_type == "llama"


def test_add_value_head_loads_the_saved_head(tiny_llama, tmp_path):
    original = add_value_head(load(tiny_llama), None, required=False)
    with torch.no_grad():
        original.v_head.summary.bias.fill_(0.25)  # not the fresh-head default
    original.save_pretrained(str(tmp_path))
    input_ids, attention_mask = batch(original.config.vocab_size)
    with torch.no_grad():
        _, expected = original(input_ids=input_ids, attention_mask=attention_mask)

    torch.manual_seed(123)  # a different random init for the new head
    loaded = add_value_head(AutoModelForCausalLM.from_pretrained(tmp_path).eval(), str(tmp_path), required=True)
    torch.testing.assert_close(loaded.v_head.summary.weight, original.v_head.summary.weight, rtol=0, atol=0)
    assert loaded.v_head.summary.bias.item() == 0.25
    with torch.no_grad():
        _, values = loaded(input_ids=input_ids, attention_mask=attention_mask)
    torch.testing.assert_close(values, expected)


def test_legacy_value_head_bin_is_read(tiny_llama, tmp_path):
    original = add_value_head(load(tiny_llama), None, required=False)
    state = original.value_head_state()
    assert set(state) == LF_KEYS
    torch.save(state, tmp_path / VALUE_HEAD_LEGACY_FILE)
    read = read_value_head(str(tmp_path))
    assert set(read) == LF_KEYS
    torch.manual_seed(7)
    loaded = add_value_head(load(tiny_llama), str(tmp_path), required=True)
    torch.testing.assert_close(loaded.v_head.summary.weight, original.v_head.summary.weight, rtol=0, atol=0)
    torch.testing.assert_close(loaded.v_head.summary.bias, original.v_head.summary.bias, rtol=0, atol=0)


def test_safetensors_head_wins_over_the_legacy_file(tiny_llama, tmp_path):
    hidden = load(tiny_llama).config.hidden_size
    save_file({"v_head.summary.weight": torch.ones(1, hidden), "v_head.summary.bias": torch.ones(1)},
              str(tmp_path / VALUE_HEAD_FILE))
    torch.save({"v_head.summary.weight": torch.zeros(1, hidden), "v_head.summary.bias": torch.zeros(1)},
               tmp_path / VALUE_HEAD_LEGACY_FILE)
    assert read_value_head(str(tmp_path))["v_head.summary.bias"].item() == 1.0


def test_a_lf_head_saved_in_bfloat16_loads_into_the_float32_head(tiny_llama, tmp_path):
    hidden = load(tiny_llama).config.hidden_size
    weight = torch.linspace(-1, 1, hidden).unsqueeze(0).to(torch.bfloat16)
    save_file({"v_head.summary.weight": weight, "v_head.summary.bias": torch.tensor([0.5], dtype=torch.bfloat16)},
              str(tmp_path / VALUE_HEAD_FILE))
    loaded = add_value_head(load(tiny_llama), str(tmp_path), required=True)
    assert loaded.v_head.summary.weight.dtype == torch.float32
    torch.testing.assert_close(loaded.v_head.summary.weight, weight.float())
    assert loaded.v_head.summary.bias.item() == 0.5


def test_no_head_is_fine_unless_required(tiny_llama, tmp_path):
    # not required: a fresh head, whether the folder is missing, absent or headless
    for folder in (None, str(tmp_path / "missing"), str(tiny_llama)):
        assert isinstance(add_value_head(load(tiny_llama), folder, required=False), ModelWithValueHead)
    with pytest.raises(ModelError, match="value_head.safetensors") as caught:
        add_value_head(load(tiny_llama), str(tiny_llama), required=True)
    assert str(tiny_llama) in str(caught.value)
    with pytest.raises(ModelError, match="value_head.safetensors"):
        add_value_head(load(tiny_llama), None, required=True)


def test_a_head_of_the_wrong_hidden_size_is_refused(tiny_llama, tmp_path):
    hidden = load(tiny_llama).config.hidden_size
    save_file({"v_head.summary.weight": torch.zeros(1, hidden * 2), "v_head.summary.bias": torch.zeros(1)},
              str(tmp_path / VALUE_HEAD_FILE))
    with pytest.raises(ModelError, match="does not fit"):
        add_value_head(load(tiny_llama), str(tmp_path), required=False)


def test_a_file_with_other_keys_is_refused(tiny_llama, tmp_path):
    hidden = load(tiny_llama).config.hidden_size
    save_file({"summary.weight": torch.zeros(1, hidden), "summary.bias": torch.zeros(1)},
              str(tmp_path / VALUE_HEAD_FILE))
    with pytest.raises(ModelError, match="does not hold a value head"):
        add_value_head(load(tiny_llama), str(tmp_path), required=False)


# ---------------------------------------------------------------- LoRA


def test_lora_model_saves_the_adapter_and_the_head(tiny_qwen2, tmp_path):
    wrapped = add_value_head(lora(load(tiny_qwen2)), None, required=False)
    with torch.no_grad():  # LoRA B starts at zero; make the adapter matter so restoring it is checked
        for name, parameter in wrapped.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)
    input_ids, attention_mask = batch(wrapped.config.vocab_size)
    with torch.no_grad():
        _, values = wrapped(input_ids=input_ids, attention_mask=attention_mask)
    assert values.shape == (2, 5) and values.dtype == torch.float32

    wrapped.save_pretrained(str(tmp_path))
    files = set(os.listdir(tmp_path))
    assert {"adapter_model.safetensors", "adapter_config.json", VALUE_HEAD_FILE} <= files
    assert "model.safetensors" not in files  # the adapter only, not the base weights
    with safe_open(str(tmp_path / VALUE_HEAD_FILE), framework="pt") as head:
        assert set(head.keys()) == LF_KEYS
    with safe_open(str(tmp_path / "adapter_model.safetensors"), framework="pt") as adapter:
        keys = list(adapter.keys())
    assert keys and all("lora_" in key for key in keys)
    assert not any("v_head" in key for key in keys)

    # the head comes back on a fresh LoRA model built from the adapter folder
    from peft import PeftModel

    restored = add_value_head(PeftModel.from_pretrained(load(tiny_qwen2), tmp_path), str(tmp_path), required=True)
    with torch.no_grad():
        _, restored_values = restored(input_ids=input_ids, attention_mask=attention_mask)
    torch.testing.assert_close(restored_values, values)
    with torch.no_grad(), restored.pretrained_model.disable_adapter():
        _, base_values = restored(input_ids=input_ids, attention_mask=attention_mask)
    assert not torch.allclose(base_values, values)  # the adapter did change the scores
