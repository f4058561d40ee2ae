"""Hardening (issue 14): diverged training fails with a clear message, Ctrl-C and kill -9 with
``--jobs N`` leave no worker behind, and plugin folders never shadow each other's modules."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from suite import registry
from suite.config import build_grid
from brainlike_suite.methods.distributions import poisson_n_exp
from suite.errors import DuplicateRegistrationError, NonFiniteLossError
from suite.method import Budget
from suite.registry import METHODS, create_method, discover
from suite.runner import execute_local, run_one
from threads import one_thread  # noqa: F401  (autouse fixture)

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "tests" / "plugins"
discover([PLUGINS])


def tiny(n: int = 256, d: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


# -- 1. iP-VAE: a diverged state is a non-finite error, never a sampler error --------------------
NON_FINITE = r"ipvae: .* became .* at (training )?step \d+.*--set ipvae\.lr="


def ipvae(**hp):
    return create_method("ipvae", (1, 4, 4), 8, seed=0, **{**METHODS.get("ipvae").smoke_hparams,
                                                           **hp})


def test_ipvae_huge_learning_rate_is_a_non_finite_error():
    with pytest.raises(NonFiniteLossError, match=NON_FINITE):
        ipvae(lr=1e3).fit(tiny(), Budget(epochs=1))


def test_ipvae_divergence_in_the_last_step_fails_the_fit():
    """The optimizer step after the last checked loss sends the initial log-rates far past
    any rate the sampler can draw: fit fails instead of leaving the failure to evaluation."""
    with pytest.raises(NonFiniteLossError, match=NON_FINITE):
        ipvae(lr=1e3).fit(tiny(), Budget(max_steps=1))


def test_ipvae_huge_finite_rate_fails_fast_with_the_non_finite_message():
    m = ipvae()
    with torch.no_grad():
        m.params["u_init"].fill_(30.0)  # rate e^30 ~ 1e13: the quantile rule cannot size it
    t0 = time.monotonic()
    with pytest.raises(NonFiniteLossError, match=NON_FINITE):
        m.fit(tiny(), Budget(max_steps=2))
    assert time.monotonic() - t0 < 10


def test_poisson_n_exp_refuses_rates_it_cannot_size():
    for bad in (float("nan"), float("inf"), 1e12):
        with pytest.raises(ValueError, match="poisson_n_exp"):
            poisson_n_exp(bad)
    assert poisson_n_exp(200) == 263  # unchanged for real rates


def test_ipvae_huge_learning_rate_run_is_recorded_as_non_finite(tmp_path):
    (spec,) = build_grid("ipvae", "toy", [0], "smoke", ["ipvae.lr=1000.0"]).specs
    outcome = run_one(spec.to_dict(), tmp_path, "cpu", show_progress=False,
                      plugin_dirs=[str(PLUGINS)])
    assert outcome.status == "failed"
    assert "poisson_n_exp" not in outcome.error
    assert re.search(NON_FINITE, outcome.error), outcome.error


# -- 2. sparse coding: a diverged dictionary fails the run ---------------------------------
@pytest.mark.parametrize("name", ["lca", "ista", "fista"])
@pytest.mark.parametrize("lr,steps", [(1e30, 4), (1e40, 1)])
def test_diverged_dictionary_fails_the_run(name, lr, steps):
    """lr 1e30: ‖Φ + η aᵀr/B‖ overflows, the renormalized atoms become zero and every later
    code is zero; 1e40: the atoms become NaN in the last step. Both stop the run."""
    m = create_method(name, (1, 4, 4), 8, seed=0, lam=0.1, lr=lr, batch_size=32)
    with pytest.raises(NonFiniteLossError, match=rf"{name}: the dictionary diverged at step "
                                                 rf"\d+.*--set {name}\.lr="):
        m.fit(tiny(), Budget(max_steps=steps))


@pytest.mark.parametrize("name", ["lca", "ista", "fista"])
def test_healthy_dictionary_learning_passes_the_divergence_check(name):
    m = create_method(name, (1, 4, 4), 8, seed=0, lam=0.1, lr=5.0, batch_size=32,
                      resample_dead=True)
    m.fit(tiny(), Budget(epochs=2))
    assert torch.allclose(m.atoms.norm(dim=1), torch.ones(8), atol=1e-5)


def test_diverged_run_is_recorded_as_failed(tmp_path):
    (spec,) = build_grid("lca", "toy", [0], "smoke", ["lca.lr=1.0e+30"]).specs
    outcome = run_one(spec.to_dict(), tmp_path, "cpu", show_progress=False,
                      plugin_dirs=[str(PLUGINS)])
    assert outcome.status == "failed" and "dictionary diverged" in outcome.error, outcome
    assert not list((tmp_path / "runs").glob("*.json"))


# -- 3. Ctrl-C and kill -9 with --jobs N ----------------------------------------------------
SLEEPER = '''
"""A method whose fit marks its start (seed and pid) and sleeps (tests of interrupts)."""
import os
import time
from pathlib import Path

from suite.method import Inference, Method
from suite.registry import register


@register
class Sleeper(Method):
    """Sleeps in fit."""

    name = "sleeper"
    family = "other"
    hparams = {"seconds": 60.0}

    def fit(self, train, budget, progress, val=None):
        Path(os.environ["SLEEPER_MARKS"], f"{self.seed}.{os.getpid()}").write_text("")
        end = time.monotonic() + self.hp["seconds"]
        while time.monotonic() < end:
            time.sleep(0.05)
        return self

    def infer(self, x):
        return Inference(codes=x[:, :self.n_latents] * 0, recon=x * 0)
'''


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def _wait_until(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.fixture
def sleeper_grid(tmp_path):
    """Start a grid of 6 sleeping runs with --jobs 2 in a new session; yield (proc, marks, out)
    once both workers are inside a run; kill whatever remains of the group afterwards."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    (tmp_path / "plug" / "methods").mkdir(parents=True)
    (tmp_path / "plug" / "methods" / "sleeper.py").write_text(SLEEPER)
    marks, out = tmp_path / "marks", tmp_path / "out"
    marks.mkdir()
    env = dict(os.environ, SLEEPER_MARKS=str(marks))
    cmd = [sys.executable, str(REPO / "run_suite.py"), "--plugins", str(PLUGINS), "--plugins",
           str(tmp_path / "plug"), "--no-progress", "--methods", "sleeper", "--dataset", "toy",
           "--profile", "smoke", "--seeds", "0-5", "--jobs", "2", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        started = _wait_until(lambda: len(list(marks.iterdir())) >= 2 or proc.poll() is not None,
                              timeout=120)
        if proc.poll() is not None or not started:
            proc.kill()
            pytest.fail(f"the grid did not start two runs: {proc.communicate()[0]}")
        yield proc, marks, out
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.mark.parametrize("target", ["group", "main"])
def test_ctrl_c_with_jobs_stops_at_once_and_exits_130(sleeper_grid, target):
    """Ctrl-C at a terminal signals the whole group; `kill -INT` only the main process. Either
    way: exit 130 within a few seconds, no queued run starts, no worker is left running and
    nothing is recorded for the interrupted runs."""
    proc, marks, out = sleeper_grid
    t0 = time.monotonic()
    if target == "group":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)
    try:
        output, _ = proc.communicate(timeout=8)
    except subprocess.TimeoutExpired:
        pytest.fail("still running 8 s after Ctrl-C")
    elapsed = time.monotonic() - t0
    assert proc.returncode == 130, output
    assert elapsed < 5, f"exit took {elapsed:.1f} s"
    assert "interrupted" in output
    assert _wait_until(lambda: not _group_members(proc.pid), timeout=5), \
        f"workers still alive: {_group_members(proc.pid)}"
    time.sleep(0.5)
    assert len(list(marks.iterdir())) == 2, "queued runs started after Ctrl-C"
    assert not list(out.glob("runs/*.json")) and not list(out.glob("failures/*.json"))


def test_a_grid_with_jobs_still_runs_every_run(tmp_path):
    """Runs are handed to the workers one at a time: every run still ends, failures included."""
    specs = build_grid("toy", "toy", [0, 1, 2], "smoke", ["toy.fail=never,fit"]).specs
    outcomes = execute_local(specs, tmp_path, jobs=2, device="cpu", show_progress=False,
                             plugin_dirs=[str(PLUGINS)])
    assert sorted(o.status for o in outcomes) == ["done"] * 3 + ["failed"] * 3
    assert len(list(tmp_path.glob("runs/*.json"))) == 3
    assert len(list(tmp_path.glob("failures/*.json"))) == 3


def test_workers_exit_when_the_main_process_is_killed(sleeper_grid):
    proc, marks, out = sleeper_grid
    workers = [int(p.name.split(".")[1]) for p in marks.iterdir()]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)
    assert _wait_until(lambda: not _group_members(proc.pid), timeout=5), \
        f"orphaned processes still alive: {_group_members(proc.pid)} (workers {workers})"
    assert len(list(marks.iterdir())) == 2
    assert not list(out.glob("runs/*.json")) and not list(out.glob("failures/*.json"))


# -- 4. plugin folders never shadow each other -----------------------------------------------
@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations and loaded folders of the test are forgotten afterwards."""
    before = set(sys.modules)
    with registry.isolated():
        yield
    for name in set(sys.modules) - before:
        if name.startswith(registry.EXTRA_PACKAGE_PREFIX):
            del sys.modules[name]


def plugin_file(folder: Path, module: str, method: str) -> None:
    (folder / "methods").mkdir(parents=True, exist_ok=True)
    (folder / "methods" / f"{module}.py").write_text(textwrap.dedent(f'''
        from suite.method import Inference, Method
        from suite.registry import register


        @register
        class M(Method):
            """A plugin method named {method}."""
            name = "{method}"
            family = "other"

            def fit(self, train, budget, progress, val=None):
                return self

            def infer(self, x):
                return Inference(codes=x[:, :self.n_latents], recon=x)
        '''))


def test_plugin_named_like_a_builtin_module_loads(tmp_path, scratch_registry):
    import brainlike_suite.methods.sparse_coding as builtin

    plugin_file(tmp_path, "sparse_coding", "my_coder")
    discover([tmp_path])
    assert "my_coder" in METHODS.names() and "lca" in METHODS.names()
    assert sys.modules["brainlike_suite.methods.sparse_coding"] is builtin  # built-in names stay
    assert METHODS.get("lca").__module__ == "brainlike_suite.methods.sparse_coding.methods"
    assert METHODS.get("my_coder").__module__ != "brainlike_suite.methods.sparse_coding"


def test_two_plugin_folders_with_the_same_file_name_both_load(tmp_path, scratch_registry):
    plugin_file(tmp_path / "a", "model", "model_a")
    plugin_file(tmp_path / "b", "model", "model_b")
    discover([tmp_path / "a", tmp_path / "b"])
    assert {"model_a", "model_b"} <= set(METHODS.names())
    mod_a, mod_b = METHODS.get("model_a").__module__, METHODS.get("model_b").__module__
    assert mod_a != mod_b and mod_a.startswith(registry.EXTRA_PACKAGE_PREFIX) and mod_b.endswith(".model")
    discover([tmp_path / "a"])  # loading a folder again changes nothing
    discover([str(tmp_path / "a" / ".." / "a")])


def test_plugin_folder_module_names_are_the_same_in_every_process(tmp_path, scratch_registry):
    """Workers import the same folder under the same name (a hash of its absolute path)."""
    plugin_file(tmp_path / "a", "model", "model_a")
    discover([tmp_path / "a"])
    here = METHODS.get("model_a").__module__
    code = ("from suite.registry import METHODS, discover; import sys; "
            f"discover([sys.argv[1]]); print(METHODS.get('model_a').__module__)")
    there = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a")], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert there.stdout.strip() == here, there.stderr


def test_same_method_name_in_two_folders_is_still_a_duplicate(tmp_path, scratch_registry):
    plugin_file(tmp_path / "a", "one", "twin")
    plugin_file(tmp_path / "b", "two", "twin")
    with pytest.raises(DuplicateRegistrationError, match=r"'twin' is registered twice.*"
                                                         r"Rename one of them") as err:
        discover([tmp_path / "a", tmp_path / "b"])
    for folder, module in (("a", "one"), ("b", "two")):  # the message names both files
        assert str((tmp_path / folder / "methods" / f"{module}.py").resolve()) in str(err.value)


def test_same_method_name_in_same_file_name_of_two_folders_is_a_duplicate(tmp_path,
                                                                          scratch_registry):
    plugin_file(tmp_path / "a", "model", "twin")
    plugin_file(tmp_path / "b", "model", "twin")
    with pytest.raises(DuplicateRegistrationError, match="registered twice"):
        discover([tmp_path / "a", tmp_path / "b"])
