"""SFT training speed on the CPU: LoRA and full fine-tuning of the `bench` tiny Llama (17.1M parameters).

Each run is a fresh `tunefactory train <config.json>` process (`python -m tunefactory.cli`), reaped
with `os.wait4` so its peak RSS and CPU time are its own. The runs share one config: tiny Llama
`bench` size, template `default`, `alpaca_demo,arith_train` packed (`packing: true`) at cutoff_len
512 (rows ~96% full), per_device_train_batch_size 4, fp32 (`bf16: false`, `use_cpu: true`),
`max_steps` --steps, `logging_steps: 1`, `report_to: none`, `save_strategy: "no"` (the final
save_model still runs, outside the timed steps), `include_num_input_tokens_seen: non_padding`:

  lora      finetuning_type lora (rank 8, lora_target all), gradient checkpointing off
  full      finetuning_type full, gradient checkpointing off
  full_gc   finetuning_type full, gradient checkpointing on (the cost of recomputing activations)

From each run's trainer_state.json log_history (one entry a step: `train_runtime`, seconds since the
training loop began, and `num_input_tokens_seen`, the attention_mask sum of the batches so far):
  s_per_step      (runtime at the last step - runtime at step --warmup) / steps between: the first
                  --warmup steps (optimizer state allocation, first-touch) are left out; also their
                  median and each step's seconds (step_s_all), which show other work on the machine;
                  s_per_step_best is the fastest of them
  first_step_s    runtime at step 1
  tokens_per_s    non-pad tokens trained over the same steps / their seconds (tokens_per_s_best: of the
                  fastest step)
  mfu             tokens_per_s x model FLOPs per token / peak FLOP/s, where
                    full:  6 N + 12 L d T
                    lora:  4 N + 6 N_lora + 12 L d T  (frozen weights: forward + input-gradient only)
                  N = base weights used in matmuls (all parameters minus the input embedding table, a
                  lookup), N_lora = LoRA parameters, L layers, d hidden size, T = cutoff_len (packed rows
                  fill it; attention spans the whole row: packing without neat_packing). Model FLOPs:
                  checkpointing's recomputed forward is not counted, so it shows as a lower MFU.
                  Peak = the best float32 torch.matmul of two 2048x2048 matrices (2 n^3 FLOPs, best of
                  10) with the train processes' thread count, measured in this process before every run
                  and at the end; the best of those is the peak. mfu_best: the same from the fastest step.
Also per run: peak RSS (MiB, the train process and anything it waited for), trainable and total
parameters (numel of the saved adapter/model tensors), process wall and CPU time, and the load
average before the run. Other work on the machine slows the steps, far more than its share with
torch's default one-thread-a-core (threads wait for each other): compare runs on a quiet machine,
look at step_s_all and the best-step figures, or try --threads 1.

    .venv/bin/python bench/bench_train.py [--steps N] [--warmup K] [--threads T] [--repeat R]
                                           [--runs lora,full,full_gc]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = "alpaca_demo,arith_train"
CUTOFF = 512
BATCH = 4
TEMPLATE = "default"
SIZE = "bench"
RUNS = {
    "lora": {"finetuning_type": "lora", "lora_rank": 8, "lora_target": "all", "learning_rate": 1.0e-4,
             "disable_gradient_checkpointing": True},
    "full": {"finetuning_type": "full", "learning_rate": 1.0e-5, "disable_gradient_checkpointing": True},
    "full_gc": {"finetuning_type": "full", "learning_rate": 1.0e-5, "disable_gradient_checkpointing": False},
}
MATMUL_N = 2048


def train_config(model: Path, cache: Path, out: Path, run: str, steps: int) -> dict:
    return {"model_name_or_path": str(model), "cache_dir": str(cache), "stage": "sft", "do_train": True,
            **RUNS[run], "dataset": DATASETS, "dataset_dir": str(ROOT / "data"), "template": TEMPLATE,
            "cutoff_len": CUTOFF, "packing": True, "output_dir": str(out), "overwrite_output_dir": True,
            "report_to": "none", "logging_steps": 1, "save_strategy": "no", "plot_loss": False,
            "per_device_train_batch_size": BATCH, "gradient_accumulation_steps": 1, "max_steps": steps,
            "lr_scheduler_type": "constant", "use_cpu": True, "bf16": False, "fp16": False,
            "include_num_input_tokens_seen": "non_padding", "disable_tqdm": True, "seed": 0}


def matmul_gflops(n: int = MATMUL_N, repeat: int = 10) -> float:
    """Best float32 matmul throughput of this process (torch's default threads), GFLOP/s."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)  # warm-up: allocation, thread pool
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def safetensors_numel(path: Path) -> dict[str, int]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return {name: _numel(handle.get_slice(name).get_shape()) for name in handle.keys()}


def _numel(shape) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def add_step_options(parser, steps: int, repeat: int, repeat_help: str) -> None:
    """--steps, --warmup and --repeat, as every training bench reads them."""
    parser.add_argument("--steps", type=int, default=steps, help=f"max_steps of every run ({steps})")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the timing (2)")
    parser.add_argument("--repeat", type=int, default=repeat, help=f"{repeat_help} ({repeat})")


def run_train(config: dict, folder: Path, env: dict) -> dict:
    """One `tunefactory train` in a fresh process: wall and CPU seconds, peak RSS, exit code."""
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    log_path = folder / "train.log"
    start = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tunefactory.cli", "train", str(config_path)], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (RUSAGE_CHILDREN sums every run)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise RuntimeError(f"tunefactory train failed ({proc.returncode}); log {log_path}:\n{tail}")
    return {"process_wall_s": wall, "process_cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024}  # Linux: KiB


def step_figures(out: Path, warmup: int) -> dict:
    state = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))
    logs = {entry["step"]: entry for entry in state["log_history"] if "loss" in entry and "train_runtime" in entry}
    last = max(logs)
    if warmup >= last:
        raise ValueError(f"--warmup {warmup} leaves no timed step of {last}")
    seconds = logs[last]["train_runtime"] - logs[warmup]["train_runtime"]
    tokens = logs[last]["num_input_tokens_seen"] - logs[warmup]["num_input_tokens_seen"]
    timed = range(warmup + 1, last + 1)
    step_s = [logs[step]["train_runtime"] - logs[step - 1]["train_runtime"] for step in timed]
    step_tokens = [logs[step]["num_input_tokens_seen"] - logs[step - 1]["num_input_tokens_seen"] for step in timed]
    return {"steps": last, "timed_steps": last - warmup, "first_step_s": logs[1]["train_runtime"],
            "s_per_step": seconds / (last - warmup), "s_per_step_median": statistics.median(step_s),
            "s_per_step_best": min(step_s), "step_s_all": [round(value, 3) for value in step_s],
            "tokens_per_s": tokens / seconds,
            "tokens_per_s_best": max(n / s for n, s in zip(step_tokens, step_s, strict=True)),
            "tokens_per_step": tokens / (last - warmup), "train_runtime_s": logs[last]["train_runtime"],
            "loss_first": logs[1]["loss"], "loss_last": logs[last]["loss"]}


def param_counts(out: Path, run: str, base: dict[str, int]) -> dict:
    total_base = sum(base.values())
    embedding = sum(n for name, n in base.items() if name.endswith("embed_tokens.weight"))
    if RUNS[run]["finetuning_type"] == "lora":
        lora = sum(safetensors_numel(out / "adapter_model.safetensors").values())
        return {"trainable_params": lora, "total_params": total_base + lora, "lora_params": lora,
                "base_matmul_params": total_base - embedding}
    saved = sum(safetensors_numel(out / "model.safetensors").values())
    return {"trainable_params": saved, "total_params": saved, "lora_params": 0,
            "base_matmul_params": total_base - embedding}


def flops_per_token(run: str, params: dict, layers: int, hidden: int) -> float:
    attention = 12 * layers * hidden * CUTOFF
    if RUNS[run]["finetuning_type"] == "lora":
        return 4 * params["base_matmul_params"] + 6 * params["lora_params"] + attention
    return 6 * params["base_matmul_params"] + attention


def measure(run: str, model: Path, base: dict[str, int], dims, cache: Path, folder: Path, steps: int, warmup: int,
            env: dict, threads: int) -> dict:
    """One attempt of one run: train, then read its figures from the outputs."""
    out = folder / "out"
    result = {"run": run, "gradient_checkpointing": not RUNS[run]["disable_gradient_checkpointing"],
              "finetuning_type": RUNS[run]["finetuning_type"]}
    result.update(run_train(train_config(model, cache, out, run, steps), folder, env))
    result.update(step_figures(out, warmup))
    result.update(param_counts(out, run, base))
    result["cpu_util"] = result["process_cpu_s"] / result["process_wall_s"] / threads
    result["flops_per_token"] = flops_per_token(run, result, dims.num_hidden_layers, dims.hidden_size)
    result["achieved_gflops"] = result["tokens_per_s"] * result["flops_per_token"] / 1e9
    result["achieved_gflops_best"] = result["tokens_per_s_best"] * result["flops_per_token"] / 1e9
    return result


def main(steps: int = 12, warmup: int = 2, runs: tuple[str, ...] = tuple(RUNS), threads: int | None = None,
         repeat: int = 1) -> dict:
    import torch

    from tunefactory_fixtures.tiny_models import SIZES, ensure_tiny_model

    if threads:
        torch.set_num_threads(threads)  # the matmul peak; the train processes get OMP_NUM_THREADS
    started = time.perf_counter()
    dims = SIZES[SIZE]
    figures: dict = {
        "model": f"tiny llama '{SIZE}'", "datasets": DATASETS, "template": TEMPLATE, "cutoff_len": CUTOFF,
        "packing": True, "per_device_train_batch_size": BATCH, "dtype": "float32", "steps": steps,
        "warmup_steps_excluded": warmup, "torch_threads": torch.get_num_threads(), "repeat": repeat,
        "formulas": {
            "full_flops_per_token": "6 N + 12 L d T",
            "lora_flops_per_token": "4 N + 6 N_lora + 12 L d T",
            "N": "base parameters used in matmuls: all minus the input embedding table (a lookup); the untied "
                 "lm_head counts",
            "attention": "12 L d T: L layers, d hidden size, T = cutoff_len (packed rows fill it, one causal mask "
                         "over the whole row); the causal half is not subtracted",
            "model_flops": "checkpointing's recomputed forward is not counted (it shows as lower MFU)",
            "tokens": "non-pad tokens trained (Trainer num_input_tokens_seen, non_padding = attention_mask sum)",
            "s_per_step": f"(train_runtime at the last step - at step {warmup}) / steps between; "
                          "s_per_step_median, s_per_step_best: their median and fastest",
            "peak": f"best float32 torch.matmul {MATMUL_N}x{MATMUL_N} (2 n^3 FLOPs, best of 10) on the train "
                    "processes' thread count (torch_threads), measured before each run and at the end; the best of all",
            "mfu": "tokens_per_s x flops_per_token / peak; mfu_best: the same for the fastest timed step "
                   "(tokens_per_s_best, s_per_step_best), nearest what a quiet machine gives",
            "cpu_util": "process CPU seconds / process wall seconds / torch threads (the whole process, startup "
                        "and data processing included)",
        },
        "runs": [],
    }
    peaks = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        tmp_path = Path(tmp)
        model = ensure_tiny_model(tmp_path / "models", arch="llama", size=SIZE)
        base = safetensors_numel(model / "model.safetensors")
        figures["model_params"] = sum(base.values())
        figures["model_dims"] = {"hidden": dims.hidden_size, "layers": dims.num_hidden_layers,
                                 "heads": dims.num_attention_heads, "kv_heads": dims.num_key_value_heads,
                                 "intermediate": dims.intermediate_size,
                                 "vocab": json.loads((model / "config.json").read_text())["vocab_size"]}
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "HF_DATASETS_CACHE": str(tmp_path / "datasets")}
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        attempts: dict[str, list[dict]] = {run: [] for run in runs}
        for attempt in range(repeat):  # in rotation, so other work on the machine hits every run alike
            for run in runs:
                folder = tmp_path / f"{run}-{attempt}"
                folder.mkdir()
                peak_before = matmul_gflops()
                peaks.append(peak_before)
                load = os.getloadavg()[0]
                print(f"== {run} ({attempt + 1}/{repeat}): {steps} steps (matmul peak now {peak_before:.1f} "
                      f"GFLOP/s, load {load:.2f})", flush=True)
                attempts[run].append(measure(run, model, base, dims, tmp_path / "cache", folder, steps, warmup, env,
                                             figures["torch_threads"]) | {"loadavg_1m_before": load,
                                                                          "peak_gflops_before": peak_before})
        peaks.append(matmul_gflops())
    for results in attempts.values():
        best = dict(min(results, key=lambda r: r["s_per_step"]))  # the fastest attempt
        best["s_per_step_attempts"] = [r["s_per_step"] for r in results]
        best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in results)  # the worst: memory is a limit
        figures["runs"].append(best)
    figures["peak_gflops"] = max(peaks)
    figures["peak_gflops_all"] = peaks
    for result in figures["runs"]:
        result["mfu"] = result["achieved_gflops"] / figures["peak_gflops"]
        result["mfu_best"] = result["achieved_gflops_best"] / figures["peak_gflops"]
    figures["loadavg_1m_end"] = os.getloadavg()[0]
    figures["total_s"] = time.perf_counter() - started
    return figures


def table(figures: dict) -> str:
    head = ("run", "trainable", "total", "s/step", "best", "1st step s", "tokens/s", "best", "GFLOP/s", "MFU", "best",
            "peak RSS MiB", "cpu util", "load")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in figures["runs"]:
        cells = (r["run"], f"{r['trainable_params'] / 1e6:.2f}M", f"{r['total_params'] / 1e6:.2f}M",
                 f"{r['s_per_step']:.2f}", f"{r['s_per_step_best']:.2f}", f"{r['first_step_s']:.2f}",
                 f"{r['tokens_per_s']:.0f}", f"{r['tokens_per_s_best']:.0f}", f"{r['achieved_gflops']:.1f}",
                 f"{100 * r['mfu']:.1f}%", f"{100 * r['mfu_best']:.1f}%", f"{r['peak_rss_mib']:.0f}",
                 f"{100 * r['cpu_util']:.0f}%", f"{r['loadavg_1m_before']:.1f}")
        lines.append(" | ".join(cells))
    lines.append(f"matmul peak {figures['peak_gflops']:.1f} GFLOP/s ({figures['torch_threads']} threads; "
                 f"all: {', '.join(f'{p:.1f}' for p in figures['peak_gflops_all'])}); total {figures['total_s']:.0f} s")
    return "\n".join(lines)


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12, help="max_steps of every run (default 12)")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the step timing (default 2)")
    parser.add_argument("--threads", type=int, help="torch threads of the train processes and the matmul peak "
                                                    "(default: torch's default, one a core)")
    parser.add_argument("--repeat", type=int, default=1, help="attempts per run, in rotation (default 1); the "
                                                              "fastest is kept, with the largest peak RSS")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated runs (default {','.join(RUNS)})")
    args = parser.parse_args(argv)
    args.runs = tuple(name.strip() for name in args.runs.split(",") if name.strip())
    unknown = sorted(set(args.runs) - set(RUNS))
    if unknown:
        parser.error(f"unknown runs {unknown}; choose from {', '.join(RUNS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not 1 <= args.warmup < args.steps:
        parser.error("--warmup must be at least 1 and below --steps")
    return args


if __name__ == "__main__":
    args = parse_cli()
    figures = main(args.steps, args.warmup, args.runs, args.threads, args.repeat)
    path = write_result("train", figures)
    print(table(figures))
    print(path)
