"""The stage table: everything that makes one training stage different, declared in one place.

Every layer reads a stage's entry instead of matching its name: the config rules (which keys it
accepts, its own checks), the data pipeline (which datasets fit, how rows are encoded and
batched), `tunefactory train` (which recipe runs), the recipes (reference, plots) and the CLI
help. Adding a stage is one entry here plus its recipe module in ``train/``.

How rows are encoded is named by an *example format*, a key of `data.processors.PROCESSORS`
(each with its collator, `data.collators.build_collator`):

    pretrain      documents, every token learned; concatenated into blocks when packing
    supervised    prompt + answer, the answer learned; packed into bins with packing / neat_packing
    pairwise      a chosen and a rejected answer to one prompt, batched chosen rows first
    feedback      one answer labelled desirable or not, plus a mismatched pair for the KL baseline
    unsupervised  the prompt alone, left-padded for generation (the reference answer kept aside)

(grpo hands TRL's GRPOTrainer the prompts' ids, see `data.prompts`; `unsupervised` is what `tunefactory data
--tokenized` shows of them.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .run_config import RunConfig

StageRule = Callable[["RunConfig"], list[str]]
REFERENCE_FREE_LOSSES = ("orpo", "simpo")  # pref_loss values that compare with no reference model


def _never(finetuning) -> bool:
    return False


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str  # one line for `--help` and the docs
    recipe: str  # "module:function" that `tunefactory train` runs
    examples: str  # example format of training and evaluation rows
    generation_examples: str | None = None  # format when evaluation generates (predict_with_generate)
    ranked_data: bool = False  # trains on preference pairs: every dataset needs "ranking": true, others refuse it
    kto_tags: bool = False  # every dataset needs columns.kto_tag (desirable or not)
    packs_by_default: bool = False  # packing is on unless the config says packing: false
    can_pack: bool = False
    value_head: bool = False  # the model is wrapped with a scalar head (saved as value_head.safetensors)
    scores: bool = False  # the trained model scores texts instead of chatting (chat, api and export read this)
    reward_model: bool = False  # learns from a separate reward model's scores
    reference: Callable[[object], bool] = _never  # compares with a frozen reference model (given the settings)
    own_keys: tuple[str, ...] = ()  # settings that only this stage accepts (the others refuse them)
    plot_keys: tuple[str, ...] = ("loss", "eval_loss")  # curves drawn by plot_loss
    rules: tuple[StageRule, ...] = ()  # its own config checks, reported with the others
    preflight: str | None = None  # "module:function" checking files and folders before a run loads anything
    log_keys: tuple[str, ...] = ()  # metrics trainer_log.jsonl adds to LLaMA-Factory's (a trailing "/": a prefix)
    zero_loss_is_normal: bool = False  # a loss of exactly 0 is no sign of masked labels (the guard stays off)
    trainer_optimizer: bool = True  # its Trainer builds the optimizer, so optimizer switches (use_muon) apply

    def examples_for(self, is_eval: bool = False, predict_with_generate: bool = False) -> str:
        if is_eval and predict_with_generate and self.generation_examples:
            return self.generation_examples
        return self.examples


# --- the stages' own config checks ---

def _sft_predicts_by_generating(c: RunConfig) -> list[str]:
    if c.training.do_predict and not c.training.predict_with_generate:
        return ["do_predict with stage: sft writes generated predictions: set predict_with_generate: true"]
    return []


def _no_best_model_reload(c: RunConfig) -> list[str]:
    if c.training.load_best_model_at_end:
        return [f"load_best_model_at_end does not work with stage: {c.finetuning.stage}"]
    return []


def _dpo_loss_settings(c: RunConfig) -> list[str]:
    f, problems = c.finetuning, []
    if f.pref_loss != "sigmoid" and f.dpo_label_smoothing > 1e-6:
        problems.append(f"dpo_label_smoothing only works with pref_loss: sigmoid (this config has {f.pref_loss!r})")
    if f.pref_bco_weight > 1e-6 and f.pref_loss in REFERENCE_FREE_LOSSES:
        problems.append(f"pref_bco_weight needs a reference model; pref_loss: {f.pref_loss} has none "
                        "(use sigmoid, hinge, ipo or kto_pair)")
    return problems


def _ppo_needs_a_reward(c: RunConfig) -> list[str]:
    problems = []
    if not c.training.do_train:
        problems.append("stage: ppo only trains (do_train: true); evaluate the result with stage: sft")
    if not c.finetuning.reward_model:
        problems.append("stage: ppo needs reward_model: a trained reward model (or adapter), or an API URL")
    elif c.finetuning.reward_model_type == "lora" and c.finetuning.finetuning_type != "lora":
        problems.append("reward_model_type: lora needs finetuning_type: lora; use reward_model_type: full otherwise")
    return problems


GRPO_KEYS = ("reward_funcs", "reward_weights", "num_generations", "max_prompt_length", "max_completion_length",
             "beta", "loss_type", "epsilon", "epsilon_high", "importance_sampling_level", "scale_rewards",
             "mask_truncated_completions", "num_iterations", "sync_ref_model", "ref_model_mixup_alpha",
             "ref_model_sync_steps", "use_vllm", "vllm_mode", "vllm_gpu_memory_utilization")


def _grpo_settings(c: RunConfig) -> list[str]:
    f, t, problems = c.finetuning, c.training, []
    if not t.do_train:
        problems.append("stage: grpo only trains (do_train: true); evaluate the result with `tunefactory predict` "
                        "or `tunefactory eval`")
    if t.do_eval or t.do_predict or c.data.eval_dataset or c.data.val_size > 1e-6:
        problems.append("stage: grpo does not evaluate (do_eval, do_predict, eval_dataset, val_size); score the "
                        "trained model with `tunefactory predict` or `tunefactory eval`")
    if not f.reward_funcs:
        problems.append("stage: grpo needs reward_funcs: built-in names (accuracy, format, length), "
                        "module.path:function, or reward-model folders")
    elif f.reward_weights is not None and len(f.reward_weights) != len(f.reward_funcs):
        problems.append(f"reward_weights has {len(f.reward_weights)} values for {len(f.reward_funcs)} reward_funcs")
    if f.num_generations < 2:
        problems.append(f"num_generations must be 2 or more (a group compares its completions), not "
                        f"{f.num_generations}")
    else:
        rollouts = t.per_device_train_batch_size * t.gradient_accumulation_steps
        if rollouts % f.num_generations:
            problems.append(f"per_device_train_batch_size x gradient_accumulation_steps ({rollouts}) completions are "
                            f"generated per step; it must be a multiple of num_generations ({f.num_generations})")
    for key in ("max_prompt_length", "max_completion_length", "num_iterations", "ref_model_sync_steps"):
        if getattr(f, key) < 1:
            problems.append(f"{key} must be 1 or more, not {getattr(f, key)}")
    if f.sync_ref_model and f.beta <= 0:
        problems.append("sync_ref_model moves the reference model, which exists only with beta > 0")
    if f.sync_ref_model and f.finetuning_type in ("lora", "oft"):
        problems.append(f"sync_ref_model does not work with finetuning_type: {f.finetuning_type} (the reference is "
                        "the base model)")
    return problems


def _always(finetuning) -> bool:
    return True


def _with_asft_loss(finetuning) -> bool:
    return finetuning.use_asft_loss


def _one_sft_loss(c) -> list[str]:
    f, problems = c.finetuning, []
    chosen = [key for key in ("use_dft_loss", "use_eaft_loss", "use_asft_loss") if getattr(f, key)]
    if len(chosen) > 1:
        problems.append(f"{' and '.join(chosen)} are alternative sft losses: set one")
    if f.use_asft_loss and f.asft_alpha < 0:
        problems.append(f"asft_alpha must be 0 or more, not {f.asft_alpha}")
    if f.use_eaft_loss and f.eaft_alpha < 0:
        problems.append(f"eaft_alpha must be 0 or more, not {f.eaft_alpha}")
    return problems


def _with_kl_penalty(finetuning) -> bool:
    return finetuning.beta > 0


def _unless_reference_free(finetuning) -> bool:
    return finetuning.pref_loss not in REFERENCE_FREE_LOSSES


STAGES: dict[str, Stage] = {stage.name: stage for stage in (
    Stage("pt", "continued pre-training on raw text", "tunefactory.train.pt:run_pt",
          examples="pretrain", packs_by_default=True, can_pack=True),
    Stage("sft", "supervised fine-tuning on prompts and answers", "tunefactory.train.sft:run_sft",
          examples="supervised", generation_examples="unsupervised", can_pack=True,
          own_keys=("predict_with_generate", "neat_packing", "train_on_prompt", "mask_history", "use_dft_loss",
                    "use_asft_loss", "use_eaft_loss"),
          reference=_with_asft_loss, rules=(_sft_predicts_by_generating, _one_sft_loss)),
    Stage("rm", "reward modelling on ranked pairs", "tunefactory.train.rm:run_rm",
          examples="pairwise", ranked_data=True, value_head=True, scores=True,
          plot_keys=("loss", "eval_loss", "eval_accuracy"), rules=(_no_best_model_reload,)),
    Stage("ppo", "PPO against a reward model", "tunefactory.train.ppo:run_ppo",
          examples="unsupervised", value_head=True, reward_model=True, reference=_always,
          plot_keys=("loss", "reward"), rules=(_no_best_model_reload, _ppo_needs_a_reward), trainer_optimizer=False,
          preflight="tunefactory.train.ppo:ppo_problems"),
    Stage("dpo", "preference optimisation on ranked pairs: DPO, IPO, hinge, ORPO, SimPO",
          "tunefactory.train.dpo:run_dpo", examples="pairwise", ranked_data=True, reference=_unless_reference_free,
          own_keys=("ld_alpha",), plot_keys=("loss", "rewards/accuracies", "eval_loss"), rules=(_dpo_loss_settings,),
          log_keys=("rewards/margins",)),
    Stage("kto", "KTO on answers labelled desirable or undesirable", "tunefactory.train.kto:run_kto",
          examples="feedback", kto_tags=True, reference=_always, plot_keys=("loss", "rewards/chosen", "eval_loss")),
    Stage("grpo", "GRPO (TRL): online RL on sampled answers scored by reward functions or models",
          "tunefactory.train.grpo:run_grpo", examples="unsupervised", reference=_with_kl_penalty,
          own_keys=GRPO_KEYS, plot_keys=("loss", "reward", "kl", "completions/mean_length"),
          rules=(_no_best_model_reload, _grpo_settings), preflight="tunefactory.train.rewards:reward_problems",
          log_keys=("reward_std", "rewards/", "completions/mean_length", "completions/clipped_ratio", "kl",
                    "clip_ratio/region_mean", "entropy", "frac_reward_zero_std"),
          # a group whose completions all score the same has no advantage, so no loss
          zero_loss_is_normal=True, trainer_optimizer=False),
)}
STAGE_NAMES = tuple(STAGES)


def get_stage(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"no stage {name!r}; the stages are {', '.join(STAGES)}") from None


def stages_help() -> str:
    return "Training stage: " + "; ".join(f"{stage.name} ({stage.summary})" for stage in STAGES.values()) + "."
