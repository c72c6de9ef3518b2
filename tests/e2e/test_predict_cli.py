"""`tunefactory predict` as a user of LLaMA-Factory's scripts/vllm_infer.py runs it: the same --key value arguments."""

import json
import os
import subprocess
import sys
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tunefactory.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})


def test_vllm_infer_arguments_write_predictions_and_scores(tiny_llama, tmp_path):
    arguments = ["--model_name_or_path", tiny_llama, "--template", "llama3", "--dataset", "alpaca_demo",
                 "--dataset_dir", DATA_DIR, "--max_samples", "3", "--max_new_tokens", "4", "--batch_size", "2",
                 "--save_name", "preds/generated_predictions.jsonl", "--matrix_save_name", "preds/scores.json"]
    result = run_cli("predict", *arguments, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "preds" / "generated_predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert [set(json.loads(line)) for line in lines] == [{"prompt", "predict", "label"}] * 3
    scores = json.loads((tmp_path / "preds" / "scores.json").read_text(encoding="utf-8"))
    assert set(scores) == {"predict_bleu-4", "predict_rouge-1", "predict_rouge-2", "predict_rouge-l", "predict_samples"}
    assert result.stdout.startswith("3 predictions in preds/generated_predictions.jsonl\npredict_bleu-4: ")


def test_validate_reports_what_predict_would_refuse(tiny_llama, tmp_path):
    (tmp_path / "out").mkdir()
    result = run_cli("validate", "--command", "predict", f"model_name_or_path={tiny_llama}", "save_name=out",
                     "streaming=true", cwd=tmp_path)
    assert result.returncode == 1
    assert "save_name: out is a folder; name a file" in result.stderr
    assert "set eval_dataset (or dataset)" in result.stderr and "set streaming: false" in result.stderr


def test_predict_help_lists_its_arguments():
    result = run_cli("predict", "-h")
    assert result.returncode == 0
    for key in ("--save_name ", "--matrix_save_name ", "--batch_size ", "--max_new_tokens ", "--dataset "):
        assert key in result.stdout
    assert "--learning_rate " not in result.stdout
