"""``run_suite.py prepare``: get or build a real dataset into the data folder."""
from __future__ import annotations

from .common import add_plugins_argument

NAME = "prepare"
HELP = "get or build a real dataset into the data folder (--from DIR or --download)"


def add_arguments(p):
    from ..data.prepare import add_prepare_arguments

    add_prepare_arguments(p)
    add_plugins_argument(p)


def run(args) -> int:
    from ..data.prepare import run_prepare
    from ..registry import discover

    discover(args.plugins)
    return run_prepare(args)
