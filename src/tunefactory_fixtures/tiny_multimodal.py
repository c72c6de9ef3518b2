"""Tiny random-weight vision-language models and the bundled demo images, built offline in seconds.

``ensure_tiny_qwen2_vl`` saves a Qwen2-VL folder laid out as the hub checkpoint is, which plain transformers
loads by path (``AutoModelForImageTextToText``, ``AutoTokenizer``, ``AutoImageProcessor``, and ``AutoProcessor``
where torchvision is installed: transformers 5.25's Qwen2VLProcessor needs it for its video processor): random
weights, a BPE tokenizer trained on the same corpus as ``tiny_models`` with Qwen2-VL's special tokens, an image
processor whose pixel budget turns the demo images into a handful of tokens, and Qwen2-VL-Instruct's chat template.

``write_demo_media`` draws the images of ``data/mllm_demo_data`` and ``mllm_demo_rows`` writes the
``mllm_demo`` dataset about them (LLaMA-Factory's format); ``bundled_data`` writes both into ``data/``.

    python -m tunefactory_fixtures.tiny_multimodal --out /tmp/tiny-qwen2-vl
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tiny_models import BUNDLED_DATA_DIR, build_once, corpus_fingerprint, train_bpe_tokenizer

# Qwen2-VL's special tokens in the real tokenizer's id order (151643 ... 151656 there, 0 ... 13 here).
QWEN2_VL_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)
QWEN2_VL_NAMED_TOKENS = {"eos": "<|im_end|>", "pad": "<|endoftext|>"}

# Qwen2-VL-7B-Instruct's chat_template.json, byte for byte (tests compare it with
# tests/fixtures/chat_templates/qwen2_vl.jinja).
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content "
    "%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)

# Shapes as small as transformers allows: head_dim 8 splits into mrope sections t/h/w = 2/1/1 (of 4 rotary pairs).
QWEN2_VL_TEXT = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "intermediate_size": 64, "max_position_embeddings": 1024,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 1, 1]},
}
QWEN2_VL_VISION = {
    "depth": 1, "embed_dim": 32, "num_heads": 2, "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2,
    "temporal_patch_size": 2, "hidden_size": QWEN2_VL_TEXT["hidden_size"],
}
# A 28 x 28 block of pixels is one token after the 2 x 2 merge: 4 to 16 tokens per image.
QWEN2_VL_PIXELS = {"min_pixels": 28 * 28 * 4, "max_pixels": 28 * 28 * 16}
QWEN2_VL_VOCAB_SIZE = 1024


def build_tiny_qwen2_vl(out_dir: str | Path, seed: int = 0, data_dir: Path = BUNDLED_DATA_DIR) -> Path:
    """Build and save a random-weight Qwen2-VL with its tokenizer and processor; returns ``out_dir``."""
    import torch
    from transformers import AutoModelForImageTextToText, Qwen2VLConfig, Qwen2VLImageProcessorPil

    out_dir = Path(out_dir)
    tokenizer = train_bpe_tokenizer(list(QWEN2_VL_SPECIAL_TOKENS), QWEN2_VL_NAMED_TOKENS, QWEN2_VL_VOCAB_SIZE,
                                    QWEN2_VL_TEXT["max_position_embeddings"], data_dir)
    tokenizer.chat_template = QWEN2_VL_CHAT_TEMPLATE
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN2_VL_SPECIAL_TOKENS}
    config = Qwen2VLConfig(
        text_config={**QWEN2_VL_TEXT, "vocab_size": len(tokenizer), "bos_token_id": ids["<|endoftext|>"],
                     "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"]},
        vision_config=QWEN2_VL_VISION,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True, dtype="float32",  # tied as in Qwen2-VL-2B-Instruct
    )
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    # Saved part by part, as the hub checkpoint is laid out: transformers 5.25 cannot build a Qwen2VLProcessor
    # without torchvision (its video processor needs it), but AutoProcessor finds the processor from config.json.
    image_processor = Qwen2VLImageProcessorPil(**QWEN2_VL_PIXELS, patch_size=QWEN2_VL_VISION["patch_size"],
                                               temporal_patch_size=QWEN2_VL_VISION["temporal_patch_size"],
                                               merge_size=QWEN2_VL_VISION["spatial_merge_size"])
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)  # writes chat_template.jinja, which AutoProcessor reads as well
    image_processor.save_pretrained(out_dir)  # preprocessor_config.json, image_processor_type Qwen2VLImageProcessor
    return out_dir


def ensure_tiny_qwen2_vl(cache_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny Qwen2-VL once into ``cache_dir`` and reuse it while its recipe is unchanged."""
    recipe = {"text": QWEN2_VL_TEXT, "vision": QWEN2_VL_VISION, "pixels": QWEN2_VL_PIXELS, "seed": seed,
              "vocab": QWEN2_VL_VOCAB_SIZE, "tokens": QWEN2_VL_SPECIAL_TOKENS, "named": QWEN2_VL_NAMED_TOKENS,
              "template": QWEN2_VL_CHAT_TEMPLATE, "corpus": corpus_fingerprint()}
    return build_once(cache_dir, "qwen2_vl-tiny", recipe, lambda out_dir: build_tiny_qwen2_vl(out_dir, seed))


# --- the bundled demo images and the mllm_demo dataset about them ------------------------------------------

MEDIA_FOLDER = "mllm_demo_data"
BACKGROUND = "white"
COLOURS = {"red": (220, 40, 40), "blue": (40, 80, 220), "green": (40, 160, 70), "yellow": (240, 200, 30),
           "purple": (140, 60, 170), "white": (255, 255, 255)}


@dataclass(frozen=True)
class Shape:
    kind: str  # circle, square or triangle
    colour: str  # a key of COLOURS
    box: tuple[int, int, int, int]  # left, top, right, bottom

    @property
    def description(self) -> str:
        return f"{self.colour} {self.kind}"


@dataclass(frozen=True)
class DemoImage:
    name: str
    size: tuple[int, int]  # width, height: each a multiple of 28, so the processor keeps every pixel
    shapes: tuple[Shape, ...]  # top to bottom

    @property
    def path(self) -> str:
        """The path a dataset row names, relative to the dataset folder."""
        return f"{MEDIA_FOLDER}/{self.name}"


DEMO_IMAGES = (
    DemoImage("1.png", (56, 56), (Shape("circle", "red", (8, 8, 47, 47)),)),
    DemoImage("2.png", (84, 56), (Shape("square", "blue", (22, 8, 61, 47)),)),
    DemoImage("3.png", (112, 84), (Shape("triangle", "green", (16, 10, 96, 74)),)),
    DemoImage("4.png", (56, 112), (Shape("circle", "yellow", (8, 8, 47, 47)),
                                   Shape("square", "purple", (8, 64, 47, 103)))),
)


def draw_demo_image(image: DemoImage):
    """The image as a PIL image: flat-coloured shapes on a white background, no anti-aliasing."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", image.size, COLOURS[BACKGROUND])
    draw = ImageDraw.Draw(canvas)
    for shape in image.shapes:
        left, top, right, bottom = shape.box
        fill = COLOURS[shape.colour]
        if shape.kind == "circle":
            draw.ellipse(shape.box, fill=fill)
        elif shape.kind == "square":
            draw.rectangle(shape.box, fill=fill)
        else:
            draw.polygon([((left + right) // 2, top), (right, bottom), (left, bottom)], fill=fill)
    return canvas


def write_demo_media(data_dir: str | Path) -> list[Path]:
    """Draw every demo image into ``data_dir/mllm_demo_data``; returns the written files."""
    folder = Path(data_dir) / MEDIA_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for image in DEMO_IMAGES:
        path = folder / image.name
        draw_demo_image(image).save(path, format="PNG", optimize=True)
        written.append(path)
    return written


def _chat(*turns: str) -> list[dict[str, str]]:
    return [{"content": text, "role": ("user", "assistant")[i % 2]} for i, text in enumerate(turns)]


def _row(images: tuple[DemoImage, ...], *turns: str) -> dict[str, Any]:
    return {"messages": _chat(*turns), "images": [image.path for image in images]}


def mllm_demo_rows() -> list[dict[str, Any]]:
    """The mllm_demo dataset: questions about DEMO_IMAGES whose answers are read off the drawing table."""
    circle, square, triangle, pair = DEMO_IMAGES
    (only_circle,), (only_square,), (only_triangle,) = circle.shapes, square.shapes, triangle.shapes
    top, bottom = pair.shapes
    return [
        _row((circle,), "<image>What colour is the shape?", f"It is a {only_circle.description}."),
        _row((square,), "<image>What shape is in the picture?", f"It is a {only_square.description}."),
        _row((triangle,), "<image>Describe the picture.",
             f"A {only_triangle.description} on a {BACKGROUND} background."),
        _row((pair,), "<image>How many shapes are in the picture?",
             f"Two: a {top.description} above a {bottom.description}."),
        _row((circle,), "<image>What shape is in the picture?", f"A {only_circle.kind}.", "What colour is it?",
             f"It is {only_circle.colour}."),
        _row((triangle, square), "<image><image>Which picture shows the square, the first or the second?",
             f"The second one. The first picture shows a {only_triangle.description}."),
        _row((square,), "<image>What colour is the background?", f"The background is {BACKGROUND}."),
        _row((pair,), "<image>Which shape is at the top?", f"The {top.description} is at the top."),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a tiny random-weight Qwen2-VL with its own tokenizer.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder (created)")
    args = parser.parse_args(argv)
    print(build_tiny_qwen2_vl(args.out, args.seed))


if __name__ == "__main__":
    main()
