"""Image rows: preprocessing throughput and peak memory as the row count grows (lazy image loading).

Writes N rows in LLaMA-Factory's mllm_demo format, each pointing at one of M distinct images of our own
(``--image-size`` pixels a side, drawn here), and runs sft processing for the tiny Qwen2-VL (template
qwen2_vl: each ``<image>`` expanded to the family's tokens, counted by its image processor) in a fresh
subprocess per row count. Rows/s is rows / processing time; peak RSS is the subprocess's. Images are opened
to count their tokens and never stored decoded, so peak RSS should stay flat as rows grow. A collate pass over
the first 64 rows (pixels made here, lazily) is timed too.

    .venv/bin/python bench/bench_multimodal.py [--rows 250,500,1000] [--images 50] [--image-size 224]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mib, write_result  # noqa: E402

REGISTRY = {"mm_bench": {"file_name": "mm_bench.json", "formatting": "sharegpt",
                         "columns": {"messages": "messages", "images": "images"},
                         "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                  "assistant_tag": "assistant"}}}


def write_rows(folder: Path, rows: int, images: int, size: int) -> None:
    from PIL import Image, ImageDraw

    (folder / "images").mkdir(parents=True, exist_ok=True)
    for i in range(images):
        image = Image.new("RGB", (size, size), (255, 255, 255))
        ImageDraw.Draw(image).ellipse((i % 20, i % 30, size - 1 - i % 25, size - 1), fill=(i * 5 % 256, 90, 160))
        image.save(folder / "images" / f"{i}.png")
    data = [{"messages": [{"role": "user", "content": f"<image>[{r}] What is drawn?"},
                          {"role": "assistant", "content": f"A shape, number {r % images}."}],
             "images": [f"images/{r % images}.png"]} for r in range(rows)]
    (folder / "mm_bench.json").write_text(json.dumps(data))
    (folder / "dataset_info.json").write_text(json.dumps(REGISTRY))


def child(folder: Path, model_dir: Path, rows: int) -> dict:
    import datasets

    datasets.disable_progress_bars()
    from tunefactory.config import parse_dict
    from tunefactory.data.collators import build_collator
    from tunefactory.train import steps

    config = parse_dict({"model_name_or_path": str(model_dir), "stage": "sft", "do_train": True,
                         "finetuning_type": "lora", "template": "qwen2_vl", "dataset": "mm_bench",
                         "dataset_dir": str(folder), "max_samples": rows, "cutoff_len": 2048,
                         "output_dir": str(folder / "out"), "overwrite_cache": True})
    tokenizer, template = steps.load_tokenizer_and_template(config)
    media = steps.load_media(config, template)
    start = time.perf_counter()
    train = steps.load_data(config, template, tokenizer, media).train
    processing = time.perf_counter() - start
    collator = build_collator("supervised", tokenizer, media=media)
    start = time.perf_counter()
    for first in range(0, min(64, len(train)), 8):
        collator([train[i] for i in range(first, min(first + 8, len(train)))])
    collating = time.perf_counter() - start
    return {"rows": len(train), "seconds": processing, "collate_64_rows_s": collating, "peak_rss_mib": peak_rss_mib(),
            "image_tokens_per_row": train[0]["input_ids"].count(tokenizer.convert_tokens_to_ids("<|image_pad|>"))}


def main(row_counts: list[int], images: int, size: int) -> dict:
    from tunefactory_fixtures.tiny_multimodal import ensure_tiny_qwen2_vl

    figures: dict = {"images": images, "image_size": size, "model": "tiny Qwen2-VL (qwen2_vl template)", "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-mm-") as tmp:
        folder = Path(tmp)
        write_rows(folder, max(row_counts), images, size)
        model_dir = ensure_tiny_qwen2_vl(folder / "models")
        for rows in row_counts:
            out = subprocess.run([sys.executable, __file__, "--child", "--dir", str(folder), "--model", str(model_dir),
                                  "--rows", str(rows)], capture_output=True, text=True, check=True)
            run = json.loads(out.stdout.strip().splitlines()[-1])
            run["rows_per_s"] = round(run["rows"] / run["seconds"], 1)
            figures["runs"].append({key: round(v, 3) if isinstance(v, float) else v for key, v in run.items()})
    return figures


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="250,500,1000", help="row counts, comma-separated (default 250,500,1000)")
    parser.add_argument("--images", type=int, default=50, help="distinct images the rows point at (default 50)")
    parser.add_argument("--image-size", type=int, default=224, help="image side in pixels (default 224)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_cli()
    if args.child:
        print(json.dumps(child(Path(args.dir), Path(args.model), int(args.rows))))
    else:
        result = main([int(n) for n in args.rows.split(",")], args.images, args.image_size)
        print(json.dumps(result, indent=2))
        write_result("multimodal", result)
