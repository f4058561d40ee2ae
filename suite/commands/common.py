"""What several commands share: the result-store and data-folder arguments, and the checks
that a folder can be written before any work starts."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from ..errors import SuiteError


def add_out_argument(p: argparse.ArgumentParser) -> None:
    """``--out DIR``: the result store (default from configs/suite.yaml, see :func:`store_dir`)."""
    p.add_argument("--out", default=None, help="result store folder (default: results)")


def store_dir(args: argparse.Namespace) -> Path:
    """``--out``, else the ``out`` of configs/suite.yaml."""
    from ..config import config_dir, load_yaml

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


def add_common(p: argparse.ArgumentParser) -> None:
    add_out_argument(p)
    add_data_arguments(p)
