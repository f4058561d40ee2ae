"""Running a grid of runs: one run end to end (:func:`run_one`) and local execution.

:func:`run_one` is the single function every executor calls, in-process, in a local worker
process or on a remote node: it takes a plain-dict run spec, trains, evaluates and writes one
record (or one failure record) to the store. Finished runs are skipped; failures are recorded
with their traceback and retried on the next invocation; a run interrupted by Ctrl-C or a kill
writes nothing, so running the same command again finishes exactly the missing runs.

What ``fit`` sees: the training split less a seeded held-out slice (eval setting ``holdout``,
:func:`suite.subsets.holdout_split`), and that slice as ``val``; the evaluation split is never
passed to it. The record stores the slice's size, fraction and seed under ``dataset``, and the
method's training-loss curve and PROTOCOL.md's convergence flag under ``training``
(:mod:`suite.loss_curve`); the flag is also the metric ``converged`` (1.0, 0.0 or None).
"""
from __future__ import annotations

import dataclasses
import os
import resource
import signal
import socket
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable, Mapping

import torch

from .config import RunSpec
from .data.loading import load_dataset
from .devices import resolve_device
from .errors import SuiteError
from .loss_curve import converged_metric, time_limited_metric, training_summary
from .progress import null_progress, tqdm_progress
from .provenance import now, provenance
from .registry import METHODS, create_method, discover
from .seeding import seed_everything
from .store import Store
from .settings import EvalSettings
from .subsets import holdout_split


@dataclasses.dataclass
class RunOutcome:
    key: str
    label: str
    status: str            # "done" | "cached" | "failed"
    seconds: float = 0.0
    error: str | None = None


def _peak_memory_mb(device: torch.device) -> dict:
    out = {"process_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    out["peak_memory_mb"] = (torch.cuda.max_memory_allocated(device) / 2**20
                             if device.type == "cuda" else None)
    return out


def run_one(spec_dict: dict, out: str | Path, device: str = "auto", data_dir: str | None = None,
            cache_dir: str | None = None, show_progress: bool = True,
            plugin_dirs: Iterable[str] = ()) -> RunOutcome:
    """Train and evaluate one run and write its record; never raises for a failed run.

    ``KeyboardInterrupt`` and ``SystemExit`` propagate and leave nothing in the store."""
    discover(plugin_dirs)
    spec = RunSpec.from_dict(spec_dict)
    key, store = spec.key(), Store(out)
    if store.has(key):
        return RunOutcome(key, spec.label(), "cached")
    started, t_start = now(), time.perf_counter()
    dev = resolve_device(device)
    try:
        ds = load_dataset(spec.dataset, data_dir, cache_dir).to(dev)
        n_train_split = int(ds.train.shape[0])
        settings = EvalSettings.from_mapping(spec.eval, where=f"run {key}: eval")
        train, held_out, holdout = holdout_split(ds.train, settings.holdout, spec.seed)
        ds = dataclasses.replace(ds, train=train)  # fit and the record see only what it trains on
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        seed_everything(spec.seed)
        method = create_method(spec.method, ds.shape, spec.n_latents, device=dev, seed=spec.seed,
                               **spec.hparams)
        progress = tqdm_progress if show_progress else null_progress
        t0 = time.perf_counter()
        method.fit(ds.train, spec.budget_obj(), progress=_labelled(progress, spec), val=held_out)
        fit_seconds = time.perf_counter() - t0
        training = training_summary(method.loss_curve_)
        from .evaluation import evaluate_method

        metrics, arrays = evaluate_method(method, ds, settings, spec.seed)
        metrics.update(fit_seconds=fit_seconds, params=method.n_params(), **_peak_memory_mb(dev),
                       converged=converged_metric(training["converged"]),
                       time_limited=time_limited_metric(method.loss_curve_))
        traces = trace_method(method, ds, settings, spec.seed)
        cls = METHODS.get(spec.method)
        record = {
            "key": key, "status": "ok", "spec": spec.to_dict(),
            "method": {"name": cls.name, "family": cls.family, "version": str(cls.version),
                       "description": cls.summary()},
            "dataset": {"name": ds.name, "shape": list(ds.shape), "data_kind": ds.data_kind,
                        "is_binary": ds.is_binary,
                        "n_train": int(ds.train.shape[0]), "n_train_split": n_train_split,
                        **holdout, "n_val": int(ds.val.shape[0]), "provenance": ds.provenance},
            "metrics": metrics,
            "training": training,
            "traces": traces,
            "provenance": dict(provenance(dev), started=started, finished=now()),
        }
        store.write_result(record, arrays=arrays, checkpoint=method.state_dict())
        return RunOutcome(key, spec.label(), "done", time.perf_counter() - t_start)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # recorded, reported, retried next time; never cached as a result
        msg = f"{type(exc).__name__}: {exc}" if not isinstance(exc, SuiteError) else str(exc)
        store.write_failure({
            "key": key, "status": "failed", "spec": spec.to_dict(), "error": msg,
            "error_type": type(exc).__name__, "traceback": traceback.format_exc(),
            "node": socket.gethostname(), "started": started, "finished": now(),
        })
        return RunOutcome(key, spec.label(), "failed", time.perf_counter() - t_start, msg)


def restore_method(store: Store, key: str, device: str | torch.device = "cpu"):
    """Rebuild the trained method of run ``key`` (or a unique key prefix) from its checkpoint.

    Returns ``(method, record)``; raises :class:`SuiteError` when the run or its checkpoint is
    missing."""
    record = store.record(key)
    spec, key = record["spec"], record["key"]
    path = store.checkpoint_path(key)
    if not path.exists():
        raise SuiteError(f"run {key} has no checkpoint ({path} is missing).")
    dev = resolve_device(str(device))
    method = create_method(spec["method"], tuple(record["dataset"]["shape"]), spec["n_latents"],
                           device=dev, seed=spec["seed"], **spec["hparams"])
    method.load_state_dict(torch.load(path, map_location=dev))
    return method, record


def trace_method(method, ds, settings: "EvalSettings | Mapping", seed: int) -> dict:
    """Analyses stored with the run: the convergence of iterative inference, for methods that
    declare :class:`~suite.capabilities.IterativeInference` (:mod:`suite.analyses.convergence`),
    and the amortization gap when the profile asks for it, for methods it applies to
    (:func:`suite.capabilities.amortization_gap_applies`: a
    :class:`~suite.capabilities.LinearDictionary` that is not a
    :class:`~suite.capabilities.LassoSolver`) whose ``dictionary()`` is not None for this
    configuration (:mod:`suite.analyses.amortization_gap`). Both run on the evaluation's
    validation subset (the same seeded rows as the metrics)."""
    from .analyses.convergence import convergence_trace, has_trajectory
    from .evaluation import validation_subset

    from .analyses.amortization_gap import applies_to, run_gap

    settings = EvalSettings.from_mapping(settings)
    x, _ = validation_subset(ds, settings.max_val, seed)
    traces = {}
    with torch.no_grad():
        if has_trajectory(method):
            traces["convergence"] = convergence_trace(
                method, x, batch_size=settings.infer_batch_size, n_points=settings.trace_points)
        gap = settings.amortization_gap
        if gap is not None and applies_to(method):
            dictionary = method.dictionary()
            if dictionary is not None:
                traces["amortization_gap"] = run_gap(dictionary, x, gap, seed)
    return traces


def _labelled(progress: Callable, spec: RunSpec) -> Callable:
    def factory(total=None, desc="", **kw):
        prefix = f"{spec.dataset}/{spec.label()}/seed{spec.seed}"
        return progress(total=total, desc=f"{prefix} {desc}".strip(), **kw)
    return factory


PARENT_POLL_SECONDS = 0.25
"""How often a worker checks that the process that started it is still alive."""
STOP_WORKERS_SECONDS = 2.0
"""How long an interrupted grid waits for its terminated workers before killing them."""


def _watch_parent(parent_pid: int, interval: float = PARENT_POLL_SECONDS) -> None:
    """Worker thread: end this process at once when its parent has died (after a kill -9 of
    the main process the worker is re-parented, and ``os.getppid()`` changes). A run in flight
    writes nothing (store writes are atomic) and is redone by the next invocation."""
    while os.getppid() == parent_pid:
        time.sleep(interval)
    os._exit(1)


def _worker_init(threads: int, plugin_dirs: list[str], parent_pid: int | None = None) -> None:
    if parent_pid is not None:
        # Ctrl-C at a terminal signals the whole process group: the main process handles it
        # (it stops the workers); a worker that took it would only start its next run.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-parent",
                         daemon=True).start()
    torch.set_num_threads(max(1, threads))
    discover(plugin_dirs)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and end the workers of ``pool`` now (SIGTERM, then SIGKILL after
    ``STOP_WORKERS_SECONDS``): the runs they were doing write nothing and are redone next time."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + STOP_WORKERS_SECONDS
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(1.0)


def execute_local(specs: list[RunSpec], out: str | Path, jobs: int = 1, device: str = "auto",
                  data_dir: str | None = None, cache_dir: str | None = None,
                  show_progress: bool = True, plugin_dirs: Iterable[str] = ()) -> list[RunOutcome]:
    """Run every spec not yet in the store, in this process (``jobs=1``) or in ``jobs`` worker
    processes (each with ``cores // jobs`` torch threads). Ctrl-C stops at once; runs in flight
    write nothing and will be redone next time.

    With workers, at most ``jobs`` runs are handed out at a time (the next when one ends), so
    nothing is queued in the pool. On Ctrl-C (or any error) the main process stops scheduling,
    terminates the workers within a few seconds and re-raises (the command line exits 130);
    workers ignore SIGINT themselves and exit on their own when the main process dies."""
    store = Store(out)
    plugin_dirs = list(plugin_dirs)
    outcomes = [RunOutcome(s.key(), s.label(), "cached") for s in specs if store.has(s.key())]
    todo = [s for s in specs if not store.has(s.key())]
    if not todo:
        return outcomes
    if jobs <= 1:
        for spec in todo:
            outcomes.append(run_one(spec.to_dict(), out, device, data_dir, cache_dir,
                                    show_progress, plugin_dirs))
        return outcomes
    threads = max(1, (os.cpu_count() or 1) // jobs)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"),
                               initializer=_worker_init,
                               initargs=(threads, plugin_dirs, os.getpid()))
    bar = tqdm_progress(total=len(todo), desc="runs") if show_progress else null_progress()
    queue = iter(todo)
    pending: set = set()

    def submit_next() -> None:
        spec = next(queue, None)
        if spec is not None:
            pending.add(pool.submit(run_one, spec.to_dict(), str(out), device, data_dir,
                                    cache_dir, False, plugin_dirs))

    try:
        for _ in range(jobs):
            submit_next()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                pending.discard(f)
                outcome = f.result()
                outcomes.append(outcome)
                bar.update(1)
                bar.set_postfix(last=f"{outcome.label}:{outcome.status}")
                submit_next()
    except BaseException:
        _stop_workers(pool)
        raise
    finally:
        bar.close()
    pool.shutdown()
    return outcomes


def summarize(outcomes: list[RunOutcome], out: str | Path, stream=None) -> int:
    """Print what ran, what was cached and what failed; return the number of failures."""
    stream = stream or sys.stdout
    done = sum(o.status == "done" for o in outcomes)
    cached = sum(o.status == "cached" for o in outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    print(f"\n{len(outcomes)} runs: {done} trained, {cached} already done (skipped), "
          f"{len(failed)} failed.", file=stream)
    for o in failed:
        print(f"  FAILED {o.label} [{o.key}]: {o.error}", file=stream)
        print(f"         traceback: {Path(out) / 'failures' / (o.key + '.json')}", file=stream)
    if failed:
        print("Failed runs are not cached: running the same command again retries them.", file=stream)
    return len(failed)
