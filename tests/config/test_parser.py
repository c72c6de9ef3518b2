"""Parsing a config: sources, overrides, unknown keys, bad values, aliases — all reported at once."""

import json

import pytest
import yaml

from tunefactory.config import parse_args, parse_dict, save_run_config
from tunefactory.errors import ConfigError

BASE = {
    "model_name_or_path": "/nowhere/model",  # never loaded: parsing touches no model
    "stage": "sft",
    "do_train": True,
    "finetuning_type": "lora",
    "dataset": "alpaca_demo",
    "template": "llama3",
    "output_dir": "out",
}


def problems_of(mapping) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_dict(mapping)
    return info.value.problems


def test_valid_config_is_typed_and_split_into_groups():
    config = parse_dict({**BASE, "learning_rate": "1e-4", "lora_target": "q_proj,v_proj", "dataset": "a,b"})
    assert config.training.learning_rate == pytest.approx(1e-4)
    assert config.finetuning.lora_target == ["q_proj", "v_proj"]
    assert config.data.dataset == ["a", "b"]
    assert config.model.model_name_or_path == "/nowhere/model"
    assert config.finetuning.lora_rank == 8  # LLaMA-Factory's default


def test_misspelled_key_names_the_right_one():
    (problem,) = problems_of({**BASE, "learnig_rate": 1e-4})
    assert "unknown key 'learnig_rate'" in problem
    assert "learning_rate" in problem.split("did you mean")[1]


def test_wrong_type_and_bad_choice_name_key_value_and_choices():
    problems = problems_of({**BASE, "lora_rank": "eight", "finetuning_type": "qlora"})
    assert len(problems) == 2
    rank, method = sorted(problems)
    assert rank.startswith("finetuning_type") or method.startswith("finetuning_type")
    joined = "\n".join(problems)
    assert "lora_rank" in joined and "'eight'" in joined and "integer" in joined
    assert "'qlora'" in joined and "['lora', 'oft', 'freeze', 'full']" in joined


def test_all_problems_are_reported_together():
    problems = problems_of({**BASE, "learnig_rate": 1, "num_train_epochs": "many", "stage": "sfft", "colour": "red"})
    assert len(problems) == 4
    assert any("learnig_rate" in p for p in problems)
    assert any("num_train_epochs" in p and "'many'" in p for p in problems)
    assert any("stage" in p and "'sfft'" in p for p in problems)
    assert any("colour" in p for p in problems)


def test_message_names_the_file_a_bad_value_came_from(write_yaml):
    path = write_yaml({**BASE, "lora_rank": "x"})
    with pytest.raises(ConfigError, match=f"lora_rank \\(set in {path}\\)"):
        parse_args([str(path)])


def test_command_line_overrides_win_in_order(write_yaml):
    path = write_yaml({**BASE, "learning_rate": 5e-5, "num_train_epochs": 3})
    config = parse_args([str(path), "learning_rate=1e-4", "--num_train_epochs", "2", "--learning_rate=2e-4"])
    assert config.training.learning_rate == pytest.approx(2e-4)
    assert config.training.num_train_epochs == 2.0
    assert config.user_keys["learning_rate"] == "the command line"
    assert config.user_keys["stage"] == str(path)


def test_llamafactory_command_line_style_with_bare_flags():
    argv = ["--stage", "sft", "--do_train", "--model_name_or_path", "m", "--dataset", "alpaca_demo",
            "--finetuning_type", "lora", "--output_dir", "out", "--plot_loss", "--lora_rank", "16"]
    config = parse_args(argv)
    assert config.training.do_train is True
    assert config.finetuning.plot_loss is True
    assert config.finetuning.lora_rank == 16


def test_json_config_and_later_file_wins(tmp_path, write_yaml):
    first = write_yaml(BASE)
    second = tmp_path / "override.json"
    second.write_text(json.dumps({"lora_rank": 32}))
    assert parse_args([str(first), str(second)]).finetuning.lora_rank == 32


def test_yaml_syntax_error_names_file_and_line(write_yaml):
    path = write_yaml("stage: sft\nlearning_rate: [1e-4\nlora_rank: 8\n")
    with pytest.raises(ConfigError, match=f"{path}: line \\d+, column \\d+: invalid YAML"):
        parse_args([str(path)])


def test_missing_config_file_and_stray_argument():
    with pytest.raises(ConfigError) as info:
        parse_args(["missing.yaml", "stray"])
    assert any("'missing.yaml' does not exist" in p for p in info.value.problems)
    assert any("'stray'" in p for p in info.value.problems)


def test_top_level_must_be_a_mapping(write_yaml):
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        parse_args([str(write_yaml("- a\n- b\n"))])


def test_deprecated_key_is_translated_with_a_warning():
    config = parse_dict({**BASE, "evaluation_strategy": "steps", "eval_steps": 10, "val_size": 0.1})
    assert config.training.eval_strategy.value == "steps"
    assert any("evaluation_strategy is deprecated, use eval_strategy" in w for w in config.warnings)


def test_warmup_ratio_becomes_fractional_warmup_steps():
    config = parse_dict({**BASE, "warmup_ratio": 0.1})
    assert config.training.warmup_steps == pytest.approx(0.1)
    assert any("warmup_ratio" in w and "warmup_steps" in w for w in config.warnings)
    assert "warmup_ratio" in problems_of({**BASE, "warmup_ratio": 1.5})[0]


def test_old_and_new_spelling_together_is_an_error():
    (problem,) = problems_of({**BASE, "evaluation_strategy": "no", "eval_strategy": "no"})
    assert "evaluation_strategy and eval_strategy are the same setting" in problem


def test_removed_keys_warn_when_harmless_and_fail_when_not():
    config = parse_dict({**BASE, "save_safetensors": True, "include_tokens_per_second": True})
    assert any("save_safetensors was removed in transformers 5" in w for w in config.warnings)
    (problem,) = problems_of({**BASE, "save_safetensors": False})
    assert "save_safetensors" in problem and "always saves safetensors" in problem


def test_renamed_value_is_translated():
    config = parse_dict({**BASE, "quantization_bit": 4, "quantization_method": "bitsandbytes"})
    assert config.model.quantization_method == "bnb"
    assert any("quantization_method: bitsandbytes is deprecated" in w for w in config.warnings)


def test_unsupported_feature_is_rejected_only_when_enabled():
    parse_dict({**BASE, "use_kt": False})
    (problem,) = problems_of({**BASE, "use_kt": True})
    assert "use_kt" in problem and "not supported by TuneFactory" in problem


def test_bf16_without_a_bf16_device_is_a_machine_note_not_an_error():
    config = parse_dict({**BASE, "bf16": True})
    assert config.training.bf16 is True  # the user's setting is kept as written
    import torch

    if not torch.cuda.is_available():
        assert any(note.startswith("bf16: true needs a GPU") for note in config.environment_notes)


def test_saved_run_config_reproduces_the_run(tmp_path, write_yaml):
    config = parse_args([str(write_yaml({**BASE, "warmup_ratio": 0.1})), "lora_rank=4", "--dataset", "a,b"])
    path = save_run_config(config, tmp_path / "run")
    assert path.name == "training_args.yaml"
    saved = yaml.safe_load(path.read_text())
    assert saved["lora_rank"] == 4 and saved["dataset"] == ["a", "b"] and saved["warmup_steps"] == 0.1
    again = parse_args([str(path)])
    assert again.finetuning.lora_rank == 4
    assert again.data.dataset == ["a", "b"]
    assert again.training.warmup_steps == pytest.approx(0.1)
    assert not again.warnings  # the saved file already uses current key names


def test_a_file_key_naming_no_file_is_a_config_error_naming_the_key():
    # found by tests/config/test_fuzz_configs.py: transformers opens a string accelerator_config as a JSON file
    (problem,) = problems_of({**BASE, "accelerator_config": "0"})
    assert problem.startswith("accelerator_config: '0' is not a readable file")
