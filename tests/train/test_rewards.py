"""GRPO rewards: the built-ins on examples, user functions and their errors, and reward_funcs resolution."""

from pathlib import Path

import pytest

from tunefactory.errors import ConfigError, TuneFactoryError
from tunefactory.train.rewards import CheckedReward, _resolve, accuracy, final_answer, format, length_reward

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
USER_REWARDS = FIXTURES / "grpo_rewards.py"


@pytest.mark.parametrize("text, answer", [
    ("57 + 9 = 66", "66"),
    ("so the total is 1,234 apples.", "1234"),
    ("first 3, then -7.5", "-7.5"),
    ("The answer is \\boxed{\\frac{1}{2}} (not 3)", "\\frac{1}{2}"),
    ("\\boxed{4} and later \\boxed{5}", "5"),
    ("no number here", None),
])
def test_final_answer_is_the_last_boxed_or_else_the_last_number(text, answer):
    assert final_answer(text) == answer


def test_accuracy_compares_final_answers_as_numbers():
    completions = ["It is 66.", "66.0", "65", "\\boxed{66}", "sixty-six", "<think>6+6=12</think> 66"]
    assert accuracy(completions, solution=["66"] * 6) == [1.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    # a worked reference answer is reduced to its final answer too
    assert accuracy(["x = 7", "7"], solution=["2x = 14, so x = \\boxed{7}", "text answer"]) == [1.0, 0.0]
    assert accuracy(["Paris"], solution=["Paris"]) == [0.0]  # no number or \boxed{} in the completion
    assert accuracy(["\\boxed{Paris}"], solution=["Paris"]) == [1.0]


def test_format_wants_one_think_block_then_an_answer():
    completions = ["<think>add them</think>66", "<think>a</think>\n\n  66", "66", "<think>a</think>",
                   "<think>a</think><think>b</think>66", "prefix <think>a</think>66"]
    assert format(completions) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_length_is_dapos_soft_overlong_punishment():
    length = length_reward(max_completion_length=8)  # the last quarter, tokens 7 and 8, is punished
    ids = [[1] * n for n in (0, 6, 7, 8)]
    assert length(completion_ids=ids) == [0.0, 0.0, -0.5, -1.0]


def test_a_failing_reward_is_named_with_its_row():
    checked = CheckedReward(_resolve(f"{USER_REWARDS}:fails_on_57_plus_9")[1], "fails_on_57_plus_9")
    prompts = ["What is 1 + 1?", "What is 57 + 9?"]
    with pytest.raises(TuneFactoryError) as error:
        checked(prompts=prompts, completions=["2", "65"], completion_ids=[[5], [6]], solution=["2", "66"])
    message = str(error.value)
    assert "reward 'fails_on_57_plus_9' failed on row 1 of the batch" in message
    assert "prompt 'What is 57 + 9?', completion '65'" in message and "ZeroDivisionError" in message


def test_a_reward_of_the_wrong_shape_or_type_is_refused():
    one_value = CheckedReward(_resolve(f"{USER_REWARDS}:one_value")[1], "one_value")
    with pytest.raises(TuneFactoryError, match="'one_value' returned 1 values for 2 completions"):
        one_value(prompts=["a", "b"], completions=["x", "y"], completion_ids=[[1], [2]])
    words = CheckedReward(lambda completions, **kw: ["good" for _ in completions], "words")
    with pytest.raises(TuneFactoryError, match="'words' returned 'good' for row 0 of the batch"):
        words(prompts=["a"], completions=["x"], completion_ids=[[1]])
    scalar = CheckedReward(lambda completions, **kw: 1.0, "scalar")
    with pytest.raises(TuneFactoryError, match="'scalar' returned float; it must return a list"):
        scalar(prompts=["a"], completions=["x"], completion_ids=[[1]])
    maybe = CheckedReward(lambda completions, **kw: [None, True, 2], "maybe")
    assert maybe(prompts=["a"] * 3, completions=["x"] * 3, completion_ids=[[1]] * 3) == [None, 1.0, 2.0]


def test_reward_funcs_entries_resolve_or_name_the_choices(tmp_path, monkeypatch):
    assert _resolve("accuracy") == ("builtin", "accuracy")
    assert _resolve(str(tmp_path)) == ("model", str(tmp_path))
    kind, function = _resolve(f"{USER_REWARDS}:digits")
    assert kind == "function" and function(completions=["a1", "22"]) == [0.5, 1.0]
    (tmp_path / "my_rewards.py").write_text("def short(completions, **kw):\n    return [-len(c) for c in completions]\n")
    monkeypatch.chdir(tmp_path)  # a module beside the config, imported by name
    assert _resolve("my_rewards:short")[1](completions=["abc"]) == [-3]
    with pytest.raises(ConfigError, match="'acuracy' is not a built-in reward \\(accuracy, format, length\\)"):
        _resolve("acuracy")
    with pytest.raises(ConfigError, match="'saves/rm': no such folder \\(a reward model is the folder of a stage-rm"):
        _resolve("saves/rm")
    with pytest.raises(ConfigError, match="my_rewards has no function 'long'"):
        _resolve("my_rewards:long")
    with pytest.raises(ConfigError, match="importing no_such_module failed: ModuleNotFoundError"):
        _resolve("no_such_module:f")
