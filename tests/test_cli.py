"""The command line: user errors, listing, dry runs, sweeps, caching, failures, reports."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from suite.cli import main

PLUGINS = str(Path(__file__).resolve().parent / "plugins")


def run(capsys, *argv):
    if argv[0].startswith("-"):
        argv = ["--plugins", PLUGINS, "--no-progress", *argv]
    elif argv[0] != "report":  # report reads the store only: it needs no plugins
        argv = [argv[0], "--plugins", PLUGINS, *argv[1:]]
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def records(out: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))}


@pytest.mark.parametrize("argv,message", [
    (["--methods", "nosuch"], "unknown method 'nosuch'"),
    (["--methods", "toy", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["--methods", "toy", "--set", "toy.nope=1"], "unknown hyperparameter 'nope' of method toy"),
    (["--methods", "toy", "--set", "toy.scale"], "malformed --set 'toy.scale'"),
    (["--methods", "toy", "--set", "toy.scale=abc"], "must be of type float"),
    (["--methods", "toy", "--set", "toy.scale=-1"], "must be > 0"),
    (["--methods", "toy", "--set", "toy2.scale=1"], "not among --methods"),
    (["--methods", "toy", "--profile", "nosuch"], "unknown profile 'nosuch'"),
    (["--methods", "toy", "--seeds", "x-y"], "malformed --seeds"),
])
def test_user_errors_exit_nonzero_and_write_nothing(capsys, tmp_path, argv, message):
    out = tmp_path / "store"
    code, stdout, stderr = run(capsys, *argv, "--out", str(out), *(["--dataset", "toy"] if "--dataset" not in argv else []))
    assert code == 2
    assert message in stderr
    assert not out.exists()


def test_unknown_name_lists_valid_names(capsys, tmp_path):
    code, _, err = run(capsys, "--methods", "toyy", "--dataset", "toy", "--out", str(tmp_path / "o"))
    assert code == 2 and "Did you mean 'toy'?" in err and "toy2" in err


def test_list_shows_methods_and_datasets(capsys):
    code, out, _ = run(capsys, "--list")
    assert code == 0
    assert "toy" in out and "scale=1.0" in out and "other" in out
    assert "toybin" in out and "binary" in out and "yes: embedded" in out


def test_run_then_rerun_skips_then_report(capsys, tmp_path):
    out = tmp_path / "store"
    code, stdout, _ = run(capsys, "--methods", "toy,toy2", "--dataset", "toy", "--profile", "smoke",
                          "--set", "toy.scale=0.5,2", "--seeds", "0-1", "--out", str(out))
    assert code == 0, stdout
    recs = records(out)
    assert len(recs) == 6  # toy: 2 scales x 2 seeds, toy2: 2 seeds
    assert "6 trained" in stdout and "knn@10" in stdout and "toy (scale=0.5)" in stdout
    r = next(iter(recs.values()))
    for key in ("sse", "r2", "lifetime_sparsity", "dead_frac", "knn@50", "fit_seconds", "params"):
        assert key in r["metrics"], key
    assert r["provenance"]["torch_version"] and r["files"]["checkpoint"]
    assert (out / "runs" / f"{r['key']}.npz").exists() and (out / "runs" / f"{r['key']}.pt").exists()

    code, stdout, _ = run(capsys, "--methods", "toy2,toy", "--dataset", "toy", "--profile", "smoke",
                          "--set", "toy.scale=2,0.5", "--seeds", "1,0", "--out", str(out), "--dry-run")
    assert code == 0 and stdout.count(" done") >= 6 and "0 to run" in stdout

    code, stdout, _ = run(capsys, "--methods", "toy,toy2", "--dataset", "toy", "--profile", "smoke",
                          "--set", "toy.scale=0.5,2", "--seeds", "0-1", "--out", str(out))
    assert code == 0 and "0 trained, 6 already done" in stdout
    assert records(out) == recs  # nothing rewritten

    def digest():
        return {p.relative_to(out): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((out / "reports").rglob("*")) if p.is_file()}
    code, stdout, _ = run(capsys, "report", "--out", str(out))
    first = digest()
    assert code == 0 and first and any(str(p).endswith(".md") for p in first)
    code, _, _ = run(capsys, "report", "--out", str(out))
    assert digest() == first


def test_failures_are_recorded_reported_and_retried(capsys, tmp_path):
    out = tmp_path / "store"
    argv = ["--methods", "toy", "--dataset", "toy", "--profile", "smoke", "--out", str(out)]
    code, stdout, _ = run(capsys, *argv, "--set", "toy.fail=fit")
    assert code == 1 and "FAILED" in stdout and "toy failure requested" in stdout
    assert not records(out)
    failure = json.loads(next((out / "failures").glob("*.json")).read_text())
    assert "Traceback" in failure["traceback"] and failure["error"].startswith("RuntimeError")
    code, stdout, _ = run(capsys, *argv, "--set", "toy.fail=fit")
    assert code == 1 and "0 already done" in stdout  # retried, not cached
    code, stdout, _ = run(capsys, *argv, "--set", "toy.fail=nan")
    assert code == 1 and "training loss became nan" in stdout


def test_methods_that_cannot_run_are_skipped_with_reason(capsys, tmp_path):
    code, stdout, _ = run(capsys, "--methods", "toy", "--dataset", "toybin", "--profile", "smoke",
                          "--out", str(tmp_path / "o"))
    assert code == 0
    assert "skipped toy on toybin: toy models continuous data, toybin is binary" in stdout


def test_config_file(capsys, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("methods: [toy]\ndataset: toy\nprofile: smoke\nseeds: [3]\n"
                   "method_config:\n  toy:\n    '*': {hparams: {scale: 0.25}}\n")
    out = tmp_path / "o"
    code, stdout, _ = run(capsys, "--config", str(cfg), "--out", str(out))
    assert code == 0
    (rec,) = records(out).values()
    assert rec["spec"]["seed"] == 3 and rec["spec"]["hparams"]["scale"] == 0.25
    assert rec["spec"]["overrides"] == {"scale": 0.25}
    cfg.write_text("methods: [toy]\nbogus: 1\n")
    code, _, err = run(capsys, "--config", str(cfg), "--out", str(out))
    assert code == 2 and "unknown keys ['bogus']" in err


def test_prepare_needs_a_source_and_names_the_commands(capsys, tmp_path):
    code, _, err = run(capsys, "prepare", "MNIST", "--data-dir", str(tmp_path))
    assert code == 2
    assert "prepare MNIST --download" in err and "prepare MNIST --from DIR" in err
    assert not any(tmp_path.iterdir())


def test_missing_dataset_stops_before_any_run(capsys, tmp_path):
    out = tmp_path / "store"
    code, stdout, err = run(capsys, "--methods", "toy", "--dataset", "toy,MNIST", "--profile", "smoke",
                            "--data-dir", str(tmp_path / "empty"), "--out", str(out))
    assert code == 2 and stdout == ""
    assert "dataset MNIST is not available" in err and "prepare MNIST" in err
    assert not out.exists()


UNREADABLE_DATASET = '''
from suite.data.sources import DatasetSource
from suite.errors import DataError
from suite.registry import register_dataset


@register_dataset
class UnreadableToy(DatasetSource):
    """Present (its availability says so), but it cannot be read."""

    name, shape, embedded = "unreadabletoy", (1, 4, 4), True

    def load(self, data_dir, cache_dir):
        raise DataError("unreadabletoy: the file is truncated")
'''


def test_dataset_that_fails_to_load_fails_its_runs_and_the_grid_goes_on(capsys, tmp_path):
    plugins = tmp_path / "plugins"
    (plugins / "datasets").mkdir(parents=True)
    (plugins / "datasets" / "unreadable_toy.py").write_text(UNREADABLE_DATASET)
    out = tmp_path / "store"
    code, stdout, _ = run(capsys, "--plugins", str(plugins), "--methods", "toy", "--dataset",
                          "toy,unreadabletoy", "--profile", "smoke", "--out", str(out))
    assert code == 1
    assert "1 trained" in stdout and "1 failed" in stdout
    assert "the file is truncated" in stdout
    assert len(records(out)) == 1


def test_gap_command_reinfers_stored_runs_without_training(capsys, tmp_path):
    out = tmp_path / "store"
    code, _, _ = run(capsys, "--methods", "toy", "--dataset", "toy", "--profile", "smoke", "--out", str(out))
    assert code == 0
    (before,) = records(out).values()
    code, stdout, _ = run(capsys, "gap", "--out", str(out), "--lams", "0.1,1", "--solvers", "fista")
    assert code == 0 and "1 runs analysed" in stdout
    (after,) = records(out).values()
    rows = after["traces"]["amortization_gap"]
    assert [(r["solver"], r["lam"], r["n_samples"]) for r in rows] == [("fista", 0.1, 100), ("fista", 1.0, 100)]
    assert rows[0]["sse"] < rows[1]["sse"]  # a weaker penalty reconstructs better
    assert after["metrics"] == before["metrics"]
    assert (out / "reports" / "amortization_gap_toy_smoke.md").exists()
    code, stdout, _ = run(capsys, "gap", "--out", str(out))
    assert "0 runs analysed" in stdout  # already done; --force recomputes
    code, _, err = run(capsys, "gap", "--out", str(out), "--lams", "a,b")
    assert code == 2 and "malformed --lams" in err


def test_a_run_cut_by_its_time_limit_is_recorded_and_marked(capsys, tmp_path):
    """max_seconds that runs out before the planned steps: the record says so (stopped_by,
    time_limited = 1), and every table marks the row " ‡" with the footnote; a run that took
    its planned steps is not marked."""
    out = tmp_path / "store"
    code, stdout, _ = run(capsys, "--methods", "lca,ista", "--dataset", "digits", "--profile",
                          "smoke", "--set", "lca.max_seconds=1e-6", "--out", str(out))
    assert code == 0, stdout
    recs = {r["spec"]["method"]: r for r in records(out).values()}
    cut, whole = recs["lca"], recs["ista"]
    curve = cut["training"]["loss_curve"]
    assert curve["stopped_by"] == "time limit" and curve["total_steps"] == 1 < curve["planned_steps"]
    assert cut["metrics"]["time_limited"] == 1.0
    assert whole["training"]["loss_curve"]["stopped_by"] == "budget"
    assert whole["metrics"]["time_limited"] == 0.0
    assert "lca (max_seconds=1e-06) ‡" in stdout and "‡ cut by its time limit" in stdout
    assert "ista ‡" not in stdout
    md = (out / "reports" / "leaderboard_digits_smoke.md").read_text()
    assert "lca (max_seconds=1e-06) ‡" in md and "‡ cut by its time limit (max_seconds)" in md
    page = (out / "reports" / "index.html").read_text()
    assert "cut by its time limit" in page and "stopped by" in page
