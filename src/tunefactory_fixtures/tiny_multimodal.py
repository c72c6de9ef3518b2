"""Tiny random-weight vision-language models and the bundled demo images, built offline in seconds.

``ensure_tiny_qwen2_vl`` and ``ensure_tiny_qwen3_vl`` save a Qwen2-VL / Qwen3-VL folder laid out as the hub
checkpoint is, which plain transformers loads by path (``AutoModelForImageTextToText``, ``AutoTokenizer``,
``AutoImageProcessor``, and ``AutoProcessor`` where torchvision is installed: transformers 5.25's processors of
both families need it for their video processors): random weights, a BPE tokenizer trained on the same corpus as
``tiny_models`` with the family's special tokens, an image processor whose pixel budget turns the demo images into
a handful of tokens, and the family's Instruct chat template. One ``TinyVisionLanguage`` entry per family says
what differs.

``write_demo_media`` draws the images of ``data/mllm_demo_data`` and ``mllm_demo_rows`` writes the
``mllm_demo`` dataset about them (LLaMA-Factory's format); ``bundled_data`` writes both into ``data/``.

    python -m tunefactory_fixtures.tiny_multimodal --family qwen3_vl --out /tmp/tiny-qwen3-vl
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .tiny_models import BUNDLED_DATA_DIR, build_once, corpus_fingerprint, train_bpe_tokenizer

# Qwen2-VL's special tokens in the real tokenizer's id order (151643 ... 151656 there, 0 ... 13 here).
QWEN2_VL_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)

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

# Qwen3-VL's tokenizer: Qwen2-VL's special tokens, then these added tokens, which are not special (151657 ...
# 151668 there, 14 ... 25 here): decoding with skip_special_tokens keeps them, as the real one does.
QWEN3_VL_PLAIN_TOKENS = (
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
)
QWEN3_VL_SPECIAL_TOKENS = QWEN2_VL_SPECIAL_TOKENS + QWEN3_VL_PLAIN_TOKENS

OFFICIAL_TEMPLATES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "chat_templates"
FIXTURE_HEADER = re.compile(r"\A\{#- tunefactory fixture\n.*?\n-#\}\n", re.S)


def official_chat_template(name: str) -> str:
    """An official chat template kept in tests/fixtures/chat_templates, without our provenance header."""
    return FIXTURE_HEADER.sub("", (OFFICIAL_TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8"), count=1)


@dataclass(frozen=True)
class TinyVisionLanguage:
    """One family's tiny model: what its config, tokenizer and image processor hold (the cache recipe too)."""

    name: str
    config_class: str  # in transformers; AutoModelForImageTextToText builds the model from it
    text: dict[str, Any]
    vision: dict[str, Any]
    image_processor: dict[str, Any]  # the PIL image processor: its class name under "class", then its settings
    special_tokens: tuple[str, ...]  # in the real tokenizer's id order, from id 0
    chat_template: str  # "" for TuneFactory's own template of the family's name, as `tunefactory export` writes it
    token_ids: dict[str, str] = field(default_factory=lambda: dict(QWEN_VL_TOKEN_IDS))  # config key -> its token
    config: dict[str, Any] = field(default_factory=dict)  # more of the top-level config
    processor: dict[str, Any] = field(default_factory=dict)  # the processor's settings, saved when there are any
    plain_tokens: tuple[str, ...] = ()  # of special_tokens: single tokens but not special
    named: dict[str, str] = field(default_factory=lambda: {"eos": "<|im_end|>", "pad": "<|endoftext|>"})
    vocab_size: int = 1024
    tokenizer_tokens: dict[str, str] = field(default_factory=dict)  # more named tokens in tokenizer_config.json
    # parameters transformers initialises to zero but a trained checkpoint has learnt: drawn at random instead, or
    # pictures would reach no loss (and the parts before them no gradient) while the projector stays frozen
    learnt: tuple[str, ...] = ()
    tied: bool = True  # the output head shares the embeddings, as the hub checkpoint's does


QWEN_VL_TOKEN_IDS = {"image_token_id": "<|image_pad|>", "video_token_id": "<|video_pad|>",
                     "vision_start_token_id": "<|vision_start|>", "vision_end_token_id": "<|vision_end|>"}

# Shapes as small as transformers allows: head_dim 8 splits into mrope sections t/h/w = 2/1/1 (of 4 rotary pairs).
TINY_QWEN2_VL = TinyVisionLanguage(
    name="qwen2_vl", config_class="Qwen2VLConfig",
    text={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
          "intermediate_size": 64, "max_position_embeddings": 1024,
          "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 1, 1]}},
    vision={"depth": 1, "embed_dim": 32, "num_heads": 2, "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2,
            "temporal_patch_size": 2, "hidden_size": 32},
    # A 28 x 28 block of pixels is one token after the 2 x 2 merge: 4 to 16 tokens per image.
    image_processor={"class": "Qwen2VLImageProcessorPil", "min_pixels": 28 * 28 * 4, "max_pixels": 28 * 28 * 16,
                     "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2},
    special_tokens=QWEN2_VL_SPECIAL_TOKENS, chat_template=QWEN2_VL_CHAT_TEMPLATE,
)

# Qwen3-VL-2B-Instruct's layout at tiny sizes: 16-pixel patches, an explicit head_dim, interleaved M-RoPE, a learned
# position grid (8 x 8 here), and one deepstack merger, which feeds vision layer 0 into language layer 0.
TINY_QWEN3_VL = TinyVisionLanguage(
    name="qwen3_vl", config_class="Qwen3VLConfig",
    text={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
          "head_dim": 8, "intermediate_size": 64, "max_position_embeddings": 1024,
          "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [2, 1, 1],
                              "mrope_interleaved": True}},
    vision={"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": 16,
            "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 32, "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0]},
    # A 32 x 32 block of pixels is one token after the 2 x 2 merge: 4 to 16 tokens per image; Qwen3-VL's norm.
    image_processor={"class": "Qwen2VLImageProcessorPil", "min_pixels": 32 * 32 * 4, "max_pixels": 32 * 32 * 16,
                     "patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
                     "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]},
    special_tokens=QWEN3_VL_SPECIAL_TOKENS, plain_tokens=QWEN3_VL_PLAIN_TOKENS,
    chat_template=official_chat_template("qwen3_vl_nothink"),  # Qwen3-VL-*-Instruct's, verbatim
)

# llava-hf/llava-1.5-7b-hf's layout at tiny sizes: a CLIP vision tower (features from its second-to-last layer,
# CLS dropped: the "default" strategy), a two-layer GELU projector and a Llama text model, untied. Its tokenizer
# (Llama's, then <image> and <pad> added: 0, 1, 2, 32000, 32001 there) and its processor_config.json's settings;
# pictures resized and cropped to 42 x 42 (336 x 336 there): 3 x 3 patches of 14 pixels, 9 <image> tokens each.
LLAVA_SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<image>", "<pad>")
TINY_LLAVA = TinyVisionLanguage(
    name="llava", config_class="LlavaConfig",
    text={"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": 2, "intermediate_size": 64, "max_position_embeddings": 1024},
    vision={"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "patch_size": 14, "image_size": 42, "projection_dim": 32},
    image_processor={"class": "CLIPImageProcessorPil", "size": {"shortest_edge": 42},
                     "crop_size": {"height": 42, "width": 42}},
    special_tokens=LLAVA_SPECIAL_TOKENS, chat_template="",  # llava-1.5-hf ships none in our fixtures: ours
    named={"bos": "<s>", "eos": "</s>", "pad": "<pad>"},
    token_ids={"image_token_index": "<image>"},
    config={"vision_feature_select_strategy": "default", "vision_feature_layer": -2, "image_seq_length": 9},
    processor={"processor_class": "LlavaProcessor", "image_token": "<image>", "patch_size": 14,
               "num_additional_image_tokens": 1, "vision_feature_select_strategy": "default"},
    tied=False,
)

# llava-hf/llava-v1.6-vicuna-7b-hf's layout at tiny sizes: LLaVA-1.5's, plus anyres: each image is a 28 x 28 base
# picture (2 x 2 patches of 14 pixels; 336 and 24 x 24 there) and the crops of the grid resolution that fits it best
# among image_grid_pinpoints (28 x 56, 56 x 28, 56 x 56 here; 336 x 672 ... 672 x 672 there), with a learnt newline
# embedding after each row of crop patches. Its processor_config.json's settings as the hub's.
GRID_PINPOINTS = [[28, 56], [56, 28], [56, 56]]
TINY_LLAVA_NEXT = TinyVisionLanguage(
    name="llava_next", config_class="LlavaNextConfig",
    text=TINY_LLAVA.text, vision={**TINY_LLAVA.vision, "image_size": 28},
    image_processor={"class": "LlavaNextImageProcessorPil", "size": {"shortest_edge": 28},
                     "crop_size": {"height": 28, "width": 28}, "image_grid_pinpoints": GRID_PINPOINTS},
    special_tokens=LLAVA_SPECIAL_TOKENS, chat_template="", named=TINY_LLAVA.named, token_ids=TINY_LLAVA.token_ids,
    config={"vision_feature_select_strategy": "default", "vision_feature_layer": -2, "image_seq_length": 4,
            "image_grid_pinpoints": GRID_PINPOINTS},
    processor={"processor_class": "LlavaNextProcessor", "image_token": "<image>", "patch_size": 14,
               "num_additional_image_tokens": 1, "vision_feature_select_strategy": "default"},
    tied=False,
)

# google/gemma-3-4b-it's layout at tiny sizes: a SigLIP vision tower whose patches the projector pools to
# mm_tokens_per_image soft tokens (4 here: the 56 x 56 picture's 4 x 4 patches of 14 pixels, pooled 2 x 2; 256
# there), a Gemma 3 text model (sliding and full attention layers), tied. Its tokenizer's special tokens in the real
# id order (<pad> <eos> <bos> <unk> 0 ... 3, <start_of_turn> 105, <start_of_image> 255999, <image_soft_token>
# 262144 there), and the boi/eoi/image token names Gemma3Processor reads from the tokenizer; the official template.
GEMMA3_SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>",
                         "<start_of_image>", "<end_of_image>", "<image_soft_token>")
TINY_GEMMA3 = TinyVisionLanguage(
    name="gemma3", config_class="Gemma3Config",
    text={"model_type": "gemma3_text", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 64, "max_position_embeddings": 1024,
          "sliding_window": 16, "layer_types": ["sliding_attention", "full_attention"], "initializer_range": 0.1},
    vision={"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "patch_size": 14, "image_size": 56, "vision_use_head": False},
    image_processor={"class": "Gemma3ImageProcessorPil", "size": {"height": 56, "width": 56},
                     "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]},
    special_tokens=GEMMA3_SPECIAL_TOKENS, chat_template=official_chat_template("gemma3"),
    named={"bos": "<bos>", "eos": "<eos>", "pad": "<pad>"},
    token_ids={"image_token_index": "<image_soft_token>", "boi_token_index": "<start_of_image>",
               "eoi_token_index": "<end_of_image>"},
    config={"mm_tokens_per_image": 4},
    processor={"processor_class": "Gemma3Processor", "image_seq_length": 4},
    tokenizer_tokens={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                      "image_token": "<image_soft_token>"},
    learnt=("model.multi_modal_projector.mm_input_projection_weight",),  # zeros from from_config
)

# OpenGVLab/InternVL3-1B-hf's layout at tiny sizes: an InternViT tower (56 x 56 tiles of 14-pixel patches: 16
# patches, pixel-shuffled by downsample_ratio 0.5 to image_seq_length 4 tokens; 448 and 256 there), a projector and
# a Qwen2 language model, tied. The image processor cuts an image into up to max_patches tiles plus a thumbnail.
# Its tokenizer's tokens in the real id order, the names InternVLProcessor reads from the tokenizer, and the hf
# checkpoints' chat template: ChatML, an image part written "<IMG_CONTEXT>\n", no default system prompt.
INTERN_VL_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>",
                            "<video>")
INTERN_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "{{ '<IMG_CONTEXT>\n' }}{% elif content['type'] == 'video' %}{{ '<video>\n' }}{% elif content['type'] == "
    "'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}{{'<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)
TINY_INTERN_VL = TinyVisionLanguage(
    name="intern_vl", config_class="InternVLConfig",
    text={"model_type": "qwen2", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": 2, "intermediate_size": 64, "max_position_embeddings": 1024},
    vision={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
            "image_size": [56, 56], "patch_size": [14, 14]},
    image_processor={"class": "GotOcr2ImageProcessorPil", "size": {"height": 56, "width": 56},
                     "crop_to_patches": True, "min_patches": 1, "max_patches": 4},
    special_tokens=INTERN_VL_SPECIAL_TOKENS, chat_template=INTERN_VL_CHAT_TEMPLATE,
    token_ids={"image_token_id": "<IMG_CONTEXT>"},
    config={"downsample_ratio": 0.5, "vision_feature_layer": -1, "vision_feature_select_strategy": "default"},
    processor={"processor_class": "InternVLProcessor", "image_seq_length": 4},
    tokenizer_tokens={"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
                      "video_token": "<video>"},
)

# meta-llama/Llama-3.2-11B-Vision-Instruct's layout at tiny sizes: a tiled vision encoder (28 x 28 tiles of
# 14-pixel patches, up to 2 tiles per image in a 1 x 1, 1 x 2 or 2 x 1 arrangement; 560 and 4 there) with one gated
# global layer, a projector, and a Llama text model whose layer 1 cross-attends to the image features (gated; the
# gates start at zero in from_config and are drawn at random here, as a trained checkpoint has learnt them; weights
# drawn wider than the default, or the two-layer model starts so near uniform that a short LoRA run barely moves it).
# Its tokenizer's Llama 3 tokens and <|image|>, and the official chat template.
MLLAMA_SPECIAL_TOKENS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                         "<|eot_id|>", "<|finetune_right_pad_id|>", "<|image|>")
TINY_MLLAMA = TinyVisionLanguage(
    name="mllama", config_class="MllamaConfig",
    text={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
          "intermediate_size": 64, "max_position_embeddings": 1024, "cross_attention_layers": [1],
          "initializer_range": 0.1},
    vision={"hidden_size": 32, "num_hidden_layers": 2, "num_global_layers": 1, "attention_heads": 2,
            "intermediate_size": 64, "vision_output_dim": 64, "intermediate_layers_indices": [0], "image_size": 28,
            "patch_size": 14, "max_num_tiles": 2, "supported_aspect_ratios": [[1, 1], [1, 2], [2, 1]]},
    image_processor={"class": "MllamaImageProcessorPil", "size": {"height": 28, "width": 28}, "max_image_tiles": 2},
    special_tokens=MLLAMA_SPECIAL_TOKENS, chat_template=official_chat_template("mllama"),
    named={"bos": "<|begin_of_text|>", "eos": "<|eot_id|>", "pad": "<|finetune_right_pad_id|>"},
    token_ids={"image_token_id": "<|image|>"},
    processor={"processor_class": "MllamaProcessor"},
    learnt=("model.language_model.layers.1.cross_attn_attn_gate", "model.language_model.layers.1.cross_attn_mlp_gate"),
    tied=False,
)

FAMILIES = {family.name: family for family in (TINY_QWEN2_VL, TINY_QWEN3_VL, TINY_LLAVA, TINY_LLAVA_NEXT,
                                                TINY_GEMMA3, TINY_INTERN_VL, TINY_MLLAMA)}


def build_tiny_vision_language(family: TinyVisionLanguage, out_dir: str | Path, seed: int = 0,
                               data_dir: Path = BUNDLED_DATA_DIR) -> Path:
    """Build and save a random-weight model of ``family`` with its tokenizer and image processor."""
    import torch
    import transformers
    from transformers import AutoModelForImageTextToText

    out_dir = Path(out_dir)
    tokenizer = train_bpe_tokenizer(list(family.special_tokens), family.named, family.vocab_size,
                                    family.text["max_position_embeddings"], data_dir, family.plain_tokens)
    tokenizer.chat_template = family.chat_template or _our_chat_template(family.name, tokenizer)
    ids = tokenizer.convert_tokens_to_ids
    named = {key: ids(token) for key, token in family.named.items()}
    config = getattr(transformers, family.config_class)(
        text_config={**family.text, "vocab_size": len(tokenizer), "bos_token_id": named.get("bos", named["pad"]),
                     "eos_token_id": named["eos"], "pad_token_id": named["pad"]},
        vision_config=family.vision, **{key: ids(token) for key, token in family.token_ids.items()},
        **family.config, tie_word_embeddings=family.tied, dtype="float32",  # as the hub checkpoints
    )
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    with torch.no_grad():
        for name in family.learnt:
            model.get_parameter(name).normal_(0.0, 0.1)
    # Saved part by part, as the hub checkpoint is laid out: transformers 5.25 cannot build the Qwen families'
    # processors without torchvision (their video processors need it), but AutoProcessor finds the processor
    # from config.json. The PIL image processor is the one AutoImageProcessor picks without torchvision.
    settings = dict(family.image_processor)
    image_processor = getattr(transformers, settings.pop("class"))(**settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)  # writes chat_template.jinja, which AutoProcessor reads as well
    if family.tokenizer_tokens:  # Gemma 3's boi_token ...: the tokenizer then has them as attributes
        config_file = out_dir / "tokenizer_config.json"
        content = {**json.loads(config_file.read_text(encoding="utf-8")), **family.tokenizer_tokens}
        config_file.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    image_processor.save_pretrained(out_dir)  # preprocessor_config.json
    if family.processor:  # processor_config.json, as the processor's save_pretrained writes it
        content = {**family.processor, "image_processor": image_processor.to_dict()}
        text = json.dumps(content, indent=2, sort_keys=True) + "\n"
        (out_dir / "processor_config.json").write_text(text, encoding="utf-8")
    return out_dir


def _our_chat_template(name: str, tokenizer) -> str:
    from tunefactory.data.template import TEMPLATES, to_jinja

    return to_jinja(TEMPLATES[name], tokenizer.bos_token or "", tokenizer.eos_token or "")


def ensure_tiny_vision_language(family: TinyVisionLanguage, cache_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny ``family`` model once into ``cache_dir`` and reuse it while its recipe is unchanged."""
    recipe = {**asdict(family), "seed": seed, "corpus": corpus_fingerprint()}
    return build_once(cache_dir, f"{family.name}-tiny", recipe,
                      lambda out_dir: build_tiny_vision_language(family, out_dir, seed))


def build_tiny_qwen2_vl(out_dir: str | Path, seed: int = 0, data_dir: Path = BUNDLED_DATA_DIR) -> Path:
    """Build and save a random-weight Qwen2-VL with its tokenizer and processor; returns ``out_dir``."""
    return build_tiny_vision_language(TINY_QWEN2_VL, out_dir, seed, data_dir)


def ensure_tiny_qwen2_vl(cache_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny Qwen2-VL once into ``cache_dir`` and reuse it while its recipe is unchanged."""
    return ensure_tiny_vision_language(TINY_QWEN2_VL, cache_dir, seed)


def build_tiny_qwen3_vl(out_dir: str | Path, seed: int = 0, data_dir: Path = BUNDLED_DATA_DIR) -> Path:
    """Build and save a random-weight Qwen3-VL (Instruct) with its tokenizer and processor; returns ``out_dir``."""
    return build_tiny_vision_language(TINY_QWEN3_VL, out_dir, seed, data_dir)


def ensure_tiny_qwen3_vl(cache_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny Qwen3-VL once into ``cache_dir`` and reuse it while its recipe is unchanged."""
    return ensure_tiny_vision_language(TINY_QWEN3_VL, cache_dir, seed)


def ensure_tiny_llava(cache_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny LLaVA-1.5 once into ``cache_dir`` and reuse it while its recipe is unchanged."""
    return ensure_tiny_vision_language(TINY_LLAVA, cache_dir, seed)


def ensure_tiny_llava_next(cache_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny LLaVA-NeXT (LLaVA-1.6) once into ``cache_dir`` and reuse it while its recipe is unchanged."""
    return ensure_tiny_vision_language(TINY_LLAVA_NEXT, cache_dir, seed)


def ensure_tiny_intern_vl(cache_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny InternVL (the transformers format of InternVL3) once into ``cache_dir`` and reuse it."""
    return ensure_tiny_vision_language(TINY_INTERN_VL, cache_dir, seed)


def ensure_tiny_mllama(cache_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny Llama 3.2 Vision (mllama) once into ``cache_dir`` and reuse it while its recipe is unchanged."""
    return ensure_tiny_vision_language(TINY_MLLAMA, cache_dir, seed)


def ensure_tiny_gemma3(cache_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny Gemma 3 (vision) once into ``cache_dir`` and reuse it while its recipe is unchanged."""
    return ensure_tiny_vision_language(TINY_GEMMA3, cache_dir, seed)


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
    families = FAMILIES
    parser = argparse.ArgumentParser(description="Build a tiny random-weight vision-language model.")
    parser.add_argument("--family", choices=sorted(families), default="qwen2_vl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder (created)")
    args = parser.parse_args(argv)
    print(build_tiny_vision_language(families[args.family], args.out, args.seed))


if __name__ == "__main__":
    main()
