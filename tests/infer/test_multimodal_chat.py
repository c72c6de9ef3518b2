"""Chatting about an image: the answer equals the model's own generate() on the family's inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from tunefactory.errors import TuneFactoryError

IMAGE = Path(__file__).resolve().parents[2] / "data" / "mllm_demo_data" / "2.png"


@pytest.fixture(scope="module")
def vl_chat(tiny_qwen2_vl):
    from tunefactory.config import parse_dict
    from tunefactory.infer.chat_model import ChatModel

    model = ChatModel(parse_dict({"model_name_or_path": str(tiny_qwen2_vl), "template": "qwen2_vl"}, command="chat"))
    yield model
    model.engine.close()


def test_an_image_answer_equals_generate_on_the_familys_inputs(vl_chat, tiny_qwen2_vl):
    from transformers import AutoImageProcessor, AutoTokenizer

    messages = [{"role": "user", "content": "<image>What shape is it?", "images": [str(IMAGE)]}]
    answer = vl_chat.chat(messages, temperature=0, max_new_tokens=6)[0]
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2_vl)
    pixels = AutoImageProcessor.from_pretrained(tiny_qwen2_vl)(images=[Image.open(IMAGE).convert("RGB")],
                                                                return_tensors="pt")
    text = tokenizer.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                                       {"type": "text", "text": "What shape is it?"}]}],
                                         tokenize=False, add_generation_prompt=True)
    text = text.replace("<|image_pad|>", "<|image_pad|>" * (int(pixels["image_grid_thw"].prod()) // 4))
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    assert vl_chat.prompt_ids(messages) == ids[0].tolist()
    token_types = (ids == tokenizer.convert_tokens_to_ids("<|image_pad|>")).long()
    with torch.no_grad():
        expected = vl_chat.model.generate(input_ids=ids, **pixels, mm_token_type_ids=token_types, max_new_tokens=6,
                                          do_sample=False, eos_token_id=vl_chat.stop_ids)
    assert answer.text == tokenizer.decode(expected[0, ids.shape[1]:], skip_special_tokens=True)
    streamed = "".join(vl_chat.stream_chat(messages, temperature=0, max_new_tokens=6))
    assert streamed == answer.text


def test_images_for_a_text_model_or_a_missing_image_are_refused(vl_chat, tiny_llama):
    from tunefactory.config import parse_dict
    from tunefactory.infer.chat_model import ChatModel

    with pytest.raises(TuneFactoryError, match="1 <image> placeholder.s. in the messages but 0 image"):
        vl_chat.chat([{"role": "user", "content": "<image>What is it?"}])
    text_model = ChatModel(parse_dict({"model_name_or_path": str(tiny_llama), "template": "llama3"}, command="chat"))
    try:
        with pytest.raises(TuneFactoryError, match="this model takes no images: template 'llama3'"):
            text_model.chat([{"role": "user", "content": "<image>Hi", "images": [str(IMAGE)]}])
    finally:
        text_model.engine.close()


@pytest.mark.parametrize(("fixture", "template"), [("tiny_llava", "llava"), ("tiny_llava_next", "llava_next"),
                                                  ("tiny_gemma3", "gemma3"), ("tiny_mllama", "mllama")])
def test_an_answer_equals_generate_on_the_familys_own_processors_inputs(fixture, template, request):
    """LLaVA-1.5's LlavaProcessor, LLaVA-NeXT's LlavaNextProcessor, Gemma 3's Gemma3Processor and Llama 3.2 Vision's
    MllamaProcessor build here (no video half): the reference is the real processor (Gemma 3's inputs carry
    token_type_ids, mllama's a cross-attention mask, which our chat passes under the same names)."""
    from transformers import AutoProcessor

    from tunefactory.config import parse_dict
    from tunefactory.infer.chat_model import ChatModel

    folder = request.getfixturevalue(fixture)
    chat = ChatModel(parse_dict({"model_name_or_path": str(folder), "template": template}, command="chat"))
    try:
        messages = [{"role": "user", "content": "<image>What shape is it?", "images": [str(IMAGE)]}]
        answer = chat.chat(messages, temperature=0, max_new_tokens=6)[0]
        processor = AutoProcessor.from_pretrained(folder)
        text = processor.apply_chat_template([{"role": "user", "content": [
            {"type": "image"}, {"type": "text", "text": "What shape is it?"}]}], tokenize=False,
            add_generation_prompt=True)
        inputs = processor(text=text, images=[Image.open(IMAGE).convert("RGB")], return_tensors="pt",
                           add_special_tokens=False)
        assert chat.prompt_ids(messages) == inputs["input_ids"][0].tolist()
        assert ("token_type_ids" in inputs) == (template == "gemma3")
        with torch.no_grad():
            expected = chat.model.generate(**inputs, max_new_tokens=6, do_sample=False, eos_token_id=chat.stop_ids)
        prompt_length = inputs["input_ids"].shape[1]
        assert answer.text == processor.tokenizer.decode(expected[0, prompt_length:], skip_special_tokens=True)
        assert "".join(chat.stream_chat(messages, temperature=0, max_new_tokens=6)) == answer.text
    finally:
        chat.engine.close()


def test_an_intern_vl_answer_equals_generate_on_its_processors_inputs(tiny_intern_vl):
    """InternVLProcessor's expansion written out (its video processor needs torchvision here): each tile of the
    image is image_seq_length <IMG_CONTEXT> between <img> and </img>."""
    from transformers import AutoImageProcessor, AutoTokenizer

    from tunefactory.config import parse_dict
    from tunefactory.infer.chat_model import ChatModel

    chat = ChatModel(parse_dict({"model_name_or_path": str(tiny_intern_vl), "template": "intern_vl"}, command="chat"))
    try:
        messages = [{"role": "user", "content": "<image>What shape is it?", "images": [str(IMAGE)]}]
        answer = chat.chat(messages, temperature=0, max_new_tokens=6)[0]
        tokenizer = AutoTokenizer.from_pretrained(tiny_intern_vl)
        pixels = AutoImageProcessor.from_pretrained(tiny_intern_vl)(images=[Image.open(IMAGE).convert("RGB")],
                                                                     return_tensors="pt")
        text = tokenizer.apply_chat_template([{"role": "user", "content": [
            {"type": "image"}, {"type": "text", "text": "What shape is it?"}]}], tokenize=False,
            add_generation_prompt=True)
        context = "<img>" + "<IMG_CONTEXT>" * (4 * int(pixels["num_patches"][0])) + "</img>"
        ids = tokenizer(text.replace("<IMG_CONTEXT>", context), return_tensors="pt")["input_ids"]
        assert chat.prompt_ids(messages) == ids[0].tolist()
        with torch.no_grad():
            expected = chat.model.generate(input_ids=ids, pixel_values=pixels["pixel_values"], max_new_tokens=6,
                                           do_sample=False, eos_token_id=chat.stop_ids)
        assert answer.text == tokenizer.decode(expected[0, ids.shape[1]:], skip_special_tokens=True)
    finally:
        chat.engine.close()


def test_the_terminal_chat_attaches_an_image_to_the_next_message(tiny_qwen2_vl):
    """`image <path>` attaches a file to the next message (piped here: one answer line per message); a file for the
    wrong kind of model is refused on stderr and the conversation goes on."""
    import io

    from tunefactory.config import parse_dict
    from tunefactory.infer.chat_model import ChatModel
    from tunefactory.infer.terminal import run_terminal_chat

    vl_chat = ChatModel(parse_dict({"model_name_or_path": str(tiny_qwen2_vl), "template": "qwen2_vl",
                                    "do_sample": False, "max_new_tokens": 6}, command="chat"))
    try:
        stdin = io.StringIO(f"image {IMAGE}\nWhat shape is it?\naudio {IMAGE}\nAnd now?\nimage /nowhere.png\nHi\n")
        stdout = io.StringIO()
        assert run_terminal_chat(vl_chat, stdin, stdout) == 0
        answers = stdout.getvalue().split("\n")[:-1]
        assert len(answers) == 3 and answers[1] == ""  # the sound was refused: no answer, no turn
        first = [{"role": "user", "content": "<image>What shape is it?", "images": [str(IMAGE)]}]
        assert answers[0] == vl_chat.chat(first)[0].text.replace("\n", "\\n")
        history = [*first, {"role": "assistant", "content": vl_chat.chat(first)[0].text},
                   {"role": "user", "content": "Hi"}]
        assert answers[2] == vl_chat.chat(history)[0].text.replace("\n", "\\n")
    finally:
        vl_chat.engine.close()
