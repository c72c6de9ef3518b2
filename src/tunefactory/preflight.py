"""Everything a command refuses, checked before anything loads, in one list per command.

`train`, `chat`, `webchat`, `api`, `export`, `eval` and `predict` call ``check_before_loading`` right after parsing;
`tunefactory validate --command NAME` prints the same list, so a config that validates is one the
command will start (the model's own structure, e.g. ``lora_target`` names, is checked when it loads).
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import TYPE_CHECKING

from .config.stages import get_stage
from .errors import ConfigError

if TYPE_CHECKING:
    from .config.run_config import RunConfig

COMMANDS = ("train", "chat", "webchat", "api", "export", "eval", "predict")


def command_problems(config: RunConfig, command: str, environ=None) -> list[str]:
    """Every problem `command` would stop on with this config, this environment and this machine."""
    from .data.template import check_template_args
    from .env_flags import env_flag

    env = os.environ if environ is None else environ
    problems = []
    try:
        check_template_args(config.data)
    except ConfigError as exc:
        problems += exc.problems
    problems += [f"this machine cannot run it: {note}" for note in config.environment_notes]
    if command == "train":
        from .train.outputs import output_dir_problems

        problems += output_dir_problems(config.training)
        stage = get_stage(config.finetuning.stage)
        if stage.preflight:
            module_name, function_name = stage.preflight.split(":")
            problems += getattr(import_module(module_name), function_name)(config)
        if env_flag("USE_RAY"):
            from .train.ray_train import ray_problems

            problems += ray_problems(config)
    elif command == "export":
        from .export.merge import export_problems

        problems += export_problems(config)
    elif command == "eval":
        from .eval.evaluator import eval_problems

        problems += eval_problems(config)
    elif command == "predict":
        from .eval.predict import prediction_problems

        problems += prediction_problems(config)
    elif command in ("chat", "webchat", "api"):
        from .infer.chat_model import inference_problems

        problems += inference_problems(config)
        if command == "api":
            from .api.server import port_problems

            problems += port_problems(env.get("API_PORT", "8000"))
            media_dir = env.get("API_MEDIA_DIR")
            if media_dir and not os.path.isdir(media_dir):
                problems.append(f"API_MEDIA_DIR={media_dir!r} is not a folder: set it to the folder whose images "
                                "requests may name, or unset it (data: URLs only)")
    return list(dict.fromkeys(problems))


def check_before_loading(config: RunConfig, command: str) -> None:
    problems = command_problems(config, command)
    if problems:
        raise ConfigError(problems)
