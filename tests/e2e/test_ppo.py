"""`tunefactory train` with stage ppo, end to end on tiny offline models.

Two reward models are trained once per module (stage rm: a full one on tiny_qwen2, a LoRA one on tiny_llama).
Each PPO run is 2 steps of 4 prompts from style_kto_train with 8 new tokens, in-process, trained once per module:

    lora-full   LoRA policy on tiny_qwen2, the full reward model         (qwen template)
    full-full   full policy on tiny_qwen2, the full reward model         (qwen template)
    lora-lora   LoRA policy on tiny_llama, the reward LoRA on its base   (llama3 template)
    lora-api    LoRA policy on tiny_llama, scores from a local HTTP server

The strongest checks use what must hold at step 1, before any update: the policy *is* its reference, so the
KL is 0, and the reward logged is the mean of the scores the reward model gives the texts the run scored.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from safetensors.torch import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
KTO_TRAIN = json.loads((DATA_DIR / "style_kto_train.json").read_text(encoding="utf-8"))
VALUE_HEAD_KEYS = {"v_head.summary.weight", "v_head.summary.bias"}
HIDDEN = 64  # the tiny models' hidden size
STEPS, BATCH, NEW_TOKENS, SAMPLES = 2, 4, 8, 16
RUN_FILES = {"trainer_log.jsonl", "train_results.json", "all_results.json", "trainer_state.json",
             "training_args.yaml", "README.md", "tokenizer.json", "tokenizer_config.json", "value_head.safetensors"}
ASSISTANT_HEADER = {"qwen": "<|im_start|>assistant\n", "llama3": "<|start_header_id|>assistant<|end_header_id|>\n\n"}
MODEL_OF_TEMPLATE = {"qwen": "tiny_qwen2", "llama3": "tiny_llama"}

# name -> (policy overrides, reward: "full" / "lora" (a trained rm) or "api")
PPO_VARIANTS = {
    "lora-full": ({"finetuning_type": "lora", "template": "qwen"}, "full"),
    "full-full": ({"finetuning_type": "full", "template": "qwen", "learning_rate": 1e-4}, "full"),
    "lora-lora": ({"finetuning_type": "lora", "template": "llama3"}, "lora"),
    "lora-api": ({"finetuning_type": "lora", "template": "llama3"}, "api"),
}
# the reward models: full on tiny_qwen2, LoRA on tiny_llama (a reward LoRA rides on the policy's own base)
RM_VARIANTS = {
    "full": {"finetuning_type": "full", "template": "qwen", "learning_rate": 1e-3},
    "lora": {"finetuning_type": "lora", "template": "llama3", "lora_target": "all", "learning_rate": 1e-2},
}


def base_settings(model, output_dir, **overrides) -> dict:
    config = {"model_name_or_path": str(model), "do_train": True, "finetuning_type": "lora", "lora_target": "all",
              "dataset_dir": str(DATA_DIR), "template": "qwen", "cutoff_len": 64, "logging_steps": 1,
              "learning_rate": 1e-3, "save_strategy": "no", "output_dir": str(output_dir), "report_to": "none",
              "use_cpu": True, "disable_gradient_checkpointing": True, **overrides}
    if config["finetuning_type"] != "lora":
        config.pop("lora_target")
    return {key: value for key, value in config.items() if value is not None}


def ppo_settings(model, output_dir, **overrides) -> dict:
    """A tiny ppo run: 2 steps of 4 style_kto_train prompts (of 16), 8 new tokens each, a log line every step.

    cutoff_len 128: a prompt longer than the budget loses its end, the assistant header included (as in
    LLaMA-Factory), and the policy would continue the user's message instead of answering it."""
    return base_settings(model, output_dir, **{"stage": "ppo", "dataset": "style_kto_train", "max_samples": SAMPLES,
                                               "cutoff_len": 128,
                                               "per_device_train_batch_size": BATCH, "max_steps": STEPS,
                                               "max_new_tokens": NEW_TOKENS, **overrides})


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


class RecordingScorer:
    """Wraps the run's scorer: every batch of sequences it scored and the scores it gave them."""

    def __init__(self, scorer):
        self.scorer, self.calls = scorer, []

    def __call__(self, sequences):
        scores = self.scorer(sequences)
        self.calls.append(([list(row) for row in sequences], scores.clone()))
        return scores


def train_in_process(config: dict) -> SimpleNamespace:
    """Run `tunefactory train` in this process; return the trainer, the scorer's calls and tunefactory's log."""
    from tunefactory.config import parse_dict
    from tunefactory.train import ppo, steps
    from tunefactory.train.run import run_train

    seen = {}
    finish, load_scorer = steps.finish, ppo.load_scorer

    def record_finish(trainer, run_config, metrics):
        seen["trainer"] = trainer
        return finish(trainer, run_config, metrics)

    def record_scorer(*args, **kwargs):
        seen["scorer"] = RecordingScorer(load_scorer(*args, **kwargs))
        return seen["scorer"]

    handler, logger = _Messages(), logging.getLogger("tunefactory")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(steps, "finish", record_finish)
            patch.setattr(ppo, "load_scorer", record_scorer)
            run_train(parse_dict(config))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    scorer = seen.get("scorer")
    return SimpleNamespace(trainer=seen.get("trainer"), calls=scorer.calls if scorer else [],
                           logs="\n".join(handler.messages), out=Path(config["output_dir"]))


def log_records(output_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(output_dir) / "trainer_log.jsonl").read_text().splitlines()]


def read_json(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def step_logs(output_dir) -> list[dict]:
    """trainer_state.json's per-step training logs (the ones with a loss), in order."""
    return [r for r in read_json(Path(output_dir) / "trainer_state.json")["log_history"] if "loss" in r]


# --- a local scoring endpoint (reward_model_type: api) ----------------------------------------------------------

def api_score(text: str) -> float:
    return float(len(text) % 7)


class ScoringServer:
    """LLaMA-Factory's scoring API in miniature: POST {"model", "messages": [text, ...]} -> {"scores": [...]}.
    ``/short`` answers with one score whatever it is sent."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[list[float]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "content_type": self.headers.get("Content-Type"), **body})
                scores = [api_score(text) for text in body["messages"]]
                if self.path == "/short":
                    scores = scores[:1]
                server.answers.append(scores)
                payload = json.dumps({"scores": scores}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def clear(self):
        self.requests.clear()
        self.answers.clear()


@pytest.fixture(scope="module")
def scoring_server():
    server = ScoringServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
    server.thread.join(timeout=5)


def refused_url() -> str:
    """A local URL nothing listens on (the port was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/score/evaluation"


# --- runs trained once per module --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reward_models(request, tmp_path_factory) -> SimpleNamespace:
    """Stage rm, trained once: a full reward model on tiny_qwen2 and a reward LoRA on tiny_llama (8 pairs, 2 steps)."""
    found = {}
    for name, overrides in RM_VARIANTS.items():
        base = request.getfixturevalue(MODEL_OF_TEMPLATE[overrides["template"]])
        out = tmp_path_factory.mktemp(f"rm-{name}") / "out"
        train_in_process(base_settings(base, out, stage="rm", dataset="style_pref_train", max_samples=8,
                                       per_device_train_batch_size=4, num_train_epochs=1, **overrides))
        assert set(load_file(out / "value_head.safetensors")) == VALUE_HEAD_KEYS
        found[name] = SimpleNamespace(out=out, base=base, lora=name == "lora")
    return SimpleNamespace(**found)


_RUNS: dict[str, SimpleNamespace] = {}


def trained_ppo(variant: str, request, tmp_path_factory) -> SimpleNamespace:
    if variant not in _RUNS:
        overrides, reward = PPO_VARIANTS[variant]
        base = request.getfixturevalue(MODEL_OF_TEMPLATE[overrides["template"]])
        out = tmp_path_factory.mktemp(f"ppo-{variant}") / "out"
        server = None
        if reward == "api":
            server = request.getfixturevalue("scoring_server")
            server.clear()
            reward_settings = {"reward_model": f"{server.url}/v1/score/evaluation", "reward_model_type": "api"}
        else:
            rm = getattr(request.getfixturevalue("reward_models"), reward)
            assert rm.base == base  # the policy and its reward model share the tokenizer (and, for LoRA, the base)
            reward_settings = {"reward_model": str(rm.out), "reward_model_type": reward}
        run = train_in_process(ppo_settings(base, out, **{**overrides, **reward_settings}))
        run.variant, run.base, run.reward = variant, base, reward
        run.lora = overrides["finetuning_type"] == "lora"
        run.template = overrides["template"]
        if server is not None:
            run.requests, run.answers = list(server.requests), list(server.answers)
        _RUNS[variant] = run
    return _RUNS[variant]


@pytest.fixture(params=list(PPO_VARIANTS))
def ppo_run(request, tmp_path_factory):
    return trained_ppo(request.param, request, tmp_path_factory)


# --- 1. what every ppo run leaves and logs -------------------------------------------------------------------------

def test_ppo_output_dir_holds_the_policy_and_its_value_head(ppo_run):
    out = ppo_run.out
    names = {p.name for p in out.iterdir()}
    weights = {"adapter_model.safetensors", "adapter_config.json"} if ppo_run.lora else {"model.safetensors",
                                                                                       "config.json"}
    assert RUN_FILES | weights <= names, sorted(names)
    assert ("model.safetensors" in names) is not ppo_run.lora  # an adapter run does not save a full copy
    assert not [p.name for p in out.iterdir() if p.is_dir()]  # no checkpoints, no reward/ adapter folder

    head = load_file(out / "value_head.safetensors")
    assert set(head) == VALUE_HEAD_KEYS
    assert head["v_head.summary.weight"].shape == (1, HIDDEN) and head["v_head.summary.bias"].shape == (1,)
    assert all(torch.isfinite(value).all() for value in head.values())

    if ppo_run.lora:
        adapter = load_file(out / "adapter_model.safetensors")
        assert adapter and all("lora_" in name for name in adapter), sorted(adapter)[:5]
        assert not any("reward" in name for name in adapter)  # the reward adapter is not the run's
        assert any("lora_B" in name and value.abs().max() > 0 for name, value in adapter.items())  # it trained
        assert read_json(out / "adapter_config.json")["base_model_name_or_path"] == str(ppo_run.base)
    else:
        saved, base = load_file(out / "model.safetensors"), load_file(ppo_run.base / "model.safetensors")
        assert saved.keys() == base.keys()
        assert any(not torch.equal(saved[name], base[name]) for name in base)  # it trained

    saved_args = yaml.safe_load((out / "training_args.yaml").read_text(encoding="utf-8"))
    assert saved_args["stage"] == "ppo" and saved_args["reward_model_type"] == ppo_run.reward


def test_ppo_logs_reward_and_loss_at_every_step(ppo_run):
    records = log_records(ppo_run.out)
    assert [r["current_steps"] for r in records] == [1, 2]
    for record in records:
        assert record["total_steps"] == STEPS
        assert math.isfinite(record["loss"]) and math.isfinite(record["reward"]), record
    assert records[-1]["percentage"] == 100

    state = read_json(ppo_run.out / "trainer_state.json")
    assert state["global_step"] == STEPS and state["max_steps"] == STEPS
    logs = step_logs(ppo_run.out)
    assert [r["step"] for r in logs] == [1, 2]
    for log in logs:
        for key in ("loss", "reward", "kl", "kl_coef", "response_length", "policy_loss", "value_loss",
                    "clip_fraction", "learning_rate"):
            assert key in log and math.isfinite(log[key]), (key, log)
        assert 1 <= log["response_length"] <= NEW_TOKENS
        assert 0.0 <= log["clip_fraction"] <= 1.0
        assert log["loss"] == pytest.approx(log["policy_loss"] + 0.1 * log["value_loss"], abs=1e-5)
    assert [r["reward"] for r in records] == [r["reward"] for r in logs]
    assert [r["epoch"] for r in logs] == [BATCH / SAMPLES, 2 * BATCH / SAMPLES]  # 4 of 16 prompts a step
    results = read_json(ppo_run.out / "train_results.json")
    assert math.isfinite(results["train_runtime"])
    # the run's summary is the mean over its steps (logging_steps 1: every step is a log)
    assert results["train_loss"] == pytest.approx(sum(r["loss"] for r in logs) / len(logs), rel=1e-6)
    assert results["train_reward"] == pytest.approx(sum(r["reward"] for r in logs) / len(logs), rel=1e-6)


def test_ppo_kl_is_zero_at_step_1_and_the_kl_coefficient_adapts(ppo_run):
    # The rollout of step 1 is evaluated before any update: the policy is its reference (a frozen copy of the
    # start, or the base with the LoRA adapter off), so every log-ratio is 0.
    first, second = step_logs(ppo_run.out)
    assert abs(first["kl"]) < 1e-4, first
    # adaptive KL: error (0 / 6 - 1) clipped to -0.2, over 4 of the horizon's 10000 samples
    assert first["kl_coef"] == pytest.approx(0.2 * (1 - 0.2 * BATCH / 10000), rel=1e-9)
    error = min(max(second["kl"] / 6.0 - 1, -0.2), 0.2)
    assert second["kl_coef"] == pytest.approx(first["kl_coef"] * (1 + error * BATCH / 10000), rel=1e-6)


def test_ppo_scores_whole_conversations_in_the_chat_format(ppo_run):
    from transformers import AutoTokenizer

    assert len(ppo_run.calls) == STEPS  # one scoring call per step: 4 prompts, one buffer
    tokenizer = AutoTokenizer.from_pretrained(ppo_run.out)
    prompts = [row["messages"][0]["content"] for row in KTO_TRAIN[:SAMPLES]]
    for sequences, scores in ppo_run.calls:
        assert len(sequences) == BATCH and scores.shape == (BATCH,)
        for row in sequences:
            text = tokenizer.decode(row, skip_special_tokens=False)
            header = ASSISTANT_HEADER[ppo_run.template]
            assert header in text, text
            prompt = text[: text.index(header)]
            assert any(p in prompt for p in prompts), text
            answer_tokens = len(tokenizer(text[text.index(header) + len(header):], add_special_tokens=False).input_ids)
            assert answer_tokens >= 1


def test_ppo_reward_is_the_mean_of_the_scores_of_each_steps_batch(ppo_run):
    records = log_records(ppo_run.out)
    for record, (_, scores) in zip(records, ppo_run.calls, strict=True):
        assert record["reward"] == pytest.approx(float(scores.mean()), abs=1e-6)


# --- 2. the reward each kind of reward model gives ------------------------------------------------------------------

@torch.no_grad()
def scores_of_saved_reward_model(rm, sequences: list[list[int]]) -> list[float]:
    """What the stage-rm output scores each sequence, loaded with plain transformers/peft, one row at a time."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if rm.lora:
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(rm.base), rm.out)
    else:
        model = AutoModelForCausalLM.from_pretrained(rm.out)
    model.eval()
    head = load_file(rm.out / "value_head.safetensors")
    scores = []
    for row in sequences:
        hidden = model(input_ids=torch.tensor([row]), output_hidden_states=True).hidden_states[-1][0, -1]
        scores.append(float(hidden.float() @ head["v_head.summary.weight"][0] + head["v_head.summary.bias"][0]))
    return scores


@pytest.mark.parametrize("variant", ["lora-full", "full-full", "lora-lora"])
def test_ppo_reward_is_what_the_trained_reward_model_scores(variant, request, tmp_path_factory, reward_models):
    # lora-lora: the reward adapter shares the policy's base. At step 2 the policy's own adapter has trained;
    # the scores must still be the reward adapter's alone (and at step 1, not the untrained policy's).
    run = trained_ppo(variant, request, tmp_path_factory)
    rm = getattr(reward_models, run.reward)
    for step, (sequences, scores) in enumerate(run.calls, 1):
        expected = scores_of_saved_reward_model(rm, sequences)
        assert scores.tolist() == pytest.approx(expected, abs=1e-4), step
    assert log_records(run.out)[0]["reward"] == pytest.approx(
        sum(scores_of_saved_reward_model(rm, run.calls[0][0])) / BATCH, abs=1e-4)


def test_qwen_answers_are_scored_as_generated_or_with_the_newline_after_im_end(request, tmp_path_factory):
    from transformers import AutoTokenizer

    run = trained_ppo("lora-full", request, tmp_path_factory)
    tokenizer = AutoTokenizer.from_pretrained(run.out)
    im_end, newline = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.encode("\n", add_special_tokens=False)
    header = tokenizer.encode(ASSISTANT_HEADER["qwen"], add_special_tokens=False)
    for sequences, _ in run.calls:
        for row in sequences:
            start = max(i + len(header) for i in range(len(row)) if row[i:i + len(header)] == header)
            answer = row[start:]
            if im_end in answer:  # stopped: the turn's newline follows, as the reward model saw it in training
                assert answer[answer.index(im_end) + 1:] == newline
            else:  # cut off by max_new_tokens
                assert len(answer) == NEW_TOKENS


@pytest.fixture(scope="module")
def stopping_qwen2(tiny_qwen2, tmp_path_factory) -> Path:
    """tiny_qwen2 changed to answer <|im_end|> at once, whatever the prompt: every embedding is the same vector, so
    every position's last hidden state is the same h, and the (untied) output row of <|im_end|> is 30 h / |h|^2."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("stopping-qwen2")
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_qwen2), AutoTokenizer.from_pretrained(tiny_qwen2)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    with torch.no_grad():
        embeddings = model.get_input_embeddings().weight
        model.config.tie_word_embeddings = False
        model.lm_head.weight = torch.nn.Parameter(embeddings.detach().clone())
        embeddings[:] = embeddings[100].clone()
        hidden = model(input_ids=torch.tensor([[5, 9, 100]]), output_hidden_states=True).hidden_states[-1][0, -1]
        model.lm_head.weight[im_end] = 30 * hidden / hidden.norm() ** 2
        assert model(input_ids=torch.tensor([[7, 300, 12, 1]])).logits[0, -1].argmax() == im_end
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_answers_that_end_their_turn_are_scored_with_the_turns_ending(stopping_qwen2, reward_models, tmp_path):
    # The policy answers <|im_end|> and nothing else: the answer (trained on) is that one token; the text scored
    # is prompt + <|im_end|> + "\n", the form the reward model saw its training answers in.
    from transformers import AutoTokenizer

    out = tmp_path / "out"
    run = train_in_process(ppo_settings(stopping_qwen2, out, reward_model=str(reward_models.full.out),
                                        reward_model_type="full"))
    tokenizer = AutoTokenizer.from_pretrained(out)
    ending = [tokenizer.convert_tokens_to_ids("<|im_end|>"), *tokenizer.encode("\n", add_special_tokens=False)]
    header = tokenizer.encode(ASSISTANT_HEADER["qwen"], add_special_tokens=False)
    assert len(run.calls) == STEPS
    for sequences, scores in run.calls:
        for row in sequences:
            assert row[-2:] == ending and row[-2 - len(header):-2] == header, tokenizer.decode(row)
        assert scores.tolist() == pytest.approx(scores_of_saved_reward_model(reward_models.full, sequences), abs=1e-4)
    logs = step_logs(out)
    assert [log["response_length"] for log in logs] == [1.0, 1.0]
    assert abs(logs[0]["kl"]) < 1e-4
    assert [log["reward"] for log in logs] == pytest.approx([float(s.mean()) for _, s in run.calls], abs=1e-6)


def test_lora_reward_leaves_no_reward_adapter_in_the_output(request, tmp_path_factory, reward_models):
    run = trained_ppo("lora-lora", request, tmp_path_factory)
    assert not (run.out / "reward").exists()
    assert not [p for p in run.out.iterdir() if p.is_dir()]
    config = read_json(run.out / "adapter_config.json")
    assert config["base_model_name_or_path"] == str(reward_models.lora.base)
    assert "the LoRA adapter" in run.logs and str(reward_models.lora.out) in run.logs
    # the saved policy adapter is not the reward adapter
    policy, reward = load_file(run.out / "adapter_model.safetensors"), load_file(
        reward_models.lora.out / "adapter_model.safetensors")
    assert policy.keys() == reward.keys()
    assert any(not torch.equal(policy[name], reward[name]) for name in policy)


def test_api_reward_posts_decoded_texts_and_logs_the_mean_of_the_returned_scores(request, tmp_path_factory):
    from transformers import AutoTokenizer

    run = trained_ppo("lora-api", request, tmp_path_factory)
    assert len(run.requests) == STEPS and len(run.answers) == STEPS
    tokenizer = AutoTokenizer.from_pretrained(run.out)
    header = ASSISTANT_HEADER["llama3"]
    for request_body, answer, (sequences, scores) in zip(run.requests, run.answers, run.calls, strict=True):
        assert request_body["path"] == "/v1/score/evaluation"
        assert request_body["content_type"] == "application/json"
        assert request_body["model"] == "model"
        texts = request_body["messages"]
        assert len(texts) == BATCH and all(isinstance(text, str) for text in texts)
        # the texts are the scored sequences decoded with their special tokens: the chat template shows
        assert texts == [tokenizer.decode(row, skip_special_tokens=False) for row in sequences]
        for text in texts:
            assert text.startswith("<|begin_of_text|>") and header in text, text
        assert scores.tolist() == answer == [api_score(text) for text in texts]
    first = log_records(run.out)[0]
    assert first["reward"] == pytest.approx(sum(run.answers[0]) / BATCH, abs=1e-6)
    assert step_logs(run.out)[1]["reward"] == pytest.approx(sum(run.answers[1]) / BATCH, abs=1e-6)


def test_buffer_and_accumulation_score_every_prompt_of_a_step_in_one_request(tiny_llama, tmp_path, scoring_server):
    # per_device_train_batch_size 4 x gradient_accumulation_steps 2 x ppo_buffer_size 2: each step generates for
    # 16 prompts (all of them: one epoch), scores them in one request, and optimises over 4 mini-batches.
    from collections import Counter

    out = tmp_path / "out"
    scoring_server.clear()
    config = ppo_settings(tiny_llama, out, template="llama3", reward_model=f"{scoring_server.url}/score",
                          reward_model_type="api", gradient_accumulation_steps=2, ppo_buffer_size=2, ppo_epochs=1,
                          ppo_score_norm=True, ppo_whiten_rewards=True, save_strategy="steps", save_steps=1)
    train_in_process(config)
    assert len(scoring_server.requests) == STEPS
    prompts = Counter(row["messages"][0]["content"] for row in KTO_TRAIN[:SAMPLES])
    user = "<|start_header_id|>user<|end_header_id|>\n\n"
    for body in scoring_server.requests:
        assert len(body["messages"]) == SAMPLES
        asked = Counter(text.split(user, 1)[1].split("<|eot_id|>", 1)[0] for text in body["messages"])
        assert asked == prompts  # each prompt once per step
    logs = step_logs(out)
    # the logged reward is the mean of the raw scores (ppo_score_norm normalises what is optimised, not the log)
    assert [log["reward"] for log in logs] == pytest.approx([sum(a) / SAMPLES for a in scoring_server.answers])
    assert [log["epoch"] for log in logs] == [1.0, 2.0]
    assert abs(logs[0]["kl"]) < 1e-4
    assert logs[0]["kl_coef"] == pytest.approx(0.2 * (1 - 0.2 * SAMPLES / 10000), rel=1e-9)
    assert all(math.isfinite(log["loss"]) for log in logs)
    # save_steps 1: a checkpoint after step 1 (the final weights go to output_dir itself)
    checkpoints = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert checkpoints == ["checkpoint-1"]
    assert {"adapter_model.safetensors", "value_head.safetensors"} <= {p.name for p in (out / "checkpoint-1").iterdir()}
    assert set(load_file(out / "checkpoint-1" / "value_head.safetensors")) == VALUE_HEAD_KEYS


def test_mini_batches_with_shorter_answers_than_the_buffers_longest(tiny_llama, tmp_path, scoring_server):
    # A buffer of 8 answers (2 mini-batches of 4) where one answer is 8 tokens and the other 7 are cut to 2 (as if
    # they had stopped): the mini-batch without the long one has a shorter longest answer than the buffer.
    from tunefactory.train import ppo_trainer

    original, answers = ppo_trainer.cut_at_stop, []

    def uneven(tokens, stop_ids, pad_id):
        answer = original(tokens, stop_ids, pad_id)
        answer = answer if len(answers) % 8 == 0 else answer[:2]
        answers.append(answer)
        return answer

    out = tmp_path / "out"
    config = ppo_settings(tiny_llama, out, template="llama3", reward_model=f"{scoring_server.url}/score",
                          reward_model_type="api", ppo_buffer_size=2, ppo_epochs=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ppo_trainer, "cut_at_stop", uneven)
        run = train_in_process(config)
    assert len(answers) == STEPS * 2 * BATCH
    lengths = [len(answer) for answer in answers]
    assert max(lengths[1:8]) <= 2 < lengths[0]
    logs = step_logs(out)
    assert [log["response_length"] for log in logs] == pytest.approx([sum(lengths[:8]) / 8, sum(lengths[8:]) / 8])
    assert abs(logs[0]["kl"]) < 1e-4 and all(math.isfinite(log["loss"]) for log in logs)
    assert [len(sequences) for sequences, _ in run.calls] == [8, 8]


# --- 3. what ppo refuses --------------------------------------------------------------------------------------------

def test_ppo_without_reward_model_fails_at_validation_through_the_cli(tiny_qwen2, tmp_path, write_yaml):
    out = tmp_path / "out"
    config = write_yaml(ppo_settings(tiny_qwen2, out))
    result = subprocess.run([sys.executable, "-m", "tunefactory.cli", "train", str(config)], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 1, result.stderr[-2000:]
    assert "stage: ppo needs reward_model" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()  # refused before anything ran


@pytest.mark.parametrize("overrides, message", [
    ({}, "stage: ppo needs reward_model"),
    ({"reward_model": "/some/rm", "finetuning_type": "full"}, "reward_model_type: lora needs finetuning_type: lora"),
    ({"reward_model": "/some/rm", "finetuning_type": "freeze"}, "reward_model_type: lora needs finetuning_type: lora"),
    ({"reward_model": "/some/rm", "reward_model_type": "full", "do_train": False}, "stage: ppo only trains"),
])
def test_ppo_config_errors_are_caught_at_validation(tiny_qwen2, tmp_path, overrides, message):
    from tunefactory.config import parse_dict
    from tunefactory.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_dict(ppo_settings(tiny_qwen2, tmp_path / "out", **overrides))
    assert message in str(caught.value)
    key = "reward_model_type" if "reward_model_type" in message else "reward_model" if "reward_model" in message \
        else "do_train"
    assert key in str(caught.value)


def test_full_reward_model_without_a_value_head_is_refused(tiny_qwen2, tmp_path):
    from tunefactory.errors import TuneFactoryError

    # the base model folder: a causal LM, but no stage-rm value head beside it
    config = ppo_settings(tiny_qwen2, tmp_path / "out", reward_model=str(tiny_qwen2), reward_model_type="full")
    with pytest.raises(TuneFactoryError, match="value_head.safetensors") as caught:
        train_in_process(config)
    assert str(tiny_qwen2) in str(caught.value)


def test_lora_reward_model_without_a_value_head_is_refused(tiny_llama, tmp_path, reward_models):
    from tunefactory.errors import TuneFactoryError

    adapter_only = tmp_path / "rm-without-head"
    shutil.copytree(reward_models.lora.out, adapter_only)
    (adapter_only / "value_head.safetensors").unlink()
    config = ppo_settings(tiny_llama, tmp_path / "out", template="llama3", reward_model=str(adapter_only),
                          reward_model_type="lora")
    with pytest.raises(TuneFactoryError, match="value_head.safetensors") as caught:
        train_in_process(config)
    assert str(adapter_only) in str(caught.value)


def test_api_reward_model_that_refuses_connections_names_the_url(tiny_llama, tmp_path):
    from tunefactory.errors import TuneFactoryError

    url = refused_url()
    config = ppo_settings(tiny_llama, tmp_path / "out", template="llama3", reward_model=url, reward_model_type="api")
    with pytest.raises(TuneFactoryError) as caught:
        train_in_process(config)
    assert url in str(caught.value)
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()


def test_api_reward_model_returning_too_few_scores_is_refused(tiny_llama, tmp_path, scoring_server):
    from tunefactory.errors import TuneFactoryError

    url = f"{scoring_server.url}/short"
    config = ppo_settings(tiny_llama, tmp_path / "out", template="llama3", reward_model=url, reward_model_type="api")
    with pytest.raises(TuneFactoryError, match=f"returned 1 scores for {BATCH} texts") as caught:
        train_in_process(config)
    assert url in str(caught.value)


def test_ppo_refuses_to_resume_a_run(tiny_qwen2, tmp_path, reward_models):
    from tunefactory.errors import ConfigError

    checkpoint = tmp_path / "old" / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    config = ppo_settings(tiny_qwen2, tmp_path / "out", reward_model=str(reward_models.full.out),
                          reward_model_type="full", resume_from_checkpoint=str(checkpoint))
    with pytest.raises(ConfigError, match="stage: ppo cannot resume a run") as caught:
        train_in_process(config)
    assert str(checkpoint) in str(caught.value) and "adapter_name_or_path" in str(caught.value)
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()


def test_refused_resume_leaves_output_dir_untouched(tiny_qwen2, tmp_path, reward_models):
    from tunefactory.errors import ConfigError

    checkpoint = tmp_path / "old" / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    config = ppo_settings(tiny_qwen2, tmp_path / "out", reward_model=str(reward_models.full.out),
                          reward_model_type="full")
    with pytest.raises(ConfigError, match="resum"):
        train_in_process({**config, "resume_from_checkpoint": str(checkpoint)})
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    train_in_process(config)  # the user drops resume_from_checkpoint and runs again


def test_ppo_refuses_ranking_datasets(tiny_qwen2, tmp_path, reward_models):
    from tunefactory.errors import DataError

    config = ppo_settings(tiny_qwen2, tmp_path / "out", dataset="style_pref_train", reward_model=str(
        reward_models.full.out), reward_model_type="full")
    with pytest.raises(DataError, match="ranking"):
        train_in_process(config)
