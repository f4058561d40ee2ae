"""The executors by name: ``local``, ``slurm``, ``ray`` -> their class, imported only when asked
for (``slurm`` and ``ray`` need optional extras), and the executor of an earlier submission."""
from __future__ import annotations

import importlib

from .options import ExecutorOptions, require_extra

EXECUTOR_CLASSES = {"local": "suite.executors.local:LocalExecutor",
                    "slurm": "suite.executors.slurm:SlurmExecutor",
                    "ray": "suite.executors.ray_exec:RayExecutor"}


def executor_class(name: str) -> type:
    """The executor class named ``name`` (a SuiteError naming the extra when it is missing)."""
    require_extra(name)
    module, cls = EXECUTOR_CLASSES.get(name, EXECUTOR_CLASSES["local"]).split(":")
    return getattr(importlib.import_module(module), cls)


def get_executor(options: ExecutorOptions):
    """The executor named ``options.name``."""
    return executor_class(options.name)(options)


def executor_for_submission(submission):
    """An executor able to ask the engine of an earlier ``submission`` about its runs."""
    return get_executor(ExecutorOptions(name=submission.executor,
                                        ray_address=submission.engine.get("address")))
