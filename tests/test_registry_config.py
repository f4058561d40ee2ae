"""Plugin discovery, registration rules, run keys and configuration parsing."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from suite import registry
from suite.config import RunSpec, build_grid, parse_seeds, parse_set
from suite.errors import ConfigError, DuplicateRegistrationError, SuiteError
from suite.method import Method

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "tests" / "plugins"


@pytest.fixture(scope="module", autouse=True)
def toy_plugins():
    registry.discover([PLUGINS])


def test_duplicate_method_name_is_an_error():
    class Clash(Method):
        """Another class claiming the name 'toy'."""
        name = "toy"
    with pytest.raises(DuplicateRegistrationError, match="registered twice"):
        registry.register(Clash)


def test_broken_plugin_is_listed_unavailable_and_named_when_asked_for(tmp_path, capsys):
    from suite.cli import main

    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "broken.py").write_text("raise ImportError('missing dependency xyz')\n")
    with registry.isolated():  # the failure must not leak into later tests ("some plugin failed")
        registry.discover([tmp_path])  # does not raise: the other plugins still load
        [failure] = [f for f in registry.unavailable("methods") if f.name == "broken"]
        assert "missing dependency xyz" in failure.error and str(tmp_path) in failure.origin
        assert "lca" in registry.METHODS.names()
        with pytest.raises(SuiteError, match=r"broken.*failed to import: ImportError: missing dependency xyz"):
            registry.METHODS.get("broken")
        assert main(["--list", "--plugins", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Unavailable plugins" in out and "missing dependency xyz" in out and "lca" in out


def test_keys_do_not_depend_on_listing_order():
    a = build_grid("toy,toy2", "toy", [0, 1], "smoke", ["toy.scale=0.5,2"])
    b = build_grid("toy2, toy", "toy", [1, 0], "smoke", ["toy.scale=2,0.5"])
    assert sorted(s.key() for s in a.specs) == sorted(s.key() for s in b.specs)
    assert len({s.key() for s in a.specs}) == len(a.specs) == 6


def test_key_changes_with_anything_that_changes_results():
    (base,) = build_grid("toy", "toy", [0], "smoke").specs
    d = base.to_dict()
    for field, value in [("seed", 1), ("hparams", {**d["hparams"], "scale": 3.0}),
                         ("budget", {**d["budget"], "epochs": 9}), ("method_version", "2"),
                         ("n_latents", 7), ("dataset", "toybin")]:
        assert RunSpec.from_dict({**d, field: value}).key() != base.key(), field
    assert RunSpec.from_dict({**d, "overrides": {"x": 1}}).key() == base.key()


def test_parse_set_and_seeds():
    assert parse_set(["lca.lam=0.05,0.1", "bihm.layers=[10,5],[4]", "lca.nonneg=true"]) == {
        "lca": {"lam": [0.05, 0.1], "nonneg": [True]}, "bihm": {"layers": [[10, 5], [4]]}}
    for bad in ["lam=0.1", "lca.lam=", "lca.lam=0.1,", ".lam=1"]:
        with pytest.raises(ConfigError, match="malformed --set"):
            parse_set([bad])
    with pytest.raises(ConfigError, match="twice"):
        parse_set(["lca.lam=1", "lca.lam=2"])
    assert parse_seeds("1-3,7") == [1, 2, 3, 7] and parse_seeds("0") == [0]
    assert parse_seeds([2, 0, 2]) == [0, 2] and parse_seeds(4) == [4]
    for bad in [[1.5], ["a"], [True], True, 1.5, {"a": 1}]:  # never silently truncated or ignored
        with pytest.raises(ConfigError, match="malformed --seeds"):
            parse_seeds(bad)


def test_parse_set_reads_numbers_in_any_notation():
    assert parse_set(["gvae.lr=1e-3,1E3,-2.5e+4,.5,1_000,2.0e-3"]) == {
        "gvae": {"lr": [0.001, 1000.0, -25000.0, 0.5, 1000, 0.002]}}


def test_readme_plugin_example_runs(tmp_path):
    """The README's 'Adding a method' example, dropped into a plugin folder, runs end to end."""
    text = (REPO / "README.md").read_text()
    m = re.search(r"<!-- example-method:start -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README must contain the example method between example-method markers"
    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "pca.py").write_text(m.group(1))
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(REPO / "run_suite.py"), "--plugins", str(tmp_path),
                           "--methods", "pca", "--dataset", "digits", "--profile", "smoke",
                           "--out", str(out), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pca" in proc.stdout and "knn@" in proc.stdout
    assert len(list((out / "runs").glob("*.json"))) == 1
