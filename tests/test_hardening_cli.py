"""Hardening of the command line (issue 14): numbers in any notation, unusable --out, budget
keys, config value types, and messages that name the file and the fix."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from suite import config, registry
from suite.cli import main
from suite.config import build_grid, load_yaml, parse_set
from suite.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
PLUGINS = str(REPO / "tests" / "plugins")
SMOKE = ["--methods", "toy", "--dataset", "toy", "--profile", "smoke"]


@pytest.fixture(scope="module", autouse=True)
def toy_plugins():
    registry.discover([PLUGINS])


def run(capsys, *argv):
    if argv[0].startswith("-"):
        argv = ["--plugins", PLUGINS, "--no-progress", *argv]
    elif argv[0] != "report":
        argv = [argv[0], "--plugins", PLUGINS, *argv[1:]]
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def make_read_only():
    """freeze(path): make the folder tree at ``path`` read-only (chmod; as root, chattr +i,
    since root ignores permissions); undone at teardown. Skips where neither works."""
    frozen: list[Path] = []

    def undo(path: Path) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True)
        else:
            for p in [path, *path.rglob("*")]:
                if p.is_dir():
                    p.chmod(0o755)

    def freeze(path: Path) -> Path:
        path = Path(path)
        if os.geteuid() == 0:
            if shutil.which("chattr") is None:
                pytest.skip("running as root without chattr: cannot make a read-only folder")
            proc = subprocess.run(["chattr", "-R", "+i", str(path)], capture_output=True, text=True)
            if proc.returncode:
                pytest.skip(f"chattr +i failed here: {proc.stderr.strip()}")
        else:
            for p in [path, *path.rglob("*")]:
                if p.is_dir():
                    p.chmod(0o555)
        frozen.append(path)
        try:
            (path / ".probe").touch()
        except OSError:
            return path
        (path / ".probe").unlink()
        pytest.skip("this filesystem does not make folders read-only")

    yield freeze
    for path in frozen:
        undo(path)


# -- 1. numbers in any notation ----------------------------------------------------------------
NUMBERS = {"1e-3": 0.001, "1E3": 1000.0, "-2.5e+4": -25000.0, ".5": 0.5, "1_000": 1000,
           "1.0e-3": 0.001, "+1e2": 100.0, "-.5E-2": -0.005, "5.": 5.0, "1e+3": 1000.0, "3": 3}
NOT_NUMBERS = {"1e": "1e", "e3": "e3", "1e-": "1e-", "abc": "abc", "true": True, "null": None,
               "0.1.2": "0.1.2"}


def test_yaml_numbers_in_any_notation_in_config_files(tmp_path):
    cases = {**NUMBERS, **NOT_NUMBERS}
    path = tmp_path / "n.yaml"
    path.write_text("".join(f"k{i}: {text}\n" for i, text in enumerate(cases)))
    loaded = load_yaml(path)
    for i, (text, want) in enumerate(cases.items()):
        got = loaded[f"k{i}"]
        assert got == want and type(got) is type(want), (text, got)


def test_set_values_in_any_notation():
    parsed = parse_set(["m.v=" + ",".join(NUMBERS), "m.w=[1e-3,2E1]"])
    assert parsed["m"]["v"] == list(NUMBERS.values())
    assert [type(v) for v in parsed["m"]["v"]] == [type(v) for v in NUMBERS.values()]
    assert parsed["m"]["w"] == [[0.001, 20.0]]


def test_scientific_notation_reaches_the_run(capsys, tmp_path):
    (spec,) = build_grid("toy", "toy", [0], "smoke", ["toy.scale=1e-3"]).specs
    assert spec.hparams["scale"] == 0.001
    (same,) = build_grid("toy", "toy", [0], "smoke", ["toy.scale=0.001"]).specs
    assert spec.key() == same.key()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("methods: toy\ndataset: toy\nprofile: smoke\n"
                   "method_config:\n  toy:\n    '*': {hparams: {scale: 1e-3}, budget: {epochs: 2E0}}\n")
    code, out, err = run(capsys, "--config", str(cfg), "--out", str(tmp_path / "o"), "--dry-run")
    assert code == 0, err
    assert "scale=0.001" in out


def test_repository_configs_parse_as_before():
    """The new loader only adds exponent floats: every configs/*.yaml reads the same as with
    yaml.safe_load, so no stored run changes its key."""
    files = sorted(config.config_dir().rglob("*.yaml")) + config._method_config_files()
    assert files
    for path in files:
        assert load_yaml(path) == (yaml.safe_load(path.read_text()) or {}), path


def test_run_keys_of_every_method_and_profile_are_unchanged(monkeypatch):
    registry.discover()
    datasets = [n for n, s in registry.DATASETS.items() if s.embedded]
    profiles = config.profile_names()

    def keys():
        return [s.key() for p in profiles for s in build_grid("all", ",".join(datasets), [0, 1], p).specs]

    new = keys()
    monkeypatch.setattr(config, "load_yaml", lambda path: yaml.safe_load(Path(path).read_text()) or {})
    assert keys() == new and len(new) > 20


# -- 2. an unusable --out ------------------------------------------------------------------------
def test_out_that_is_a_file_stops_before_any_work(capsys, tmp_path):
    out = tmp_path / "results"
    out.write_text("not a folder\n")
    code, stdout, err = run(capsys, *SMOKE, "--out", str(out))
    assert code == 2
    assert err.strip() == (f"error: --out {out} cannot hold the result store: {out} is a file, not a folder. "
                           "Pass --out with a folder you can write to (it is created if missing).")
    assert stdout == "" and out.read_text() == "not a folder\n"
    code, _, err = run(capsys, *SMOKE, "--out", str(out / "sub"))
    assert code == 2 and f"{out} is a file, not a folder" in err


def test_out_in_a_read_only_folder_stops_before_any_work(capsys, tmp_path, make_read_only):
    (tmp_path / "ro").mkdir()
    ro = make_read_only(tmp_path / "ro")
    for out in (ro, ro / "store"):
        code, stdout, err = run(capsys, *SMOKE, "--out", str(out))
        assert code == 2, err
        assert f"error: --out {out} cannot hold the result store: cannot create files in {ro}" in err
        assert "Pass --out with a folder you can write to" in err
        assert stdout == ""
    code, stdout, err = run(capsys, *SMOKE, "--out", str(ro / "store"), "--dry-run")
    assert code == 0 and "1 to run" in stdout  # a dry run writes nothing: it only warns
    assert f"warning: --out {ro / 'store'} cannot hold the result store: cannot create files in {ro}" in err


def test_reproduce_checks_out_first(capsys, tmp_path):
    out = tmp_path / "results"
    out.write_text("x")
    for extra in (["--judge-only"], []):
        code, stdout, err = run(capsys, "reproduce", "--claims", "C1", "--profile", "smoke", "--out", str(out),
                                "--no-progress", *extra)
        assert code == 2, err
        assert f"--out {out} cannot hold the result store: {out} is a file" in err and stdout == ""
    code, _, err = run(capsys, "reproduce", "--claims", "C1", "--profile", "smoke", "--judge-only",
                       "--out", str(tmp_path / "fine"), "--to", str(out / "card"))
    assert code == 2 and f"--to {out / 'card'} cannot hold the scorecard: {out} is a file" in err
    code, stdout, _ = run(capsys, "reproduce", "--claims", "C1", "--profile", "smoke", "--list", "--out", str(out))
    assert code == 0 and "C1" in stdout  # --list writes nothing


def test_report_on_a_read_only_store_suggests_to(capsys, tmp_path, make_read_only):
    store = tmp_path / "store"
    code, _, _ = run(capsys, *SMOKE, "--out", str(store))
    assert code == 0
    make_read_only(store)
    code, _, err = run(capsys, "report", "--out", str(store))
    assert code == 2
    assert f"error: cannot write the reports into {store / 'reports'}: cannot create files in" in err
    assert f"`python run_suite.py report --out {store} --to DIR`" in err
    code, stdout, err = run(capsys, "report", "--out", str(store), "--to", str(tmp_path / "mine"))
    assert code == 0, err
    assert (tmp_path / "mine" / "index.md").exists()


# -- 3. budget keys ------------------------------------------------------------------------------
@pytest.mark.parametrize("item,message", [
    ("toy.epochs=-1", "budget epochs of toy must be a number > 0, got -1 (from --set toy.epochs)"),
    ("toy.epochs=0", "budget epochs of toy must be a number > 0, got 0"),
    ("toy.epochs=abc", "budget epochs of toy must be a number > 0, got 'abc'"),
    ("toy.epochs=null", "budget epochs of toy must be a number > 0, got None"),
    ("toy.epochs=true", "budget epochs of toy must be a number > 0, got True"),
    ("toy.epochs=.inf", "budget epochs of toy must be a number > 0, got inf"),
    ("toy.max_seconds=0", "budget max_seconds of toy must be a number > 0 or null, got 0"),
    ("toy.max_seconds=abc", "budget max_seconds of toy must be a number > 0 or null, got 'abc'"),
    ("toy.max_steps=0", "budget max_steps of toy must be a positive integer or null, got 0"),
    ("toy.max_steps=1.5", "budget max_steps of toy must be a positive integer or null, got 1.5"),
    ("toy.max_steps=abc", "budget max_steps of toy must be a positive integer or null, got 'abc'"),
])
def test_bad_budget_in_set_stops_before_anything_runs(capsys, tmp_path, item, message):
    out = tmp_path / "o"
    for extra in (["--dry-run"], []):
        code, stdout, err = run(capsys, *SMOKE, "--set", item, "--out", str(out), *extra)
        assert code == 2, stdout + err
        assert message in err
        assert not out.exists()


def test_good_budget_in_set(capsys, tmp_path):
    code, stdout, err = run(capsys, *SMOKE, "--set", "toy.epochs=0.5,1e1", "--set", "toy.max_seconds=null,2.5",
                            "--set", "toy.max_steps=1e2,7", "--out", str(tmp_path / "o"), "--dry-run")
    assert code == 0, err
    assert "8 to run" in stdout


def test_bad_budget_in_config_files(capsys, tmp_path, monkeypatch):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("method_config:\n  toy:\n    smoke: {budget: {epochs: -1}}\n")
    code, _, err = run(capsys, *SMOKE, "--config", str(cfg), "--out", str(tmp_path / "o"), "--dry-run")
    assert code == 2
    assert "--config method_config: toy['smoke']: budget epochs must be a number > 0, got -1" in err
    methods = tmp_path / "toy.yaml"
    methods.write_text("toy:\n  '@toy': {budget: {max_steps: 0}}\n")
    monkeypatch.setattr(config, "_method_config_files", lambda: [methods])
    with pytest.raises(ConfigError, match=rf"{methods.name}: toy\['@toy'\]: budget max_steps must be a "
                                          r"positive integer or null, got 0"):
        build_grid("toy", "toy", [0], "smoke")


# -- 4. types of the top-level keys of a config file ---------------------------------------------
@pytest.mark.parametrize("line,message", [
    ("jobs: two", "jobs must be an integer >= 1, got 'two'"),
    ("jobs: 0", "jobs must be an integer >= 1, got 0"),
    ("jobs: 1.5", "jobs must be an integer >= 1, got 1.5"),
    ("jobs: true", "jobs must be an integer >= 1, got True"),
    ("seeds: [a]", "seeds must be an integer >= 0, a list of them or a range such as 0-4, got ['a']"),
    ("seeds: 1.5", "seeds must be an integer >= 0, a list of them or a range such as 0-4, got 1.5"),
    ("seeds: x-y", "seeds must be an integer >= 0, a list of them or a range such as 0-4, got 'x-y'"),
    ("seeds: {a: 1}", "seeds must be an integer >= 0, a list of them or a range such as 0-4, got {'a': 1}"),
    ("profile: [smoke]", "profile must be a name (text), got ['smoke']"),
    ("profile: 3", "profile must be a name (text), got 3"),
    ("device: [cpu]", "device must be a name (text), got ['cpu']"),
    ("methods: {toy: 1}", "methods must be a name, a comma-separated list or a list of names, got {'toy': 1}"),
    ("methods: [toy, 3]", "methods must be a name, a comma-separated list or a list of names, got ['toy', 3]"),
    ("methods:", "methods must be a name, a comma-separated list or a list of names, got None"),
    ("dataset: [1]", "dataset must be a name, a comma-separated list or a list of names, got [1]"),
    ("out: [a]", "out must be a folder name (text), got ['a']"),
    ("method_config: [toy]", "method_config must be a mapping METHOD -> SELECTOR -> settings, got ['toy']"),
    ("method_config: {toy: [1]}", "method_config: toy must be a mapping SELECTOR -> settings, got [1]"),
])
def test_config_value_types(capsys, tmp_path, line, message):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"profile: smoke\n{line}\n" if not line.startswith("profile") else f"{line}\n")
    out = tmp_path / "o"
    code, _, err = run(capsys, "--config", str(cfg), "--methods", "toy", "--dataset", "toy", "--out", str(out))
    assert code == 2, err
    assert f"error: config file {cfg}: {message}" in err
    assert not out.exists()


# -- 5. messages ---------------------------------------------------------------------------------
def test_unknown_hyperparameter_message(capsys, tmp_path):
    code, _, err = run(capsys, *SMOKE, "--set", "toy.scal=1", "--out", str(tmp_path / "o"))
    assert code == 2
    assert err.strip() == ("error: unknown hyperparameter 'scal' of method toy. Did you mean 'scale'? "
                           "Valid hyperparameters of toy: fail, scale, sleep. "
                           "Their defaults and meanings: `python run_suite.py list --method toy`.")


def test_config_that_is_not_a_mapping_names_the_file(capsys, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("- methods: toy\n- dataset: toy\n")
    code, _, err = run(capsys, "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert code == 2
    assert err.strip() == (f"error: config file {cfg}: expected a mapping of settings (keys such as methods, "
                           "dataset, seeds, profile, set), got a list: [{'methods': 'toy'}, {'dataset': 'toy'}]")
    cfg.write_text("lca\n")
    code, _, err = run(capsys, "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert code == 2 and f"config file {cfg}: expected a mapping of settings" in err and "got a str: 'lca'" in err


def test_set_written_as_a_mapping_names_the_file_and_the_fix(capsys, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("methods: toy\ndataset: toy\nprofile: smoke\nset: {toy.scale: [0.5, 2], toy.fail: never}\n")
    code, _, err = run(capsys, "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert code == 2
    assert err.strip() == (f"error: config file {cfg}: set must be a list of 'METHOD.KEY=V1,V2' strings, "
                           "got a mapping: {'toy.scale': [0.5, 2], 'toy.fail': 'never'}. "
                           "Write it as: set: [\"toy.scale=0.5,2\", \"toy.fail=never\"]")
    cfg.write_text("methods: toy\ndataset: toy\nprofile: smoke\nset: [toy.scale=0.5, 3]\n")
    code, _, err = run(capsys, "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert code == 2 and f"config file {cfg}: set must be a list of 'METHOD.KEY=V1,V2' strings" in err


def test_missing_data_is_checked_once_before_any_run(capsys, tmp_path):
    out, empty = tmp_path / "store", tmp_path / "empty"
    argv = ["--methods", "toy,toy2", "--dataset", "toy,MNIST", "--profile", "smoke", "--seeds", "0-2",
            "--data-dir", str(empty), "--out", str(out)]
    code, stdout, err = run(capsys, *argv)
    assert code == 2
    assert stdout == "" and not out.exists()  # nothing ran, not even the toy runs
    assert err.count("error:") == 1 and err.count("MNIST") >= 1
    assert err.startswith(f"error: dataset MNIST is not available in the data folder {empty}: missing (expected")
    assert err.count("prepare MNIST --download") == 1
    assert "6 runs need it; nothing was run. Get the data, pass --data-dir DIR, or leave MNIST out of --dataset." in err
    code, stdout, err = run(capsys, *argv, "--dry-run")
    assert code == 0, err
    assert stdout.count("no data") == 6 and stdout.count("todo") == 6
    assert "12 runs: 0 done, 6 to run, 0 failed before (will be retried), 6 without data." in stdout
    assert f"dataset MNIST is not available in the data folder {empty}" in stdout
