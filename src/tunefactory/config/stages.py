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


def _always(finetuning) -> bool:
    return True


def _unless_reference_free(finetuning) -> bool:
    return finetuning.pref_loss not in REFERENCE_FREE_LOSSES


STAGES: dict[str, Stage] = {stage.name: stage for stage in (
    Stage("pt", "continued pre-training on raw text", "tunefactory.train.pt:run_pt",
          examples="pretrain", packs_by_default=True, can_pack=True),
    Stage("sft", "supervised fine-tuning on prompts and answers", "tunefactory.train.sft:run_sft",
          examples="supervised", generation_examples="unsupervised", can_pack=True,
          own_keys=("predict_with_generate", "neat_packing", "train_on_prompt", "mask_history"),
          rules=(_sft_predicts_by_generating,)),
    Stage("rm", "reward modelling on ranked pairs", "tunefactory.train.rm:run_rm",
          examples="pairwise", ranked_data=True, value_head=True, scores=True,
          plot_keys=("loss", "eval_loss", "eval_accuracy"), rules=(_no_best_model_reload,)),
    Stage("ppo", "PPO against a reward model", "tunefactory.train.ppo:run_ppo",
          examples="unsupervised", value_head=True, reward_model=True, reference=_always,
          plot_keys=("loss", "reward"), rules=(_no_best_model_reload, _ppo_needs_a_reward),
          preflight="tunefactory.train.ppo:ppo_problems"),
    Stage("dpo", "preference optimisation on ranked pairs: DPO, IPO, hinge, ORPO, SimPO",
          "tunefactory.train.dpo:run_dpo", examples="pairwise", ranked_data=True, reference=_unless_reference_free,
          own_keys=("ld_alpha",), plot_keys=("loss", "rewards/accuracies", "eval_loss"), rules=(_dpo_loss_settings,)),
    Stage("kto", "KTO on answers labelled desirable or undesirable", "tunefactory.train.kto:run_kto",
          examples="feedback", kto_tags=True, reference=_always, plot_keys=("loss", "rewards/chosen", "eval_loss")),
)}
STAGE_NAMES = tuple(STAGES)


def get_stage(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"no stage {name!r}; the stages are {', '.join(STAGES)}") from None


def stages_help() -> str:
    return "Training stage: " + "; ".join(f"{stage.name} ({stage.summary})" for stage in STAGES.values()) + "."
