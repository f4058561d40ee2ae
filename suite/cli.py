"""The command line of the suite (``python run_suite.py ...``), one module per command in
:mod:`suite.commands`.

Commands::

    run_suite.py [run] --methods lca,ista --dataset nat16 [--seeds 0-2] [--profile quick]
                 [--set lca.lam=0.1,0.2] [--jobs N] [--device auto] [--out results] [--dry-run]
    run_suite.py --list | list        methods and datasets, and whether each dataset is here
    run_suite.py report [--out results]   rebuild every table and figure from the store
    run_suite.py check --plugins DIR      run the conformance battery on a plugin folder
    run_suite.py gap | prepare | reproduce | sample | status   (see each command's --help)

Every user error (unknown name, malformed override, missing data) prints one clear message and
exits with status 2 before anything is written; failed runs make the exit status 1.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType
from typing import Sequence

from .errors import SuiteError

COMMANDS = ("run", "list", "report", "check", "gap", "prepare", "reproduce", "sample", "status")
"""The subcommands; each is the module ``suite.commands.<name>`` (``list``: ``listing``) with
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> exit code``."""
_MODULES = {"list": "listing"}


def command_module(name: str) -> ModuleType:
    """The module implementing the subcommand ``name``."""
    return importlib.import_module(f"suite.commands.{_MODULES.get(name, name)}")


def build_parser(name: str) -> argparse.ArgumentParser:
    module = command_module(name)
    prog = "run_suite.py" if name == "run" else f"run_suite.py {name}"
    p = argparse.ArgumentParser(prog=prog, description=module.HELP,
                                epilog="Commands: " + ", ".join(sorted(COMMANDS)) if name == "run" else None)
    module.add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv[0] if argv and argv[0] in COMMANDS else "run"
    if argv and argv[0] == name:
        argv = argv[1:]
    parser = build_parser(name)
    try:
        args = parser.parse_args(argv)
        return command_module(name).run(args)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are saved; run the same command again to finish the rest.",
              file=sys.stderr)
        return 130
