"""The conformance battery (suite.testing) over every registered method and dataset.

The checks themselves live in :mod:`suite.testing`, public, so that a plugin author runs the same
battery on their own classes (``check_method``, ``check_dataset``, ``parametrize_with_checks``)
or on a plugin folder (``python run_suite.py check --plugins DIR``). This file only applies them
to what discovery registers: a new plugin is picked up automatically. ``pytest --device cuda``
runs the method checks on a GPU (benchmarks/gpu_check.sh).
"""
from __future__ import annotations

import pytest

from suite.registry import DATASETS, METHODS, unavailable
from suite.testing import parametrize_with_checks

PLUGINS = [cls for _, cls in METHODS.items()] + [source for _, source in DATASETS.items()]


@pytest.fixture
def device(request) -> str:
    """``pytest --device`` (tests/conftest.py), cpu when the option is not defined."""
    return request.config.getoption("--device", default="cpu")


@parametrize_with_checks(PLUGINS)
def test_conformance(plugin, check, device):
    check(plugin, device=device)


def test_every_builtin_plugin_imports():
    assert not unavailable(), "plugins that failed to import (so nothing checks them):\n" + \
        "\n".join(f.describe() for f in unavailable())
