"""Media plugins: our ids for a conversation with images equal the family's own processing of it.

Qwen2-VL's processor (``Qwen2VLProcessor``) renders the official chat template, then repeats each
``<|image_pad|>`` once per merged patch of that image (``image_grid_thw.prod() // merge_size**2``) and tokenizes;
Qwen3-VL's (``Qwen3VLProcessor``) does the same for images. transformers 5.25 cannot build either processor object
without torchvision (their video halves need it), which has no CPU build for our torch here; the reference below
is their ``__call__`` written out: the official template rendered by the tokenizer, the same expansion from the
same image processor's grid, the same tokenizer.

LLaVA-1.5's processor (``LlavaProcessor``) has no video half and builds here: its test runs the real processor on
the text our ``llava`` template renders (the tiny model's chat_template is that template's, as export writes it;
llava-1.5-hf's own is not among our fixtures). It is called with ``add_special_tokens=False``: the real Llama
tokenizer would prepend ``<s>``, which LLaMA-Factory's Vicuna-format ``llava`` template (and so ours) never writes.
Gemma 3's processor (``Gemma3Processor``) builds here too: it runs on the text gemma-3-it's official template
renders (``<bos>`` written by the template, so again ``add_special_tokens=False``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tunefactory.data.bad_rows import BadRow
from tunefactory.data.multimodal import (
    GEMMA3,
    INTERN_VL,
    LLAVA,
    LLAVA_NEXT,
    MLLAMA,
    QWEN2_VL,
    QWEN3_VL,
    MediaContext,
    MediaPlugin,
    MediaSettings,
    fit_pixels,
    get_plugin,
    load_image,
)
from tunefactory.data.template import get_template

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES = REPO_ROOT / "data" / "mllm_demo_data"


def qwen_vl_reference_ids(folder, tokenizer, image_processor, conversation, images):
    """Qwen2VLProcessor / Qwen3VLProcessor.__call__ on apply_chat_template's text, written out (module docstring)."""
    text = tokenizer.apply_chat_template(conversation, tokenize=False)
    grids = image_processor(images=images, return_tensors="np")["image_grid_thw"] if images else []
    counts = iter(int(g.prod()) // image_processor.merge_size**2 for g in grids)
    text = re.sub(re.escape("<|image_pad|>"), lambda _: "<|image_pad|>" * next(counts), text)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def intern_vl_reference_ids(folder, tokenizer, image_processor, conversation, images):
    """InternVLProcessor.__call__ on apply_chat_template's text, written out (its video processor needs torchvision):
    each <IMG_CONTEXT> becomes <img>, image_seq_length <IMG_CONTEXT> per tile, </img>."""
    text = tokenizer.apply_chat_template(conversation, tokenize=False)
    tiles = iter(image_processor(images=images, return_tensors="np")["num_patches"] if images else [])
    settings = json.loads((folder / "processor_config.json").read_text(encoding="utf-8"))
    text = re.sub(re.escape("<IMG_CONTEXT>"), lambda _: "<img>" + "<IMG_CONTEXT>" * (
        settings["image_seq_length"] * int(next(tiles))) + "</img>", text)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def processor_reference_ids(folder, tokenizer, image_processor, conversation, images):
    """transformers' own LlavaProcessor / Gemma3Processor (from the folder) on the text its chat_template renders."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    assert type(processor).__name__ in ("LlavaProcessor", "LlavaNextProcessor", "Gemma3Processor", "MllamaProcessor")
    text = processor.apply_chat_template(conversation, tokenize=False)
    return processor(text=text, images=images, add_special_tokens=False)["input_ids"][0]


@dataclass(frozen=True)
class Family:
    folder: Path
    plugin: MediaPlugin
    template: str  # ours, rendering as the family's official Instruct chat template (LLaVA: the model's own)
    image_processor: object
    processor_settings: dict  # processor_config.json, where the family has one
    reference_ids: Callable
    image_tokens: dict[str, int]  # image tokens per bundled picture


# <|image_pad|> per picture: one per 2 x 2 merge of Qwen2-VL's 14- or Qwen3-VL's 16-pixel patches (the same counts);
# <image> per picture: LLaVA's 3 x 3 patches of the 42 x 42 crop (CLS dropped); <image_soft_token> per picture:
# Gemma 3's image_seq_length (the 56 x 56 picture's 4 x 4 patches pooled 2 x 2).
QWEN_VL_TOKENS = {"1.png": 4, "2.png": 6, "3.png": 12, "4.png": 8}
# <image> per picture for LLaVA-NeXT, as its processor counts them: the 2 x 2 base patches (CLS dropped), then the
# patches of the grid that fits the picture best (56 x 56, 28 x 56 or 56 x 28), less the padding rows or columns,
# and one newline per row
LLAVA_NEXT_TOKENS = {"1.png": 24, "2.png": 14, "3.png": 24, "4.png": 16}
# <IMG_CONTEXT> per picture for InternVL: 4 per 56 x 56 tile, the square picture whole, the others cut into the grid
# that fits them (up to 4 tiles) plus a thumbnail
INTERN_VL_TOKENS = {"1.png": 4, "2.png": 4 * 3, "3.png": 4 * 5, "4.png": 4 * 3}
# family -> (its tiny model's session fixture, its plugin, our template for it, its processor's ids, its counts)
FAMILIES = {"qwen2_vl": ("tiny_qwen2_vl", QWEN2_VL, "qwen2_vl", qwen_vl_reference_ids, QWEN_VL_TOKENS),
            "qwen3_vl": ("tiny_qwen3_vl", QWEN3_VL, "qwen3_vl_nothink", qwen_vl_reference_ids, QWEN_VL_TOKENS),
            "llava": ("tiny_llava", LLAVA, "llava", processor_reference_ids, dict.fromkeys(QWEN_VL_TOKENS, 9)),
            "llava_next": ("tiny_llava_next", LLAVA_NEXT, "llava_next", processor_reference_ids, LLAVA_NEXT_TOKENS),
            "gemma3": ("tiny_gemma3", GEMMA3, "gemma3", processor_reference_ids, dict.fromkeys(QWEN_VL_TOKENS, 4)),
            "intern_vl": ("tiny_intern_vl", INTERN_VL, "intern_vl", intern_vl_reference_ids, INTERN_VL_TOKENS),
            "mllama": ("tiny_mllama", MLLAMA, "mllama", processor_reference_ids, dict.fromkeys(QWEN_VL_TOKENS, 1))}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request) -> Family:
    from transformers import AutoImageProcessor

    fixture, plugin, template, reference_ids, image_tokens = FAMILIES[request.param]
    folder = request.getfixturevalue(fixture)
    settings_file = folder / "processor_config.json"
    settings = json.loads(settings_file.read_text(encoding="utf-8")) if settings_file.is_file() else {}
    return Family(folder, plugin, template, AutoImageProcessor.from_pretrained(folder), settings, reference_ids,
                  image_tokens)


def hf_message(role, text, images=0):
    return {"role": role, "content": [{"type": "image"}] * images + [{"type": "text", "text": text}]}


@pytest.mark.parametrize("files", [["1.png"], ["3.png"], ["2.png", "4.png"]])
def test_ids_equal_the_processors(family, files):
    from transformers import AutoTokenizer

    image_processor = family.image_processor
    tokenizer = AutoTokenizer.from_pretrained(family.folder)  # get_template gives it our chat template: a fresh one
    paths = [str(IMAGES / name) for name in files]
    images = [Image.open(p).convert("RGB") for p in paths]
    official = [hf_message("user", "What is drawn?", len(files)), hf_message("assistant", "Shapes.")]
    expected = family.reference_ids(family.folder, tokenizer, image_processor, official, images)
    ours = [{"role": "user", "content": "<image>" * len(files) + "What is drawn?"},
            {"role": "assistant", "content": "Shapes."}]
    template = get_template(tokenizer, _data_args(family.template), str(family.folder))
    assert get_plugin(template.multimodal, template.name) is family.plugin
    expanded = family.plugin.expand(ours, paths, image_processor, MediaSettings(), family.processor_settings)
    (prompt_ids, answer_ids), = template.encode_multiturn(tokenizer, expanded)
    assert prompt_ids + answer_ids == expected
    image_token = tokenizer.convert_tokens_to_ids(family.plugin.token)
    assert prompt_ids.count(image_token) == sum(family.image_tokens[name] for name in files)


def test_batch_inputs_are_the_image_processors_own(family):
    image_processor = family.image_processor
    paths = [str(IMAGES / "2.png"), str(IMAGES / "3.png")]
    if family.plugin is MLLAMA:  # laid out by row, with the cross-attention mask from the ids
        check_mllama_rows(family, paths)
        return
    inputs = family.plugin.batch_inputs(paths, image_processor, MediaSettings())
    expected = image_processor(images=[Image.open(p).convert("RGB") for p in paths], return_tensors="pt")
    assert inputs["pixel_values"].equal(expected["pixel_values"])
    if family.plugin in (LLAVA, GEMMA3):  # every picture resized (and cropped) to the same 42 x 42 / 56 x 56
        side = 42 if family.plugin is LLAVA else 56
        assert inputs.keys() == {"pixel_values"} and inputs["pixel_values"].shape == (2, 3, side, side)
        return
    if family.plugin is INTERN_VL:  # the tiles of both pictures, one after the other: 3 (2 + a thumbnail) and 5
        assert inputs.keys() == {"pixel_values"} and inputs["pixel_values"].shape == (3 + 5, 3, 56, 56)
        return
    if family.plugin is LLAVA_NEXT:  # the base picture and the crops of its grid (padded to the most: 4 + 1)
        assert inputs["image_sizes"].tolist() == [[56, 84], [84, 112]] == expected["image_sizes"].tolist()
        assert inputs["pixel_values"].shape == (2, 5, 3, 28, 28)
        return
    # Qwen2-VL's 14-pixel patches of the 84 x 56 and 112 x 84 images, Qwen3-VL's 16-pixel patches of the same images
    # resized to 96 x 64 and 128 x 96 (multiples of 32): the same grids, each patch a row of 3 x 2 x patch² values
    assert inputs["image_grid_thw"].tolist() == [[1, 4, 6], [1, 6, 8]]
    patch = {QWEN2_VL: 14, QWEN3_VL: 16}[family.plugin]
    assert inputs["pixel_values"].shape == (24 + 48, 3 * 2 * patch**2)


def check_mllama_rows(family, paths):
    import torch
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(family.folder)
    texts = ["<|image|>Two?", "<|image|>Three?"]
    expected = processor(text=texts, images=[[Image.open(p).convert("RGB")] for p in paths], padding=True,
                         add_special_tokens=False, return_tensors="pt")
    media = MediaContext(MLLAMA, family.image_processor, MediaSettings())
    inputs = media.batch_inputs([[p] for p in paths], expected["input_ids"], processor.tokenizer)
    assert inputs.keys() == set(MLLAMA.inputs)
    for name in MLLAMA.inputs:
        assert torch.equal(inputs[name], expected[name]), name
    assert inputs["pixel_values"].shape == (2, 1, 2, 3, 28, 28)  # 2 rows, 1 image each, up to 2 tiles of 28 x 28


def test_placeholders_must_match_the_images(family):
    image_processor = family.image_processor
    messages = [{"role": "user", "content": "<image><image>Compare."}, {"role": "assistant", "content": "Same."}]
    with pytest.raises(BadRow, match="2 <image> placeholder.s. in the messages but 1 image"):
        family.plugin.expand(messages, [str(IMAGES / "1.png")], image_processor, MediaSettings())


def test_an_unreadable_image_is_a_bad_row_naming_it(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(BadRow, match="broken.png.*cannot be read"):
        load_image(str(broken), MediaSettings())


def test_pixel_limits_scale_images_keeping_their_shape():
    settings = MediaSettings(image_max_pixels=100 * 100, image_min_pixels=20 * 20)
    big = fit_pixels(Image.new("RGB", (400, 200)), settings)
    assert big.width * big.height <= 100 * 100 and abs(big.width / big.height - 2) < 0.05
    small = fit_pixels(Image.new("RGB", (10, 10)), settings)
    assert small.size == (20, 20)
    assert fit_pixels(Image.new("RGB", (50, 50)), settings).size == (50, 50)


def test_text_templates_and_unknown_plugins_are_refused_with_the_choices():
    with pytest.raises(BadRow, match="template 'llama3' is text-only.*qwen2_vl"):
        get_plugin(None, "llama3")
    with pytest.raises(BadRow, match="plugin 'gemma3n', which TuneFactory does not have yet; available: qwen2_vl, "
                                     "qwen3_vl, llava, llava_next, gemma3, intern_vl, mllama, qwen2_audio"):
        get_plugin("gemma3n", "gemma3n")


def test_gemma3_writes_its_image_tokens_and_their_token_types(tiny_gemma3):
    """The soft tokens sit between blank lines and the image marks, as Gemma3Processor writes them; the chat
    template's image part is <start_of_image> alone (the processor expands it); token_type_ids marks the soft
    tokens, the keyword Gemma 3's forward takes (Qwen's: mm_token_type_ids)."""
    import torch
    from transformers import AutoTokenizer

    from tunefactory.data.template import TEMPLATES, to_jinja

    messages = [{"role": "user", "content": "<image>Hi"}]
    expanded = GEMMA3.expand(messages, [str(IMAGES / "1.png")], None, MediaSettings(), {"image_seq_length": 4})
    soft = "<image_soft_token>" * 4
    assert expanded[0]["content"] == f"\n\n<start_of_image>{soft}<end_of_image>\n\nHi"
    assert GEMMA3.template_part == "<start_of_image>" and QWEN2_VL.template_part == QWEN2_VL.start + \
        QWEN2_VL.token + QWEN2_VL.end
    assert "'<start_of_image>'" in to_jinja(TEMPLATES["gemma3"], "<bos>", "<eos>")
    tokenizer = AutoTokenizer.from_pretrained(tiny_gemma3)
    ids = torch.tensor([tokenizer.convert_tokens_to_ids(["<bos>", "<start_of_image>", "<image_soft_token>",
                                                         "<image_soft_token>", "<end_of_image>"])])
    types = GEMMA3.token_type_ids(ids, tokenizer)
    assert types.keys() == {"token_type_ids"} and types["token_type_ids"].tolist() == [[0, 0, 1, 1, 0]]
    assert QWEN2_VL.token_types == "mm_token_type_ids"
    assert LLAVA.token_type_ids(ids, tokenizer) == {}


def _data_args(template: str):
    from tunefactory.config import parse_dict

    return parse_dict({"model_name_or_path": "unused", "template": template, "dataset": "mllm_demo"}).data


def test_gemma3_pan_and_scan_writes_the_image_and_its_crops_as_its_processor_does(tiny_gemma3, tmp_path):
    """image_do_pan_and_scan: a wide picture is written whole, then as crops, with Gemma3Processor's words around them;
    the pixels hold the picture and its crops, as the processor's."""
    import torch
    from transformers import AutoProcessor

    wide = tmp_path / "wide.png"
    Image.new("RGB", (640, 300), (40, 80, 220)).save(wide)
    processor = AutoProcessor.from_pretrained(tiny_gemma3)
    conversation = [hf_message("user", "What is drawn?", 1), hf_message("assistant", "A blue field.")]
    text = processor.apply_chat_template(conversation, tokenize=False)
    expected = processor(text=text, images=[Image.open(wide).convert("RGB")], do_pan_and_scan=True,
                         add_special_tokens=False, return_tensors="pt")
    tokenizer = processor.tokenizer
    template = get_template(tokenizer, _data_args("gemma3"), str(tiny_gemma3))
    settings = MediaSettings(image_do_pan_and_scan=True, image_max_pixels=640 * 300)
    media = MediaContext(GEMMA3, processor.image_processor, settings, {"image_seq_length": 4})
    ours = [{"role": "user", "content": "<image>What is drawn?"}, {"role": "assistant", "content": "A blue field."}]
    (prompt_ids, answer_ids), = template.encode_multiturn(tokenizer, media.expand(ours, [str(wide)]))
    assert prompt_ids + answer_ids == expected["input_ids"][0].tolist()
    assert "and here are some crops to help you see better" in tokenizer.decode(prompt_ids)
    inputs = media.batch_inputs([[str(wide)]], expected["input_ids"], tokenizer)
    assert inputs["pixel_values"].shape[0] > 1  # the picture and its crops
    assert torch.equal(inputs["pixel_values"], expected["pixel_values"])
    assert torch.equal(inputs["token_type_ids"], expected["token_type_ids"])
