"""Few-shot prompts as LLaMA-Factory writes them, and accuracies that equal the model's own logits."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunefactory.config import parse_dict
from tunefactory.data.template import get_template
from tunefactory.errors import ConfigError
from tunefactory.eval.benchmarks import CHOICES, load_benchmark
from tunefactory.eval.evaluator import ChoiceScorer, prompt_ids, run_eval
from tunefactory.model.tokenizer import load_tokenizer
from tunefactory_fixtures.benchmarks import write_benchmark

EN_HEAD = "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
FIRST_TEST = "Find the characteristic of the ring Z_5.\nA. 0\nB. 5\nC. 10\nD. 25\nAnswer:"
DEV_0 = "Find the order of the group Z_4.\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:"
DEV_1 = 'Is Z_2 a field, "yes" or "no"?\nA. yes\nB. no\nC. maybe\nD. unknown\nAnswer:'


def eval_config(model, task_dir, **overrides):
    values = {"model_name_or_path": str(model), "template": "fewshot", "task": "mmlu_test", "task_dir": str(task_dir),
              "n_shot": 2, "batch_size": 3}
    return parse_dict({**values, **overrides}, command="eval")


def loaded(config):
    tokenizer = load_tokenizer(config.model)
    return tokenizer, get_template(tokenizer, config.data, config.model.model_name_or_path)


def prompt_text(config, task="mmlu_test", subject=0, row=0, n_shot=2, max_length=None):
    tokenizer, template = loaded(config)
    chosen = load_benchmark(config.evaluation.task_dir, task)[subject]
    ids, shots = prompt_ids(template, tokenizer, chosen.questions[row], chosen, n_shot, config.evaluation.lang,
                            max_length)
    return tokenizer.decode(ids), shots


@pytest.fixture
def mmlu_dir(tmp_path):
    write_benchmark(tmp_path / "evaluation", "mmlu")
    return tmp_path / "evaluation"


def test_zero_shot_prompt(tiny_llama, mmlu_dir):
    text, shots = prompt_text(eval_config(tiny_llama, mmlu_dir), n_shot=0)
    assert shots == 0
    assert text == EN_HEAD + FIRST_TEST


def test_two_shot_prompt_puts_solved_dev_rows_first(tiny_llama, mmlu_dir):
    text, shots = prompt_text(eval_config(tiny_llama, mmlu_dir), n_shot=2)
    assert shots == 2
    assert text == EN_HEAD + DEV_0 + "D\n\n" + DEV_1 + "A\n\n" + FIRST_TEST


def test_a_chat_template_wraps_each_turn(tiny_qwen2, mmlu_dir):
    text, _ = prompt_text(eval_config(tiny_qwen2, mmlu_dir, template="qwen"), n_shot=1)
    assert text == ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                    f"<|im_end|>\n<|im_start|>user\n{EN_HEAD}{DEV_0}<|im_end|>\n<|im_start|>assistant\nD<|im_end|>\n"
                    f"<|im_start|>user\n{FIRST_TEST}<|im_end|>\n<|im_start|>assistant\n")


def test_chinese_prompt(tiny_qwen2, tmp_path):
    write_benchmark(tmp_path, "cmmlu")
    config = eval_config(tiny_qwen2, tmp_path, task="cmmlu_test", lang="zh")
    text, _ = prompt_text(config, task="cmmlu_test", subject=1, row=0, n_shot=1)
    assert text == ("以下是中国关于世界宗教考试的单项选择题，请选出其中的正确答案。\n\n"
                    "Where is Mecca?\nA. Saudi Arabia\nB. Egypt\nC. Iran\nD. India\n答案：A\n\n"
                    "What is the sacred text of Islam?\nA. Vedas\nB. Bible\nC. Quran\nD. Avesta\n答案：")


def test_shots_are_dropped_to_fit_the_max_length(tiny_llama, mmlu_dir):
    config = eval_config(tiny_llama, mmlu_dir)
    tokenizer, _ = loaded(config)
    one_shot = len(tokenizer.encode(EN_HEAD + DEV_0 + "D\n\n" + FIRST_TEST, add_special_tokens=False))
    text, shots = prompt_text(config, n_shot=2, max_length=one_shot + 1)
    assert shots == 1 and text == EN_HEAD + DEV_0 + "D\n\n" + FIRST_TEST
    text, shots = prompt_text(config, n_shot=2, max_length=5)
    assert shots == 0 and FIRST_TEST.endswith(text) and len(tokenizer.encode(text, add_special_tokens=False)) <= 5


def test_letter_scores_are_the_last_positions_logits_in_any_batch(tiny_qwen2, mmlu_dir):
    config = eval_config(tiny_qwen2, mmlu_dir)
    tokenizer, template = loaded(config)
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2, dtype=torch.float32).eval()
    subject = load_benchmark(str(mmlu_dir), "mmlu_test")[0]
    prompts = [prompt_ids(template, tokenizer, q, subject, n, "en")[0] for q in subject.questions for n in (0, 2)]
    letter_ids = [tokenizer.encode(letter, add_special_tokens=False)[-1] for letter in CHOICES]
    with torch.no_grad():
        by_hand = torch.stack([model(torch.tensor([ids])).logits[0, -1, letter_ids] for ids in prompts])
    assert len({len(ids) for ids in prompts}) > 1  # the batch pads
    for batch_size in (1, 3, 8):
        scores = ChoiceScorer(model, tokenizer, batch_size=batch_size).choice_logits(prompts)
        torch.testing.assert_close(scores, by_hand, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model_fixture", ["tiny_llama", "tiny_qwen2"])
def test_accuracy_is_the_argmax_of_the_models_own_letter_logits(request, model_fixture, mmlu_dir, tmp_path):
    model_path = request.getfixturevalue(model_fixture)
    config = eval_config(model_path, mmlu_dir, save_dir=str(tmp_path / "out"))
    results = run_eval(config)

    tokenizer, template = loaded(config)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    letter_ids = [tokenizer.encode(letter, add_special_tokens=False)[-1] for letter in CHOICES]
    correct, total = {}, {}
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    for result in results:
        subject, expected = result.subject, []
        for question in subject.questions:
            ids, _ = prompt_ids(template, tokenizer, question, subject, 2, "en")
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0, -1]
            expected.append(CHOICES[int(logits[letter_ids].argmax())])
        assert result.predictions == expected
        assert saved["subjects"][subject.key]["predictions"] == expected
        hits = sum(p == q.answer for p, q in zip(expected, subject.questions))
        for category in ("Average", subject.category):
            correct[category] = correct.get(category, 0) + hits
            total[category] = total.get(category, 0) + len(expected)
    scores = {category: 100 * correct[category] / total[category] for category in correct}
    assert saved["scores"] == pytest.approx(scores)
    assert list(saved["scores"]) == ["Average", "STEM", "Humanities"]
    log = (tmp_path / "out" / "results.log").read_text()
    assert log.startswith(f"        Average: {scores['Average']:.2f}\n           STEM: {scores['STEM']:.2f}\n"
                          f"     Humanities: {scores['Humanities']:.2f}\n")


def test_an_existing_save_dir_is_refused_before_loading(tiny_llama, mmlu_dir, tmp_path):
    config = eval_config(tiny_llama, mmlu_dir, save_dir=str(tmp_path / "out"))
    (tmp_path / "out").mkdir()
    refusal = "save_dir: .*out already exists \\(refused: would overwrite"
    with pytest.raises(ConfigError, match=refusal):
        eval_config(tiny_llama, mmlu_dir, save_dir=str(tmp_path / "out"))
    # a config parsed before the folder appeared is refused too, before the model loads
    config.model.model_name_or_path = "/nowhere/model"
    with pytest.raises(ConfigError, match=refusal):
        run_eval(config)


@pytest.mark.parametrize("overrides,message", [
    ({"task": None}, "task is required"),
    ({"task": "mmlu"}, "is not <benchmark>_<split>"),
    ({"n_shot": -1}, "n_shot must be 0 or more"),
    ({"batch_size": 0}, "batch_size must be 1 or more"),
])
def test_config_rules(tiny_llama, mmlu_dir, overrides, message):
    with pytest.raises(ConfigError, match=message):
        eval_config(tiny_llama, mmlu_dir, **overrides)
