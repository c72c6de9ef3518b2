"""Model arguments: what to load and how (LLaMA-Factory's model, quantization, processor, export, vLLM/SGLang groups).

Names, types and defaults follow LLaMA-Factory so its configs parse unchanged; comma-separated
strings are accepted wherever a list is expected. The help texts are what `-h` and docs/ show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .fields import arg


@dataclass
class ModelArguments:
    # --- BaseModel ---
    model_name_or_path: str | None = arg(None, "Hub id or local directory of the base model to load (mandatory).")
    adapter_name_or_path: list[str] | None = arg(
        None, "One or more adapter checkpoints (comma-separated) to load on top of the base model."
    )
    adapter_folder: str | None = arg(None, "Directory from which adapter weights are read.")
    cache_dir: str | None = arg(None, "Directory used to cache downloaded models.")
    use_fast_tokenizer: bool = arg(True, "Prefer the Rust-backed fast tokenizer implementation.")
    resize_vocab: bool = arg(False, "Grow the tokenizer vocabulary and embedding matrices to fit added tokens.")
    split_special_tokens: bool = arg(False, "Let the tokenizer break special tokens into ordinary pieces.")
    add_tokens: list[str] | None = arg(
        None, "Comma-separated ordinary (non-special) tokens to append to the tokenizer."
    )
    add_special_tokens: list[str] | None = arg(None, "Comma-separated special tokens to append to the tokenizer.")
    new_special_tokens_config: str | None = arg(
        None,
        "Path to a YAML mapping of new special tokens to text descriptions used for their initialisation; overrides add_special_tokens.",
    )
    init_special_tokens: Literal["noise_init", "desc_init", "desc_init_w_noise"] = arg(
        "noise_init", "How embeddings of newly added special tokens are initialised."
    )
    model_revision: str = arg("main", "Branch, tag or commit of the model repository to fetch.")
    low_cpu_mem_usage: bool = arg(True, "Load weights in a way that keeps peak host memory low.")
    rope_scaling: Literal["linear", "dynamic", "yarn", "llama3"] | None = arg(
        None, "RoPE scaling scheme used to stretch the context window."
    )
    flash_attn: Literal["auto", "disabled", "sdpa", "fa2", "fa3"] = arg(
        "auto", "Attention kernel implementation to request."
    )
    shift_attn: bool = arg(
        False,
        "Turn on LongLoRA's shifted sparse attention.",
        unsupported="LongLoRA's shifted sparse attention is not implemented (LLaMA-Factory's own patch needs "
                    "transformers < 4.48, so it fails there too); use rope_scaling for longer contexts",
    )
    mixture_of_depths: Literal["convert", "load"] | None = arg(
        None,
        "Convert the model to, or load it as, a mixture-of-depths model.",
        unsupported="mixture-of-depths needs the mixture-of-depth package, whose latest release (1.2.0) does not "
                    "import with transformers 5 (it imports TRANSFORMERS_CACHE, which transformers removed)",
    )
    use_unsloth: bool = arg(
        False,
        "Training: load the model and create its LoRA adapter (or train it fully) through Unsloth's FastLanguageModel, "
        "with Unsloth's kernels and offloaded checkpointing (CUDA GPU, pip install 'tunefactory[unsloth]').",
    )
    use_unsloth_gc: bool = arg(
        False,
        "Unsloth-style activation checkpointing: the activations kept for recomputation are offloaded to host memory "
        "(transformers' offloaded checkpointing; no Unsloth install needed; plain checkpointing on a CPU).",
    )
    enable_liger_kernel: bool = arg(False, "Training: patch Liger's fused Triton kernels (RMSNorm, RoPE, SwiGLU, "
                                           "fused linear cross-entropy) into the model (CUDA GPU, pip install "
                                           "liger-kernel).")
    lm_head_on_labels_only: bool = arg(
        True, "Training (sft, dpo, kto): run the LM head only on labelled positions, a chunk at a time, so the full "
              "[tokens x vocab] logits never exist; the loss and gradients are the model's own (false: its own path)."
    )
    moe_aux_loss_coef: float | None = arg(None, "Weight of the router load-balancing loss for MoE models.")
    disable_gradient_checkpointing: bool = arg(False, "Turn activation (gradient) checkpointing off.")
    use_reentrant_gc: bool = arg(True, "Use the reentrant variant of activation checkpointing.")
    upcast_layernorm: bool = arg(False, "Keep layer-norm weights in float32.")
    upcast_lmhead_output: bool = arg(False, "Cast the LM head output logits to float32.")
    train_from_scratch: bool = arg(False, "Start from randomly initialised weights instead of pretrained ones.")
    infer_backend: Literal["huggingface", "vllm", "sglang"] = arg(
        "huggingface", "Engine used for chat/API/web inference."
    )
    offload_folder: str = arg("offload", "Directory for weights offloaded to disk during loading.")
    use_kv_cache: bool = arg(True, "Reuse the key/value cache while generating.")
    use_v1_kernels: bool | None = arg(
        False,
        "Enable the high-performance kernels from the v1 code path during training.",
        unsupported="LLaMA-Factory's v1 kernels are not part of TuneFactory",
    )
    infer_dtype: Literal["auto", "float16", "bfloat16", "float32"] = arg(
        "auto", "Numeric dtype of weights/activations at inference time."
    )
    hf_hub_token: str | None = arg(None, "Access token for the Hugging Face Hub.")
    ms_hub_token: str | None = arg(None, "Access token for ModelScope.")
    om_hub_token: str | None = arg(None, "Access token for the Modelers hub.")
    print_param_status: bool = arg(False, "Debug aid: print dtype/device/trainability of every parameter.")
    trust_remote_code: bool = arg(False, "Allow executing custom modelling/dataset code shipped with hub repositories.")
    # --- Quantization ---
    quantization_method: Literal["bnb", "gptq", "awq", "aqlm", "quanto", "eetq", "hqq", "mxfp4", "fp8"] = arg(
        "bnb", "Backend used for on-the-fly quantisation of the model."
    )
    quantization_bit: int | None = arg(None, "Bit width for on-the-fly quantisation (unset means no quantisation).")
    quantization_type: Literal["fp4", "nf4"] = arg(
        "nf4", "4-bit data format for bitsandbytes (float4 or normal-float4)."
    )
    double_quantization: bool = arg(True, "Also quantise the quantisation constants (bitsandbytes 4-bit).")
    quantization_device_map: Literal["auto"] | None = arg(
        None, "Device map for running a 4-bit model (only 'auto'); inference only."
    )
    # --- Processor ---
    image_max_pixels: int = arg(589824, "Upper bound on pixels per input image (larger images are downscaled).")
    image_min_pixels: int = arg(1024, "Lower bound on pixels per input image (smaller images are upscaled).")
    image_do_pan_and_scan: bool = arg(False, "Gemma 3: write a wide or tall image whole and then as crops, as its "
                                              "processor's pan-and-scan does.")
    crop_to_patches: bool = arg(False, "Split images into tiles (InternVL style).")
    video_max_pixels: int = arg(65536, "Upper bound on pixels per video frame.")
    video_min_pixels: int = arg(256, "Lower bound on pixels per video frame.")
    video_fps: float = arg(2.0, "Frame sampling rate for video inputs.")
    video_maxlen: int = arg(128, "Cap on the number of frames sampled from a video.")
    use_audio_in_video: bool = arg(False, "Also feed the audio track of video inputs.")
    audio_sampling_rate: int = arg(16000, "Audio is resampled to this many samples per second.")
    # --- Export ---
    export_dir: str | None = arg(None, "Destination directory for the exported/merged model.")
    export_size: int = arg(5, "Maximum shard size of exported weight files, in GB.")
    export_device: Literal["cpu", "auto"] = arg("cpu", "Device on which the export/merge runs.")
    export_quantization_bit: int | None = arg(None, "Bit width for quantising the model during export (GPTQ).")
    export_quantization_dataset: str | None = arg(None, "Calibration dataset path/name for export-time quantisation.")
    export_quantization_nsamples: int = arg(128, "Number of calibration samples for export-time quantisation.")
    export_quantization_maxlen: int = arg(1024, "Maximum token length of calibration samples.")
    export_legacy_format: bool = arg(False, "Write .bin files instead of safetensors on export.")
    export_hub_model_id: str | None = arg(None, "Hub repository to push the exported model to.")
    # --- Vllm ---
    vllm_maxlen: int = arg(4096, "Token budget (input plus output) the vLLM engine is sized for.")
    vllm_gpu_util: float = arg(0.7, "Fraction of GPU memory vLLM may reserve.")
    vllm_enforce_eager: bool = arg(False, "Run vLLM in eager mode (no CUDA graphs).")
    vllm_max_lora_rank: int = arg(32, "Largest LoRA rank vLLM must support.")
    vllm_config: dict | str | None = arg(None, "Extra vLLM engine options, as a dict or a JSON string.")
    # --- SGLang ---
    sglang_maxlen: int = arg(4096, "Token budget (input plus output) the SGLang engine is sized for.")
    sglang_mem_fraction: float = arg(0.7, "Fraction of GPU memory SGLang may use.")
    sglang_tp_size: int = arg(-1, "Tensor-parallel degree for SGLang (-1 means pick automatically).")
    sglang_config: dict | str | None = arg(None, "Extra SGLang engine options, as a dict or a JSON string.")
    sglang_lora_backend: Literal["triton", "flashinfer"] = arg("triton", "GEMM backend SGLang uses for LoRA modules.")
    # --- KTransformers ---
    use_kt: bool = arg(
        False,
        "Train MoE models with the KTransformers CPU/AMX expert backend.",
        unsupported="KTransformers is not integrated",
    )
    kt_weight_path: str | None = arg(
        None,
        "Directory of pre-quantised INT8 expert weights for KTransformers.",
        unsupported="KTransformers is not integrated",
    )
    kt_expert_checkpoint_path: str | None = arg(
        None,
        "Expert checkpoint (safetensors) to convert online for KTransformers.",
        unsupported="KTransformers is not integrated",
    )
    kt_use_lora_experts: bool | None = arg(
        None,
        "Place LoRA experts on the GPU side in KTransformers training.",
        unsupported="KTransformers is not integrated",
    )
    kt_lora_expert_num: int | None = arg(
        None, "How many GPU-side LoRA experts to create.", unsupported="KTransformers is not integrated"
    )
    kt_lora_expert_intermediate_size: int | None = arg(
        None, "FFN width used for the GPU-side LoRA experts.", unsupported="KTransformers is not integrated"
    )
