"""The tiny Qwen2-VL, Qwen3-VL, LLaVA-1.5 and Gemma 3 load offline with plain transformers and train a step on a
picture; mllm_demo's pictures exist and its rows say true things about them.

transformers 5.25 builds a Qwen2VLProcessor / Qwen3VLProcessor (so AutoProcessor) only where torchvision is
installed: their video processors need it. The checks through AutoProcessor skip without it; the same checks through
AutoTokenizer and AutoImageProcessor (the PIL backend) run everywhere. LLaVA's LlavaProcessor needs no torchvision:
its checks use it, as Gemma 3's (Gemma3Processor) do.
"""

import json
import re
import socket
import time
from dataclasses import dataclass
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
    GEMMA3_SPECIAL_TOKENS,
    QWEN2_VL_CHAT_TEMPLATE,
    QWEN2_VL_SPECIAL_TOKENS,
    QWEN3_VL_PLAIN_TOKENS,
    QWEN3_VL_SPECIAL_TOKENS,
    TINY_GEMMA3,
    TINY_INTERN_VL,
    TINY_LLAVA,
    TINY_LLAVA_NEXT,
    TINY_MLLAMA,
    TINY_QWEN2_VL,
    TINY_QWEN3_VL,
    build_tiny_vision_language,
    draw_demo_image,
    ensure_tiny_vision_language,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
OFFICIAL_TEMPLATES = REPO / "tests" / "fixtures" / "chat_templates"
HEADER = re.compile(r"\A\{#- tunefactory fixture\n.*?\n-#\}\n", re.S)

QUESTION = "What colour is the shape?"
IMAGE_CHAT = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
USER_TURN = (f"<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>{QUESTION}<|im_end|>\n"
             "<|im_start|>assistant\n")
# <|image_pad|> tokens per bundled picture: one per 2 x 2 merge of patches (28 x 28 pixels for Qwen2-VL's 14-pixel
# patches; 32 x 32 for Qwen3-VL's 16-pixel ones, the pictures resized to multiples of 32): the same counts.
IMAGE_TOKENS = {"1.png": 4, "2.png": 6, "3.png": 12, "4.png": 8}


@dataclass(frozen=True)
class Family:
    fixture: str
    recipe: object  # the TinyVisionLanguage entry
    architecture: str
    processor: str
    official_template: str  # tests/fixtures/chat_templates/<name>.jinja
    rendered: str  # IMAGE_CHAT with the generation prompt, as the official template writes it
    block: int  # pixels per side of one image token


FAMILIES = {
    "qwen2_vl": Family("tiny_qwen2_vl", TINY_QWEN2_VL, "Qwen2VLForConditionalGeneration", "Qwen2VLProcessor",
                       "qwen2_vl", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" + USER_TURN, 28),
    "qwen3_vl": Family("tiny_qwen3_vl", TINY_QWEN3_VL, "Qwen3VLForConditionalGeneration", "Qwen3VLProcessor",
                       "qwen3_vl_nothink", USER_TURN, 32),  # Qwen3-VL Instruct writes no default system prompt
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    spec = FAMILIES[request.param]
    return spec, request.getfixturevalue(spec.fixture)


@pytest.mark.parametrize(("fixture", "recipe"), [(spec.fixture, spec.recipe) for spec in FAMILIES.values()]
                         + [("tiny_llava", TINY_LLAVA), ("tiny_llava_next", TINY_LLAVA_NEXT),
                            ("tiny_gemma3", TINY_GEMMA3), ("tiny_intern_vl", TINY_INTERN_VL),
                            ("tiny_mllama", TINY_MLLAMA)])
def test_builds_offline_deterministically_and_once(fixture, recipe, request, tiny_model_cache, tmp_path, monkeypatch):
    folder = request.getfixturevalue(fixture)

    def refuse(*args, **kwargs):
        raise AssertionError("the tiny model's build tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    start = time.perf_counter()
    again = build_tiny_vision_language(recipe, tmp_path / "again")
    assert time.perf_counter() - start < 60, "the build should take seconds"
    first, second = load_file(folder / "model.safetensors"), load_file(again / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert ensure_tiny_vision_language(recipe, tiny_model_cache) == folder  # same recipe, same folder
    assert ensure_tiny_vision_language(recipe, tiny_model_cache, seed=1) != folder


def test_tokenizer_has_the_familys_special_tokens_and_chat_template(family):
    spec, folder = family
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokens = spec.recipe.special_tokens
    # the real tokenizer's order (151643 ... there), from id 0
    assert [tokenizer.convert_tokens_to_ids(token) for token in tokens] == list(range(len(tokens)))
    plain = set(spec.recipe.plain_tokens)
    assert all((token in tokenizer.all_special_tokens) == (token not in plain) for token in tokens)
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == ("<|im_end|>", "<|endoftext|>", None)
    text = "<|vision_start|><|image_pad|><|vision_end|>A red circle.<|im_end|>"
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert ids[:3] == [9, 12, 10] and ids[-1] == 2
    assert tokenizer.decode(ids) == text
    official = HEADER.sub("", (OFFICIAL_TEMPLATES / f"{spec.official_template}.jinja").read_text(encoding="utf-8"))
    assert tokenizer.chat_template == spec.recipe.chat_template == official
    assert tokenizer.apply_chat_template(IMAGE_CHAT, tokenize=False, add_generation_prompt=True) == spec.rendered
    with_ids = tokenizer.apply_chat_template(IMAGE_CHAT * 2, tokenize=False, add_vision_id=True)
    assert "Picture 1: <|vision_start|>" in with_ids and "Picture 2: <|vision_start|>" in with_ids


def test_qwen2_vl_entry_holds_its_tokens_and_template():
    assert QWEN2_VL_SPECIAL_TOKENS == TINY_QWEN2_VL.special_tokens and TINY_QWEN2_VL.plain_tokens == ()
    assert TINY_QWEN2_VL.chat_template == QWEN2_VL_CHAT_TEMPLATE


def test_qwen3_vl_keeps_its_thinking_and_tool_tokens_when_decoding(tiny_qwen3_vl):
    """Qwen3-VL's <think>, <tool_call> ... are added tokens but not special: skip_special_tokens keeps them."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen3_vl)
    assert QWEN3_VL_SPECIAL_TOKENS[:14] == QWEN2_VL_SPECIAL_TOKENS
    assert QWEN3_VL_PLAIN_TOKENS[-2:] == ("<think>", "</think>") and len(QWEN3_VL_SPECIAL_TOKENS) == 26
    text = "<think>\nA circle.\n</think>\n\n<tool_call>\n{}\n</tool_call>"
    ids = tokenizer(text + "<|im_end|>", add_special_tokens=False).input_ids
    assert ids[0] == tokenizer.convert_tokens_to_ids("<think>") == 24
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_model_config_names_the_tokenizers_vision_tokens(family):
    spec, folder = family
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder)
    config = model.config
    assert type(model).__name__ == spec.architecture
    assert sum(p.numel() for p in model.parameters()) < 200_000
    ids = tokenizer.convert_tokens_to_ids
    assert (config.image_token_id, config.video_token_id) == (ids("<|image_pad|>"), ids("<|video_pad|>"))
    assert (config.vision_start_token_id, config.vision_end_token_id) == (ids("<|vision_start|>"),
                                                                        ids("<|vision_end|>"))
    assert config.text_config.vocab_size == len(tokenizer)
    assert config.text_config.eos_token_id == tokenizer.eos_token_id
    vision = config.vision_config
    assert getattr(vision, "out_hidden_size", vision.hidden_size) == config.text_config.hidden_size
    assert vision.patch_size * vision.spatial_merge_size == spec.block


def test_qwen3_vl_has_deepstack_mergers(tiny_qwen3_vl):
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen3_vl)
    assert model.config.vision_config.deepstack_visual_indexes == [0]
    assert len(model.model.visual.deepstack_merger_list) == 1


def encode_without_processor(tokenizer, image_processor, image):
    """What the family's processor does: one <|image_pad|> per merged patch of the picture, and the modality of each
    token (0 text, 1 image), without which transformers 5.25's Qwen2-VL and Qwen3-VL refuse pictures (M-RoPE needs
    it)."""
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


def test_pictures_become_tokens_and_a_step_trains_without_the_processor(family):
    spec, folder = family
    tokenizer = AutoTokenizer.from_pretrained(folder)
    image_processor = AutoImageProcessor.from_pretrained(folder)
    assert image_processor.patch_size * image_processor.merge_size == spec.block
    limits = (image_processor.size["shortest_edge"], image_processor.size["longest_edge"])
    assert limits == (spec.block**2 * 4, spec.block**2 * 16)
    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for image in DEMO_IMAGES:
        inputs = encode_without_processor(tokenizer, image_processor, draw_demo_image(image))
        assert int((inputs["input_ids"] == image_pad).sum()) == IMAGE_TOKENS[image.name], image.name
    assert_trains(AutoModelForImageTextToText.from_pretrained(folder), inputs)


def test_auto_processor_expands_image_tokens_and_a_step_trains(family):
    pytest.importorskip("torchvision", reason="transformers 5.25 builds these processors only with torchvision")
    from transformers import AutoProcessor

    spec, folder = family
    processor = AutoProcessor.from_pretrained(folder)
    assert type(processor).__name__ == spec.processor
    assert processor.chat_template == spec.recipe.chat_template
    text = processor.apply_chat_template(IMAGE_CHAT, tokenize=False, add_generation_prompt=True)
    assert text == spec.rendered
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for image in DEMO_IMAGES:
        inputs = processor(text=[text], images=[draw_demo_image(image)], return_tensors="pt")
        expected = int(inputs["image_grid_thw"].prod()) // processor.image_processor.merge_size**2
        assert int((inputs["input_ids"] == image_pad).sum()) == expected == IMAGE_TOKENS[image.name], image.name
    assert_trains(AutoModelForImageTextToText.from_pretrained(folder), dict(inputs))


def test_tiny_llava_is_llava_1_5_and_its_own_processor_trains_a_step(tiny_llava):
    """llava-1.5-hf's layout: Llama's <s> </s> and the added <image> (in id order), a CLIP tower read at its
    second-to-last layer without CLS, the processor settings in processor_config.json; LlavaProcessor itself writes
    9 <image> per picture (3 x 3 patches of the 42 x 42 crop) and a step trains every part the features reach."""
    from transformers import AutoProcessor, LlavaProcessor

    processor = AutoProcessor.from_pretrained(tiny_llava)
    assert isinstance(processor, LlavaProcessor) and type(processor.image_processor).__name__ == "CLIPImageProcessorPil"
    assert (processor.patch_size, processor.num_additional_image_tokens,
            processor.vision_feature_select_strategy) == (14, 1, "default")
    tokenizer = processor.tokenizer
    assert tokenizer.convert_tokens_to_ids(list(TINY_LLAVA.special_tokens)) == [0, 1, 2, 3, 4]
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<s>", "</s>", "<pad>")
    model = AutoModelForImageTextToText.from_pretrained(tiny_llava)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert sum(p.numel() for p in model.parameters()) < 200_000
    assert model.config.image_token_id == tokenizer.convert_tokens_to_ids("<image>")
    assert (model.config.vision_feature_layer, model.config.vision_feature_select_strategy) == (-2, "default")
    text = processor.apply_chat_template(IMAGE_CHAT, tokenize=False, add_generation_prompt=True)
    assert text.endswith(f"USER: <image>{QUESTION} ASSISTANT:")  # our `llava` template: Vicuna with <image>
    for image in DEMO_IMAGES:
        inputs = processor(text=text, images=[draw_demo_image(image)], return_tensors="pt")
        assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 9, image.name
    model.train()
    model(**inputs, labels=inputs["input_ids"]).loss.backward()
    unused = ("encoder.layers.1.", "post_layernorm")  # past the second-to-last layer: no gradient, as in the real one
    for name, parameter in model.named_parameters():
        assert (parameter.grad is not None) != any(part in name for part in unused), name


def test_tiny_gemma3_is_gemma_3_and_its_own_processor_trains_a_step(tiny_gemma3):
    """gemma-3-it's layout: <pad> <eos> <bos> <unk> first, the turn and image marks, the tokenizer's boi/eoi/image
    token names that Gemma3Processor reads, the official chat template; the processor writes each picture as
    "\\n\\n<start_of_image>", 4 soft tokens (the 56 x 56 picture's 4 x 4 patches pooled 2 x 2), "<end_of_image>\\n\\n"
    with token_type_ids 1 at the soft tokens, and a step sends gradients to every part (the projector is not the
    zeros from_config leaves)."""
    from transformers import AutoProcessor, Gemma3Processor

    processor = AutoProcessor.from_pretrained(tiny_gemma3)
    assert isinstance(processor, Gemma3Processor) and type(processor.image_processor).__name__ == \
        "Gemma3ImageProcessorPil"
    tokenizer = processor.tokenizer
    assert tokenizer.convert_tokens_to_ids(list(GEMMA3_SPECIAL_TOKENS)) == list(range(len(GEMMA3_SPECIAL_TOKENS)))
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<bos>", "<eos>", "<pad>")
    assert (tokenizer.boi_token, tokenizer.eoi_token, tokenizer.image_token) == (
        "<start_of_image>", "<end_of_image>", "<image_soft_token>")
    official = HEADER.sub("", (OFFICIAL_TEMPLATES / "gemma3.jinja").read_text(encoding="utf-8"))
    assert processor.chat_template == TINY_GEMMA3.chat_template == official
    model = AutoModelForImageTextToText.from_pretrained(tiny_gemma3)
    assert type(model).__name__ == "Gemma3ForConditionalGeneration"
    assert sum(p.numel() for p in model.parameters()) < 200_000
    config, ids = model.config, tokenizer.convert_tokens_to_ids
    assert (config.image_token_id, config.boi_token_id, config.eoi_token_id) == (
        ids("<image_soft_token>"), ids("<start_of_image>"), ids("<end_of_image>"))
    assert config.mm_tokens_per_image == processor.image_seq_length == 4
    text = processor.apply_chat_template(IMAGE_CHAT, tokenize=False, add_generation_prompt=True)
    assert text == f"<bos><start_of_turn>user\n<start_of_image>{QUESTION}<end_of_turn>\n<start_of_turn>model\n"
    soft = "<image_soft_token>" * 4
    for image in DEMO_IMAGES:
        inputs = processor(text=text, images=[draw_demo_image(image)], return_tensors="pt", add_special_tokens=False)
        assert tokenizer.decode(inputs["input_ids"][0]) == text.replace(
            "<start_of_image>", f"\n\n<start_of_image>{soft}<end_of_image>\n\n"), image.name
        assert inputs["token_type_ids"].equal((inputs["input_ids"] == config.image_token_id).long())
    model.train()
    model(**inputs, labels=inputs["input_ids"]).loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


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
