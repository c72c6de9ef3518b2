"""Streaming throughput and time to first token of `tunefactory api` on the CPU, at 1, 4 and 16 concurrent requests.

The server is a real `tunefactory api <config.json>` process (`python -m tunefactory.cli`, API_PORT a free
port, OMP_NUM_THREADS --threads) serving a tiny random Llama (`tiny` size by default, template llama3,
fp32, the huggingface engine: continuous batching, at most 16 rows). Clients
are threads in this process speaking raw HTTP (http.client), so the openai package's own overhead is not
measured; every request is `POST /v1/chat/completions` with stream: true, temperature 0, max_tokens
--max-tokens and stream_options.include_usage (the exact completion token count).

Random weights stop at an end-of-turn token whenever their greedy path meets one, so the prompts are
picked first: `Question i: what is i plus 3i?` for i = 0, 1, …, keeping the first 16 whose greedy answer
(through the server, one at a time) runs to max_tokens; every measured answer is then max_tokens long.

For each concurrency C, --requests / C rounds of C requests start together (a barrier), each on its own prompt:
  tokens_per_s      completion tokens of all rounds / the rounds' wall time (first send to last [DONE])
  ttft_p50/p95_ms   time to first token: request sent -> the first chunk with text (the role chunk before
                    it is sent at once and is not counted), over all requests at this concurrency
  latency_p50/p95_ms  request sent -> [DONE]
  per_request_tokens_per_s_p50  each request's completion tokens / (its [DONE] - its first token)
A warm-up request comes before the measurements. Other work on the machine changes the figures: compare
runs on a quiet machine.

    .venv/bin/python bench/bench_api.py [--max-tokens N] [--requests R] [--threads T] [--size tiny|small|bench]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

CONCURRENCY = (1, 4, 16)
PROMPTS_NEEDED = max(CONCURRENCY)
SYSTEM = "You are terse."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, port: int, threads: int, folder: Path) -> subprocess.Popen:
    config = folder / "api.json"
    config.write_text(json.dumps({"model_name_or_path": str(model), "template": "llama3", "temperature": 0,
                                  "infer_dtype": "float32"}), encoding="utf-8")
    env = {**os.environ, "API_HOST": "127.0.0.1", "API_PORT": str(port), "OMP_NUM_THREADS": str(threads),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = (folder / "server.log").open("w", encoding="utf-8")
    server = subprocess.Popen([sys.executable, "-m", "tunefactory.cli", "api", str(config)], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"tunefactory api exited ({server.returncode}):\n{(folder / 'server.log').read_text()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v1/models")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("tunefactory api did not answer within 120 s")


def stream(port: int, prompt: str, max_tokens: int) -> dict:
    """One streamed request: when it was sent, when its first text and its [DONE] came, its token count."""
    body = json.dumps({"model": "tiny", "messages": [{"role": "system", "content": SYSTEM},
                                                     {"role": "user", "content": prompt}],
                       "temperature": 0, "max_tokens": max_tokens, "stream": True,
                       "stream_options": {"include_usage": True}})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    sent = time.perf_counter()
    connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {response.read()[:500]!r}")
    first = done = None
    tokens, finish, text = 0, None, []
    for raw in response:
        line = raw.decode().strip()
        if not line.startswith("data: "):
            continue
        data = line[len("data: "):]
        if data == "[DONE]":
            done = time.perf_counter()
            break
        chunk = json.loads(data)
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
        for choice in chunk["choices"]:
            if choice["delta"].get("content"):
                first = first or time.perf_counter()
                text.append(choice["delta"]["content"])
            finish = choice.get("finish_reason") or finish
    connection.close()
    return {"sent": sent, "first": first, "done": done, "tokens": tokens, "finish": finish, "text": "".join(text)}


def pick_prompts(port: int, max_tokens: int) -> list[str]:
    """The first prompts whose greedy answer runs to max_tokens (random weights often stop early)."""
    prompts = []
    for i in range(1000):
        prompt = f"Question {i}: what is {i} plus {3 * i}?"
        if stream(port, prompt, max_tokens)["finish"] == "length":
            prompts.append(prompt)
            if len(prompts) == PROMPTS_NEEDED:
                return prompts
    raise RuntimeError(f"only {len(prompts)} of 1000 prompts run to {max_tokens} tokens")


def run_round(port: int, prompts: list[str], max_tokens: int) -> tuple[list[dict], float]:
    barrier = threading.Barrier(len(prompts))
    results: list[dict | BaseException] = [None] * len(prompts)

    def client(index: int) -> None:
        barrier.wait()
        try:
            results[index] = stream(port, prompts[index], max_tokens)
        except BaseException as error:  # reported below, after every thread ends
            results[index] = error

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed: {errors[0]!r}")
    wall = max(r["done"] for r in results) - min(r["sent"] for r in results)
    return results, wall


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(port: int, prompts: list[str], concurrency: int, total: int, max_tokens: int) -> dict:
    rounds = max(1, total // concurrency)
    requests, walls = [], []
    for round_index in range(rounds):
        offset = (round_index * concurrency) % len(prompts)  # a different prompt mix each round
        chosen = [prompts[(offset + i) % len(prompts)] for i in range(concurrency)]
        results, wall = run_round(port, chosen, max_tokens)
        requests += results
        walls.append(wall)
    tokens = sum(r["tokens"] for r in requests)
    ttft = [1000 * (r["first"] - r["sent"]) for r in requests]
    latency = [1000 * (r["done"] - r["sent"]) for r in requests]
    decode = [(r["tokens"] - 1) / (r["done"] - r["first"]) for r in requests if r["done"] > r["first"]]
    return {"concurrency": concurrency, "rounds": rounds, "requests": len(requests),
            "completion_tokens": tokens, "tokens_per_request_min": min(r["tokens"] for r in requests),
            "wall_s": sum(walls), "tokens_per_s": tokens / sum(walls),
            "ttft_p50_ms": statistics.median(ttft), "ttft_p95_ms": percentile(ttft, 0.95),
            "ttft_max_ms": max(ttft), "latency_p50_ms": statistics.median(latency),
            "latency_p95_ms": percentile(latency, 0.95),
            "per_request_tokens_per_s_p50": statistics.median(decode) if decode else None}


def main(max_tokens: int = 32, requests: int = 48, threads: int = 1, size: str = "tiny") -> dict:
    from tunefactory_fixtures.tiny_models import SIZES, ensure_tiny_model

    started = time.perf_counter()
    figures: dict = {"model": f"tiny llama '{size}' (random weights)", "template": "llama3", "dtype": "float32",
                     "engine": "huggingface (continuous batching, 16 rows)", "max_tokens": max_tokens, "temperature": 0,
                     "server_threads": threads, "client": "http.client threads in the bench process",
                     "model_dims": asdict(SIZES[size]), "levels": []}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        folder = Path(tmp)
        model = ensure_tiny_model(folder / "models", arch="llama", size=size)
        port = free_port()
        server = start_server(model, port, threads, folder)
        try:
            figures["server_start_s"] = time.perf_counter() - started
            stream(port, "warm up", max_tokens)
            prompts = pick_prompts(port, max_tokens)
            figures["prompts"] = prompts
            for concurrency in CONCURRENCY:
                level = measure(port, prompts, concurrency, requests, max_tokens)
                print(f"concurrency {concurrency:2d}: {level['tokens_per_s']:7.1f} tokens/s, TTFT p50 "
                      f"{level['ttft_p50_ms']:6.1f} ms, p95 {level['ttft_p95_ms']:6.1f} ms", flush=True)
                figures["levels"].append(level)
        finally:
            server.terminate()
            server.wait(timeout=30)
    figures["loadavg_1m_end"] = os.getloadavg()[0]
    figures["total_s"] = time.perf_counter() - started
    return figures


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-tokens", type=int, default=32, help="max_tokens of every request (default 32)")
    parser.add_argument("--requests", type=int, default=48,
                        help="requests per concurrency level, in rounds of C at once (default 48)")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the server (default 1)")
    parser.add_argument("--size", default="tiny", choices=("tiny", "small", "bench"), help="tiny model size")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_cli()
    path = write_result("api", main(args.max_tokens, args.requests, args.threads, args.size))
    print(path)
