"""Docs and examples stay true: the generated reference matches the code, every example parses,
and the commands the README shows exist."""

import re
from pathlib import Path

import pytest

from tunefactory.cli import COMMANDS
from tunefactory.config import parse_args
from tunefactory.config.fields import field_specs
from tunefactory.config.groups import COMMAND_GROUPS, group_classes
from tunefactory.config.reference import arguments_markdown

ROOT = Path(__file__).resolve().parents[1]
# examples/accelerate/ holds `accelerate launch --config_file` configs, not TuneFactory configs: they are
# checked against accelerate's own keys in tests/config/test_distributed_rules.py.
EXAMPLES = sorted(path for path in (ROOT / "examples").rglob("*.yaml")
                  if (ROOT / "examples" / "accelerate") not in path.parents)


def locked_version(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / "requirements" / "lock.txt").read_text(), re.M)
    assert match, f"requirements/lock.txt pins no {package}"
    return match.group(1)


def without_upstream_help(page: str) -> str:
    """The reference with the descriptions transformers writes (inherited training keys) blanked out."""
    import dataclasses

    from transformers import Seq2SeqTrainingArguments

    upstream = {f.name for f in dataclasses.fields(Seq2SeqTrainingArguments)}
    ours = {spec.name for spec in field_specs(group_classes("train")["training"], "training")
            if spec.name not in upstream or spec.help != _upstream_help(spec.name)}
    rows = []
    for row in page.splitlines():
        key = re.match(r"\| `(\w+)` \|", row)
        if key and key.group(1) in upstream and key.group(1) not in ours:
            row = row.rsplit(" | ", 1)[0] + " | (transformers' help) |"
        rows.append(row)
    return "\n".join(rows)


def _upstream_help(name: str) -> str:
    import dataclasses

    from transformers import Seq2SeqTrainingArguments

    found = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(Seq2SeqTrainingArguments)}
    return found[name]


def test_configuration_reference_is_generated_from_the_code():
    import transformers

    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    generated = arguments_markdown("train")
    if transformers.__version__ == locked_version("transformers"):
        assert committed == generated, "docs/configuration.md is stale: run `make docs`"
    else:  # another transformers words its own keys' help differently; every key, type, default and our help hold
        assert without_upstream_help(committed) == without_upstream_help(generated), (
            "docs/configuration.md is stale: run `make docs`")


def test_the_reference_check_ignores_upstream_wording_only():
    page = arguments_markdown("train")
    reworded = page.replace("Whether or not to use cache for the model", "Use the cache")
    assert reworded != page and without_upstream_help(reworded) == without_upstream_help(page)
    for edit in (("Train with FP8 mixed precision", "Train in FP8"),  # our own help
                 ("| `use_cache` | bool | `False`", "| `use_cache` | bool | `True`")):  # an upstream default
        assert edit[0] in page
        assert without_upstream_help(page.replace(*edit)) != without_upstream_help(page), edit


@pytest.mark.parametrize("command", sorted(COMMAND_GROUPS))
def test_every_argument_has_help_text(command):
    for group, cls in group_classes(command).items():
        for spec in field_specs(cls, group):
            assert spec.help.strip(), f"{group}.{spec.name} has no help"


@pytest.mark.parametrize("command", sorted(COMMAND_GROUPS))
def test_group_keys_do_not_collide(command):
    seen = {}
    for group, cls in group_classes(command).items():
        for spec in field_specs(cls, group):
            assert spec.name not in seen, f"{spec.name} is in both {seen.get(spec.name)} and {group}"
            seen[spec.name] = group


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_config_parses(path, tiny_llama):
    text = path.read_text()
    overrides = [f"model_name_or_path={tiny_llama}"] if "model_name_or_path: null" in text else []
    commands = {"inference": "chat", "merge_lora": "export", "predict": "predict"}
    if path.parent.name in commands:  # chat/api/webchat/export/predict configs carry no training keys
        config = parse_args([str(path), *overrides], command=commands[path.parent.name])
        assert config.model.adapter_name_or_path and config.training is None
        return
    config = parse_args([str(path), *overrides])
    assert config.finetuning.stage in text


def test_readme_shows_the_two_commands_and_only_real_subcommands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    for command in set(re.findall(r"`tunefactory ([\w-]+)", readme)):
        assert command in COMMANDS, f"README mentions `tunefactory {command}`, which does not exist"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_stage_table_in_docs_is_current():
    from tunefactory.config.reference import STAGES_BEGIN, STAGES_END, stages_markdown

    committed = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    assert committed.split(STAGES_BEGIN)[1].split(STAGES_END)[0] == stages_markdown(), \
        "docs/design.md's stage table is stale: run `make docs`"


def test_template_table_in_docs_is_current():
    from tunefactory.data.template.families import MARKER, templates_markdown

    committed = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8")
    assert committed.split(MARKER)[1] == templates_markdown(), "docs/templates.md is stale: run `make docs`"
