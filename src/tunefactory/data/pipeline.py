"""The data engine: from `dataset:` names to train and eval datasets of canonical examples.

    registry entry -> raw rows -> sample -> convert (bad rows skipped, reported, counted)
      -> mix several datasets -> split off validation
      -> process each split for the stage (tokenize with the template; drop, count and report)
      -> save to / load from `tokenized_path`

Only the main process does the work in distributed runs; the others wait and reuse the cache.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from ..config.stages import STAGES, get_stage
from ..errors import DataError
from .bad_rows import DROP_COLUMN, DropWords, RowMapper, column_names, drop_bad_rows, map_batched
from .converters import CANONICAL_COLUMNS, EMPTY_EXAMPLE, Converter
from .processors import describe_example, process_dataset
from .registry import DatasetAttr, get_dataset_attrs
from .sources import load_rows

logger = logging.getLogger(__name__)

CONVERSION_WORDS = DropWords(
    label="dataset {name!r}",
    dropped="{label}, row {index} skipped: {reason}",
    more="{label}: {count} more rows skipped (counts below)",
    problem="row {index}: {reason}",
    none_left="{label} has no usable rows ({summary})",
    too_many="{summary}: more than max_invalid_fraction={fraction} of the rows are invalid, so the data is probably "
             "mis-registered (wrong formatting, columns or tags)",
)
MIX_STOPPING = {"interleave_under": "first_exhausted", "interleave_over": "all_exhausted",
                "interleave_once": "all_exhausted_without_replacement"}


@dataclass
class DatasetReport:
    """What loading one dataset did: how many rows were read and kept, and why others were skipped."""

    name: str
    rows_read: int | None = None  # None when streaming
    rows_kept: int | None = None
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    first_skipped: list[tuple[int, str]] = field(default_factory=list)  # (row index, reason)

    def record_drops(self, rows: int, reasons_by_kind: Counter, first: list[tuple[int, str]]) -> None:
        self.rows_read, self.rows_kept = rows, rows - sum(reasons_by_kind.values())
        self.skipped, self.first_skipped = reasons_by_kind, first

    def summary(self) -> str:
        if self.rows_read is None:
            return f"dataset {self.name!r}: streaming (bad rows are skipped and logged as they are met)"
        text = f"dataset {self.name!r}: {self.rows_read} rows read, {self.rows_kept} kept"
        if self.skipped:
            reasons = "; ".join(f"{count} x {reason}" for reason, count in self.skipped.most_common())
            text += f", {sum(self.skipped.values())} skipped ({reasons})"
        return text


@dataclass
class DatasetModule:
    """What the training stages receive."""

    train: Any = None  # datasets.Dataset or IterableDataset
    eval: Any = None  # a dataset, or {name: dataset} with eval_on_each_dataset
    reports: list[DatasetReport] = field(default_factory=list)
    saved_to: str | None = None  # tokenized_path written by this call: the run was asked to preprocess
    processing: list = field(default_factory=list)  # processors.ProcessReport per processed split


def get_dataset(config, template=None, tokenizer=None, media=None) -> DatasetModule:
    """Load, convert, mix, split and process the configured datasets for `config.finetuning.stage`.

    With a template and tokenizer each split goes through the stage's processor (see
    `processors`) and the first training example is logged as the model will see it; without
    them the datasets hold canonical examples.
    """
    data, training = config.data, config.training
    if data.tokenized_path and os.path.isdir(data.tokenized_path):
        return _load_tokenized(data)
    with _main_process_first(training, data):
        module = DatasetModule()
        train = _load_and_merge(data.dataset, config, module.reports)
        if data.eval_on_each_dataset and data.eval_dataset:
            evaluation = {name: _load_and_merge([name], config, module.reports) for name in data.eval_dataset}
        else:
            evaluation = _load_and_merge(data.eval_dataset, config, module.reports)
        train, evaluation = _split(train, evaluation, data, config.seed)
        if template is not None and tokenizer is not None:
            train, evaluation = _process(module, train, evaluation, config, template, tokenizer, media)
        module.train, module.eval = train, evaluation
        if data.tokenized_path:
            module.saved_to = _save_tokenized(module, data.tokenized_path, training)
    return module


def get_canonical_dataset(config, reader: str) -> DatasetModule:
    """get_dataset's canonical examples for a command that renders conversations itself (``reader``: its name).
    A tokenized_path holds encoded rows without their conversations, so it is skipped, with a warning."""
    if config.data.tokenized_path:
        logger.warning("tokenized_path is ignored by %s: it reads the conversations from the datasets", reader)
        config = replace(config, data=replace(config.data, tokenized_path=None))
    return get_dataset(config)


def _process(module: DatasetModule, train, evaluation, config, template, tokenizer, media=None):
    def run(dataset, split: str, is_eval: bool):
        processed, report = process_dataset(dataset, config, template, tokenizer, split=split, is_eval=is_eval,
                                            media=media)
        module.processing.append(report)
        return processed

    if train is not None:
        train = run(train, "train", is_eval=False)
        logger.info("first training example, as the model sees it:\n%s",
                    describe_example(_first(train), tokenizer))
    if isinstance(evaluation, dict):
        evaluation = {name: run(ds, f"eval {name}", is_eval=True) for name, ds in evaluation.items()}
    elif evaluation is not None:
        evaluation = run(evaluation, "eval", is_eval=True)
    return train, evaluation


def _first(dataset) -> dict:
    return next(iter(dataset.take(1))) if hasattr(dataset, "take") else dataset[0]


def _load_and_merge(names: list[str] | None, config, reports: list[DatasetReport]):
    if not names:
        return None
    data = config.data
    parts = []
    for attr in get_dataset_attrs(names, data.dataset_dir):
        check_stage_fits(attr, config.finetuning.stage)
        report = DatasetReport(attr.name)
        parts.append(load_one(attr, config, report))
        reports.append(report)
        logger.info(report.summary())
    return merge(parts, data.mix_strategy, data.interleave_probs, config.seed)


def check_stage_fits(attr: DatasetAttr, stage_name: str) -> None:
    """A stage that trains on ranked pairs needs them (and no other stage takes them); KTO needs labels."""
    stage = get_stage(stage_name)
    if stage.ranked_data and not attr.ranking:
        raise DataError(f"stage {stage.name} trains on preference pairs: dataset {attr.name!r} needs \"ranking\": "
                        "true and chosen/rejected columns in dataset_info.json")
    if not stage.ranked_data and attr.ranking:
        ranked_stages = " or ".join(s.name for s in STAGES.values() if s.ranked_data)
        raise DataError(f"dataset {attr.name!r} holds preference pairs (ranking: true); use it with stage "
                        f"{ranked_stages}, not {stage.name}")
    if stage.kto_tags and not attr.kto_tag:
        raise DataError(f"stage {stage.name} needs a desirable/undesirable label per row: set columns.kto_tag for "
                        f"dataset {attr.name!r} in dataset_info.json")


def load_one(attr: DatasetAttr, config, report: DatasetReport):
    """One dataset's canonical examples, with its bad rows skipped and counted in `report`."""
    data, model = config.data, config.model
    rows = load_rows(attr, data.dataset_dir, streaming=data.streaming, cache_dir=model.cache_dir,
                     hub_token=model.hf_hub_token)
    attr = _present_columns(attr, column_names(rows))
    rows = _media_kept_encoded(rows, attr)
    if not data.streaming:
        rows = _sample(rows, attr, data.max_samples, config.seed)
    converter = RowMapper(Converter(attr, media_dir=data.media_dir or data.dataset_dir,
                                    embedded_media_dir=embedded_media_dir(model.cache_dir)),
                          CANONICAL_COLUMNS, EMPTY_EXAMPLE)
    converted = map_batched(rows, converter, data, f"Converting {attr.name}", features=canonical_features())
    return drop_bad_rows(converted, data, CONVERSION_WORDS, attr.name, report)


def embedded_media_dir(cache_dir: str | None) -> str:
    """Where images held inside dataset rows are kept as files: beside the datasets cache (``cache_dir`` when set)."""
    if cache_dir:
        return os.path.join(cache_dir, "tunefactory-media")
    from datasets import config as datasets_config

    return os.path.join(str(datasets_config.HF_DATASETS_CACHE), "tunefactory-media")


def _media_kept_encoded(rows, attr: DatasetAttr):
    """Image and Audio columns read as their encoded bytes, not decoded: the converter keeps each as a file and the
    collator decodes it when its batch is built (datasets 4+ would decode sounds only with torchcodec)."""
    features = getattr(rows, "features", None) or {}
    for column in (attr.images, attr.audios):
        if column and column in features:
            encoded = _undecoded(features[column])
            if encoded is not features[column]:
                rows = rows.cast_column(column, encoded)
    return rows


def _undecoded(feature):
    from datasets import Audio, Image, List, Sequence

    if isinstance(feature, (Image, Audio)) and feature.decode:
        return type(feature)(decode=False)
    if isinstance(feature, (List, Sequence)):
        inner = _undecoded(feature.feature)
        return feature if inner is feature.feature else type(feature)(inner)
    if isinstance(feature, list) and feature:  # the old way of writing a list feature: [Image()]
        inner = _undecoded(feature[0])
        return feature if inner is feature[0] else [inner]
    return feature


def _present_columns(attr: DatasetAttr, columns: list[str]) -> DatasetAttr:
    """Columns the entry names (or the format needs) must exist; optional default ones may be absent."""
    required = {"prompt"} if attr.formatting == "alpaca" else {"messages"}
    if attr.ranking:
        required |= {"chosen", "rejected"}
    absent = {}
    for role, column in attr.used_columns().items():
        if column in columns:
            continue
        if role in attr.explicit_columns or role in required:
            raise DataError(f"dataset {attr.name!r}: column {column!r} (columns.{role}) is missing; "
                            f"the data has columns {columns}")
        absent[role] = None
    return replace(attr, **absent)


def _sample(rows, attr: DatasetAttr, max_samples: int | None, seed: int):
    if attr.num_samples is not None:  # the registry's num_samples: a seeded sample, with repeats if larger
        import numpy as np

        rng = np.random.default_rng(seed)
        indices = rng.permutation(len(rows))[: attr.num_samples]
        if attr.num_samples > len(rows):
            extra = rng.choice(len(rows), attr.num_samples - len(rows))
            indices = np.concatenate([rng.permutation(len(rows)), extra])
        rows = rows.select(indices.tolist())
    if max_samples is not None and max_samples < len(rows):
        rows = rows.select(range(max_samples))
    return rows


def canonical_features():
    """Fixed Arrow types, so datasets with and without media or tools concatenate."""
    from datasets import Features, List, Value

    message = {"role": Value("string"), "content": Value("string")}
    return Features({
        "_prompt": List(message), "_response": List(message), "_system": Value("string"), "_tools": Value("string"),
        "_images": List(Value("string")), "_videos": List(Value("string")), "_audios": List(Value("string")),
        DROP_COLUMN: Value("string"),
    })


def merge(parts: list, strategy: str, probabilities: list[float] | None, seed: int):
    from datasets import concatenate_datasets, interleave_datasets

    if len(parts) == 1:
        return parts[0]
    if strategy == "concat":
        return concatenate_datasets(parts)
    return interleave_datasets(parts, probabilities=probabilities, seed=seed, stopping_strategy=MIX_STOPPING[strategy])


def _split(train, evaluation, data, seed: int):
    """Carve validation data out of the training data when val_size asks for it."""
    if train is None or data.val_size <= 1e-6 or evaluation is not None:
        if data.streaming and train is not None:
            train = train.shuffle(buffer_size=data.buffer_size, seed=seed)
        return train, evaluation
    size = int(data.val_size) if data.val_size >= 1 else data.val_size
    if data.streaming:
        train = train.shuffle(buffer_size=data.buffer_size, seed=seed)
        return train.skip(size), train.take(size)
    if isinstance(size, int) and size >= len(train):
        raise DataError(f"val_size={size} leaves no training data: the training data has {len(train)} examples")
    parts = train.train_test_split(test_size=size, seed=seed)
    return parts["train"], parts["test"]


def _save_tokenized(module: DatasetModule, path: str, training) -> str:
    from datasets import DatasetDict

    splits = {}
    if module.train is not None:
        splits["train"] = module.train
    if isinstance(module.eval, dict):
        splits.update({f"validation_{name}": ds for name, ds in module.eval.items()})
    elif module.eval is not None:
        splits["validation"] = module.eval
    if getattr(training, "should_save", True):
        DatasetDict(splits).save_to_disk(path)
        logger.info("processed dataset saved to %s; runs with tokenized_path: %s load it without reprocessing",
                    path, path)
    return path


def _load_tokenized(data) -> DatasetModule:
    from datasets import load_from_disk

    logger.warning("loading the processed dataset from tokenized_path %s; dataset, template and cutoff settings "
                   "are not re-applied", data.tokenized_path)
    saved = load_from_disk(data.tokenized_path)
    evaluation = {name[len("validation_"):]: ds for name, ds in saved.items() if name.startswith("validation_")}
    return DatasetModule(train=saved.get("train"), eval=saved.get("validation") or evaluation or None)


@contextlib.contextmanager
def _main_process_first(training, data):
    """In distributed runs the main process prepares the data while the others wait, then reuse its cache."""
    context = getattr(training, "main_process_first", None)
    if context is None:
        yield
        return
    with context(local=not data.data_shared_file_system, desc="loading datasets"):
        yield
