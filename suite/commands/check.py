"""``python run_suite.py check --plugins DIR``: the conformance battery on a plugin folder.

Discovers the folder's plugins (as ``--plugins`` does for a run), then runs every method check
of :mod:`suite.testing` on each method the folder registered (not the built-ins, nor other
folders') and every dataset check on its datasets, and prints one line per check: ``pass``,
``skip`` (with why) or ``FAIL`` (with the reason). A plugin module of the folder that fails to
import is a failure too. Exit status 0 when every check passes (or is skipped), 1 otherwise
(also when the folder registers nothing to check).
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

NAME = "check"
HELP = "run the conformance battery on the methods and datasets of a plugin folder"


def add_arguments(p) -> None:
    p.add_argument("--plugins", action="append", required=True, metavar="DIR",
                   help="plugin folder to check (holding methods/ and/or datasets/, or plugin "
                        "files directly); repeatable")
    p.add_argument("--device", default="cpu",
                   help="device of the method checks: cpu (default), cuda, cuda:N or auto")
    p.add_argument("--no-datasets", action="store_true", help="check the methods only")
    p.add_argument("--data-dir", default=None,
                   help="data folder of the dataset checks (default: $BRAINLIKE_DATA_DIR, else "
                        "~/Datasets); a dataset not available there has its load checks skipped")
    p.add_argument("--cache-dir", default=None, help="build cache of the dataset checks")


@dataclasses.dataclass
class FolderPlugins:
    """What a plugin folder registered: method classes, dataset sources, and its plugin modules
    that failed to import (:class:`suite.registry.Unavailable`)."""

    folder: Path
    methods: list[Any]
    datasets: list[Any]
    failures: list[Any]


def _packages(folder: Path) -> list[tuple[Path, str]]:
    """The (sub)folders of an extra plugin folder and the kind each is loaded as (the layout
    :func:`suite.registry.discover` reads)."""
    subs = [(folder / kind, kind) for kind in ("methods", "datasets") if (folder / kind).is_dir()]
    return subs or [(folder, "methods")]


def folder_plugins(folder: str | Path) -> FolderPlugins:
    """Discover the plugin folder ``folder`` (and the built-ins) and return what it registered:
    the methods and datasets defined by its modules (recognized by their private package,
    :func:`suite.registry.plugin_package`), and its modules that failed to import."""
    from ..registry import DATASETS, METHODS, discover, plugin_package, unavailable

    folder = Path(folder)
    discover([folder])
    prefixes, paths = [], []
    for sub, kind in _packages(folder):
        prefixes.append(plugin_package(sub, kind) + ".")
        paths.append(str(sub.resolve()))

    def ours(module: str, origin: str = "") -> bool:
        return any(module.startswith(p) or p in origin for p in prefixes)

    methods = [cls for _, cls in METHODS.items() if ours(cls.__module__)]
    datasets = [src for name, src in DATASETS.items()
                if ours(type(src).__module__, DATASETS.origin(name))]
    failures = [f for f in unavailable() if any(f.origin.startswith(p) for p in paths)]
    return FolderPlugins(folder, methods, datasets, failures)


def _line(check: str, status: str, reason: str = "", width: int = 46) -> str:
    shown = {"pass": "pass", "skip": "skip", "fail": "FAIL"}[status]
    text = f"  {check:<{width}} {shown}"
    if reason:
        first, *rest = reason.strip().splitlines()
        text += f"  {first}" + "".join(f"\n  {'':<{width}}       {r}" for r in rest)
    return text


def run(args) -> int:
    from ..devices import resolve_device
    from ..testing import plugin_label, run_checks

    device = resolve_device(args.device)
    counts = {"pass": 0, "skip": 0, "fail": 0}
    checked = 0

    def show(result) -> None:
        counts[result.status] += 1
        print(_line(result.check, result.status, result.reason), flush=True)

    for folder in args.plugins:
        found = folder_plugins(folder)
        print(f"plugin folder {found.folder}: {len(found.methods)} method(s), "
              f"{len(found.datasets)} dataset(s)"
              + (f", {len(found.failures)} module(s) that failed to import" if found.failures
                 else ""), flush=True)
        for failure in found.failures:
            checked += 1
            print(f"module {failure.name} ({failure.origin})", flush=True)
            show(_failed_import(failure))
        for cls in found.methods:
            checked += 1
            print(f"method {plugin_label(cls)} ({_where(cls)})", flush=True)
            run_checks(cls, device=device, on_result=show)
        if args.no_datasets:
            continue
        for source in found.datasets:
            checked += 1
            print(f"dataset {plugin_label(source)} ({_where(type(source))})", flush=True)
            run_checks(source, data_dir=args.data_dir, cache_dir=args.cache_dir, on_result=show)
    if not checked:
        what = "methods" if args.no_datasets else "methods or datasets"
        folders = ", ".join(map(str, args.plugins))
        print(f"nothing to check: the plugin folder(s) {folders} register no {what} (a folder "
              "holds methods/ and/or datasets/, or plugin files directly)", file=sys.stderr)
        return 1
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return 1 if counts["fail"] else 0


def _where(cls: type) -> str:
    """``Class in file.py`` (the plugin's module names carry a hash, its file is what a reader
    recognizes)."""
    path = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return f"{cls.__qualname__} in {path}" if path else f"{cls.__module__}.{cls.__qualname__}"


def _failed_import(failure):
    from ..testing import CheckResult

    return CheckResult(failure.name, "import", "fail", failure.error)
