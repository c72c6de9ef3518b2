"""Tiny random-weight causal LMs built offline in seconds, for tests, the demo and benchmarks.

Each model gets a byte-level BPE tokenizer trained on a fixed, named part of the project's bundled
text (``TOKENIZER_CORPUS``) with the special tokens its family's chat format uses, and is saved with
``save_pretrained`` so transformers loads it by path like any hub checkpoint:

    python -m tunefactory_fixtures.tiny_models --arch qwen2 --size tiny --out /tmp/tiny-qwen2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

BUNDLED_DATA_DIR = Path(__file__).resolve().parents[2] / "data"

# The tokenizer's training corpus: these bundled files and no others. The vocabulary (how digits and
# words split) decides what the demo and the learning checks can learn, so a dataset added to data/
# must never change it; tests/tunefactory_fixtures/test_tiny_models.py pins these files' digest.
TOKENIZER_CORPUS = (
    "alpaca_demo.json", "arith_test.json", "arith_train.json", "kto_demo.json", "openai_messages.json",
    "preference_pairs.json", "preference_sharegpt.json", "pretrain_text.json", "sharegpt_tools.json",
)

# The special tokens each family's chat format needs (what its real tokenizer ships).
FAMILY_TOKENS = {
    "llama": {
        "bos": "<|begin_of_text|>", "eos": "<|end_of_text|>", "pad": None,
        "extra": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>"],
    },
    "qwen2": {
        "bos": None, "eos": "<|endoftext|>", "pad": "<|endoftext|>",
        "extra": ["<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<think>", "</think>"],
    },
}


@dataclass(frozen=True)
class TinySize:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int


SIZES = {
    # tests: well under a million parameters, a forward pass in milliseconds
    "tiny": TinySize(64, 2, 4, 2, 128, 1024, 1024),
    # the demo: big enough to learn two-digit arithmetic on a CPU in a few minutes
    "small": TinySize(128, 4, 4, 2, 384, 2048, 2048),
    # benchmarks: about 20M parameters
    "bench": TinySize(384, 8, 6, 2, 1024, 8192, 4096),
}


def corpus_files(data_dir: Path = BUNDLED_DATA_DIR) -> list[Path]:
    """The files of ``TOKENIZER_CORPUS`` in ``data_dir``; all must be there."""
    files = [data_dir / name for name in TOKENIZER_CORPUS]
    missing = [path.name for path in files if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"the tiny tokenizer's corpus lacks {', '.join(missing)} in {data_dir}; "
                                "run `python -m tunefactory_fixtures.bundled_data`")
    return files


def bundled_texts(data_dir: Path = BUNDLED_DATA_DIR) -> Iterator[str]:
    """Every string in the corpus files: the tokenizer's training text."""
    for path in corpus_files(data_dir):
        yield from _strings(json.loads(path.read_text(encoding="utf-8")))


def _strings(node) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def train_tokenizer(arch: str, vocab_size: int, model_max_length: int, data_dir: Path = BUNDLED_DATA_DIR,
                    drop_tokens: tuple[str, ...] = ()):
    """A byte-level BPE tokenizer with the family's special tokens (minus ``drop_tokens``)."""
    family = FAMILY_TOKENS[arch]
    named = {role: token for role in ("bos", "eos", "pad") if (token := family[role]) and token not in drop_tokens}
    specials = list(dict.fromkeys([*named.values(), *(t for t in family["extra"] if t not in drop_tokens)]))
    return train_bpe_tokenizer(specials, named, vocab_size, model_max_length, data_dir)


def train_bpe_tokenizer(special_tokens: list[str], named: dict[str, str], vocab_size: int, model_max_length: int,
                        data_dir: Path = BUNDLED_DATA_DIR, plain_tokens: tuple[str, ...] = ()):
    """A byte-level BPE tokenizer trained on the corpus: ``special_tokens`` take ids 0, 1, ... in their order,
    ``named`` maps bos/eos/pad to some of them and the others become additional special tokens.

    ``plain_tokens`` (some of ``special_tokens``) stay single tokens but are not special, as Qwen3's ``<think>``
    and ``<tool_call>`` are not: decoding with ``skip_special_tokens`` keeps them."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special_tokens, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodes: no unknown tokens
    )
    tokenizer.train_from_iterator(bundled_texts(data_dir), trainer=trainer)
    # adding a token again keeps its id and takes the new flags
    tokenizer.add_tokens([AddedToken(token, special=False, normalized=False) for token in plain_tokens])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=model_max_length,
        bos_token=named.get("bos"), eos_token=named.get("eos"), pad_token=named.get("pad"),
        additional_special_tokens=[t for t in special_tokens if t not in named.values() and t not in plain_tokens],
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(out_dir: str | Path, arch: str = "llama", size: str = "tiny", seed: int = 0,
                     drop_tokens: tuple[str, ...] = (), data_dir: Path = BUNDLED_DATA_DIR) -> Path:
    """Build and save a random-weight model plus tokenizer; returns ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    if arch not in FAMILY_TOKENS:
        raise ValueError(f"unknown tiny-model arch {arch!r}; choose from {sorted(FAMILY_TOKENS)}")
    if size not in SIZES:
        raise ValueError(f"unknown tiny-model size {size!r}; choose from {sorted(SIZES)}")
    dims = SIZES[size]
    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(arch, dims.vocab_size, dims.max_position_embeddings, data_dir, drop_tokens)

    config_class = {"llama": LlamaConfig, "qwen2": Qwen2Config}[arch]
    config = config_class(
        **{**asdict(dims), "vocab_size": len(tokenizer)},
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=(arch == "qwen2"),
        initializer_range=0.02, torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def ensure_tiny_model(cache_dir: str | Path, arch: str = "llama", size: str = "tiny", seed: int = 0,
                      drop_tokens: tuple[str, ...] = ()) -> Path:
    """Build a tiny model once into ``cache_dir`` and reuse it while its recipe is unchanged."""
    recipe = {"arch": arch, "size": asdict(SIZES[size]), "seed": seed, "drop": list(drop_tokens),
              "tokens": FAMILY_TOKENS[arch], "corpus": corpus_fingerprint()}
    return build_once(cache_dir, f"{arch}-{size}", recipe,
                      lambda out_dir: build_tiny_model(out_dir, arch, size, seed, drop_tokens))


def build_once(cache_dir: str | Path, name: str, recipe: dict, build: Callable[[Path], Path]) -> Path:
    """``cache_dir/<name>-<hash of recipe>``, calling ``build(folder)`` only when no finished build is there."""
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    target = Path(cache_dir) / f"{name}-{key}"
    if (target / "config.json").is_file():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    build(partial)
    partial.rename(target)  # atomic: a crashed build never looks finished
    return target


def corpus_fingerprint(data_dir: Path = BUNDLED_DATA_DIR) -> str:
    """A digest of the corpus files' names and bytes: it changes exactly when the tokenizer would."""
    digest = hashlib.sha256()
    for path in corpus_files(data_dir):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a tiny random-weight causal LM with its own tokenizer.")
    parser.add_argument("--arch", choices=sorted(FAMILY_TOKENS), default="llama")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder (created)")
    args = parser.parse_args(argv)
    path = build_tiny_model(args.out, args.arch, args.size, args.seed)
    print(path)


if __name__ == "__main__":
    main()
