"""Optimizers beyond the Trainer's own (`optim`), chosen by LLaMA-Factory's one-key switches.

    use_muon   Muon (torch.optim.Muon: momentum orthogonalised by Newton-Schulz) on the hidden 2-D weight
               matrices, AdamW on everything else (embeddings, the output head, norms, biases), as
               LLaMA-Factory splits them; learning rates scaled to match AdamW's update size
               (``adjust_lr_fn="match_rms_adamw"``, Moonlight's rule, which LLaMA-Factory's copy applies)
    use_adam_mini  Adam-mini (the authors' ``adam-mini`` package): Adam with one second-moment value per block
               (per attention head, per output neuron) instead of per weight, so about half of AdamW's state
    use_badam      BAdam (the authors' ``badam`` package). Layer mode: AdamW on one decoder layer at a time, switching
                   every ``badam_switch_interval`` steps, with a float32 copy of that layer only; its block position
                   is saved in checkpoints, so a resumed run continues on the same block (`ResumableBlockOptimizer`).
                   Ratio mode: sparse Adam on a ``badam_update_ratio`` share of every weight's entries (gradients
                   masked to sparse tensors as they are accumulated), the share moving every
                   ``badam_switch_interval`` steps; its masks' positions are saved (`ResumableRatioOptimizer`)
    use_galore     GaLore (``galore-torch``) and APOLLO (``apollo-torch``) on the chosen linear layers' weights,
    use_apollo     AdamW on the rest, through transformers' own ``optim`` integration (``galore_adamw``,
                   ``apollo_adamw``, their ``_layerwise`` forms, GaLore's 8-bit and Adafactor kinds), which also
                   runs the layer-wise mode (each weight stepped as its gradient is ready)

The Trainer builds the optimizer itself from ``optimizer_cls_and_kwargs`` when training starts, after the
model is placed, with its usual weight-decay groups; checkpoints save and restore it like any optimizer.
"""

from __future__ import annotations

import logging
import sys

import torch

logger = logging.getLogger(__name__)

# parameter names LLaMA-Factory keeps out of Muon (embeddings and output heads), plus our value and score heads
NON_MUON_NAMES = ("embed", "lm_head", "v_head", "score", "output_layer", "wte", "wpe")


class MuonWithAdamW(torch.optim.Optimizer):
    """Muon on the parameters in ``muon_params`` (ids of 2-D tensors), AdamW on the rest, as one optimizer: one
    ``param_groups`` list (the same group dicts the two inner optimizers hold, so a scheduler drives both) and
    one state dict."""

    def __init__(self, params, *, muon_params: frozenset, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.95):
        groups = [dict(group) if isinstance(group, dict) else {"params": [group]} for group in _as_groups(params)]
        muon_groups, adamw_groups = [], []
        for group in groups:
            members = list(group["params"])
            muon = [p for p in members if id(p) in muon_params]
            other = [p for p in members if id(p) not in muon_params]
            if muon:
                muon_groups.append({**group, "params": muon})
            if other:
                adamw_groups.append({**group, "params": other})
        self.muon = torch.optim.Muon(muon_groups, lr=lr, weight_decay=weight_decay, momentum=momentum,
                                     nesterov=True, adjust_lr_fn="match_rms_adamw") if muon_groups else None
        self.adamw = torch.optim.AdamW(adamw_groups, lr=lr, betas=betas, eps=eps,
                                       weight_decay=weight_decay) if adamw_groups else None
        inner_groups = [group for optimizer in self._inner() for group in optimizer.param_groups]
        super().__init__(inner_groups, {"lr": lr})

    def _inner(self) -> list[torch.optim.Optimizer]:
        return [optimizer for optimizer in (self.muon, self.adamw) if optimizer is not None]

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for optimizer in self._inner():
            optimizer.step()
        return loss

    def state_dict(self) -> dict:
        return {"muon": self.muon.state_dict() if self.muon else None,
                "adamw": self.adamw.state_dict() if self.adamw else None}

    def load_state_dict(self, state_dict: dict) -> None:
        for name in ("muon", "adamw"):
            optimizer = getattr(self, name)
            if (optimizer is None) != (state_dict.get(name) is None):
                raise ValueError(f"this checkpoint's optimizer state has no matching {name} part: it was saved by "
                                 "another optimizer or model")
            if optimizer is not None:
                optimizer.load_state_dict(state_dict[name])


def _as_groups(params) -> list:
    params = list(params)
    return params if params and isinstance(params[0], dict) else [{"params": params}]


def muon_parameter_ids(model) -> frozenset:
    """The trainable 2-D weights Muon updates: every matrix but the embeddings and output heads."""
    chosen = [param for name, param in model.named_parameters()
              if param.requires_grad and param.ndim == 2 and not any(part in name for part in NON_MUON_NAMES)]
    return frozenset(id(param) for param in chosen)


class AdamMiniFactory:
    """Builds Adam-mini from the whole model (it reads parameter names to find its blocks): the Trainer calls
    ``AdamMiniFactory()(model, **kwargs)`` for a factory in ``optimizer_cls_and_kwargs``."""

    def __call__(self, model, **kwargs):
        from adam_mini import Adam_mini

        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        heads = config.num_attention_heads
        return Adam_mini(named_parameters=list(model.named_parameters()), dim=config.hidden_size, n_heads=heads,
                         n_kv_heads=getattr(config, "num_key_value_heads", None) or heads, verbose=False, **kwargs)


class BAdamFactory:
    """Builds BAdam's block optimizer from the whole model (it reads parameter names): layer-wise around AdamW, or
    ratio-wise (its own sparse Adam, which like LLaMA-Factory's has no weight decay)."""

    def __call__(self, model, *, finetuning, lr, betas, eps, weight_decay):
        named = list(model.named_parameters())
        decay = [p for n, p in named if p.ndim >= 2]
        rest = [p for n, p in named if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
        if finetuning.badam_mode == "ratio":
            if torch.distributed.is_available() and torch.distributed.is_initialized() \
                    and torch.distributed.get_world_size() > 1:
                raise ValueError("badam_mode: ratio trains in one process only (its sparse gradients are not "
                                 "reduced across processes); use badam_mode: layer")
            interval = finetuning.badam_switch_interval
            return _resumable_ratio_optimizer()(
                groups, named, update_ratio=finetuning.badam_update_ratio, mask_mode=finetuning.badam_mask_mode,
                switch_every=sys.maxsize if interval == -1 else interval, verbose=finetuning.badam_verbose,
                lr=lr, betas=betas, eps=eps)
        base = torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)
        return _resumable_block_optimizer()(
            base, named, switch_block_every=finetuning.badam_switch_interval, start_block=finetuning.badam_start_block,
            switch_mode=finetuning.badam_switch_mode or "ascending", verbose=finetuning.badam_verbose)


def _resumable_block_optimizer():
    from badam import BlockOptimizer

    class ResumableBlockOptimizer(BlockOptimizer):
        """BAdam's BlockOptimizer, whose checkpoints also hold its step count and block position (the package
        saves only the active block's Adam state, so a resumed run would restart the block schedule)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            del self.state_dict  # the package points it at the base optimizer's; ours adds the schedule

        def switch_trainable_params(self, verbose=1):
            self.active_block = self.current_block_idx  # the switch moves current_block_idx on to the next one
            super().switch_trainable_params(verbose)

        def state_dict(self) -> dict:
            return {"base": self.base_optimizer.state_dict(), "global_step": self.global_step,
                    "active_block": self.active_block, "block_order": list(getattr(self, "block_order", [])),
                    "lr": [group["lr"] for group in self.param_groups]}  # the scheduler's value, copied to the block

        def load_state_dict(self, state_dict: dict) -> None:
            if "active_block" not in state_dict:
                raise ValueError("this checkpoint's optimizer state was not saved by BAdam (use_badam)")
            self.global_step = state_dict["global_step"]
            for group, lr in zip(self.param_groups, state_dict["lr"], strict=True):
                group["lr"] = lr
            self.block_order = list(state_dict["block_order"])
            self.current_block_idx = state_dict["active_block"]
            self.switch_trainable_params(verbose=0)  # the same block, its float32 copy taken from the loaded weights
            self.base_optimizer.load_state_dict(state_dict["base"])

    return ResumableBlockOptimizer


def _resumable_ratio_optimizer():
    from badam import BlockOptimizerRatio

    class ResumableRatioOptimizer(BlockOptimizerRatio):
        """BAdam's ratio mode, changed in three ways:

        - its checkpoints also hold the step count and each weight's mask position and seed (the package saves
          only the Adam state of the chosen entries, so a resumed run would update other entries);
        - the scattered mask is drawn from the weight's own seed in a forked generator: the package reseeds torch's
          global generator on every backward pass, which would repeat the same dropout and sampling each step;
        - a model whose output head is its embedding matrix (tied, so no ``lm_head`` parameter) can use it."""

        @property
        def embedding_layer(self):
            return self._named_part("embed")

        @property
        def lm_head_layer(self):
            return self._named_part("lm_head")

        def _named_part(self, part: str):
            found = [param for name, param in self.named_parameters_list if part in name]
            return found[0] if found else torch.empty(0)  # a tied head: freezing the embeddings froze it

        def _generate_mask_scatter(self, param, ratio, offset):
            with torch.random.fork_rng(devices=[]):
                return super()._generate_mask_scatter(param, ratio, offset)

        def state_dict(self) -> dict:
            params = [param for _, param in self.named_parameters_list]
            state = super().state_dict()
            # plain dicts: the package empties a weight's state as a defaultdict, which weights-only loading refuses
            state["state"] = {index: dict(entry) for index, entry in state["state"].items()}
            return {**state, "badam_ratio": {
                "global_step": self.global_step, "offsets": [self.sparse_dict[p]["offset"] for p in params],
                "seeds": [self.sparse_dict[p]["seed"] for p in params]}}

        def load_state_dict(self, state_dict: dict) -> None:
            if "badam_ratio" not in state_dict:
                raise ValueError("this checkpoint's optimizer state was not saved by BAdam's ratio mode (use_badam, "
                                 "badam_mode: ratio)")
            schedule = state_dict["badam_ratio"]
            super().load_state_dict({key: value for key, value in state_dict.items() if key != "badam_ratio"})
            params = [param for _, param in self.named_parameters_list]
            if len(params) != len(schedule["offsets"]):
                raise ValueError("this checkpoint's BAdam masks belong to a model with another set of weights")
            self.global_step = schedule["global_step"]
            for param, offset, seed in zip(params, schedule["offsets"], schedule["seeds"], strict=True):
                self.sparse_dict[param].update(offset=offset, seed=seed)
            self.mask_dict.clear()  # the next backward pass draws each shape's mask again from these positions

    return ResumableRatioOptimizer


class SparseGradientNorm:
    """A mixin for the stage trainers: the gradient norm (and its clipping) when some gradients are sparse, as
    BAdam's ratio mode leaves them; torch's ``clip_grad_norm_`` cannot read sparse tensors."""

    def _clip_grad_norm(self, model):
        if not _has_sparse_gradients(model):
            return super()._clip_grad_norm(model)
        return clip_sparse_gradients(model.parameters(), self.args.max_grad_norm)

    def _get_grad_norm(self, model, grad_norm=None):
        if grad_norm is None and _has_sparse_gradients(model):
            grad_norm = clip_sparse_gradients(model.parameters(), float("inf"))
        return super()._get_grad_norm(model, grad_norm)


def _has_sparse_gradients(model) -> bool:
    return any(param.grad is not None and param.grad.is_sparse for param in model.parameters())


@torch.no_grad()
def clip_sparse_gradients(parameters, max_norm: float) -> torch.Tensor:
    """The 2-norm of all gradients together, dense or sparse; scaled down to ``max_norm`` when above it."""
    grads = [param.grad for param in parameters if param.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = [torch.linalg.vector_norm(grad.coalesce().values() if grad.is_sparse else grad) for grad in grads]
    total = torch.linalg.vector_norm(torch.stack(norms))
    if max_norm != float("inf"):
        scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        for grad in grads:
            grad.mul_(scale)
    return total


def configure_optimizer(finetuning, training, model) -> tuple[type, dict] | None:
    """``(optimizer class or factory, its keyword arguments)`` for the Trainer's ``optimizer_cls_and_kwargs``, or
    None for the Trainer's own choice (``optim``), which GaLore and APOLLO set here (logged)."""
    if finetuning.use_galore or finetuning.use_apollo:
        _use_low_rank_optim(finetuning, training, model)
        return None
    adam = {"lr": training.learning_rate, "betas": (training.adam_beta1, training.adam_beta2),
            "eps": training.adam_epsilon, "weight_decay": training.weight_decay}
    if finetuning.use_badam:
        if finetuning.badam_mode == "ratio":
            logger.info("optimizer: BAdam, sparse Adam on %s of each weight's entries (%s, moving every %s steps)",
                        finetuning.badam_update_ratio, finetuning.badam_mask_mode, finetuning.badam_switch_interval)
        else:
            logger.info("optimizer: BAdam, one decoder layer at a time (%s, switching every %s steps)",
                        finetuning.badam_switch_mode, finetuning.badam_switch_interval)
        return BAdamFactory, {**adam, "finetuning": finetuning}
    if finetuning.use_adam_mini:
        logger.info("optimizer: Adam-mini (one second-moment value per parameter block)")
        return AdamMiniFactory, {**adam, "model_sharding": _sharded(training)}
    if not finetuning.use_muon:
        return None
    muon = muon_parameter_ids(model)
    others = sum(1 for param in model.parameters() if param.requires_grad and id(param) not in muon)
    logger.info("optimizer: Muon on %d weight matrices, AdamW on the other %d trainable tensors", len(muon), others)
    return MuonWithAdamW, {"muon_params": muon, **adam}


def _sharded(training) -> bool:
    """Parameters split across processes (FSDP, DeepSpeed ZeRO-3): Adam-mini must then gather its block sizes."""
    return bool(getattr(training, "fsdp", None)) or "zero3" in str(getattr(training, "deepspeed", "") or "")


def _use_low_rank_optim(finetuning, training, model) -> None:
    from transformers.training_args import OptimizerNames

    from ..config.finetuning_args import low_rank_optim
    from ..model.adapters import all_linear_modules

    if finetuning.use_galore:
        targets = finetuning.galore_target
        args = {"rank": finetuning.galore_rank, "update_proj_gap": finetuning.galore_update_interval,
                "scale": finetuning.galore_scale, "proj_type": finetuning.galore_proj_type}
    else:
        targets = finetuning.apollo_target
        args = {"rank": finetuning.apollo_rank, "proj": finetuning.apollo_proj,
                "scale_type": finetuning.apollo_scale_type, "update_proj_gap": finetuning.apollo_update_interval,
                "scale": finetuning.apollo_scale, "proj_type": finetuning.apollo_proj_type}
    name = low_rank_optim(finetuning, training.optim)
    _allow_projectors_in_checkpoints()
    if training.optim_args:
        logger.warning("optim_args %r replaced by the %s settings", training.optim_args, name.split("_")[0])
    training.optim = OptimizerNames(name)
    training.optim_target_modules = all_linear_modules(model) if list(targets) == ["all"] else list(targets)
    training.optim_args = ",".join(f"{key}={value}" for key, value in args.items())
    logger.info("optimizer: %s on %s (%s)", name, ", ".join(training.optim_target_modules), training.optim_args)


def _allow_projectors_in_checkpoints() -> None:
    """GaLore's and APOLLO's optimizer state holds their projector objects; resuming loads `optimizer.pt` with
    ``weights_only=True``, which refuses any class not allowed by name. Allow exactly these."""
    import importlib

    allowed = []
    for module, name in (("galore_torch.galore_projector", "GaLoreProjector"),
                         ("apollo_torch.random_projector", "GradientProjector"),
                         ("apollo_torch.svd_projector", "GaLoreProjector")):
        try:
            allowed.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):  # another release of the package: resuming will say what it lacks
            continue
    torch.serialization.add_safe_globals(allowed)
