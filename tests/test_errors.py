"""Errors users act on travel intact across processes."""

from __future__ import annotations


def test_config_errors_survive_pickling_with_their_problems():
    import pickle

    from tunefactory.errors import ConfigError

    error = ConfigError(["a is wrong", "b is wrong"])
    copy = pickle.loads(pickle.dumps(error))
    assert copy.problems == error.problems and str(copy) == str(error)
