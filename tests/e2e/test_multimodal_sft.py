"""sft on images (LLaMA-Factory's mllm_demo format) with the tiny Qwen2-VL, Qwen3-VL, LLaVA-1.5, LLaVA-NeXT, Gemma 3,
InternVL and Llama 3.2 Vision: it learns, the freeze flags and LoRA targets change exactly the parts they name, and
the merged export answers as base + adapter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_resume import losses, train_in_process

from tunefactory.model.multimodal import part_of

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

# family -> (its tiny model's session fixture, our template for its Instruct model)
FAMILIES = {"qwen2_vl": ("tiny_qwen2_vl", "qwen2_vl"), "qwen3_vl": ("tiny_qwen3_vl", "qwen3_vl_nothink"),
            "llava": ("tiny_llava", "llava"), "llava_next": ("tiny_llava_next", "llava_next"),
            "gemma3": ("tiny_gemma3", "gemma3"), "intern_vl": ("tiny_intern_vl", "intern_vl"),
            "mllama": ("tiny_mllama", "mllama")}
# families whose transformers processor builds without torchvision
OWN_PROCESSOR = ("llava", "llava_next", "gemma3", "mllama")


@dataclass(frozen=True)
class Family:
    name: str
    folder: Path
    template: str


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request) -> Family:
    fixture, template = FAMILIES[request.param]
    return Family(request.param, request.getfixturevalue(fixture), template)


def image_question_inputs(family: Family, folder: Path, image, question: str) -> dict:
    """A user turn with the image and the question, with the generation prompt, as the family's processor encodes
    it: LLaVA's and Gemma 3's own processors; Qwen's __call__ written out (it needs torchvision here)."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    if family.name in OWN_PROCESSOR:
        processor = AutoProcessor.from_pretrained(folder)
        text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        return dict(processor(text=text, images=[image], return_tensors="pt"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    pixels = AutoImageProcessor.from_pretrained(folder)(images=[image], return_tensors="pt")
    if family.name == "intern_vl":  # InternVLProcessor's expansion: 4 <IMG_CONTEXT> per tile
        text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        context = "<img>" + "<IMG_CONTEXT>" * (4 * int(pixels["num_patches"][0])) + "</img>"
        ids = tokenizer(text.replace("<IMG_CONTEXT>", context), return_tensors="pt")["input_ids"]
        return {"input_ids": ids, "pixel_values": pixels["pixel_values"]}
    pads = int(pixels["image_grid_thw"].prod()) // 4
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text.replace("<|image_pad|>", "<|image_pad|>" * pads), return_tensors="pt")["input_ids"]
    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    return {"input_ids": ids, **pixels, "mm_token_type_ids": (ids == image_pad).long()}


def mllm_sft(family: Family, output_dir: Path, **changes) -> dict:
    return {"model_name_or_path": str(family.folder), "stage": "sft", "do_train": True, "template": family.template,
            "dataset": "mllm_demo", "dataset_dir": str(REPO_ROOT / "data"), "cutoff_len": 256,
            "per_device_train_batch_size": 2, "max_steps": 12, "learning_rate": 1e-2, "logging_steps": 1,
            "output_dir": str(output_dir), "report_to": "none", "use_cpu": True, "seed": 0, **changes}


def changed_parts(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> dict[str, bool]:
    """Per part of the model (vision tower, projector, language model): did any of its weights move?"""
    moved: dict[str, bool] = {}
    for name, weight in before.items():
        part = part_of(name)
        moved[part] = moved.get(part, False) or not torch.equal(weight, after[name])
    return moved


@pytest.fixture(scope="module")
def lora_run(family, tmp_path_factory):
    out = tmp_path_factory.mktemp("mllm") / "lora"
    return out, train_in_process(mllm_sft(family, out, finetuning_type="lora", lora_target="all"))


def test_lora_on_images_learns_the_language_model_only(lora_run, family):
    out, log = lora_run
    assert "8 of 8 examples encoded" in log
    curve = losses(out)
    assert curve[max(curve)] < curve[min(curve)] - 0.1
    targets = load_file(out / "adapter_model.safetensors")
    assert targets and all(part_of(name) == "language_model" for name in targets)  # no LoRA in the vision tower
    assert (out / "preprocessor_config.json").is_file()  # the folder trains and loads with its images again
    # LLaVA's patch size and strategy, Gemma 3's and InternVL's image_seq_length
    assert (out / "processor_config.json").is_file() == (family.name in (*OWN_PROCESSOR, "intern_vl"))


@pytest.mark.parametrize(("flags", "expected"), [
    ({}, {"vision_tower": False, "projector": False, "language_model": True}),
    ({"freeze_vision_tower": False}, {"vision_tower": True, "projector": False, "language_model": True}),
    ({"freeze_multi_modal_projector": False, "freeze_language_model": True},
     {"vision_tower": False, "projector": True, "language_model": False}),
])
def test_freeze_flags_change_exactly_the_parts_they_name(family, tmp_path, flags, expected):
    before = load_file(family.folder / "model.safetensors")
    out = tmp_path / "full"
    train_in_process(mllm_sft(family, out, finetuning_type="full", max_steps=2, **flags))
    assert changed_parts(before, load_file(out / "model.safetensors")) == expected


def test_the_freeze_method_trains_the_last_language_layers_only(family, tmp_path):
    """finetuning_type: freeze on a vision-language model: the last freeze_trainable_layers decoder layers of its
    language model train; its vision tower and projector stay as loaded (their blocks are numbered too)."""
    before = load_file(family.folder / "model.safetensors")
    out = tmp_path / "freeze"
    train_in_process(mllm_sft(family, out, finetuning_type="freeze", freeze_trainable_layers=1, max_steps=2))
    after = load_file(out / "model.safetensors")
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    assert moved and all(part_of(name) == "language_model" and ".layers.1." in name for name in moved)


def test_oft_adapts_the_language_model_only(family, tmp_path):
    """finetuning_type: oft (peft's orthogonal adapters) goes through the same targets as LoRA: the language model's
    linear layers, with the vision tower and projector frozen."""
    out = tmp_path / "oft"
    train_in_process(mllm_sft(family, out, finetuning_type="oft", oft_rank=0, oft_block_size=8, oft_target="all",
                              max_steps=2))
    adapters = load_file(out / "adapter_model.safetensors")
    assert adapters and all(part_of(name) == "language_model" for name in adapters)
    assert any(weight.abs().sum() > 0 for weight in adapters.values())  # it moved from the identity (zeros at init)


def test_lora_reaches_the_vision_tower_when_it_trains(family, tmp_path):
    """Under reentrant checkpointing (the default) LoRA in a tower whose patch embedding is frozen learns only if the
    patch embeddings require gradients: transformers 5.25 sees to Qwen2-VL's (and CLIP's, LLaVA's), the loader to
    Qwen3-VL's. LLaVA reads its features from the second-to-last CLIP layer (vision_feature_layer -2): the last
    layer's adapters get no gradient, in the real model too, and stay zero."""
    out = tmp_path / "lora"
    train_in_process(mllm_sft(family, out, finetuning_type="lora", lora_target="all", max_steps=2,
                              freeze_vision_tower=False))
    adapters = load_file(out / "adapter_model.safetensors")
    vision = {name: weight for name, weight in adapters.items() if part_of(name) == "vision_tower" and "lora_B" in name}
    unused = [name for name in vision if family.name in ("llava", "llava_next") and ".encoder.layers.1." in name]
    assert vision and all((vision[name].abs().sum() > 0) != (name in unused) for name in vision)  # lora_B starts at 0


def test_deepstack_mergers_count_as_the_projector():
    """Qwen3-VL's deepstack mergers map vision layers into the language model's width, as its merger does."""
    assert part_of("model.visual.deepstack_merger_list.0.linear_fc1.weight") == "projector"
    assert part_of("model.visual.merger.linear_fc2.weight") == "projector"
    assert part_of("model.visual.pos_embed.weight") == "vision_tower"
    assert part_of("model.visual.blocks.1.attn.qkv.weight") == "vision_tower"
    assert part_of("model.language_model.layers.0.mlp.up_proj.weight") == part_of("lm_head.weight") == "language_model"


def test_images_reach_the_model_in_each_batch(family):
    from PIL import Image

    from tunefactory.config import parse_dict
    from tunefactory.data.collators import build_collator
    from tunefactory.train import steps

    config = parse_dict(mllm_sft(family, Path("unused")))
    tokenizer, template = steps.load_tokenizer_and_template(config)
    media = steps.load_media(config, template)
    rows = steps.load_data(config, template, tokenizer, media).train
    collator = build_collator("supervised", tokenizer, media=media)
    batch = collator([rows[i] for i in range(len(rows))])
    images = sum(len(row["images"]) for row in rows)
    if family.name == "llava":  # one 42 x 42 picture per image, 9 <image> tokens each; no token types
        image_tokens = int((batch["input_ids"] == tokenizer.convert_tokens_to_ids("<image>")).sum())
        assert batch["pixel_values"].shape == (images, 3, 42, 42) and image_tokens == 9 * images
        assert "mm_token_type_ids" not in batch and "image_grid_thw" not in batch
        return
    if family.name == "mllama":  # by row: its images' tiles, and which text tokens see them
        image_tokens = (batch["input_ids"] == tokenizer.convert_tokens_to_ids("<|image|>")).sum(dim=1)
        most = max(len(row["images"]) for row in rows)
        assert batch["pixel_values"].shape == (len(rows), most, 2, 3, 28, 28)
        assert image_tokens.tolist() == [len(row["images"]) for row in rows]
        seen = batch["cross_attention_mask"].amax(dim=(2, 3))  # [rows, length]: a token sees some image
        first = (batch["input_ids"] == tokenizer.convert_tokens_to_ids("<|image|>")).int().argmax(dim=1)
        assert all(not seen[i, : first[i]].any() and seen[i, first[i]:].all() for i in range(len(rows)))
        return
    if family.name == "intern_vl":  # every tile of every image, 4 <IMG_CONTEXT> each
        context = int((batch["input_ids"] == tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")).sum())
        assert batch["pixel_values"].shape[1:] == (3, 56, 56) and context == 4 * batch["pixel_values"].shape[0]
        assert batch.keys() == {"input_ids", "attention_mask", "labels", "pixel_values"}
        return
    if family.name == "llava_next":  # per image: its size, its base picture and grid crops of 28 x 28
        sizes = [list(Image.open(REPO_ROOT / "data" / path).size)[::-1] for row in rows for path in row["images"]]
        assert batch["image_sizes"].tolist() == sizes and batch["pixel_values"].shape[0] == images
        assert batch["pixel_values"].shape[2:] == (3, 28, 28)
        return
    if family.name == "gemma3":  # one 56 x 56 picture per image, 4 soft tokens each, marked in token_type_ids
        soft = batch["input_ids"] == tokenizer.convert_tokens_to_ids("<image_soft_token>")
        assert batch["pixel_values"].shape == (images, 3, 56, 56) and int(soft.sum()) == 4 * images
        assert batch["token_type_ids"].equal(soft.long()) and "mm_token_type_ids" not in batch
        return
    image_tokens = int((batch["input_ids"] == tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum())
    grids = batch["image_grid_thw"]
    assert len(grids) == images  # every image of every row, once
    assert image_tokens == int(grids.prod(dim=1).sum()) // 4 == int(batch["mm_token_type_ids"].sum())
    assert batch["pixel_values"].shape[0] == int(grids.prod(dim=1).sum())  # one row of pixels per patch


def test_merged_export_loads_in_plain_transformers_and_answers_the_same(lora_run, family, tmp_path):
    from peft import PeftModel
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    from tunefactory.cli import main

    out, _ = lora_run
    exported = tmp_path / "exported"
    assert main(["export", f"model_name_or_path={family.folder}", f"adapter_name_or_path={out}",
                 "finetuning_type=lora", f"template={family.template}", f"export_dir={exported}"]) == 0
    image = Image.open(REPO_ROOT / "data" / "mllm_demo_data" / "3.png").convert("RGB")
    inputs = image_question_inputs(family, exported, image, "Colour?")
    merged = AutoModelForImageTextToText.from_pretrained(exported).eval()
    adapted = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(family.folder), out).eval()
    with torch.no_grad():
        assert torch.allclose(merged(**inputs).logits, adapted(**inputs).logits, atol=1e-5)
        greedy = dict(max_new_tokens=6, do_sample=False)
        assert merged.generate(**inputs, **greedy).tolist() == adapted.generate(**inputs, **greedy).tolist()
