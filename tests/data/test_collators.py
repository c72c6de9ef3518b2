"""Collators: padding, the block-causal mask of neat packing, and loss parity packed vs alone.

The parity tests run the tiny offline models: every supervised token of a neat-packed row must get
the loss it gets when its example runs alone (batch of one, no padding), for eager (4D additive
float mask), sdpa (4D boolean mask) and the flash format (one row, no mask, restarting
``position_ids`` read by transformers' packed-sequence detection).
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from tunefactory.data.collators import (
    KTOCollator,
    PairwiseCollator,
    SFTCollator,
    attention_mask_for,
    block_causal_mask,
    build_collator,
    pad_column,
)
from tunefactory.data.processors.common import IGNORE_INDEX
from tunefactory.data.processors.packing import SequencePacker

LENGTHS = (7, 12, 5, 9)
PROMPT_LEN = 3  # the first tokens of every example are masked like a prompt
ATOL_LOSS = 1e-5
ATOL_ISOLATION = 1e-6


# --------------------------------------------------------------------------- helpers


@functools.cache
def load_tokenizer(path: str):
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:  # tiny llama ships no pad token
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@functools.cache
def load_model(path: str, attn_implementation: str):
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation=attn_implementation, dtype=torch.float32)
    return model.eval()


def make_examples(path: str, lengths=LENGTHS, seed: int = 0) -> list[dict[str, list[int]]]:
    """Random ordinary (non-special) token ids; labels = ids with the first PROMPT_LEN masked."""
    tokenizer = load_tokenizer(path)
    special = set(tokenizer.all_special_ids)
    pool = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
    generator = torch.Generator().manual_seed(seed)
    examples = []
    for length in lengths:
        ids = pool[torch.randint(len(pool), (length,), generator=generator)].tolist()
        examples.append({"input_ids": ids, "labels": [IGNORE_INDEX] * PROMPT_LEN + ids[PROMPT_LEN:]})
    return examples


def pack(examples, cutoff_len: int) -> list[dict[str, list[int]]]:
    packed = SequencePacker(cutoff_len=cutoff_len, neat=True)(
        {"input_ids": [e["input_ids"] for e in examples], "labels": [e["labels"] for e in examples]}
    )
    return [dict(zip(packed, values, strict=True)) for values in zip(*packed.values(), strict=True)]


def locate(examples, rows) -> list[tuple[int, int]]:
    """(row, offset) of every example in the packed rows, found from the restarting position_ids."""
    where: list[tuple[int, int] | None] = [None] * len(examples)
    for r, row in enumerate(rows):
        starts = [i for i, p in enumerate(row["position_ids"]) if p == 0] + [len(row["input_ids"])]
        for start, end in zip(starts, starts[1:], strict=False):
            segment = row["input_ids"][start:end]
            matches = [k for k, e in enumerate(examples) if e["input_ids"] == segment]
            assert len(matches) == 1, "examples must be distinct to map tokens"
            where[matches[0]] = (r, start)
    assert all(w is not None for w in where), "every example is packed exactly once"
    return where  # type: ignore[return-value]


def token_losses(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token losses ``[batch, seq]`` aligned with the labels (index t: the loss of predicting label t;
    column 0 is NaN: nothing predicts the first token), and the logits."""
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "position_ids")}
    if "attention_mask" not in batch:
        inputs["attention_mask"] = None
    # use_cache=False as in training: with a cache (the eval-mode default) transformers skips its packed-sequence
    # detection, and a flash-format batch on a non-flash model would let examples see each other.
    with torch.no_grad():
        logits = model(**inputs, use_cache=False).logits.float()
    labels = batch["labels"]
    losses = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
        ignore_index=IGNORE_INDEX, reduction="none",
    ).view(labels.shape[0], -1)
    nan = torch.full((labels.shape[0], 1), float("nan"))
    return torch.cat([nan, losses], dim=1), logits


def alone_losses(model, example) -> torch.Tensor:
    batch = {"input_ids": torch.tensor([example["input_ids"]]), "labels": torch.tensor([example["labels"]])}
    return token_losses(model, batch)[0][0]


def max_parity_gap(model, examples, rows, batch) -> float:
    """Check every supervised token of every example against its loss alone; return the largest gap."""
    packed, _ = token_losses(model, batch)
    gap, checked = 0.0, 0
    for example, (r, offset) in zip(examples, locate(examples, rows), strict=True):
        alone = alone_losses(model, example)
        n = len(example["input_ids"])
        assert batch["labels"][r, offset] == IGNORE_INDEX  # the packer masks each example's first label
        assert batch["labels"][r, offset + 1: offset + n].tolist() == example["labels"][1:]
        for j in range(1, n):
            if example["labels"][j] == IGNORE_INDEX:
                continue
            a, p = alone[j].item(), packed[r, offset + j].item()
            assert p == pytest.approx(a, abs=ATOL_LOSS), (r, offset, j)
            gap, checked = max(gap, abs(p - a)), checked + 1
    assert checked == sum(n - PROMPT_LEN for n in LENGTHS)
    return gap


MODELS = ["tiny_llama", "tiny_qwen2"]


@pytest.fixture(params=MODELS)
def model_path(request) -> str:
    return str(request.getfixturevalue(request.param))


@pytest.fixture
def qwen_tokenizer(tiny_qwen2):
    return load_tokenizer(str(tiny_qwen2))


# --------------------------------------------------------------------------- padding


def test_right_padding_to_the_longest_row(qwen_tokenizer):
    pad = qwen_tokenizer.pad_token_id
    batch = SFTCollator(qwen_tokenizer)([
        {"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},
        {"input_ids": [8, 9, 10, 11, 12], "labels": [-100, -100, 10, 11, 12]},
    ])
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].tolist() == [[5, 6, 7, pad, pad], [8, 9, 10, 11, 12]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [[-100, 6, 7, -100, -100], [-100, -100, 10, 11, 12]]
    assert all(t.dtype == torch.long for t in batch.values())


def test_label_pad_token_id_and_multiple_of_8(qwen_tokenizer):
    pad = qwen_tokenizer.pad_token_id
    batch = SFTCollator(qwen_tokenizer, pad_to_multiple_of=8, label_pad_token_id=pad)([
        {"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},
        {"input_ids": list(range(20, 29)), "labels": list(range(20, 29))},
    ])
    assert batch["input_ids"].shape == batch["labels"].shape == (2, 16)
    assert batch["input_ids"][0].tolist() == [5, 6, 7] + [pad] * 13
    assert batch["attention_mask"].sum(1).tolist() == [3, 9]
    assert batch["labels"][0].tolist() == [-100, 6, 7] + [pad] * 13
    assert batch["labels"][1].tolist() == list(range(20, 29)) + [pad] * 7
    exact = SFTCollator(qwen_tokenizer, pad_to_multiple_of=8)([{"input_ids": list(range(8)), "labels": list(range(8))}])
    assert exact["input_ids"].shape == (1, 8)  # already a multiple: no extra padding


def test_left_padding(qwen_tokenizer):
    pad = qwen_tokenizer.pad_token_id
    batch = SFTCollator(qwen_tokenizer, padding_side="left")([
        {"input_ids": [5, 6], "labels": [-100, 6]},
        {"input_ids": [8, 9, 10, 11], "labels": [8, 9, 10, 11]},
    ])
    assert batch["input_ids"].tolist() == [[pad, pad, 5, 6], [8, 9, 10, 11]]
    assert batch["attention_mask"].tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]
    assert batch["labels"].tolist() == [[-100, -100, -100, 6], [8, 9, 10, 11]]


def test_padding_side_defaults_to_the_tokenizers(qwen_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(qwen_tokenizer.name_or_path, padding_side="left")
    batch = SFTCollator(tokenizer)([{"input_ids": [5], "labels": [5]}, {"input_ids": [6, 7], "labels": [6, 7]}])
    assert batch["attention_mask"].tolist() == [[0, 1], [1, 1]]


def test_prediction_references_pad_to_their_own_length(qwen_tokenizer):
    pad = qwen_tokenizer.pad_token_id
    features = [{"input_ids": [5, 6, 7, 8], "labels": [30]}, {"input_ids": [9, 10], "labels": [31, 32, 33]}]
    batch = SFTCollator(qwen_tokenizer, padding_side="left")(features)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8], [pad, pad, 9, 10]]
    assert batch["labels"].tolist() == [[-100, -100, 30], [31, 32, 33]]
    batch = SFTCollator(qwen_tokenizer, pad_to_multiple_of=8)(features)
    assert batch["input_ids"].shape == (2, 8) and batch["labels"].shape == (2, 8)
    assert batch["labels"][1, :3].tolist() == [31, 32, 33]


def test_pad_column_left_right_and_empty_rows():
    assert pad_column([[1, 2], [], [3]], 0, 3).tolist() == [[1, 2, 0], [0, 0, 0], [3, 0, 0]]
    assert pad_column([[1, 2], [], [3]], 0, 3, side="left").tolist() == [[0, 1, 2], [0, 0, 0], [0, 0, 3]]


# --------------------------------------------------------------------------- the block-causal mask

HAND_POSITIONS = torch.tensor([[0, 1, 0, 1, 2, 0]])
HAND_MASK = torch.tensor([[1, 1, 1, 1, 1, 0]])
# Two examples (tokens 0-1 and 2-4) and one padding token (5).
HAND_EXPECTED = torch.tensor([
    [1, 0, 0, 0, 0, 0],
    [1, 1, 0, 0, 0, 0],
    [0, 0, 1, 0, 0, 0],
    [0, 0, 1, 1, 0, 0],
    [0, 0, 1, 1, 1, 0],
    [0, 0, 0, 0, 0, 1],  # the padding token attends only to itself
], dtype=torch.bool)


def test_block_causal_mask_hand_example_real_tokens():
    mask = block_causal_mask(HAND_POSITIONS, HAND_MASK)
    assert mask.shape == (1, 1, 6, 6) and mask.dtype == torch.bool
    assert torch.equal(mask[0, 0, :5], HAND_EXPECTED[:5])  # real queries: own example, causal, never a pad key
    assert mask[0, 0, 5, 5]  # the pad query attends to itself: no all-masked softmax row


def test_block_causal_mask_hand_example_exact():
    assert torch.equal(block_causal_mask(HAND_POSITIONS, HAND_MASK)[0, 0], HAND_EXPECTED)


def test_block_causal_mask_left_padding_isolates_pads():
    positions = torch.tensor([[0, 1, 0, 1, 0, 1, 2]])  # two pads (positions 0, 1), then examples of 2 and 3
    attention = torch.tensor([[0, 0, 1, 1, 1, 1, 1]])
    mask = block_causal_mask(positions, attention)[0, 0]
    expected = torch.zeros(7, 7, dtype=torch.bool)
    expected[0, 0] = expected[1, 1] = True
    expected[2:4, 2:4] = torch.tril(torch.ones(2, 2, dtype=torch.bool))
    expected[4:7, 4:7] = torch.tril(torch.ones(3, 3, dtype=torch.bool))
    assert torch.equal(mask, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_attention_mask_for_eager_is_additive_in_the_compute_dtype(dtype):
    mask = block_causal_mask(HAND_POSITIONS, HAND_MASK)
    additive = attention_mask_for(mask, "eager", dtype)
    assert additive.dtype == dtype and additive.shape == mask.shape
    assert torch.all(additive[mask] == 0)
    assert torch.all(additive[~mask] == torch.finfo(dtype).min)
    assert attention_mask_for(mask, "sdpa", dtype) is mask


def test_collator_builds_the_mask_per_implementation(qwen_tokenizer):
    rows = [{"input_ids": [5, 6, 7, 8, 9], "labels": [-100, 6, -100, 8, 9], "position_ids": [0, 1, 0, 1, 2]},
            {"input_ids": [10, 11, 12], "labels": [-100, 11, 12], "position_ids": [0, 1, 2]}]
    sdpa = SFTCollator(qwen_tokenizer, attn_implementation="sdpa")(rows)
    assert sdpa["attention_mask"].shape == (2, 1, 5, 5) and sdpa["attention_mask"].dtype == torch.bool
    assert sdpa["position_ids"].tolist() == [[0, 1, 0, 1, 2], [0, 1, 2, 0, 1]]  # padding: a run from 0
    assert torch.equal(sdpa["attention_mask"][0, 0], block_causal_mask(torch.tensor([[0, 1, 0, 1, 2]]),
                                                                       torch.ones(1, 5, dtype=torch.long))[0, 0])
    eager = SFTCollator(qwen_tokenizer, attn_implementation="eager", compute_dtype=torch.bfloat16)(rows)
    assert eager["attention_mask"].dtype == torch.bfloat16
    assert torch.equal(eager["attention_mask"] == 0, sdpa["attention_mask"])


@pytest.mark.parametrize("impl", ["eager", "sdpa", "flash_attention_2"])
def test_rows_without_position_ids_keep_a_2d_mask(qwen_tokenizer, impl):
    batch = SFTCollator(qwen_tokenizer, attn_implementation=impl)([
        {"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8], "labels": [8]}])
    assert "position_ids" not in batch
    assert batch["attention_mask"].dtype == torch.long
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["input_ids"].shape == (2, 3)


# --------------------------------------------------------------------------- neat packing parity


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_neat_packing_one_row_matches_examples_alone(model_path, impl, request):
    examples = make_examples(model_path)
    rows = pack(examples, cutoff_len=64)
    assert len(rows) == 1 and len(rows[0]["input_ids"]) == sum(LENGTHS)
    batch = SFTCollator(load_tokenizer(model_path), attn_implementation=impl)(rows)
    assert batch["attention_mask"].dim() == 4
    gap = max_parity_gap(load_model(model_path, impl), examples, rows, batch)
    print(f"\nmax |packed - alone| {request.node.callspec.id} one row: {gap:.3g}")


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_neat_packing_two_padded_rows_match_examples_alone(model_path, impl, request):
    examples = make_examples(model_path)
    rows = pack(examples, cutoff_len=20)  # best fit decreasing: [12, 7] and [9, 5]
    assert sorted(len(r["input_ids"]) for r in rows) == [14, 19]
    batch = SFTCollator(load_tokenizer(model_path), pad_to_multiple_of=8, attn_implementation=impl)(rows)
    assert batch["input_ids"].shape == (2, 24)
    assert (batch["labels"][:, 19:] == IGNORE_INDEX).all()
    gap = max_parity_gap(load_model(model_path, impl), examples, rows, batch)
    print(f"\nmax |packed - alone| {request.node.callspec.id} two padded rows: {gap:.3g}")


def test_plain_packing_would_fail_the_parity_check(model_path):
    """Control: the same rows with only a 2D mask (examples see each other) break parity, so the check has teeth."""
    path = model_path
    examples = make_examples(path)
    rows = [{k: v for k, v in row.items() if k != "position_ids"} for row in pack(examples, cutoff_len=64)]
    batch = SFTCollator(load_tokenizer(path))(rows)
    model = load_model(path, "sdpa")
    packed, _ = token_losses(model, batch)
    where = locate(examples, pack(examples, cutoff_len=64))
    gaps = [(packed[r, o + j] - alone_losses(model, e)[j]).abs().item()
            for e, (r, o) in zip(examples, where, strict=True) if o > 0
            for j in range(PROMPT_LEN, len(e["input_ids"]))]
    assert max(gaps) > 100 * ATOL_LOSS


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_packed_examples_do_not_see_each_other(model_path, impl):
    examples = make_examples(model_path)
    tokenizer = load_tokenizer(model_path)
    model = load_model(model_path, impl)
    victim = 1
    perturbed = [dict(e) for e in examples]
    special = set(tokenizer.all_special_ids)
    pool = [i for i in range(len(tokenizer)) if i not in special]
    changed = [pool[(pool.index(t) + 17) % len(pool)] for t in examples[victim]["input_ids"]]
    assert all(a != b for a, b in zip(changed, examples[victim]["input_ids"], strict=True))
    perturbed[victim] = {"input_ids": changed, "labels": [IGNORE_INDEX] * PROMPT_LEN + changed[PROMPT_LEN:]}

    rows, rows_p = pack(examples, 64), pack(perturbed, 64)
    where, where_p = locate(examples, rows), locate(perturbed, rows_p)
    assert where == where_p  # same layout: only the victim's tokens differ
    collate = SFTCollator(tokenizer, attn_implementation=impl)
    _, logits = token_losses(model, collate(rows))
    _, logits_p = token_losses(model, collate(rows_p))
    for k, (example, (r, o)) in enumerate(zip(examples, where, strict=True)):
        span = slice(o, o + len(example["input_ids"]))
        diff = (logits[r, span] - logits_p[r, span]).abs().max().item()
        if k == victim:
            assert diff > 1e-3
        else:
            assert diff <= ATOL_ISOLATION, (k, diff)


# --------------------------------------------------------------------------- the flash format


@pytest.mark.parametrize("side", ["right", "left"])
def test_flash_format_is_one_unpadded_row(tiny_qwen2, side):
    path = str(tiny_qwen2)
    tokenizer = load_tokenizer(path)
    examples = make_examples(path)
    rows = pack(examples, cutoff_len=20)
    collate = SFTCollator(tokenizer, pad_to_multiple_of=8, padding_side=side, attn_implementation="flash_attention_2")
    batch = collate(rows)
    assert set(batch) == {"input_ids", "labels", "position_ids"}  # no attention_mask
    total = sum(LENGTHS)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["position_ids"].shape == (1, total)
    assert tokenizer.pad_token_id not in batch["input_ids"][0].tolist()
    assert batch["input_ids"][0].tolist() == [t for row in rows for t in row["input_ids"]]
    assert batch["labels"][0].tolist() == [t for row in rows for t in row["labels"]]
    positions = batch["position_ids"][0].tolist()
    starts = [i for i, p in enumerate(positions) if p == 0]
    lengths = [b - a for a, b in zip(starts, [*starts[1:], total], strict=True)]
    assert sorted(lengths) == sorted(LENGTHS)
    assert positions == [p for n in lengths for p in range(n)]


def test_flash_attention_3_also_concatenates(qwen_tokenizer):
    rows = [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "position_ids": [0, 1, 0]},
            {"input_ids": [8], "labels": [-100], "position_ids": [0]}]
    batch = SFTCollator(qwen_tokenizer, attn_implementation="flash_attention_3")(rows)
    assert "attention_mask" not in batch
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8]] and batch["position_ids"].tolist() == [[0, 1, 0, 0]]


def test_flash_format_batch_runs_packed_on_sdpa(model_path, request):
    """transformers reads packed sequences from position_ids when attention_mask is None (and no cache)."""
    examples = make_examples(model_path)
    rows = pack(examples, cutoff_len=20)
    batch = SFTCollator(load_tokenizer(model_path), attn_implementation="flash_attention_2")(rows)
    flat_rows = [{"input_ids": batch["input_ids"][0].tolist(), "position_ids": batch["position_ids"][0].tolist()}]
    gap = max_parity_gap(load_model(model_path, "sdpa"), examples, flat_rows, batch)
    print(f"\nmax |packed - alone| {request.node.callspec.id} flash format on sdpa: {gap:.3g}")


# --------------------------------------------------------------------------- pairwise, kto, build_collator


def test_pairwise_collator_chosen_then_rejected(qwen_tokenizer):
    pad = qwen_tokenizer.pad_token_id
    features = [
        {"chosen_input_ids": [1, 2, 3], "chosen_labels": [-100, 2, 3],
         "rejected_input_ids": [1, 4], "rejected_labels": [-100, 4]},
        {"chosen_input_ids": [5, 6], "chosen_labels": [-100, 6],
         "rejected_input_ids": [5, 7, 8, 9, 10], "rejected_labels": [-100, 7, 8, 9, 10]},
    ]
    batch = PairwiseCollator(SFTCollator(qwen_tokenizer))(features)
    assert batch["input_ids"].tolist() == [
        [1, 2, 3, pad, pad], [5, 6, pad, pad, pad],  # chosen
        [1, 4, pad, pad, pad], [5, 7, 8, 9, 10],  # rejected
    ]
    assert batch["labels"].tolist() == [
        [-100, 2, 3, -100, -100], [-100, 6, -100, -100, -100],
        [-100, 4, -100, -100, -100], [-100, 7, 8, 9, 10],
    ]
    assert batch["attention_mask"].sum(1).tolist() == [3, 2, 2, 5]


def test_kto_collator_kl_rows_and_tags(qwen_tokenizer):
    pad = qwen_tokenizer.pad_token_id
    features = [
        {"input_ids": [1, 2, 3], "labels": [-100, 2, 3], "kl_input_ids": [1, 9], "kl_labels": [-100, 9],
         "kto_tags": True},
        {"input_ids": [4, 5], "labels": [-100, 5], "kl_input_ids": [4, 2, 3, 7], "kl_labels": [-100, 2, 3, 7],
         "kto_tags": False},
        {"input_ids": [6], "labels": [6], "kl_input_ids": [6, 5], "kl_labels": [-100, 5], "kto_tags": 1},
    ]
    batch = KTOCollator(SFTCollator(qwen_tokenizer))(features)
    assert set(batch) == {"input_ids", "attention_mask", "labels", "kl_input_ids", "kl_attention_mask", "kl_labels",
                          "kto_tags"}
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 5, pad], [6, pad, pad]]
    assert batch["kl_input_ids"].tolist() == [[1, 9, pad, pad], [4, 2, 3, 7], [6, 5, pad, pad]]
    assert batch["kl_attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch["kl_labels"].tolist() == [[-100, 9, -100, -100], [-100, 2, 3, 7], [-100, 5, -100, -100]]
    assert batch["kto_tags"].dtype == torch.bool
    assert batch["kto_tags"].tolist() == [True, False, True]


def test_build_collator_kinds(qwen_tokenizer):
    pad = qwen_tokenizer.pad_token_id
    features = [{"input_ids": [1, 2, 3], "labels": [7]}, {"input_ids": [4], "labels": [8, 9]}]
    unsupervised = build_collator("unsupervised", qwen_tokenizer)
    assert type(unsupervised) is SFTCollator
    batch = unsupervised(features)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [pad, pad, 4]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch["labels"].tolist() == [[-100, 7], [8, 9]]

    pairwise = build_collator("pairwise", qwen_tokenizer, attn_implementation="eager", compute_dtype=torch.bfloat16)
    assert isinstance(pairwise, PairwiseCollator)
    assert pairwise.collator.attn_implementation == "eager" and pairwise.collator.compute_dtype == torch.bfloat16
    feedback = build_collator("feedback", qwen_tokenizer, pad_to_multiple_of=8)
    assert isinstance(feedback, KTOCollator) and feedback.collator.pad_to_multiple_of == 8
    supervised = build_collator("supervised", qwen_tokenizer)
    assert type(supervised) is SFTCollator and supervised.padding_side == "right"  # training rows pad right, whatever the tokenizer says
    assert supervised.label_pad_token_id == IGNORE_INDEX

    keep_pad = build_collator("supervised", qwen_tokenizer, ignore_pad_token_for_loss=False)
    batch = keep_pad([{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}, {"input_ids": [4], "labels": [4]}])
    assert batch["labels"].tolist() == [[1, 2, 3], [4, pad, pad]]
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, pad, pad]]
