"""The executor interface: hand run specs to an engine, and ask it how they are doing.

An executor never trains anything itself. Every run, wherever it executes (in this process, in
a local worker process, in a Slurm job, in a Ray task), is :func:`suite.runner.run_one` called
on a plain-dict spec with the arguments of a :class:`RunContext`; it writes the run's record, or
its failure with traceback and node name, into the shared store with atomic renames. A run
killed mid-way leaves no record, so the next invocation reruns exactly that run.

An :class:`EngineExecutor` (Slurm, Ray) implements three methods: ``submit`` (ship the specs,
note in the :class:`~suite.executors.submissions.Submission` how to find them again), ``states``
(what the engine says about each run: :class:`EngineState`) and ``cancel``. Its ``run`` does
the rest, the same for every engine: skip finished runs and runs still queued or running from
an earlier submission, submit, record the submission, and (unless detached) follow the runs with
a progress view until they end (:mod:`suite.executors.follow`).
"""
from __future__ import annotations

import abc
import dataclasses
import os
from pathlib import Path
from typing import ClassVar

from ..store import Store
from .options import ExecutorOptions

QUEUED, RUNNING, ENDED, UNKNOWN = "queued", "running", "ended", "unknown"


class EngineUnreachable(Exception):
    """The engine could not be asked (no ``squeue``, cluster down, library missing...)."""


@dataclasses.dataclass
class EngineState:
    """What an engine says about one run.

    ``state`` is ``queued``, ``running``, ``ended`` or ``unknown`` (the engine no longer knows
    the run). ``crash`` is set when the run ended without :func:`run_one` returning (killed,
    out of time or memory, node lost) and the store does not say so yet; ``log`` is then the tail
    of the worker's log. ``pid`` is the worker's process id where the engine tells it."""

    state: str
    node: str | None = None
    crash: str | None = None
    log: str | None = None
    pid: int | None = None


@dataclasses.dataclass(frozen=True)
class RunContext:
    """The arguments of :func:`run_one` besides the spec, as absolute paths resolved on the head,
    so that every worker reads and writes the same shared folders."""

    out: str
    device: str = "auto"
    data_dir: str | None = None
    cache_dir: str | None = None
    plugin_dirs: tuple = ()

    @classmethod
    def make(cls, out, device="auto", data_dir=None, cache_dir=None, plugin_dirs=()) -> "RunContext":
        from ..data.sources import resolve_cache_dir, resolve_data_dir

        def absolute(p) -> str:
            return str(Path(p).expanduser().resolve())
        return cls(absolute(out), device or "auto", absolute(resolve_data_dir(data_dir)),
                   absolute(resolve_cache_dir(cache_dir)), tuple(absolute(d) for d in plugin_dirs))

    def run_args(self) -> tuple:
        """``run_one(spec, *run_args)``: no progress bars on workers."""
        return (self.out, self.device, self.data_dir, self.cache_dir, False, list(self.plugin_dirs))


def worker_environment() -> dict[str, str]:
    """Environment variables a worker needs to find the same folders and plugins: every
    ``BRAINLIKE_*`` variable. Workers import the suite as installed in their Python (the same
    environment on a cluster's shared file system), never through ``PYTHONPATH``."""
    return {k: v for k, v in os.environ.items() if k.startswith("BRAINLIKE_")}


def record_crash(out: str | Path, key: str, spec: dict | None, reason: str, node: str | None,
                 log: str | None) -> None:
    """Write the failure record of a run whose worker died before :func:`run_one` returned."""
    from ..provenance import now

    Store(out).write_failure({
        "key": key, "status": "failed", "spec": spec or {}, "error": reason, "error_type": "WorkerDied",
        "traceback": log or "(no log)", "node": node, "finished": now(),
    })


class Executor(abc.ABC):
    """Runs a list of specs somewhere; every run is :func:`suite.runner.run_one`."""

    name: ClassVar[str]

    def __init__(self, options: ExecutorOptions):
        self.options = options

    @abc.abstractmethod
    def run(self, specs: list, ctx: RunContext, show_progress: bool = True):
        """Run every spec not yet in the store; the outcomes, or None once detached."""

    def close(self) -> None:
        """Release what this executor started or connected to."""
