"""`tunefactory eval`: a model's accuracy on MMLU, C-Eval or CMMLU, as LLaMA-Factory's `llamafactory-cli eval`.

    config (model, data, finetuning, evaluation groups)
      -> the benchmark's subjects and rows (`benchmarks.py`; read before the model loads, so bad files stop early)
      -> tokenizer + template (`template: fewshot` for base models, or the model's chat template) + model
      -> per question: n_shot solved dev rows then the question, as chat messages the template encodes
      -> prediction: the likeliest of the tokens A, B, C, D after the prompt (one forward pass, batched)
      -> accuracy per subject, per category and on average; results.json and results.log in save_dir

Where this differs from LLaMA-Factory: the few-shot examples are the first n_shot dev rows for every
question (LLaMA-Factory draws them afresh per question), so two runs give the same prompts; and a prompt
longer than the model's context drops shots until it fits (logged) instead of overflowing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .benchmarks import CATEGORIES, CHOICES, Question, Subject, load_benchmark, task_problems

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalPrompt:
    """LLaMA-Factory's wording (its eval/template.py), per `lang`."""

    subject_line: str  # opens the first user message
    choice: str
    answer_cue: str

    def ask(self, question: Question) -> str:
        choices = "".join(self.choice.format(letter=letter, text=text)
                          for letter, text in zip(CHOICES, question.choices))
        return question.question + choices + self.answer_cue


EVAL_PROMPTS = {
    "en": EvalPrompt("The following are multiple choice questions (with answers) about {subject}.\n\n",
                     "\n{letter}. {text}", "\nAnswer:"),
    "zh": EvalPrompt("以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\n\n", "\n{letter}. {text}", "\n答案："),
}


@dataclass
class SubjectResult:
    subject: Subject
    predictions: list[str]  # one letter per evaluated row, in file order

    @property
    def correct(self) -> int:
        return sum(p == q.answer for p, q in zip(self.predictions, self.subject.questions))

    @property
    def accuracy(self) -> float:
        return 100 * self.correct / len(self.predictions) if self.predictions else 0.0


def eval_problems(config: RunConfig) -> list[str]:
    """What stops `tunefactory eval` before the model loads (`validate --command eval` reports these too): the
    config's own rules, checked again here for callers that built the config long before (save_dir may exist
    by now), then the benchmark folder (builtin) or the harness and its task names (lm_eval)."""
    from ..config.rules import evaluation_settings

    problems = evaluation_settings(config)
    if problems:
        return problems
    if config.evaluation.eval_backend == "lm_eval":
        from .harness import harness_problems

        return harness_problems(config)
    return task_problems(config.evaluation.task_dir, config.evaluation.task)


def load_model_to_score(config: RunConfig):
    """``(tokenizer, template, model)``: the base model with its adapters, frozen, seeded with the eval seed.
    Getting the template also installs its chat_template on the tokenizer (both backends rely on it)."""
    from ..data.template import get_template
    from ..model.loader import ModelSpec, load_model
    from ..model.seeding import seed_everything
    from ..model.tokenizer import load_tokenizer

    seed_everything(config.evaluation.seed)
    tokenizer = load_tokenizer(config.model)
    template = get_template(tokenizer, config.data, config.model.model_name_or_path)
    return tokenizer, template, load_model(tokenizer, ModelSpec.from_config(config), is_trainable=False)


def run_eval(config: RunConfig) -> list[SubjectResult]:
    """Score the model on the task's subjects; print the table and, with save_dir, write the results."""
    e = config.evaluation
    problems = eval_problems(config)
    if problems:
        raise ConfigError(problems)
    subjects = load_benchmark(e.task_dir, e.task)
    tokenizer, template, model = load_model_to_score(config)
    scorer = ChoiceScorer(model, tokenizer, e.batch_size)
    max_length = getattr(model.config, "max_position_embeddings", None)

    results = []
    for number, subject in enumerate(subjects, 1):
        prompts = subject_prompts(template, tokenizer, subject, e.n_shot, e.lang, max_length)
        results.append(SubjectResult(subject, scorer.predict(prompts)))
        logger.info("[%d/%d] %s: %.2f (%d questions)", number, len(subjects), subject.name,
                    results[-1].accuracy, len(prompts))
    table = score_table(results)
    print(table)
    if e.save_dir:
        save_results(Path(e.save_dir), e.task, results, table)
    return results


# --- prompts ----------------------------------------------------------------------------------------------------


def format_messages(question: Question, shots: list[Question], subject_name: str, lang: str) -> list[dict]:
    """Solved shots as (user, assistant) pairs, then the question and its answer; the subject line opens the
    first user message. The template's prompt for the last answer is what the model reads."""
    prompt = EVAL_PROMPTS[lang]
    messages = []
    for item in [*shots, question]:
        messages.append({"role": "user", "content": prompt.ask(item)})
        messages.append({"role": "assistant", "content": item.answer})
    messages[0]["content"] = prompt.subject_line.format(subject=subject_name) + messages[0]["content"]
    return messages


def prompt_ids(template, tokenizer, question: Question, subject: Subject, n_shot: int, lang: str,
               max_length: int | None = None) -> tuple[list[int], int]:
    """The question's prompt ids with as many of the first ``n_shot`` dev rows as fit in ``max_length``, and
    how many did."""
    for shots in range(min(n_shot, len(subject.shots)), -1, -1):
        messages = format_messages(question, subject.shots[:shots], subject.name, lang)
        ids, _ = template.encode_oneturn(tokenizer, messages)
        if max_length is None or len(ids) <= max_length:
            return ids, shots
    return ids[-max_length:], 0  # even the bare question is too long: keep its end, where the answer cue is


def subject_prompts(template, tokenizer, subject: Subject, n_shot: int, lang: str,
                    max_length: int | None) -> list[list[int]]:
    prompts, fewest = [], None
    wanted = min(n_shot, len(subject.shots))
    for question in subject.questions:
        ids, shots = prompt_ids(template, tokenizer, question, subject, n_shot, lang, max_length)
        prompts.append(ids)
        if shots < wanted:
            fewest = shots if fewest is None else min(fewest, shots)
    if fewest is not None:
        logger.warning("%s: some prompts with %d shots exceed the model's max length (%d tokens); they use fewer "
                       "shots (as few as %d)%s", subject.name, wanted, max_length, fewest,
                       ", and the longest questions are cut from the start" if fewest == 0 else "")
    return prompts


# --- scoring ----------------------------------------------------------------------------------------------------


class ChoiceScorer:
    """The model's logits for the tokens A, B, C and D right after each prompt, a batch at a time."""

    def __init__(self, model, tokenizer, batch_size: int):
        self.model = model
        self.batch_size = batch_size
        # as LLaMA-Factory: the last token of the letter alone (SentencePiece tokenizers write "▁A")
        self.choice_ids = [tokenizer.encode(letter, add_special_tokens=False)[-1] for letter in CHOICES]
        pad = tokenizer.pad_token_id
        self.pad_id = tokenizer.eos_token_id if pad is None else pad

    def predict(self, prompts: list[list[int]]) -> list[str]:
        return [CHOICES[int(row.argmax())] for row in self.choice_logits(prompts)]

    def choice_logits(self, prompts: list[list[int]]):
        """A (len(prompts), 4) float tensor on the CPU, in the prompts' order."""
        import torch

        device = next(self.model.parameters()).device
        scores = torch.empty(len(prompts), len(CHOICES))
        # longest first, so each batch pads little; padded on the right (as LLaMA-Factory), which leaves every
        # row's positions and its last real token's logits exactly as when it runs alone
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            lengths = torch.tensor([len(prompts[i]) for i in rows])
            input_ids = torch.full((len(rows), int(lengths.max())), self.pad_id, dtype=torch.long)
            attention_mask = torch.zeros_like(input_ids)
            for row, i in enumerate(rows):
                input_ids[row, :len(prompts[i])] = torch.tensor(prompts[i])
                attention_mask[row, :len(prompts[i])] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
            last = logits[torch.arange(len(rows)), (lengths - 1).to(logits.device)]
            scores[rows] = last[:, self.choice_ids].float().cpu()
        return scores


# --- results ----------------------------------------------------------------------------------------------------


def category_scores(results: list[SubjectResult]) -> dict[str, float]:
    """Accuracy (%) over all questions, then per category (over its questions, not its subjects' mean), as
    LLaMA-Factory computes it; categories without questions are left out."""
    scores = {}
    for category in ("Average", *CATEGORIES):
        chosen = [r for r in results if category in ("Average", r.subject.category)]
        total = sum(len(r.predictions) for r in chosen)
        if total:
            scores[category] = 100 * sum(r.correct for r in chosen) / total
    return scores


def score_table(results: list[SubjectResult]) -> str:
    """LLaMA-Factory's score lines (`        Average: 47.83`), then one line per subject."""
    lines = [f"{category:>15}: {score:.2f}" for category, score in category_scores(results).items()]
    width = max((len(r.subject.name) for r in results), default=0)
    lines += ["", "Subjects:"]
    lines += [f"  {r.subject.name.ljust(width)}  {r.accuracy:6.2f}  ({r.correct}/{len(r.predictions)}, "
              f"{r.subject.category})" for r in results]
    return "\n".join(lines)


def save_results(save_dir: Path, task: str, results: list[SubjectResult], table: str) -> None:
    """results.json (scores, and each subject's predicted letters by row) and results.log (the table)."""
    save_dir.mkdir(parents=True, exist_ok=False)  # checked before loading too: results are never overwritten
    summary = {
        "task": task,
        "scores": category_scores(results),
        "subjects": {r.subject.key: {"name": r.subject.name, "category": r.subject.category,
                                     "accuracy": r.accuracy, "correct": r.correct, "total": len(r.predictions),
                                     "predictions": r.predictions} for r in results},
    }
    (save_dir / "results.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (save_dir / "results.log").write_text(table + "\n", encoding="utf-8")
    logger.info("results written to %s", save_dir)
