"""The published claims that ``run_suite.py reproduce`` checks, each with its experiment and rule.

Each :class:`Claim` states the paper's value and its source, the experiments (runs) behind it,
the rule that decides it, and a *judge* that applies the rule to the stored runs and draws the
claim's figure. Where a paper's definition differs from the leaderboard's, the judge uses the
paper's and says so (PROTOCOL.md, "Reproduction scorecard"):

- dead units, P-VAE paper Figure 5: mean per-unit KL below 0.0082 nats (Poisson), 0.09
  (Gaussian), 0.08 (Laplace); the leaderboard's uniform rule is 0.01 nats for all;
- R² against inference steps, iP-VAE paper Figure 3: reconstructions Φz from *sampled* spike
  counts; the decoded-rate R² is reported beside it.

Budgets per claim (the ``standard`` profile on the project's 2-core CPU): at most 30 minutes of
training each, 60 for C9.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable

import numpy as np

from suite.analyses.gabor import gabor_like, gabor_like_fraction

from .checks import errors_shrink, estimator_convergence, lasso_agreement
from .context import ClaimContext, Experiment, by_hparam, by_method, metric
from .verdict import Judgement, fmt, mean

PAPER_DEAD_KL = {"pvae": 0.0082, "gvae": 0.09, "lvae": 0.08}
"""Per-unit KL thresholds (nats) of the P-VAE paper's Figure 5."""
BETAS = (0.25, 0.5, 1.0, 2.0, 4.0)
"""The P-VAE β sweep of C4 (β = 1 is the default run)."""


@dataclasses.dataclass(frozen=True)
class Claim:
    """One published claim: ``id``, ``title``, the paper's value (``paper``) and its ``source``,
    the ``rule`` that decides it, the ``experiments`` it needs (name -> Experiment) and its
    ``judge`` (ClaimContext -> Judgement)."""

    id: str
    title: str
    paper: str
    source: str
    rule: str
    experiments: dict[str, Experiment]
    judge: Callable[[ClaimContext], Judgement]
    minutes: int = 30
    time_bounded: bool = False
    """The claim fixes the training time itself, so an unconverged run still decides it."""


# -- figures ----------------------------------------------------------------------------------
def _figure(ctx: ClaimContext, claim_id: str, draw: Callable, size=(6.0, 4.0)) -> str:
    from reports.figures import _save, new_figure

    path = Path(ctx.figure_dir) / f"{claim_id}.png"
    with new_figure(size) as fig:
        draw(fig)
        fig.tight_layout()
        _save(fig, path)
    return str(path)


# -- C1 ---------------------------------------------------------------------------------------
def judge_lasso(ctx: ClaimContext) -> Judgement:
    recs = ctx.records("dictionary")
    if not recs:
        return Judgement(None, "—", reason="no LCA run")
    rec = recs[0]
    arrays = ctx.arrays(rec)
    if "dictionary" not in arrays:
        return Judgement(None, "—", reason="the LCA run stored no dictionary")
    from suite.data.loading import load_dataset

    ds = load_dataset(rec["spec"]["dataset"], ctx.data_dir)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(ds.val.shape[0], size=min(300, ds.val.shape[0]), replace=False))
    x = ds.val[idx].numpy().astype(np.float64)
    lam = float(rec["spec"]["hparams"]["lam"])
    res = lasso_agreement(arrays["dictionary"], x, lam)
    worst = max(abs(v["rel_excess"]) for v in res["solvers"].values())
    measured = ", ".join(f"{k} {v['rel_excess']:+.1e}" for k, v in res["solvers"].items())

    def draw(fig):
        from reports.figures import label_axes

        ax = fig.add_subplot(111)
        names = list(res["solvers"])
        vals = [max(abs(res["solvers"][n]["rel_excess"]), 1e-12) for n in names]
        ax.bar(names, vals, color="0.4")
        ax.axhline(1e-4, color="C3", ls="--", label="tolerance 1e-4")
        ax.set_yscale("log")
        ax.legend(loc="upper right", fontsize=8)
        label_axes(ax, "solver", "|relative objective excess| over scikit-learn",
                   f"C1: lasso on the learned dictionary (λ = {lam:g}, {res['n_samples']} patches)")

    return Judgement(worst <= 1e-4, measured, res, figure=_figure(ctx, "C1", draw))


# -- C2 ---------------------------------------------------------------------------------------
def judge_estimators(ctx: ClaimContext) -> Judgement:
    res = estimator_convergence()
    rows = res["rows"]
    measured = "; ".join(f"K={r['K']}: log p* err {r['log_p_star']:.3g}" for r in (rows[0], rows[-1]))

    def draw(fig):
        from reports.figures import label_axes

        ax = fig.add_subplot(111)
        ks = [r["K"] for r in rows]
        for key, name in (("log_p_tilde_star", "log p̃*(x)"), ("log_px", "log p(x)"),
                          ("log_z2", "log Z²"), ("log_p_star", "log p*(x)")):
            ax.loglog(ks, [max(r[key], 1e-6) for r in rows], marker="o", label=name)
        ax.legend(loc="upper right", fontsize=8)
        label_axes(ax, "samples K", "mean |estimate − exact| (nats)",
                   "C2: BiHM estimators vs exact enumeration (5-3-2 model)")

    return Judgement(errors_shrink(rows), measured, res, figure=_figure(ctx, "C2", draw))


# -- C3 ---------------------------------------------------------------------------------------
def judge_dead_units(ctx: ClaimContext) -> Judgement:
    groups = by_method(ctx.records("vaes"))
    if set(groups) != set(PAPER_DEAD_KL):
        return Judgement(None, "—", reason=f"runs of {sorted(set(PAPER_DEAD_KL) - set(groups))} missing")
    dead, dead_01, curves = {}, {}, {}
    for m, recs in groups.items():
        kls = [ctx.arrays(r)["unit_kl"] for r in recs]
        dead[m] = [float((k < PAPER_DEAD_KL[m]).mean()) for k in kls]
        dead_01[m] = [float((k < 0.1).mean()) for k in kls]
        curves[m] = np.sort(kls[0])[::-1]
    holds = mean(dead["pvae"]) < 0.1 and mean(dead["gvae"]) >= 0.5 and mean(dead["lvae"]) >= 0.5
    measured = "active " + ", ".join(f"{m[0].upper()} {1 - mean(dead[m]):.3f}" for m in PAPER_DEAD_KL)
    measured += " (dead " + ", ".join(f"{m} {fmt(dead[m])}" for m in PAPER_DEAD_KL) + ")"

    def draw(fig):
        from reports.figures import label_axes

        ax = fig.add_subplot(111)
        for i, (m, c) in enumerate(curves.items()):
            ax.semilogy(np.arange(1, len(c) + 1), np.maximum(c, 1e-6), color=f"C{i}", label=m)
            ax.axhline(PAPER_DEAD_KL[m], color=f"C{i}", ls=":", lw=1)
        ax.legend(loc="upper right", fontsize=8)
        label_axes(ax, "unit (sorted by KL)", "mean KL per unit (nats)",
                   "C3: per-unit KL; dotted lines: the paper's dead thresholds")

    evidence = {"dead_frac_paper_rule": dead, "dead_frac_at_0.1": dead_01,
                "thresholds": PAPER_DEAD_KL}
    return Judgement(holds, measured, evidence, figure=_figure(ctx, "C3", draw))


# -- C4 ---------------------------------------------------------------------------------------
def _strictly_increasing(values: list[float]) -> bool:
    return all(b > a for a, b in zip(values, values[1:]))


def judge_beta_sweep(ctx: ClaimContext) -> Judgement:
    groups = by_hparam(ctx.records("sweep"), "beta")
    if len(groups) < 3:
        return Judgement(None, "—", reason=f"only {len(groups)} β values finished")
    betas = list(groups)
    sse = [mean(metric(groups[b], "sse")) for b in betas]
    ls = [mean(metric(groups[b], "lifetime_sparsity")) for b in betas]
    holds = _strictly_increasing(sse) and _strictly_increasing(ls)
    at1 = groups.get(1.0)
    measured = "; ".join(f"β={b:g}: sse {s:.1f}, LS {l:.3f}" for b, s, l in zip(betas, sse, ls))
    if at1:
        measured += f" (β=1: sse {fmt(metric(at1, 'sse'))}, LS {fmt(metric(at1, 'lifetime_sparsity'))})"

    def draw(fig):
        from reports.figures import label_axes

        ax = fig.add_subplot(111)
        ax.plot(sse, ls, marker="o", label="this suite")
        for b, s, l in zip(betas, sse, ls):
            ax.annotate(f"β={b:g}", (s, l), fontsize=7, xytext=(3, 3), textcoords="offset points")
        paper = [(52, .50), (102, .79), (131, .91), (235, .997)]
        ax.plot(*zip(*paper), marker="x", ls="--", color="0.5", label="paper (β 0.4, 1, 1.5, 4)")
        ax.legend(loc="lower right", fontsize=8)
        label_axes(ax, "sse (per patch)", "lifetime sparsity", "C4: P-VAE β sweep")

    return Judgement(holds, measured, {"beta": betas, "sse": sse, "lifetime_sparsity": ls},
                     figure=_figure(ctx, "C4", draw))


# -- C5 ---------------------------------------------------------------------------------------
def judge_gap(ctx: ClaimContext) -> Judgement:
    recs = [r for r in ctx.records("pvae") if r["spec"]["hparams"].get("beta") == 1.0]
    if not recs:
        return Judgement(None, "—", reason="no P-VAE run at β = 1")
    rows = [row for r in recs for row in (r.get("traces") or {}).get("amortization_gap") or []
            if row["solver"] == "lca"]
    if not rows:
        return Judgement(None, "—", reason="the P-VAE run stored no amortization-gap trace "
                                             "(the profile must enable eval.amortization_gap)")
    own_sse, own_ls = mean(metric(recs, "sse")), mean(metric(recs, "lifetime_sparsity"))
    better = [row for row in rows if row["sse"] < own_sse and row["lifetime_sparsity"] >= own_ls]
    lams = sorted({row["lam"] for row in rows})
    lca = {lam: (mean([r["sse"] for r in rows if r["lam"] == lam]),
                 mean([r["lifetime_sparsity"] for r in rows if r["lam"] == lam])) for lam in lams}
    measured = (f"P-VAE {own_sse:.1f} / {own_ls:.3f}; LCA " +
                ", ".join(f"λ={lam:g}: {s:.1f} / {l:.3f}" for lam, (s, l) in lca.items()))

    def draw(fig):
        from reports.figures import label_axes

        ax = fig.add_subplot(111)
        ax.plot([own_sse], [own_ls], marker="o", ls="", color="C0", label="P-VAE's own inference")
        ax.plot([v[0] for v in lca.values()], [v[1] for v in lca.values()], marker="s",
                color="C1", label="LCA on the P-VAE's dictionary")
        ax.plot([102], [.79], marker="o", ls="", color="0.5", mfc="none", label="paper: P-VAE")
        ax.plot([43.5, 58.2, 83.4], [.83, .92, .95], marker="s", ls="--", color="0.5", mfc="none",
                label="paper: LCA λ 0.1, 0.5, 1")
        ax.legend(loc="lower right", fontsize=8)
        label_axes(ax, "sse (per patch)", "lifetime sparsity", "C5: amortization gap")

    evidence = {"pvae": {"sse": own_sse, "lifetime_sparsity": own_ls},
                "lca": {str(k): {"sse": v[0], "lifetime_sparsity": v[1]} for k, v in lca.items()}}
    return Judgement(bool(better), measured, evidence, figure=_figure(ctx, "C5", draw))


# -- C6 ---------------------------------------------------------------------------------------
KNN_SIZES = (200, 1000, 5000)


def judge_knn(ctx: ClaimContext) -> Judgement:
    groups = by_method(ctx.records("mnist"))
    if not {"pvae", "gvae"} <= set(groups):
        return Judgement(None, "—", reason="P-VAE or G-VAE run on MNIST missing")
    acc = {m: [mean(metric(groups[m], f"knn@{n}")) for n in KNN_SIZES] for m in ("pvae", "gvae")}
    if any(math.isnan(v) for vals in acc.values() for v in vals):
        return Judgement(None, "—", reason="a knn@N metric is missing (labelled split too small?)")
    holds = all(p > g for p, g in zip(acc["pvae"], acc["gvae"]))
    measured = "; ".join(f"N={n}: P {p:.3f} vs G {g:.3f}"
                         for n, p, g in zip(KNN_SIZES, acc["pvae"], acc["gvae"]))

    def draw(fig):
        from reports.figures import label_axes

        ax = fig.add_subplot(111)
        for i, m in enumerate(("pvae", "gvae")):
            ax.semilogx(KNN_SIZES, acc[m], marker="o", color=f"C{i}", label=m)
        ax.semilogx(KNN_SIZES, [.815, .919, .946], ls="--", marker="x", color="C0", alpha=.5,
                    label="paper: pvae")
        ax.semilogx(KNN_SIZES, [.673, .813, .891], ls="--", marker="x", color="C1", alpha=.5,
                    label="paper: gvae")
        ax.legend(loc="lower right", fontsize=8)
        label_axes(ax, "labelled samples N", "5-NN accuracy", "C6: few-shot KNN on MNIST (K = 10)")

    return Judgement(holds, measured, {"knn": acc}, figure=_figure(ctx, "C6", draw))


# -- C7 / C8 ----------------------------------------------------------------------------------
def _trace_at(trace: dict, key: str, step: int) -> float | None:
    if trace.get(key) is None or step not in trace["steps"]:
        return None
    return trace[key][trace["steps"].index(step)]


def judge_ipvae_inference(ctx: ClaimContext) -> Judgement:
    recs = by_method(ctx.records("iterative")).get("ipvae", [])
    traces = [(r.get("traces") or {}).get("convergence") for r in recs]
    traces = [t for t in traces if t]
    if not traces:
        return Judgement(None, "—", reason="no iP-VAE run with a convergence trace")
    t_train, t_test = traces[0]["train_steps"], traces[0]["t_test"]
    steps = (1, t_train, t_test)
    spikes = [mean([_trace_at(t, "r2_sample", s) for t in traces]) for s in steps]
    rates = [mean([_trace_at(t, "r2", s) for t in traces]) for s in steps]
    zeros = mean(metric(recs, "frac_zeros"))
    if any(math.isnan(v) for v in spikes):
        return Judgement(None, "—", reason="the trace has no sampled-spike R² (r2_sample)")
    holds = spikes[2] > spikes[1] > spikes[0] and spikes[2] >= 0.6 and zeros > 0.5
    measured = (f"R² (spikes) at t = 1 / {t_train} / {t_test}: " + " / ".join(f"{v:.3f}" for v in spikes)
                + "; rates: " + " / ".join(f"{v:.3f}" for v in rates) + f"; zeros {zeros:.0%}")

    def draw(fig):
        from reports.figures import label_axes

        ax = fig.add_subplot(111)
        t0 = traces[0]
        ax.semilogx(t0["steps"], t0["r2_sample"], color="C0", label="R², sampled spikes Φz (paper's rule)")
        ax.semilogx(t0["steps"], t0["r2"], color="C0", ls="--", label="R², decoded rates Φλ")
        ax.semilogx([1, 16, 1000], [-.02, .71, .83], "x", color="0.3", label="paper (t = 1, 16, 1000)")
        ax.axvline(t_train, color="0.6", lw=0.8, ls=":")
        ax.legend(loc="lower right", fontsize=8)
        label_axes(ax, "inference step t", "R²", "C7: iP-VAE inference beyond t_train")

    evidence = {"steps": list(steps), "r2_spikes": spikes, "r2_rates": rates, "frac_zeros": zeros}
    return Judgement(holds, measured, evidence, figure=_figure(ctx, "C7", draw))


def judge_zeros(ctx: ClaimContext) -> Judgement:
    groups = by_method(ctx.records("iterative"))
    names = ("igvae", "igvae_relu", "ipvae")
    if not set(names) <= set(groups):
        return Judgement(None, "—", reason=f"runs of {sorted(set(names) - set(groups))} missing")
    zeros = {m: mean(metric(groups[m], "frac_zeros")) for m in names}
    holds = zeros["igvae"] == 0.0 and zeros["ipvae"] > zeros["igvae_relu"]
    measured = ", ".join(f"{m} {zeros[m]:.1%}" for m in names)

    def draw(fig):
        from reports.figures import label_axes

        ax = fig.add_subplot(111)
        x = np.arange(len(names))
        ax.bar(x - 0.2, [zeros[m] for m in names], 0.4, label="this suite")
        ax.bar(x + 0.2, [0.0, 0.58, 0.77], 0.4, color="0.6", label="paper")
        ax.set_xticks(x, names)
        ax.legend(loc="upper left", fontsize=8)
        label_axes(ax, "method", "fraction of zero codes", "C8: zeros at t_test")

    return Judgement(holds, measured, {"frac_zeros": zeros}, figure=_figure(ctx, "C8", draw))


# -- C9 ---------------------------------------------------------------------------------------
def judge_bihm(ctx: ClaimContext) -> Judgement:
    recs = ctx.records("bihm")
    if not recs:
        return Judgement(None, "—", reason="no BiHM run")
    key = "test_nll" if all(metric(recs, "test_nll")) else "nll"
    nll = [float(v) for v in metric(recs, key)]
    minutes = [v / 60 for v in metric(recs, "fit_seconds")]
    holds = mean(nll) <= 100.0 and max(minutes) <= 60.5
    split = "test" if key == "test_nll" else "validation"
    measured = f"−log p* = {fmt(nll, 4)} nats ({split} split) after {max(minutes):.0f} min of training"

    def draw(fig):
        from reports.figures import label_axes

        ax = fig.add_subplot(111)
        curve = (recs[0].get("training") or {}).get("loss_curve") or {}
        if curve.get("steps"):
            ax.plot(curve["steps"], curve["loss"], color="C0", label="training loss (−log p̃* bound)")
        ax.axhline(mean(nll), color="C1", ls="--", label=f"−log p* ({split}) {mean(nll):.1f}")
        ax.axhline(84.8, color="0.5", ls=":", label="paper 84.8 (GPU, 12 layers)")
        ax.axhline(100, color="C3", ls=":", lw=0.8, label="claim: ≤ 100")
        ax.legend(loc="upper right", fontsize=8)
        label_axes(ax, "optimizer step", "nats", "C9: BiHM on binarized MNIST")

    return Judgement(holds, measured, {"nll": nll, "metric": key, "fit_minutes": minutes},
                     figure=_figure(ctx, "C9", draw))


# -- C10 --------------------------------------------------------------------------------------
def judge_gabor(ctx: ClaimContext) -> Judgement:
    picks = {"pvae": [r for r in ctx.records("pvae") if r["spec"]["hparams"].get("beta") == 1.0],
             "lca": ctx.records("lca")}
    if not all(picks.values()):
        return Judgement(None, "—", reason="P-VAE (β = 1) or LCA run missing")
    dicts = {m: [ctx.arrays(r).get("dictionary") for r in recs] for m, recs in picks.items()}
    if any(a is None for v in dicts.values() for a in v):
        return Judgement(None, "—", reason="a run stored no dictionary")
    atoms = {m: v[0] for m, v in dicts.items()}
    frac = {m: [gabor_like_fraction(a) for a in v] for m, v in dicts.items()}
    holds = all(mean(v) >= 0.5 for v in frac.values())
    measured = ", ".join(f"{m} {fmt(v)} Gabor-like" for m, v in frac.items())

    def draw(fig):
        from reports.figures import atom_mosaic

        for i, (m, a) in enumerate(atoms.items()):
            ax = fig.add_subplot(1, 2, i + 1)
            order = np.argsort(~gabor_like(a), kind="stable")
            mosaic = atom_mosaic(a[order], (1, 16, 16) if a.shape[1] == 256 else (1,) * 3)
            if mosaic is not None:
                ax.imshow(mosaic, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(f"{m}: {frac[m][0]:.0%} Gabor-like (first)", fontsize=9)

    return Judgement(holds, measured, {"gabor_like_fraction": frac},
                     figure=_figure(ctx, "C10", draw, size=(10.0, 5.2)))


# -- the claims -------------------------------------------------------------------------------
_BETA_SWEEP = "pvae.beta=" + ",".join(f"{b:g}" for b in BETAS)

CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("C1", "LCA, ISTA and FISTA reach the lasso optimum on a frozen learned dictionary",
          "(optimum)", "METHODS.md §3", "|Σ E_solver − Σ E_sklearn| / Σ E_sklearn ≤ 1e-4 for each "
          "solver, 300 seeded validation patches, the LCA run's dictionary and λ",
          {"dictionary": Experiment(("lca",), "patches")}, judge_lasso),
    Claim("C2", "BiHM estimators of log p̃*, Z², log p* and log p are exact on an enumerable model",
          "(exact)", "Bornschein et al. 2016, §2", "mean |error| at K = 10,000 < 0.05 nats and "
          "below K = 10, for each quantity", {}, judge_estimators, minutes=5),
    Claim("C3", "Dead units at K = 512, lin|lin, on patches",
          "active P .984, G .218, L .188", "P-VAE paper, Fig. 5", "dead: unit KL below "
          "P 0.0082, G 0.09, L 0.08 nats (Fig. 5); holds when P dead < 0.1 and G, L dead ≥ 0.5",
          {"vaes": Experiment(("pvae", "gvae", "lvae"), "patches")}, judge_dead_units),
    Claim("C4", "The P-VAE β sweep traces a monotone sparsity–distortion curve",
          "β = 1: sse ≈ 102, lifetime sparsity ≈ .79", "P-VAE paper, Fig. 4",
          f"sse and lifetime sparsity both strictly increase with β over β ∈ {list(BETAS)}",
          {"sweep": Experiment(("pvae",), "patches", (_BETA_SWEEP,))}, judge_beta_sweep),
    Claim("C5", "Amortization gap: LCA on the P-VAE's frozen dictionary beats its own inference",
          "58 vs 102 sse at ≈ .9 lifetime sparsity", "P-VAE paper, §5 / Fig. 6",
          "some λ gives LCA lower sse than the P-VAE (β = 1) at equal or higher lifetime sparsity",
          {"pvae": Experiment(("pvae",), "patches")}, judge_gap),
    Claim("C6", "Few-shot KNN on MNIST (K = 10): P-VAE features beat G-VAE features",
          "P .815/.919/.946, G .673/.813/.891", "P-VAE paper, Table 2",
          "mean 5-NN accuracy of P > G at N = 200, 1000 and 5000",
          {"mnist": Experiment(("pvae", "gvae"), "mnist")}, judge_knn),
    Claim("C7", "iP-VAE inference keeps improving past t_train",
          "R² −.02 / .71 / .83 at t = 1/16/1000, 77% zeros", "iP-VAE paper, Fig. 3",
          "R² from sampled spikes: R²(t_test) > R²(t_train) > R²(1), R²(t_test) ≥ 0.6, zeros > 50%",
          {"iterative": Experiment(("ipvae",), "patches")}, judge_ipvae_inference),
    Claim("C8", "Zeros: iG-VAE has none, and iP is sparser than iG_relu",
          "0% / 58% / 77%", "iP-VAE paper, Fig. 3",
          "frac_zeros(igvae) = 0 and frac_zeros(ipvae) > frac_zeros(igvae_relu), at t_test",
          {"iterative": Experiment(("igvae", "igvae_relu", "ipvae"), "patches")}, judge_zeros),
    Claim("C9", "BiHM on binarized MNIST: −log p* ≤ 100 nats within 60 minutes of CPU training",
          "84.8 nats (12 layers, GPU)", "Bornschein et al. 2016, Table 1",
          "−log p* (test split when present) ≤ 100 nats and fit time ≤ 60 min",
          {"bihm": Experiment(("bihm",), "bmnist")}, judge_bihm, minutes=60, time_bounded=True),
    Claim("C10", "The P-VAE's and LCA's learned dictionaries are Gabor-like",
          "(qualitative: localized, oriented atoms)", "P-VAE paper, Fig. 2",
          "at least half the atoms have loc8 ≥ 0.6 and orientedness ≥ 0.5 (suite/gabor.py)",
          {"pvae": Experiment(("pvae",), "patches"), "lca": Experiment(("lca",), "patches")},
          judge_gabor),
)}
