"""The `tunefactory` command: one subcommand per job, imported only when used so --help is instant.

    tunefactory <command> [config.yaml ...] [key=value ...] [--key value ...]
"""

from __future__ import annotations

import logging
import sys
from importlib import import_module

from .config.stages import STAGE_NAMES
from .env_flags import env_flag

USAGE = """\
usage: tunefactory <command> [config.yaml|config.json ...] [key=value ...] [--key value ...]

Commands:
{commands}
A command reads its config files and overrides in order; later values win.
`tunefactory <command> -h` lists every argument with its help and default.
Add --debug (or set TUNEFACTORY_DEBUG=1) to see tracebacks of errors.
"""

# name -> (module:function, one-line description)
COMMANDS = {
    "train": ("tunefactory.commands:train",
              f"fine-tune a model from a config (stages: {', '.join(STAGE_NAMES)}; -h lists all arguments)"),
    "validate": ("tunefactory.commands:validate",
                 "parse and check a config exactly as `train` would; print the resolved values and every problem"),
    "data": ("tunefactory.commands:data",
             "load the config's datasets and show counts, skipped rows with reasons, and the first examples"),
    "template": ("tunefactory.commands:template",
                 "show how a chat template formats a conversation: `--list`, a template name, or a config's data"),
    "chat": ("tunefactory.commands:chat", "chat with a model in the terminal (or answer piped lines, one per line)"),
    "api": ("tunefactory.commands:api", "serve a model over an OpenAI-compatible HTTP API (docs/api.md)"),
    "webchat": ("tunefactory.commands:webchat", "a chat page in the browser (Gradio) on the same model"),
    "webui": ("tunefactory.commands:webui",
              "the web board: train, evaluate, chat and export from the browser; jobs outlive the page (docs/webui.md)"),
    "export": ("tunefactory.commands:export",
               "merge adapters into the base model and write a standalone folder (weights, tokenizer, Modelfile)"),
    "eval": ("tunefactory.commands:evaluate",
             "score a model on MMLU, C-Eval or CMMLU (task: mmlu_test ...; docs/evaluation.md)"),
    "predict": ("tunefactory.commands:predict",
                "answer every row of a dataset in batches: generated_predictions.jsonl, BLEU/ROUGE, resumable"),
    "llama-pro": ("tunefactory.commands:llama_pro",
                  "LLaMA Pro: copy a model with N identity blocks inserted, to train with use_llama_pro"),
    "env": ("tunefactory.commands:env", "print versions, devices and optional packages (paste it into bug reports)"),
    "version": ("tunefactory.commands:version", "print the TuneFactory version"),
    "help": ("tunefactory.commands:help_command", "show this message, or `help <command>` for its arguments"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = "".join(f"  {name.ljust(width)}  {description}\n" for name, (_, description) in COMMANDS.items())
    return USAGE.format(commands=lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or env_flag("TUNEFACTORY_DEBUG")
    argv = [a for a in argv if a != "--debug"]
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s|%(name)s] %(message)s")

    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"tunefactory: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, function_name = COMMANDS[command][0].split(":")
    handler = getattr(import_module(module_name), function_name)

    from .errors import TuneFactoryError

    try:
        return int(handler(rest) or 0)
    except TuneFactoryError as exc:
        if debug:
            raise
        print(f"tunefactory {command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
