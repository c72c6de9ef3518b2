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


VALIDATE_USAGE = ("usage: tunefactory validate config.yaml [key=value ...] [--all] [--command train|chat|webchat|api|"
                  "export|eval|predict]\n--command: check the config for that command (default train), with "
                  "everything it would refuse before loading: output_dir, resume, reward model, USE_RAY=1, export_dir, "
                  "infer_backend, API_PORT, task and save_dir, save_name, reward_funcs, this machine.")


def validate(argv: list[str]) -> int:
    """Parse and check a config as a command would; print the resolved values and every problem. Loads nothing."""
    if any(flag in argv for flag in HELP_FLAGS):
        return _print_arguments("train", intro="tunefactory validate: checks a config; it takes the same arguments "
                                "as train.\n" + VALIDATE_USAGE)
    show_all = "--all" in argv
    argv = [a for a in argv if a != "--all"]
    argv, command = _pop_value(argv, "--command", default="train")
    from .preflight import COMMANDS, command_problems

    if not argv or command not in COMMANDS:
        print(VALIDATE_USAGE, file=sys.stderr)
        return 2

    from .config import parse_args
    from .config.reference import render_config
    from .errors import ConfigError

    try:
        config = parse_args(argv, command=command)
        problems = command_problems(config, command)
        if problems:
            raise ConfigError(problems)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(render_config(config, show_all=show_all))
    return 0


def _pop_value(argv: list[str], name: str, default: str) -> tuple[list[str], str]:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[:i] + argv[i + 2:], argv[i + 1]
        if arg.startswith(name + "="):
            return argv[:i] + argv[i + 1:], arg.split("=", 1)[1]
    return argv, default


def data(argv: list[str]) -> int:
    """Load the configured datasets as training would: counts, skipped rows, first examples."""
    if not argv or any(flag in argv for flag in HELP_FLAGS):
        print("usage: tunefactory data config.yaml [key=value ...] [--show N] [--tokenized]\n\n"
              "Loads dataset/eval_dataset from dataset_dir as `train` would, then prints rows read/kept per\n"
              "dataset, skipped rows with their index and reason, the train/eval sizes and the first N examples\n"
              "(default 2). Without --tokenized no model or tokenizer is loaded and the examples are canonical;\n"
              "with --tokenized the model's tokenizer and the config's template encode them for the stage, and\n"
              "each example is shown as the model sees it: input ids and text, label ids and text (masked\n"
              "labels as [-100 x N]), plus examples dropped and packing. Training arguments: `tunefactory train -h`.")
        return 0
    argv, show = _pop_option(argv, "--show", default=2)
    tokenized = "--tokenized" in argv
    argv = [a for a in argv if a != "--tokenized"]
    import dataclasses
    import json

    from .config import parse_args
    from .data.pipeline import get_dataset

    config = parse_args(argv, command="train")
    if config.data.tokenized_path:
        # This command only looks at the data: it must never write (or read a stale) tokenized_path.
        logger.warning("tokenized_path is ignored here: `tunefactory data` processes the datasets afresh")
        config.data = dataclasses.replace(config.data, tokenized_path=None)
    template = tokenizer = None
    if tokenized:
        from .data.template import get_template
        from .model.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(config.model)
        template = get_template(tokenizer, config.data, config.model.model_name_or_path)
    module = get_dataset(config, template, tokenizer)
    for report in module.reports:
        print(report.summary())
        for index, reason in report.first_skipped:
            print(f"  row {index}: {reason}")
    for report in module.processing:
        print(report.summary())
        for index, reason in report.first_dropped:
            print(f"  example {index}: {reason}")
    for split, dataset in (("train", module.train), ("eval", module.eval)):
        if isinstance(dataset, dict):
            print(f"{split}: " + ", ".join(f"{name} {_size(ds)}" for name, ds in dataset.items()))
        elif dataset is not None:
            print(f"{split}: {_size(dataset)} {'rows' if tokenized else 'examples'}")
    if module.train is not None:
        from .data.processors import describe_example

        for i, example in enumerate(module.train.take(show) if hasattr(module.train, "take") else []):
            shown = describe_example(example, tokenizer) if tokenized else json.dumps(example, ensure_ascii=False,
                                                                                      indent=2)
            print(f"\nexample {i}:\n{shown}")
    return 0


TEMPLATE_USAGE = """usage:
  tunefactory template --list                      every template: the models it is for, and where it
                                                   knowingly differs from LLaMA-Factory or the official format
  tunefactory template --from-tokenizer PATH       which template renders like PATH's chat_template, if any
  tunefactory template NAME [--jinja]              NAME's rendering of a sample chat (or its chat_template)
  tunefactory template config.yaml [key=value ...] [--show N] [--ids]
        the config's first N examples (default 2) as training will see them, with the config's
        template and the model's tokenizer: each prompt and response segment, and token counts/ids
"""


def template(argv: list[str]) -> int:
    """Show what a template does to a conversation, to debug data and formats."""
    if not argv or any(flag in argv for flag in HELP_FLAGS):
        print(TEMPLATE_USAGE)
        return 0
    from .data.template import TEMPLATES

    if argv[0] == "--list":
        _list_templates(TEMPLATES)
        return 0
    if argv[0] == "--from-tokenizer":
        return _template_from_tokenizer(argv[1:])
    if argv[0] in TEMPLATES:
        return _show_template_sample(TEMPLATES[argv[0]], jinja="--jinja" in argv)
    return _show_config_examples(argv)


def _list_templates(templates: dict) -> None:
    import textwrap

    width = max(map(len, templates))
    for name, entry in templates.items():
        media = f" [multimodal: {entry.multimodal}]" if entry.multimodal else ""
        print(f"{name.ljust(width)}  {entry.family}{media}")
        for note in entry.notes:
            print(textwrap.fill(note, 110, initial_indent=" " * (width + 2) + "differs: ",
                                subsequent_indent=" " * (width + 11)))
    print(f"\n{len(templates)} templates; `template: auto` uses the tokenizer's own chat_template")


def _template_from_tokenizer(argv: list[str]) -> int:
    if not argv:
        print("usage: tunefactory template --from-tokenizer PATH", file=sys.stderr)
        return 2
    from transformers import AutoTokenizer

    from .data.template import detect_template

    tokenizer = AutoTokenizer.from_pretrained(argv[0])
    if not getattr(tokenizer, "chat_template", None):
        print(f"{argv[0]}: the tokenizer has no chat_template; name a template (`tunefactory template --list`)")
        return 1
    match = detect_template(tokenizer)
    if match is None:
        print(f"{argv[0]}: no registered template renders like this chat_template; `template: auto` trains with "
              "it as it is")
        return 1
    print(match)
    return 0


SAMPLE_TOOLS = [{"name": "get_weather", "description": "Current weather for a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
SAMPLE_CHAT = [
    {"role": "user", "content": "What's the weather in Paris?"},
    {"role": "function", "content": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
    {"role": "observation", "content": '{"temperature_c": 21}'},
    {"role": "assistant", "content": "It is 21 °C in Paris."},
    {"role": "user", "content": "Thanks!"},
    {"role": "assistant", "content": "You're welcome."},
]


def _show_template_sample(chosen, jinja: bool) -> int:
    from .data.template import to_jinja

    if jinja:
        print(to_jinja(chosen, "<BOS>", "<EOS>"))
        return 0
    segments = chosen.segments(SAMPLE_CHAT, "You are a helpful assistant.", SAMPLE_TOOLS, bos="<BOS>", eos="<EOS>")
    _print_segments(segments)
    print(f"\nstop words: {', '.join(chosen.stop_words) or '(eos only)'}; tool format: {chosen.tool_format}; "
          f"BOS/EOS are shown as <BOS>/<EOS> (the model's own tokens at training time)")
    for note in chosen.notes:
        print(f"note: {note}")
    return 0


def _print_segments(segments: list[str], ids: list[list[int]] | None = None, show_ids: bool = False) -> None:
    for index, text in enumerate(segments):
        side = "PROMPT" if index % 2 == 0 else "RESPONSE"
        count = f" ({len(ids[index])} tokens)" if ids is not None else ""
        print(f"----- {side} {index // 2 + 1}{count} -----")
        print(text)
        if ids is not None and show_ids:
            print(ids[index])


def _show_config_examples(argv: list[str]) -> int:
    import dataclasses

    from .config import parse_args
    from .data.pipeline import get_dataset
    from .data.template import get_template
    from .model.tokenizer import load_tokenizer

    argv, show = _pop_option(argv, "--show", default=2)
    show_ids = "--ids" in argv
    argv = [a for a in argv if a != "--ids"]
    config = parse_args(argv, command="train")
    config.data = dataclasses.replace(config.data, tokenized_path=None, streaming=False)
    tokenizer = load_tokenizer(config.model)
    chosen = get_template(tokenizer, config.data, config.model.model_name_or_path)
    module = get_dataset(config)
    for number, example in enumerate(module.train.select(range(min(show, len(module.train))))):
        messages = example["_prompt"] + example["_response"][:1]
        print(f"===== example {number} (template {chosen.name!r}) =====")
        texts = chosen.segments(messages, example["_system"], example["_tools"],
                                bos=tokenizer.bos_token or "", eos=tokenizer.eos_token or "")
        _print_segments(texts, [tokenizer.encode(text, add_special_tokens=False) for text in texts], show_ids)
    return 0


def _size(dataset) -> str:
    try:
        return str(len(dataset))
    except TypeError:
        return "streaming"


def _pop_option(argv: list[str], name: str, default: int) -> tuple[list[str], int]:
    if name not in argv:
        return argv, default
    i = argv.index(name)
    if i + 1 >= len(argv) or not argv[i + 1].isdigit():
        from .errors import ConfigError

        raise ConfigError(f"{name} needs a number")
    return argv[:i] + argv[i + 2:], int(argv[i + 1])


def train(argv: list[str]) -> int:
    if not argv or any(flag in argv for flag in HELP_FLAGS):
        return _print_arguments("train")
    from .config import parse_args
    from .preflight import check_before_loading

    config = parse_args(argv, command="train")
    check_before_loading(config, "train")
    for message in config.warnings:
        logger.warning(message)
    from .env_flags import env_flag
    from .launch import relaunch_with_torchrun, should_relaunch

    if env_flag("USE_RAY"):  # Ray Train starts the workers (never torchrun); each parses the config again
        from .train.ray_train import run_train_on_ray

        run_train_on_ray(config)
        return 0
    if should_relaunch():  # checked once here; every process parses the config again
        return relaunch_with_torchrun(argv)
    from .train.run import run_train

    run_train(config)
    return 0


def chat(argv: list[str]) -> int:
    """Terminal chat with a trained model (see `infer/terminal.py`)."""
    if not argv or any(flag in argv for flag in HELP_FLAGS):
        return _print_arguments("chat", intro="usage: tunefactory chat config.yaml [key=value ...]\n"
                                "Interactive: `clear` starts over, `exit` quits. Piped stdin: one user turn per line, "
                                "one answer per line on stdout.")
    from .infer.terminal import run_terminal_chat

    return run_terminal_chat(load_chat_model(argv, "chat"))


def webchat(argv: list[str]) -> int:
    """A Gradio chat page on the model (see `webchat/app.py`)."""
    if not argv or any(flag in argv for flag in HELP_FLAGS):
        return _print_arguments("webchat", intro="usage: tunefactory webchat config.yaml [key=value ...]\n"
                                "Serves a chat page (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose the address).")
    from .webchat.app import run_webchat

    run_webchat(load_chat_model(argv, "webchat"))
    return 0


WEBUI_USAGE = """usage: tunefactory webui [--saves_dir DIR] [--board_dir DIR]
The web board (LLaMA Board's tabs: Train, Evaluate & Predict, Chat, Export) at http://127.0.0.1:7860.
  --saves_dir DIR   where runs are written, saves/<model>/<finetuning type>/<name> (default: saves,
                    or TUNEFACTORY_SAVES_DIR)
  --board_dir DIR   the job registry and saved arguments (default: tunefactory_webui, or TUNEFACTORY_WEBUI_DIR)
Environment: GRADIO_SERVER_NAME (default 127.0.0.1; 0.0.0.0 opens it to the network), GRADIO_SERVER_PORT
(default 7860), GRADIO_SHARE=1 for a public Gradio link, TUNEFACTORY_WEBUI_AUTH=user:password for a login.
Jobs keep running when the page or the server closes;
restarting the board finds them again. See docs/webui.md."""


def webui(argv: list[str]) -> int:
    """The web board (see `webui/app.py`): every job is a `tunefactory` subprocess recorded on disk."""
    if any(flag in argv for flag in HELP_FLAGS):
        print(WEBUI_USAGE)
        return 0
    from .errors import ConfigError

    options = {"--saves_dir": None, "--board_dir": None}
    rest = list(argv)
    while rest:
        flag = rest.pop(0)
        if flag not in options or not rest:
            raise ConfigError([f"webui: unexpected argument {flag!r}; it takes --saves_dir DIR and --board_dir DIR"])
        options[flag] = rest.pop(0)
    from .webui.app import run_webui

    run_webui(options["--saves_dir"], options["--board_dir"])
    return 0


def parse_checked(argv: list[str], command: str):
    """The command's config, refused before anything loads if the command could not run it; warnings logged."""
    from .config import parse_args
    from .preflight import check_before_loading

    config = parse_args(argv, command=command)
    check_before_loading(config, command)
    for message in config.warnings:
        logger.warning(message)
    return config


def load_chat_model(argv: list[str], command: str):
    """Parse an inference config (model, data, finetuning, generating keys) and load its ChatModel."""
    config = parse_checked(argv, command)
    from .infer.chat_model import ChatModel

    return ChatModel(config)


def _print_arguments(command: str, intro: str | None = None) -> int:
    from .config.reference import arguments_help

    if intro:
        print(intro + "\n")
    print(arguments_help(command))
    return 0


def export(argv: list[str]) -> int:
    """Merge adapters into the base model and write a standalone folder (docs/export.md)."""
    if not argv or any(flag in argv for flag in HELP_FLAGS):
        return _print_arguments("export", intro="tunefactory export: merges adapter_name_or_path into "
                                "model_name_or_path and writes export_dir (see docs/export.md).")
    from .export import export_model

    export_model(parse_checked(argv, "export"))
    return 0


def llama_pro(argv: list[str]) -> int:
    """LLaMA Pro block expansion (LLaMA-Factory's scripts/llama_pro.py, as a command)."""
    import argparse

    parser = argparse.ArgumentParser(prog="tunefactory llama-pro", description=(
        "Write a copy of a model with num_expand new decoder blocks, one after every layers/num_expand layers, "
        "each starting as an identity (its o_proj and down_proj zeroed). Then train it with finetuning_type: "
        "freeze, use_llama_pro: true, freeze_trainable_layers: num_expand (docs/training.md)."))
    parser.add_argument("--model_name_or_path", required=True, help="the model folder to expand")
    parser.add_argument("--output_dir", required=True, help="a new (or empty) folder for the expanded model")
    parser.add_argument("--num_expand", type=int, required=True, help="how many blocks to insert")
    args = parser.parse_args(argv)
    from .export.llama_pro import expand_blocks

    expand_blocks(args.model_name_or_path, args.output_dir, args.num_expand)
    return 0


def api(argv: list[str]) -> int:
    """An OpenAI-compatible HTTP server for a model (see `api/server.py`)."""
    if not argv or any(flag in argv for flag in HELP_FLAGS):
        return _print_arguments("api", intro="usage: tunefactory api config.yaml [key=value ...]\n"
                                "Serves the model at http://API_HOST:API_PORT/v1 (default 127.0.0.1:8000): /v1/models, "
                                "/v1/chat/completions, and /v1/score/evaluation for a reward model (stage: rm).\n"
                                "Environment: API_HOST, API_PORT, API_KEY (bearer auth), API_MODEL_NAME, "
                                "API_MEDIA_DIR and API_FETCH_MEDIA_URLS (where image_url may point besides data: "
                                "URLs); see docs/api.md.")
    from .api.server import run_api

    return run_api(load_chat_model(argv, "api"))


def evaluate(argv: list[str]) -> int:
    """Score a model on a multiple-choice benchmark (see `eval/evaluator.py`, docs/evaluation.md)."""
    if not argv or any(flag in argv for flag in HELP_FLAGS):
        return _print_arguments("eval", intro="usage: tunefactory eval config.yaml [key=value ...]\n"
                                "Scores the model on task (mmlu_test, mmlu_validation, ceval_validation, cmmlu_test) "
                                "from task_dir, LLaMA-Factory's evaluation/ folder layout; prints the accuracy per "
                                "category and subject, and writes save_dir/results.json and results.log. With "
                                "eval_backend: lm_eval it runs lm-evaluation-harness tasks instead "
                                "(docs/evaluation.md).")
    config = parse_checked(argv, "eval")
    if config.evaluation.eval_backend == "lm_eval":
        from .eval.harness import run_harness

        run_harness(config)
    else:
        from .eval.evaluator import run_eval

        run_eval(config)
    return 0


def predict(argv: list[str]) -> int:
    """Answers for every row of a dataset, in batches (see `eval/predict.py`, docs/evaluation.md)."""
    if not argv or any(flag in argv for flag in HELP_FLAGS):
        return _print_arguments("predict", intro="usage: tunefactory predict config.yaml [key=value ...]\n"
                                "Generates an answer for every row of eval_dataset (or dataset) with the model and "
                                "template, batch_size prompts at a time, into save_name (generated_predictions.jsonl: "
                                "prompt, predict, label per line), then scores them against the labels (BLEU-4, "
                                "ROUGE) into matrix_save_name. An interrupted run resumes from the file. "
                                "LLaMA-Factory's scripts/vllm_infer.py arguments work as --key value.")
    from .eval.predict import run_predict

    run_predict(parse_checked(argv, "predict"))
    return 0
