"""The Slurm executor, through submitit: one task of a Slurm job array per run.

submitit pickles :func:`suite.runner.run_one` with each plain-dict spec into the job folder
``<out>/executor/slurm/<jobid>_<task>/`` and submits one ``sbatch`` job array whose tasks
unpickle and call it; ``--max-parallel`` caps how many tasks run at once (``%N`` of the array).
The store and the job folders must be on a filesystem that every node sees at the same path.

States come from ``squeue`` (queued, running, and recently ended jobs with their final state);
jobs that ``squeue`` has forgotten are looked up with ``sacct`` through submitit's job objects
where accounting is enabled. A job that ended without submitit's result file died before its
run finished (killed, out of time or memory, node lost): its reason and log tail become the
run's failure record.
"""
from __future__ import annotations

import contextlib
import getpass
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

from ..errors import SuiteError
from ..runner import run_one
from .base import ENDED, QUEUED, RUNNING, EngineState, EngineUnreachable, RunContext, \
    worker_environment
from .engine import EngineExecutor

RUNNING_STATES = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING"}
ENDED_STATES = {"COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED", "NODE_FAIL",
                "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}
LOG_TAIL_LINES = 40


class SlurmExecutor(EngineExecutor):
    """``cluster="local"`` runs the same pickled jobs and job folders through submitit's local
    executor (processes on this machine): the tests use it to exercise the Slurm code path."""

    name = "slurm"
    default_poll_seconds = 15.0

    def __init__(self, options, cluster: str = "slurm"):
        super().__init__(options)
        self.cluster = cluster
        self._jobs: dict = {}  # job id -> submitit job submitted by this process
        self._final: dict = {}  # job id -> EngineState of a job that ended normally (final)

    def _environment(self) -> dict[str, str]:
        return dict(worker_environment(), OMP_NUM_THREADS=str(self.options.cpus_per_run))

    def _parameters(self) -> dict:
        o = self.options
        exports = [f"export {k}={shlex.quote(v)}" for k, v in sorted(self._environment().items())]
        setup = list(o.slurm_setup) + exports
        params = {"name": "brainlike-suite", "timeout_min": o.slurm_time, "cpus_per_task": o.cpus_per_run,
                  "gpus_per_node": o.gpus_per_run or None,
                  "mem_gb": o.mem_mb / 1024 if o.mem_mb else None,
                  "slurm_partition": o.slurm_partition, "slurm_array_parallelism": o.max_parallel,
                  "slurm_additional_parameters": o.slurm_extra or None, "slurm_setup": setup}
        return {k: v for k, v in params.items() if v is not None}

    def submit(self, specs: list, ctx: RunContext, submission) -> None:
        import submitit
        from submitit.core.utils import FailedJobError, FailedSubmissionError

        if self.cluster == "slurm" and shutil.which("sbatch") is None:
            raise SuiteError("--executor slurm: sbatch is not on the PATH here; run the command on a "
                             "login node of the Slurm cluster")
        folder = Path(ctx.out) / "executor" / "slurm" / "%j"
        try:
            ex = submitit.AutoExecutor(folder=folder, cluster=self.cluster)
            ex.update_parameters(**self._parameters())
        except (ValueError, NameError, AssertionError) as exc:
            raise SuiteError(f"invalid Slurm settings: {exc}") from None
        n = len(specs)
        try:
            with _local_environment(self._environment() if self.cluster == "local" else {}):
                jobs = ex.map_array(run_one, [s.to_dict() for s in specs], *([a] * n for a in ctx.run_args()))
        except (FailedJobError, FailedSubmissionError) as exc:
            raise SuiteError(f"Slurm refused the job array: {str(exc).strip()}") from None
        self._jobs.update({j.job_id: j for j in jobs})
        submission.engine = {"cluster": self.cluster, "folder": str(folder),
                             "jobs": {s.key(): j.job_id for s, j in zip(specs, jobs)}}

    def describe(self, submission) -> str:
        ids = sorted({j.split("_")[0] for j in submission.engine["jobs"].values()})
        cap = f", at most {self.options.max_parallel} at a time" if self.options.max_parallel else ""
        where = "Slurm job array" if self.cluster == "slurm" else "submitit's local executor, jobs"
        return f"{len(submission.runs)} runs to {where} {', '.join(ids)}{cap}"

    def states(self, submission) -> dict[str, EngineState]:
        jobs, folder = submission.engine["jobs"], submission.engine["folder"]
        local = submission.engine.get("cluster") == "local"
        pending = [j for j in jobs.values() if j not in self._final]
        live = self._live_local(pending) if local else _squeue()
        forgotten = [j for j in pending if j not in live]
        known = {**(_sacct(forgotten) if not local else {}), **live}
        states = {}
        for key, jid in jobs.items():
            state, node = known.get(jid, (None, None))
            if jid in self._final:
                states[key] = self._final[jid]
            elif state in RUNNING_STATES:
                states[key] = EngineState(RUNNING, node)
            elif state is not None and state not in ENDED_STATES:
                states[key] = EngineState(QUEUED, node)
            else:
                states[key] = _ended(folder, jid, state, node)
                if not states[key].crash:  # a death is looked at again: a slow filesystem may yet show the result
                    self._final[jid] = states[key]
        return states

    def _live_local(self, job_ids) -> dict[str, tuple[str, str]]:
        live = {}
        for jid in job_ids:
            job = self._jobs.get(jid)
            alive = job.get_info()["jobState"] == "RUNNING" if job is not None else _pid_alive(int(jid))
            if alive:
                live[jid] = ("RUNNING", socket.gethostname())
        return live

    def cancel(self, submission) -> None:
        jobs = submission.engine["jobs"].values()
        if submission.engine.get("cluster") == "local":
            for jid in jobs:
                if jid in self._jobs:
                    self._jobs[jid].cancel(check=False)
            return
        from submitit.slurm.slurm import SlurmJob

        for master in sorted({j.split("_")[0] for j in jobs}):  # scancel of an array id stops all its tasks
            SlurmJob(submission.engine["folder"], master).cancel(check=False)


@contextlib.contextmanager
def _local_environment(env: dict[str, str]):
    """Set ``env`` in this process while submitit's local executor starts its job processes
    (which inherit it; ``local_setup`` lines would put a shell between the job id and the job)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _pid_alive(pid: int) -> bool:
    try:  # a job process this process started: reap it if it has exited
        return os.waitpid(pid, os.WNOHANG)[0] == 0
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _squeue() -> dict[str, tuple[str, str | None]]:
    """{job id (``123`` or ``123_4``): (state, node)} for this user's jobs that Slurm still lists."""
    cmd = ["squeue", "--noheader", "--array", "--states=all", f"--user={getpass.getuser()}",
           "--format=%i|%T|%N"]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineUnreachable(f"squeue: {exc}") from None
    if res.returncode != 0:
        raise EngineUnreachable(f"squeue: {res.stderr.strip() or f'exit status {res.returncode}'}")
    out = {}
    for line in res.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3 and parts[1]:
            out[parts[0]] = (parts[1].split()[0], parts[2] or None)
    return out


def _sacct(job_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """Final states of jobs that squeue forgot, from sacct through submitit ({} without accounting)."""
    if not job_ids or shutil.which("sacct") is None:
        return {}
    from submitit.slurm.slurm import SlurmJob

    watcher = SlurmJob.watcher
    for jid in job_ids:
        watcher.register_job(jid)
    log = logging.getLogger("submitit")
    level = log.level
    log.setLevel(logging.ERROR)  # submitit warns on every sacct error (e.g. accounting disabled)
    try:
        watcher.update()
    finally:
        log.setLevel(level)
    out = {}
    for jid in job_ids:
        info = watcher.get_info(jid, mode="cache")
        if info.get("State"):
            node = info.get("NodeList")
            out[jid] = (info["State"].split()[0], None if not node or node.startswith("None") else node)
    return out


def _tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _log_host(paths) -> str | None:
    """The node named in submitit's log line ``Starting with JobEnvironment(..., hostname=...)``."""
    m = re.search(r"hostname=([^,)\s]+)", _tail(paths.stdout, 10_000))
    return m.group(1) if m else None


def _ended(folder: str, job_id: str, state: str | None, node: str | None) -> EngineState:
    """A job no longer queued or running: normal end, or the reason it died without a result."""
    from submitit.core.utils import JobPaths, pickle_load

    paths = JobPaths(folder, job_id=job_id, task_id=0)
    try:  # refresh a network filesystem's attribute cache before looking for the result
        paths.folder.chmod(paths.folder.stat().st_mode)
    except OSError:
        pass
    if paths.result_pickle.exists():
        try:
            outcome, value = pickle_load(paths.result_pickle)
        except Exception as exc:  # a truncated or foreign file: say so rather than crash the view
            outcome, value = "error", f"unreadable result file {paths.result_pickle}: {exc}"
        if outcome == "success":
            return EngineState(ENDED, node)
        last = str(value).strip().splitlines()[-1:] or ["(no traceback)"]
        return EngineState(ENDED, node or _log_host(paths), crash=f"job {job_id} failed before its run "
                           f"could start or finish: {last[0]}", log=str(value))
    if state is None and not paths.stdout.exists():
        return EngineState(ENDED, node, crash=f"job {job_id} is no longer known to Slurm and left no log "
                           f"in {paths.folder}", log="")
    log = "\n".join(t for t in (_tail(paths.stderr), _tail(paths.stdout)) if t)
    return EngineState(ENDED, node or _log_host(paths), log=log,
                       crash=f"job {job_id} ended ({state or 'final state unknown'}) before its run "
                             "finished: killed, out of time or memory, or its node was lost")
