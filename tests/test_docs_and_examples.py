"""Docs and examples stay true: the generated reference matches the code, every example parses,
and the commands the README shows exist."""

import re
from pathlib import Path

import pytest

from tunefactory.cli import COMMANDS
from tunefactory.config import parse_args
from tunefactory.config.fields import field_specs
from tunefactory.config.groups import group_classes
from tunefactory.config.reference import arguments_markdown

ROOT = Path(__file__).resolve().parents[1]
# examples/accelerate/ holds `accelerate launch --config_file` configs, not TuneFactory configs: they are
# checked against accelerate's own keys in tests/config/test_distributed_rules.py.
EXAMPLES = sorted(path for path in (ROOT / "examples").rglob("*.yaml")
                  if (ROOT / "examples" / "accelerate") not in path.parents)


def test_configuration_reference_is_generated_from_the_code():
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == arguments_markdown("train"), "docs/configuration.md is stale: run `make docs`"


def test_every_argument_has_help_text():
    for group, cls in group_classes("train").items():
        for spec in field_specs(cls, group):
            assert spec.help.strip(), f"{group}.{spec.name} has no help"


def test_group_keys_do_not_collide():
    seen = {}
    for group, cls in group_classes("train").items():
        for spec in field_specs(cls, group):
            assert spec.name not in seen, f"{spec.name} is in both {seen.get(spec.name)} and {group}"
            seen[spec.name] = group


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_config_parses(path, tiny_llama):
    text = path.read_text()
    overrides = [f"model_name_or_path={tiny_llama}"] if "model_name_or_path: null" in text else []
    if path.parent.name in ("inference", "merge_lora"):  # chat/api/webchat/export configs carry no training keys
        config = parse_args([str(path), *overrides], command="chat" if path.parent.name == "inference" else "export")
        assert config.model.adapter_name_or_path and config.training is None
        return
    config = parse_args([str(path), *overrides])
    assert config.finetuning.stage in text


def test_readme_shows_the_two_commands_and_only_real_subcommands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    for command in set(re.findall(r"`tunefactory (\w+)", readme)):
        assert command in COMMANDS, f"README mentions `tunefactory {command}`, which does not exist"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_template_table_in_docs_is_current():
    from tunefactory.data.template.families import MARKER, templates_markdown

    committed = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8")
    assert committed.split(MARKER)[1] == templates_markdown(), "docs/templates.md is stale: run `make docs`"
