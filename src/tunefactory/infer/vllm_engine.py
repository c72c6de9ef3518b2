"""The vLLM engine (``infer_backend: vllm``; CUDA GPUs, ``pip install 'tunefactory[vllm]'``).

It takes the same `GenerationRequest` as `HFEngine`: vLLM's AsyncLLMEngine runs on an asyncio loop in
a background thread, does its own continuous batching, and each request's new tokens are forwarded
to the request's event queue as they arrive; a cancelled request is aborted in vLLM. The prompt ids
come from our template, so vLLM generates from exactly the training format. One LoRA adapter is
served with vLLM's LoRA support (``vllm_max_lora_rank``); merge several first (``tunefactory export``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid

from ..errors import ConfigError
from .hf_engine import GenerationRequest

logger = logging.getLogger(__name__)


def vllm_engine_args(config) -> dict:
    """AsyncEngineArgs keywords from the model arguments (LLaMA-Factory's vllm_* keys)."""
    import torch

    m = config.model
    adapters = list(m.adapter_name_or_path or [])
    args = {"model": m.model_name_or_path, "trust_remote_code": m.trust_remote_code,
            "max_model_len": m.vllm_maxlen, "tensor_parallel_size": max(torch.cuda.device_count(), 1),
            "gpu_memory_utilization": m.vllm_gpu_util, "disable_log_stats": True,
            "enforce_eager": m.vllm_enforce_eager, "enable_lora": bool(adapters),
            "max_lora_rank": m.vllm_max_lora_rank}
    dtype = getattr(m, "infer_dtype", "auto")
    if dtype and dtype != "auto":
        args["dtype"] = dtype
    extra = m.vllm_config
    if isinstance(extra, str) and extra.strip():
        extra = json.loads(extra)
    args.update(extra or {})
    return args


def sampling_params(request: GenerationRequest, stop_ids: list[int]):
    from vllm import SamplingParams

    s = request.settings
    if s.get("num_beams", 1) > 1:
        raise ConfigError(["num_beams > 1 does not work with infer_backend: vllm; use huggingface for beam search"])
    greedy = not s.get("do_sample", False)
    top_k = s.get("top_k") or 0
    return SamplingParams(
        n=request.n, max_tokens=request.max_new_tokens, stop_token_ids=list(stop_ids),
        stop=list(request.stop_strings) or None,
        temperature=0.0 if greedy else s.get("temperature", 1.0), top_p=1.0 if greedy else s.get("top_p", 1.0),
        top_k=-1 if greedy or top_k <= 0 else top_k, repetition_penalty=s.get("repetition_penalty", 1.0),
        skip_special_tokens=False,  # ChatModel decodes, with the configured skip_special_tokens
        seed=request.seed,
    )


def vllm_problems(config) -> list[str]:
    """What stops the vLLM engine on this machine or with this config, before anything loads."""
    from importlib.util import find_spec

    import torch

    problems = []
    if find_spec("vllm") is None:
        problems.append("infer_backend: vllm needs pip install 'tunefactory[vllm]' (and a CUDA GPU)")
    if not torch.cuda.is_available():
        problems.append("infer_backend: vllm needs a CUDA GPU and none was found; use infer_backend: huggingface")
    if len(config.model.adapter_name_or_path or []) > 1:
        problems.append("infer_backend: vllm serves one adapter; merge the others first (tunefactory export)")
    return problems


class VLLMEngine:
    def __init__(self, config, stop_ids: list[int]):
        problems = vllm_problems(config)
        if problems:
            raise ConfigError(problems)
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        adapters = list(config.model.adapter_name_or_path or [])
        self.stop_ids = list(stop_ids)
        self.lora = None
        if adapters:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("default", 1, adapters[0])
        self.engine = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(**vllm_engine_args(config)))
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="tunefactory-vllm", daemon=True).start()

    def submit(self, request: GenerationRequest) -> GenerationRequest:
        asyncio.run_coroutine_threadsafe(self._run(request), self.loop)
        return request

    def submit_batch(self, requests: list[GenerationRequest]) -> list[GenerationRequest]:
        """vLLM schedules its own batches; each request's seed makes its sampling repeatable."""
        return [self.submit(request) for request in requests]

    async def _run(self, request: GenerationRequest) -> None:
        request_id = uuid.uuid4().hex
        sent = [0] * request.n
        finished: set[int] = set()
        try:
            params = sampling_params(request, self.stop_ids)
            outputs = self.engine.generate({"prompt_token_ids": request.prompt_ids}, params, request_id,
                                           lora_request=self.lora)
            async for output in outputs:
                if request.cancelled.is_set():
                    await self.engine.abort(request_id)
                    break
                for answer in output.outputs:
                    for token in list(answer.token_ids)[sent[answer.index]:]:
                        if token not in self.stop_ids:
                            request.events.put((answer.index, token))
                    sent[answer.index] = len(answer.token_ids)
                    if answer.finish_reason and answer.index not in finished:
                        finished.add(answer.index)
                        reason = "length" if answer.finish_reason == "length" else "stop"
                        request.events.put((answer.index, None, reason))
        except Exception as error:
            logger.exception("vLLM generation failed")
            request.events.put((None, None, f"error: {error}"))
            return
        for index in range(request.n):
            if index not in finished:
                request.events.put((index, None, "stop"))
