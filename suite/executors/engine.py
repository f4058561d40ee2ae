"""The base of executors that hand runs to a distributed engine (Slurm, Ray): submit, ask the
engine for states, cancel; :func:`suite.executors.follow.submit_and_follow` does the rest
(cached runs, earlier submissions still in flight, the live view, crash records)."""
from __future__ import annotations

import abc
from typing import ClassVar

from .base import EngineState, Executor, RunContext
from .follow import submit_and_follow


class EngineExecutor(Executor):
    """An executor that hands runs to a distributed engine; see the module docstring."""

    default_poll_seconds: ClassVar[float] = 5.0

    @property
    def poll_seconds(self) -> float:
        return float(self.options.poll_seconds or self.default_poll_seconds)

    def run(self, specs: list, ctx: RunContext, show_progress: bool = True):
        return submit_and_follow(self, specs, ctx, show_progress)

    @abc.abstractmethod
    def submit(self, specs: list, ctx: RunContext, submission) -> None:
        """Hand ``specs`` to the engine; record in ``submission.engine`` how to find them."""

    @abc.abstractmethod
    def states(self, submission) -> dict[str, EngineState]:
        """The engine's view of each run of ``submission`` (raises :class:`EngineUnreachable`)."""

    @abc.abstractmethod
    def cancel(self, submission) -> None:
        """Stop the runs of ``submission`` that are queued or running."""

    def describe(self, submission) -> str:
        """Where the runs went (job ids, cluster address), for the message after submitting."""
        return f"{len(submission.runs)} runs to {self.name}"
