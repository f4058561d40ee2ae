"""Where the runs of a grid execute: ``local`` processes, ``slurm`` (through submitit) or ``ray``.

Every executor only ships plain-dict run specs and collects their status; the run itself is
:func:`suite.runner.run_one` everywhere, writing into the same result store (see
:mod:`suite.executors.base`). ``slurm`` and ``ray`` need optional extras
(``pip install -c constraints.txt -e '.[slurm]'`` or ``'.[ray]'``). This module imports nothing
heavy: the command line imports it to add its flags.
"""
from __future__ import annotations

from .kinds import executor_for_submission, get_executor
from .options import ExecutorOptions, add_executor_arguments, executor_options

__all__ = ["ExecutorOptions", "add_executor_arguments", "execute", "executor_for_submission",
           "executor_options", "get_executor"]


def execute(specs: list, out, settings: dict, args):
    """Run ``specs`` with the executor chosen by ``settings`` (``executor:``) and the flags in
    ``args``; the outcomes, or None when ``--detach`` returned right after submitting."""
    from .base import RunContext

    options = executor_options(settings, args)
    ctx = RunContext.make(out, settings.get("device"), getattr(args, "data_dir", None),
                          getattr(args, "cache_dir", None), getattr(args, "plugins", ()) or ())
    executor = get_executor(options)
    try:
        return executor.run(specs, ctx, show_progress=not getattr(args, "no_progress", False))
    finally:
        executor.close()
