"""Continued pre-training (pt): raw text, learned token by token.

Each document becomes ``[bos] text <eos>`` (BOS when the tokenizer adds one on its own) and is
learned whole, EOS included. With packing (the default for pt) the documents are concatenated and
cut into rows of exactly ``cutoff_len`` tokens; the last, shorter row of each batch is kept, not
dropped. Without packing each document is truncated to ``cutoff_len``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bad_rows import BadRow
from ..token_ids import encode_texts
from .common import Processor

TEXT_IDS = "_text_ids"  # the document's ids, encoded with the rest of its batch
LLAMA3_DOCUMENT_END = "<|end_of_text|>"  # Llama 3 base models end documents with it, not <|eot_id|>


def tokenizer_bos_prefix(tokenizer) -> list[int]:
    """The special ids the tokenizer puts before any text on its own (usually ``[bos]`` or ``[]``)."""
    plain = tokenizer.encode("a", add_special_tokens=False)
    full = tokenizer.encode("a", add_special_tokens=True)
    for start in range(len(full) - len(plain) + 1):
        if full[start:start + len(plain)] == plain:
            return full[:start]
    return []


def document_end_id(tokenizer, template_name: str | None) -> int:
    if template_name == "llama3" and LLAMA3_DOCUMENT_END in tokenizer.get_vocab():
        return tokenizer.convert_tokens_to_ids(LLAMA3_DOCUMENT_END)
    return tokenizer.eos_token_id


@dataclass
class PretrainProcessor(Processor):
    """One row per document: ``[bos] text <eos>``, truncated to ``cutoff_len`` unless packed later."""

    output_columns: tuple[str, ...] = ("input_ids", "labels")
    truncate: bool = True

    def __post_init__(self):
        self.bos_prefix = tokenizer_bos_prefix(self.tokenizer)
        self.end_id = document_end_id(self.tokenizer, self.template.name if self.template else None)

    def __call__(self, batch):
        # the batch's documents encoded in one tokenizer call
        texts = [prompt[0]["content"] if prompt else "" for prompt in batch["_prompt"]]  # the text column (prompt)
        return super().__call__({**batch, TEXT_IDS: encode_texts(self.tokenizer, texts)})

    def encode(self, example):
        if not example[TEXT_IDS]:
            raise BadRow("empty text")
        ids = self.bos_prefix + example[TEXT_IDS] + [self.end_id]
        if self.truncate:
            ids = ids[: self.cutoff_len]
        return {"input_ids": ids, "labels": list(ids)}


@dataclass
class BlockConcatenator:
    """``datasets.map(batched=True)`` step: documents concatenated, then cut into ``cutoff_len`` rows."""

    cutoff_len: int

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        stream = [token for ids in batch["input_ids"] for token in ids]
        rows = [stream[start:start + self.cutoff_len] for start in range(0, len(stream), self.cutoff_len)]
        return {"input_ids": rows, "labels": [list(row) for row in rows]}
