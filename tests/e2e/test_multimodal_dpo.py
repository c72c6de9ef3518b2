"""dpo on image preference pairs (LLaMA-Factory's ranked sharegpt format with an images column), tiny Qwen2-VL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_resume import losses, train_in_process

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSWERS = {"1.png": ("red", "blue"), "2.png": ("blue", "green"), "3.png": ("green", "red"), "4.png": ("yellow", "red")}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def image_pairs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("image-pairs")
    rows = [{"conversations": [{"from": "human", "value": "<image>What colour is the top shape?"}],
             "chosen": {"from": "gpt", "value": f"It is {good}."},
             "rejected": {"from": "gpt", "value": f"It is {bad}."},
             "images": [f"mllm_demo_data/{name}"]} for name, (good, bad) in ANSWERS.items()]
    (folder / "pairs.json").write_text(json.dumps(rows))
    (folder / "dataset_info.json").write_text(json.dumps({"image_pairs": {
        "file_name": "pairs.json", "formatting": "sharegpt", "ranking": True,
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "images": "images"}}}))
    return folder


def dpo(model: Path, data: Path, output_dir: Path, **changes) -> dict:
    return {"model_name_or_path": str(model), "stage": "dpo", "do_train": True, "finetuning_type": "lora",
            "lora_target": "all", "template": "qwen2_vl", "dataset": "image_pairs", "dataset_dir": str(data),
            "media_dir": str(REPO_ROOT / "data"), "cutoff_len": 256, "per_device_train_batch_size": 2,
            "max_steps": 24, "learning_rate": 3e-2, "logging_steps": 1, "output_dir": str(output_dir),
            "report_to": "none", "use_cpu": True, "seed": 0, "pref_beta": 1.0, **changes}


def test_dpo_on_image_pairs_learns_to_prefer_the_chosen_answers(tiny_qwen2_vl, image_pairs, tmp_path):
    out = tmp_path / "dpo"
    log = train_in_process(dpo(tiny_qwen2_vl, image_pairs, out))
    assert "4 of 4 examples encoded (pairwise)" in log
    curve = losses(out)
    assert curve[min(curve)] == pytest.approx(0.6931, abs=1e-3)  # policy = reference at the start: -log sigmoid(0)
    assert curve[max(curve)] < 0.6
    assert (out / "preprocessor_config.json").is_file()


def test_each_side_of_a_pair_gets_its_images(tiny_qwen2_vl, image_pairs):
    import torch

    from tunefactory.config import parse_dict
    from tunefactory.data.collators import build_collator
    from tunefactory.train import steps

    config = parse_dict(dpo(tiny_qwen2_vl, image_pairs, Path("unused")))
    tokenizer, template = steps.load_tokenizer_and_template(config)
    media = steps.load_media(config, template)
    rows = steps.load_data(config, template, tokenizer, media).train
    batch = build_collator("pairwise", tokenizer, media=media)([rows[0], rows[1]])
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    per_row = (batch["input_ids"] == pad).sum(dim=1)
    assert torch.equal(per_row[:2], per_row[2:])  # chosen rows then rejected rows, each with its prompt's image
    grids = batch["image_grid_thw"]
    assert len(grids) == 4 and torch.equal(grids[:2], grids[2:])
    assert int(per_row.sum()) == int(grids.prod(dim=1).sum()) // 4 == int(batch["mm_token_type_ids"].sum())


def test_a_reward_model_on_image_pairs_learns_to_rank_them(tiny_qwen2_vl, image_pairs, tmp_path):
    out = tmp_path / "rm"
    train_in_process(dpo(tiny_qwen2_vl, image_pairs, out, stage="rm", max_steps=24))
    curve = losses(out)
    assert curve[max(curve)] < curve[min(curve)] - 0.05  # pairwise -log sigmoid(chosen - rejected) falls
    assert (out / "value_head.safetensors").is_file() and (out / "preprocessor_config.json").is_file()


@pytest.fixture(scope="module")
def image_feedback(tmp_path_factory) -> Path:
    """Answers about each image labelled desirable (right colour) or not (wrong colour)."""
    folder = tmp_path_factory.mktemp("image-feedback")
    rows = [{"messages": [{"role": "user", "content": "<image>What colour is the top shape?"},
                          {"role": "assistant", "content": f"It is {colour}."}],
             "label": desirable, "images": [f"mllm_demo_data/{name}"]}
            for name, (good, bad) in ANSWERS.items() for colour, desirable in ((good, True), (bad, False))]
    (folder / "feedback.json").write_text(json.dumps(rows))
    (folder / "dataset_info.json").write_text(json.dumps({"image_feedback": {
        "file_name": "feedback.json", "formatting": "sharegpt",
        "columns": {"messages": "messages", "kto_tag": "label", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}}))
    return folder


def test_kto_on_labelled_image_answers_learns(tiny_qwen2_vl, image_feedback, tmp_path):
    out = tmp_path / "kto"
    log = train_in_process(dpo(tiny_qwen2_vl, image_feedback, out, stage="kto", dataset="image_feedback"))
    assert "8 of 8 examples encoded (feedback)" in log
    curve = losses(out)
    assert curve[max(curve)] < curve[min(curve)] - 0.05


def test_kto_batches_give_the_kl_rows_their_images(tiny_qwen2_vl, image_feedback):
    from tunefactory.config import parse_dict
    from tunefactory.data.collators import build_collator
    from tunefactory.train import steps
    from tunefactory.train.pair_trainers import KL_PREFIX, media_inputs

    config = parse_dict(dpo(tiny_qwen2_vl, image_feedback, Path("unused"), stage="kto", dataset="image_feedback"))
    tokenizer, template = steps.load_tokenizer_and_template(config)
    media = steps.load_media(config, template)
    rows = steps.load_data(config, template, tokenizer, media).train
    batch = build_collator("feedback", tokenizer, media=media)([rows[0], rows[1]])
    main, kl = media_inputs(batch), media_inputs(batch, KL_PREFIX)
    assert set(main) == set(kl) == {"pixel_values", "image_grid_thw", "mm_token_type_ids"}
    assert main["pixel_values"].equal(kl["pixel_values"])  # the KL row is the same prompt, so the same images


def test_stages_without_image_support_name_those_with_it(tiny_qwen2_vl):
    from transformers import AutoTokenizer

    from tunefactory.config import parse_dict
    from tunefactory.data.processors.pretrain import PretrainProcessor
    from tunefactory.data.template import get_template
    from tunefactory.errors import DataError

    data_args = parse_dict({"model_name_or_path": "unused", "template": "qwen2_vl", "dataset": "mllm_demo"}).data
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2_vl)
    processor = PretrainProcessor(get_template(tokenizer, data_args, str(tiny_qwen2_vl)), tokenizer, data_args)
    row = {"_prompt": [{"role": "user", "content": "<image>Hi"}], "_response": [], "_system": "", "_tools": "",
           "_images": ["mllm_demo_data/1.png"], "_videos": None, "_audios": None}
    with pytest.raises(DataError, match=r"does not train on images yet \(sft, rm, dpo and kto do\)"):
        processor({key: [value] for key, value in row.items()})
