"""``run_suite.py [run]``: train and evaluate a grid of runs, then print its leaderboards."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from tabulate import tabulate

from ..errors import DataMissingError
from .common import add_common, check_folders, folder_problem, store_folders
from .listing import print_list
from .settings_file import merged_settings

NAME = "run"
HELP = "train and evaluate a grid of runs (the default command)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--methods", default=None, help="'all' or a comma-separated list (see --list)")
    p.add_argument("--dataset", "--datasets", dest="dataset", default=None,
                   help="dataset name, or a comma-separated list (default: nat16)")
    p.add_argument("--seeds", default=None, help="e.g. 0 or 0,1,2 or 1-5 (default: 0)")
    p.add_argument("--profile", default=None, help="smoke | quick (default) | standard | paper")
    p.add_argument("--device", default=None, help="auto (default) | cpu | cuda | cuda:N")
    p.add_argument("--jobs", type=int, default=None, help="parallel worker processes (default: 1)")
    p.add_argument("--config", default=None, metavar="FILE", help="YAML file of settings (see README)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="M.KEY=V1,V2",
                   help="override a hyperparameter; several values run a sweep (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the run matrix and its cache status, run nothing")
    p.add_argument("--list", action="store_true", help="list methods and datasets, then exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--columns", default=None, metavar="A,B,...",
                   help="columns of the leaderboard printed at the end (default: method, sse, "
                        "r2, rate, lifetime_sparsity, dead_frac, knn, converged, fit_seconds; "
                        "'all' for every column; the report files always hold every column)")
    add_common(p)
    from ..executors import add_executor_arguments

    add_executor_arguments(p)


def print_dry_run(specs, store, skipped, no_data: dict[str, str] | None = None,
                  notes: Sequence[str] = ()) -> None:
    """The run matrix and each run's status; ``no_data``: the datasets missing here (their runs
    that are not done show ``no data``); ``notes``: lines printed after the matrix."""
    no_data = no_data or {}

    def status(s):
        st = store.status(s.key())
        return "no data" if st != "done" and s.dataset in no_data else st

    rows = [[s.dataset, s.method, ", ".join(f"{k}={v}" for k, v in sorted(s.overrides.items())) or "-",
             s.seed, s.n_latents, s.key(), status(s)] for s in specs]
    print(tabulate(rows, headers=["dataset", "method", "overrides", "seed", "K", "key", "status"],
                   tablefmt="simple"))
    counts = {st: sum(r[-1] == st for r in rows) for st in ("done", "todo", "failed", "no data")}
    print(f"\n{len(rows)} runs: {counts['done']} done, {counts['todo']} to run, "
          f"{counts['failed']} failed before (will be retried)"
          + (f", {counts['no data']} without data." if counts["no data"] else "."))
    for line in notes:
        print(line)
    _print_skipped(skipped)


def missing_data(specs, store, data_dir, dry_run: bool = False) -> tuple[dict[str, str], str]:
    """Datasets of the runs still to do that are not in the data folder, each checked once:
    ({name: why}, one message saying what is missing, how many runs need it, how to fix it)."""
    from ..data.sources import resolve_data_dir
    from ..data.loading import unavailable_datasets

    todo: dict[str, int] = {}
    for s in specs:
        if not store.has(s.key()):
            todo[s.dataset] = todo.get(s.dataset, 0) + 1
    missing = unavailable_datasets(todo, data_dir)
    if not missing:
        return {}, ""
    ddir = resolve_data_dir(data_dir)
    stop = "a run would stop here" if dry_run else "nothing was run"

    def runs(name):
        return f"{todo[name]} run{'s need' if todo[name] > 1 else ' needs'} it"

    if len(missing) == 1:
        ((name, why),) = missing.items()
        return missing, (f"dataset {name} is not available in the data folder {ddir}: {why}. {runs(name)}; "
                         f"{stop}. Get the data, pass --data-dir DIR, or leave {name} out of --dataset.")
    lines = [f"{len(missing)} datasets are not available in the data folder {ddir}:"]
    lines += [f"  - {name} ({runs(name)}): {why}" for name, why in missing.items()]
    lines.append(f"{stop[0].upper()}{stop[1:]}. Get the data, pass --data-dir DIR, "
                 "or leave them out of --dataset.")
    return missing, "\n".join(lines)


def _print_skipped(skipped) -> None:
    for method, dataset, reason in skipped:
        print(f"skipped {method} on {dataset}: {reason}")


def run(args) -> int:
    from ..config import build_grid
    from ..registry import discover
    from ..runner import summarize
    from ..store import Store

    discover(args.plugins)
    if args.list:
        print_list(args.data_dir)
        return 0
    settings = merged_settings(args)
    grid = build_grid(settings["methods"], settings["dataset"], settings["seeds"], settings["profile"],
                      settings["set"], settings.get("method_config"))
    out = Path(settings["out"])
    store = Store(out)
    no_data, message = missing_data(grid.specs, store, args.data_dir, args.dry_run)
    if args.dry_run:
        notes = [f"note: {message}"] if message else []
        problem = next(filter(None, map(folder_problem, store_folders(out))), None)
        if problem:
            print(f"warning: --out {out} cannot hold the result store: {problem}; a run would stop here.",
                  file=sys.stderr)
        print_dry_run(grid.specs, store, grid.skipped, no_data, notes)
        return 0
    check_folders(store_folders(out), "--out", out, "the result store")
    if message:
        raise DataMissingError(message)
    _print_skipped(grid.skipped)
    if not grid.specs:
        print("nothing to run.")
        return 0
    from ..executors import execute

    outcomes = execute(grid.specs, out, settings, args)  # --executor local (default), slurm or ray
    if outcomes is None:  # --detach: the engine runs them; `run_suite.py status` follows them
        return 0
    n_failed = summarize(outcomes, out)
    _print_leaderboards(out, grid.specs, getattr(args, "columns", None))
    return 1 if n_failed else 0


def _print_leaderboards(out: Path, specs, columns: str | None = None) -> None:
    """The grid's leaderboards in the narrow terminal view (:mod:`reports.terminal`; ``columns``:
    the ``--columns`` value), then the report rebuilt and where to read it."""
    import reports
    from reports.formatting import slug
    from reports.terminal import parse_columns, terminal_leaderboard
    from ..store import load_records

    records = load_records(out)
    keys = {s.key() for s in specs}
    mine = [r for r in records if r["key"] in keys]
    for dataset, profile in sorted({(s.dataset, s.profile) for s in specs}):
        print(f"\nLeaderboard: {dataset} ({profile} profile)\n")
        full = out / "reports" / f"leaderboard_{slug(dataset)}_{slug(profile)}.md"
        print(terminal_leaderboard(mine, dataset, profile, parse_columns(columns),
                                   full_table=str(full)))
    written = reports.build(out)
    print(f"\nTables and figures: {out / 'reports'} ({len(written)} files). "
          "Rebuild them any time with `python run_suite.py report`.")
    print(f"Everything on one page (open it in a browser): {out / 'reports' / 'index.html'}")
