"""The command line of the suite (``python run_suite.py ...``).

Commands::

    run_suite.py [run] --methods lca,ista --dataset nat16 [--seeds 0-2] [--profile quick]
                 [--set lca.lam=0.1,0.2] [--jobs N] [--device auto] [--out results] [--dry-run]
    run_suite.py --list | list        methods and datasets, and whether each dataset is here
    run_suite.py report [--out results]   rebuild every table and figure from the store

Every user error (unknown name, malformed override, missing data) prints one clear message and
exits with status 2 before anything is written; failed runs make the exit status 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from tabulate import tabulate

from .errors import ConfigError, SuiteError

COMMANDS: dict[str, tuple[str, Callable, Callable]] = {}  # name -> (help, add_arguments, handler)


def command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Register a subcommand ``name`` handled by the decorated ``handler(args) -> exit code``."""
    def deco(handler: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = (help, add_arguments, handler)
        return handler
    return deco


def add_out_argument(p: argparse.ArgumentParser) -> None:
    """``--out DIR``: the result store (default from configs/suite.yaml, see :func:`store_dir`)."""
    p.add_argument("--out", default=None, help="result store folder (default: results)")


def store_dir(args: argparse.Namespace) -> Path:
    """``--out``, else the ``out`` of configs/suite.yaml."""
    from .config import CONFIG_DIR, load_yaml

    return Path(args.out or load_yaml(CONFIG_DIR / "suite.yaml").get("out", "results"))


def add_plugins_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugins", action="append", default=[], metavar="DIR",
                   help="extra plugin folder (holding methods/ and/or datasets/); repeatable")


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """``--data-dir``, ``--cache-dir`` and ``--plugins`` (datasets may come from plugins)."""
    p.add_argument("--data-dir", default=None,
                   help="data folder (default: $BRAINLIKE_DATA_DIR, else ~/Datasets)")
    p.add_argument("--cache-dir", default=None,
                   help="cache for built datasets (default: $BRAINLIKE_CACHE_DIR, else ~/.cache/brainlike_suite)")
    add_plugins_argument(p)


def _add_common(p: argparse.ArgumentParser) -> None:
    add_out_argument(p)
    add_data_arguments(p)


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
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
    _add_common(p)
    from .executors import add_executor_arguments

    add_executor_arguments(p)


def _settings(args: argparse.Namespace) -> dict:
    """configs/suite.yaml, then --config FILE, then flags."""
    from .config import CONFIG_DIR, load_yaml, parse_seeds

    settings = load_yaml(CONFIG_DIR / "suite.yaml")
    settings.setdefault("set", [])
    settings.setdefault("method_config", {})
    if getattr(args, "config", None):
        user = load_yaml(args.config)
        allowed = {"methods", "dataset", "seeds", "profile", "device", "out", "jobs", "set", "method_config",
                   "executor"}
        unknown = set(user) - allowed
        if unknown:
            raise ConfigError(f"{args.config}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        if isinstance(user.get("set"), str):
            user["set"] = [user["set"]]
        settings.update(user)
    for flag in ("methods", "dataset", "seeds", "profile", "device", "out", "jobs"):
        value = getattr(args, flag, None)
        if value is not None:
            settings[flag] = value
    settings["set"] = list(settings.get("set") or []) + list(getattr(args, "sets", []) or [])
    methods = settings["methods"]
    settings["methods"] = ",".join(methods) if isinstance(methods, list) else str(methods)
    dataset = settings["dataset"]
    settings["dataset"] = ",".join(dataset) if isinstance(dataset, list) else str(dataset)
    settings["seeds"] = parse_seeds(settings["seeds"] if not isinstance(settings["seeds"], int)
                                    else [settings["seeds"]])
    if int(settings["jobs"]) < 1:
        raise ConfigError(f"--jobs must be >= 1, got {settings['jobs']}")
    return settings


# -- list ---------------------------------------------------------------------------------
def _fmt_default(v) -> str:
    return "[" + ",".join(map(str, v)) + "]" if isinstance(v, (list, tuple)) else str(v)


def print_list(data_dir: str | None) -> None:
    from .data import resolve_data_dir
    from .hparams import describe
    from .registry import DATASETS, METHODS

    rows = []
    for name, cls in METHODS.items():
        hps = ", ".join(f"{n}={_fmt_default(d)}" for n, d, _ in describe(cls.hparams))
        rows.append([name, cls.family, cls.summary(), hps])
    print("Methods\n" + tabulate(rows, headers=["name", "family", "description", "hyperparameters (defaults)"],
                                 tablefmt="simple", maxcolwidths=[None, None, 40, 70]))
    ddir = resolve_data_dir(data_dir)
    rows = []
    for name, src in DATASETS.items():
        av = src.availability(ddir)
        rows.append([name, "x".join(map(str, src.shape)), "yes" if src.labelled else "no",
                     "binary" if src.is_binary else "continuous",
                     ("yes: " if av.ok else "no: ") + av.detail])
    print(f"\nDatasets (data folder: {ddir})\n" + tabulate(
        rows, headers=["name", "shape", "labelled", "values", "available here"], tablefmt="simple",
        maxcolwidths=[None, None, None, None, 80]))
    print("\nHyperparameter help: python run_suite.py list --method NAME")


def print_method_help(name: str) -> None:
    from .hparams import describe
    from .registry import METHODS

    cls = METHODS.get(name)
    print(f"{cls.name} ({cls.family}): {cls.summary()}\n")
    print(tabulate([[n, _fmt_default(d), h] for n, d, h in describe(cls.hparams)],
                   headers=["hyperparameter", "default", "meaning"], tablefmt="simple"))


def _add_list_arguments(p):
    p.add_argument("--method", default=None, help="show one method's hyperparameters in full")
    add_data_arguments(p)


@command("list", "list methods and datasets", _add_list_arguments)
def cmd_list(args) -> int:
    from .registry import discover

    discover(args.plugins)
    if args.method:
        print_method_help(args.method)
    else:
        print_list(args.data_dir)
    return 0


# -- run ------------------------------------------------------------------------------------
def print_dry_run(specs, store, skipped) -> None:
    rows = [[s.dataset, s.method, ", ".join(f"{k}={v}" for k, v in sorted(s.overrides.items())) or "-",
             s.seed, s.n_latents, s.key(), store.status(s.key())] for s in specs]
    print(tabulate(rows, headers=["dataset", "method", "overrides", "seed", "K", "key", "status"],
                   tablefmt="simple"))
    counts = {st: sum(r[-1] == st for r in rows) for st in ("done", "todo", "failed")}
    print(f"\n{len(rows)} runs: {counts['done']} done, {counts['todo']} to run, "
          f"{counts['failed']} failed before (will be retried).")
    _print_skipped(skipped)


def _print_skipped(skipped) -> None:
    for method, dataset, reason in skipped:
        print(f"skipped {method} on {dataset}: {reason}")


@command("run", "train and evaluate a grid of runs (the default command)", _add_run_arguments)
def cmd_run(args) -> int:
    from .config import build_grid
    from .registry import discover
    from .runner import summarize
    from .store import Store

    discover(args.plugins)
    if args.list:
        print_list(args.data_dir)
        return 0
    settings = _settings(args)
    grid = build_grid(settings["methods"], settings["dataset"], settings["seeds"], settings["profile"],
                      settings["set"], settings.get("method_config"))
    out = Path(settings["out"])
    store = Store(out)
    if args.dry_run:
        print_dry_run(grid.specs, store, grid.skipped)
        return 0
    _print_skipped(grid.skipped)
    if not grid.specs:
        print("nothing to run.")
        return 0
    from .executors import execute

    outcomes = execute(grid.specs, out, settings, args)  # --executor local (default), slurm or ray
    if outcomes is None:  # --detach: the engine runs them; `run_suite.py status` follows them
        return 0
    n_failed = summarize(outcomes, out)
    _print_leaderboards(out, grid.specs)
    return 1 if n_failed else 0


def _print_leaderboards(out: Path, specs) -> None:
    import reports
    from .store import load_records

    records = load_records(out)
    keys = {s.key() for s in specs}
    mine = [r for r in records if r["key"] in keys]
    for dataset, profile in sorted({(s.dataset, s.profile) for s in specs}):
        print(f"\nLeaderboard: {dataset} ({profile} profile)\n")
        print(reports.format_leaderboard(mine, dataset, profile))
    written = reports.build(out)
    print(f"\nTables and figures: {out / 'reports'} ({len(written)} files). "
          "Rebuild them any time with `python run_suite.py report`.")


# -- report ---------------------------------------------------------------------------------
def _add_report_arguments(p):
    add_out_argument(p)
    p.add_argument("--to", default=None, help="write reports here (default: OUT/reports)")


@command("report", "rebuild every leaderboard table and figure from the stored results", _add_report_arguments)
def cmd_report(args) -> int:
    import reports

    out = store_dir(args)
    if not (out / "runs").is_dir():
        raise SuiteError(f"no result store at {out}: run the suite first, or pass --out FOLDER")
    written = reports.build(out, Path(args.to) if args.to else None)
    for line in reports.summary_lines(out):
        print(line)
    print(f"wrote {len(written)} files under {Path(args.to) if args.to else out / 'reports'}")
    return 0


# -- reproduce: the papers' claims and their scorecard (suite.reproduce) -----------------------
def _add_reproduce_arguments(p):
    from .reproduce.command import add_arguments

    add_arguments(p)


@command("reproduce", "run the experiments behind the papers' claims and write a scorecard",
         _add_reproduce_arguments)
def cmd_reproduce(args) -> int:
    from .reproduce.command import cmd_reproduce as run

    return run(args)


# -- status: registered by suite.executors.status (runs submitted with --executor slurm|ray) --
from .executors import status as _status  # noqa: E402,F401

# -- sample ---------------------------------------------------------------------------------
def _add_sample_arguments(p):
    p.add_argument("method", help="the run's method; it must draw samples (e.g. bihm)")
    p.add_argument("--run", required=True, metavar="KEY", help="the run's key (or a unique prefix)")
    add_out_argument(p)
    p.add_argument("-n", type=int, default=64, help="samples per panel (default: 64)")
    p.add_argument("--sweeps", type=int, default=20, help="Gibbs sweeps (default: 20)")
    p.add_argument("--proposals", type=int, default=100,
                   help="candidates per proposal distribution of each Gibbs update (default: 100)")
    p.add_argument("--to", default=None, help="PNG path (default: OUT/reports/samples_<method>_<key>.png)")
    p.add_argument("--device", default="cpu", help="cpu (default) | auto | cuda | cuda:N")
    add_plugins_argument(p)


@command("sample", "draw samples from a stored run's checkpoint into a PNG (bihm: ancestral and Gibbs)",
         _add_sample_arguments)
def cmd_sample(args) -> int:
    from .registry import METHODS, discover
    from .runner import restore_method
    from .store import Store

    discover(args.plugins)
    cls = METHODS.get(args.method)
    if not hasattr(cls, "sample_grid"):
        able = [n for n, c in METHODS.items() if hasattr(c, "sample_grid")]
        raise SuiteError(f"{args.method} cannot draw samples; methods that can: {', '.join(able) or 'none'}.")
    if min(args.n, args.sweeps, args.proposals) < 1:
        raise ConfigError("-n, --sweeps and --proposals must be positive integers.")
    store = Store(store_dir(args))
    record = store.record(args.run)
    if record["spec"]["method"] != args.method:
        raise SuiteError(f"run {record['key']} is a {record['spec']['method']} run, not {args.method}.")
    method, record = restore_method(store, record["key"], args.device)
    to = Path(args.to) if args.to else store.root / "reports" / f"samples_{args.method}_{record['key']}.png"
    print(f"wrote {method.sample_grid(to, n=args.n, sweeps=args.sweeps, proposals=args.proposals)}")
    return 0


# -- gap ------------------------------------------------------------------------------------
def _add_gap_arguments(p):
    add_out_argument(p)
    p.add_argument("--methods", default="all", help="runs of these methods ('all' or a comma list)")
    p.add_argument("--dataset", default=None, help="runs on these datasets (default: all)")
    p.add_argument("--lams", default=None, help="λ grid, e.g. 0.05,0.1,0.5,1 (default: the profile's)")
    p.add_argument("--solvers", default=None, help="lca,fista (default: the profile's)")
    p.add_argument("--max-val", type=int, default=None, help="validation samples used (default: the profile's)")
    p.add_argument("--nonneg", action="store_true", help="non-negative codes")
    p.add_argument("--force", action="store_true", help="recompute runs that already have the analysis")
    p.add_argument("--device", default="auto", help="auto (default) | cpu | cuda | cuda:N")
    add_data_arguments(p)


@command("gap", "amortization gap of stored runs: re-infer their codes with LCA/FISTA on the frozen "
         "dictionary (no retraining)", _add_gap_arguments)
def cmd_gap(args) -> int:
    import torch

    import reports
    from .amortization_gap import applies_to, gap_settings, run_gap
    from .data import load_dataset
    from .devices import resolve_device
    from .evaluation import validation_subset
    from .registry import discover
    from .store import Store

    discover(args.plugins)
    out = store_dir(args)
    store = Store(out)
    methods = None if args.methods == "all" else set(args.methods.split(","))
    datasets = None if args.dataset is None else set(args.dataset.split(","))
    device = resolve_device(args.device)
    try:
        lams = [float(v) for v in args.lams.split(",")] if args.lams else None
    except ValueError:
        raise ConfigError(f"malformed --lams {args.lams!r}: expected numbers, e.g. 0.1,0.5,1") from None
    done = 0
    for record in store.records():
        spec = record["spec"]
        if (methods and spec["method"] not in methods) or (datasets and spec["dataset"] not in datasets):
            continue
        if not applies_to(record["method"]["family"]):
            continue
        if (record.get("traces") or {}).get("amortization_gap") and not args.force:
            continue
        dictionary = store.arrays(record["key"]).get("dictionary")
        if dictionary is None:
            continue
        settings = gap_settings(spec["eval"]) or gap_settings({"amortization_gap": True})
        settings.update({k: v for k, v in {"lams": lams, "solvers": args.solvers.split(",") if args.solvers else None,
                                           "max_val": args.max_val}.items() if v is not None})
        settings["nonneg"] = settings["nonneg"] or args.nonneg
        ds = load_dataset(spec["dataset"], args.data_dir, args.cache_dir)
        x, _ = validation_subset(ds, spec["eval"].get("max_val"), spec["seed"])
        rows = run_gap(torch.as_tensor(dictionary, device=device), x.to(device), settings,
                       spec["seed"])
        traces = dict(record.get("traces") or {}, amortization_gap=rows)
        store.update_record(record["key"], traces=traces)
        best = min(rows, key=lambda r: r["sse"])
        print(f"{spec['method']} on {spec['dataset']} [{record['key']}]: own sse {record['metrics']['sse']:.4g}, "
              f"re-inferred sse {best['sse']:.4g} ({best['solver']}, λ={best['lam']})")
        done += 1
    print(f"{done} runs analysed; tables and figures: {out / 'reports'}")
    reports.build(out)
    return 0


# -- prepare --------------------------------------------------------------------------------
def _add_prepare_arguments(p):
    from .prepare import add_prepare_arguments

    add_prepare_arguments(p)
    add_plugins_argument(p)


@command("prepare", "get or build a real dataset into the data folder (--from DIR or --download)",
         _add_prepare_arguments)
def cmd_prepare(args) -> int:
    from .prepare import run_prepare
    from .registry import discover

    discover(args.plugins)
    return run_prepare(args)


# -- entry point ----------------------------------------------------------------------------
def build_parser(name: str) -> argparse.ArgumentParser:
    help_text, add_arguments, _ = COMMANDS[name]
    prog = "run_suite.py" if name == "run" else f"run_suite.py {name}"
    p = argparse.ArgumentParser(prog=prog, description=help_text,
                                epilog="Commands: " + ", ".join(sorted(COMMANDS)) if name == "run" else None)
    add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv[0] if argv and argv[0] in COMMANDS else "run"
    if argv and argv[0] == name:
        argv = argv[1:]
    parser = build_parser(name)
    try:
        args = parser.parse_args(argv)
        return COMMANDS[name][2](args)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are saved; run the same command again to finish the rest.",
              file=sys.stderr)
        return 130
