"""LLaMA-Factory's own example configs parse unchanged (model path pointed at a tiny local model)."""

from pathlib import Path

import pytest

from tunefactory.config import parse_args
from tunefactory.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llamafactory_configs"

# Configs that LLaMA-Factory itself no longer accepts, or that use engines TuneFactory does not integrate:
# they must fail with a message naming the reason.
EXPECTED_REJECTIONS = {
    "inference__deepseek2_lora_sft_kt.yaml": "KTransformers",
    "inference__deepseek3_kt.yaml": "KTransformers",
    "inference__deepseek3_lora_sft_kt.yaml": "KTransformers",
    "inference__qwen3moe_lora_sft_kt.yaml": "KTransformers",
    "inference__llama3_sglang.yaml": "sglang is not supported",
    "train_lora__llama3_lora_eval.yaml": "unknown key 'task'",  # an `eval` command config, not a training one
}
ALL_CONFIGS = sorted(p.name for p in FIXTURES.glob("*.yaml"))


def test_fixture_set_covers_every_stage():
    assert len(ALL_CONFIGS) >= 40
    for stage_file in ("llama3_lora_sft", "llama3_lora_dpo", "llama3_lora_reward", "llama3_lora_kto",
                       "llama3_lora_ppo", "llama3_lora_pretrain", "llama3_full_sft"):
        assert any(stage_file in name for name in ALL_CONFIGS), stage_file


@pytest.mark.parametrize("name", [n for n in ALL_CONFIGS if n not in EXPECTED_REJECTIONS])
def test_llamafactory_example_parses_unchanged(name, tiny_llama):
    config = parse_args([str(FIXTURES / name), f"model_name_or_path={tiny_llama}"])
    # The values are the example's own, not defaults: spot-check what every example sets.
    text = (FIXTURES / name).read_text()
    if "stage:" in text:
        stage = text.split("stage:")[1].split()[0]
        assert config.finetuning.stage == stage
    if "lora_rank:" in text:
        assert config.finetuning.lora_rank == int(text.split("lora_rank:")[1].split()[0])


@pytest.mark.parametrize("name", sorted(EXPECTED_REJECTIONS))
def test_configs_for_missing_engines_fail_with_the_reason(name, tiny_llama):
    with pytest.raises(ConfigError, match=EXPECTED_REJECTIONS[name]):
        parse_args([str(FIXTURES / name), f"model_name_or_path={tiny_llama}"])


def test_llamafactory_eval_config_parses_for_the_eval_command(tiny_llama):
    config = parse_args([str(FIXTURES / "train_lora__llama3_lora_eval.yaml"), f"model_name_or_path={tiny_llama}",
                         "save_dir=/nonexistent/eval"], command="eval")
    e = config.evaluation
    assert (e.task, e.task_dir, e.lang, e.n_shot, e.batch_size, e.seed) == ("mmlu_test", "evaluation", "en", 5, 4, 42)
    assert config.data.template == "fewshot" and config.finetuning.finetuning_type == "lora"
    assert config.training is None and config.generating is None
