"""Incompatible combinations: one clear message each, all reported together."""

import pytest

from tunefactory.config import parse_dict
from tunefactory.errors import ConfigError

BASE = {"model_name_or_path": "m", "stage": "sft", "do_train": True, "dataset": "alpaca_demo", "output_dir": "out"}


def problems_of(**overrides) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_dict({**BASE, **overrides})
    return info.value.problems


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"stage": "dpo", "predict_with_generate": True}, "predict_with_generate only works with stage: sft"),
        ({"do_predict": True, "eval_dataset": "arith_test"}, "set predict_with_generate: true"),
        ({"quantization_bit": 4, "finetuning_type": "full"}, "use finetuning_type: lora (QLoRA), not 'full'"),
        ({"quantization_bit": 4, "finetuning_type": "oft"}, "use finetuning_type: lora (QLoRA), not 'oft'"),
        ({"stage": "rm", "packing": True}, "packing only works with stage: pt or sft"),
        ({"stage": "dpo", "neat_packing": True}, "neat_packing only works with stage: sft"),
        ({"stage": "ppo"}, "stage: ppo needs reward_model"),
        ({"stage": "ppo", "reward_model": "rm", "finetuning_type": "full"}, "reward_model_type: lora needs finetuning_type: lora"),
        ({"stage": "dpo", "pref_loss": "hinge", "dpo_label_smoothing": 0.1}, "dpo_label_smoothing only works with pref_loss: sigmoid"),
        ({"stage": "dpo", "pref_loss": "simpo", "pref_bco_weight": 0.5}, "pref_bco_weight needs a reference model"),
        ({"stage": "kto", "ld_alpha": 0.5}, "ld_alpha (LD-DPO) only works with stage: dpo"),
        ({"finetuning_type": "full", "use_dora": True}, "use_dora only works with finetuning_type: lora"),
        ({"finetuning_type": "freeze", "adapter_name_or_path": "a"}, "adapter_name_or_path only works with finetuning_type: lora or oft"),
        ({"finetuning_type": "full", "create_new_adapter": True}, "create_new_adapter only works with finetuning_type: lora or oft"),
        ({"finetuning_type": "oft", "use_dora": True}, "use_dora only works with finetuning_type: lora"),
        ({"quantization_bit": 3}, "quantization_bit for bitsandbytes must be 4 or 8"),
        ({"quantization_bit": 4, "adapter_name_or_path": "a,b"}, "a quantized model takes a single adapter"),
        ({"val_size": 0.1, "eval_dataset": "arith_test"}, "val_size and eval_dataset both define the evaluation data"),
        ({"val_size": 2.5}, "val_size must be a fraction in [0, 1) or a whole number"),
        ({"interleave_probs": "0.5,0.5"}, "interleave_probs needs mix_strategy"),
        ({"mix_strategy": "interleave_under", "interleave_probs": "1.0"}, "interleave_probs has 1 values for 2 datasets"),
        ({"streaming": True}, "streaming datasets have no length: set max_steps"),
        ({"streaming": True, "max_steps": 10, "max_samples": 5}, "max_samples does not work with streaming"),
        ({"mask_history": True, "train_on_prompt": True}, "mask_history and train_on_prompt cannot be combined"),
        ({"neat_packing": True, "packing": False}, "it cannot be combined with packing: false"),
        ({"dataset": None}, "do_train needs training data"),
        ({"do_eval": True}, "needs eval_dataset or val_size"),
        ({"predict_with_generate": True, "compute_accuracy": True, "eval_dataset": "arith_test"},
         "predict_with_generate and compute_accuracy cannot be combined"),
        ({"model_name_or_path": None}, "model_name_or_path is required"),
        ({"finetuning_type": "oft", "oft_rank": 4}, "with oft_rank set, set oft_block_size: 0"),
        ({"finetuning_type": "oft", "oft_block_size": 0}, "takes either oft_rank or oft_block_size, not both and not neither"),
        ({"infer_backend": "vllm"}, "infer_backend: vllm is for chat/api only"),
        ({"use_dft_loss": True, "use_asft_loss": True}, "use_dft_loss and use_asft_loss are alternative sft losses"),
        ({"use_eaft_loss": True, "eaft_alpha": -1.0}, "eaft_alpha must be 0 or more"),
        ({"stage": "rm", "use_eaft_loss": True}, "use_eaft_loss"),
        ({"stage": "ppo", "reward_model": "rm", "use_muon": True}, "use_muon works with stages pt, sft, rm, dpo, kto, not ppo"),
        ({"use_muon": True, "use_adam_mini": True}, "use_adam_mini and use_muon each choose the optimizer: set one"),
        ({"use_galore": True}, "use_galore works with finetuning_type: full or freeze"),  # the base config is LoRA
        ({"use_galore": True, "finetuning_type": "full", "optim": "sgd"},
         "use_galore runs in place of optim: adamw_torch, adamw_torch_fused, adafactor"),
        ({"use_apollo": True, "finetuning_type": "full", "apollo_layerwise": True, "gradient_accumulation_steps": 2},
         "apollo_layerwise steps each weight as soon as its gradient is ready: it needs gradient_accumulation_steps: 1"),
        ({"use_apollo": True, "finetuning_type": "full", "apollo_scale_front": True}, "apollo_scale_front is not passed on"),
        ({"use_llama_pro": True, "finetuning_type": "full"}, "use_llama_pro trains only the expanded blocks"),
        ({"use_badam": True}, "use_badam updates whole decoder layers in turn: use finetuning_type: full"),
        ({"image_do_pan_and_scan": True, "template": "qwen2_vl"},
         "image_do_pan_and_scan crops images for Gemma 3 (template: gemma3); template qwen2_vl does not take it"),
        ({"use_badam": True, "finetuning_type": "full", "badam_mode": "ratio", "badam_update_ratio": 1.5},
         "badam_update_ratio is the share of each weight's entries updated: between 0 and 1, not 1.5"),
    ],
)
def test_incompatible_combination_has_its_own_message(overrides, expected):
    if overrides.get("mix_strategy") == "interleave_under":
        overrides = {**overrides, "dataset": "a,b"}
    problems = problems_of(**overrides)
    assert any(expected in p for p in problems), problems


def test_several_rule_violations_are_reported_at_once():
    problems = problems_of(stage="dpo", predict_with_generate=True, quantization_bit=4, finetuning_type="full",
                           mask_history=True, train_on_prompt=True)
    assert len(problems) >= 3


def test_valid_combinations_pass():
    parse_dict({**BASE, "stage": "pt", "packing": True})
    parse_dict({**BASE, "do_predict": True, "predict_with_generate": True, "eval_dataset": "arith_test"})
    parse_dict({**BASE, "quantization_bit": 4})
    parse_dict({**BASE, "val_size": 100, "do_eval": True})
    parse_dict({**BASE, "streaming": True, "max_steps": 10, "val_size": 50})
