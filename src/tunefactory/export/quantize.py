"""GPTQ quantization at export (``export_quantization_bit``), as in LLaMA-Factory.

The plain (already merged) model loads through transformers' GPTQ quantizer, which calibrates on
``export_quantization_nsamples`` windows of ``export_quantization_maxlen`` tokens from
``export_quantization_dataset`` and needs a CUDA GPU with optimum and gptqmodel installed.
Adapters are refused: export the merged model first, then quantize that export.
"""

from __future__ import annotations

import logging
import os
from importlib.util import find_spec

from ..errors import DataError
from ..model.loader import resolve_model_path

logger = logging.getLogger(__name__)

GPTQ_BITS = (2, 3, 4, 8)
DATASET_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}


def gptq_problems(model_args) -> list[str]:
    """What stops a GPTQ export on this machine or with these keys (checked before anything loads)."""
    import torch

    problems = []
    if model_args.export_quantization_bit not in GPTQ_BITS:
        problems.append(f"export_quantization_bit (GPTQ) must be one of {', '.join(map(str, GPTQ_BITS))}, "
                        f"not {model_args.export_quantization_bit}")
    if not model_args.export_quantization_dataset:
        problems.append("export_quantization_bit needs export_quantization_dataset: text to calibrate on (a .json, "
                        ".jsonl, .csv, .parquet or .txt file with a `text` column, or a hub dataset)")
    if model_args.adapter_name_or_path:
        problems.append("export_quantization_bit quantizes a plain model: export the merged model first (without "
                        "export_quantization_bit), then quantize that export (model_name_or_path: its export_dir)")
    if not torch.cuda.is_available():
        problems.append("export_quantization_bit (GPTQ) needs a CUDA GPU and none was found; export without "
                        "quantization here and quantize on a GPU machine")
    missing = [package for package in ("optimum", "gptqmodel") if find_spec(package) is None]
    if missing:
        problems.append(f"export_quantization_bit (GPTQ) needs {' and '.join(missing)}: "
                        f"pip install {' '.join(missing)}")
    return problems


def load_quantized_model(tokenizer, config):
    """The model quantized by GPTQ while it loads, in float16 over the available GPUs."""
    import torch
    from transformers import AutoModelForCausalLM, GPTQConfig

    m = config.model
    gptq = GPTQConfig(bits=m.export_quantization_bit, tokenizer=tokenizer, dataset=calibration_samples(tokenizer, m))
    logger.info("quantizing to %d bits with GPTQ on %d calibration samples", m.export_quantization_bit,
                m.export_quantization_nsamples)
    return AutoModelForCausalLM.from_pretrained(
        resolve_model_path(m), quantization_config=gptq, device_map="auto", dtype=torch.float16,
        trust_remote_code=m.trust_remote_code, cache_dir=m.cache_dir, revision=m.model_revision,
        token=m.hf_hub_token)


def calibration_samples(tokenizer, model_args) -> list[dict]:
    """``nsamples`` windows of ``maxlen`` tokens, cut from the dataset's texts joined end to end
    (EOS between texts), in the pre-tokenized form optimum's GPTQ quantizer takes."""
    nsamples, maxlen = model_args.export_quantization_nsamples, model_args.export_quantization_maxlen
    texts = _calibration_texts(model_args)
    needed, ids = nsamples * maxlen, []
    for text in texts:
        ids += tokenizer(text, add_special_tokens=False)["input_ids"]
        if tokenizer.eos_token_id is not None:
            ids.append(tokenizer.eos_token_id)
        if len(ids) >= needed:
            break
    if len(ids) < needed:
        raise DataError(f"export_quantization_dataset {model_args.export_quantization_dataset} holds {len(ids)} "
                        f"tokens; {nsamples} samples of {maxlen} need {needed}: lower export_quantization_nsamples "
                        "or export_quantization_maxlen, or give more text")
    return [{"input_ids": [ids[i * maxlen:(i + 1) * maxlen]], "attention_mask": [[1] * maxlen]}
            for i in range(nsamples)]


def _calibration_texts(model_args):
    from datasets import load_dataset

    source = model_args.export_quantization_dataset
    if os.path.isfile(source):
        builder = DATASET_BUILDERS.get(os.path.splitext(source)[1].lower())
        if builder is None:
            raise DataError(f"export_quantization_dataset {source}: use a {', '.join(DATASET_BUILDERS)} file")
        dataset = load_dataset(builder, data_files=source, split="train")
    else:
        dataset = load_dataset(source, split="train", cache_dir=model_args.cache_dir, token=model_args.hf_hub_token)
    if "text" not in dataset.column_names:
        raise DataError(f"export_quantization_dataset {source} has no `text` column (it has: "
                        f"{', '.join(dataset.column_names)})")
    return (text for text in dataset["text"] if text)
