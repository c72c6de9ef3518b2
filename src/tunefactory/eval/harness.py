"""`tunefactory eval` with `eval_backend: lm_eval`: tasks of EleutherAI's lm-evaluation-harness on our model.

    config (model, data, finetuning, evaluation groups)
      -> the task names, checked against the harness's task index (+ the user's include_path) before the model loads
      -> each task's data, loaded before the model (an offline machine stops here, naming the dataset to download)
      -> tokenizer + template (installs the chat template) + model with its adapters, as the builtin evaluator
      -> lm_eval.simple_evaluate on the loaded model (HFLM wraps the instance; nothing is loaded twice)
      -> the harness's results table; results.json and results.log in save_dir

lm_eval is an optional dependency (`pip install 'tunefactory[eval]'`); it is imported only here.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DataError

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)

INSTALL_HINT = "eval_backend: lm_eval needs EleutherAI's lm-evaluation-harness: pip install 'tunefactory[eval]'"
# the parts of simple_evaluate's answer written to results.json (not the per-row samples)
SAVED_KEYS = ("results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better",
              "n-samples", "config")


def lm_eval_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("lm_eval") is not None


@functools.lru_cache(maxsize=4)
def task_manager(include_path: str | None):
    """The harness's task index (about ten seconds to build, so built once per include_path)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path)


def unknown_task_problems(tasks: list[str], include_path: str | None) -> list[str]:
    """One line per name that is neither a task, group or tag nor a pattern matching one, with close names."""
    manager = task_manager(include_path)
    known = manager.all_tasks
    problems = []
    for name in tasks:
        if name in known or manager.match_tasks([name]):
            continue
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
        hint = f"; close names: {', '.join(close)}" if close else ""
        where = f" or in include_path {include_path}" if include_path else ""
        problems.append(f"tasks: {name!r} is not a lm-evaluation-harness task{where}{hint} "
                        "(`lm-eval ls tasks` lists them)")
    return problems


def harness_problems(config: RunConfig) -> list[str]:
    """What stops an lm_eval run before anything loads: the harness missing, include_path missing, unknown tasks."""
    e = config.evaluation
    if not lm_eval_installed():
        return [INSTALL_HINT]
    if e.include_path and not Path(e.include_path).is_dir():
        return [f"include_path: {e.include_path} is not a folder (it should hold your task YAMLs)"]
    return unknown_task_problems(list(e.tasks or []), e.include_path)


def load_tasks(tasks: list[str], include_path: str | None) -> None:
    """Load each task's data now, so a dataset the machine lacks stops the run before the model loads, named."""
    manager = task_manager(include_path)
    for name in tasks:
        try:
            manager.load([name])
        except (ConnectionError, FileNotFoundError, OSError) as exc:
            raise DataError(missing_data_message(name, manager, exc)) from exc
        except Exception as exc:  # datasets' own errors (DatasetNotFoundError, ...) are no OSError
            if type(exc).__module__.startswith("datasets") or "offline" in str(exc).lower():
                raise DataError(missing_data_message(name, manager, exc)) from exc
            raise


def missing_data_message(name: str, manager, exc: Exception) -> str:
    entry = manager.task_index.get(name)
    cfg = getattr(entry, "cfg", None) or {}
    dataset = cfg.get("dataset_path")
    if dataset:
        subset = f" (subset {cfg['dataset_name']})" if cfg.get("dataset_name") else ""
        what = (f"download the Hugging Face dataset {dataset}{subset} into the datasets cache on a machine online "
                f"(datasets.load_dataset({dataset!r}{', ' + repr(cfg['dataset_name']) if subset else ''})) "
                "and copy the cache here, or unset HF_DATASETS_OFFLINE")
    else:
        what = ("download the datasets its subtasks name (their dataset_path in the harness's task YAMLs) "
                "into the datasets cache, or unset HF_DATASETS_OFFLINE")
    return f"lm_eval task {name!r}: its data is not available ({type(exc).__name__}: {exc}); {what}"


def run_harness(config: RunConfig) -> dict:
    """Run the tasks on the model; print the harness's table and, with save_dir, write the results.
    Returns simple_evaluate's answer (with the per-row samples)."""
    from .evaluator import eval_problems, load_model_to_score

    e = config.evaluation
    problems = eval_problems(config)
    if problems:
        raise ConfigError(problems)
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.utils import make_table

    tasks = list(e.tasks)
    load_tasks(tasks, e.include_path)
    tokenizer, _, model = load_model_to_score(config)
    harness_model = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=e.batch_size)
    limit = int(e.limit) if e.limit is not None and e.limit >= 1 else e.limit
    results = lm_eval.simple_evaluate(
        model=harness_model, tasks=tasks, num_fewshot=e.num_fewshot, limit=limit,
        task_manager=task_manager(e.include_path), apply_chat_template=e.apply_chat_template, log_samples=True,
        random_seed=e.seed, numpy_random_seed=e.seed, torch_random_seed=e.seed, fewshot_random_seed=e.seed,
    )
    table = make_table(results)
    if results.get("groups"):
        table += "\n" + make_table(results, "groups")
    print(table)
    if e.save_dir:
        save_results(Path(e.save_dir), tasks, results, table)
    return results


def save_results(save_dir: Path, tasks: list[str], results: dict, table: str) -> None:
    """results.json (the harness's scores and task configs, without per-row samples) and results.log (the table)."""
    from lm_eval.utils import handle_non_serializable

    save_dir.mkdir(parents=True, exist_ok=False)  # checked before loading too: results are never overwritten
    summary = {"backend": "lm_eval", "tasks": tasks, **{key: results[key] for key in SAVED_KEYS if key in results}}
    text = json.dumps(summary, indent=2, ensure_ascii=False, default=handle_non_serializable)
    (save_dir / "results.json").write_text(text + "\n", encoding="utf-8")
    (save_dir / "results.log").write_text(table + "\n", encoding="utf-8")
    logger.info("results written to %s", save_dir)
