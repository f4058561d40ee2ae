"""``run_suite.py reproduce``: run the experiments behind the papers' claims and write a
scorecard (the engine is :mod:`suite.reproduce`)."""
from __future__ import annotations

NAME = "reproduce"
HELP = "run the experiments behind the papers' claims and write a scorecard"


def add_arguments(p):
    from ..reproduce.command import add_arguments

    add_arguments(p)


def run(args) -> int:
    from ..reproduce.command import cmd_reproduce as run

    return run(args)
