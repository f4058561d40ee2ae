"""``run_suite.py list`` (or ``--list``): the methods, the datasets and whether each is here, the
plugins that failed to import; ``--method NAME``: one method's hyperparameters."""
from __future__ import annotations

from tabulate import tabulate

from .common import add_data_arguments

NAME = "list"
HELP = "list methods and datasets"


def _fmt_default(v) -> str:
    return "[" + ",".join(map(str, v)) + "]" if isinstance(v, (list, tuple)) else str(v)


def print_list(data_dir: str | None) -> None:
    from ..data.sources import resolve_data_dir
    from ..hparams import describe
    from ..registry import DATASETS, METHODS, unavailable

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
                     src.data_kind,
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
    from ..hparams import describe
    from ..registry import METHODS

    from ..capabilities import capabilities_of

    cls = METHODS.get(name)
    print(f"{cls.name} ({cls.family}): {cls.summary()}")
    print(f"models {'/'.join(sorted(cls.data_kinds))} data; capabilities: "
          f"{', '.join(capabilities_of(cls)) or 'none'} (suite/capabilities.py)\n")
    print(tabulate([[n, _fmt_default(d), h] for n, d, h in describe(cls.hparams)],
                   headers=["hyperparameter", "default", "meaning"], tablefmt="simple"))


def add_arguments(p):
    p.add_argument("--method", default=None, help="show one method's hyperparameters in full")
    add_data_arguments(p)


def run(args) -> int:
    from ..registry import discover

    discover(args.plugins)
    if args.method:
        print_method_help(args.method)
    else:
        print_list(args.data_dir)
    return 0
