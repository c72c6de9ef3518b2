"""`tunefactory predict`: answers for every row of a dataset, in batches, as LLaMA-Factory's `scripts/vllm_infer.py`.

    config (model, data, finetuning, generating, prediction groups)
      -> the rows of eval_dataset (or of the val_size split), else of dataset: canonical examples, no tokenizer
      -> tokenizer + template: each row's prompt (its conversation up to the answer, with the generation
         prompt) as ids; prompts longer than cutoff_len are skipped and counted, never cut mid-header
      -> save_name, if it exists: its lines must be the first rows' prompts and labels; generation resumes after them
      -> ChatModel (transformers batching engine, or vLLM on a GPU): batch_size prompts per batch, each batch
         appended to save_name as soon as it is done, so an interrupted run loses at most one batch
      -> BLEU-4 and ROUGE against the labels (the rows' reference answers) in matrix_save_name

Where this differs from vllm_infer: the engine is `infer_backend` (huggingface by default, vllm on a GPU);
the prompt is written with its special tokens (as `do_predict` writes it), and a too-long prompt is skipped
instead of truncated.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..data.prompts import PromptRow, encode_prompts
from ..errors import ConfigError, DataError

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)

SCORES_FILENAME = "predict_results.json"  # the name `do_predict` gives the same scores


def prediction_problems(config: RunConfig) -> list[str]:
    """What stops `tunefactory predict` before anything loads (`validate --command predict` reports these too)."""
    from ..config.stages import get_stage
    from ..infer.chat_model import inference_problems

    p, d, problems = config.prediction, config.data, []
    if get_stage(config.finetuning.stage).scores:
        problems.append("a reward model (stage: rm) scores, it does not generate: predict needs a generating model")
    if not d.dataset and not d.eval_dataset:
        problems.append("predict needs rows to answer: set eval_dataset (or dataset) to names from dataset_info.json")
    if d.streaming:
        problems.append("predict reads the whole dataset (to resume and to score); set streaming: false")
    if p.batch_size < 1:
        problems.append(f"batch_size must be 1 or more, not {p.batch_size}")
    for key in ("save_name", "matrix_save_name"):
        path = getattr(p, key)
        if path and Path(path).is_dir():
            problems.append(f"{key}: {path} is a folder; name a file")
    if scores_file(p) == Path(p.save_name):
        problems.append("matrix_save_name and save_name name the same file")
    return problems + inference_problems(config)


def scores_file(prediction) -> Path:
    if prediction.matrix_save_name:
        return Path(prediction.matrix_save_name)
    return Path(prediction.save_name).parent / SCORES_FILENAME


def run_predict(config: RunConfig) -> dict:
    """Generate the missing predictions into save_name, then score the whole file; returns the scores."""
    from ..data.template import get_template
    from ..model.tokenizer import load_tokenizer

    problems = prediction_problems(config)
    if problems:
        raise ConfigError(problems)
    prediction = config.prediction
    examples = load_examples(config)
    tokenizer = load_tokenizer(config.model)
    template = get_template(tokenizer, config.data, config.model.model_name_or_path)
    rows = encode_prompts(examples, template, tokenizer, config.data.cutoff_len)
    output = Path(prediction.save_name)
    done = count_done(output, rows, prediction.batch_size)
    if done < len(rows):
        from ..infer.chat_model import ChatModel

        chat_model = ChatModel(config, max_batch_rows=prediction.batch_size,
                               tokenizer_and_template=(tokenizer, template))
        if done:
            logger.info("%s holds the first %d of %d predictions: resuming after them", output, done, len(rows))
        started = time.perf_counter()
        tokens = generate_into(output, rows, done, chat_model, prediction.batch_size, prediction.seed)
        elapsed = time.perf_counter() - started
        logger.info("%d predictions in %.1f s (%.2f rows/s, %.1f tokens/s) written to %s", len(rows) - done,
                    elapsed, (len(rows) - done) / elapsed, tokens / elapsed, output)
    else:
        logger.info("%s already holds all %d predictions: nothing to generate, scoring them", output, len(rows))
    scores = score_file(output)
    if scores:
        path = scores_file(prediction)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
        logger.info("scores written to %s: %s", path, json.dumps(scores))
    print(f"{len(rows)} predictions in {output}" + "".join(f"\n{key}: {value}" for key, value in scores.items()))
    return scores


def load_examples(config: RunConfig):
    """The canonical rows to answer: the evaluation split when the config has one, else the training data."""
    from ..data.pipeline import get_canonical_dataset

    module = get_canonical_dataset(config, "predict")
    examples = module.eval if module.eval is not None else module.train
    if isinstance(examples, dict):  # eval_on_each_dataset: one file, the sets one after the other
        from datasets import concatenate_datasets

        examples = concatenate_datasets(list(examples.values()))
    return examples


def count_done(output: Path, rows: list[PromptRow], batch_size: int) -> int:
    """How many of ``rows`` already have their prediction in ``output``, in order.

    A batch cut off by an interruption (the file does not end with a newline) is removed back to the last
    whole batch: it is this command's own unfinished write. Anything that is not the first rows' prompts and
    labels is refused, so no one else's file is ever overwritten.
    """
    if not output.exists():
        return 0
    text = output.read_text(encoding="utf-8")
    lines = text.splitlines()
    if text and not text.endswith("\n"):
        kept = (len(lines) - 1) // batch_size * batch_size
        logger.warning("%s: its last batch was cut off by an interruption; keeping the %d lines before it",
                       output, kept)
        lines = lines[:kept]
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise DataError(_not_ours(output, f"line {number} is not JSON")) from None
    if len(records) > len(rows):
        raise DataError(_not_ours(output, f"it has {len(records)} lines and the data {len(rows)} rows"))
    for number, (record, row) in enumerate(zip(records, rows), start=1):
        if not isinstance(record, dict) or (record.get("prompt"), record.get("label")) != (row.prompt, row.label):
            raise DataError(_not_ours(output, f"line {number} is not the prompt and label of row {number - 1}"))
    if len(lines) != len(text.splitlines()):
        output.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return len(records)


def _not_ours(output: Path, why: str) -> str:
    return (f"save_name: {output} holds something other than this data's predictions ({why}); it is left as it is: "
            "choose another save_name, or remove the file to start over")


def generate_into(output: Path, rows: list[PromptRow], start: int, chat_model, batch_size: int, seed: int) -> int:
    """Append the predictions of rows[start:] to ``output``, one batch at a time; returns the tokens generated.

    Batches are the multiples of batch_size (row b·batch_size onwards), seeded from the seed and their first
    row, so a resumed run forms, seeds and answers the batches an uninterrupted one would have.
    """
    from tqdm import tqdm

    output.parent.mkdir(parents=True, exist_ok=True)
    generated = 0
    with output.open("a", encoding="utf-8") as writer, tqdm(total=len(rows), initial=start, desc="Predicting") as bar:
        while start < len(rows):
            end = min(len(rows), (start // batch_size + 1) * batch_size)
            batch = rows[start:end]
            answers = chat_model.complete_batch([row.prompt_ids for row in batch], seed=seed + start)
            writer.write("".join(json.dumps(_record(row, answer.text), ensure_ascii=False) + "\n"
                                 for row, answer in zip(batch, answers, strict=True)))
            writer.flush()
            os.fsync(writer.fileno())
            bar.update(len(batch))
            generated += sum(answer.completion_tokens for answer in answers)
            start = end
    return generated


def _record(row: PromptRow, prediction: str) -> dict:
    return {"prompt": row.prompt, "predict": prediction, "label": row.label}


def score_file(output: Path) -> dict[str, float]:
    """Mean BLEU-4 and ROUGE-1/2/L (×100) of the file's predictions against their labels, over rows that have one."""
    from ..errors import TuneFactoryError
    from ..train.metrics import SIMILARITY_KEYS, score_text_pair

    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    labelled = [r for r in records if r["label"]]
    if not labelled:
        logger.info("no row has a reference answer: predictions are not scored")
        return {}
    try:
        scores = [score_text_pair(r["predict"], r["label"]) for r in labelled]
    except TuneFactoryError as error:  # the metrics extra is missing: the predictions stand on their own
        logger.warning("predictions are not scored: %s", error)
        return {}
    result = {f"predict_{key}": round(sum(s[key] for s in scores) / len(scores), 4) for key in SIMILARITY_KEYS}
    result["predict_samples"] = len(labelled)
    return result
