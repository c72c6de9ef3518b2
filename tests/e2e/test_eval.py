"""`tunefactory eval` as a user runs it: a LLaMA-Factory eval config in, results.json and results.log out."""

import json
import os
import subprocess
import sys

import yaml

from tunefactory_fixtures.benchmarks import ROWS, write_benchmark


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tunefactory.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})


def test_eval_writes_results_and_refuses_to_overwrite_them(tiny_llama, tmp_path):
    write_benchmark(tmp_path / "evaluation", "ceval", zipped=True)
    config = tmp_path / "eval.yaml"
    config.write_text(yaml.safe_dump({
        "model_name_or_path": str(tiny_llama), "template": "fewshot", "finetuning_type": "lora",
        "task": "ceval_validation", "lang": "zh", "n_shot": 2, "batch_size": 2, "seed": 42,
        "download_mode": "force_redownload", "save_dir": "saves/eval",
    }), encoding="utf-8")  # task_dir is left at its default, evaluation/, beside the working folder

    result = run_cli("eval", config, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("        Average: ")
    saved = json.loads((tmp_path / "saves" / "eval" / "results.json").read_text(encoding="utf-8"))
    assert saved["task"] == "ceval_validation"
    for key, rows in ROWS.items():
        assert len(saved["subjects"][key]["predictions"]) == len(rows["val"])
        assert set(saved["subjects"][key]["predictions"]) <= set("ABCD")
    log = (tmp_path / "saves" / "eval" / "results.log").read_text(encoding="utf-8")
    assert log == result.stdout
    assert "STEM: " in log and "Humanities: " in log and "抽象代数" in log

    again = run_cli("eval", config, cwd=tmp_path)
    assert again.returncode == 1
    assert "refused: would overwrite" in again.stderr and "Loading weights" not in again.stderr


def test_eval_help_lists_its_arguments():
    result = run_cli("eval", "-h")
    assert result.returncode == 0
    for key in ("--task ", "--task_dir ", "--n_shot ", "--lang ", "--save_dir ", "--model_name_or_path "):
        assert key in result.stdout
    assert "--learning_rate " not in result.stdout


def test_validate_reports_what_eval_would_refuse(tiny_llama, tmp_path):
    (tmp_path / "saves").mkdir()
    result = run_cli("validate", "--command", "eval", f"model_name_or_path={tiny_llama}", "task=cmmlu_test",
                     f"task_dir={tmp_path / 'nowhere'}", cwd=tmp_path)
    assert result.returncode == 1 and "cmmlu/mapping.json not found" in result.stderr
    result = run_cli("validate", "--command", "eval", f"model_name_or_path={tiny_llama}", "task=ceval_test",
                     "save_dir=saves", cwd=tmp_path)
    assert result.returncode == 1
    assert "refused: would overwrite" in result.stderr


def test_a_random_model_scores_near_chance_and_the_trained_skill_clearly_above(tiny_llama, tmp_path):
    """200 held-out questions of the bundled multiple-choice skill (`choice_train`), scored 0-shot."""
    from tunefactory.config import parse_dict
    from tunefactory.eval.evaluator import run_eval
    from tunefactory.train.run import run_train
    from tunefactory_fixtures.benchmarks import write_choice_benchmark

    write_choice_benchmark(tmp_path / "evaluation")

    def accuracy(model, name):
        run_eval(parse_dict({"model_name_or_path": str(model), "template": "fewshot", "task": "mmlu_test",
                             "task_dir": str(tmp_path / "evaluation"), "n_shot": 0, "batch_size": 16,
                             "save_dir": str(tmp_path / name)}, command="eval"))
        saved = json.loads((tmp_path / name / "results.json").read_text(encoding="utf-8"))
        assert saved["subjects"]["word_categories"]["total"] == 200
        return saved["scores"]["Average"]

    before = accuracy(tiny_llama, "before")
    assert 15 <= before <= 40, f"an untrained model should guess (about 25%), it scored {before}%"
    data_dir = os.path.join(os.path.dirname(__file__), "..", "..", "data")
    run_train(parse_dict({
        "model_name_or_path": str(tiny_llama), "do_train": True, "finetuning_type": "full", "template": "fewshot",
        "dataset": "choice_train", "dataset_dir": data_dir, "cutoff_len": 96, "per_device_train_batch_size": 16,
        "num_train_epochs": 3, "learning_rate": 3e-3, "lr_scheduler_type": "cosine", "warmup_ratio": 0.05,
        "save_strategy": "no", "output_dir": str(tmp_path / "trained"), "report_to": "none", "use_cpu": True,
        "seed": 0, "logging_steps": 50}, command="train"))
    after = accuracy(tmp_path / "trained", "after")
    print(f"choice skill, 200 held-out questions: untrained {before}%, trained {after}%")
    assert after >= 90 and after >= before + 50, (before, after)
