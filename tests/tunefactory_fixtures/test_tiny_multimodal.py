"""The tiny Qwen2-VL loads offline with plain transformers and trains a step on a picture; mllm_demo's pictures
exist and its rows say true things about them.

transformers 5.25 builds a Qwen2VLProcessor (so AutoProcessor) only where torchvision is installed: its video
processor needs it. The checks through AutoProcessor skip without it; the same checks through AutoTokenizer and
AutoImageProcessor (the PIL backend) run everywhere.
"""

import json
import re
import socket
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

from tunefactory_fixtures.tiny_multimodal import (
    BACKGROUND,
    COLOURS,
    DEMO_IMAGES,
    QWEN2_VL_CHAT_TEMPLATE,
    QWEN2_VL_SPECIAL_TOKENS,
    build_tiny_qwen2_vl,
    draw_demo_image,
    ensure_tiny_qwen2_vl,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
OFFICIAL_TEMPLATE = REPO / "tests" / "fixtures" / "chat_templates" / "qwen2_vl.jinja"
HEADER = re.compile(r"\A\{#- tunefactory fixture\n.*?\n-#\}\n", re.S)

QUESTION = "What colour is the shape?"
IMAGE_CHAT = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
RENDERED = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            f"<|vision_start|><|image_pad|><|vision_end|>{QUESTION}<|im_end|>\n<|im_start|>assistant\n")
# <|image_pad|> tokens per bundled picture: one per 28 x 28 pixels (a 2 x 2 merge of 14-pixel patches).
IMAGE_TOKENS = {"1.png": 4, "2.png": 6, "3.png": 12, "4.png": 8}


def test_builds_offline_deterministically_and_once(tiny_qwen2_vl, tiny_model_cache, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the tiny Qwen2-VL build tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    start = time.perf_counter()
    again = build_tiny_qwen2_vl(tmp_path / "again")
    assert time.perf_counter() - start < 60, "the build should take seconds"
    first, second = load_file(tiny_qwen2_vl / "model.safetensors"), load_file(again / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert ensure_tiny_qwen2_vl(tiny_model_cache) == tiny_qwen2_vl  # same recipe, same folder, no rebuild
    assert ensure_tiny_qwen2_vl(tiny_model_cache, seed=1) != tiny_qwen2_vl


def test_tokenizer_has_qwen2_vl_special_tokens_and_chat_template(tiny_qwen2_vl):
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2_vl)
    # the real tokenizer's order (151643 ... 151656), from id 0
    assert [tokenizer.convert_tokens_to_ids(token) for token in QWEN2_VL_SPECIAL_TOKENS] == list(range(14))
    assert all(token in tokenizer.all_special_tokens for token in QWEN2_VL_SPECIAL_TOKENS)
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == ("<|im_end|>", "<|endoftext|>", None)
    text = "<|vision_start|><|image_pad|><|vision_end|>A red circle.<|im_end|>"
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert ids[:3] == [9, 12, 10] and ids[-1] == 2
    assert tokenizer.decode(ids) == text
    assert tokenizer.chat_template == QWEN2_VL_CHAT_TEMPLATE
    assert QWEN2_VL_CHAT_TEMPLATE == HEADER.sub("", OFFICIAL_TEMPLATE.read_text(encoding="utf-8"))
    assert tokenizer.apply_chat_template(IMAGE_CHAT, tokenize=False, add_generation_prompt=True) == RENDERED
    with_ids = tokenizer.apply_chat_template(IMAGE_CHAT * 2, tokenize=False, add_vision_id=True)
    assert "Picture 1: <|vision_start|>" in with_ids and "Picture 2: <|vision_start|>" in with_ids


def test_model_config_names_the_tokenizers_vision_tokens(tiny_qwen2_vl):
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2_vl)
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen2_vl)
    config = model.config
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert sum(p.numel() for p in model.parameters()) < 200_000
    ids = tokenizer.convert_tokens_to_ids
    assert (config.image_token_id, config.video_token_id) == (ids("<|image_pad|>"), ids("<|video_pad|>"))
    assert (config.vision_start_token_id, config.vision_end_token_id) == (ids("<|vision_start|>"),
                                                                        ids("<|vision_end|>"))
    assert config.text_config.vocab_size == len(tokenizer)
    assert config.text_config.eos_token_id == tokenizer.eos_token_id
    assert config.vision_config.hidden_size == config.text_config.hidden_size


def encode_without_processor(tokenizer, image_processor, image):
    """What Qwen2VLProcessor does: one <|image_pad|> per merged patch of the picture, and the modality of each
    token (0 text, 1 image), without which transformers 5.25's Qwen2-VL refuses pictures (M-RoPE needs it)."""
    pixels = image_processor(images=[image], return_tensors="pt")
    text = tokenizer.apply_chat_template(IMAGE_CHAT, tokenize=False, add_generation_prompt=True)
    tokens = int(pixels["image_grid_thw"][0].prod()) // image_processor.merge_size**2
    inputs = tokenizer([text.replace("<|image_pad|>", "<|image_pad|>" * tokens)], return_tensors="pt")
    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    return {**inputs, "mm_token_type_ids": (inputs["input_ids"] == image_pad).long(), **pixels}


def assert_trains(model, inputs):
    model.train()
    loss = model(**inputs, labels=inputs["input_ids"]).loss
    assert torch.isfinite(loss)
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    assert model.model.visual.patch_embed.proj.weight.grad.abs().sum() > 0  # the picture reached the loss


def test_pictures_become_tokens_and_a_step_trains_without_the_processor(tiny_qwen2_vl):
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2_vl)
    image_processor = AutoImageProcessor.from_pretrained(tiny_qwen2_vl)
    assert (image_processor.size["shortest_edge"], image_processor.size["longest_edge"]) == (28 * 28 * 4, 28 * 28 * 16)
    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for image in DEMO_IMAGES:
        inputs = encode_without_processor(tokenizer, image_processor, draw_demo_image(image))
        assert int((inputs["input_ids"] == image_pad).sum()) == IMAGE_TOKENS[image.name], image.name
    assert_trains(AutoModelForImageTextToText.from_pretrained(tiny_qwen2_vl), inputs)


def test_auto_processor_expands_image_tokens_and_a_step_trains(tiny_qwen2_vl):
    pytest.importorskip("torchvision", reason="transformers 5.25 builds Qwen2VLProcessor only with torchvision")
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_qwen2_vl)
    assert type(processor).__name__ == "Qwen2VLProcessor"
    assert processor.chat_template == QWEN2_VL_CHAT_TEMPLATE
    text = processor.apply_chat_template(IMAGE_CHAT, tokenize=False, add_generation_prompt=True)
    assert text == RENDERED
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for image in DEMO_IMAGES:
        inputs = processor(text=[text], images=[draw_demo_image(image)], return_tensors="pt")
        expected = int(inputs["image_grid_thw"].prod()) // processor.image_processor.merge_size**2
        assert int((inputs["input_ids"] == image_pad).sum()) == expected == IMAGE_TOKENS[image.name], image.name
    assert_trains(AutoModelForImageTextToText.from_pretrained(tiny_qwen2_vl), dict(inputs))


# --- the bundled mllm_demo dataset ---------------------------------------------------------------------------

def test_mllm_demo_is_registered_in_llama_factorys_shape():
    info = json.loads((DATA / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["mllm_demo"] == {
        "file_name": "mllm_demo.json", "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
    }


def test_every_row_has_one_placeholder_per_existing_picture():
    rows = json.loads((DATA / "mllm_demo.json").read_text(encoding="utf-8"))
    assert 6 <= len(rows) <= 8
    for row in rows:
        assert set(row) == {"messages", "images"}
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"] * (len(row["messages"]) // 2)
        assert sum(m["content"].count("<image>") for m in row["messages"]) == len(row["images"]), row
        assert all((DATA / path).is_file() for path in row["images"]), row
    assert any(len(row["messages"]) > 2 for row in rows)
    assert any(len(row["images"]) == 2 and row["messages"][0]["content"].count("<image>") == 2 for row in rows)


def test_pictures_are_small_and_drawn_as_the_table_says():
    for image in DEMO_IMAGES:
        path = DATA / image.path
        assert path.stat().st_size < 4096
        with Image.open(path) as picture:
            assert picture.size == image.size
            for shape in image.shapes:
                left, top, right, bottom = shape.box
                inside = ((left + right) // 2, (top + 2 * bottom) // 3)  # inside a circle, square or triangle
                assert picture.getpixel(inside) == COLOURS[shape.colour], (image.name, shape)
            assert picture.getpixel((0, 0)) == COLOURS[BACKGROUND]


def test_answers_name_only_colours_and_shapes_of_their_pictures():
    by_path = {image.path: image for image in DEMO_IMAGES}
    kinds = {shape.kind for image in DEMO_IMAGES for shape in image.shapes}
    for row in json.loads((DATA / "mllm_demo.json").read_text(encoding="utf-8")):
        shown = [shape for path in row["images"] for shape in by_path[path].shapes]
        allowed = {shape.colour for shape in shown} | {BACKGROUND} | {shape.kind for shape in shown}
        for message in row["messages"][1::2]:
            words = set(re.findall(r"[a-z]+", message["content"].lower()))
            assert words & (set(COLOURS) | kinds) <= allowed, (row, message)
