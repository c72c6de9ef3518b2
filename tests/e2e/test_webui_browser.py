"""`tunefactory webui` in a real browser: Debian's Chromium driven by Playwright against a live board on localhost.

A user fills the form, previews the command, trains a LoRA sft run while a second run starts beside it, aborts the
second, reloads the page and finds both, chats with the trained adapter, exports it and predicts with it. Screenshots of each tab go
to build/webui-screenshots (TUNEFACTORY_SCREENSHOT_DIR) for the docs and for a failed run's post-mortem.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As the machine notes advise: no background traffic a closed network would refuse, no sandbox as root.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("TUNEFACTORY_SCREENSHOT_DIR", REPO_ROOT / "build" / "webui-screenshots"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium); .ci/run installs it"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A live board in its own folder; yields (url, folder). The server's log is shown if it dies."""
    folder = tmp_path_factory.mktemp("board")
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = (folder / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "tunefactory", "webui", "--saves_dir", str(folder / "saves"),
                               "--board_dir", str(folder / "board")], cwd=folder, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"the board exited: {(folder / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield url, folder
    server.terminate()
    server.wait(30)
    for runner in (folder / "board" / "jobs").glob("*/runner.json"):  # no job outlives the test
        info = json.loads(runner.read_text())
        for pid in (info.get("child_pid"), info.get("pid")):
            if pid:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass


@pytest.fixture(scope="module")
def page(board):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 2000})
        tab.set_default_timeout(30_000)
        tab.goto(board[0], wait_until="load")
        tab.wait_for_selector("#tf-_start_btn")
        yield tab
        browser.close()


# --- what a user does -------------------------------------------------------------------------------------------

def fill(page, key: str, value) -> None:
    box = page.locator(f"#tf-{key}").locator("input, textarea").first
    box.fill(str(value))
    box.press("Tab")  # commits the value, as leaving the field does


def preview_holding(page, typed: dict, tries: int = 3) -> dict:
    """The train preview's YAML once it holds what was typed in the sections: ``typed`` maps a field to (what was
    typed, its YAML key, the value that key must have).

    On a loaded machine a field typed the moment its section opens can be drawn again before the page keeps its
    value (the run then used logging_steps 5, and its loss curve had one point). A user sees the field reset and
    types again; so does this, for the fields the preview shows were not kept."""
    lost, text = dict(typed), ""
    for _ in range(tries):
        page.locator("#tf-_preview_btn").click()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = page.locator("#tf-_yaml .cm-content").inner_text()
            if "stage: sft" in text:
                preview = yaml.safe_load(text)
                lost = {key: kept for key, kept in typed.items() if preview.get(kept[1]) != kept[2]}
                if not lost:
                    return preview
            page.wait_for_timeout(250)
        for key, (value, _, _) in lost.items():
            fill(page, key, value)
    pytest.fail(f"the preview never held {lost} (typed {tries} times); its YAML:\n{text}")


def choose(page, key: str, value: str, tries: int = 10) -> None:
    """Pick an option; the choices may still be on their way (they follow other fields), so look again."""
    box = page.locator(f"#tf-{key}").locator("input").first
    option = page.locator(f"#tf-{key} ul li", has_text=value).first
    for _ in range(tries):
        box.click()
        box.fill(value)
        try:
            option.wait_for(timeout=5000)  # a loaded machine can take seconds to send them
        except Exception:  # noqa: BLE001 - playwright's timeout: close the list and open it again
            page.keyboard.press("Escape")
            continue
        option.click()
        page.keyboard.press("Escape")
        return
    pytest.fail(f"{key} never offered {value!r}")


def text_of(page, key: str) -> str:
    return page.locator(f"#tf-{key}").locator("input, textarea").first.input_value()


def wait_until(page, condition, timeout: float, what: str, folder: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        page.wait_for_timeout(250)
    page.screenshot(path=str(SCREENSHOTS / "timeout.png"), full_page=True)
    logs = "\n".join(p.read_text()[-2000:] for p in (folder / "board" / "jobs").glob("*/output.log"))
    pytest.fail(f"timed out after {timeout} s waiting for {what}; the jobs' logs end with:\n{logs}")


def started_job(page, kind: str = "train") -> tuple[str, Path]:
    """(job id, its config file), from the notice the page shows after Start."""
    notice = page.locator(f"#tf-{kind}-notice").inner_text()
    found = re.search(r"Started job (\S+): tunefactory \w+ (\S+)", notice)
    assert found, notice
    return found.group(1), Path(found.group(2))


def progress_step(page, job_id: str, kind: str = "train") -> int:
    """The step the page shows for this job (0 while it shows another job or no step yet)."""
    node = page.locator(f"#tf-{kind}-progress .tf-progress")
    if not node.count() or node.get_attribute("data-job") != job_id:
        return 0
    return int(node.get_attribute("data-step") or 0)


def select_job(page, kind: str, job_id: str) -> None:
    choose(page, f"{kind}-jobs", job_id)


def test_a_user_trains_aborts_reloads_chats_and_exports(page, board, tiny_llama):
    from tunefactory.config import parse_dict
    from tunefactory.infer.chat_model import ChatModel

    url, folder = board
    # 1. model, template, data, settings
    fill(page, "model_name_or_path", tiny_llama)
    choose(page, "template", "llama3")
    fill(page, "dataset_dir", REPO_ROOT / "data")
    choose(page, "dataset", "alpaca_demo")
    choose(page, "_compute_type", "fp32")
    for key, value in {"learning_rate": "1e-3", "num_train_epochs": "1", "max_samples": "16", "cutoff_len": "128",
                       "gradient_accumulation_steps": "1", "_output_name": "first"}.items():
        fill(page, key, value)
    in_sections = {"logging_steps": (1, "logging_steps", 1),  # field: (typed, its YAML key, its value there)
                   "_extra_args": ('{"optim": "adamw_torch", "use_cpu": true}', "optim", "adamw_torch"),
                   "lora_target": ("all", "lora_target", "all")}
    for section, keys in (("extra", ("logging_steps", "_extra_args")), ("lora", ("lora_target",))):
        page.locator(f"#tf-section-{section}").click()
        for key in keys:
            fill(page, key, in_sections[key][0])

    # 2. the preview is a config `tunefactory train` accepts, with what was typed
    preview = preview_holding(page, in_sections)
    assert text_of(page, "_command") == "tunefactory train <job folder>/training_args.yaml"
    parsed = parse_dict(preview)
    assert (parsed.model.model_name_or_path, parsed.data.dataset, parsed.training.learning_rate) == (
        str(tiny_llama), ["alpaca_demo"], 1e-3)
    assert preview["output_dir"] == f"{folder / 'saves'}/{tiny_llama.name}/lora/first"
    page.screenshot(path=str(SCREENSHOTS / "train.png"), full_page=True)

    # 3. start it, and a long second run beside it (several jobs at once)
    page.locator("#tf-_start_btn").click()
    page.wait_for_function("document.querySelector('#tf-train-notice')?.innerText.includes('Started job')")
    first_id, first_config = started_job(page)
    assert yaml.safe_load(first_config.read_text()) == preview  # what was previewed is what runs
    fill(page, "_output_name", "second")
    fill(page, "num_train_epochs", "50")
    fill(page, "save_steps", 5)
    page.locator("#tf-_start_btn").click()
    page.wait_for_function(f"!document.querySelector('#tf-train-notice')?.innerText.includes('{first_id}')")
    second_id, _ = started_job(page)
    assert second_id != first_id

    # 4. the second run's progress moves while it trains; abort it
    wait_until(page, lambda: progress_step(page, second_id) >= 6, 150, "the second run's step 6", folder)
    assert text_of(page, "train-status") == "running"
    page.screenshot(path=str(SCREENSHOTS / "train-running.png"), full_page=True)
    page.locator("#tf-_abort_btn").click()
    wait_until(page, lambda: text_of(page, "train-status") == "aborted", 90, "the abort", folder)
    second_dir = folder / "saves" / tiny_llama.name / "lora" / "second"
    assert any(second_dir.glob("checkpoint-*")) and not (second_dir / "adapter_model.safetensors").exists()

    # 5. the first run: finished, its curve drawn from trainer_log.jsonl
    select_job(page, "train", first_id)
    wait_until(page, lambda: text_of(page, "train-status") == "finished", 150, "the first run", folder)
    wait_until(page, lambda: progress_step(page, first_id) == 8, 10, "the progress of the first run", folder)
    assert "step 8/8 (100%)" in page.locator("#tf-train-progress").inner_text()
    loss_line = page.locator("#tf-_loss_plot polyline[data-series='loss']")
    loss_line.wait_for()
    assert loss_line.get_attribute("data-points") == "8"  # one point per logged step
    first_dir = folder / "saves" / tiny_llama.name / "lora" / "first"
    assert (first_dir / "adapter_model.safetensors").is_file()
    assert sum("\"loss\"" in line for line in (first_dir / "trainer_log.jsonl").read_text().splitlines()) == 8
    page.screenshot(path=str(SCREENSHOTS / "train-finished.png"), full_page=True)

    # 6. a reload finds both jobs again (they belong to the board's registry, not to the page)
    page.reload(wait_until="load")
    page.wait_for_selector("#tf-_start_btn")
    page.locator("#tf-train-jobs input").first.click()
    options = page.locator("#tf-train-jobs ul li").all_inner_texts()
    page.keyboard.press("Escape")
    assert any(first_id in o and "finished" in o for o in options), options
    assert any(second_id in o and "aborted" in o for o in options), options

    # 7. chat with the trained adapter: the answer equals the model's own greedy answer
    fill(page, "model_name_or_path", tiny_llama)
    choose(page, "template", "llama3")
    choose(page, "_checkpoints", "first")
    page.get_by_role("tab", name="Chat").click()
    page.locator("#tf-_load_model_btn").click()
    wait_until(page, lambda: text_of(page, "_model_info").startswith("Loaded"), 60, "the model to load", folder)
    fill(page, "_chat_temperature", 0)
    fill(page, "_chat_max_new_tokens", 8)
    fill(page, "_query", "Name a colour.")
    page.locator("#tf-_submit_btn").click()
    bot = page.locator("#tf-_chatbot .bot").last
    bot.wait_for()
    wait_until(page, lambda: text_of(page, "_query") == "", 30, "the answer", folder)
    expected = ChatModel(parse_dict({"model_name_or_path": str(tiny_llama), "template": "llama3",
                                     "adapter_name_or_path": str(first_dir), "finetuning_type": "lora"},
                                    command="chat")).chat([{"role": "user", "content": "Name a colour."}],
                                                          temperature=0, max_new_tokens=8)[0].text
    assert " ".join(bot.inner_text().split()) == " ".join(expected.split())
    page.screenshot(path=str(SCREENSHOTS / "chat.png"), full_page=True)

    # 8. export the adapter merged into the model
    page.get_by_role("tab", name="Export").click()
    fill(page, "export_dir", folder / "exported")
    page.locator("#tf-_export_btn").click()
    page.wait_for_function("document.querySelector('#tf-export-notice')?.innerText.includes('Started job')")
    wait_until(page, lambda: text_of(page, "export-status") in ("finished", "failed"), 120, "the export", folder)
    assert text_of(page, "export-status") == "finished"
    assert (folder / "exported" / "config.json").is_file()
    assert (folder / "exported" / "model.safetensors").is_file()
    page.screenshot(path=str(SCREENSHOTS / "export.png"), full_page=True)

    # 9. predict with the adapter on a few rows: the metrics file appears when the job is done
    page.get_by_role("tab", name="Evaluate & Predict").click()
    fill(page, "_eval_dataset_dir", REPO_ROOT / "data")
    choose(page, "_eval_dataset", "alpaca_demo")
    for key, value in {"_eval_max_samples": "4", "max_new_tokens": "8", "_eval_cutoff_len": "128",
                       "_eval_output_name": "predicted"}.items():
        fill(page, key, value)
    page.locator("#tf-_start_btn_eval").click()
    page.wait_for_function("document.querySelector('#tf-eval-notice')?.innerText.includes('Started job')")
    wait_until(page, lambda: text_of(page, "eval-status") in ("finished", "failed"), 120, "the prediction", folder)
    assert text_of(page, "eval-status") == "finished"
    predicted = folder / "saves" / tiny_llama.name / "lora" / "predicted"
    assert len((predicted / "generated_predictions.jsonl").read_text().splitlines()) == 4
    page.locator("#tf-eval-results", has_text="predict_bleu-4").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "evaluate.png"), full_page=True)


def test_the_page_switches_to_chinese(page):
    choose(page, "_lang", "zh")
    page.wait_for_function("document.querySelector('#tf-_start_btn')?.innerText.includes('开始')")
    assert "学习率" in page.locator("#tf-learning_rate").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "train-zh.png"), full_page=False)
    choose(page, "_lang", "en")
    page.wait_for_function("document.querySelector('#tf-_start_btn')?.innerText.includes('Start')")
