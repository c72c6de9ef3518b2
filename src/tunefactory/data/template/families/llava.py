"""LLaVA-family formats (the LLaVA, LLaVA-NeXT and Video-LLaVA checkpoints on their base models' formats)."""

from __future__ import annotations

from ..core import Template
from ._slots import C, BOS, EOS, CHATML, LLAMA3, QWEN, VICUNA

MISTRAL_V2 = dict(prefix=BOS, user=f"[INST] {C}[/INST]", assistant=f" {C}{EOS}", function=f"[TOOL_CALLS] {C}{EOS}",
                  system=f"{C}\n\n", system_in_user=True,
                  observation=f'[TOOL_RESULTS] {{"content": {C}}}[/TOOL_RESULTS]', tool_format="mistral")
YI = dict(CHATML, stop_words=("<|im_end|>",))

TEMPLATES = [
    Template("llava", **VICUNA, multimodal="llava", family="LLaVA-1.5 (Vicuna format with <image>)"),
    Template("llava_next", **VICUNA, multimodal="llava_next", family="LLaVA-NeXT (LLaVA-1.6) Vicuna"),
    Template("llava_next_llama3", **LLAMA3, multimodal="llava_next", family="LLaVA-NeXT LLaMA3 (llama3-llava-next-8b)"),
    Template("llava_next_mistral", **dict(MISTRAL_V2, user=f"[INST] {C} [/INST]", assistant=f"{C}{EOS}"),
             multimodal="llava_next", family="LLaVA-NeXT (LLaVA-1.6) Mistral",
             notes=("As llava-v1.6-mistral-7b's template we write '[INST] question [/INST]answer</s>'; LLaMA-Factory "
                    "writes '[INST] question[/INST] answer</s>'. The official template has no system role or tools "
                    "(it raises on them); we put the system text at the start of the first [INST].",)),
    Template("llava_next_qwen", **QWEN, default_system="You are a helpful assistant.", multimodal="llava_next",
             family="LLaVA-NeXT Qwen (llava-next-72b/110b)"),
    Template("llava_next_yi", **YI, multimodal="llava_next", family="LLaVA-NeXT (LLaVA-1.6) 34B (Yi)"),
    Template("llava_next_video", **VICUNA, multimodal="llava_next_video", family="LLaVA-NeXT-Video 7B (Vicuna)"),
    Template("llava_next_video_mistral", **MISTRAL_V2, multimodal="llava_next_video",
             family="LLaVA-NeXT-Video Mistral"),
    Template("llava_next_video_yi", **YI, multimodal="llava_next_video", family="LLaVA-NeXT-Video 34B (Yi)"),
    Template("video_llava", **VICUNA, multimodal="video_llava", family="Video-LLaVA 7B (Vicuna format)"),
]
