"""Per-run details for the one-page report: what a run was, how it trained, where it came from.

For a finished run (a store record), a collapsible ``<details id="run-<key>">`` holding its
configuration (method, dataset, profile, seed, latents, overrides), hyperparameters (overridden
ones marked), budget, convergence verdict and loss curve (:mod:`reports.loss_svg`), provenance
(commit, device, host, Python/torch/numpy and suite versions, start and end as recorded), the
data it saw (sizes and the dataset's provenance: source, split, preprocessing recipe),
evaluation settings and every metric it stored. For a failed run (``<out>/failures/``), a
``<details id="fail-<key>">`` with its error, configuration and traceback.
Only what the records hold is shown, so the same store gives the same bytes.
"""
from __future__ import annotations

from typing import Any

from .formatting import TIME_LIMITED_BADGE, config_label, converged_text, fmt_param, mark_label
from .html_parts import esc, kv_table
from .loss_svg import loss_curve_svg

PROVENANCE_KEYS = ("git_commit", "device", "hostname", "python", "torch_version",
                   "numpy_version", "suite_version", "started", "finished")
DATA_KEYS = ("name", "shape", "data_kind", "is_binary", "n_train_split", "n_train", "n_holdout",
             "n_val")


def run_anchor(key: str) -> str:
    """The element id of a finished run's details."""
    return f"run-{key}"


def failure_anchor(key: str) -> str:
    """The element id of a failed run's details."""
    return f"fail-{key}"


def _section(title: str, body: str, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return f"<section{cls}><h4>{esc(title)}</h4>{body}</section>"


def _overrides_text(spec: dict) -> str:
    """``lam=0.1, n_latents=64`` (as typed on the command line), or "none"."""
    return ", ".join(f"{k}={fmt_param(v)}" for k, v in
                     sorted((spec.get("overrides") or {}).items())) or "none"


def _spec_items(rec: dict) -> list[tuple[str, Any]]:
    spec = rec.get("spec") or {}
    method = rec.get("method") or {}
    return [("method", spec.get("method")), ("family", method.get("family", "other")),
            ("method version", spec.get("method_version", method.get("version"))),
            ("dataset", spec.get("dataset")), ("profile", spec.get("profile")),
            ("seed", spec.get("seed")), ("latents (K)", spec.get("n_latents")),
            ("run key", rec.get("key")),
            ("overrides", _overrides_text(spec))]


def _hparams(spec: dict) -> str:
    hp = spec.get("hparams") or {}
    return kv_table(sorted(hp.items()), overridden=(spec.get("overrides") or {}).keys())


def _training_items(rec: dict) -> list[tuple[str, Any]]:
    training = rec.get("training") or {}
    curve = training.get("loss_curve") or {}
    flag = (rec.get("metrics") or {}).get("converged", training.get("converged"))
    items = [("converged", converged_text(flag if isinstance(flag, (int, float)) else None))]
    for key in ("reason", "rel_improvement", "rule"):
        if training.get(key) is not None:
            items.append((key.replace("_", " "), training[key]))
    for key in ("total_steps", "planned_steps", "stopped_by"):
        if curve.get(key) is not None:
            items.append((key.replace("_", " "), curve[key]))
    return items


def run_details(rec: dict) -> str:
    """The details element of one finished run."""
    spec = rec.get("spec") or {}
    metrics = rec.get("metrics") or {}
    flag = metrics.get("converged")
    conv = converged_text(flag if isinstance(flag, (int, float)) else None)
    limited = metrics.get("time_limited") == 1.0
    label = mark_label(config_label(spec.get("method", "?"), spec.get("overrides") or {}), conv,
                       limited)
    badge = (' <span class="badge warn">not converged: its numbers are not results</span>'
             if conv == "no" else "")
    if limited:
        badge += f' <span class="badge na">{TIME_LIMITED_BADGE}</span>'
    data = rec.get("dataset") or {}
    provenance = rec.get("provenance") or {}
    data_items = [(k, data[k]) for k in DATA_KEYS if k in data]
    data_items += sorted((f"provenance: {k}", v) for k, v in (data.get("provenance") or {}).items())
    prov_items = [(k, provenance[k]) for k in PROVENANCE_KEYS if k in provenance]
    prov_items += sorted((k, v) for k, v in provenance.items() if k not in PROVENANCE_KEYS)
    nonfinite = rec.get("nonfinite_metrics") or {}
    metric_items = sorted((k, nonfinite.get(k, v) if v is None and k in nonfinite else v)
                          for k, v in metrics.items())
    body = "".join([
        _section("Configuration", kv_table(_spec_items(rec))),
        _section("Hyperparameters", _hparams(spec)),
        _section("Budget", kv_table(sorted((spec.get("budget") or {}).items()))),
        _section("Training and convergence", kv_table(_training_items(rec))),
        _section("Loss curve", loss_curve_svg(rec.get("training"))),
        _section("Provenance", kv_table(prov_items)),
        _section("Data", kv_table(data_items)),
        _section("Evaluation settings", kv_table(sorted((spec.get("eval") or {}).items()))),
        _section("Metrics (this seed)", kv_table(metric_items)),
    ])
    summary = (f"{esc(label)} — {esc(spec.get('dataset', '?'))}, {esc(spec.get('profile', '?'))}"
               f" profile, seed {esc(spec.get('seed', '?'))} <code>{esc(rec.get('key', ''))}</code>"
               f"{badge}")
    return (f'<details class="run" id="{esc(run_anchor(rec.get("key", "")))}">'
            f'<summary>{summary}</summary><div class="run-body">{body}</div></details>')


def failure_summary(failure: dict) -> str:
    """One line naming a failed run and its error."""
    spec = failure.get("spec") or {}
    error = str(failure.get("error") or "").strip().splitlines()
    return (f"{config_label(spec.get('method', '?'), spec.get('overrides') or {})} on "
            f"{spec.get('dataset', '?')} ({spec.get('profile', '?')}, seed "
            f"{spec.get('seed', '?')}): {error[0] if error else 'unknown error'}")


def failure_details(failure: dict) -> str:
    """The details element of one failed run: error, configuration, traceback."""
    spec = failure.get("spec") or {}
    items = [("method", spec.get("method")), ("dataset", spec.get("dataset")),
             ("profile", spec.get("profile")), ("seed", spec.get("seed")),
             ("latents (K)", spec.get("n_latents")), ("run key", failure.get("key")),
             ("overrides", _overrides_text(spec)),
             ("error type", failure.get("error_type")), ("node", failure.get("node")),
             ("started", failure.get("started")), ("finished", failure.get("finished"))]
    items = [(k, v) for k, v in items if v is not None]
    error = esc(failure.get("error") or "unknown error")
    trace = esc(failure.get("traceback") or "none recorded")
    body = "".join([
        _section("Error", f'<pre class="error">{error}</pre>', wide=True),
        _section("Configuration", kv_table(items)),
        _section("Hyperparameters", _hparams(spec)),
        _section("Budget", kv_table(sorted((spec.get("budget") or {}).items()))),
        _section("Traceback", f'<pre class="traceback">{trace}</pre>', wide=True),
    ])
    return (f'<details class="run failed" id="{esc(failure_anchor(failure.get("key", "")))}">'
            f'<summary>FAILED: {esc(failure_summary(failure))}</summary>'
            f'<div class="run-body">{body}</div></details>')

