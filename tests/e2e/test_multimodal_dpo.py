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


def test_kto_still_refuses_image_rows_saying_which_stages_take_them(tiny_qwen2_vl, tmp_path):
    from tunefactory.config import parse_dict
    from tunefactory.errors import DataError
    from tunefactory.train import steps

    rows = [{"messages": [{"role": "user", "content": "<image>Colour?"}, {"role": "assistant", "content": "Red."}],
             "label": True, "images": ["mllm_demo_data/1.png"]}]
    (tmp_path / "kto.json").write_text(json.dumps(rows))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"kto_images": {
        "file_name": "kto.json", "formatting": "sharegpt",
        "columns": {"messages": "messages", "kto_tag": "label", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}}))
    config = parse_dict(dpo(tiny_qwen2_vl, tmp_path, tmp_path / "out", stage="kto", dataset="kto_images"))
    tokenizer, template = steps.load_tokenizer_and_template(config)
    with pytest.raises(DataError, match=r"this stage does not train on images yet \(sft, dpo and rm do\)"):
        steps.load_data(config, template, tokenizer)
