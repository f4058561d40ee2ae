"""Declared capabilities (suite/capabilities.py): mixins tested with isinstance, never probed;
the data-kind vocabulary shared by methods and datasets; abstract fit/infer."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from suite import cli, registry
from suite.analyses.amortization_gap import amortization_gap, applies_to, gap_solver
from suite.analyses.convergence import convergence_trace
from suite.capabilities import (CAPABILITIES, DataKind, EstimatorCheck, IterativeInference,
                                LassoSolver, LinearDictionary, Sampling, amortization_gap_applies,
                                capabilities_of, undeclared_hooks)
from suite.data.sources import Dataset, DatasetSource
from suite.errors import ConfigError, DataError, SuiteError
from suite.method import Inference, Method
from suite.registry import DATASETS, METHODS
from suite.runner import trace_method
from threads import one_thread  # noqa: F401  (autouse fixture)

PLUGINS = Path(__file__).resolve().parent / "plugins"


@pytest.fixture(scope="module", autouse=True)
def toy_plugins():
    registry.discover([PLUGINS])


class Plain(Method):
    """A complete method that declares no capability."""

    name = "plain"

    def fit(self, train, budget, progress=None, val=None):
        return self

    def infer(self, x):
        return Inference(codes=x[:, :self.n_latents], recon=x)


# -- abstract fit / infer -------------------------------------------------------------------
def test_fit_and_infer_are_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Method((1, 2, 2), 3)

    class NoInfer(Method):
        def fit(self, train, budget, progress=None, val=None):
            return self

    class NoFit(Method):
        def infer(self, x):
            return Inference(codes=x, recon=x)

    with pytest.raises(TypeError, match="infer"):
        NoInfer((1, 2, 2), 3)
    with pytest.raises(TypeError, match="fit"):
        NoFit((1, 2, 2), 3)
    Plain((1, 2, 2), 3)  # complete: instantiable


def test_every_registered_method_implements_fit_and_infer_and_its_capabilities():
    for name, cls in METHODS.items():
        assert not cls.__abstractmethods__, f"{name} leaves {sorted(cls.__abstractmethods__)} abstract"
        assert undeclared_hooks(cls) == [], name


def test_a_declared_capability_without_its_hook_cannot_be_instantiated():
    class Claims(Plain, IterativeInference):
        test_steps = 5  # but no infer_trajectory

    with pytest.raises(TypeError, match="infer_trajectory"):
        Claims((1, 2, 2), 3)


def test_a_hook_without_its_capability_is_a_registration_error():
    class Hidden(Plain):
        name = "hidden_dictionary"

        def dictionary(self):
            return torch.zeros(self.n_latents, self.dim)

    assert undeclared_hooks(Hidden) == [("dictionary", "LinearDictionary")]
    with pytest.raises(SuiteError, match="does not declare the capability.*LinearDictionary"):
        registry.register(Hidden)
    assert "hidden_dictionary" not in METHODS.names()


# -- the built-ins' declarations --------------------------------------------------------------
def test_builtin_declarations():
    caps = {name: set(capabilities_of(cls)) for name, cls in METHODS.items()}
    for name in ("ipvae", "igvae", "igvae_relu"):
        assert {"IterativeInference", "LinearDictionary"} <= caps[name]
    assert {"IterativeInference", "LinearDictionary", "LassoSolver"} <= caps["lca"]
    for name in ("ista", "fista"):
        assert {"LinearDictionary", "LassoSolver"} <= caps[name] and "IterativeInference" not in caps[name]
    for name in ("pvae", "cvae", "gvae", "gvae_relu", "lvae"):
        assert caps[name] == {"LinearDictionary"}
    assert {"LinearDictionary", "Sampling", "EstimatorCheck"} <= caps["bihm"]
    assert caps["toy"] == {"LinearDictionary"}
    assert [c.__name__ for c in CAPABILITIES] == ["IterativeInference", "Sampling", "LinearDictionary",
                                                   "LassoSolver", "EstimatorCheck"]


def test_gap_applies_to_the_same_methods_as_the_former_family_rule():
    """The gap ran for every family but sparse coding (methods with a dictionary); it now runs
    for every LinearDictionary that is not a LassoSolver: the same set of methods."""
    for name, cls in METHODS.items():
        assert amortization_gap_applies(cls) == (cls.family != "sparse-coding"), name
        assert applies_to(cls) == amortization_gap_applies(cls)
    assert not amortization_gap_applies(Plain)


def test_dictionary_may_be_none_for_a_configuration():
    cls = METHODS.get("pvae")
    lin = cls((1, 4, 4), 3, **cls.smoke_hparams)
    mlp = cls((1, 4, 4), 3, **{**cls.smoke_hparams, "arch": "mlp|mlp"})
    assert isinstance(mlp, LinearDictionary) and mlp.dictionary() is None
    assert tuple(lin.dictionary().shape) == (3, 16)


# -- the convergence analysis and the sample command report a missing capability ---------------
def test_convergence_analysis_names_the_missing_capability():
    with pytest.raises(TypeError, match="plain does not declare the IterativeInference capability"):
        convergence_trace(Plain((1, 2, 2), 3), torch.zeros(2, 4), t_test=3)


def test_trace_method_skips_what_a_method_does_not_declare():
    ds = DATASETS.get("toy").load(None, None)
    gap = {"amortization_gap": {"lams": [0.5], "solvers": ["fista"], "max_iter": 50}, "max_val": 20}
    plain = Plain(ds.shape, 3)
    assert trace_method(plain, ds, gap, 0) == {}
    toy = METHODS.get("toy")(ds.shape, 3)
    traces = trace_method(toy, ds, gap, 0)
    assert set(traces) == {"amortization_gap"} and traces["amortization_gap"][0]["solver"] == "fista"
    fista = METHODS.get("fista")(ds.shape, 3, max_iter=20)
    assert "amortization_gap" not in trace_method(fista, ds, gap, 0)  # a LassoSolver: no gap


def test_sample_command_names_the_missing_capability(tmp_path, capsys):
    assert cli.main(["sample", "lca", "--run", "nothing", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "lca cannot draw samples" in err and "Sampling capability" in err and "bihm" in err


def test_sampling_is_declared_with_its_hook():
    assert issubclass(METHODS.get("bihm"), Sampling)
    assert not issubclass(METHODS.get("lca"), Sampling)


# -- the gap's solvers come from the registry -------------------------------------------------
def test_gap_solver_lookup():
    assert gap_solver("lca") is METHODS.get("lca") and issubclass(gap_solver("ista"), LassoSolver)
    with pytest.raises(ConfigError, match="'pvae' cannot be an amortization-gap solver.*LassoSolver"):
        gap_solver("pvae")
    with pytest.raises(ConfigError, match="unknown amortization-gap solver 'omp'.*fista, ista, lca"):
        gap_solver("omp")
    phi, x = torch.randn(4, 6), torch.randn(5, 6)
    with pytest.raises(ConfigError, match="LassoSolver"):
        amortization_gap(phi, x, [0.1], solvers=("toy",))


def test_solve_lasso_is_the_solvers_dense_solve():
    """The hook reproduces the former direct calls bit for bit (LCA: dt = min(0.1, 1/L))."""
    from brainlike_suite.methods.sparse_coding import solvers  # the reference, after discovery

    g = torch.Generator().manual_seed(0)
    atoms = torch.randn(8, 10, generator=g, dtype=torch.float64)
    atoms = atoms / atoms.norm(dim=1, keepdim=True)
    x = torch.randn(6, 10, generator=g, dtype=torch.float64)
    top = float(torch.linalg.eigvalsh(atoms @ atoms.T).max())
    lca, info = METHODS.get("lca").solve_lasso(x, atoms, 0.2, tol=1e-6, max_iter=300, max_eig=top,
                                                 return_info=True)
    ref, ref_info = solvers.lca(x, atoms, 0.2, tol=1e-6, max_iter=300, dt=min(0.1, 1.0 / top),
                                return_info=True)
    assert torch.equal(lca, ref) and info.n_unconverged == ref_info.n_unconverged
    assert torch.equal(METHODS.get("lca").solve_lasso(x, atoms, 0.2, max_iter=50),
                       solvers.lca(x, atoms, 0.2, max_iter=50))
    for name in ("ista", "fista"):
        got = METHODS.get(name).solve_lasso(x, atoms, 0.2, nonneg=True, max_iter=300, max_eig=top)
        assert torch.equal(got, getattr(solvers, name)(x, atoms, 0.2, nonneg=True, max_iter=300))


def test_estimator_check_is_declared_by_the_bihm():
    assert issubclass(METHODS.get("bihm"), EstimatorCheck)
    res = METHODS.get("bihm").estimator_convergence((10,), seed=0)
    assert res["rows"][0]["K"] == 10 and res["n_inputs"] == 32


# -- data kinds --------------------------------------------------------------------------------
def test_data_kind_vocabulary_and_mismatch_message():
    assert DataKind.ALL == {"continuous", "binary"}
    lca = METHODS.get("lca")
    assert lca.data_kinds == {DataKind.CONTINUOUS}
    assert lca.cannot_run_reason(DATASETS.get("digits-bin")) == \
        "lca models continuous data, digits-bin is binary"
    assert lca.cannot_run_reason(DATASETS.get("digits")) is None
    assert METHODS.get("bihm").cannot_run_reason(DATASETS.get("toybin")) is None
    for name, src in DATASETS.items():
        assert src.data_kind in DataKind.ALL and src.is_binary == (src.data_kind == DataKind.BINARY)
    assert DATASETS.get("toybin").data_kind == DataKind.BINARY


def test_loaded_datasets_carry_the_kind_and_keep_is_binary():
    x = torch.zeros(4, 4)
    ds = Dataset("d", x, x, (1, 2, 2), data_kind=DataKind.BINARY)
    assert ds.is_binary and ds.data_kind == "binary"
    legacy = Dataset("d", x, x, (1, 2, 2), is_binary=True)         # the former keyword
    assert legacy.data_kind == DataKind.BINARY
    assert Dataset("d", x, x, (1, 2, 2), True).data_kind == DataKind.BINARY   # former positional
    assert Dataset("d", x, x, (1, 2, 2)).data_kind == DataKind.CONTINUOUS
    assert dataclasses.replace(ds, name="e").data_kind == DataKind.BINARY
    with pytest.raises(AttributeError):
        ds.is_binary = False  # derived, read-only
    with pytest.raises(DataError, match="data kind must be one of"):
        Dataset("d", x, x, (1, 2, 2), data_kind="ternary")


def test_dataset_sources_declare_data_kind():
    class Legacy(DatasetSource):
        name = "legacy_binary"
        is_binary = True          # the former declaration still reads as the binary kind

    assert Legacy.data_kind == DataKind.BINARY and Legacy().is_binary

    class Wrong(DatasetSource):
        name = "wrong_kind"
        data_kind = "ternary"

    with pytest.raises(SuiteError, match="data kind must be one of"):
        registry.register_dataset(Wrong)
    assert "wrong_kind" not in DATASETS.names()


def test_method_data_kinds_are_checked_at_registration():
    class Odd(Plain):
        name = "odd_kinds"
        data_kinds = frozenset({"continuous", "ternary"})

    with pytest.raises(SuiteError, match="data_kinds must be a non-empty set"):
        registry.register(Odd)
