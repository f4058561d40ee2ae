"""The reproduction scorecard: verdict logic, a tiny fake claim end to end, claim judges on
synthetic records, the Gabor measure and the in-process checks (no real training here)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from suite.cli import main
from suite.config import build_grid
from suite.analyses.gabor import best_window_energy, gabor_like_fraction, orientedness
from suite.registry import discover
from suite.reproduce import claims as claims_mod
from suite.reproduce.checks import errors_shrink, lasso_agreement
from suite.reproduce.command import judge, select_claims
from suite.reproduce.context import ClaimContext, Experiment
from suite.reproduce.scorecard import write_scorecard
from suite.reproduce.verdict import (FAILS, HOLDS, NOT_MEASURABLE, NOT_RUN, UNCONVERGED,
                                     Judgement, decide)
from suite.store import Store

discover()


def record(spec, metrics, converged=True):
    return {"key": spec.key(), "status": "ok", "spec": spec.to_dict(), "metrics": metrics,
            "training": {"converged": converged},
            "provenance": {"started": "2026-01-01T00:00:00+00:00",
                           "finished": "2026-01-01T00:01:30+00:00"},
            "dataset": {"name": spec.dataset, "provenance": {"recipe": {"name": "nat16"}}}}


# -- verdict logic ----------------------------------------------------------------------------
def test_decide_covers_every_status():
    ok, stuck, unknown = {"training": {"converged": True}, "spec": {"method": "a", "seed": 0}}, \
        {"training": {"converged": False}, "spec": {"method": "b", "seed": 1}}, \
        {"spec": {"method": "c", "seed": 0}}
    assert decide(Judgement(True, "x"), [ok])[0] == HOLDS
    assert decide(Judgement(False, "x"), [ok])[0] == FAILS
    status, note = decide(Judgement(True, "x"), [ok, stuck])
    assert status == UNCONVERGED and "b seed1" in note
    status, note = decide(Judgement(False, "x"), [ok, unknown])
    assert status == FAILS and "not judged for c seed0" in note
    status, note = decide(Judgement(True, "x"), [ok], missing=["pvae seed0 on nat16-pvae"])
    assert status == NOT_RUN and "pvae seed0" in note
    assert decide(Judgement(None, "—", reason="no trace"), [ok])[0] == NOT_MEASURABLE
    status, note = decide(Judgement(True, "x"), [ok, stuck], time_bounded=True)
    assert status == HOLDS and "still improving" in note and "b seed1" in note
    assert decide(Judgement(False, "x"), [stuck], time_bounded=True)[0] == FAILS


# -- a tiny fake claim, end to end (store -> judge -> scorecard) -------------------------------
def fake_claim(threshold: float) -> claims_mod.Claim:
    def judge_fn(ctx):
        sse = [r["metrics"]["sse"] for r in ctx.records("runs")]
        return Judgement(max(sse) < threshold, f"sse {max(sse)}", {"sse": sse})

    return claims_mod.Claim("CX", "a fake claim", "sse < threshold", "test", "max sse < threshold",
                            {"runs": Experiment(("lca",), "patches")}, judge_fn)


def fake_context(tmp_path, claim, converged=True, write=True):
    specs = build_grid("lca", "nat16", [0, 1], "smoke").specs
    store = Store(tmp_path / "store")
    if write:
        for i, s in enumerate(specs):
            store.write_result(record(s, {"sse": 10.0 + i}, converged=converged))
    return ClaimContext(store, tmp_path / "figs", "smoke", {"patches": "nat16"},
                        {"runs": specs}, {}, claim.experiments)


@pytest.mark.parametrize("threshold, converged, expected", [
    (20.0, True, HOLDS), (10.5, True, FAILS), (20.0, False, UNCONVERGED)])
def test_fake_claim_verdicts(tmp_path, threshold, converged, expected):
    claim = fake_claim(threshold)
    row = judge(claim, fake_context(tmp_path, claim, converged), jobs=2)
    assert row.verdict == expected
    assert row.run_minutes == pytest.approx(3.0, abs=0.05)  # two runs of 90 s each (+ judging)
    assert row.minutes == pytest.approx(1.5, abs=0.05)  # side by side on two workers
    assert row.measured == "sse 11.0"


def test_fake_claim_missing_runs_are_not_run(tmp_path):
    claim = fake_claim(20.0)
    row = judge(claim, fake_context(tmp_path, claim, write=False))
    assert row.verdict == NOT_RUN and "lca seed0 on nat16" in row.note


def test_a_judge_that_raises_is_not_measurable_and_says_why(tmp_path):
    claim = fake_claim(20.0)

    def broken(ctx):
        raise KeyError("unit_kl")

    claim = claims_mod.Claim(**{**claim.__dict__, "judge": broken})
    row = judge(claim, fake_context(tmp_path, claim))
    assert row.verdict == NOT_MEASURABLE and "KeyError" in row.note


def test_scorecard_formats(tmp_path):
    claim = fake_claim(20.0)
    row = judge(claim, fake_context(tmp_path, claim))
    row.title = "a | pipe"
    paths = write_scorecard([row], tmp_path / "card", {"profile": "smoke"})
    names = sorted(p.name for p in paths)
    assert names == ["scorecard.csv", "scorecard.html", "scorecard.json", "scorecard.md"]
    md = (tmp_path / "card" / "scorecard.md").read_text()
    assert "a \\| pipe" in md and HOLDS in md and "**profile**: smoke" in md
    rows = list(csv.DictReader(open(tmp_path / "card" / "scorecard.csv")))
    assert rows[0]["claim"] == "CX" and rows[0]["verdict"] == HOLDS
    assert json.loads((tmp_path / "card" / "scorecard.json").read_text())["claims"][0]["evidence"]
    assert "<table>" in (tmp_path / "card" / "scorecard.html").read_text()


# -- judges on synthetic records --------------------------------------------------------------
def test_dead_units_use_the_papers_thresholds(tmp_path):
    """C3 counts a Gaussian unit of KL 0.05 as dead (threshold 0.09) although the leaderboard's
    0.01 rule calls it active."""
    specs = build_grid("pvae,gvae,lvae", "nat16", [0], "smoke").specs
    store = Store(tmp_path / "s")
    kl = {"pvae": np.full(16, 0.5), "gvae": np.r_[np.full(12, 0.05), np.full(4, 1.0)],
          "lvae": np.r_[np.full(8, 0.07), np.full(8, 1.0)]}
    for s in specs:
        store.write_result(record(s, {"sse": 1.0}), arrays={"unit_kl": kl[s.method]})
    claim = claims_mod.CLAIMS["C3"]
    ctx = ClaimContext(store, tmp_path / "f", "smoke", {"patches": "nat16"}, {"vaes": specs}, {},
                       claim.experiments)
    j = claim.judge(ctx)
    assert j.holds is True
    assert j.evidence["dead_frac_paper_rule"] == {"pvae": [0.0], "gvae": [0.75], "lvae": [0.5]}
    kl["lvae"] = np.r_[np.full(7, 0.07), np.full(9, 1.0)]  # 7/16 dead: below one half
    for s in specs:
        store.write_result(record(s, {"sse": 1.0}), arrays={"unit_kl": kl[s.method]})
    assert claim.judge(ctx).holds is False


def test_beta_sweep_must_be_monotone_in_both_axes(tmp_path):
    specs = build_grid("pvae", "nat16", [0], "smoke", ["pvae.beta=0.5,1,2"]).specs
    store = Store(tmp_path / "s")
    values = {0.5: (50, .5), 1.0: (100, .8), 2.0: (150, .9)}
    for s in specs:
        sse, ls = values[s.hparams["beta"]]
        store.write_result(record(s, {"sse": sse, "lifetime_sparsity": ls}))
    claim = claims_mod.CLAIMS["C4"]
    ctx = ClaimContext(store, tmp_path / "f", "smoke", {"patches": "nat16"}, {"sweep": specs}, {},
                       claim.experiments)
    assert claim.judge(ctx).holds is True
    s2 = next(s for s in specs if s.hparams["beta"] == 2.0)
    store.write_result(record(s2, {"sse": 150, "lifetime_sparsity": .7}))
    assert claim.judge(ctx).holds is False


def test_ipvae_claim_reads_the_sampled_spike_r2(tmp_path):
    specs = build_grid("ipvae", "nat16", [0], "smoke").specs
    store = Store(tmp_path / "s")
    trace = {"steps": [1, 4, 10], "train_steps": 4, "t_test": 10,
             "r2": [0.1, 0.7, 0.9], "r2_sample": [0.0, 0.5, 0.65], "frac_zeros": [.9, .8, .7]}
    rec = dict(record(specs[0], {"frac_zeros": 0.7}), traces={"convergence": trace})
    store.write_result(rec)
    claim = claims_mod.CLAIMS["C7"]
    ctx = ClaimContext(store, tmp_path / "f", "smoke", {"patches": "nat16"},
                       {"iterative": specs}, {}, claim.experiments)
    j = claim.judge(ctx)
    assert j.holds is True and j.evidence["r2_spikes"] == [0.0, 0.5, 0.65]
    trace["r2_sample"] = [0.0, 0.5, 0.55]  # rates still ≥ 0.6, spikes not: the paper's rule fails
    store.write_result(dict(rec, traces={"convergence": trace}))
    assert claim.judge(ctx).holds is False


# -- the Gabor measure ------------------------------------------------------------------------
def _grid():
    return np.mgrid[:16, :16].astype(float)


def test_gabor_measure_separates_gabors_gratings_and_blobs():
    y, x = _grid()
    rng = np.random.default_rng(0)
    gabors, gratings, blobs = [], [], []
    for _ in range(20):
        cy, cx, t = rng.uniform(5, 11), rng.uniform(5, 11), rng.uniform(0, np.pi)
        env = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 2.0 ** 2))
        u = (x - cx) * np.cos(t) + (y - cy) * np.sin(t)
        gabors.append((env * np.cos(2 * np.pi * 0.2 * u)).ravel())
        gratings.append(np.cos(2 * np.pi * 0.2 * u + rng.uniform(0, 6)).ravel())
        blobs.append(np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 4.5).ravel())
    assert gabor_like_fraction(np.array(gabors)) == 1.0
    assert gabor_like_fraction(np.array(gratings)) == 0.0
    assert gabor_like_fraction(np.array(blobs)) == 0.0
    assert (best_window_energy(np.array(gratings)) < 0.45).all()
    assert (orientedness(np.array(blobs)) < 0.2).all()


def test_gabor_measure_handles_zero_atoms_and_rejects_non_square():
    assert gabor_like_fraction(np.zeros((3, 256))) == 0.0
    with pytest.raises(ValueError, match="not square"):
        orientedness(np.zeros((2, 250)))


# -- the in-process checks --------------------------------------------------------------------
def test_lasso_agreement_on_a_random_dictionary():
    rng = np.random.default_rng(0)
    atoms = rng.standard_normal((32, 16))
    x = rng.standard_normal((20, 16))
    res = lasso_agreement(atoms, x, lam=0.3)
    for name, v in res["solvers"].items():
        assert abs(v["rel_excess"]) < 1e-4, name
    assert "float64" in res["sklearn"]["config"]


def test_errors_shrink_rule():
    good = [{"K": 10, "a": 0.5}, {"K": 1000, "a": 0.01}]
    assert errors_shrink(good, keys=("a",))
    assert not errors_shrink([{"K": 10, "a": 0.5}, {"K": 1000, "a": 0.06}], keys=("a",))
    assert not errors_shrink([{"K": 10, "a": 0.01}, {"K": 1000, "a": 0.02}], keys=("a",))


# -- the command line -------------------------------------------------------------------------
def test_unknown_claim_is_a_clear_error(capsys):
    assert main(["reproduce", "--claims", "C1,C99", "--list"]) == 2
    err = capsys.readouterr().err
    assert "C99" in err and "C10" in err


def test_list_shows_every_claim_and_its_runs(capsys, tmp_path):
    assert main(["reproduce", "--list", "--profile", "smoke", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for cid in claims_mod.CLAIMS:
        assert cid in out
    assert "0/5 runs done" in out  # the β sweep
    assert [c.id for c in select_claims("c3, C1")] == ["C3", "C1"]
