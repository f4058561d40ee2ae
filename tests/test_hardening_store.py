"""Hardening of the result store, the reports and the dataset cache (issue 14).

Damaged store files (a truncated record, a truncated ``.npz``, a garbled ``.pt``) are reported by
file name, count as not done and are redone; a command that needs one says so clearly. A report
is built beside its folder and swapped in, never half rewritten. Files are created with the
umask's mode; an unreadable record is an error. A NaN metric is shown apart from "not
applicable". A dataset cache of the wrong shape, dtype or with NaN is rebuilt.
"""
from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

import reports
from suite.errors import SuiteError
from suite.store import Store, atomic_write, load_records

PLUGINS = str(Path(__file__).resolve().parent / "plugins")
NOWHERE = Path("/nonexistent-data-folder")


# -- helpers ---------------------------------------------------------------------------------
def make_record(key: str, seed: int = 0, method: str = "lca", **metrics) -> dict:
    return {
        "key": key, "status": "ok",
        "spec": {"method": method, "dataset": "toy", "profile": "quick", "seed": seed,
                 "n_latents": 6, "hparams": {"lam": 0.5}, "overrides": {},
                 "budget": {"epochs": 1}, "eval": {}},
        "method": {"name": method, "family": "sparse-coding", "version": "1", "description": ""},
        "metrics": {"sse": 10.0 + seed, "r2": 0.5, "rate": None, "lifetime_sparsity": 0.8,
                    "dead_frac": 0.0, "fit_seconds": 1.0, "params": 96, **metrics},
        "provenance": {"finished": "2025-01-01T00:00:00"},
    }


def arrays_of(seed: int = 0) -> dict:
    atoms = np.random.default_rng(seed).normal(size=(6, 16)).astype(np.float32)
    return {"dictionary": atoms, "data_shape": np.array([1, 4, 4]),
            "unit_active_frac": np.ones(6)}


def checkpoint_of(seed: int = 0) -> dict:
    return {"weight": torch.randn(6, 16, generator=torch.Generator().manual_seed(seed))}


def full_store(out: Path, n: int = 3) -> Store:
    store = Store(out)
    for seed in range(n):
        store.write_result(make_record(f"run{seed}", seed), arrays=arrays_of(seed),
                           checkpoint=checkpoint_of(seed))
    return store


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes((b ^ 0x5A) for b in data[mid:mid + 64])
    path.write_bytes(bytes(data))


def cli(capsys, *argv):
    import suite.store
    from suite.cli import main

    getattr(suite.store, "_warned", set()).clear()  # each command is a new process: it names damaged files again
    if argv[0].startswith("-"):
        argv = ["--plugins", PLUGINS, "--no-progress", *argv]
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- 1. damaged store files --------------------------------------------------------------------
def test_truncated_record_is_not_done_skipped_and_named(tmp_path, capsys):
    store = full_store(tmp_path / "results")
    truncate(store.record_path("run1"))
    assert store.has("run0") and not store.has("run1")
    assert store.status("run1") == "todo"
    assert [r["key"] for r in store.records()] == ["run0", "run2"]
    assert "run1.json" in capsys.readouterr().err
    with pytest.raises(SuiteError, match=r"run1\.json.*redone"):
        store.record("run1")
    text = "\n".join(reports.summary_lines(tmp_path / "results"))
    assert "1 damaged run" in text and "run1.json: truncated" in text and "redone" in text, text


def test_record_that_is_not_a_run_record_is_damaged(tmp_path):
    store = full_store(tmp_path / "results", n=2)
    store.record_path("run0").write_text("[1, 2, 3]\n")
    rec = json.loads(store.record_path("run1").read_text())
    rec["key"] = "somethingelse"
    store.record_path("run1").write_text(json.dumps(rec))
    assert not store.has("run0") and not store.has("run1")
    assert store.records() == []


def test_truncated_npz_is_not_done_and_needing_it_is_a_clear_error(tmp_path, capsys):
    store = full_store(tmp_path / "results")
    npz = store.runs / "run2.npz"
    truncate(npz)
    assert not store.has("run2") and store.status("run2") == "todo"
    assert [r["key"] for r in load_records(store.root)] == ["run0", "run1"]
    with pytest.raises(SuiteError) as err:
        store.arrays("run2")
    assert str(npz) in str(err.value) and "redone" in str(err.value)
    assert "run2.npz" in capsys.readouterr().err
    written = reports.build(store.root)                       # no BadZipFile: the run is left out
    index = (store.root / "reports" / "index.md").read_text()
    assert "run2.npz" in index and written[-1].name == "index.md"


def test_same_size_corruption_of_arrays_is_detected(tmp_path):
    store = full_store(tmp_path / "results", n=1)
    garble(store.runs / "run0.npz")
    assert not store.has("run0")


@pytest.mark.parametrize("damage", [garble, truncate,
                                    lambda p: p.write_bytes(b"\x80\x02garbage" * 20)])
def test_garbled_checkpoint_is_not_done_and_never_suggests_weights_only(tmp_path, damage):
    store = full_store(tmp_path / "results", n=1)
    pt = store.checkpoint_path("run0")
    damage(pt)
    assert not store.has("run0")
    with pytest.raises(SuiteError) as err:
        store.record("run0")
    assert str(pt) in str(err.value) and "redone" in str(err.value)
    assert "weights_only" not in str(err.value)
    with pytest.raises(SuiteError) as err:
        store.load_checkpoint("run0")
    assert "weights_only" not in str(err.value) and str(pt) in str(err.value)


def test_intact_checkpoint_loads(tmp_path):
    store = full_store(tmp_path / "results", n=1)
    state = store.load_checkpoint("run0")
    assert torch.equal(state["weight"], checkpoint_of(0)["weight"])


def test_records_without_checksums_are_still_validated(tmp_path):
    store = full_store(tmp_path / "results", n=2)
    for key in ("run0", "run1"):                              # as written before checksums
        rec = json.loads(store.record_path(key).read_text())
        rec.pop("checksums", None)
        store.record_path(key).write_text(json.dumps(rec))
    assert store.has("run0") and store.has("run1")
    truncate(store.runs / "run0.npz")
    garble(store.checkpoint_path("run1"))
    assert not store.has("run0") and not store.has("run1")


def test_unreadable_record_is_an_error_naming_the_file(tmp_path, monkeypatch):
    store = full_store(tmp_path / "results", n=2)
    target = store.record_path("run1")
    real = Path.read_bytes

    def denied(self):
        if self == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(SuiteError, match=r"run1\.json") as err:
        store.records()
    assert "ermission" in str(err.value)
    with pytest.raises(SuiteError, match=r"run1\.json"):
        store.has("run1")
    with pytest.raises(SuiteError, match=r"run1\.json"):
        reports.summary_lines(store.root)


def test_unlistable_runs_folder_is_an_error_not_an_empty_store(tmp_path, monkeypatch):
    store = full_store(tmp_path / "results", n=1)
    real = os.listdir

    def denied(path="."):
        if Path(path) == store.runs:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "listdir", denied)
    with pytest.raises(SuiteError, match="Permission denied") as err:
        store.records()
    assert str(store.runs) in str(err.value)


def test_damaged_runs_are_redone_by_the_next_run(tmp_path, capsys):
    from suite.runner import restore_method

    out = tmp_path / "store"
    args = ("--methods", "toy", "--dataset", "toy", "--profile", "smoke", "--seeds", "0-2",
            "--out", str(out))
    code, stdout, _ = cli(capsys, *args)
    assert code == 0, stdout
    keys = sorted(p.stem for p in (out / "runs").glob("*.json"))
    assert len(keys) == 3
    truncate(out / "runs" / f"{keys[0]}.json")
    truncate(out / "runs" / f"{keys[1]}.npz")
    garble(out / "runs" / f"{keys[2]}.pt")

    with pytest.raises(SuiteError) as err:                    # `sample`/restore: a clear error
        restore_method(Store(out), keys[2])
    assert f"{keys[2]}.pt" in str(err.value) and "weights_only" not in str(err.value)

    code, stdout, stderr = cli(capsys, "report", "--out", str(out))   # no BadZipFile
    assert code == 0 and "3 damaged runs not counted" in stdout, stdout + stderr
    assert "0 finished runs" in stdout and f"{keys[1]}.npz" in stdout
    code, stdout, stderr = cli(capsys, "gap", "--plugins", PLUGINS, "--out", str(out),
                               "--device", "cpu")
    assert code == 0, stdout + stderr

    code, stdout, stderr = cli(capsys, *args, "--dry-run")
    assert code == 0 and "0 done, 3 to run" in stdout
    for name in (f"{keys[0]}.json", f"{keys[1]}.npz", f"{keys[2]}.pt"):
        assert name in stderr, stderr

    code, stdout, _ = cli(capsys, *args)
    assert code == 0 and "3 trained" in stdout, stdout
    store = Store(out)
    assert all(store.has(k) for k in keys)
    assert len(store.records()) == 3
    restore_method(store, keys[2])


# -- 1. reports are swapped in whole -----------------------------------------------------------
def test_a_failing_build_leaves_the_previous_report_untouched(tmp_path, monkeypatch):
    store = full_store(tmp_path / "results")
    rep = store.root / "reports"
    reports.build(store.root)
    before = {p.relative_to(rep): p.read_bytes() for p in rep.rglob("*") if p.is_file()}
    assert any(p.name.startswith("leaderboard_") for p in before)

    def boom(ctx):
        raise RuntimeError("section failed")

    store.write_result(make_record("run9", 9, sse=99.0), arrays=arrays_of(9))
    monkeypatch.setattr(reports, "SECTIONS", reports.SECTIONS[:1] + [boom] + reports.SECTIONS[1:])
    with pytest.raises(RuntimeError, match="section failed"):
        reports.build(store.root)
    after = {p.relative_to(rep): p.read_bytes() for p in rep.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in rep.parent.iterdir()) == ["reports", "runs"]   # no leftovers


def test_rebuild_prunes_runs_that_left_and_keeps_other_commands_files(tmp_path):
    store = full_store(tmp_path / "results", n=2)
    store.write_result(dict(make_record("other0"), spec=dict(make_record("other0")["spec"],
                                                             dataset="gone")),
                       arrays=arrays_of(0))
    rep = store.root / "reports"
    first = reports.build(store.root)
    assert (rep / "leaderboard_gone_quick.md").exists()
    assert (rep / "figures" / "dictionary_gone_quick_lca.png").exists()
    (rep / "reproduction").mkdir()
    (rep / "reproduction" / "scorecard.md").write_text("claims\n")
    (rep / "samples_bihm_x.png").write_bytes(b"png")
    for ext in ("json", "npz"):
        (store.runs / f"other0.{ext}").unlink()
    second = reports.build(store.root)
    assert not (rep / "leaderboard_gone_quick.md").exists()
    assert not (rep / "figures" / "dictionary_gone_quick_lca.png").exists()
    assert (rep / "reproduction" / "scorecard.md").read_text() == "claims\n"
    assert (rep / "samples_bihm_x.png").read_bytes() == b"png"
    snapshot = {p: p.read_bytes() for p in second}
    assert reports.build(store.root) == second                # byte-identical rebuild
    assert {p: p.read_bytes() for p in second} == snapshot
    assert set(second) < set(first)


def test_report_folder_writable_in_a_read_only_parent_is_still_rebuilt_safely(tmp_path,
                                                                              monkeypatch):
    import tempfile

    store = full_store(tmp_path / "results", n=2)
    store.write_result(dict(make_record("other0"), spec=dict(make_record("other0")["spec"],
                                                             dataset="gone")))
    rep = store.root / "reports"
    first = reports.build(store.root)
    snapshot = {p: p.read_bytes() for p in first if "gone" not in p.name}
    (rep / "samples_bihm_x.png").write_bytes(b"png")
    (store.runs / "other0.json").unlink()
    real = tempfile.mkdtemp

    def no_write_beside(*args, dir=None, **kw):
        if dir is not None and Path(dir) == rep.parent:
            raise PermissionError(13, "Permission denied", str(dir))
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr(tempfile, "mkdtemp", no_write_beside)
    second = reports.build(store.root)
    assert not (rep / "leaderboard_gone_quick.md").exists()
    assert (rep / "samples_bihm_x.png").read_bytes() == b"png"
    # the indexes change: the run left, and index.html now shows the samples
    assert set(second) == set(snapshot) and all(p.read_bytes() == snapshot[p] for p in second
                                                if p.name not in ("index.md", "index.html"))
    assert not [p for p in rep.iterdir() if p.name.startswith(".")]


def test_staging_folders_of_killed_builds_are_cleaned_up(tmp_path):
    store = full_store(tmp_path / "results", n=1)
    stale = store.root / ".reports.building-abc123"
    (stale / "figures").mkdir(parents=True)
    fresh = store.root / ".reports.building-def456"      # maybe a build running now: kept
    fresh.mkdir()
    os.utime(stale, (0, 0))
    reports.build(store.root)
    assert not stale.exists() and fresh.exists()


def test_report_folder_and_files_follow_the_umask(tmp_path):
    store = full_store(tmp_path / "results", n=1)
    old = os.umask(0o022)
    try:
        reports.build(store.root)
    finally:
        os.umask(old)
    rep = store.root / "reports"
    assert stat.S_IMODE(rep.stat().st_mode) == 0o755
    assert stat.S_IMODE((rep / "index.md").stat().st_mode) == 0o644


# -- 2. file modes -----------------------------------------------------------------------------
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_store_files_are_created_with_the_umask_mode(tmp_path, umask, mode, monkeypatch):
    from suite.data.patchbuild import write_patch_file

    old = os.umask(umask)
    try:
        store = full_store(tmp_path / "results", n=1)
        store.write_failure({"key": "bad0", "status": "failed", "spec": {}, "error": "x"})
        written = [store.record_path("run0"), store.runs / "run0.npz", store.checkpoint_path("run0"),
                   store.failures / "bad0.json"]
        written += write_patch_file(tmp_path / "data" / "processed.npy",
                                    np.zeros((4, 1, 2, 2), np.float32), {"recipe_name": "x"})
        written.append(atomic_write(tmp_path / "plain.bin", lambda fh: fh.write(b"x")))
        nat16 = _small_nat16(monkeypatch)
        nat16.load(NOWHERE, tmp_path / "cache")
        written.append(nat16.cache_path(tmp_path / "cache"))
    finally:
        os.umask(old)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


# -- 3. NaN vs not applicable ------------------------------------------------------------------
def test_nan_metric_is_shown_apart_from_not_applicable(tmp_path):
    store = Store(tmp_path / "results")
    for seed in range(2):
        store.write_result(make_record(f"a{seed}", seed, r2=float("nan")))
    store.write_result(make_record("b0", 0, method="fista", lifetime_sparsity=float("inf"),
                                   rate=3.0))
    reports.build(store.root)
    md = (store.root / "reports" / "leaderboard_toy_quick.md").read_text()
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.strip().strip("|").split("|")]
            for ln in md.splitlines() if ln.startswith("| lca") or ln.startswith("| fista")}
    header = [c.strip() for c in next(ln for ln in md.splitlines()
                                      if ln.startswith("| method")).strip("|").split("|")]
    lca = dict(zip(header, rows["lca"]))
    fista = dict(zip(header, rows["fista"]))
    assert lca["r2"] == "NaN" and lca["rate"] == "—" and lca["mse"] == "—"
    assert fista["r2"] == "0.5" and fista["lifetime_sparsity"] == "inf"
    assert "NaN" in md.split("|")[0] and "—" in md.split("|")[0]   # both marks in the note
    text = reports.format_leaderboard(store.records(), "toy", "quick")
    assert "NaN" in text and "—" in text
    rec = json.loads(store.record_path("a0").read_text())
    assert rec["metrics"]["r2"] is None                       # JSON stays valid (no NaN literal)
    assert rec["nonfinite_metrics"] == {"r2": "nan"}
    csv = (store.root / "reports" / "leaderboard_toy_quick.csv").read_text().splitlines()
    header = csv[0].split(",")
    lca_csv = dict(zip(header, next(ln for ln in csv if ",lca," in ln).split(",")))
    assert lca_csv["r2_mean"] == "NaN" and lca_csv["rate_mean"] == ""


def test_one_nan_seed_makes_the_mean_nan(tmp_path):
    store = Store(tmp_path / "results")
    store.write_result(make_record("a0", 0, r2=0.5))
    store.write_result(make_record("a1", 1, r2=float("nan")))
    text = reports.format_leaderboard(store.records(), "toy", "quick")
    row = next(ln for ln in text.splitlines() if ln.startswith("| lca"))
    assert "NaN" in row


# -- 4. dataset caches of the wrong shape, dtype or with NaN --------------------------------------
def _small_nat16(monkeypatch):
    from suite.registry import DATASETS

    source = DATASETS.get("nat16")
    small = type(source)(recipe=dataclasses.replace(source.recipe, n_train=50, n_val=20))
    calls = []

    def build(self=small):
        calls.append(1)
        rng = np.random.default_rng(len(calls))
        return (rng.normal(size=(50, 256)).astype(np.float32),
                rng.normal(size=(20, 256)).astype(np.float32))

    monkeypatch.setattr(small, "build", build)
    small.calls = calls
    return small


@pytest.mark.parametrize("bad", ["shape", "nan", "dtype", "missing_split", "empty"])
def test_nat16_cache_of_wrong_shape_dtype_or_nan_is_rebuilt(tmp_path, monkeypatch, bad, capsys):
    small = _small_nat16(monkeypatch)
    path = small.cache_path(tmp_path)
    train = np.ones((50, 256), np.float32)
    val = np.ones((20, 256), np.float32)
    arrays = {"shape": {"train": np.ones((50, 255), np.float32), "val": val},
              "nan": {"train": np.where(np.eye(50, 256) > 0, np.nan, train).astype(np.float32),
                      "val": val},
              "dtype": {"train": train.astype(np.float64), "val": val},
              "missing_split": {"train": train},
              "empty": {"train": train[:0], "val": val}}[bad]
    path.parent.mkdir(parents=True)
    np.savez(path, **arrays)
    ds = small.load(NOWHERE, tmp_path)
    assert small.calls == [1]
    assert ds.train.shape == (50, 256) and ds.val.shape == (20, 256)
    assert torch.isfinite(ds.train).all()
    assert str(path) in capsys.readouterr().err             # the rebuild names the file
    with np.load(path) as z:
        assert z["train"].shape == (50, 256) and np.isfinite(z["train"]).all()
    small.load(NOWHERE, tmp_path)                             # now valid: read, not rebuilt
    assert small.calls == [1]
