"""`make demo`: the main job on the bundled tiny model and data, offline, on a CPU, in a few minutes.

1. build a tiny random-weight model (cached in .cache/tiny-models);
2. measure its held-out arithmetic accuracy, prompting exactly as the fine-tune trains (the config's
   template), greedy — the "before" figure;
3. fine-tune it: `tunefactory train examples/demo/arith_sft.yaml model_name_or_path=<tiny model>`;
4. load the saved model from output_dir with plain transformers and measure the "after" figure;
5. fail (exit 1) unless training clearly helped: after >= before + MIN_GAIN.

Arguments are overrides for the fine-tune (``key=value``), e.g. the shortened run the test suite makes:
    python examples/demo.py num_train_epochs=6 output_dir=/tmp/demo-run
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# A model this small trains and generates fastest on one CPU thread: with more, each tiny matmul is
# mostly threads waiting on each other (several times slower on a busy machine). The fine-tune
# subprocess inherits this; set OMP_NUM_THREADS yourself to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "demo" / "arith_sft.yaml"
HELD_OUT = ROOT / "data" / "arith_test.json"
QUESTIONS = 50  # held-out questions asked before and after
TINY_SIZE = "small"  # see SIZES in src/tunefactory_fixtures/tiny_models.py
MIN_GAIN = 0.3  # the demo fails unless accuracy after >= accuracy before + MIN_GAIN


def run_config(model_dir: Path, overrides: list[str]):
    """The demo config exactly as `tunefactory train` resolves it, for the template and generation settings."""
    from tunefactory.config.parser import parse_args

    return parse_args([str(CONFIG), f"model_name_or_path={model_dir}", *overrides])


def shown(path: Path) -> str:
    """A path as the user reads it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def load_template(model_dir: Path, config):
    """The run's tokenizer and chat template, resolved from the config's data arguments as training does it
    (get_template may add the template's EOS and stop words to the tokenizer)."""
    from transformers import AutoTokenizer

    from tunefactory.data.template import get_template

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return tokenizer, get_template(tokenizer, config.data, str(model_dir))


def held_out_accuracy(model_dir: Path, template, max_new_tokens: int, tokenizer=None,
                      limit: int = QUESTIONS) -> tuple[float, list[tuple[str, str, str]]]:
    """Greedy answers to held-out questions, prompted exactly as the fine-tune trains; exact-match accuracy.

    The model and tokenizer load with plain transformers; TuneFactory's template only writes the
    prompt ids (as training wrote them) and names the tokens that end an answer.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    stop = template.stop_token_ids(tokenizer)
    rows = json.loads(HELD_OUT.read_text(encoding="utf-8"))[:limit]
    results = []
    for row in rows:
        question = row["instruction"] + (f"\n{row['input']}" if row.get("input") else "")
        ids = template.encode_prompt(tokenizer, [{"role": "user", "content": question}])
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stop,
                                 pad_token_id=tokenizer.pad_token_id)
        answer = tokenizer.decode(out[0, len(ids):], skip_special_tokens=True).strip()
        results.append((question, row["output"], answer))
    accuracy = sum(expected == answer for _, expected, answer in results) / len(results)
    return accuracy, results


def chat_template_check(model_dir: Path, template, question: str) -> str:
    """Whether the saved tokenizer's own chat_template writes the prompt the model was trained on."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    messages = [{"role": "user", "content": question}]
    if not getattr(tokenizer, "chat_template", None):
        return "note: the saved tokenizer has no chat_template"
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if tokenizer.encode(text, add_special_tokens=False) == template.encode_prompt(tokenizer, messages):
        return ("the saved tokenizer's chat_template writes the same prompt as training: "
                "tokenizer.apply_chat_template(..., add_generation_prompt=True) works as is")
    return f"WARNING: the saved tokenizer's chat_template writes {text!r}, not the prompt the model was trained on"


def fine_tune(model_dir: Path, overrides: list[str]) -> int:
    """Run `tunefactory train` on the demo config; show its progress lines, keep the rest for errors."""
    command = [sys.executable, "-m", "tunefactory.cli", "train", str(CONFIG.relative_to(ROOT)),
               f"model_name_or_path={model_dir}", "disable_tqdm=true", *overrides]
    print("   $ tunefactory train " + " ".join(command[4:]))
    kept = []
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1) as process:
        for line in process.stdout:
            kept.append(line)
            if "tunefactory.train.callbacks] step" in line or line.startswith(("[WARNING", "[ERROR")):
                print("   " + line.split("] ", 1)[-1].rstrip(), flush=True)
    if process.returncode != 0:
        print("   the fine-tune failed; its last output:\n" + "".join(kept[-40:]), file=sys.stderr)
    return process.returncode


def loss_lines(output_dir: Path, count: int = 6) -> list[str]:
    """A few evenly spaced training-loss records from trainer_log.jsonl."""
    path = output_dir / "trainer_log.jsonl"
    if not path.is_file():
        return [f"(no {path.name} in {output_dir})"]
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [r for r in records if "loss" in r]
    if len(records) > count:
        step = (len(records) - 1) / (count - 1)
        records = [records[round(i * step)] for i in range(count)]
    return [json.dumps(r) for r in records]


def main(overrides: list[str]) -> int:
    from tunefactory.errors import TuneFactoryError
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    started = time.time()

    def elapsed() -> str:
        return f"[{time.time() - started:.0f}s]"

    model_dir = ensure_tiny_model(ROOT / ".cache" / "tiny-models", arch="qwen2", size=TINY_SIZE)
    print(f"1. tiny model ready: {shown(model_dir)} {elapsed()}")
    try:
        config = run_config(model_dir, overrides)
        tokenizer, template = load_template(model_dir, config)
    except TuneFactoryError as exc:
        print(f"{CONFIG.relative_to(ROOT)}: {exc}", file=sys.stderr)
        return 1
    output_dir = ROOT / config.training.output_dir
    max_new_tokens = config.generating.max_new_tokens

    before, results = held_out_accuracy(model_dir, template, max_new_tokens, tokenizer)
    print(f"2. before fine-tuning: held-out accuracy {before:.0%} ({len(results)} questions from "
          f"{HELD_OUT.relative_to(ROOT)}, exact match, greedy, prompted with the {template.name!r} template) "
          f"{elapsed()}")
    for question, expected, answer in results[:2]:
        print(f"   {question} -> expected {expected!r}, got {answer!r}")

    print(f"3. fine-tuning on {', '.join(config.data.dataset)} {elapsed()}")
    returncode = fine_tune(model_dir, overrides)
    if returncode != 0:
        return returncode
    print(f"   training loss, from {shown(output_dir / 'trainer_log.jsonl')}:")
    for line in loss_lines(output_dir):
        print("   " + line)

    after, results = held_out_accuracy(output_dir, template, max_new_tokens)
    print(f"4. after fine-tuning: held-out accuracy {after:.0%} (the model saved in "
          f"{shown(output_dir)}, loaded with plain transformers) {elapsed()}")
    for question, expected, answer in results[:5]:
        print(f"   {question} -> expected {expected!r}, got {answer!r}")
    print("   " + chat_template_check(output_dir, template, results[0][0]))
    predictions = output_dir / "generated_predictions.jsonl"
    if predictions.is_file():
        rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines() if line.strip()]
        right = sum(row["predict"].strip() == row["label"].strip() for row in rows)
        print(f"   `tunefactory train`'s own predictions ({shown(predictions)}): "
              f"{right}/{len(rows)} exact")

    print(f"\nheld-out accuracy: before {before:.0%}, after {after:.0%} {elapsed()}")
    if after < before + MIN_GAIN:
        print(f"FAILED: fine-tuning should raise held-out accuracy by at least {MIN_GAIN:.0%} points",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
