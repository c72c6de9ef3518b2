"""sft metrics: hand-computed accuracies, BLEU/ROUGE checked against nltk and rouge_chinese called directly,
and the Trainer's own evaluation loop in both its all-at-once and per-batch modes."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pytest
import torch
from transformers import EvalPrediction

from tunefactory.data.processors.common import IGNORE_INDEX
from tunefactory.errors import TuneFactoryError
from tunefactory.train import metrics
from tunefactory.train.metrics import (
    PREDICTIONS_FILENAME,
    TextSimilarity,
    TokenAccuracy,
    logits_to_token_ids,
    save_predictions,
)

# ---------------------------------------------------------------- logits_to_token_ids


def test_logits_to_token_ids_is_the_argmax_over_the_vocabulary():
    logits = torch.tensor([[[0.1, 0.9, 0.0], [2.0, -1.0, 0.5]], [[0.0, 0.0, 3.0], [0.2, 0.1, 0.3]]])
    ids = logits_to_token_ids(logits, labels=None)
    assert ids.shape == (2, 2)
    assert ids.tolist() == [[1, 0], [2, 2]]


def test_logits_to_token_ids_takes_the_logits_out_of_a_tuple_of_outputs():
    logits = torch.tensor([[[0.1, 0.9, 0.0], [2.0, -1.0, 0.5]]])
    router_logits = torch.zeros(2, 4)
    assert logits_to_token_ids((logits, router_logits), labels=None).tolist() == [[1, 0]]
    # MoE models with an auxiliary loss put the scalar ahead of the logits
    assert logits_to_token_ids([torch.tensor(0.3), logits], labels=None).tolist() == [[1, 0]]


def test_logits_to_token_ids_refuses_outputs_without_sequence_logits():
    with pytest.raises(ValueError, match="logits"):
        logits_to_token_ids(torch.zeros(2, 3), labels=None)
    with pytest.raises(ValueError, match="none of the model outputs"):
        logits_to_token_ids((torch.tensor(0.3), torch.zeros(2, 4)), labels=None)


# ---------------------------------------------------------------- TokenAccuracy


def _eval_preds(predictions, labels) -> EvalPrediction:
    return EvalPrediction(predictions=np.array(predictions), label_ids=np.array(labels))


def test_token_accuracy_compares_each_prediction_with_the_next_label():
    # preds[:-1] = [5, 6, 9] against labels[1:] = [5, 6, 7]: two of three right
    result = TokenAccuracy()(_eval_preds([[5, 6, 9, 0]], [[IGNORE_INDEX, 5, 6, 7]]))
    assert result == {"accuracy": pytest.approx(2 / 3)}


def test_token_accuracy_counts_only_supervised_positions():
    labels = [[IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 3, 4]]
    # shift: (9, -100) (9, -100) uncounted; (3, 3) (4, 4) right
    assert TokenAccuracy()(_eval_preds([[9, 9, 3, 4, 8]], labels)) == {"accuracy": 1.0}
    # shift: (3, 3) right, (5, 4) wrong
    assert TokenAccuracy()(_eval_preds([[9, 9, 3, 5, 8]], labels)) == {"accuracy": 0.5}


def test_token_accuracy_pools_tokens_and_batches_give_the_single_call_result():
    first = ([[5, 6, 9, 0], [1, 2, 3, 4]], [[IGNORE_INDEX, 5, 6, 7], [IGNORE_INDEX, IGNORE_INDEX, 3, 4]])
    second = ([[7, 7, 7, 7, 7, 7]], [[IGNORE_INDEX, 7, 7, 1, 1, IGNORE_INDEX]])
    # right / counted per row: 2/3, 0/2, 2/4 -> pooled over tokens 4/9, not the mean of the rows 7/18
    expected = 4 / 9

    batched = TokenAccuracy()
    assert batched(_eval_preds(*first), compute_result=False) is None
    assert batched(_eval_preds(*second), compute_result=True) == {"accuracy": pytest.approx(expected)}

    # the Trainer's single call: batches concatenated, the shorter ones padded with -100 in both arrays
    pad = [IGNORE_INDEX, IGNORE_INDEX]
    all_predictions = [row + pad for row in first[0]] + second[0]
    all_labels = [row + pad for row in first[1]] + second[1]
    assert TokenAccuracy()(_eval_preds(all_predictions, all_labels)) == {"accuracy": pytest.approx(expected)}


def test_token_accuracy_treats_minus_100_predictions_as_padding():
    # a -100 prediction facing a real label is padding, not a wrong answer
    result = TokenAccuracy()(_eval_preds([[5, 6, IGNORE_INDEX, 0]], [[IGNORE_INDEX, 5, 6, 7]]))
    assert result == {"accuracy": 1.0}


def test_token_accuracy_starts_afresh_after_each_result_and_accepts_tensors():
    accuracy = TokenAccuracy()
    tensors = EvalPrediction(predictions=torch.tensor([[5, 6, 9, 0]]), label_ids=torch.tensor([[-100, 5, 6, 7]]))
    assert accuracy(tensors) == {"accuracy": pytest.approx(2 / 3)}
    assert accuracy(_eval_preds([[5, 6]], [[IGNORE_INDEX, 5]])) == {"accuracy": 1.0}


def test_token_accuracy_without_supervised_tokens_is_nan():
    result = TokenAccuracy()(_eval_preds([[1, 2, 3]], [[IGNORE_INDEX] * 3]))
    assert math.isnan(result["accuracy"])


def test_token_accuracy_refuses_logits_with_a_hint():
    with pytest.raises(ValueError, match="logits_to_token_ids"):
        TokenAccuracy()(_eval_preds(np.zeros((1, 4, 8)), [[IGNORE_INDEX, 5, 6, 7]]))


def test_metrics_take_compute_result_as_the_trainer_requires_for_batch_eval_metrics():
    assert "compute_result" in inspect.signature(TokenAccuracy().__call__).parameters
    assert "compute_result" in inspect.signature(TextSimilarity.__call__).parameters


def test_token_accuracy_in_the_trainer_loop_matches_a_manual_count_in_both_modes(tiny_qwen2, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainingArguments

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2)
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2).eval()
    examples = []
    for prompt_len, answer_len in [(3, 4), (5, 2), (2, 6), (4, 3), (6, 5)]:  # ragged, so every padding path runs
        input_ids = [(7 * i + 11) % 900 + 50 for i in range(prompt_len + answer_len)]
        labels = [IGNORE_INDEX] * prompt_len + input_ids[prompt_len:]
        examples.append({"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels})

    correct = total = 0
    with torch.no_grad():
        for example in examples:
            predicted = model(torch.tensor([example["input_ids"]])).logits.argmax(-1)[0, :-1]
            labels = torch.tensor(example["labels"][1:])
            supervised = labels != IGNORE_INDEX
            correct += int((predicted[supervised] == labels[supervised]).sum())
            total += int(supervised.sum())

    for batch_eval_metrics in (False, True):
        args = TrainingArguments(
            output_dir=str(tmp_path / f"batched-{batch_eval_metrics}"),
            per_device_eval_batch_size=2,
            batch_eval_metrics=batch_eval_metrics,
            report_to=[],
            use_cpu=True,
        )
        trainer = Trainer(
            model=model,
            args=args,
            eval_dataset=examples,
            data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE_INDEX),
            compute_metrics=TokenAccuracy(),
            preprocess_logits_for_metrics=logits_to_token_ids,
        )
        result = trainer.evaluate()
        assert result["eval_accuracy"] == pytest.approx(correct / total), f"batch_eval_metrics={batch_eval_metrics}"


# ---------------------------------------------------------------- TextSimilarity


@pytest.fixture(scope="module")
def qwen2_tokenizer(tiny_qwen2):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen2)


def _padded_ids(tokenizer, texts: list[str], pad_id: int) -> np.ndarray:
    rows = [tokenizer.encode(text, add_special_tokens=False) for text in texts]
    width = max(len(row) for row in rows) + 2  # at least two pads on every row
    return np.array([row + [pad_id] * (width - len(row)) for row in rows])


def _similarity(tokenizer, predictions: list[str], references: list[str]) -> dict[str, float]:
    """Generated ids padded with the pad id, references with -100, as the Seq2Seq trainer hands them over."""
    eval_preds = EvalPrediction(
        predictions=_padded_ids(tokenizer, predictions, tokenizer.pad_token_id),
        label_ids=_padded_ids(tokenizer, references, IGNORE_INDEX),
    )
    return TextSimilarity(tokenizer)(eval_preds)


def _reference_scores(prediction: str, reference: str) -> dict[str, float]:
    """The same recipe written out with nltk, jieba and rouge_chinese directly."""
    import jieba
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    bleu = sentence_bleu([list(reference)], list(prediction), smoothing_function=SmoothingFunction().method3)
    rouge = Rouge().get_scores(" ".join(jieba.cut(prediction)), " ".join(jieba.cut(reference)))[0]
    scores = {"bleu-4": bleu, **{key: rouge[key]["f"] for key in ("rouge-1", "rouge-2", "rouge-l")}}
    return {key: round(value * 100, 4) for key, value in scores.items()}


def test_identical_texts_score_100(qwen2_tokenizer):
    text = "The capital of France is Paris."
    assert _similarity(qwen2_tokenizer, [text], [text]) == {
        "bleu-4": 100.0,
        "rouge-1": 100.0,
        "rouge-2": 100.0,
        "rouge-l": 100.0,
    }


def test_partial_match_agrees_with_nltk_and_rouge_chinese(qwen2_tokenizer):
    prediction, reference = "the cat sat on a mat", "the cat sat on the mat"
    result = _similarity(qwen2_tokenizer, [prediction], [reference])
    assert result == pytest.approx(_reference_scores(prediction, reference))
    # by hand: rouge_chinese counts unique n-grams; 5 of the prediction's 6 unigrams are among the reference's 5
    # (P 5/6, R 1, F 10/11); 3 of 5 bigrams match both ways; the longest common word sequence has 5 of 6 words
    assert result["rouge-1"] == pytest.approx(round(100 * 10 / 11, 4))
    assert result["rouge-2"] == pytest.approx(60.0)
    assert result["rouge-l"] == pytest.approx(round(100 * 5 / 6, 4), abs=1e-4)
    assert 0 < result["bleu-4"] < 100


def test_chinese_is_segmented_with_jieba(qwen2_tokenizer):
    prediction, reference = "今天天气很好，我们去公园散步。", "今天天气不错，我们去公园玩。"
    result = _similarity(qwen2_tokenizer, [prediction], [reference])
    assert result == pytest.approx(_reference_scores(prediction, reference))
    assert all(0 < value < 100 for value in result.values()), result
    # on single characters rather than jieba words ROUGE would differ; the words are what we score
    import jieba

    assert len(list(jieba.cut(reference))) < len(reference)


def test_empty_prediction_scores_zero(qwen2_tokenizer):
    result = _similarity(qwen2_tokenizer, [""], ["The capital of France is Paris."])
    assert result == {"bleu-4": 0.0, "rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}


def test_scores_are_averaged_over_examples_and_batches_agree(qwen2_tokenizer):
    pairs = [("the cat sat on a mat", "the cat sat on the mat"), ("", "anything"), ("今天天气很好", "今天天气不错")]
    per_example = [_reference_scores(p, r) if p else dict.fromkeys(metrics.SIMILARITY_KEYS, 0.0) for p, r in pairs]
    expected = {key: sum(scores[key] for scores in per_example) / 3 for key in metrics.SIMILARITY_KEYS}

    predictions, references = zip(*pairs, strict=True)
    assert _similarity(qwen2_tokenizer, list(predictions), list(references)) == pytest.approx(expected)

    similarity = TextSimilarity(qwen2_tokenizer)
    for index, (prediction, reference) in enumerate(pairs):
        eval_preds = EvalPrediction(
            predictions=torch.tensor(_padded_ids(qwen2_tokenizer, [prediction], IGNORE_INDEX)),
            label_ids=torch.tensor(_padded_ids(qwen2_tokenizer, [reference], IGNORE_INDEX)),
        )
        result = similarity(eval_preds, compute_result=index == len(pairs) - 1)
    assert result == pytest.approx(expected)


def test_special_tokens_are_not_scored(qwen2_tokenizer):
    text = "The capital of France is Paris."
    with_eos = [qwen2_tokenizer.encode(text, add_special_tokens=False) + [qwen2_tokenizer.eos_token_id]]
    eval_preds = EvalPrediction(predictions=np.array(with_eos), label_ids=_padded_ids(qwen2_tokenizer, [text], -100))
    assert TextSimilarity(qwen2_tokenizer)(eval_preds)["bleu-4"] == 100.0


def test_missing_metric_packages_say_what_to_install(monkeypatch, qwen2_tokenizer):
    import builtins

    real_import = builtins.__import__

    def import_without_rouge(name, *args, **kwargs):
        if name == "rouge_chinese":
            raise ModuleNotFoundError("No module named 'rouge_chinese'", name="rouge_chinese")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", import_without_rouge)
    metrics._import_text_metric_libraries.cache_clear()  # imports are cached after the first success
    try:
        with pytest.raises(TuneFactoryError, match=r"rouge_chinese is missing: pip install 'tunefactory\[metrics\]'"):
            TextSimilarity(qwen2_tokenizer)
    finally:
        metrics._import_text_metric_libraries.cache_clear()


def test_jieba_is_quiet(qwen2_tokenizer):
    import logging

    TextSimilarity(qwen2_tokenizer)
    import jieba

    assert jieba.default_logger.level == logging.WARNING


# ---------------------------------------------------------------- save_predictions


def test_save_predictions_writes_one_json_object_per_line(tmp_path):
    written = save_predictions(tmp_path / "out", ["<|im_start|>user\n1+1?", "问"], ["2", "答案"], ["2", "答"])
    assert written == tmp_path / "out" / PREDICTIONS_FILENAME
    assert written.read_text(encoding="utf-8") == (
        '{"prompt": "<|im_start|>user\\n1+1?", "predict": "2", "label": "2"}\n'
        '{"prompt": "问", "predict": "答案", "label": "答"}\n'
    )
    assert [json.loads(line)["predict"] for line in written.read_text(encoding="utf-8").splitlines()] == ["2", "答案"]


def test_save_predictions_accepts_an_explicit_jsonl_path(tmp_path):
    written = save_predictions(tmp_path / "preds.jsonl", ["p"], ["x"], ["y"])
    assert written == tmp_path / "preds.jsonl"
    assert written.read_text(encoding="utf-8") == '{"prompt": "p", "predict": "x", "label": "y"}\n'


def test_save_predictions_refuses_lists_of_different_lengths(tmp_path):
    with pytest.raises(ValueError, match="2 prompts, 1 predictions and 2 labels"):
        save_predictions(tmp_path, ["a", "b"], ["x"], ["y", "z"])
    assert not (tmp_path / PREDICTIONS_FILENAME).exists()
