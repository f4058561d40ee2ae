"""A plugin's own settings file: ``mymethod.yaml`` beside ``mymethod.py`` in a plugin folder
(suite.config.method_config_file) is applied by build_grid, and validated as a whole."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from suite import config
from suite.config import build_grid, method_config_file
from suite.errors import ConfigError, UnknownNameError
from suite.registry import METHODS, discover

PLUGINS = Path(__file__).resolve().parent / "plugins"   # the toy dataset

METHOD = '''
"""A plugin method for the settings tests: codes = scale · x[:, :K]."""
import torch

from suite.hparams import Positive
from suite.method import Inference, Method
from suite.registry import register


@register
class MyMethod(Method):
    """Scaled leading coordinates (tests only)."""

    name = "mymethod"
    family = "other"
    hparams = {"scale": Positive(1.0, "scale of the codes"), "width": Positive(4, "unused")}
    smoke_hparams = {"width": 2}
    smoke_budget = {"max_steps": 3}

    def fit(self, train, budget, progress, val=None):
        return self

    def infer(self, x):
        codes = self.hp["scale"] * x[:, : self.n_latents]
        recon = torch.zeros_like(x)
        recon[:, : self.n_latents] = codes / self.hp["scale"]
        return Inference(codes=codes, recon=recon)
'''

SETTINGS = '''
mymethod:
  quick: {hparams: {scale: 2.0}, budget: {epochs: 3, max_seconds: 30}}
  "quick@toy": {n_latents: 5}
  "@nowhere": {hparams: {scale: 9.0}}
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    """The plugin folder, discovered once (a method registers once per process); yields the
    settings file, restored after each test that rewrites it."""
    root = tmp_path_factory.mktemp("plugin")
    (root / "methods").mkdir()
    (root / "methods" / "mymethod.py").write_text(METHOD)
    (root / "methods" / "mymethod.yaml").write_text(SETTINGS)
    discover([PLUGINS, root])
    return root / "methods" / "mymethod.yaml"


@pytest.fixture
def settings_file(plugin):
    yield plugin
    plugin.write_text(SETTINGS)


def test_the_file_beside_the_module_is_the_methods_settings(plugin):
    assert method_config_file(METHODS.get("mymethod")) == plugin


def test_quick_budget_of_the_plugin_file_is_applied(plugin):
    (spec,) = build_grid("mymethod", "toy", [0], "quick").specs
    assert spec.budget == {"epochs": 3, "max_seconds": 30}         # over the profile's {1, 90}
    assert spec.hparams == {"scale": 2.0, "width": 4}
    assert spec.n_latents == 5                                    # "quick@toy"
    assert spec.overrides == {}                                   # settings, not user overrides


def test_smoke_profile_takes_the_class_values_then_the_file(plugin):
    (spec,) = build_grid("mymethod", "toy", [0], "smoke").specs
    assert spec.hparams == {"scale": 1.0, "width": 2}
    assert spec.budget == {"epochs": 1, "max_seconds": 20, "max_steps": 3}
    assert spec.n_latents == 16


def test_other_profiles_are_untouched(plugin):
    (spec,) = build_grid("mymethod", "toy", [0], "paper").specs
    assert spec.hparams == {"scale": 1.0, "width": 4} and spec.budget == {"epochs": 100}


@pytest.mark.parametrize("text,message", [
    ("mymethod:\n  quick: {hparms: {scale: 2.0}}\n",
     r"mymethod\['quick'\]: unknown keys \['hparms'\] \(allowed: hparams, budget, n_latents\)"),
    ("mymethod:\n  quick: {hparams: {scal: 2.0}}\n",
     r"mymethod\['quick'\]: unknown hyperparameters \['scal'\] of mymethod \(valid: scale, width\)"),
    ("mymethod:\n  quick: {budget: {epoch: 2}}\n",
     r"mymethod\['quick'\]: unknown budget keys \['epoch'\]"),
    ("mymethod:\n  quick: {budget: {epochs: 0}}\n",
     r"mymethod\['quick'\]: budget epochs must be a number > 0, got 0"),
    ("mymethod:\n  quick: {n_latents: -2}\n",
     r"mymethod\['quick'\]: n_latents must be a positive integer, got -2"),
    ("mymethod:\n  quik: {budget: {epochs: 2}}\n",
     r"mymethod\['quik'\]: unknown profile 'quik' in selector 'quik'"),
    ("mymethod:\n  'quick@': {budget: {epochs: 2}}\n",
     r"mymethod\['quick@'\]: malformed selector 'quick@'"),
    ("mymethod:\n  'paper@toy@x': {budget: {epochs: 2}}\n",
     r"malformed selector 'paper@toy@x'"),
    ("mymethod:\n  3: {budget: {epochs: 2}}\n", r"mymethod\[3\]: a selector must be text"),
    ("mymethod:\n  quick: [1]\n", r"mymethod\['quick'\]: expected a mapping with hparams/budget/n_latents"),
    ("mymethod: [quick]\n", r"mymethod must be a mapping SELECTOR -> settings"),
    ("[mymethod]\n", r"expected a mapping METHOD -> SELECTOR -> settings"),
])
def test_unknown_keys_and_shapes_are_errors_naming_the_file(settings_file, text, message):
    """The whole file is validated, not only the entries the current run selects: a typo in a
    paper entry stops a quick run too."""
    settings_file.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(str(settings_file)) + ".*" + message):
        build_grid("mymethod", "toy", [0], "smoke")


def test_an_unknown_method_in_the_file_is_an_error(settings_file):
    settings_file.write_text(SETTINGS + "mymethd:\n  quick: {budget: {epochs: 2}}\n")
    with pytest.raises(UnknownNameError, match=r"unknown method 'mymethd'.*Did you mean 'mymethod'.*"
                                               + re.escape(str(settings_file))):
        build_grid("mymethod", "toy", [0], "smoke")


def test_user_method_config_is_validated_the_same_way(plugin):
    with pytest.raises(ConfigError, match=r"--config method_config: mymethod\['quik'\]: unknown profile"):
        build_grid("mymethod", "toy", [0], "smoke", user_method_config={"mymethod": {"quik": {}}})
    (spec,) = build_grid("mymethod", "toy", [0], "quick",
                         user_method_config={"mymethod": {"quick": {"hparams": {"scale": 3.0}}}}).specs
    assert spec.hparams["scale"] == 3.0 and spec.overrides == {"scale": 3.0}


def test_the_settings_file_is_read_at_each_grid(settings_file):
    settings_file.write_text("mymethod:\n  quick: {budget: {epochs: 7}}\n")
    (spec,) = build_grid("mymethod", "toy", [0], "quick").specs
    assert spec.budget == {"epochs": 7, "max_seconds": 90}
    assert config.load_method_configs()["mymethod"] == {"quick": {"budget": {"epochs": 7}}}
