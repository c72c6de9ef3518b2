"""The page of `tunefactory webui`: a shared top bar and the Train, Evaluate & Predict, Chat and Export tabs.

Widgets come from `form.FIELDS`; a job is a `tunefactory` subprocess recorded by `jobs.JobStore`, so closing
the page or restarting the server loses nothing: the page re-reads the registry and the runs' logs every
second. Only the Chat tab holds a model in this process.
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr
import yaml

from ..errors import ConfigError, TuneFactoryError
from . import form, monitor
from .chat import OBSERVATION, USER, ChatSession, displayed, user_turn
from .jobs import JobStore
from .locales import LABELS, LANGUAGES, label, message

logger = logging.getLogger(__name__)

WATCH_SECONDS = 0.5  # how often the server looks at a running job's files (the page is sent changes only)
LIST_SECONDS = 5.0  # how often the page refreshes its job lists
CHART_TITLES = ("Loss", "Stage metrics", "Learning rate")


class Board:
    """What the page's callbacks share: where runs and jobs live, and the Chat tab's model."""

    def __init__(self, saves_dir: str | Path, home: str | Path):
        self.saves_dir = Path(saves_dir)
        self.home = Path(home)
        self.jobs = JobStore(self.home / "jobs")
        self.configs_dir = self.home / "configs"
        self.chat = ChatSession()
        self.followers = Followers()

    def start(self, kind: str, config: dict[str, Any], lang: str, env: dict[str, str] | None = None) -> tuple[str, str]:
        """Check the config as the command will, then launch it; (job id, message)."""
        from ..config import parse_dict
        from ..preflight import check_before_loading

        command = "export" if kind == "export" else "train"
        # refused here, with every problem listed, exactly as `tunefactory validate --command <command>` would
        check_before_loading(parse_dict(config, command=command, source=f"the {kind} form"), command)
        target = config.get("export_dir") or config.get("output_dir")
        job = self.jobs.start(kind, config, label=f"{config.get('stage', kind)} · {target}", env=env)
        return job.id, message("started", lang, id=job.id, command=job.command_line())


class Followers:
    """Which follower is current for each page panel, so following a new job ends the old follower."""

    def __init__(self):
        self._current: dict[tuple, int] = {}
        self._tokens = itertools.count()

    def start(self, follower: tuple) -> int:
        token = next(self._tokens)
        self._current[follower] = token
        return token

    def is_current(self, follower: tuple, token: int) -> bool:
        return self._current.get(follower) == token


def new_run_name(prefix: str = "train") -> str:
    return f"{prefix}_{datetime.now().strftime('%Y-%m-%d-%H-%M-%S')}"


def create_ui(saves_dir: str | Path = "saves", home: str | Path = "tunefactory_webui"):
    board = Board(saves_dir, home)
    widgets: dict[str, Any] = {}  # locale key -> component, for the language switch
    with gr.Blocks(title="TuneFactory board") as demo:
        gr.HTML("<h1 style='text-align:center'>TuneFactory board</h1>")
        lang = gr.Dropdown(list(LANGUAGES), value="en", label=label("_lang", "en"), elem_id="tf-_lang", scale=1)
        widgets["_lang"] = lang
        top_keys = _build_fields(widgets, form.fields("top"), per_row=5)
        tabs = {}
        with gr.Tabs():
            with gr.Tab(label("_tab_train", "en"), id="train") as tabs["_tab_train"]:
                _build_train_tab(board, widgets, lang, top_keys)
            with gr.Tab(label("_tab_eval", "en"), id="eval") as tabs["_tab_eval"]:
                _build_eval_tab(board, widgets, lang, top_keys)
            with gr.Tab(label("_tab_chat", "en"), id="chat") as tabs["_tab_chat"]:
                _build_chat_tab(board, widgets, lang, top_keys)
            with gr.Tab(label("_tab_export", "en"), id="export") as tabs["_tab_export"]:
                _build_export_tab(board, widgets, lang, top_keys)
        widgets.update(tabs)
        _wire_top_bar(demo, board, widgets)
        _wire_language(widgets, lang)
    return demo


# --- widgets from their declarations ----------------------------------------------------------------------------

def _widget(f: form.Field):
    common = {"label": label(f.key, "en"), "elem_id": f"tf-{f.key}"}
    if f.kind == "text":
        return gr.Textbox(value=f.default, **common)
    if f.kind in ("int", "number"):
        return gr.Number(value=f.default, precision=0 if f.kind == "int" else None, **common)
    if f.kind == "check":
        return gr.Checkbox(value=f.default, **common)
    if f.kind == "json":
        return gr.Textbox(value=f.default, lines=3, **common)
    choices = list(f.choices) or _dynamic_choices(f.key)
    if f.kind == "multi":
        return gr.Dropdown(choices=choices, value=list(f.default), multiselect=True, allow_custom_value=True,
                           **common)
    return gr.Dropdown(choices=choices, value=f.default, **common)


def _dynamic_choices(key: str) -> list[str]:
    if key == "template":
        from ..data.template.families import TEMPLATES

        return ["auto", *sorted(TEMPLATES)]
    return []


def _build_fields(widgets: dict, fields: list[form.Field], per_row: int) -> list[str]:
    keys = []
    for start in range(0, len(fields), per_row):
        with gr.Row():
            for f in fields[start:start + per_row]:
                widgets[f.key] = _widget(f)
                keys.append(f.key)
    return keys


def _values(keys: list[str], args: tuple) -> dict[str, Any]:
    return dict(zip(keys, args, strict=True))


def _notice(text: str, error: bool = False) -> str:
    return f"{'⚠️ ' if error else ''}{text}"


# --- train ------------------------------------------------------------------------------------------------------

SECTIONS = ("extra", "freeze", "lora", "rlhf", "multimodal", "galore", "apollo", "badam", "swanlab")


def _build_train_tab(board: Board, widgets: dict, lang, top_keys: list[str]) -> list[str]:
    keys = _build_fields(widgets, [f for f in form.fields("train", "") if not f.key.startswith("_ds")
                                       and f.key != "_output_name"], per_row=5)
    with gr.Row():
        preview_rows = gr.Button(label("_preview_rows", "en"), elem_id="tf-_preview_rows", size="sm")
        widgets["_preview_rows"] = preview_rows
    rows_view = gr.JSON(visible=False, elem_id="tf-rows-view")
    for section in SECTIONS:
        with gr.Accordion(label(f"_section_{section}", "en"), open=False,
                          elem_id=f"tf-section-{section}") as widgets[f"_section_{section}"]:
            keys += _build_fields(widgets, form.fields("train", section), per_row=5)
    with gr.Row():
        for key in ("_preview_btn", "_save_btn", "_load_btn", "_start_btn", "_abort_btn"):
            widgets[key] = gr.Button(label(key, "en"), elem_id=f"tf-{key}",
                                     variant="primary" if key == "_start_btn" else "secondary")
    with gr.Row():
        keys += _build_fields(widgets, [form.FIELD_BY_KEY[k] for k in ("_output_name", "_ds_stage", "_ds_offload")],
                              per_row=3)
        widgets["_config_path"] = gr.Textbox("config.yaml", label=label("_config_path", "en"),
                                             elem_id="tf-_config_path")
    notice = gr.Markdown(elem_id="tf-train-notice")
    with gr.Row():
        widgets["_command"] = gr.Textbox(label=label("_command", "en"), elem_id="tf-_command", interactive=False)
    widgets["_yaml"] = gr.Code(language="yaml", label=label("_yaml", "en"), elem_id="tf-_yaml", interactive=False)
    panel = _build_job_panel(board, widgets, lang, "train")

    inputs = [widgets[k] for k in top_keys + keys]
    all_keys = top_keys + keys

    def preview(*args):
        try:
            config = form.train_args(_values(all_keys, args), board.saves_dir)
        except TuneFactoryError as exc:
            return gr.update(), gr.update(), _notice(str(exc), error=True)
        command, text = form.preview(config, "<job folder>/training_args.yaml",
                                     env=form.job_environment(_values(all_keys, args)))
        return command, text, ""

    def start(lang_value, *args):
        values = _values(all_keys, args)
        if not values["model_name_or_path"].strip():
            return gr.update(), _notice(message("no_model", lang_value), True), gr.update(), gr.update()
        if not values["dataset"]:
            return gr.update(), _notice(message("no_dataset", lang_value), True), gr.update(), gr.update()
        try:
            config = form.train_args(values, board.saves_dir)
            job_id, text = board.start("train", config, lang_value, form.job_environment(values))
        except TuneFactoryError as exc:
            return gr.update(), _notice(str(exc), error=True), gr.update(), gr.update()
        _, yaml_text = form.preview(config, "")
        return (gr.update(choices=_job_choices(board, "train"), value=job_id), text, new_run_name(), yaml_text)

    def save(path, lang_value, *args):
        try:
            config = form.train_args(_values(all_keys, args), board.saves_dir)
        except TuneFactoryError as exc:
            return _notice(str(exc), error=True)
        target = _config_file(board, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return message("saved", lang_value, path=target)

    def load(path, lang_value):
        target = _config_file(board, path)
        try:
            config = yaml.safe_load(target.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            return [gr.update() for _ in all_keys] + [_notice(f"{target}: {exc}", error=True)]
        loaded = form.values_from_config(config or {})
        return [gr.update(value=loaded[k]) if k in loaded else gr.update() for k in all_keys] + [
            message("loaded", lang_value, path=target)]

    def show_rows(dataset_dir, datasets):
        return gr.update(value=_preview_rows(dataset_dir, datasets), visible=True)

    widgets["_preview_btn"].click(preview, inputs, [widgets["_command"], widgets["_yaml"], notice])
    widgets["_start_btn"].click(start, [lang, *inputs], [panel["job"], notice, widgets["_output_name"],
                                                         widgets["_yaml"]])
    widgets["_abort_btn"].click(lambda job_id, lang_value: _abort(board, job_id, lang_value), [panel["job"], lang],
                                notice)
    widgets["_save_btn"].click(save, [widgets["_config_path"], lang, *inputs], notice)
    widgets["_load_btn"].click(load, [widgets["_config_path"], lang], [widgets[k] for k in all_keys] + [notice])
    preview_rows.click(show_rows, [widgets["dataset_dir"], widgets["dataset"]], rows_view)
    for key in ("stage", "dataset_dir"):
        widgets[key].change(lambda d, s: gr.update(choices=form.datasets_for_stage(d, s)),
                            [widgets["dataset_dir"], widgets["stage"]], widgets["dataset"])
    return keys


def _config_file(board: Board, path: str) -> Path:
    """Saved arguments live in the board's folder: a bare name is never resolved elsewhere."""
    name = Path(path.strip() or "config.yaml").name
    return board.configs_dir / name


def _preview_rows(dataset_dir: str, datasets: list[str], count: int = 5) -> list[Any]:
    from ..data.registry import get_dataset_attrs

    if not datasets:
        return []
    attr = get_dataset_attrs(datasets[:1], dataset_dir)[0]
    path = Path(dataset_dir) / attr.path
    if attr.load_from != "file" or not path.is_file():
        return [f"{attr.name}: {attr.load_from} {attr.path} (no preview of datasets that are not local files)"]
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines()[:count] if line.strip()]
    return json.loads(text)[:count]


def _abort(board: Board, job_id: str | None, lang: str) -> str:
    if not job_id:
        return _notice(message("no_job", lang), error=True)
    board.jobs.abort(job_id)
    return message("aborting", lang, id=job_id)


# --- a job's panel: which job, its status, progress, log and curves ------------------------------------------------

def _job_choices(board: Board, kind: str) -> list[tuple[str, str]]:
    return [(f"{job.id} · {job.label} · {job.status()}", job.id) for job in board.jobs.list() if job.kind == kind]


def _build_job_panel(board: Board, widgets: dict, lang, kind: str) -> dict[str, Any]:
    panel = {}
    with gr.Row():
        panel["job"] = gr.Dropdown(choices=[], value=None, label=label("_jobs", "en"), elem_id=f"tf-{kind}-jobs",
                                   scale=4)
        panel["status"] = gr.Textbox(label=label("_job_status", "en"), elem_id=f"tf-{kind}-status",
                                     interactive=False, scale=1)
    panel["progress"] = gr.HTML(elem_id=f"tf-{kind}-progress")
    panel["log"] = gr.Textbox(label=label("_log", "en"), lines=10, max_lines=10, autoscroll=True,
                              elem_id=f"tf-{kind}-log", interactive=False)
    outputs = [panel["status"], panel["progress"], panel["log"]]
    inputs = [panel["job"]]
    if kind == "train":
        panel["smoothing"] = gr.Slider(0.0, 0.99, value=0.6, step=0.01, label=label("_smoothing", "en"),
                                       elem_id="tf-_smoothing")
        with gr.Row():
            for key in ("_loss_plot", "_metric_plot", "_lr_plot"):
                panel[key] = gr.HTML(monitor.svg_chart([], label(key, "en")), elem_id=f"tf-{key}")
                widgets[key] = panel[key]
        inputs.append(panel["smoothing"])
        outputs += [panel["_loss_plot"], panel["_metric_plot"], panel["_lr_plot"]]
    else:
        panel["results"] = gr.JSON(label=label("_metrics", "en"), elem_id=f"tf-{kind}-results")
        outputs.append(panel["results"])
    widgets["_jobs" if kind == "train" else f"_jobs_{kind}"] = panel["job"]

    def follow(job_id, smoothing=0.0, request: gr.Request = None):
        yield from _follow(board, (getattr(request, "session_hash", None), kind), job_id, kind, smoothing)

    # pushed from the server as the files change (no polling by the page); one follower per page and panel
    for trigger in (panel["job"].change, *((panel["smoothing"].release,) if kind == "train" else ())):
        trigger(follow, inputs, outputs, show_progress="hidden", concurrency_limit=None)
    list_timer = gr.Timer(LIST_SECONDS)
    # choices only: a tick that carried the selection could undo a selection made while it was in flight
    list_timer.tick(lambda: gr.update(choices=_job_choices(board, kind)), None, panel["job"], show_progress="hidden")
    return panel


def _follow(board: Board, follower: tuple, job_id: str | None, kind: str, smoothing: float) -> Iterator[list[Any]]:
    """The panel's values each time the job's files change, until it ends or its page follows another job."""
    token = board.followers.start(follower)
    last = None
    while board.followers.is_current(follower, token):
        job = board.jobs.get(job_id) if job_id else None
        signature = _files_signature(job, smoothing)
        if signature != last:
            last = signature
            values = _panel_values(board, job_id, kind, smoothing)
            if not board.followers.is_current(follower, token):
                return  # the page moved on while these were read: they would overwrite the new job's
            yield values
        if job is None or signature[0] != "running":
            return
        time.sleep(WATCH_SECONDS)


def _files_signature(job, smoothing: float) -> tuple:
    """What the panel shows changes only when one of these does."""
    if job is None:
        return ("none",)
    sizes = []
    for path in (job.log_path, Path(job.output_dir) / monitor.TRAINER_LOG):
        try:
            stat = path.stat()
            sizes.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            sizes.append(None)
    return (job.status(), *sizes, smoothing)


def _panel_values(board: Board, job_id: str | None, kind: str, smoothing: float) -> list[Any]:
    if not job_id:
        empty = ["", "", ""]
        return empty + ([monitor.svg_chart([], title) for title in CHART_TITLES] if kind == "train" else [None])
    job = board.jobs.get(job_id)
    status = job.status()
    records = monitor.read_log(job.output_dir)
    done = monitor.progress(records)
    values = [status, _progress_html(done, status, job.id), job.log_tail()]
    if kind == "train":
        stage = _job_stage(job)
        charts = monitor.curves(records, stage, smoothing)
        loss = charts.pop("loss", [])
        lr = charts.pop("lr", [])
        metrics = [row for rows in charts.values() for row in rows]
        charts_in_order = zip((loss, metrics, lr), CHART_TITLES, strict=True)
        values += [monitor.svg_chart(rows, title) for rows, title in charts_in_order]
    else:
        values.append(_results(job.output_dir) if status in ("finished", "failed", "aborted") else None)
    return values


def _job_stage(job) -> str:
    try:
        return (yaml.safe_load(Path(job.config_path).read_text(encoding="utf-8")) or {}).get("stage", "sft")
    except (OSError, yaml.YAMLError):
        return "sft"


def _progress_html(done: monitor.Progress | None, status: str, job_id: str) -> str:
    marks = f"class='tf-progress' data-job='{html.escape(job_id)}' data-status='{html.escape(status)}'"
    if done is None:
        return f"<div {marks}>{html.escape(status)}</div>"
    return (f"<div {marks} data-step='{done.step}'>"
            f"<progress value='{done.percentage}' max='100' style='width:100%'></progress>"
            f"<span>{html.escape(done.label())}</span></div>")


def _results(output_dir: str) -> dict[str, Any] | None:
    """The run's metrics file, or the files an export wrote."""
    folder = Path(output_dir)
    for name in ("all_results.json", "predict_results.json", "eval_results.json"):
        if (folder / name).is_file():
            return json.loads((folder / name).read_text(encoding="utf-8"))
    if folder.is_dir():
        return {"files": sorted(p.name for p in folder.iterdir())}
    return None


# --- evaluate & predict, export: a form, one button, a job panel -------------------------------------------------

def _build_job_tab(board: Board, widgets: dict, lang, top_keys: list[str], kind: str, button: str, per_row: int,
                   missing: tuple[str, str], make_config) -> None:
    """``missing``: (the widget that must be filled, the message key saying so); ``make_config(values)``."""
    keys = _build_fields(widgets, form.fields(kind), per_row=per_row)
    widgets[button] = gr.Button(label(button, "en"), elem_id=f"tf-{button}", variant="primary")
    notice = gr.Markdown(elem_id=f"tf-{kind}-notice")
    panel = _build_job_panel(board, widgets, lang, kind)
    all_keys = top_keys + keys

    def start(lang_value, *args):
        values = _values(all_keys, args)
        required, why = missing
        if not (values[required].strip() if isinstance(values[required], str) else values[required]):
            return gr.update(), _notice(message(why, lang_value), True)
        try:
            job_id, text = board.start(kind, make_config(values), lang_value, form.job_environment(values))
        except TuneFactoryError as exc:
            return gr.update(), _notice(str(exc), error=True)
        return gr.update(choices=_job_choices(board, kind), value=job_id), text

    widgets[button].click(start, [lang, *[widgets[k] for k in all_keys]], [panel["job"], notice])


def _build_eval_tab(board: Board, widgets: dict, lang, top_keys: list[str]) -> None:
    _build_job_tab(board, widgets, lang, top_keys, "eval", "_start_btn_eval", 5, ("_eval_dataset", "no_dataset"),
                   lambda values: form.eval_args(values, board.saves_dir))
    widgets["_eval_dataset_dir"].change(lambda d: gr.update(choices=form.datasets_for_stage(d, "sft")),
                                        widgets["_eval_dataset_dir"], widgets["_eval_dataset"])


# --- chat -------------------------------------------------------------------------------------------------------

def _build_chat_tab(board: Board, widgets: dict, lang, top_keys: list[str]) -> None:
    keys = _build_fields(widgets, form.fields("chat"), per_row=3)
    with gr.Row():
        widgets["_load_model_btn"] = gr.Button(label("_load_model_btn", "en"), elem_id="tf-_load_model_btn")
        widgets["_unload_model_btn"] = gr.Button(label("_unload_model_btn", "en"), elem_id="tf-_unload_model_btn")
    info = gr.Textbox(label=label("_model_info", "en"), elem_id="tf-_model_info", interactive=False)
    widgets["_model_info"] = info
    conversation = gr.State([])
    widgets["_chatbot"] = chatbot = gr.Chatbot(label=label("_chatbot", "en"), elem_id="tf-_chatbot", height=360)
    with gr.Row():
        with gr.Column(scale=4):
            widgets["_role"] = gr.Dropdown([USER, OBSERVATION], value=USER, label=label("_role", "en"),
                                           elem_id="tf-_role")
            widgets["_system"] = gr.Textbox(label=label("_system", "en"), elem_id="tf-_system")
            widgets["_tools"] = gr.Textbox(label=label("_tools", "en"), lines=3, elem_id="tf-_tools")
            widgets["_query"] = gr.Textbox(label=label("_query", "en"), lines=3, elem_id="tf-_query")
            with gr.Row():
                widgets["_image"] = gr.Image(type="filepath", label=label("_image", "en"), elem_id="tf-_image",
                                             height=160, sources=["upload", "clipboard"])
                widgets["_audio"] = gr.Audio(type="filepath", label=label("_audio", "en"), elem_id="tf-_audio",
                                             sources=["upload", "microphone"])
            widgets["_submit_btn"] = gr.Button(label("_submit_btn", "en"), variant="primary", elem_id="tf-_submit_btn")
        with gr.Column(scale=1):
            widgets["_chat_max_new_tokens"] = gr.Slider(1, 4096, value=512, step=1,
                                                        label=label("_chat_max_new_tokens", "en"),
                                                        elem_id="tf-_chat_max_new_tokens")
            widgets["_chat_top_p"] = gr.Slider(0.01, 1.0, value=0.7, step=0.01, label=label("_chat_top_p", "en"))
            widgets["_chat_temperature"] = gr.Slider(0.0, 1.5, value=0.95, step=0.01,
                                                     label=label("_chat_temperature", "en"),
                                                     elem_id="tf-_chat_temperature")
            widgets["_skip_special_tokens"] = gr.Checkbox(True, label=label("_skip_special_tokens", "en"))
            widgets["_chat_thinking"] = gr.Checkbox(True, label=label("_chat_thinking", "en"))
            widgets["_clear_btn"] = gr.Button(label("_clear_btn", "en"), elem_id="tf-_clear_btn")
    all_keys = top_keys + keys

    def load(lang_value, *args):
        try:
            config = form.chat_args(_values(all_keys, args))
            yield message("loading", lang_value)
            board.chat.load(config)
        except TuneFactoryError as exc:
            yield _notice(str(exc), error=True)
            return
        yield message("model_loaded", lang_value, path=config["model_name_or_path"])

    def unload(lang_value):
        board.chat.unload()
        return message("model_unloaded", lang_value)

    def submit(turns, role, query, image, sound, system, tools, max_new_tokens, top_p, temperature, skip, thinking,
               lang_value):
        turns = [*turns, user_turn(role, query, image, sound)]
        words = board.chat.model.template.thought_words if board.chat.loaded else ("<think>", "</think>")
        labels = {"thinking": message("thinking", lang_value), "tool_call": message("tool_call", lang_value)}
        yield turns, displayed(turns, words, labels), "", gr.update(), None, None
        reply = ""
        try:
            for reply in board.chat.stream(turns, system, tools, max_new_tokens=int(max_new_tokens), top_p=top_p,
                                           temperature=temperature, skip_special_tokens=skip,
                                           enable_thinking=thinking):
                shown = displayed([*turns, {"role": "assistant", "content": reply}], words, labels)
                yield turns, shown, "", gr.update(), None, None
        except TuneFactoryError as exc:
            yield (turns[:-1], displayed(turns[:-1], words, labels), query, _notice(str(exc), error=True), image,
                   sound)
            return
        turns = [*turns, board.chat.finish(reply)]
        yield turns, displayed(turns, words, labels), "", gr.update(), None, None

    chat_inputs = [lang, *[widgets[k] for k in all_keys]]
    widgets["_load_model_btn"].click(load, chat_inputs, info)
    widgets["_unload_model_btn"].click(unload, lang, info)
    widgets["_submit_btn"].click(
        submit, [conversation, widgets["_role"], widgets["_query"], widgets["_image"], widgets["_audio"],
                 widgets["_system"], widgets["_tools"], widgets["_chat_max_new_tokens"], widgets["_chat_top_p"],
                 widgets["_chat_temperature"], widgets["_skip_special_tokens"], widgets["_chat_thinking"], lang],
        [conversation, chatbot, widgets["_query"], info, widgets["_image"], widgets["_audio"]])
    widgets["_clear_btn"].click(lambda: ([], []), None, [conversation, chatbot])


def _build_export_tab(board: Board, widgets: dict, lang, top_keys: list[str]) -> None:
    _build_job_tab(board, widgets, lang, top_keys, "export", "_export_btn", 4, ("export_dir", "no_export_dir"),
                   form.export_args)


# --- the top bar and the language switch -------------------------------------------------------------------------

def _wire_top_bar(demo, board: Board, widgets: dict) -> None:
    def pick_model(name, path, template):
        if name in form.KNOWN_MODELS:
            hub_id, known_template = form.KNOWN_MODELS[name]
            return hub_id, known_template
        return path, template

    def checkpoints(name, path, finetuning_type):
        values = {"_model_name": name, "model_name_or_path": path, "finetuning_type": finetuning_type}
        return gr.update(choices=form.list_checkpoints(board.saves_dir, values), value=[])

    top = [widgets["_model_name"], widgets["model_name_or_path"], widgets["finetuning_type"]]
    widgets["_model_name"].change(pick_model, [widgets["_model_name"], widgets["model_name_or_path"],
                                               widgets["template"]], [widgets["model_name_or_path"],
                                                                      widgets["template"]])
    for key in ("_model_name", "model_name_or_path", "finetuning_type"):
        widgets[key].change(checkpoints, top, widgets["_checkpoints"])

    def on_load(name, path, finetuning_type, dataset_dir, stage, eval_dir):
        values = {"_model_name": name, "model_name_or_path": path, "finetuning_type": finetuning_type}
        return (gr.update(choices=form.list_checkpoints(board.saves_dir, values)),
                gr.update(choices=form.datasets_for_stage(dataset_dir, stage)),
                gr.update(choices=form.datasets_for_stage(eval_dir, "sft")), new_run_name(),
                gr.update(choices=_job_choices(board, "train")), gr.update(choices=_job_choices(board, "eval")),
                gr.update(choices=_job_choices(board, "export")))

    demo.load(on_load, [*top, widgets["dataset_dir"], widgets["stage"], widgets["_eval_dataset_dir"]],
              [widgets["_checkpoints"], widgets["dataset"], widgets["_eval_dataset"], widgets["_output_name"],
               widgets["_jobs"], widgets["_jobs_eval"], widgets["_jobs_export"]])


def _wire_language(widgets: dict, lang) -> None:
    keys = [key for key in widgets if key in LABELS]
    buttons = {key for key in keys if isinstance(widgets[key], gr.Button)}  # a button's label is its value

    def switch(lang_value):
        return [gr.update(**{"value" if key in buttons else "label": label(key, lang_value)}) for key in keys]

    lang.change(switch, lang, [widgets[k] for k in keys])


def run_webui(saves_dir: str | None = None, home: str | None = None) -> None:
    from ..env_flags import env_flag

    demo = create_ui(saves_dir or form.saves_dir_default(), home or os.environ.get("TUNEFACTORY_WEBUI_DIR",
                                                                                  "tunefactory_webui"))
    host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")  # the network only when asked
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    demo.queue().launch(server_name=host, server_port=port, share=env_flag("GRADIO_SHARE"), inbrowser=False,
                        auth=login_from_env())


def login_from_env() -> tuple[str, str] | None:
    """``TUNEFACTORY_WEBUI_AUTH=user:password`` asks for that login (an environment variable, not a flag, so the
    password is not in the process list)."""
    value = os.environ.get("TUNEFACTORY_WEBUI_AUTH")
    if not value:
        return None
    user, colon, password = value.partition(":")
    if not (user and colon and password):
        raise ConfigError(["TUNEFACTORY_WEBUI_AUTH must be user:password, both non-empty"])
    return user, password
