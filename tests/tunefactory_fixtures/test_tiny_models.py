"""Tiny offline models load by path with plain transformers and carry their family's special tokens."""

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tunefactory_fixtures.tiny_models import FAMILY_TOKENS, ensure_tiny_model


def load(path):
    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)


def test_llama_and_qwen2_load_with_auto_classes(tiny_llama, tiny_qwen2):
    for path, model_type in ((tiny_llama, "llama"), (tiny_qwen2, "qwen2")):
        tokenizer, model = load(path)
        assert model.config.model_type == model_type
        assert model.config.vocab_size == len(tokenizer)
        assert sum(p.numel() for p in model.parameters()) < 1_000_000
        ids = tokenizer("What is 12 + 30?", return_tensors="pt").input_ids
        logits = model(ids).logits
        assert logits.shape == (1, ids.shape[1], len(tokenizer))
        assert torch.isfinite(logits).all()


def test_special_tokens_are_single_ids_and_text_round_trips(tiny_llama, tiny_qwen2):
    for path, arch in ((tiny_llama, "llama"), (tiny_qwen2, "qwen2")):
        tokenizer, _ = load(path)
        for token in FAMILY_TOKENS[arch]["extra"]:
            assert len(tokenizer(token, add_special_tokens=False).input_ids) == 1, token
        text = "Brasília is 23 °C today.\n  Indented line"
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert tokenizer.decode(ids) == text  # byte-level BPE: no unknown tokens, exact round trip
    llama_tokenizer, _ = load(tiny_llama)
    assert llama_tokenizer.eos_token == "<|end_of_text|>" and llama_tokenizer.bos_token == "<|begin_of_text|>"


def test_dropped_token_is_absent_and_builds_are_cached(tiny_model_cache, tiny_llama):
    without_eot = ensure_tiny_model(tiny_model_cache, arch="llama", drop_tokens=("<|eot_id|>",))
    tokenizer = AutoTokenizer.from_pretrained(without_eot)
    assert "<|eot_id|>" not in tokenizer.get_vocab()
    assert without_eot != tiny_llama
    assert ensure_tiny_model(tiny_model_cache, arch="llama") == tiny_llama  # same recipe, same folder


def test_same_seed_gives_same_weights(tmp_path):
    from tunefactory_fixtures.tiny_models import build_tiny_model

    a = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "a", "qwen2", seed=3))
    b = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "b", "qwen2", seed=3))
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(pa, pb), name


def test_the_tokenizer_corpus_is_pinned():
    """The tiny tokenizer (and so the demo and every learning check) depends on these files' exact bytes."""
    from tunefactory_fixtures.tiny_models import corpus_fingerprint

    assert corpus_fingerprint() == "56263fb44b29", (
        "a file of TOKENIZER_CORPUS changed: every tiny model's vocabulary changes with it. Run `make demo` and the "
        "learning checks; if they hold, pin the new fingerprint here")


def test_a_new_bundled_dataset_leaves_the_tokenizer_as_it_was(tmp_path):
    import shutil

    from tunefactory_fixtures.tiny_models import BUNDLED_DATA_DIR, TOKENIZER_CORPUS, corpus_fingerprint, train_tokenizer

    for name in TOKENIZER_CORPUS:
        shutil.copy(BUNDLED_DATA_DIR / name, tmp_path / name)
    before = train_tokenizer("qwen2", 512, 1024, tmp_path).get_vocab()
    (tmp_path / "new_dataset.json").write_text('[{"text": "zzqx zzqx zzqx 12345 67890 zzqx"}]' * 1)
    assert train_tokenizer("qwen2", 512, 1024, tmp_path).get_vocab() == before
    assert corpus_fingerprint(tmp_path) == corpus_fingerprint()
