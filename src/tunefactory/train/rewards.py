"""Rewards for stage grpo, each a callable with TRL's reward signature.

    reward(prompts, completions, completion_ids, **columns) -> one float (or None) per completion

``reward_funcs`` lists any mix of:

- built-in names: ``accuracy`` (the completion's final answer, its last ``\\boxed{}`` or else its last number,
  equals the reference answer's: 1.0 or 0.0), ``format`` (one ``<think>…</think>`` block, then an answer:
  1.0 or 0.0) and ``length`` (DAPO's soft overlong punishment: 0 up to the last quarter of
  max_completion_length, then falling linearly to -1 at the limit);
- ``module.path:function`` or ``path/to/file.py:function``: a user function with TRL's signature; the columns are
  ``solution`` and ``answer`` (both the row's reference answer), ``prompt_ids`` and ``trainer_state``;
- a folder: a stage-rm output (full, or a LoRA adapter for the run's base model, with its value head) or a
  sequence-classification model, scoring prompt + completion ids (it must share the policy's tokenizer).

Every reward runs inside `CheckedReward`: a reward that raises, or returns the wrong number or type of values,
stops the run with an error naming the reward, the row of the batch, its prompt and completion.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import ConfigError, TuneFactoryError

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

BUILTIN_REWARDS = ("accuracy", "format", "length")
_BOXED = re.compile(r"\\boxed\{")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_THINK_THEN_ANSWER = re.compile(r"\s*<think>(?:(?!<think>).)*?</think>\s*\S", re.DOTALL)


# --- built-in rewards ---------------------------------------------------------------------------------------------

def final_answer(text: str) -> str | None:
    """The answer a text ends on: the content of its last ``\\boxed{...}``, else its last number (commas dropped)."""
    boxed = list(_BOXED.finditer(text))
    if boxed:
        start, depth = boxed[-1].end(), 1
        for index in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                return text[start:index].strip()
    numbers = _NUMBER.findall(text)
    return numbers[-1].replace(",", "") if numbers else None


def _same_answer(given: str, expected: str) -> bool:
    try:
        return math.isclose(float(given), float(expected), rel_tol=0, abs_tol=1e-6)
    except ValueError:
        return given.strip() == expected.strip()


def accuracy(completions: list[str], solution: list[str], **kwargs) -> list[float]:
    """1.0 where the completion's final answer equals the reference's (numbers compared as numbers), else 0.0."""
    rewards = []
    for completion, reference in zip(completions, solution, strict=True):
        expected = final_answer(reference) or reference.strip()
        given = final_answer(completion)
        rewards.append(1.0 if given is not None and _same_answer(given, expected) else 0.0)
    return rewards


def format(completions: list[str], **kwargs) -> list[float]:  # noqa: A001 - the name users write in reward_funcs
    """1.0 for one ``<think>…</think>`` block followed by an answer, else 0.0."""
    return [1.0 if _THINK_THEN_ANSWER.match(c) and c.count("<think>") == 1 else 0.0 for c in completions]


def length_reward(max_completion_length: int) -> Callable:
    """DAPO's soft overlong punishment over the last quarter of ``max_completion_length`` (counted in tokens)."""
    cache = max(1, max_completion_length // 4)
    free = max_completion_length - cache

    def length(completion_ids: list[list[int]], **kwargs) -> list[float]:
        return [max(-1.0, -max(0, len(ids) - free) / cache) for ids in completion_ids]

    return length


# --- the checked wrapper --------------------------------------------------------------------------------------------

class CheckedReward:
    """Calls a reward and stops the run, naming the reward and the row, when it raises or returns a wrong shape."""

    def __init__(self, function: Callable, name: str):
        self.function, self.__name__ = function, name

    def __call__(self, prompts, completions, completion_ids, **kwargs) -> list[float | None]:
        try:
            values = self.function(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs)
        except TuneFactoryError:
            raise
        except Exception as error:
            row = self._failing_row(prompts, completions, completion_ids, kwargs)
            where = f"on row {row} of the batch ({self._show(prompts, completions, row)})" if row is not None \
                else "on the batch"
            raise TuneFactoryError(f"reward {self.__name__!r} failed {where}: {type(error).__name__}: {error}") \
                from error
        return self._checked(values, prompts, completions)

    def _checked(self, values, prompts, completions) -> list[float | None]:
        try:
            values = list(values)
        except TypeError:
            raise TuneFactoryError(f"reward {self.__name__!r} returned {type(values).__name__}; it must return a list "
                                   f"with one float (or None) per completion ({len(completions)} here)") from None
        if len(values) != len(completions):
            raise TuneFactoryError(f"reward {self.__name__!r} returned {len(values)} values for {len(completions)} "
                                   "completions; it must return one float (or None) per completion")
        checked = []
        for row, value in enumerate(values):
            if value is None:
                checked.append(None)
                continue
            try:
                checked.append(float(value))
            except (TypeError, ValueError):
                raise TuneFactoryError(f"reward {self.__name__!r} returned {value!r} for row {row} of the batch "
                                       f"({self._show(prompts, completions, row)}); rewards are numbers or None") \
                    from None
        return checked

    def _failing_row(self, prompts, completions, completion_ids, kwargs) -> int | None:
        """The first row the reward fails on when called with that row alone."""
        for row in range(len(completions)):
            one = {key: [value[row]] if isinstance(value, list) and len(value) == len(completions) else value
                   for key, value in kwargs.items()}
            try:
                self.function(prompts=[prompts[row]], completions=[completions[row]],
                              completion_ids=[completion_ids[row]], **one)
            except Exception:
                return row
        return None

    @staticmethod
    def _show(prompts, completions, row: int) -> str:
        return f"prompt {_short(prompts[row])}, completion {_short(completions[row])}"


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return repr(text if len(text) <= 80 else "…" + text[-79:])


# --- reading reward_funcs -------------------------------------------------------------------------------------------

def reward_problems(config: RunConfig) -> list[str]:
    """What stops a grpo run before the model loads (`validate` reports these too): rewards that cannot be found."""
    problems = []
    for spec in config.finetuning.reward_funcs or []:
        try:
            _resolve(spec)
        except ConfigError as error:
            problems += error.problems
    return problems


def _resolve(spec: str) -> tuple[str, object]:
    """("builtin", name), ("function", callable) or ("model", folder) for one reward_funcs entry."""
    if spec in BUILTIN_REWARDS:
        return "builtin", spec
    if os.path.isdir(spec):
        return "model", spec
    if ":" in spec:
        return "function", _import_function(spec)
    if "/" in spec or os.sep in spec:
        raise ConfigError([f"reward_funcs: {spec!r}: no such folder (a reward model is the folder of a stage-rm "
                           "output or of a sequence-classification model)"])
    raise ConfigError([f"reward_funcs: {spec!r} is not a built-in reward ({', '.join(BUILTIN_REWARDS)}), a "
                       "module.path:function, a file.py:function, or a reward-model folder"])


def _import_function(spec: str) -> Callable:
    location, name = spec.rsplit(":", 1)
    try:
        if location.endswith(".py"):
            path = Path(location)
            if not path.is_file():
                raise ConfigError([f"reward_funcs: {spec!r}: {location} is not a file"])
            module_spec = importlib.util.spec_from_file_location(f"tunefactory_reward_{path.stem}", path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:  # a rewards.py beside the config, as with `python -m`
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(location)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError([f"reward_funcs: {spec!r}: importing {location} failed: {type(error).__name__}: {error}"]) \
            from error
    function = getattr(module, name, None)
    if not callable(function):
        raise ConfigError([f"reward_funcs: {spec!r}: {location} has no function {name!r}"])
    return function


def build_rewards(config: RunConfig, tokenizer, template, policy=None) -> list[CheckedReward]:
    """One checked callable per reward_funcs entry, in order (reward_weights follow the same order)."""
    rewards = []
    for spec in config.finetuning.reward_funcs:
        kind, target = _resolve(spec)
        if kind == "builtin":
            function = length_reward(config.finetuning.max_completion_length) if target == "length" \
                else {"accuracy": accuracy, "format": format}[target]
            rewards.append(CheckedReward(function, target))
        elif kind == "function":
            rewards.append(CheckedReward(target, spec.rsplit(":", 1)[1]))
        else:
            rewards.append(CheckedReward(_model_reward(config, tokenizer, template, target), Path(target).name))
    return rewards


def _model_reward(config: RunConfig, tokenizer, template, folder: str) -> Callable:
    """A reward model's score of prompt + completion, as it was trained: our value head, or a classifier's logit."""
    import torch

    from ..model.loader import ModelSpec, load_other_model
    from ..model.value_head import read_value_head
    from .ppo import turn_suffix_after_stop
    from .ppo_trainer import RewardModelScorer

    device = config.training.device
    suffix = turn_suffix_after_stop(template, tokenizer)
    stops = set(template.stop_token_ids(tokenizer))
    if read_value_head(folder) is not None:  # a stage-rm output: a full model, or a LoRA adapter on the run's base
        is_adapter = (Path(folder) / "adapter_config.json").is_file()
        model = load_other_model(tokenizer, ModelSpec.from_config(config),
                                 config.model.model_name_or_path if is_adapter else folder,
                                 [folder] if is_adapter else None, None, add_valuehead=True)
        scorer = RewardModelScorer(model.to(device), tokenizer.pad_token_id)
    else:
        from transformers import AutoModelForSequenceClassification

        classifier = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1).to(device).eval()

        @torch.no_grad()
        def scorer(sequences):
            from .ppo_trainer import right_pad

            ids, mask = right_pad(sequences, tokenizer.pad_token_id, device)
            return classifier(input_ids=ids, attention_mask=mask).logits[:, 0].float().cpu()

    def reward_model(prompt_ids, completion_ids, **kwargs) -> list[float]:
        sequences = [list(p) + list(c) + (suffix if c and c[-1] in stops else [])
                     for p, c in zip(prompt_ids, completion_ids, strict=True)]
        return scorer(sequences).tolist()

    return reward_model
