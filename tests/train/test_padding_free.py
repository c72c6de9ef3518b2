"""Padding-free batches: concatenated rows give the padded batch's loss and gradients, and are used only where exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tunefactory.config import parse_dict
from tunefactory.data.collators import SFTCollator
from tunefactory.model.unsloth import LOADED_BY_UNSLOTH
from tunefactory.train import padding_free
from tunefactory.train.labelled_head import labelled_lm_loss
from tunefactory.train.padding_free import ROWS_SDPA, padding_free_blocker, use_padding_free
from tunefactory.train.run import run_train
from tunefactory_fixtures.gradients import pop_gradients, trainable_model

REPO_ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = dict(rtol=1e-5, atol=1e-5)
NO_BLOCKERS = dict(packing=False, media=False, reference_model=False, sharded=False)


class _Tokenizer:
    pad_token_id = 0
    padding_side = "right"


def _features(vocab_size: int, lengths=(7, 12, 4), seed: int = 0) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for length in lengths:
        ids = torch.randint(3, vocab_size, (length,), generator=generator).tolist()
        labels = [-100] * (length // 2) + ids[length // 2:]  # the prompt half unlabelled
        rows.append({"input_ids": ids, "labels": labels})
    return rows


def test_the_collator_concatenates_training_rows_with_restarting_positions():
    features = _features(50)
    padded = SFTCollator(_Tokenizer())(features)
    flat = SFTCollator(_Tokenizer(), padding_free=True)(features)
    assert flat["input_ids"].tolist() == [sum((f["input_ids"] for f in features), [])]
    assert flat["position_ids"].tolist() == [list(range(7)) + list(range(12)) + list(range(4))]
    assert flat["attention_mask"].tolist() == [[1] * 23]  # sdpa: transformers then builds no mask
    expected_labels = sum(([-100] + f["labels"][1:] for f in features), [])  # no row predicts the next one's start
    assert flat["labels"].tolist() == [expected_labels]
    assert (padded["labels"][:, 1:] != -100).sum() == (flat["labels"] != -100).sum()  # the same labelled targets


def test_flash_attention_gets_no_mask_and_other_batches_stay_padded():
    features = _features(50)
    flash = SFTCollator(_Tokenizer(), padding_free=True, attn_implementation="flash_attention_2")(features)
    assert "attention_mask" not in flash and flash["input_ids"].shape == (1, 23)
    prompts = [{"input_ids": f["input_ids"], "labels": f["input_ids"][:2]} for f in features]  # predict rows
    assert SFTCollator(_Tokenizer(), padding_free=True, padding_side="left")(prompts)["input_ids"].shape == (3, 12)
    packed = [{**f, "position_ids": list(range(len(f["input_ids"])))} for f in features]  # neat packing's own path
    assert SFTCollator(_Tokenizer(), padding_free=True)(packed)["input_ids"].shape == (3, 12)


@pytest.fixture(params=["llama", "qwen2_tied", "llama_lora"])
def model(request, tiny_llama, tiny_qwen2):
    path = tiny_qwen2 if request.param == "qwen2_tied" else tiny_llama
    model = trainable_model(path, lora=request.param.endswith("lora"))
    assert use_padding_free(model, True, **NO_BLOCKERS)
    assert model.config._attn_implementation == ROWS_SDPA
    return model


@pytest.mark.parametrize("loss", ["models_own", "labelled_head"])
def test_a_concatenated_batch_has_the_padded_batchs_loss_and_gradients(model, loss):
    features = _features(model.config.vocab_size)
    padded = SFTCollator(_Tokenizer())(features)
    flat = SFTCollator(_Tokenizer(), padding_free=True)(features)

    def run(batch):
        value = model(**batch).loss if loss == "models_own" else labelled_lm_loss(model, batch)
        value.backward()
        return value.detach(), pop_gradients(model)

    (expected, expected_grads), (got, got_grads) = run(padded), run(flat)
    torch.testing.assert_close(got, expected, **TOLERANCE)
    assert expected_grads.keys() == got_grads.keys()
    for name in expected_grads:
        torch.testing.assert_close(got_grads[name], expected_grads[name], **TOLERANCE, msg=name)


def test_rows_sdpa_is_plain_sdpa_for_padded_batches_and_generation(tiny_llama):
    reference, model = trainable_model(tiny_llama).eval(), trainable_model(tiny_llama).eval()
    assert use_padding_free(model, True, **NO_BLOCKERS)
    prompts = torch.tensor([[0, 0, 5, 6, 7], [8, 9, 10, 11, 12]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    settings = dict(attention_mask=mask, max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert model.generate(prompts, **settings).tolist() == reference.generate(prompts, **settings).tolist()


def test_the_probe_turns_padding_free_off_where_rows_would_see_each_other(tiny_llama, monkeypatch, caplog):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    # an attention that ignores the row starts: one causal pass over the whole concatenation
    monkeypatch.setattr(padding_free, "rows_sdpa", sdpa_attention_forward)
    model = trainable_model(tiny_llama)
    with caplog.at_level("INFO", logger="tunefactory.train.padding_free"):
        assert not use_padding_free(model, True, **NO_BLOCKERS)
    assert "does not keep concatenated rows apart" in caplog.text
    assert model.config._attn_implementation == "sdpa"  # put back


def test_a_model_that_fails_the_probe_keeps_padded_batches(tiny_llama, monkeypatch, caplog):
    model = trainable_model(tiny_llama)
    forward = model.forward

    def refuse_positions(*args, position_ids=None, **kwargs):
        if position_ids is not None:
            raise TypeError("unexpected keyword argument 'position_ids'")
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", refuse_positions)
    with caplog.at_level("INFO", logger="tunefactory.train.padding_free"):
        assert not use_padding_free(model, True, **NO_BLOCKERS)
    assert "the probe forward failed (TypeError: unexpected keyword argument 'position_ids')" in caplog.text
    assert model.config._attn_implementation == "sdpa" and model.training


@pytest.mark.parametrize(("change", "reason"), [
    ({"packing": True}, "the rows are packed"),
    ({"media": True}, "the rows carry media"),
    ({"reference_model": True}, "a reference model reads the same batches"),
    ({"sharded": True}, "ZeRO-3"),
    ({"attn": "eager"}, "attn_implementation is eager"),
    ({"sliding_window": 4}, "sliding-window attention"),
    ({"unsloth": True}, "Unsloth patches the attention"),
])
def test_what_padding_free_refuses(tiny_qwen2, change, reason):
    model = trainable_model(tiny_qwen2)
    if "attn" in change:
        model.set_attn_implementation(change.pop("attn"))
    if change.pop("unsloth", False):
        setattr(model, LOADED_BY_UNSLOTH, True)
    if "sliding_window" in change:
        model.config.sliding_window, model.config.use_sliding_window = change.pop("sliding_window"), True
    assert reason in padding_free_blocker(model, **{**NO_BLOCKERS, **change})


def _run(model, out: Path, **extra) -> list[dict]:
    run_train(parse_dict({
        "model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "full",
        "dataset": "alpaca_demo", "dataset_dir": str(REPO_ROOT / "data"), "template": "qwen", "cutoff_len": 128,
        "max_samples": 24, "per_device_train_batch_size": 4, "max_steps": 4, "learning_rate": 1e-3,
        "logging_steps": 1, "output_dir": str(out), "report_to": "none", "save_strategy": "no", "plot_loss": False,
        "use_cpu": True, "seed": 0, "disable_gradient_checkpointing": True,
        "include_num_input_tokens_seen": "non_padding", **extra}, command="train"))
    return [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines() if '"loss"' in line]


@pytest.mark.parametrize("extra", [{}, {"gradient_accumulation_steps": 2, "disable_gradient_checkpointing": False},
                                   {"stage": "pt", "dataset": "pretrain_text", "packing": False}],
                         ids=["sft", "sft_accumulated_checkpointed", "pt_unpacked"])
def test_a_padding_free_run_trains_as_the_padded_run(tiny_qwen2, tmp_path, extra):
    free = _run(tiny_qwen2, tmp_path / "free", **extra)
    padded = _run(tiny_qwen2, tmp_path / "padded", padding_free=False, **extra)
    assert [line["loss"] for line in free] == pytest.approx([line["loss"] for line in padded], rel=1e-4)
    assert [line["total_tokens"] for line in free] == [line["total_tokens"] for line in padded]
    assert all(line["padding_fraction"] == 0.0 for line in free)
    assert all(line["padding_fraction"] > 0.0 for line in padded)


def test_evaluation_on_concatenated_batches_scores_as_on_padded_ones(tiny_qwen2, tmp_path):
    extra = {"val_size": 0.25, "do_eval": True, "compute_accuracy": True, "per_device_eval_batch_size": 4}
    _run(tiny_qwen2, tmp_path / "free", **extra)
    _run(tiny_qwen2, tmp_path / "padded", padding_free=False, **extra)
    free, padded = (json.loads((tmp_path / name / "all_results.json").read_text()) for name in ("free", "padded"))
    assert free["eval_loss"] == pytest.approx(padded["eval_loss"], rel=1e-5)
    assert free["eval_accuracy"] == padded["eval_accuracy"]
    assert 0 < free["eval_accuracy"] < 1
