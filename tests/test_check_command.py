"""`python run_suite.py check --plugins DIR` (suite.commands.check): the conformance battery on
a plugin folder's own methods and datasets, a table of check -> pass/FAIL, exit status 0 or 1."""
from __future__ import annotations

import argparse
import textwrap

import pytest

from suite import registry
from suite.commands import check

GOOD_METHOD = '''
"""A correct plugin method: a linear autoencoder trained by minibatch gradient steps."""
import torch

from suite.hparams import Positive
from suite.loss_curve import LossCurve
from suite.method import Inference, Method
from suite.progress import null_progress
from suite.registry import register
from suite.seeding import seeded
from suite.training import minibatches


@register
class LinearAE(Method):
    """Linear autoencoder (check-command test)."""

    name = "chk_good"
    data_kinds = frozenset({"continuous"})
    hparams = {"lr": Positive(0.01, "step size"), "batch_size": Positive(16, "minibatch size")}

    def __init__(self, data_shape, n_latents, device="cpu", seed=0, **hparams):
        super().__init__(data_shape, n_latents, device, seed, **hparams)
        with seeded(self.seed, self.device):
            self.weight = torch.randn(self.n_latents, self.dim, device=self.device) / self.dim ** 0.5

    def planned_steps(self, train, budget):
        return budget.total_steps(train.shape[0], self.hp["batch_size"])

    def fit(self, train, budget, progress=null_progress, val=None):
        total = self.planned_steps(train, budget)
        self.loss_curve_, self.n_steps_ = LossCurve(total), 0
        for step, batch in minibatches(train, self.hp["batch_size"], total, self.generator):
            w = self.weight.clone().requires_grad_(True)
            loss = ((batch @ w.T @ w - batch) ** 2).sum(1).mean()
            loss.backward()
            self.weight = (w - self.hp["lr"] * w.grad).detach()
            self.loss_curve_.add(step, float(loss.detach()))
            self.n_steps_ = step + 1
        return self

    def infer(self, x):
        codes = x @ self.weight.T
        return Inference(codes=codes, recon=codes @ self.weight)
'''

GOOD_DATASET = '''
import torch

from suite.data.sources import Dataset, DatasetSource
from suite.registry import register_dataset


@register_dataset
class Noise(DatasetSource):
    name = "chk_data"
    description = "seeded Gaussian noise, labelled (check-command test)"
    shape = (1, 2, 3)
    labelled = True
    embedded = True

    def load(self, data_dir, cache_dir):
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(30, 6, generator=g), torch.arange(30) % 3
        return Dataset(self.name, x[:20], x[20:], self.shape, train_labels=y[:20],
                       val_labels=y[20:])
'''

BROKEN_METHODS = '''
import torch

from suite.method import Budget, Inference
from suite.registry import register

from brainlike_plugin_GOODPKG.methods.good import LinearAE


@register
class BadShape(LinearAE):
    """infer returns one code too many."""

    name = "chk_badshape"

    def infer(self, x):
        inf = super().infer(x)
        return Inference(codes=torch.cat([inf.codes, inf.codes[:, :1]], 1), recon=inf.recon)


@register
class NoMaxSteps(LinearAE):
    """fit ignores budget.max_steps."""

    name = "chk_nomax"

    def planned_steps(self, train, budget):
        return Budget(epochs=budget.epochs).total_steps(train.shape[0], self.hp["batch_size"])
'''


@pytest.fixture(autouse=True)
def restore_registry():
    """The plugins these tests register are removed afterwards (other tests list every method)."""
    with registry.isolated():
        yield


def write(folder, files: dict[str, str]):
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    check.add_arguments(p)
    return p.parse_args(list(argv))


@pytest.fixture
def good(tmp_path):
    return write(tmp_path / "good", {"methods/good.py": GOOD_METHOD, "datasets/noise.py": GOOD_DATASET})


def test_a_correct_plugin_folder_passes(good, capsys):
    assert check.run(parse("--plugins", str(good))) == 0
    out = capsys.readouterr().out
    assert "1 method(s), 1 dataset(s)" in out
    assert "method chk_good" in out and "dataset chk_data" in out
    assert "FAIL" not in out and " 0 failed" in out
    for name in ("check_fit_and_infer[continuous]", "check_budget_max_steps[continuous]",
                 "check_checkpoint_fresh_instance[continuous]", "check_dataset_deterministic"):
        assert f"  {name}" in out and f"{name}" in out
    assert "lca" not in out and "digits" not in out  # the built-ins are not checked


def test_no_datasets_checks_methods_only(good, capsys):
    assert check.run(parse("--plugins", str(good), "--no-datasets")) == 0
    out = capsys.readouterr().out
    assert "method chk_good" in out and "dataset chk_data" not in out
    assert "check_dataset_" not in out


def test_broken_plugins_fail_naming_the_check(good, tmp_path, capsys):
    pkg = registry.plugin_package(good / "methods", "methods").split(".")[0]
    broken = write(tmp_path / "broken", {
        "bad.py": BROKEN_METHODS.replace("brainlike_plugin_GOODPKG", pkg),
        "crash.py": "raise ImportError('no such dependency')\n"})
    code = check.run(parse("--plugins", str(good), "--plugins", str(broken)))
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()

    def status(plugin: str, check_name: str) -> str:
        start = next(i for i, line in enumerate(lines) if line.startswith(f"method {plugin} "))
        row = next(line for line in lines[start + 1:] if line.strip().startswith(check_name + " "))
        return row

    row = status("chk_badshape", "check_fit_and_infer[continuous]")
    assert "FAIL" in row and "Inference.codes must have shape (32, 6), got (32, 7)" in row
    row = status("chk_nomax", "check_budget_max_steps[continuous]")
    assert "FAIL" in row and "max_steps=3" in row
    assert "pass" in status("chk_nomax", "check_fit_and_infer[continuous]")
    assert "module crash" in out and "ImportError: no such dependency" in out
    assert "method chk_good" in out  # the good folder is still checked, and passes
    assert "2 method(s), 0 dataset(s), 1 module(s) that failed to import" in out


def test_an_empty_folder_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert check.run(parse("--plugins", str(tmp_path / "empty"))) == 1
    assert "nothing to check" in capsys.readouterr().err


def test_plugins_is_required():
    with pytest.raises(SystemExit):
        parse()
