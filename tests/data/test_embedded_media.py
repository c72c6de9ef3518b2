"""Images and sounds held inside dataset rows, as hub datasets ship them (datasets' `Image` and `Audio` features:
``{"bytes": ...}``): each is kept once as a file named by its content, and the rows encode exactly as the same rows
with image files do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from tunefactory.config import parse_dict
from tunefactory.data.pipeline import get_dataset
from tunefactory.train import steps

BUNDLED = Path(__file__).resolve().parents[2] / "data"


def embedded_copy(folder: Path, decode: bool) -> None:
    """mllm_demo with its images inside the rows, as a parquet file with datasets' Image feature."""
    from datasets import Dataset, Features, List, Value
    from datasets import Image as ImageFeature

    rows = json.loads((BUNDLED / "mllm_demo.json").read_text())
    features = Features({"messages": List({"content": Value("string"), "role": Value("string")}),
                         "images": List(ImageFeature(decode=decode))})
    table = {"messages": [row["messages"] for row in rows],
             "images": [[{"bytes": (BUNDLED / path).read_bytes(), "path": None} for path in row["images"]]
                        for row in rows]}
    Dataset.from_dict(table, features=features).to_parquet(str(folder / "embedded.parquet"))
    info = json.loads((BUNDLED / "dataset_info.json").read_text())["mllm_demo"]
    (folder / "dataset_info.json").write_text(json.dumps({"embedded": {**info, "file_name": "embedded.parquet"}}))


def run_config(tiny_qwen2_vl, dataset_dir: Path, dataset: str, cache: Path):
    return parse_dict({"model_name_or_path": str(tiny_qwen2_vl), "stage": "sft", "do_train": True,
                       "finetuning_type": "lora", "template": "qwen2_vl", "dataset": dataset,
                       "dataset_dir": str(dataset_dir), "cache_dir": str(cache), "cutoff_len": 512,
                       "output_dir": str(cache / "out"), "use_cpu": True, "overwrite_cache": True})


@pytest.mark.parametrize("decode", [True, False], ids=["decoded", "bytes"])
def test_images_inside_rows_encode_as_image_files_do(tiny_qwen2_vl, tmp_path, decode):
    embedded_copy(tmp_path, decode)
    cache = tmp_path / "cache"
    results = {}
    for name, folder in (("mllm_demo", BUNDLED), ("embedded", tmp_path)):
        config = run_config(tiny_qwen2_vl, folder, name, cache)
        tokenizer, template = steps.load_tokenizer_and_template(config)
        media = steps.load_media(config, template)
        results[name] = get_dataset(config, template, tokenizer, media).train
    ours, files = results["embedded"], results["mllm_demo"]
    assert len(ours) == len(files) == 8
    for embedded_row, file_row in zip(ours, files, strict=True):
        assert embedded_row["input_ids"] == file_row["input_ids"] and embedded_row["labels"] == file_row["labels"]
        assert len(embedded_row["images"]) == len(file_row["images"]) >= 1
        for kept, original in zip(embedded_row["images"], file_row["images"], strict=True):
            assert Path(kept).parent.parent == cache / "tunefactory-media"
            with Image.open(kept) as a, Image.open(original) as b:
                assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None
    distinct = {path for row in json.loads((BUNDLED / "mllm_demo.json").read_text()) for path in row["images"]}
    kept_files = [path for path in (cache / "tunefactory-media").rglob("*") if path.is_file()]
    assert len(kept_files) == len(distinct)  # one file per distinct image, however many rows hold it


def test_a_row_whose_image_is_neither_a_path_nor_an_image_is_a_bad_row(tmp_path):
    from tunefactory.data.bad_rows import BadRow
    from tunefactory.data.converters import Converter
    from tunefactory.data.registry import DatasetAttr

    attr = DatasetAttr(name="x", load_from="file", path="x.json", formatting="sharegpt", images="images")
    converter = Converter(attr, media_dir=str(tmp_path), embedded_media_dir=str(tmp_path / "kept"))
    row = {"conversations": [{"from": "human", "value": "<image>hi"}, {"from": "gpt", "value": "yes"}],
           "images": [42]}
    with pytest.raises(BadRow, match=r"image must be a file path, a decoded image or \{'bytes': \.\.\.\}, not int"):
        converter(row)
    assert not (tmp_path / "kept").exists()


def test_sounds_inside_rows_encode_as_sound_files_do(tiny_qwen2_audio, tmp_path):
    """datasets' Audio feature (as hub sound datasets ship it): read as bytes, never decoded by datasets (which
    would need torchcodec), kept once as files, encoded as the same rows with sound files are."""
    from datasets import Audio, Dataset, Features, List, Value

    rows = json.loads((BUNDLED / "mllm_audio_demo.json").read_text())
    messages = List({"content": Value("string"), "role": Value("string")})
    stored = Features({"messages": messages, "audios": List({"bytes": Value("binary"), "path": Value("string")})})
    table = {"messages": [row["messages"] for row in rows],
             "audios": [[{"bytes": (BUNDLED / path).read_bytes(), "path": None} for path in row["audios"]]
                        for row in rows]}
    # cast, not encoded: datasets encodes sounds only with torchcodec; the file declares a decoding Audio column
    dataset = Dataset.from_dict(table, features=stored).cast(Features({"messages": messages, "audios": List(Audio())}))
    dataset.to_parquet(str(tmp_path / "embedded.parquet"))
    assert Dataset.from_parquet(str(tmp_path / "embedded.parquet")).features["audios"].feature.decode
    info = json.loads((BUNDLED / "dataset_info.json").read_text())["mllm_audio_demo"]
    (tmp_path / "dataset_info.json").write_text(json.dumps({"embedded": {**info, "file_name": "embedded.parquet"}}))
    cache = tmp_path / "cache"
    results = {}
    for name, folder in (("mllm_audio_demo", BUNDLED), ("embedded", tmp_path)):
        config = parse_dict({"model_name_or_path": str(tiny_qwen2_audio), "stage": "sft", "do_train": True,
                             "template": "qwen2_audio", "dataset": name, "dataset_dir": str(folder),
                             "cache_dir": str(cache), "cutoff_len": 512, "output_dir": str(cache / "out"),
                             "overwrite_cache": True})
        tokenizer, template = steps.load_tokenizer_and_template(config)
        media = steps.load_media(config, template)
        results[name] = (get_dataset(config, template, tokenizer, media).train, media)
    (ours, media), (files, _) = results["embedded"], results["mllm_audio_demo"]
    assert len(ours) == len(files) == 8
    for embedded_row, file_row in zip(ours, files, strict=True):
        assert embedded_row["input_ids"] == file_row["input_ids"]
        assert all(Path(kept).parent.parent == cache / "tunefactory-media" for kept in embedded_row["audios"])
        kept, original = (media.plugin.batch_inputs(row["audios"], media.processor, media.settings)
                          for row in (embedded_row, file_row))
        assert kept["input_features"].equal(original["input_features"])


def test_a_decoded_sound_in_a_row_is_kept_as_a_lossless_wav(tmp_path):
    import numpy as np

    from tunefactory.data.converters import Converter
    from tunefactory.data.multimodal import MediaSettings, load_audio
    from tunefactory.data.registry import DatasetAttr

    sound = load_audio(str(BUNDLED / "mllm_demo_data" / "3.wav"), MediaSettings())
    attr = DatasetAttr(name="x", load_from="file", path="x.json", formatting="sharegpt", audios="audios")
    converter = Converter(attr, media_dir=str(tmp_path), embedded_media_dir=str(tmp_path / "kept"))
    row = {"conversations": [{"from": "human", "value": "<audio>hi"}, {"from": "gpt", "value": "yes"}],
           "audios": [{"array": sound.samples.tolist(), "sampling_rate": 16000}]}
    (kept,) = converter(row)["_audios"]
    assert np.array_equal(load_audio(kept, MediaSettings()).samples, sound.samples)
