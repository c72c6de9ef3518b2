"""One idea of "on" for every environment switch (FORCE_TORCHRUN, USE_RAY, GRADIO_SHARE, …)."""

from __future__ import annotations

import pytest

from tunefactory import launch
from tunefactory.env_flags import env_flag


@pytest.mark.parametrize("value", ["1", "true", "True", "TRUE", "y", "Y", "yes", "YES", "on", "On", " true "])
def test_these_spellings_are_on(value):
    assert env_flag("SWITCH", environ={"SWITCH": value})


@pytest.mark.parametrize("value", ["0", "false", "no", "n", "off", "2", "enabled", "truee"])
def test_any_other_value_is_off_even_with_default_on(value):
    assert not env_flag("SWITCH", environ={"SWITCH": value})
    assert not env_flag("SWITCH", default=True, environ={"SWITCH": value})


@pytest.mark.parametrize("environ", [{}, {"SWITCH": ""}, {"SWITCH": "  "}])
def test_unset_or_empty_gives_the_default(environ):
    assert env_flag("SWITCH", environ=environ) is False
    assert env_flag("SWITCH", default=True, environ=environ) is True


def test_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("TUNEFACTORY_TEST_SWITCH", "Yes")
    assert env_flag("TUNEFACTORY_TEST_SWITCH")
    monkeypatch.setenv("TUNEFACTORY_TEST_SWITCH", "0")
    assert not env_flag("TUNEFACTORY_TEST_SWITCH")
    monkeypatch.delenv("TUNEFACTORY_TEST_SWITCH")
    assert not env_flag("TUNEFACTORY_TEST_SWITCH")


def test_the_launcher_reads_its_switches_the_same_way(monkeypatch):
    monkeypatch.setattr(launch, "visible_gpus", lambda: 0)
    assert launch.should_relaunch({"FORCE_TORCHRUN": "on"})
    assert not launch.should_relaunch({"FORCE_TORCHRUN": "on", "USE_RAY": "Y"})
    monkeypatch.setenv("USE_RAY", "TRUE")
    assert env_flag("USE_RAY")
