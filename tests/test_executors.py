"""Executors without any engine: flags and config, errors, missing extras, and the status view
(done, running, queued, failed, missing) driven by a scripted fake engine."""
from __future__ import annotations

import argparse
import json
import sys

import pytest

import reports
import suite.executors as executors
from suite.cli import main
from suite.config import build_grid
from suite.executors.engine import EngineExecutor
from suite.executors.base import ENDED, QUEUED, RUNNING, UNKNOWN, EngineState, EngineUnreachable, \
    RunContext
from suite.executors.follow import build_view, follow, outcomes
from suite.executors.options import add_executor_arguments, executor_options, parse_memory_mb
from suite.executors.ray_exec import RayExecutor
from suite.executors.slurm import SlurmExecutor
from suite.executors.submissions import Submission, load_submissions, missing_lines
from suite.registry import discover
from suite.store import Store

from executor_helpers import PLUGINS

GRID = ["--plugins", PLUGINS, "--no-progress", "--methods", "toy", "--dataset", "toy", "--profile", "smoke"]


def test_flags_override_the_config_section_and_map_to_engine_resources():
    p = argparse.ArgumentParser()
    add_executor_arguments(p)
    args = p.parse_args(["--slurm-partition", "gpu", "--gpus-per-run", "1", "--mem-per-run", "16G",
                         "--cpus-per-run", "4"])
    settings = {"jobs": 1, "executor": {"name": "slurm", "slurm_partition": "cpu", "max_parallel": 20,
                                        "slurm_setup": ["module load cuda"], "slurm_extra": {"account": "lab"}}}
    opts = executor_options(settings, args)
    assert (opts.name, opts.slurm_partition, opts.max_parallel, opts.gpus_per_run, opts.mem_mb) == \
        ("slurm", "gpu", 20, 1, 16384)
    params = SlurmExecutor(opts)._parameters()
    assert {k: params[k] for k in ("slurm_partition", "timeout_min", "cpus_per_task", "gpus_per_node", "mem_gb",
                                   "slurm_array_parallelism", "slurm_additional_parameters")} == \
        {"slurm_partition": "gpu", "timeout_min": 720, "cpus_per_task": 4, "gpus_per_node": 1, "mem_gb": 16.0,
         "slurm_array_parallelism": 20, "slurm_additional_parameters": {"account": "lab"}}
    setup = params["slurm_setup"]
    assert setup[0] == "module load cuda" and "export OMP_NUM_THREADS=4" in setup
    assert not any("PYTHONPATH" in line for line in setup)  # workers use the installed suite
    opts = executor_options({"jobs": 1, "executor": "ray"}, p.parse_args(["--cpus-per-run", "2", "--gpus-per-run",
                                                                          "1", "--mem-per-run", "500M"]))
    assert RayExecutor(opts)._task_options() == {"num_cpus": 2, "num_gpus": 1, "memory": 500 * 2 ** 20,
                                                 "max_retries": 0}


@pytest.mark.parametrize("text,mb", [("16G", 16384), ("500M", 500), ("1.5T", 1572864), ("16GB", 16384),
                                     ("2gib", 2048), ("16", 16384)])
def test_memory_sizes(text, mb):
    assert parse_memory_mb(text) == mb


@pytest.mark.parametrize("argv,config,message", [
    (["--slurm-partition", "gpu"], None, "--slurm-partition applies to --executor slurm, not to --executor local"),
    (["--executor", "slurm", "--jobs", "2"], None, "--jobs applies to --executor local"),
    (["--executor", "ray", "--detach"], None, "needs a running cluster (--ray-address"),
    (["--detach"], None, "--detach needs --executor slurm or ray"),
    (["--executor", "slurm", "--mem-per-run", "lots"], None, "malformed --mem-per-run 'lots'"),
    (["--executor", "slurm", "--max-parallel", "0"], None, "max-parallel must be an integer >= 1"),
    ([], "executor: {name: slurm, partition: gpu}", "unknown keys ['partition']"),
    ([], "executor: pbs", "unknown executor 'pbs'"),
])
def test_executor_errors_exit_2_and_write_nothing(capsys, tmp_path, argv, config, message):
    out = tmp_path / "store"
    extra = []
    if config:
        (tmp_path / "c.yaml").write_text(config + "\n")
        extra = ["--config", str(tmp_path / "c.yaml")]
    assert main([*GRID, *argv, *extra, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("executor,module", [("ray", "ray"), ("slurm", "submitit")])
def test_a_missing_extra_is_named(capsys, tmp_path, monkeypatch, executor, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    out = tmp_path / "store"
    assert main([*GRID, "--executor", executor, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"needs the {module} library" in err and f"pip install -c constraints.txt -e '.[{executor}]'" in err
    assert not out.exists()


class ScriptedEngine(EngineExecutor):
    """Answers ``states`` from a script, one entry per call (the last one repeats); an entry may
    write records first (the runs finishing), or raise (the engine out of reach)."""

    name = "fake"

    def __init__(self, script):
        super().__init__(executors.ExecutorOptions(name="slurm", poll_seconds=0.01))
        self.script, self.calls = script, 0

    def states(self, submission):
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return step() if callable(step) else dict(step)

    def submit(self, specs, ctx, submission):
        raise AssertionError("not used")

    def cancel(self, submission):
        raise AssertionError("not used")


@pytest.fixture
def grid_store(tmp_path):
    """Six submitted toy runs: k0 done, k1 failed (in the store), k2..k5 left to the engine."""
    discover([PLUGINS])
    specs = build_grid("toy", "toy", range(6), "smoke").specs
    keys = [s.key() for s in specs]
    out = tmp_path / "store"
    store = Store(out)
    store.write_result({"key": keys[0], "status": "ok", "spec": specs[0].to_dict(), "metrics": {}})
    store.write_failure({"key": keys[1], "status": "failed", "spec": specs[1].to_dict(),
                         "error": "RuntimeError: boom", "node": "n1"})
    sub = Submission.new("fake", specs)
    sub.save(out)
    return out, store, specs, keys, sub


def write_record(store, spec):
    store.write_result({"key": spec.key(), "status": "ok", "spec": spec.to_dict(), "metrics": {}})


def test_follow_shows_each_state_records_dead_workers_and_ends(grid_store, capsys):
    out, store, specs, keys, sub = grid_store
    crash = EngineState(ENDED, "n4", crash="job 7_4 ended (TIMEOUT) before its run finished", log="last words")
    script = [
        {keys[1]: EngineState(ENDED), keys[2]: EngineState(RUNNING, "n2"), keys[3]: EngineState(QUEUED),
         keys[4]: EngineState(RUNNING, "n4"), keys[5]: EngineState(UNKNOWN)},
        lambda: (write_record(store, specs[2]),
                 {keys[1]: EngineState(ENDED), keys[2]: EngineState(ENDED), keys[3]: EngineState(RUNNING, "n3"),
                  keys[4]: crash, keys[5]: EngineState(UNKNOWN)})[1],
        lambda: (write_record(store, specs[3]),
                 {keys[1]: EngineState(ENDED), keys[2]: EngineState(ENDED), keys[3]: EngineState(ENDED),
                  keys[4]: crash, keys[5]: EngineState(UNKNOWN)})[1],
    ]
    engine = ScriptedEngine(script)
    first = build_view(out, [sub], lambda s: engine)
    assert [r.category for r in first.runs] == ["done", "failed", "running", "queued", "running", "missing"]
    assert first.summary() == "done 1 · running 2 · queued 1 · failed 1 · missing 1"

    engine.calls = 0
    view = follow(out, [sub], lambda s: engine, keys, poll_seconds=0.01, show_progress=False)
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["runs: done 1 · running 2 · queued 1 · failed 1 · missing 1",
                       "runs: done 2 · running 1 · queued 0 · failed 2 · missing 1",
                       "runs: done 3 · running 0 · queued 0 · failed 2 · missing 1"]
    assert view.finished and engine.calls == 3
    failure = json.loads((out / "failures" / f"{keys[4]}.json").read_text())
    assert (failure["error_type"], failure["node"], failure["traceback"]) == ("WorkerDied", "n4", "last words")
    assert failure["spec"]["seed"] == specs[4].seed and "TIMEOUT" in failure["error"]
    result = {o.key: (o.status, o.error) for o in outcomes(view)}
    assert result[keys[2]] == ("done", None) and result[keys[1]] == ("failed", "RuntimeError: boom on n1")
    assert result[keys[4]][1].startswith("job 7_4 ended (TIMEOUT)") and result[keys[5]][0] == "failed"


def test_runs_queued_or_running_elsewhere_are_not_submitted_again(grid_store, capsys):
    out, store, specs, keys, sub = grid_store
    running = {k: EngineState(RUNNING, "n") for k in keys[1:]}

    def finish():
        for spec in specs[1:]:
            write_record(store, spec)
        return {k: EngineState(ENDED) for k in keys[1:]}
    engine = ScriptedEngine([running, running, finish])  # its submit() would raise
    result = engine.run(specs, RunContext.make(out, "cpu"), show_progress=False)
    assert "5 runs are still queued or running from earlier submissions" in capsys.readouterr().out
    assert {o.key: o.status for o in result} == {k: "cached" if k == keys[0] else "done" for k in keys}
    assert len(load_submissions(out)) == 1 and engine.calls == 3


def test_status_command_counts_and_says_when_the_engine_is_out_of_reach(grid_store, capsys, monkeypatch):
    out, store, specs, keys, sub = grid_store
    engine = ScriptedEngine([{keys[2]: EngineState(RUNNING, "n2"), keys[3]: EngineState(QUEUED)}])
    monkeypatch.setattr(executors, "executor_for_submission", lambda s: engine)
    assert main(["status", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"submission {sub.id}: fake, 6 runs" in text
    assert "4/6  done 1 · running 1 · queued 1 · failed 1 · missing 2" in text  # 4 ended
    assert f"failed {sub.label(keys[1])} [{keys[1]}] on n1: RuntimeError: boom (traceback: " in text

    def unreachable():
        raise EngineUnreachable("squeue: slurm_load_jobs error: Unable to contact slurm controller")
    engine.script, engine.calls = [unreachable], 0
    assert main(["status", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "done 1 · running 0 · queued 0 · failed 1 · unknown 4" in text
    assert "fake engine of submission" in text and "cannot be reached: squeue: slurm_load_jobs error" in text

    for spec in specs:
        write_record(store, spec)
    assert main(["status", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "1 submission complete (every run done)."


def test_submissions_round_trip_and_the_missing_line(grid_store, tmp_path, capsys):
    out, store, specs, keys, sub = grid_store
    (loaded,) = load_submissions(out)
    assert loaded == sub and loaded.label(keys[3]) == f"toy/toy/seed{specs[3].seed}"
    line = (f"5 of the 6 runs submitted to a cluster are still missing (queued, running, failed or lost); "
            f"`python run_suite.py status --out {out}` shows which.")
    assert missing_lines(out) == [line]
    assert reports.summary_lines(out)[-1] == line  # what `run_suite.py report` prints
    for spec in specs:
        write_record(store, spec)
    assert missing_lines(out) == ["All 6 runs submitted to a cluster have finished."]
    assert missing_lines(tmp_path / "nothing") == []
    assert main(["status", "--out", str(tmp_path / "nothing")]) == 0
    assert "no submissions under" in capsys.readouterr().out
