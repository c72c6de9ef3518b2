"""use_muon: Muon on the hidden matrices and AdamW on the rest, equal to the two torch optimizers run side by side;
use_adam_mini: the authors' Adam-mini on the whole model, with less state than AdamW."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunefactory.config.finetuning_args import FinetuningArguments
from tunefactory.train.optimizers import AdamMiniFactory, MuonWithAdamW, muon_parameter_ids, configure_optimizer


@pytest.fixture
def model(tiny_llama):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)


def batch_loss(model, seed: int):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, model.config.vocab_size, (2, 12), generator=generator)
    return model(input_ids=ids, labels=ids).loss


def trainer_groups(model):
    """The Trainer's two groups: weight decay on matrices, none on norms and biases."""
    decay = [p for n, p in model.named_parameters() if p.ndim == 2]
    rest = [p for n, p in model.named_parameters() if p.ndim != 2]
    return [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}]


def test_muon_takes_hidden_matrices_not_embeddings_heads_or_norms(model):
    chosen = {name for name, param in model.named_parameters() if id(param) in muon_parameter_ids(model)}
    assert "model.layers.0.self_attn.q_proj.weight" in chosen and "model.layers.0.mlp.down_proj.weight" in chosen
    assert not any("embed" in name or "lm_head" in name or "norm" in name for name in chosen)
    hidden = {n for n, p in model.named_parameters() if p.ndim == 2 and "embed" not in n and "lm_head" not in n}
    assert chosen == hidden


def test_steps_equal_torch_muon_and_adamw_side_by_side(model):
    reference = copy.deepcopy(model)
    ids = muon_parameter_ids(model)
    ours = MuonWithAdamW(trainer_groups(model), muon_params=ids, lr=0.02, betas=(0.9, 0.95), eps=1e-8)
    ref_ids = muon_parameter_ids(reference)
    ref_groups = trainer_groups(reference)
    torch_muon = torch.optim.Muon([{**g, "params": [p for p in g["params"] if id(p) in ref_ids]} for g in ref_groups
                                   if any(id(p) in ref_ids for p in g["params"])],
                                  lr=0.02, adjust_lr_fn="match_rms_adamw")
    torch_adamw = torch.optim.AdamW([{**g, "params": [p for p in g["params"] if id(p) not in ref_ids]}
                                     for g in ref_groups], lr=0.02, betas=(0.9, 0.95), eps=1e-8)
    before = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    for step in range(3):
        for optimizer, net in (([ours], model), ([torch_muon, torch_adamw], reference)):
            batch_loss(net, step).backward()
            for o in optimizer:
                o.step()
                o.zero_grad()
    for (name, ours_param), theirs in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(ours_param, theirs, atol=1e-6, rtol=0, msg=name)
    assert not torch.allclose(model.model.layers[0].self_attn.q_proj.weight, before)
    assert len(ours.param_groups) == 3  # decayed matrices (Muon), decayed embeddings/head (AdamW), the rest


def test_a_scheduler_drives_both_and_the_state_round_trips(model):
    ids = muon_parameter_ids(model)
    optimizer = MuonWithAdamW(trainer_groups(model), muon_params=ids, lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 ** step)
    batch_loss(model, 0).backward()
    optimizer.step()
    scheduler.step()
    assert {g["lr"] for g in optimizer.muon.param_groups} == {g["lr"] for g in optimizer.adamw.param_groups} == {0.05}
    state = optimizer.state_dict()
    clone = copy.deepcopy(model)
    resumed = MuonWithAdamW(trainer_groups(clone), muon_params=muon_parameter_ids(clone), lr=0.05)
    resumed.load_state_dict(copy.deepcopy(state))
    for net, opt in ((model, optimizer), (clone, resumed)):
        opt.zero_grad()
        batch_loss(net, 1).backward()
        opt.step()
    for ours, theirs in zip(model.parameters(), clone.parameters()):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="no matching muon part"):
        resumed.load_state_dict({"muon": None, "adamw": state["adamw"]})


def test_the_choice_follows_use_muon(model):
    from transformers import TrainingArguments

    training = TrainingArguments(output_dir="unused", learning_rate=3e-4, weight_decay=0.1, report_to="none")
    assert configure_optimizer(FinetuningArguments(), training, model) is None
    cls, kwargs = configure_optimizer(FinetuningArguments(use_muon=True), training, model)
    assert cls is MuonWithAdamW and kwargs["lr"] == 3e-4 and kwargs["weight_decay"] == 0.1
    assert kwargs["muon_params"] == muon_parameter_ids(model)


def state_numel(optimizer) -> int:
    return sum(v.numel() for state in optimizer.state.values() for v in state.values()
               if torch.is_tensor(v) and v.numel() > 1)


def test_adam_mini_keeps_about_half_of_adamws_state_and_learns(model):
    from transformers import TrainingArguments

    training = TrainingArguments(output_dir="unused", learning_rate=1e-2, report_to="none")
    factory, kwargs = configure_optimizer(FinetuningArguments(use_adam_mini=True), training, model)
    assert factory is AdamMiniFactory
    mini = factory()(model, **kwargs)
    assert type(mini).__name__ == "Adam_mini"
    reference = copy.deepcopy(model)
    adamw = torch.optim.AdamW(reference.parameters(), lr=1e-2)
    first = batch_loss(model, 0).item()
    for step in range(8):
        for optimizer, net in ((mini, model), (adamw, reference)):
            batch_loss(net, 0).backward()
            optimizer.step()
            optimizer.zero_grad()
    assert batch_loss(model, 0).item() < first - 1.0
    weights = sum(p.numel() for p in model.parameters())
    assert state_numel(adamw) == 2 * weights
    assert state_numel(mini) < 0.6 * state_numel(adamw)


def test_badam_trains_one_layer_at_a_time_and_its_checkpoint_resumes_the_schedule(model):
    from tunefactory.train.optimizers import BAdamFactory

    settings = FinetuningArguments(use_badam=True, badam_switch_interval=2, finetuning_type="full", badam_verbose=0)
    kwargs = {"finetuning": settings, "lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}

    def trainable_layers(net):
        return {int(n.split(".layers.")[1].split(".")[0]) for n, p in net.named_parameters()
                if p.requires_grad and ".layers." in n} | ({"other"} if any(
                    p.requires_grad for n, p in net.named_parameters() if ".layers." not in n) else set())

    optimizer = BAdamFactory()(model, **kwargs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
    seen = []
    for step in range(3):
        seen.append(trainable_layers(model))
        batch_loss(model, step).backward()
        optimizer.step()
        scheduler.step()
        model.zero_grad()
    # ascending, switching every 2 steps (the package counts the first block's steps from 1, so it switches after
    # step 1, 3, 5, ...); the embeddings and the head stay frozen
    assert seen == [{0}, {1}, {1}]
    state, weights = copy.deepcopy(optimizer.state_dict()), copy.deepcopy(model.state_dict())
    sched_state = scheduler.state_dict()
    clone = copy.deepcopy(model)
    clone.load_state_dict(weights)
    resumed = BAdamFactory()(clone, **kwargs)
    resumed_scheduler = torch.optim.lr_scheduler.LambdaLR(resumed, lambda step: 1.0 / (1 + step))
    resumed_scheduler.load_state_dict(sched_state)
    resumed.load_state_dict(copy.deepcopy(state))
    for net, opt, sched in ((model, optimizer, scheduler), (clone, resumed, resumed_scheduler)):
        for step in range(3, 6):
            batch_loss(net, step).backward()
            opt.step()
            sched.step()
            net.zero_grad()
    for ours, theirs in zip(model.parameters(), clone.parameters()):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="not saved by BAdam"):
        resumed.load_state_dict(state["base"])


def ratio_optimizer(model, **settings):
    from tunefactory.train.optimizers import BAdamFactory

    finetuning = FinetuningArguments(use_badam=True, badam_mode="ratio", finetuning_type="full", badam_verbose=0,
                                     **{"badam_update_ratio": 0.25, "badam_switch_interval": 2, **settings})
    return BAdamFactory()(model, finetuning=finetuning, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)


def ratio_steps(model, optimizer, steps):
    from tunefactory.train.optimizers import clip_sparse_gradients

    for step in steps:
        batch_loss(model, step).backward()
        clip_sparse_gradients(model.parameters(), 1.0)
        optimizer.step()
        model.zero_grad()


@pytest.mark.parametrize("mask_mode", ["adjacent", "scatter"])
def test_badam_ratio_updates_a_share_of_each_weight_and_its_checkpoint_resumes_the_masks(model, mask_mode):
    optimizer = ratio_optimizer(model, badam_mask_mode=mask_mode)
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    ratio_steps(model, optimizer, [0])
    # the package reseeds torch's global generator when it draws a scattered mask; ours leaves it alone
    assert torch.equal(torch.get_rng_state(), rng)
    weight = "model.layers.0.mlp.up_proj.weight"
    changed = (model.state_dict()[weight] != before[weight]).float().mean().item()
    assert changed == pytest.approx(0.25, abs=0.01)  # one step: exactly the masked quarter moved
    assert torch.equal(model.state_dict()["model.embed_tokens.weight"], before["model.embed_tokens.weight"])
    assert all(grad is None for grad in (p.grad for p in model.parameters()))
    ratio_steps(model, optimizer, [1, 2])  # past a switch: other entries
    moved = (model.state_dict()[weight] != before[weight]).float().mean().item()
    if mask_mode == "adjacent":  # the next quarter of the entries
        assert moved == pytest.approx(0.5, abs=0.02)
    else:  # other random entries (weights of one shape share the mask, drawn from one of their seeds)
        assert 0.4 < moved < 0.9

    state, weights = copy.deepcopy(optimizer.state_dict()), copy.deepcopy(model.state_dict())
    clone = copy.deepcopy(model)
    clone.load_state_dict(weights)
    torch.manual_seed(123)  # another generator state at construction: the seeds come from the checkpoint
    resumed = ratio_optimizer(clone, badam_mask_mode=mask_mode)
    resumed.load_state_dict(copy.deepcopy(state))
    ratio_steps(model, optimizer, range(3, 7))
    ratio_steps(clone, resumed, range(3, 7))
    for ours, theirs in zip(model.parameters(), clone.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="not saved by BAdam's ratio mode"):
        resumed.load_state_dict({"state": {}, "param_groups": state["param_groups"]})


def test_sparse_gradient_norm_equals_the_dense_norm_and_clips_the_same():
    from tunefactory.train.optimizers import clip_sparse_gradients

    torch.manual_seed(0)
    dense = [torch.nn.Parameter(torch.randn(6, 4)), torch.nn.Parameter(torch.randn(5))]
    sparse = [torch.nn.Parameter(p.detach().clone()) for p in dense]
    for d, s in zip(dense, sparse, strict=True):
        d.grad = torch.randn_like(d) * (torch.rand_like(d) < 0.3)
        s.grad = d.grad.clone().to_sparse() if d.ndim == 2 else d.grad.clone()
    expected = torch.nn.utils.clip_grad_norm_(dense, 0.5)
    assert torch.allclose(clip_sparse_gradients(sparse, 0.5), expected)
    for d, s in zip(dense, sparse, strict=True):
        assert torch.allclose(s.grad.to_dense(), d.grad, atol=1e-6)
