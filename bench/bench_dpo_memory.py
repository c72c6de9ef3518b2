"""Peak memory of LoRA DPO: the default reference (the adapter switched off) against a separate reference model.

With `finetuning_type: lora` and no `ref_model`, DPO's reference is the policy itself with its
LoRA adapter switched off (`steps.load_reference` returns None; `pair_trainers.reference_model`
wraps the reference forward in `model.disable_adapter()`), so the base weights are in memory once.
`ref_model: <the same base model>` loads a second, frozen copy of them (`load_other_model`). This
bench trains both on the same model and data and compares their memory:

  adapter_off   finetuning_type lora, no ref_model (the default)
  ref_model     the same plus `ref_model: <path of the same base model>` (a second copy of the weights)

The model is a random-weight Llama built for this bench in a child process (hidden 1024, 12 layers,
16 heads / 4 KV heads, MLP 2816, untied head, the `bench` tiny Llama's byte-level BPE tokenizer:
~6.3k tokens as the bundled corpus trains it; about 148M parameters, ~565 MiB a float32 copy), so
one copy of the weights dominates the difference. Both runs train in float32 and load the reference
in float32 (`bf16: false`, `infer_dtype: float32`). The checkpoint is saved in --checkpoint-dtype:

  bfloat16 (default)  as hub checkpoints mostly ship: loading it as float32 converts every tensor, so
                      each copy is anonymous memory, resident from loading on (as each copy is device
                      memory on a GPU)
  float32             loaded as is, transformers leaves the tensors memory-mapped from the safetensors
                      file: resident only once a forward pass touches them, and counted as file pages.
                      ref_model on the same path maps the same file, whose page-cache pages the policy
                      already maps: RSS counts them twice (+1 copy), but PSS and the machine's memory
                      do not grow (pss_at_train_end alike in both runs). Run it to see that case.

Shared config: stage dpo, pref_loss sigmoid, pref_beta 0.1, LoRA rank 8 on all linear layers,
gradient checkpointing off, `style_pref_train` (max_samples --samples) with template `default` at
cutoff_len 128, per_device_train_batch_size --batch (pairs: 2 rows each a forward), `use_cpu: true`
without CUDA, `max_steps` --steps, `save_strategy: "no"` (the final adapter save still runs),
`include_num_input_tokens_seen: non_padding` (so every step's log carries train_runtime).

Each run is a fresh `tunefactory train <config.json>` process (`tunefactory.cli.main` under a small
`python -c` wrapper that writes the process's own memory figures to a file), one at a time, reaped
with `os.wait4`, so the figures are its own:
  peak_rss_mib       ru_maxrss of the run (wait4). The bench process imports no torch and builds the
                     model in another child, so it stays small: a child started by vfork + exec
                     inherits its parent's high-water RSS into ru_maxrss.
  vmhwm_mib          VmHWM from the run's own /proc/self/status at exit (the peak of its address space
                     after exec; matches peak_rss_mib)
  *_at_train_begin_mib, *_at_train_end_mib
                     when the training loop starts (models loaded: the peak of loading, what stays
                     resident) and ends (a TrainerCallback the wrapper adds to the stage's callbacks, in
                     the child only): vmrss, vmhwm; rss_anon and rss_file (VmRSS split into anonymous
                     memory and mapped file pages); pss (proportional set size from smaps_rollup: a page
                     mapped twice counts once, so it is what the process adds to the machine's memory)
  cuda_max_allocated_mib, cuda_max_reserved_mib
                     torch.cuda.max_memory_allocated / max_memory_reserved at exit, on a CUDA machine
                     (null on the CPU; set `--checkpoint-dtype` as you like there: copies are on the GPU)
  steps_per_s        max_steps / train_runtime (train_results.json), also each step's seconds
                     (step_s_all) and non-pad tokens/s; other work on the machine changes these, not
                     the memory
  process_wall_s     the whole process (imports, data, model loading, training, saving)
Then the differences ref_model - adapter_off (MiB, and in float32 copies of the weights) and the
peak RSS ratio. Nothing is asserted. With the defaults on the CPU the peak is reached while loading
(vmhwm_at_train_begin_mib equals it: the bfloat16 file's pages beside the float32 copies being
made); at cutoff_len 128 the steps' activations stay below that.

    .venv/bin/python bench/bench_dpo_memory.py [--steps N] [--samples M] [--batch B] [--threads T]
                                                [--repeat R] [--checkpoint-dtype bfloat16|float32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mib, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASET = "style_pref_train"
TEMPLATE = "default"
CUTOFF = 128
BATCH = 1
# ~148M parameters with the bench tokenizer's ~6.3k tokens (untied embeddings and head)
DIMS = {"hidden_size": 1024, "num_hidden_layers": 12, "num_attention_heads": 16, "num_key_value_heads": 4,
        "intermediate_size": 2816, "max_position_embeddings": 4096}
TOKENIZER_SIZE = "bench"  # the tiny Llama size whose tokenizer the model reuses
CHECKPOINT_DTYPES = ("bfloat16", "float32")
VARIANTS = ("adapter_off", "ref_model")
MIB = 1024 * 1024
DIFF_KEYS = ("peak_rss_mib", "vmhwm_mib", "pss_at_train_end_mib", "rss_anon_at_train_end_mib",
             "vmrss_at_train_begin_mib", "cuda_max_allocated_mib")

# Runs `tunefactory train <config>` in this process, then writes its own memory figures (KiB; CUDA
# in bytes): at the start and end of the training loop (a callback added to the stage's list here,
# in the child only) and at exit.
WRAPPER = """\
import json, sys
from transformers import TrainerCallback
import tunefactory.train.steps as steps
from tunefactory.cli import main

def read(path, keys):
    found = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            key = line.split(":")[0]
            if key in keys:
                found[key] = int(line.split()[1])
    return found

def memory():
    return {**read("/proc/self/status", ("VmHWM", "VmRSS", "RssAnon", "RssFile")),
            **read("/proc/self/smaps_rollup", ("Pss", "Pss_Anon", "Pss_File", "Shared_Clean", "Private_Clean"))}

def cuda():
    try:
        import torch
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return {"cuda_allocated": torch.cuda.memory_allocated(),
                    "cuda_max_allocated": torch.cuda.max_memory_allocated(),
                    "cuda_max_reserved": torch.cuda.max_memory_reserved(),
                    "cuda_device": torch.cuda.get_device_name()}
    except Exception as exc:
        return {"cuda_error": repr(exc)}
    return {}

figures = {}

class MemoryMarks(TrainerCallback):
    def on_train_begin(self, args, state, control, **kwargs):
        figures["train_begin"] = {**memory(), **cuda()}

    def on_train_end(self, args, state, control, **kwargs):
        figures["train_end"] = {**memory(), **cuda()}

stage_callbacks = steps.callbacks
steps.callbacks = lambda config: [*stage_callbacks(config), MemoryMarks()]
code = main(["train", sys.argv[1]])
figures.update({**memory(), **cuda()})
with open(sys.argv[2], "w", encoding="utf-8") as out:
    json.dump(figures, out)
sys.exit(code)
"""
# memory() keys -> result names (MiB) at each mark
MARK_KEYS = {"VmRSS": "vmrss", "VmHWM": "vmhwm", "RssAnon": "rss_anon", "RssFile": "rss_file", "Pss": "pss",
             "Pss_File": "pss_file"}


def build_model(out: Path, checkpoint_dtype: str) -> None:
    """Child process: a random-weight Llama of DIMS with the `bench` tiny Llama's tokenizer, saved in
    `checkpoint_dtype`, plus model_meta.json (parameters, bytes of a float32 copy, dims)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    tiny = ensure_tiny_model(out.parent / "tiny", arch="llama", size=TOKENIZER_SIZE)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny))
    config = LlamaConfig(**DIMS, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=False, initializer_range=0.02, torch_dtype=checkpoint_dtype)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    params = sum(p.numel() for p in model.parameters())
    float32_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    model.to(getattr(torch, checkpoint_dtype))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    meta = {"params": params, "weight_bytes": float32_bytes, "checkpoint_dtype": checkpoint_dtype,
            "dims": {**DIMS, "vocab_size": len(tokenizer)}, "tokenizer": f"tiny llama '{TOKENIZER_SIZE}'",
            "safetensors_bytes": sum(p.stat().st_size for p in out.glob("*.safetensors"))}
    (out / "model_meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def train_config(model: Path, cache: Path, out: Path, variant: str, steps: int, samples: int, batch: int,
                 cuda: bool) -> dict:
    config = {"model_name_or_path": str(model), "cache_dir": str(cache), "stage": "dpo", "do_train": True,
              "finetuning_type": "lora", "lora_rank": 8, "lora_target": "all", "pref_loss": "sigmoid",
              "pref_beta": 0.1, "disable_gradient_checkpointing": True, "infer_dtype": "float32",
              "dataset": DATASET, "dataset_dir": str(ROOT / "data"), "template": TEMPLATE, "cutoff_len": CUTOFF,
              "max_samples": samples, "output_dir": str(out), "overwrite_output_dir": True, "report_to": "none",
              "logging_steps": 1, "save_strategy": "no", "plot_loss": False, "per_device_train_batch_size": batch,
              "gradient_accumulation_steps": 1, "max_steps": steps, "learning_rate": 5.0e-5,
              "lr_scheduler_type": "constant", "use_cpu": not cuda, "bf16": False, "fp16": False,
              "include_num_input_tokens_seen": "non_padding", "disable_tqdm": True, "seed": 0}
    if variant == "ref_model":
        config["ref_model"] = str(model)  # the same base weights, loaded a second time (frozen)
    return config


def cuda_available(env: dict) -> bool:
    """Whether the train processes will see a GPU (asked in a child: this process stays free of torch)."""
    probe = subprocess.run([sys.executable, "-c", "import torch; print(int(torch.cuda.is_available()))"], env=env,
                           capture_output=True, text=True, check=True)
    return probe.stdout.strip().endswith("1")


def run_child(argv: list[str], env: dict, log_path: Path) -> dict:
    """A fresh process, reaped with wait4: wall and CPU seconds, peak RSS (this child alone)."""
    start = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (RUSAGE_CHILDREN sums every run)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise RuntimeError(f"{' '.join(argv[:3])} ... failed ({proc.returncode}); log {log_path}:\n{tail}")
    return {"process_wall_s": wall, "process_cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024}  # Linux: KiB


def step_figures(out: Path) -> dict:
    results = json.loads((out / "train_results.json").read_text(encoding="utf-8"))
    state = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))
    logs = [entry for entry in state["log_history"] if "loss" in entry]
    figures = {"steps": state["global_step"], "train_runtime_s": results["train_runtime"],
               "steps_per_s": state["global_step"] / results["train_runtime"],
               "loss_first": logs[0]["loss"] if logs else None, "loss_last": logs[-1]["loss"] if logs else None,
               "rewards_accuracies_last": logs[-1].get("rewards/accuracies") if logs else None}
    runtimes = [entry["train_runtime"] for entry in logs if "train_runtime" in entry]
    if runtimes and len(runtimes) == len(logs):  # one log a step (logging_steps 1)
        figures["step_s_all"] = [round(b - a, 3) for a, b in zip([0.0, *runtimes[:-1]], runtimes, strict=True)]
        figures["tokens_per_s"] = logs[-1]["num_input_tokens_seen"] / runtimes[-1]
    return figures


def memory_figures(memory: dict) -> dict:
    """MiB figures from the wrapper's file (KiB; CUDA bytes)."""
    figures = {"vmhwm_mib": memory["VmHWM"] / 1024, "vmrss_at_exit_mib": memory["VmRSS"] / 1024,
               "cuda_max_allocated_mib": memory["cuda_max_allocated"] / MIB if "cuda_max_allocated" in memory else None,
               "cuda_max_reserved_mib": memory["cuda_max_reserved"] / MIB if "cuda_max_reserved" in memory else None}
    for mark in ("train_begin", "train_end"):
        for key, name in MARK_KEYS.items():
            if key in memory.get(mark, {}):
                figures[f"{name}_at_{mark}_mib"] = memory[mark][key] / 1024
        if "cuda_allocated" in memory.get(mark, {}):
            figures[f"cuda_allocated_at_{mark}_mib"] = memory[mark]["cuda_allocated"] / MIB
    if "cuda_device" in memory:
        figures["cuda_device"] = memory["cuda_device"]
    return figures


def measure(variant: str, model: Path, cache: Path, folder: Path, steps: int, samples: int, batch: int, env: dict,
            cuda: bool) -> dict:
    out = folder / "out"
    config_path, memory_path = folder / "config.json", folder / "memory.json"
    config = train_config(model, cache, out, variant, steps, samples, batch, cuda)
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    result = {"variant": variant, "reference": "the policy with its LoRA adapter switched off"
              if variant == "adapter_off" else "ref_model: the same base model, a second frozen copy"}
    result.update(run_child([sys.executable, "-c", WRAPPER, str(config_path), str(memory_path)], env,
                            folder / "train.log"))
    memory = json.loads(memory_path.read_text(encoding="utf-8"))
    result.update(memory_figures(memory))
    result["memory_kib"] = memory  # raw: /proc/self/status and smaps_rollup lines (KiB), CUDA bytes
    log = (folder / "train.log").read_text(encoding="utf-8", errors="replace")
    result["log_reference_line"] = next((line.split("] ", 1)[-1].strip() for line in log.splitlines()
                                         if "reference model:" in line), None)
    result.update(step_figures(out))
    return result


def main(steps: int = 4, samples: int = 32, batch: int = BATCH, threads: int | None = None, repeat: int = 1,
         checkpoint_dtype: str = "bfloat16") -> dict:
    started = time.perf_counter()
    figures: dict = {
        "model": "random-weight llama built for this bench", "dataset": DATASET, "max_samples": samples,
        "template": TEMPLATE, "cutoff_len": CUTOFF, "per_device_train_batch_size": batch, "lora_rank": 8,
        "lora_target": "all", "pref_loss": "sigmoid", "gradient_checkpointing": False,
        "train_dtype": "float32", "reference_dtype": "float32", "checkpoint_dtype": checkpoint_dtype,
        "steps": steps, "threads": threads, "repeat": repeat,
        "definitions": {
            "adapter_off": "finetuning_type lora, no ref_model: the reference is the policy with its adapter switched "
                           "off (one copy of the base weights)",
            "ref_model": "the same with ref_model: <the same base model path>: a second, frozen copy is loaded",
            "weight_bytes": "parameters x 4: one float32 copy of the model's weights (as both runs hold them)",
            "peak_rss_mib": "ru_maxrss of the train process (os.wait4), MiB; the largest of --repeat attempts",
            "vmhwm_mib": "VmHWM the train process read from /proc/self/status at exit, MiB",
            "*_at_train_begin_mib, *_at_train_end_mib": "when the training loop starts (models loaded) and ends: "
                "vmrss, vmhwm (the peak so far), rss_anon + rss_file (VmRSS: anonymous memory + mapped file pages), "
                "pss (smaps_rollup: pages mapped twice count once; what the process adds to the machine's memory)",
            "cuda_max_allocated_mib": "torch.cuda.max_memory_allocated at exit (CUDA machines only)",
            "diff_*": "ref_model - adapter_off; diff_*_in_weight_copies: that over weight_bytes",
            "steps_per_s": "max_steps / train_runtime (train_results.json), the whole training loop; step_s_all: "
                           "each step's seconds; tokens_per_s: non-pad tokens (chosen + rejected rows) / seconds",
            "checkpoint_dtype": "bfloat16: float32 loading converts, every copy is anonymous memory; float32: the "
                                "weights stay memory-mapped from the safetensors file, and ref_model on the same "
                                "path maps the same page-cache pages again (RSS counts them twice, PSS once)",
        },
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-dpo-memory-") as tmp:
        tmp_path = Path(tmp)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "HF_DATASETS_CACHE": str(tmp_path / "datasets")}
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        model = tmp_path / "models" / "llama-dpo-memory"
        print(f"== building the model ({DIMS['hidden_size']} hidden, {DIMS['num_hidden_layers']} layers, "
              f"{checkpoint_dtype} checkpoint)", flush=True)
        build = run_child([sys.executable, __file__, "--build-model", str(model), "--checkpoint-dtype",
                           checkpoint_dtype], env, tmp_path / "build.log")
        meta = json.loads((model / "model_meta.json").read_text(encoding="utf-8"))
        figures.update({"model_params": meta["params"], "weight_bytes": meta["weight_bytes"],
                        "weight_mib": meta["weight_bytes"] / MIB, "safetensors_mib": meta["safetensors_bytes"] / MIB,
                        "model_dims": meta["dims"], "tokenizer": meta["tokenizer"],
                        "build_s": build["process_wall_s"], "build_peak_rss_mib": build["peak_rss_mib"]})
        cuda = cuda_available(env)
        figures["cuda"] = cuda
        attempts: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
        for attempt in range(repeat):  # in rotation, so other work on the machine hits both alike
            for variant in VARIANTS:
                folder = tmp_path / f"{variant}-{attempt}"
                folder.mkdir()
                print(f"== {variant} ({attempt + 1}/{repeat}): {steps} steps, load {os.getloadavg()[0]:.2f}",
                      flush=True)
                attempts[variant].append(measure(variant, model, tmp_path / "cache", folder, steps, samples, batch,
                                                 env, cuda))
    for results in attempts.values():
        best = dict(max(results, key=lambda r: r["steps_per_s"]))  # the fastest attempt's speed figures
        for key in ("peak_rss_mib", "vmhwm_mib", "cuda_max_allocated_mib", "cuda_max_reserved_mib"):
            values = [r[key] for r in results if r.get(key) is not None]
            best[key] = max(values) if values else None  # the worst: memory is a limit
        best["peak_rss_mib_attempts"] = [r["peak_rss_mib"] for r in results]
        figures["runs"].append(best)
    by_name = {run["variant"]: run for run in figures["runs"]}
    off, ref = by_name["adapter_off"], by_name["ref_model"]
    for key in DIFF_KEYS:
        name = key.removesuffix("_mib")
        if off.get(key) is None or ref.get(key) is None:
            figures[f"diff_{name}_mib"] = figures[f"diff_{name}_in_weight_copies"] = None
            continue
        figures[f"diff_{name}_mib"] = ref[key] - off[key]
        figures[f"diff_{name}_in_weight_copies"] = (ref[key] - off[key]) / figures["weight_mib"]
    figures["ratio_peak_rss"] = ref["peak_rss_mib"] / off["peak_rss_mib"]
    figures["bench_process_peak_rss_mib"] = peak_rss_mib()
    figures["total_s"] = time.perf_counter() - started
    return figures


def table(figures: dict) -> str:
    head = ("variant", "peak RSS MiB", "RSS train start", "RSS train end (anon + file)", "PSS train end",
            "CUDA max alloc MiB", "steps/s", "process s", "loss first→last")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in figures["runs"]:
        mib = {key: f"{value:.0f}" if value is not None else "-" for key, value in r.items() if key.endswith("_mib")}
        cells = (r["variant"], mib["peak_rss_mib"], mib.get("vmrss_at_train_begin_mib", "-"),
                 f"{mib.get('vmrss_at_train_end_mib', '-')} ({mib.get('rss_anon_at_train_end_mib', '-')} + "
                 f"{mib.get('rss_file_at_train_end_mib', '-')})", mib.get("pss_at_train_end_mib", "-"),
                 mib["cuda_max_allocated_mib"], f"{r['steps_per_s']:.3f}", f"{r['process_wall_s']:.1f}",
                 f"{r['loss_first']:.4f}→{r['loss_last']:.4f}")
        lines.append(" | ".join(cells))
    lines.append(f"model {figures['model_params'] / 1e6:.1f}M parameters, one float32 copy {figures['weight_mib']:.0f} "
                 f"MiB ({figures['checkpoint_dtype']} checkpoint, {figures['safetensors_mib']:.0f} MiB); total "
                 f"{figures['total_s']:.0f} s")
    diffs = [f"{label} {figures[f'diff_{name}_mib']:+.0f} MiB ({figures[f'diff_{name}_in_weight_copies']:.2f} copies)"
             for label, name in (("peak RSS", "peak_rss"), ("PSS at train end", "pss_at_train_end"),
                                 ("anon RSS at train end", "rss_anon_at_train_end"),
                                 ("CUDA max allocated", "cuda_max_allocated"))
             if figures.get(f"diff_{name}_mib") is not None]
    lines.append(f"ref_model - adapter_off: {', '.join(diffs)}; peak RSS ratio {figures['ratio_peak_rss']:.2f}")
    return "\n".join(lines)


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="max_steps of every run (default 4)")
    parser.add_argument("--samples", type=int, default=32, help=f"max_samples of {DATASET} (default 32)")
    parser.add_argument("--batch", type=int, default=BATCH,
                        help=f"per_device_train_batch_size, in pairs (default {BATCH})")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of the train processes (default: torch's)")
    parser.add_argument("--repeat", type=int, default=1, help="attempts per variant, in rotation (default 1); the "
                                                              "largest peaks and the fastest speed are kept")
    parser.add_argument("--checkpoint-dtype", choices=CHECKPOINT_DTYPES, default="bfloat16",
                        help="dtype the model is saved in (default bfloat16; both runs hold float32 copies)")
    parser.add_argument("--build-model", type=Path, help=argparse.SUPPRESS)  # internal: the model-building child
    args = parser.parse_args(argv)
    if min(args.steps, args.samples, args.batch, args.repeat) < 1:
        parser.error("--steps, --samples, --batch and --repeat must be at least 1")
    return args


if __name__ == "__main__":
    args = parse_cli()
    if args.build_model:
        build_model(args.build_model, args.checkpoint_dtype)
        sys.exit(0)
    figures = main(args.steps, args.samples, args.batch, args.threads, args.repeat, args.checkpoint_dtype)
    path = write_result("dpo_memory", figures)
    print(table(figures))
    print(path)
