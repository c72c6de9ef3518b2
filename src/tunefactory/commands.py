"""The subcommands `cli.py` dispatches to. Each takes the arguments after its name."""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("tunefactory")

HELP_FLAGS = ("-h", "--help")


def version(argv: list[str]) -> int:
    from . import __version__

    print(__version__)
    return 0


def env(argv: list[str]) -> int:
    from .env_report import format_environment

    print(format_environment())
    return 0


def help_command(argv: list[str]) -> int:
    from .cli import COMMANDS, usage

    if argv and argv[0] in ("train", "validate"):
        return _print_arguments("train")
    if argv and argv[0] in COMMANDS:
        print(f"tunefactory {argv[0]}: {COMMANDS[argv[0]][1]}")
        return 0
    print(usage())
    return 0


def validate(argv: list[str]) -> int:
    """Parse and check a config as `train` would; print the resolved values and every problem. Loads nothing."""
    if any(flag in argv for flag in HELP_FLAGS):
        return _print_arguments("train", intro="tunefactory validate: checks a training config; it takes the same arguments as train.")
    show_all = "--all" in argv
    argv = [a for a in argv if a != "--all"]
    if not argv:
        print("usage: tunefactory validate config.yaml [key=value ...] [--all]", file=sys.stderr)
        return 2

    from .config import parse_args
    from .config.reference import render_config
    from .errors import ConfigError

    try:
        config = parse_args(argv, command="train")
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(render_config(config, show_all=show_all))
    return 0


def train(argv: list[str]) -> int:
    if not argv or any(flag in argv for flag in HELP_FLAGS):
        return _print_arguments("train")
    from .config import parse_args
    from .errors import TuneFactoryError

    config = parse_args(argv, command="train")
    for message in config.warnings:
        logger.warning(message)
    if config.environment_notes:
        raise TuneFactoryError("this machine cannot run the config as written:\n  - " + "\n  - ".join(config.environment_notes))
    raise TuneFactoryError(
        f"the configuration is valid, but this TuneFactory version ({_version()}) does not run training "
        f"stages yet (stage {config.finetuning.stage!r}). `tunefactory validate` prints what was parsed."
    )


def _version() -> str:
    from . import __version__

    return __version__


def _print_arguments(command: str, intro: str | None = None) -> int:
    from .config.reference import arguments_help

    if intro:
        print(intro + "\n")
    print(arguments_help(command))
    return 0
