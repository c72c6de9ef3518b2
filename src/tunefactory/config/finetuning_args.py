"""Fine-tuning arguments: the stage, the method (full/freeze/LoRA) and the preference/RL settings.

Names, types and defaults follow LLaMA-Factory so its configs parse unchanged; comma-separated
strings are accepted wherever a list is expected. The help texts are what `-h` and docs/ show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .fields import arg
from .stages import STAGE_NAMES, stages_help

ADAPTER_METHODS = ("lora", "oft")  # finetuning types that train a peft adapter
OPTIMIZER_SWITCHES = ("use_galore", "use_apollo", "use_badam", "use_adam_mini", "use_muon")  # one at a time
# GaLore and APOLLO run through transformers' own `optim` integration, in the kind of optimizer `optim` names
_ADAMW = ("adamw_torch", "adamw_torch_fused")
LOW_RANK_OPTIMS = {
    "use_galore": {**dict.fromkeys(_ADAMW, "galore_adamw"), "adafactor": "galore_adafactor",
                   **dict.fromkeys(("adamw_8bit", "adamw_bnb_8bit", "paged_adamw_8bit"), "galore_adamw_8bit")},
    "use_apollo": dict.fromkeys(_ADAMW, "apollo_adamw"),
}


def low_rank_optim(finetuning, optim) -> str | None:
    """The transformers ``optim`` that runs GaLore or APOLLO (layer-wise when asked) in place of ``optim``;
    None when neither is on, or ``optim`` has no GaLore/APOLLO counterpart."""
    optim = str(getattr(optim, "value", optim)).removesuffix("_layerwise")
    for key, prefix, layerwise in (("use_galore", "galore_", finetuning.galore_layerwise),
                                   ("use_apollo", "apollo_", finetuning.apollo_layerwise)):
        if getattr(finetuning, key):
            name = optim if optim.startswith(prefix) else LOW_RANK_OPTIMS[key].get(optim)  # (from a saved run)
            return name and name + ("_layerwise" if layerwise else "")
    return None


@dataclass
class FinetuningArguments:
    # --- Freeze ---
    freeze_trainable_layers: int = arg(
        2, "Number of layers left trainable in freeze tuning (positive = last n, negative = first n)."
    )
    freeze_trainable_modules: list[str] = arg(
        None,
        "Comma-separated module names inside layers to train in freeze tuning ('all' for every module).",
        factory=lambda: ["all"],
    )
    freeze_extra_modules: list[str] | None = arg(
        None, "Comma-separated non-layer modules (e.g. embeddings) to also train in freeze tuning."
    )
    # --- Lora ---
    additional_target: list[str] | None = arg(
        None, "Comma-separated extra modules trained fully and saved alongside the adapter."
    )
    lora_alpha: int | None = arg(None, "LoRA scaling factor; defaults to twice lora_rank.")
    lora_dropout: float = arg(0.0, "Dropout applied inside LoRA branches.")
    lora_rank: int = arg(8, "Rank of the LoRA decomposition.")
    lora_target: list[str] = arg(
        None, "Comma-separated modules that receive LoRA ('all' = every linear layer).", factory=lambda: ["all"]
    )
    loraplus_lr_ratio: float | None = arg(None, "LoRA+ ratio between B-matrix and A-matrix learning rates.")
    loraplus_lr_embedding: float = arg(1e-06, "LoRA+ learning rate for embedding LoRA weights.")
    use_rslora: bool = arg(False, "Use rank-stabilised LoRA scaling.")
    use_dora: bool = arg(False, "Use weight-decomposed LoRA (DoRA).")
    pissa_init: bool = arg(False, "Initialise LoRA with PiSSA principal components.")
    pissa_iter: int = arg(16, "Fast-SVD iterations for PiSSA init (-1 disables).")
    pissa_convert: bool = arg(False, "Convert a PiSSA adapter back to a standard LoRA adapter on save.")
    create_new_adapter: bool = arg(
        False, "Start a fresh randomly initialised adapter instead of continuing a loaded one."
    )
    # --- OFT ---
    module_dropout: float = arg(0.0, "Dropout rate for OFT modules.")
    oft_rank: int = arg(0, "Rank (number of blocks) for OFT.")
    oft_block_size: int = arg(32, "Block size used by OFT.")
    oft_target: list[str] = arg(
        None, "Comma-separated modules that receive OFT ('all' = every linear layer).", factory=lambda: ["all"]
    )
    # --- RLHF ---
    pref_beta: float = arg(0.1, "Beta (temperature) of the preference-optimisation loss.")
    pref_ftx: float = arg(0.0, "Weight of an added SFT loss term during preference training.")
    pref_bco_weight: float = arg(0.0, "Weight of the BCO (binary classifier) term in DPO training.")
    pref_loss: Literal["sigmoid", "hinge", "ipo", "kto_pair", "orpo", "simpo"] = arg(
        "sigmoid", "Preference loss variant."
    )
    dpo_label_smoothing: float = arg(0.0, "Label smoothing for robust/conservative DPO (0 to 0.5).")
    kto_chosen_weight: float = arg(1.0, "KTO weight on desirable examples.")
    kto_rejected_weight: float = arg(1.0, "KTO weight on undesirable examples.")
    simpo_gamma: float = arg(0.5, "Target reward margin for SimPO.")
    ppo_buffer_size: int = arg(1, "Mini-batches collected into the experience buffer per PPO step.")
    ppo_epochs: int = arg(4, "Optimisation epochs per PPO step.")
    ppo_score_norm: bool = arg(False, "Normalise reward scores in PPO.")
    ppo_target: float = arg(6.0, "KL divergence the adaptive KL controller aims for during PPO.")
    ppo_whiten_rewards: bool = arg(False, "Whiten rewards before advantage estimation in PPO.")
    ref_model: str | None = arg(None, "Reference model for DPO/PPO.")
    ref_model_adapters: str | None = arg(None, "Adapters to load onto the reference model.")
    ref_model_quantization_bit: Literal[4, 8] | None = arg(
        None, "Bit width for quantising the reference model (4 or 8)."
    )
    reward_model: str | None = arg(None, "Reward model used by PPO (required for stage ppo).")
    reward_model_adapters: str | None = arg(None, "Adapters to load onto the reward model.")
    reward_model_quantization_bit: Literal[4, 8] | None = arg(
        None, "Bit width for quantising the reward model (4 or 8)."
    )
    reward_model_type: Literal["lora", "full", "api"] = arg(
        "lora", "Kind of reward model for PPO: LoRA adapter, full model or remote API."
    )
    ld_alpha: float | None = arg(None, "LD-DPO alpha weighting log-probs of verbose response tokens.")
    # --- GRPO (stage: grpo): TRL's GRPOConfig names and defaults ---
    reward_funcs: list[str] | None = arg(
        None, "Rewards for stage grpo, comma-separated: built-in names (accuracy, format, length), "
              "module.path:function user functions (TRL's signature), or reward-model folders (a stage-rm output or a "
              "sequence-classification model)."
    )
    reward_weights: list[float] | None = arg(None, "Weight of each reward in reward_funcs (default: all 1.0).")
    num_generations: int = arg(8, "Completions sampled per prompt; their rewards are compared within the group.")
    max_prompt_length: int = arg(512, "Prompts longer than this (in tokens, chat-formatted) are skipped and counted.")
    max_completion_length: int = arg(512, "Maximum tokens generated per completion.")
    beta: float = arg(0.0, "Weight of the KL penalty against the reference model (0: no reference model is kept).")
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo", "luspo", "cispo", "sapo", "vespo"] = arg(
        "dapo", "How token losses are aggregated: grpo (per sequence), bnpo (per batch token), dr_grpo (a constant), "
                "dapo (tokens of the whole generation batch), and TRL's later variants."
    )
    epsilon: float = arg(0.2, "Clipping range of the probability ratio (lower side; both sides unless epsilon_high).")
    epsilon_high: float | None = arg(None, "Upper clipping bound (DAPO's clip-higher); default: epsilon.")
    importance_sampling_level: Literal["token", "sequence"] = arg(
        "token", "Probability ratio per token (GRPO) or per sequence (GSPO)."
    )
    scale_rewards: Literal["group", "batch", "none"] = arg(
        "group", "Divide advantages by the reward std of the group, of the batch, or not at all (Dr. GRPO)."
    )
    mask_truncated_completions: bool = arg(False, "Leave completions cut at max_completion_length out of the loss.")
    num_iterations: int = arg(1, "Optimisation passes over each generated batch (GRPO's mu).")
    sync_ref_model: bool = arg(False, "Move the reference model towards the policy every ref_model_sync_steps (needs "
                                      "beta > 0).")
    ref_model_mixup_alpha: float = arg(0.6, "Policy share when the reference model is synced.")
    ref_model_sync_steps: int = arg(512, "Steps between reference model syncs.")
    use_vllm: bool = arg(False, "Generate GRPO rollouts with vLLM (GPU only).")
    vllm_mode: Literal["colocate", "server"] = arg(
        "colocate", "vLLM inside the training process (colocate) or a `trl vllm-serve` server (server)."
    )
    vllm_gpu_memory_utilization: float = arg(0.3, "GPU memory share vLLM may take in colocate mode.")
    # --- Galore ---
    use_galore: bool = arg(False, "GaLore: AdamW (or the optim's kind) on gradients projected to galore_rank "
                                  "(pip install 'tunefactory[optimizers]'; full or freeze tuning).")
    galore_target: list[str] = arg(
        None, "Comma-separated modules GaLore applies to ('all' = every linear layer).", factory=lambda: ["all"]
    )
    galore_rank: int = arg(16, "Rank that GaLore projects gradients down to.")
    galore_update_interval: int = arg(200, "Steps between GaLore projection refreshes.")
    galore_scale: float = arg(2.0, "Multiplier applied to GaLore's projected updates.")
    galore_proj_type: Literal["std", "reverse_std", "right", "left", "full"] = arg("std", "GaLore projection variant.")
    galore_layerwise: bool = arg(False, "Apply GaLore updates layer by layer to save memory.")
    # --- Apollo ---
    use_apollo: bool = arg(False, "APOLLO: AdamW with learning rates scaled from a random low-rank projection of "
                                  "the gradients (pip install 'tunefactory[optimizers]'; full or freeze tuning).")
    apollo_target: list[str] = arg(
        None, "Comma-separated modules APOLLO applies to ('all' = every linear layer).", factory=lambda: ["all"]
    )
    apollo_rank: int = arg(16, "Rank that APOLLO projects gradients down to.")
    apollo_update_interval: int = arg(200, "Steps between APOLLO projection refreshes.")
    apollo_scale: float = arg(32.0, "Multiplier applied to APOLLO's scaled updates.")
    apollo_proj: Literal["svd", "random"] = arg("random", "Low-rank projection algorithm for APOLLO.")
    apollo_proj_type: Literal["std", "right", "left"] = arg("std", "APOLLO projection side/variant.")
    apollo_scale_type: Literal["channel", "tensor"] = arg("channel", "Granularity of APOLLO scaling.")
    apollo_layerwise: bool = arg(False, "Apply APOLLO updates layer by layer to save memory.")
    apollo_scale_front: bool = arg(False, "Apply the norm-growth limiter before gradient scaling.")
    # --- BAdam ---
    use_badam: bool = arg(False, "BAdam (pip install 'tunefactory[optimizers]', full fine-tuning): Adam on one "
                                 "decoder layer at a time (badam_mode: layer) or on a share of every weight's entries "
                                 "(ratio), moving on every badam_switch_interval steps.")
    badam_mode: Literal["layer", "ratio"] = arg("layer", "BAdam partitioning: by layer blocks or by parameter ratio.")
    badam_start_block: int | None = arg(None, "Index of the block layer-wise BAdam updates first.")
    badam_switch_mode: Literal["ascending", "descending", "random", "fixed"] | None = arg(
        "ascending", "Order in which layer-wise BAdam switches blocks."
    )
    badam_switch_interval: int | None = arg(50, "Steps between block switches, or between the ratio mode's mask "
                                                "moves (-1 disables switching).")
    badam_update_ratio: float = arg(0.05, "Fraction of parameters updated by ratio-wise BAdam.")
    badam_mask_mode: Literal["adjacent", "scatter"] = arg(
        "adjacent", "Whether ratio-wise BAdam selects adjacent or scattered parameters."
    )
    badam_verbose: Literal[0, 1, 2] = arg(0, "BAdam logging verbosity (0, 1 or 2).")
    # --- SwanLab ---
    use_swanlab: bool = arg(False, "Log the run to SwanLab.")
    swanlab_project: str | None = arg("llamafactory", "SwanLab project name.")
    swanlab_workspace: str | None = arg(None, "SwanLab workspace.")
    swanlab_run_name: str | None = arg(None, "SwanLab experiment name.")
    swanlab_mode: Literal["cloud", "local"] = arg("cloud", "SwanLab logging mode (cloud or local).")
    swanlab_api_key: str | None = arg(None, "SwanLab API key.")
    swanlab_logdir: str | None = arg(None, "Folder where SwanLab keeps its logs.")
    swanlab_lark_webhook_url: str | None = arg(None, "Lark (Feishu) webhook for SwanLab notifications.")
    swanlab_lark_secret: str | None = arg(None, "Secret for the Lark (Feishu) webhook.")
    # --- Finetuning ---
    pure_bf16: bool = arg(False, "Train entirely in bfloat16 without automatic mixed precision.")
    stage: Literal[STAGE_NAMES] = arg("sft", stages_help())
    finetuning_type: Literal["lora", "oft", "freeze", "full"] = arg(
        "lora", "Parameter-update method: LoRA, OFT, freeze (partial) or full."
    )
    use_llama_pro: bool = arg(False, "LLaMA Pro: train only the blocks `tunefactory llama-pro` inserted; "
                                     "freeze_trainable_layers is their number (freeze, lora or oft).")
    use_adam_mini: bool = arg(False, "Adam-mini (pip install 'tunefactory[optimizers]'): one second-moment value "
                                     "per parameter block, about half of AdamW's optimizer memory.")
    use_hyper_parallel: bool = arg(
        False,
        "Use the HyperParallel FSDP/TP backend (full-parameter SFT only).",
        unsupported="the HyperParallel backend is not integrated; use DeepSpeed or FSDP",
    )
    hyper_parallel_args: str | None = arg(
        None,
        "JSON file with HyperParallel strategy settings.",
        unsupported="the HyperParallel backend is not integrated; use DeepSpeed or FSDP",
    )
    use_muon: bool = arg(False, "Muon (torch.optim.Muon) on the hidden weight matrices, AdamW on the other "
                                "parameters (stages pt, sft, rm, dpo, kto).")
    use_dft_loss: bool = arg(False, "sft: weigh each answer token's cross-entropy by its (detached) probability "
                                    "(DFT, dynamic fine-tuning).")
    use_asft_loss: bool = arg(False, "sft: the DFT loss plus asft_alpha x KL(reference || model) per answer token "
                                     "(ASFT, anchored sft; the reference is the starting model or ref_model).")
    asft_alpha: float = arg(0.1, "Weight of ASFT's KL term.")
    use_eaft_loss: bool = arg(False, "sft: weigh each answer token's cross-entropy by the entropy of its top-20 "
                                     "logits / 3, to the power eaft_alpha (EAFT).")
    eaft_alpha: float = arg(1.0, "Exponent of EAFT's entropy weight.")
    freeze_vision_tower: bool = arg(True, "Keep the vision encoder frozen when training multimodal models.")
    freeze_multi_modal_projector: bool = arg(True, "Keep the vision-to-text projector frozen in multimodal training.")
    freeze_language_model: bool = arg(False, "Keep the language backbone frozen in multimodal training.")
    compute_accuracy: bool = arg(False, "Report token-level accuracy during evaluation.")
    disable_shuffling: bool = arg(False, "Do not shuffle the training data.")
    early_stopping_steps: int | None = arg(
        None, "Stop if metric_for_best_model has not improved for this many evaluations."
    )
    plot_loss: bool = arg(False, "Save loss-curve plots after training.")
    include_effective_tokens_per_second: bool = arg(
        False, "Report throughput in effective (non-pad) tokens per second."
    )
