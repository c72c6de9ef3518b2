"""The `tunefactory` command as a user runs it: exit codes, what it prints, what it refuses."""

import os
import subprocess
import sys

import pytest
import yaml

import tunefactory
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

GOOD = {
    "model_name_or_path": "/nowhere/model",
    "stage": "sft",
    "do_train": True,
    "finetuning_type": "lora",
    "dataset": "alpaca_demo",
    "template": "llama3",
    "output_dir": "out",
    "learning_rate": 1.0e-4,
}


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "tunefactory.cli", *map(str, args)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def test_help_lists_only_working_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("train", "validate", "data", "template", "chat", "api", "webchat", "webui", "export", "eval",
                    "predict", "env", "version", "help"):
        assert f"  {command}" in result.stdout


def test_webui_help_and_bad_arguments_load_nothing():
    result = run_cli("webui", "--help")
    assert result.returncode == 0 and "--saves_dir" in result.stdout and "127.0.0.1" in result.stdout
    result = run_cli("webui", "--port", "80")
    assert result.returncode != 0 and "unexpected argument '--port'" in result.stderr


def test_version():
    result = run_cli("version")
    assert result.returncode == 0 and result.stdout.strip() == tunefactory.__version__


def test_env_prints_versions_devices_and_optional_packages():
    import torch
    import transformers

    result = run_cli("env")
    assert result.returncode == 0
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.strip())
    assert lines["torch"] == torch.__version__
    assert lines["transformers"] == transformers.__version__
    for name in ("python", "datasets", "accelerate", "peft", "trl", "devices"):
        assert name in lines
    assert "cpu (" in lines["devices"]
    assert "deepspeed" in result.stdout and "bitsandbytes" in result.stdout


def test_train_help_lists_arguments_with_help_and_default():
    result = run_cli("train", "-h")
    assert result.returncode == 0
    out = result.stdout
    assert "--lora_rank <int>" in out and "(default: 8)" in out
    assert "--learning_rate <float>" in out
    assert "--cutoff_len <int>" in out and "(default: 2048)" in out
    assert "Choices: pt, sft, rm, ppo, dpo, kto, grpo." in " ".join(out.split())  # help text is wrapped


def test_misspelled_key_exits_nonzero_and_names_the_right_key(write_yaml):
    config = dict(GOOD)
    config["learnig_rate"] = config.pop("learning_rate")
    result = run_cli("validate", write_yaml(config))
    assert result.returncode == 1
    assert "unknown key 'learnig_rate'" in result.stderr and "learning_rate" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_reports_every_problem_at_once(write_yaml):
    bad = {**GOOD, "learnig_rate": 1, "lora_rank": "eight", "stage": "dpo", "predict_with_generate": True,
           "mask_history": True, "train_on_prompt": True}
    result = run_cli("validate", write_yaml(bad))
    assert result.returncode == 1
    assert "invalid configuration (2 problems)" in result.stderr  # type/key problems first ...
    result = run_cli("validate", write_yaml({**GOOD, "stage": "dpo", "predict_with_generate": True,
                                             "mask_history": True, "train_on_prompt": True}))
    assert result.returncode == 1
    assert "(4 problems)" in result.stderr  # ... and every combination problem together
    for key in ("predict_with_generate", "mask_history", "train_on_prompt"):
        assert key in result.stderr


def test_validate_prints_resolved_config_and_loads_nothing(write_yaml):
    # model_name_or_path does not exist: validation must not try to load it.
    result = run_cli("validate", write_yaml({**GOOD, "warmup_ratio": 0.1}), "lora_rank=16")
    assert result.returncode == 0, result.stderr
    body = result.stdout.split("\n", 1)[1].split("\nwarning")[0]
    printed = yaml.safe_load(body)
    assert printed["finetuning"]["lora_rank"] == 16
    assert printed["training"]["warmup_steps"] == 0.1
    assert "warning: warmup_ratio is deprecated" in result.stdout
    assert "config OK" in result.stdout


def test_debug_switch_shows_the_traceback(write_yaml):
    path = write_yaml({**GOOD, "lora_rank": "x"})
    assert "Traceback" not in run_cli("validate", path).stderr
    result = run_cli("train", path, "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_unknown_command_lists_commands():
    result = run_cli("trian")
    assert result.returncode == 2
    assert "unknown command 'trian'" in result.stderr and "validate" in result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["version"]])
def test_light_commands_do_not_import_the_ml_stack(argv):
    code = ("import sys; from tunefactory.cli import main; main(%r); "
            "print('heavy' if {'torch', 'transformers'} & set(sys.modules) else 'light')" % argv)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith("light")


def test_template_list_and_sample():
    listed = run_cli("template", "--list")
    assert listed.returncode == 0
    assert "qwen3_nothink" in listed.stdout and "Llama 3, 3.1" in listed.stdout
    assert "differs: The system prompt is followed by a space" in listed.stdout  # vicuna's note, under its name
    sample = run_cli("template", "llama3")
    assert sample.returncode == 0
    assert ("----- PROMPT 1 -----\n<BOS><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting"
            in sample.stdout)
    assert '----- RESPONSE 1 -----\n{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>' in sample.stdout


def test_template_from_tokenizer_names_the_matching_template(tiny_qwen2, tmp_path):
    from transformers import AutoTokenizer

    from tunefactory.data.template import TEMPLATES, to_jinja

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2)
    tokenizer.chat_template = to_jinja(TEMPLATES["qwen"], "", tokenizer.eos_token)
    tokenizer.save_pretrained(tmp_path / "qwen")
    found = run_cli("template", "--from-tokenizer", str(tmp_path / "qwen"))
    assert (found.returncode, found.stdout.strip()) == (0, "qwen")
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    tokenizer.save_pretrained(tmp_path / "own")
    unknown = run_cli("template", "--from-tokenizer", str(tmp_path / "own"))
    assert unknown.returncode == 1 and "no registered template renders like" in unknown.stdout


def test_template_shows_a_configs_examples_as_training_sees_them(tiny_qwen2, tmp_path):
    result = run_cli("template", f"model_name_or_path={tiny_qwen2}", "dataset=sharegpt_tools",
                     f"dataset_dir={REPO_ROOT / 'data'}", "template=qwen", "stage=sft", "do_train=true",
                     f"output_dir={tmp_path / 'out'}", "--show", "1", "--ids")
    assert result.returncode == 0, result.stderr
    assert "===== example 0 (template 'qwen') =====" in result.stdout
    assert "<|im_start|>system\n" in result.stdout and "<tool_response>" in result.stdout
    assert not (tmp_path / "out").exists()  # looking writes nothing


def test_unknown_template_is_refused_before_loading_anything(write_yaml):
    config = write_yaml({**GOOD, "template": "lama3"})
    result = run_cli("validate", config)
    assert result.returncode == 1
    assert "unknown template 'lama3' (did you mean llama3" in result.stderr


def test_data_tokenized_shows_what_the_model_sees(tiny_qwen2, tmp_path):
    result = run_cli("data", f"model_name_or_path={tiny_qwen2}", "dataset=alpaca_demo", "template=qwen",
                     f"dataset_dir={REPO_ROOT / 'data'}", "stage=sft", "do_train=true", "cutoff_len=256",
                     "neat_packing=true", f"output_dir={tmp_path / 'out'}", "--show", "1", "--tokenized")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "train: 300 of 300 examples encoded (supervised); packed into" in out
    assert "example input_ids (" in out and "example label_ids:" in out
    # The label text masks the packed examples' prompts and keeps their answers.
    labels = out.split("example labels:\n")[1].split("\n")[0]
    assert labels.startswith("[-100 x ") and "<|im_end|>" in labels
    assert "packed examples in this row:" in out
    assert not (tmp_path / "out").exists()


def test_data_tokenized_counts_examples_truncation_empties(tiny_qwen2, tmp_path, write_yaml):
    rows = [{"instruction": "q" * 40 + str(i), "output": "answer"} for i in range(10)]
    (tmp_path / "rows.json").write_text(__import__("json").dumps(rows))
    (tmp_path / "dataset_info.json").write_text('{"rows": {"file_name": "rows.json"}}')
    config = write_yaml({"model_name_or_path": str(tiny_qwen2), "dataset": "rows", "dataset_dir": str(tmp_path),
                         "template": "qwen", "stage": "sft", "do_train": True, "output_dir": str(tmp_path / "o"),
                         "cutoff_len": 1, "train_on_prompt": False})
    result = run_cli("data", config, "--tokenized")
    assert result.returncode == 1
    assert "no example is left to train on" in result.stderr
    assert "no answer token left to learn from after truncation to cutoff_len=1" in result.stderr
