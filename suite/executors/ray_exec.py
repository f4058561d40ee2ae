"""The Ray executor: one Ray task per run, with the run's CPUs, GPUs and memory as its resources.

A coordinator actor (no CPU of its own) submits the tasks, at most ``--max-parallel`` at a time,
and keeps their states: ``queued`` until a task reports that it started (with its node and
process id), ``running`` until it returns, then ``ended``. Tasks are not retried by Ray
(``max_retries=0``): when a worker dies mid-run the coordinator writes the run's failure record
(reason and node), and the next invocation reruns it like any failure. The coordinator exits
once every task has ended. With ``--detach`` it is a detached named actor that outlives the
command, and ``run_suite.py status`` asks it by name.

Without ``--ray-address`` the command starts Ray on this machine, listening on the loopback
interface only, and stops it at the end.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
import threading

from ..errors import SuiteError
from .base import ENDED, QUEUED, RUNNING, UNKNOWN, EngineState, EngineUnreachable, \
    RunContext, record_crash, worker_environment
from .engine import EngineExecutor

NAMESPACE = "brainlike_suite"
STATUS_TIMEOUT_S = 60


def _run_task(key: str, spec: dict, run_args: tuple, coordinator) -> dict:
    """A Ray task: tell the coordinator it started, then run the spec."""
    coordinator.started.remote(key, socket.gethostname(), os.getpid())
    from ..runner import run_one  # here: the coordinator, which imports this module too, needs no torch

    return dataclasses.asdict(run_one(spec, *run_args))


class Coordinator:
    """Submits one task per run and tracks its state (made a Ray actor by :class:`RayExecutor`)."""

    def __init__(self, specs: dict, run_args: tuple, task_options: dict, max_parallel: int | None):
        self.specs, self.run_args, self.task_options = specs, run_args, task_options
        self.max_parallel = max_parallel or len(specs)
        self.runs = {key: {"state": QUEUED} for key in specs}
        self.pending, self.in_flight = list(specs), {}
        self.lock = threading.Lock()

    def started(self, key: str, node: str, pid: int) -> None:
        with self.lock:
            if self.runs[key]["state"] == QUEUED:
                self.runs[key] = {"state": RUNNING, "node": node, "pid": pid}

    def status(self) -> dict:
        with self.lock:
            return {k: dict(v) for k, v in self.runs.items()}

    def cancel(self) -> None:
        import ray

        with self.lock:
            self.pending.clear()
            refs = list(self.in_flight)
        for ref in refs:
            ray.cancel(ref, force=True)

    def run(self) -> None:
        """Submit and collect until every task has ended, then exit the actor."""
        import ray

        me = ray.get_runtime_context().current_actor
        task = ray.remote(_run_task).options(**self.task_options)
        while True:
            with self.lock:
                while self.pending and len(self.in_flight) < self.max_parallel:
                    key = self.pending.pop(0)
                    self.in_flight[task.remote(key, self.specs[key], self.run_args, me)] = key
                if not self.in_flight:
                    break
                refs = list(self.in_flight)
            ready, _ = ray.wait(refs, num_returns=1, timeout=1.0)
            for ref in ready:
                try:
                    ray.get(ref)
                    crash = None
                except ray.exceptions.TaskCancelledError:  # cancelled (Ctrl-C): leaves nothing
                    crash = None
                except Exception as exc:  # the worker died or the task could not run: record it
                    crash = exc
                self._ended(ref, crash)
        ray.actor.exit_actor()

    def _ended(self, ref, crash: Exception | None) -> None:
        with self.lock:
            key = self.in_flight.pop(ref)
            node = self.runs[key].get("node")
        if crash is not None:
            first = (str(crash).strip().splitlines() or [""])[0]
            record_crash(self.run_args[0], key, self.specs[key],
                         f"the Ray task died before its run finished: {type(crash).__name__}: {first}",
                         node, str(crash))
        with self.lock:
            self.runs[key] = {"state": ENDED, "node": node}


class RayExecutor(EngineExecutor):
    name = "ray"
    default_poll_seconds = 2.0

    def __init__(self, options):
        super().__init__(options)
        self._owns_connection = False

    def _connect(self, address: str | None):
        """Ray, initialized: the running connection, the cluster at ``address``, or a new local
        instance (loopback only; only when submitting)."""
        if "ray" not in sys.modules and not address:
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # node address 127.0.0.1
        import ray

        if ray.is_initialized():
            return ray
        kwargs = dict(namespace=NAMESPACE, log_to_driver=False, logging_level=logging.ERROR)
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(include_dashboard=False, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EngineUnreachable(f"no Ray cluster at {address or 'this machine'}: {exc}") from None
        self._owns_connection = True
        return ray

    def _task_options(self) -> dict:
        o = self.options
        opts = {"num_cpus": o.cpus_per_run, "num_gpus": o.gpus_per_run, "max_retries": 0}
        if o.mem_mb:
            opts["memory"] = o.mem_mb * 2 ** 20
        return opts

    def submit(self, specs: list, ctx: RunContext, submission) -> None:
        address = self.options.ray_address
        try:
            ray = self._connect(address)
        except EngineUnreachable as exc:
            raise SuiteError(f"--executor ray: {exc}. Start one with `ray start --head`, or leave out "
                             "--ray-address to run Ray on this machine.") from None
        name = f"brainlike-suite-{submission.id}"
        actor = ray.remote(Coordinator).options(
            name=name, namespace=NAMESPACE, lifetime="detached" if self.options.detach else None,
            num_cpus=0, max_concurrency=8, runtime_env={"env_vars": worker_environment()})
        coordinator = actor.remote({s.key(): s.to_dict() for s in specs}, ctx.run_args(),
                                   self._task_options(), self.options.max_parallel)
        coordinator.run.remote()
        submission.engine = {"address": address, "actor": name}

    def describe(self, submission) -> str:
        o = self.options
        where = f"the Ray cluster at {o.ray_address}" if o.ray_address else "Ray on this machine"
        cap = f", at most {o.max_parallel} at a time" if o.max_parallel else ""
        return (f"{len(submission.runs)} runs to {where} (one task each: {o.cpus_per_run} CPU, "
                f"{o.gpus_per_run} GPU{cap})")

    def _coordinator(self, submission):
        """(ray, the submission's coordinator actor or None once it has exited)."""
        address = submission.engine.get("address")
        if not address and not ("ray" in sys.modules and sys.modules["ray"].is_initialized()):
            return None, None  # the Ray its command started stopped with it, and so did its runs
        ray = self._connect(address)
        try:
            return ray, ray.get_actor(submission.engine["actor"], namespace=NAMESPACE)
        except ValueError:
            return ray, None  # the coordinator has exited: every task of it has ended

    def states(self, submission) -> dict[str, EngineState]:
        ray, actor = self._coordinator(submission)
        gone = {k: EngineState(UNKNOWN) for k in submission.runs}
        if actor is None:
            return gone
        try:
            runs = ray.get(actor.status.remote(), timeout=STATUS_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise EngineUnreachable("the coordinator did not answer in time") from None
        except ray.exceptions.RayActorError:
            return gone
        return {k: EngineState(v["state"], v.get("node"), pid=v.get("pid")) for k, v in runs.items()}

    def cancel(self, submission) -> None:
        try:
            ray, actor = self._coordinator(submission)
        except EngineUnreachable:
            return
        if actor is not None:
            try:
                ray.get(actor.cancel.remote(), timeout=STATUS_TIMEOUT_S)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                pass
            ray.kill(actor)

    def close(self) -> None:
        if self._owns_connection:
            import ray

            ray.shutdown()
            self._owns_connection = False
