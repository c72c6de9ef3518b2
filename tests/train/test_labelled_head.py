"""The LM head only on labelled positions equals the model's own loss and log-probabilities, gradients included."""

from __future__ import annotations

import pytest
import torch

from tunefactory.train import labelled_head
from tunefactory.train.labelled_head import fused_head_blocker, labelled_lm_loss, labelled_token_logps
from tunefactory.train.pair_trainers import policy_logps
from tunefactory_fixtures.gradients import pop_gradients, trainable_model

TOLERANCE = dict(rtol=1e-5, atol=1e-5)


def _batch(vocab_size: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, vocab_size, (3, 12), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[2, 9:] = 0  # a padded row
    labels = input_ids.clone()
    labels[:, :5] = -100  # prompts
    labels[1, 5:8] = -100  # a masked middle (multi-turn history)
    labels[2, 9:] = -100
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def _assert_same_grads(expected: dict, got: dict):
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], **TOLERANCE, msg=name)


@pytest.fixture(params=["llama", "qwen2_tied", "llama_lora"])
def model(request, tiny_llama, tiny_qwen2):
    if request.param == "qwen2_tied":  # tied input/output embeddings: both uses must reach one gradient
        model = trainable_model(tiny_qwen2)
        assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
        return model
    return trainable_model(tiny_llama, lora=request.param.endswith("lora"))


@pytest.mark.parametrize("num_items_in_batch", [None, 40])
@pytest.mark.parametrize("chunk_bytes", [None, 4 * 1024 * 5])  # one chunk; five rows per chunk
def test_sft_loss_and_gradients_equal_the_models_own(model, num_items_in_batch, chunk_bytes, monkeypatch):
    if chunk_bytes:
        monkeypatch.setattr(labelled_head, "CHUNK_BYTES", chunk_bytes * model.config.vocab_size // 1024)
    assert fused_head_blocker(model) is None
    batch = _batch(model.config.vocab_size)
    extra = {} if num_items_in_batch is None else {"num_items_in_batch": torch.tensor(num_items_in_batch)}
    expected = model(**batch, **extra).loss
    expected.backward()
    expected_grads = pop_gradients(model)
    got = labelled_lm_loss(model, batch, extra.get("num_items_in_batch"))
    got.backward()
    torch.testing.assert_close(got, expected, **TOLERANCE)
    _assert_same_grads(expected_grads, pop_gradients(model))
    assert type(model.get_output_embeddings()) is torch.nn.Linear  # the head is put back


@pytest.mark.parametrize("ld_alpha", [None, 0.5])
def test_dpo_kto_logps_and_gradients_equal_the_full_logits_path(model, ld_alpha, monkeypatch):
    monkeypatch.setattr(labelled_head, "CHUNK_BYTES", 4 * 7 * model.config.vocab_size)  # seven rows per chunk
    batch = _batch(model.config.vocab_size, seed=1)
    batch = {key: torch.cat([value, value.flip(0)]) for key, value in batch.items()}  # chosen rows, rejected rows
    weights = torch.linspace(-1.0, 2.0, 6)  # any downstream loss: a weighted sum of the rows' log-probs
    results = {}
    for fused in (False, True):
        logps, counts, mean_logits = policy_logps(model, batch["input_ids"], batch["attention_mask"], batch["labels"],
                                                  ld_alpha=ld_alpha, labelled_head=fused)
        (weights * logps).sum().backward()
        results[fused] = (logps.detach(), counts, mean_logits, pop_gradients(model))
    torch.testing.assert_close(results[True][0], results[False][0], **TOLERANCE)
    assert torch.equal(results[True][1], results[False][1])
    torch.testing.assert_close(results[True][2], results[False][2], **TOLERANCE)
    _assert_same_grads(results[False][3], results[True][3])


def test_token_logps_are_zero_off_the_labels(tiny_llama):
    model = trainable_model(tiny_llama)
    batch = _batch(model.config.vocab_size)
    with torch.no_grad():
        per_token, mask, _ = labelled_token_logps(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
    assert torch.equal(mask, batch["labels"][:, 1:] != -100)
    assert (per_token[~mask] == 0).all() and (per_token[mask] < 0).all()


def test_models_that_post_process_logits_keep_their_own_loss(tiny_llama):
    model = trainable_model(tiny_llama)
    model.config.final_logit_softcapping = 30.0
    assert "final_logit_softcapping=30.0" in fused_head_blocker(model)
    model.config.final_logit_softcapping = None
    assert fused_head_blocker(model, extra_inputs=["pixel_values"]).startswith("the batch carries inputs")
