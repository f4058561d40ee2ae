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

from .errors import ConfigError, DataMissingError, SuiteError

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
    from .config import config_dir, load_yaml

    return Path(args.out or load_yaml(config_dir() / "suite.yaml").get("out", "results"))


def folder_problem(path: str | Path) -> str | None:
    """Why files cannot be written into the folder ``path`` (made if missing), or None.

    A folder that exists is tried by creating (and removing) a temporary file in it, since
    permission bits tell nothing for root or on read-only mounts; a missing one by trying its
    nearest existing parent, which must be a folder. Nothing is left behind."""
    import os
    import tempfile

    path = Path(path).absolute()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".write-check-")
    except OSError as exc:
        return f"cannot create files in {probe} ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(tmp)
    return None


def check_folders(folders: Sequence[str | Path], flag: str, value: str | Path, what: str) -> None:
    """Raise a SuiteError (exit 2) unless files can be written into each of ``folders`` (the
    folder given as ``flag value`` and those the command writes under it)."""
    for folder in folders:
        problem = folder_problem(folder)
        if problem:
            raise SuiteError(f"{flag} {value} cannot hold {what}: {problem}. "
                             f"Pass {flag} with a folder you can write to (it is created if missing).")


def store_folders(out: Path) -> list[Path]:
    """The folders a run writes into: the store and its runs/, failures/ and reports/."""
    return [out, out / "runs", out / "failures", out / "reports"]


def check_out(args: argparse.Namespace) -> None:
    """``reproduce``: check, before any work, that it can write where it will (exit 2 otherwise):
    the result store ``--out`` and the scorecard folder ``--to``. ``--list`` writes nothing;
    ``--judge-only`` writes only the scorecard (under ``--out`` unless ``--to`` is given)."""
    if getattr(args, "list", False):
        return
    out, to = store_dir(args), getattr(args, "to", None)
    if not getattr(args, "judge_only", False):
        check_folders(store_folders(out), "--out", out, "the result store")
    elif not to:
        check_folders([out / "reports" / "reproduction"], "--out", out, "the result store")
    if to:
        check_folders([Path(to)], "--to", to, "the scorecard")


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


SETTINGS_KEYS = ("methods", "dataset", "seeds", "profile", "device", "out", "jobs", "set", "method_config",
                 "executor")


def _as_set_text(value) -> str:
    """A YAML value written back as the text of a --set value list (``[0.5, 2]`` -> ``0.5,2``)."""
    def one(v):
        if isinstance(v, bool) or v is None:
            return {True: "true", False: "false", None: "null"}[v]
        return "[" + ",".join(map(one, v)) + "]" if isinstance(v, (list, tuple)) else str(v)
    return ",".join(map(one, value)) if isinstance(value, list) else one(value)


def check_settings(data, path: Path) -> dict:
    """The settings of a file (configs/suite.yaml or ``--config FILE``) with their types checked:
    a ConfigError that names the file, the key and the value otherwise."""
    from .config import parse_seeds

    where = f"config file {path}"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of settings (keys such as methods, dataset, seeds, "
                          f"profile, set), got a {type(data).__name__}: {data!r}")
    unknown = set(data) - set(SETTINGS_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)}; allowed: {sorted(SETTINGS_KEYS)}")

    def bad(key, expected):
        raise ConfigError(f"{where}: {key} must be {expected}, got {data[key]!r}")

    for key in ("methods", "dataset"):
        v = data.get(key, "")
        if not (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))):
            bad(key, "a name, a comma-separated list or a list of names")
    for key, expected in (("profile", "a name (text)"), ("device", "a name (text)"),
                          ("out", "a folder name (text)")):
        if key in data and not isinstance(data[key], str):
            bad(key, expected)
    jobs = data.get("jobs", 1)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        bad("jobs", "an integer >= 1")
    if "seeds" in data:
        try:
            if min(parse_seeds(data["seeds"]), default=0) < 0:
                raise ConfigError("negative seed")
        except ConfigError:
            bad("seeds", "an integer >= 0, a list of them or a range such as 0-4")
    sets = data.get("set")
    if isinstance(sets, str):
        data["set"] = [sets]
    elif isinstance(sets, dict):
        fixed = ", ".join(f'"{k}={_as_set_text(v)}"' for k, v in sets.items())
        raise ConfigError(f"{where}: set must be a list of 'METHOD.KEY=V1,V2' strings, got a mapping: "
                          f"{sets!r}. Write it as: set: [{fixed}]")
    elif sets is not None and not (isinstance(sets, list) and all(isinstance(x, str) for x in sets)):
        bad("set", "a list of 'METHOD.KEY=V1,V2' strings, e.g. [\"lca.lam=0.1,0.3\"]")
    method_config = data.get("method_config")
    if method_config is not None:
        if not isinstance(method_config, dict):
            bad("method_config", "a mapping METHOD -> SELECTOR -> settings")
        for method, entries in method_config.items():
            if entries is not None and not isinstance(entries, dict):
                raise ConfigError(f"{where}: method_config: {method} must be a mapping SELECTOR -> settings, "
                                  f"got {entries!r}")
    return data


def _settings(args: argparse.Namespace) -> dict:
    """configs/suite.yaml, then --config FILE, then flags."""
    from .config import config_dir, load_yaml, parse_seeds

    defaults = config_dir() / "suite.yaml"
    settings = check_settings(load_yaml(defaults), defaults)
    settings.setdefault("set", [])
    settings.setdefault("method_config", {})
    if getattr(args, "config", None):
        settings.update(check_settings(load_yaml(args.config), Path(args.config)))
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
    from .data.sources import resolve_data_dir
    from .hparams import describe
    from .registry import DATASETS, METHODS, unavailable

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
    broken = unavailable()
    if broken:
        print("\nUnavailable plugins (failed to import; everything else works)\n" + tabulate(
            [[f.name, f.kind, f.origin, f.error] for f in broken],
            headers=["name", "kind", "where", "error"], tablefmt="simple", maxcolwidths=[None, None, 50, 70]))
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
    from .data.sources import resolve_data_dir
    from .data.loading import unavailable_datasets

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
    target = Path(args.to) if args.to else out / "reports"
    problem = folder_problem(target) or folder_problem(target.absolute().parent)
    if problem:
        fix = ("Pass --to with a folder you can write to." if args.to else
               f"The store is only read: write the reports elsewhere with "
               f"`python run_suite.py report --out {out} --to DIR`.")
        raise SuiteError(f"cannot write the reports into {target}: {problem}. {fix}")
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
    from .analyses.amortization_gap import applies_to, gap_settings, run_gap
    from .data.loading import load_dataset
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
    from .data.prepare import add_prepare_arguments

    add_prepare_arguments(p)
    add_plugins_argument(p)


@command("prepare", "get or build a real dataset into the data folder (--from DIR or --download)",
         _add_prepare_arguments)
def cmd_prepare(args) -> int:
    from .data.prepare import run_prepare
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
