"""Token ids of many texts in one call of the fast tokenizer, equal to encoding each text alone.

``tokenizer.encode`` costs a Python round trip through transformers per text, and the Rust side
computes character offsets nobody here reads. A template encodes a conversation as one text per
message, so a row is several calls. `encode_texts` sends a row's (or a batch's) texts to the Rust
tokenizer at once, without offsets (``encode_batch_fast``), when that gives exactly what
``tokenizer.encode(text, add_special_tokens=False)`` gives:

- the tokenizer is a transformers fast tokenizer that does not change how texts are encoded
  (a few, such as LayoutLM's or LUKE's, override the encoding call: those go one by one);
- the Rust tokenizer holds no truncation or padding state, and splits special tokens as the
  transformers tokenizer says (transformers resets both on every call; one plain batched call
  through transformers puts them right, after which the fast path applies).

Anything else (a slow tokenizer, a test double) goes through ``tokenizer.encode`` one text at a time.
"""

from __future__ import annotations

from functools import lru_cache


def encode_texts(tokenizer, texts: list[str]) -> list[list[int]]:
    """``[tokenizer.encode(text, add_special_tokens=False) for text in texts]``, in one call where possible;
    an empty text gives ``[]``."""
    if not texts:
        return []
    backend = getattr(tokenizer, "_tokenizer", None)
    if not _plain_fast_tokenizer(type(tokenizer)) or not hasattr(backend, "encode_batch_fast"):
        return [tokenizer.encode(text, add_special_tokens=False) if text else [] for text in texts]
    if (backend.truncation is not None or backend.padding is not None
            or backend.encode_special_tokens != bool(getattr(tokenizer, "split_special_tokens", False))):
        return [list(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    return [encoding.ids for encoding in backend.encode_batch_fast(texts, add_special_tokens=False)]


@lru_cache(maxsize=None)
def _plain_fast_tokenizer(tokenizer_class: type) -> bool:
    """A transformers fast tokenizer whose encoding call is the backend's own."""
    try:
        from transformers.tokenization_utils_tokenizers import TokenizersBackend
    except ImportError:  # another transformers layout: take the slow, always-right path
        return False
    if not issubclass(tokenizer_class, TokenizersBackend):
        return False
    return all(getattr(tokenizer_class, name, None) is getattr(TokenizersBackend, name, None)
               for name in ("_encode_plus", "encode", "__call__"))
