"""``run_suite.py reproduce``: run the experiments behind the papers' claims, then score them.

    run_suite.py reproduce [--profile standard|paper] [--claims C1,C3,...] [--list]
                           [--patches NAME] [--seeds 0-2] [--jobs N] [--judge-only]

Every run goes through the same store as ``run_suite.py`` (``--out``), so finished runs are
reused and a killed ``reproduce`` resumes where it stopped; ``--executor slurm|ray`` sends the
runs to a cluster (``--detach``, then ``reproduce --judge-only`` once they are done). The
scorecard goes to ``OUT/reports/reproduction/`` (``--to`` elsewhere).
"""
from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path

from tabulate import tabulate

from suite.errors import ConfigError

from .claims import CLAIMS, Claim
from .context import DATA_ROLES, ClaimContext, plan
from .scorecard import Row, write_scorecard
from .verdict import NOT_MEASURABLE, Judgement, decide


def add_arguments(p: argparse.ArgumentParser) -> None:
    from suite.commands.common import add_data_arguments, add_out_argument
    from suite.executors import add_executor_arguments

    p.add_argument("--profile", default="standard", help="standard (default, CPU) | paper (GPU)")
    p.add_argument("--claims", default="all", help="'all' or a comma list of claim ids (see --list)")
    p.add_argument("--list", action="store_true", help="list the claims and their runs, then exit")
    for role, default in DATA_ROLES.items():
        p.add_argument(f"--{role}", default=None, metavar="DATASET",
                       help=f"dataset for the '{role}' claims (default: {default})")
    p.add_argument("--seeds", default="0", help="e.g. 0 or 0-2 (default: 0)")
    p.add_argument("--jobs", type=int, default=1, help="parallel worker processes (default: 1)")
    p.add_argument("--device", default="auto", help="auto (default) | cpu | cuda | cuda:N")
    p.add_argument("--judge-only", action="store_true",
                   help="train nothing: score the claims from the runs already in the store")
    p.add_argument("--to", default=None, help="scorecard folder (default: OUT/reports/reproduction)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_out_argument(p)
    add_data_arguments(p)
    add_executor_arguments(p)


def select_claims(text: str) -> list[Claim]:
    """Claims from 'all' or a comma list of ids (case-insensitive); unknown ids are an error."""
    if text.strip().lower() == "all":
        return list(CLAIMS.values())
    ids = [t.strip().upper() for t in text.split(",") if t.strip()]
    unknown = [i for i in ids if i not in CLAIMS]
    if unknown or not ids:
        raise ConfigError(f"unknown claim(s) {unknown or text!r}; valid: {', '.join(CLAIMS)}")
    return [CLAIMS[i] for i in dict.fromkeys(ids)]


def contexts(claims: list[Claim], args, out: Path) -> list[ClaimContext]:
    """A ClaimContext per claim: its run specs, and which data roles are unavailable here."""
    from suite.config import parse_seeds
    from suite.data.sources import resolve_data_dir
    from suite.registry import DATASETS
    from suite.store import Store

    datasets = {role: getattr(args, role) or default for role, default in DATA_ROLES.items()}
    data_dir = resolve_data_dir(args.data_dir)
    unavailable = {}
    for role, name in datasets.items():
        avail = DATASETS.get(name).availability(data_dir)
        if not avail.ok:
            unavailable[role] = avail.detail
    seeds = parse_seeds(args.seeds)
    store = Store(out)
    figure_dir = Path(args.to or out / "reports" / "reproduction") / "figures"
    return [ClaimContext(store, figure_dir, args.profile, datasets,
                         {name: plan(e, datasets, args.profile, seeds)
                          for name, e in c.experiments.items()}, unavailable, c.experiments,
                         args.data_dir)
            for c in claims]


def run_seconds(records: list[dict]) -> list[float]:
    """Each run's measured duration, (finished − started) of its provenance, in seconds."""
    out = []
    for r in records:
        p = r.get("provenance") or {}
        try:
            out.append((datetime.fromisoformat(p["finished"]) - datetime.fromisoformat(p["started"])
                        ).total_seconds())
        except (KeyError, TypeError, ValueError):
            continue
    return out


def claim_minutes(records: list[dict], extra_seconds: float, jobs: int = 1) -> tuple[float, float]:
    """``(run_minutes, wall_minutes)`` of a claim: the sum of its runs' measured durations (each
    run trains on one core), and the wall time of running them on ``jobs`` parallel workers
    (``reproduce --claims ID --jobs N``): the makespan of the longest-first schedule of those
    durations. Both include the claim's in-process checks (``extra_seconds``)."""
    durations = sorted(run_seconds(records), reverse=True)
    workers = [0.0] * max(1, int(jobs))
    for d in durations:
        workers[workers.index(min(workers))] += d
    return (sum(durations) + extra_seconds) / 60, (max(workers) + extra_seconds) / 60


def judge(claim: Claim, ctx: ClaimContext, jobs: int = 1) -> Row:
    """Score one claim from the store (never trains); its wall time is that of ``jobs`` workers."""
    start = time.perf_counter()
    missing = ctx.missing()
    judgement: Judgement | None = None
    if not missing:
        try:
            judgement = claim.judge(ctx)
        except Exception as exc:  # a claim that cannot be evaluated says why; others go on
            judgement = Judgement(None, "—", {"traceback": traceback.format_exc()},
                                  reason=f"{type(exc).__name__}: {exc}")
    records = ctx.all_records()
    status, note = decide(judgement, records, missing, time_bounded=claim.time_bounded)
    if status == NOT_MEASURABLE and judgement is not None:
        note = judgement.reason
    run_minutes, minutes = claim_minutes(records, time.perf_counter() - start, jobs)
    return Row(claim.id, claim.title, claim.paper, claim.source,
               judgement.measured if judgement else "—", claim.rule, status, note, run_minutes, minutes,
               judgement.figure if judgement else None, judgement.evidence if judgement else {})


def header(args, out: Path, ctxs: list[ClaimContext]) -> dict:
    import os

    import torch

    from suite.provenance import git_commit, now

    recipes = {}
    for ctx in ctxs:
        for r in ctx.all_records():
            prov = (r.get("dataset") or {}).get("provenance") or {}
            recipe = prov.get("recipe")
            if isinstance(recipe, dict):
                recipe = recipe.get("name")
            recipes.setdefault(r["spec"]["dataset"], recipe or "n/a")
    datasets = {role: ctxs[0].datasets[role] for role in DATA_ROLES} if ctxs else {}
    return {"command": "python run_suite.py reproduce " + " ".join(map(shlex.quote, sys.argv[2:]
                                                                       if sys.argv[1:2] == ["reproduce"]
                                                                       else sys.argv[1:])),
            "commit": git_commit() or "unknown", "date": now(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
            "profile": args.profile, "seeds": args.seeds,
            "wall minutes": f"with {args.jobs} parallel worker(s) (--jobs {args.jobs}); run minutes: the "
                            "sum of the claim's run times, one core each",
            "datasets": ", ".join(f"{role}: {name} (recipe {recipes.get(name, 'n/a')})"
                                  for role, name in datasets.items()),
            "store": str(out)}


def print_claims(claims: list[Claim], ctxs: list[ClaimContext]) -> None:
    rows = []
    for c, ctx in zip(claims, ctxs):
        specs = [s for v in ctx.specs.values() for s in v]
        done = sum(ctx.store.has(s.key()) for s in specs)
        rows.append([c.id, c.title, c.paper, f"{done}/{len(specs)} runs done", f"≤ {c.minutes} min"])
    print(tabulate(rows, ["claim", "what", "paper", "runs", "budget"], tablefmt="simple"))


def cmd_reproduce(args) -> int:
    from suite.commands.common import check_out
    from suite.commands.common import store_dir
    from suite.registry import discover

    check_out(args)  # --out and --to are usable, before any work (exit 2)
    discover(args.plugins)
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    claims = select_claims(args.claims)
    out = store_dir(args)
    ctxs = contexts(claims, args, out)
    if args.list:
        print_claims(claims, ctxs)
        return 0
    n_failed = 0
    if not args.judge_only:
        todo, seen = [], set()
        # the longest claims first, so that with --jobs N they overlap with the short ones
        order = sorted(range(len(claims)), key=lambda i: -claims[i].minutes)
        for ctx in (ctxs[i] for i in order):
            for name, specs in ctx.specs.items():
                if ctx.experiments[name].data in ctx.unavailable:
                    continue
                for s in specs:
                    if s.key() not in seen:
                        seen.add(s.key())
                        todo.append(s)
        if todo:
            from suite.executors import execute
            from suite.runner import summarize

            settings = {"device": args.device, "jobs": args.jobs}
            outcomes = execute(todo, out, settings, args)
            if outcomes is None:  # --detach
                print("submitted; score them later with `run_suite.py reproduce --judge-only`.")
                return 0
            n_failed = summarize(outcomes, out)
    rows = [judge(c, ctx, args.jobs) for c, ctx in zip(claims, ctxs)]
    report_dir = Path(args.to or out / "reports" / "reproduction")
    written = write_scorecard(rows, report_dir, header(args, out, ctxs))
    print()
    print(tabulate([[r.claim, r.measured[:70], r.verdict, "" if r.minutes is None else f"{r.minutes:.1f}"]
                    for r in rows], ["claim", "measured", "verdict", "min"], tablefmt="simple"))
    print(f"\nscorecard: {written[0]} (also .csv, .html, .json)")
    return 1 if n_failed else 0
