"""Which argument groups each command reads. Group classes are imported lazily:
the training group pulls in transformers, which takes seconds to import."""

from __future__ import annotations

from importlib import import_module

GROUP_TITLES = {
    "model": "Model arguments",
    "data": "Data arguments",
    "finetuning": "Fine-tuning arguments",
    "generating": "Generation arguments",
    "training": "Training arguments (transformers Seq2SeqTrainingArguments, extended)",
    "evaluation": "Evaluation arguments (benchmarks: MMLU, C-Eval, CMMLU)",
    "prediction": "Prediction arguments (tunefactory predict)",
}

_GROUP_CLASSES = {
    "model": "tunefactory.config.model_args:ModelArguments",
    "data": "tunefactory.config.data_args:DataArguments",
    "finetuning": "tunefactory.config.finetuning_args:FinetuningArguments",
    "generating": "tunefactory.config.generating_args:GeneratingArguments",
    "training": "tunefactory.config.training_args:TrainingArguments",
    "evaluation": "tunefactory.config.evaluation_args:EvaluationArguments",
    "prediction": "tunefactory.config.prediction_args:PredictionArguments",
}

COMMAND_GROUPS = {
    "train": ("model", "data", "finetuning", "generating", "training"),
    # chat, serve and export read no training arguments, as in LLaMA-Factory
    **{command: ("model", "data", "finetuning", "generating") for command in ("chat", "api", "webchat", "export")},
    # eval scores answer letters from one forward pass: no generation or training arguments
    "eval": ("model", "data", "finetuning", "evaluation"),
    # predict generates answers for a dataset: generation arguments, no training arguments
    "predict": ("model", "data", "finetuning", "generating", "prediction"),
}


def group_classes(command: str) -> dict[str, type]:
    classes = {}
    for group in COMMAND_GROUPS[command]:
        module_name, class_name = _GROUP_CLASSES[group].split(":")
        classes[group] = getattr(import_module(module_name), class_name)
    return classes
