"""reports: leaderboards, sweep tables and figures from a hand-written result store."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import reports
from reports.stats import mean_ci

T975 = {1: 12.706204736174698, 2: 4.302652729749464}   # Student t quantiles (tables)

BASE = {"sse": 10.0, "mse": 0.625, "r2": 0.5, "rate": None, "nelbo": None,
        "lifetime_sparsity": 0.8, "population_sparsity": 0.7, "frac_zeros": 0.9, "l0": 3.0,
        "l1": 4.0, "dead_frac": 0.0, "n_dead": 0, "fit_seconds": 1.5, "infer_seconds": 0.1,
        "params": 96, "peak_memory_mb": None}
FAMILIES = {"lca": "sparse-coding", "fista": "sparse-coding", "pvae": "amortized-vae"}


def write_run(out: Path, key: str, method: str, seed: int = 0, overrides: dict | None = None,
              dataset: str = "toy", profile: str = "quick", finished: str = "2025-01-01T00:00:00",
              dictionary: np.ndarray | None = None, **metrics) -> None:
    overrides = overrides or {}
    hparams = {"lam": 0.5, **{k: v for k, v in overrides.items() if k != "n_latents"}}
    record = {
        "key": key, "status": "ok",
        "spec": {"method": method, "dataset": dataset, "profile": profile, "seed": seed,
                 "n_latents": overrides.get("n_latents", 6), "hparams": hparams,
                 "overrides": overrides, "budget": {"epochs": 1}, "eval": {}},
        "method": {"name": method, "family": FAMILIES[method], "version": "1", "description": ""},
        "metrics": {**BASE, **metrics},
        "provenance": {"suite_version": "0.1.0", "started": finished, "finished": finished},
        "files": {"arrays": f"{key}.npz" if dictionary is not None else None, "checkpoint": None},
    }
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / f"{key}.json").write_text(json.dumps(record, indent=2))
    if dictionary is not None:
        np.savez(runs / f"{key}.npz", dictionary=dictionary, data_shape=np.array([1, 4, 4]),
                 unit_active_frac=np.ones(len(dictionary)))


def write_failure(out: Path, key: str, method: str) -> None:
    (out / "failures").mkdir(parents=True, exist_ok=True)
    (out / "failures" / f"{key}.json").write_text(json.dumps({
        "key": key, "status": "failed", "error": "NonFiniteLossError: loss is nan",
        "traceback": "...", "spec": {"method": method, "dataset": "toy", "profile": "quick",
                                     "seed": 0, "overrides": {}}}))


def make_store(out: Path) -> Path:
    atoms = np.random.default_rng(0).normal(size=(6, 16)).astype(np.float32)
    for seed, sse in enumerate([10.0, 12.0, 17.0]):         # lca default: 3 seeds
        write_run(out, f"lca{seed}", "lca", seed=seed, sse=sse, dictionary=atoms)
    write_run(out, "lcaB", "lca", overrides={"lam": 10}, sse=30.0, lifetime_sparsity=0.95)
    write_run(out, "lcaC", "lca", overrides={"lam": 2}, sse=20.0, lifetime_sparsity=0.9)
    for seed, rate in enumerate([4.0, 6.0]):                 # pvae: 2 seeds, a rate and an nll
        write_run(out, f"pvae{seed}", "pvae", seed=seed, sse=5.5, rate=rate, nelbo=20.0 + rate,
                  nll=90.0 + seed)
    write_failure(out, "fista0", "fista")
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A store built once: ``(out, written)``; tests using it must not modify it."""
    out = make_store(tmp_path_factory.mktemp("built") / "results")
    return out, reports.build(out)


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "results")


def _md(out: Path, name="leaderboard_toy_quick") -> str:
    return (out / "reports" / f"{name}.md").read_text()


def _row(md: str, label: str) -> dict[str, str]:
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    headers = [c.strip() for c in lines[0].strip("|").split("|")]
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if cells[0] == label:
            return dict(zip(headers, cells))
    raise AssertionError(f"no row {label!r} in\n{md}")


def test_mean_ci_matches_hand_computation():
    mean, half, n = mean_ci([10.0, 12.0, 17.0, None])
    # mean 13, sample sd sqrt((9 + 1 + 16) / 2) = sqrt(13)
    assert (mean, n) == (13.0, 3)
    assert half == pytest.approx(T975[2] * math.sqrt(13) / math.sqrt(3), rel=1e-9)
    assert mean_ci([4.0])[0] == 4.0 and math.isnan(mean_ci([4.0])[1])
    assert math.isnan(mean_ci([None, float("nan")])[0])


def test_leaderboard_cells_and_csv(built):
    store, _ = built
    md = _md(store)
    lca = _row(md, "lca")
    assert lca["n_seeds"] == "3"
    assert lca["sse"] == "13 ± 9"                            # 8.957 to 2 significant digits
    assert lca["rate"] == "—" and lca["nelbo"] == "—" and lca["nll"] == "—"
    assert lca["lifetime_sparsity"] == "0.8 ± 0"              # identical seeds: exactly 0
    pvae = _row(md, "pvae")
    assert pvae["rate"] == f"5 ± {T975[1] * math.sqrt(2) / math.sqrt(2):.2g}"
    assert pvae["nll"] == "90.5 ± 6.4" and pvae["sse"] == "5.5 ± 0"
    single = _row(md, "lca (lam=2)")
    assert single["sse"] == "20" and "±" not in "".join(single.values())
    assert "knn" not in md and "fista" not in md.split("|", 1)[1]
    assert "1 failed run not shown; see ../failures/." in md
    assert lca["converged"] == "n/a" and "†" not in md      # records without the flag: n/a

    csv = pd.read_csv(store / "reports" / "leaderboard_toy_quick.csv")
    row = csv.set_index("config").loc["lca"]
    assert row["sse_mean"] == 13.0
    assert row["sse_ci"] == pytest.approx(T975[2] * math.sqrt(13 / 3), rel=1e-9)
    assert math.isnan(row["rate_mean"]) and "l1_mean" in csv and "fista" not in set(csv["method"])
    assert math.isnan(csv.set_index("config").loc["lca (lam=2)", "sse_ci"])


def test_rows_sorted_by_family_method_then_config_values(built):
    md = _md(built[0])
    order = [ln.split("|")[1].strip() for ln in md.splitlines() if ln.startswith("|")][2:]
    assert order == ["pvae", "lca", "lca (lam=2)", "lca (lam=10)"]


def test_sweep_table_only_for_methods_with_two_configs(built, tmp_path):
    store, written = built
    md = _md(store, "sweep_toy_quick")
    assert "pvae" not in md
    rows = [ln for ln in md.splitlines() if ln.startswith("| lca")]
    assert [r.split("|")[2].strip() for r in rows] == ["0.5", "2", "10"]    # lam, resolved
    csv = pd.read_csv(store / "reports" / "sweep_toy_quick.csv")
    assert list(csv["setting:lam"]) == [0.5, 2, 10]
    assert any(p.name == "sweep_toy_quick.md" for p in written)

    lone = tmp_path / "lone"
    write_run(lone, "a", "lca")
    write_run(lone, "b", "pvae")
    names = {p.name for p in reports.build(lone)}
    assert "leaderboard_toy_quick.md" in names and not any(n.startswith("sweep") for n in names)


def test_four_formats_and_figures_written(built):
    store, written = built
    rep = store / "reports"
    for ext in (".md", ".csv", ".tex", ".html"):
        assert (rep / f"leaderboard_toy_quick{ext}") in written
    assert "\\toprule" in (rep / "leaderboard_toy_quick.tex").read_text()
    assert "<table>" in (rep / "leaderboard_toy_quick.html").read_text()
    figs = {p.name for p in written if p.suffix == ".png"}
    assert figs == {"dictionary_toy_quick_lca.png", "sparsity_vs_sse_toy_quick.png",
                    "rate_distortion_toy_quick.png"}
    for name in figs:
        assert (rep / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written[-1] == rep / "index.md"


def test_rebuild_is_byte_identical(built, tmp_path):
    store, first = built
    snapshot = {p: p.read_bytes() for p in first}
    second = reports.build(store)
    assert second == first
    assert {p: p.read_bytes() for p in second} == snapshot
    other = reports.build(store, tmp_path / "elsewhere")          # tables link ../failures
    same = [(a, b) for a, b in zip(first, other) if a.suffix in (".png", ".csv")]
    assert len(same) == 5 and all(a.read_bytes() == b.read_bytes() for a, b in same)


def test_failures_counted_and_superseded_records_ignored(store):
    write_run(store, "lca0-old", "lca", seed=0, sse=1000.0, finished="2024-01-01T00:00:00")
    lines = reports.summary_lines(store)
    assert lines[0].startswith("8 finished runs stored")
    assert any("1 older record" in ln for ln in lines)
    assert any("1 run failed" in ln for ln in lines)
    assert any("fista on toy (quick, seed 0): NonFiniteLossError" in ln for ln in lines)
    records = [json.loads(p.read_text()) for p in sorted((store / "runs").glob("*.json"))]
    assert "| lca          | sparse-coding |         3 |         n/a |  13 ± 9 |" in reports.format_leaderboard(
        records, "toy", "quick")


def test_format_leaderboard_for_the_cli(built):
    records = [json.loads(p.read_text()) for p in sorted((built[0] / "runs").glob("*.json"))]
    text = reports.format_leaderboard(records, "toy", "quick")
    assert text.splitlines()[0].startswith("| method") and "lca (lam=10)" in text
    assert "no finished runs" in reports.format_leaderboard(records, "other", "quick")


def test_unconverged_rows_are_marked_with_a_footnote(tmp_path):
    out = tmp_path / "results"
    for seed, flag in enumerate([1.0, 0.0]):                  # one seed did not converge: "no"
        write_run(out, f"lca{seed}", "lca", seed=seed, converged=flag)
    write_run(out, "lcaB", "lca", overrides={"lam": 2}, converged=1.0)
    write_run(out, "lcaC", "lca", overrides={"lam": 10}, converged=None)   # could not be judged
    write_run(out, "pvae", "pvae", converged=1.0)
    reports.build(out)
    md = _md(out)
    assert _row(md, "lca †")["converged"] == "no"
    assert _row(md, "lca (lam=2)")["converged"] == "yes"
    assert _row(md, "lca (lam=10)")["converged"] == "n/a" and _row(md, "pvae")["converged"] == "yes"
    assert md.count("†") == 2                                 # the mark and the footnote
    table_end = max(i for i, ln in enumerate(md.splitlines()) if ln.startswith("|"))
    footnote = md.splitlines()[table_end + 2]
    assert footnote == ("† not converged: loss still improving > 1% over the last 20% of "
                        "training; its numbers are not results")
    csv = pd.read_csv(out / "reports" / "leaderboard_toy_quick.csv", keep_default_na=False)
    assert dict(zip(csv["config"], csv["converged"])) == {
        "pvae": "yes", "lca": "no", "lca (lam=2)": "yes", "lca (lam=10)": "n/a"}
    assert _row(_md(out, "sweep_toy_quick"), "lca †")["converged"] == "no"
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    text = reports.format_leaderboard(records, "toy", "quick")
    assert "| lca †" in text and text.endswith("its numbers are not results")


def test_convergence_and_gap_tables_mark_unconverged_runs_too(tmp_path):
    out = tmp_path / "results"
    write_run(out, "p0", "pvae", converged=0.0)
    path = out / "runs" / "p0.json"
    rec = json.loads(path.read_text())
    rec["traces"] = {
        "convergence": {"steps": [1, 2], "r2": [0.1, 0.2], "sse": [2.0, 1.0],
                        "frac_zeros": [0.5, 0.6], "delta_norm": [1.0, 0.5], "rate": None,
                        "train_steps": None},
        "amortization_gap": [{"solver": "lca", "lam": 0.1, "sse": 4.0, "lifetime_sparsity": 0.9,
                              "r2": 0.6, "population_sparsity": 0.8, "frac_zeros": 0.7,
                              "dead_frac": 0.0}]}
    path.write_text(json.dumps(rec))
    reports.build(out)
    for name in ("convergence_toy_quick", "amortization_gap_toy_quick"):
        md = _md(out, name)
        assert "| pvae     | pvae †" in md, md
        assert md.rstrip().endswith("its numbers are not results")
    csv = pd.read_csv(out / "reports" / "amortization_gap_toy_quick.csv")
    assert set(csv["config"]) == {"pvae"}                     # raw data keep the plain label


def test_gap_note_names_the_sample_counts_of_both_row_kinds():
    from reports.amortization_gap_report import SAMPLES_NOTE, samples_note

    def rec(ev, gap=True):
        return {"spec": {"eval": ev}, "traces": {"amortization_gap": [{}] if gap else None}}
    quick = {"max_val": 10000, "amortization_gap": {"max_val": 2000}}
    note = samples_note([rec(quick), rec(quick), rec({"max_val": None}),
                         rec({"max_val": 500}, gap=False)])
    assert note.endswith("Configured here: own 10000, re-inferred 2000; own all, re-inferred all.")
    assert "500" not in note                                    # that run has no gap rows
    assert samples_note([{"spec": {}, "traces": {"amortization_gap": [{}]}}]) == SAMPLES_NOTE


def test_unconverged_note_states_the_rule_constants(monkeypatch):
    """The † footnote is built from the convergence rule's constants, not a copy of them."""
    import importlib

    from reports import formatting
    from suite import loss_curve

    monkeypatch.setattr(loss_curve, "TOL", 0.02)
    monkeypatch.setattr(loss_curve, "WINDOW", 0.25)
    try:
        assert "> 2% over the last 25% of training" in importlib.reload(formatting).UNCONVERGED_NOTE
    finally:
        monkeypatch.undo()
        importlib.reload(formatting)
    assert "> 1% over the last 20% of training" in formatting.UNCONVERGED_NOTE


def test_store_summary_counts_in_singular_and_plural(tmp_path):
    """One run, one configuration, one pair, one failure: no "1 configurations"."""
    write_run(tmp_path, "lca0", "lca")
    write_failure(tmp_path, "fista0", "fista")
    lines = reports.build(tmp_path) and (tmp_path / "reports" / "index.md").read_text()
    assert "1 finished run stored in" in lines
    assert "(1 configuration on 1 dataset/profile pair)" in lines and "1 run failed" in lines
    write_run(tmp_path, "lca1", "lca", seed=1)
    write_run(tmp_path, "pvae0", "pvae")
    reports.build(tmp_path)
    text = (tmp_path / "reports" / "index.md").read_text()
    assert "3 finished runs stored in" in text and "(2 configurations on 1 dataset/profile pair)" in text


def test_shortened_labels_keep_both_marks():
    from reports.formatting import split_marks
    from reports.terminal import _shorten

    assert split_marks("lca (lam=0.1) † ‡") == ("lca (lam=0.1)", " † ‡")
    assert split_marks("lca ‡") == ("lca", " ‡") and split_marks("lca") == ("lca", "")
    short = _shorten("lca (lam=0.1, dt=0.05, working_set=32) † ‡", 16)
    assert short.endswith("… † ‡") and len(short) <= 16
