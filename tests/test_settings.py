"""Typed evaluation settings (suite/settings.py): validation, defaults in one place, the canonical
dict a run spec stores; and the smoke values' single source (the classes)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from suite import config, settings, subsets
from suite.analyses import amortization_gap as gap_module
from suite.config import build_grid, load_method_configs, load_profile, load_yaml, profile_names, settings_for
from suite.errors import ConfigError
from suite.registry import METHODS, discover
from suite.settings import DEFAULT_HOLDOUT, EvalSettings, GapSettings, HoldoutSettings

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "tests" / "plugins"
EVAL_KEYS = ("holdout", "max_val", "knn_draws", "dead_kl_threshold", "infer_batch_size",
             "extra_on_test", "trace_points", "amortization_gap")


# -- defaults, in one place ------------------------------------------------------------------------
def test_defaults():
    s = EvalSettings()
    assert s.full_dict() == {
        "holdout": {"fraction": 0.05, "max": 5000}, "max_val": None, "knn_draws": 100,
        "dead_kl_threshold": 0.01, "infer_batch_size": 1000, "extra_on_test": True,
        "trace_points": 20, "amortization_gap": None}
    assert EvalSettings.from_mapping({}) == EvalSettings.from_mapping(None) == s
    assert EvalSettings.KEYS == EVAL_KEYS
    assert GapSettings().to_dict() == {"lams": [0.05, 0.1, 0.2, 0.5, 1.0], "solvers": ["lca", "fista"],
                                       "max_val": None, "nonneg": False, "tol": 1e-4, "max_iter": 2000}
    assert HoldoutSettings().to_dict() == DEFAULT_HOLDOUT == {"fraction": 0.05, "max": 5000}


def test_other_modules_take_their_defaults_from_settings():
    assert subsets.DEFAULT_HOLDOUT is settings.DEFAULT_HOLDOUT
    assert gap_module.DEFAULT_LAMS is settings.DEFAULT_LAMS
    assert gap_module.GAP_SOLVERS is settings.GAP_SOLVERS
    assert gap_module.gap_settings({"amortization_gap": True}) == GapSettings().to_dict()
    assert gap_module.gap_settings({}) is None
    assert subsets.holdout_settings({}) == DEFAULT_HOLDOUT


READERS = ["suite/runner.py", "suite/evaluation.py", "suite/subsets.py", "suite/analyses",
           "suite/reproduce", "suite/commands", "reports"]
_KEY = r"""["'](?:%s)["']""" % "|".join(EVAL_KEYS)
DICT_READ = re.compile(rf"""\.get\(\s*{_KEY}\s*,|(?:eval\w*|\bev|cfg)["'\]\)]*\.get\(\s*{_KEY}""")
"""``x.get("knn_draws", 100)``, or ``eval_cfg.get("max_val")`` / ``spec["eval"].get(...)``."""


def test_readers_use_the_typed_settings_not_dict_get_with_a_default():
    """No reader of eval settings looks a key up with its own default (``cfg.get("knn_draws",
    100)``): they read an EvalSettings."""
    offenders = []
    for entry in READERS:
        path = REPO / entry
        for f in ([path] if path.is_file() else sorted(path.rglob("*.py"))):
            for n, line in enumerate(f.read_text().splitlines(), 1):
                if DICT_READ.search(line):
                    offenders.append(f"{f.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# -- validation ----------------------------------------------------------------------------------
def test_unknown_key_is_named_with_the_file_and_the_allowed_keys():
    with pytest.raises(ConfigError) as err:
        EvalSettings.from_mapping({"knn_draw": 5}, where="profile /x/quick.yaml: eval")
    msg = str(err.value)
    assert "profile /x/quick.yaml: eval" in msg and "'knn_draw'" in msg
    assert "allowed: " + ", ".join(EVAL_KEYS) in msg
    with pytest.raises(ConfigError, match=r"eval\.amortization_gap: unknown key 'lamz' \(allowed: lams, "):
        EvalSettings.from_mapping({"amortization_gap": {"lamz": [1.0]}})
    with pytest.raises(ConfigError, match=r"eval\.holdout: unknown key 'frac' \(allowed: fraction, max\)"):
        EvalSettings.from_mapping({"holdout": {"frac": 0.1}})


@pytest.mark.parametrize("key,value,message", [
    ("max_val", 0, "max_val must be a positive integer or null, got 0"),
    ("max_val", 1.5, "max_val must be a positive integer or null, got 1.5"),
    ("max_val", "all", "max_val must be a positive integer or null, got 'all'"),
    ("max_val", True, "max_val must be a positive integer or null, got True"),
    ("knn_draws", 0, "knn_draws must be a positive integer, got 0"),
    ("knn_draws", "5", "knn_draws must be a positive integer, got '5'"),
    ("infer_batch_size", None, "infer_batch_size must be a positive integer, got None"),
    ("trace_points", -3, "trace_points must be a positive integer, got -3"),
    ("dead_kl_threshold", -0.1, "dead_kl_threshold must be a number in [0, ∞), got -0.1"),
    ("dead_kl_threshold", "x", "dead_kl_threshold must be a number in [0, ∞), got 'x'"),
    ("dead_kl_threshold", float("nan"), "dead_kl_threshold must be a number in [0, ∞), got nan"),
    ("extra_on_test", "yes", "extra_on_test must be true or false, got 'yes'"),
    ("holdout", True, "eval.holdout must be a mapping like"),
    ("holdout", {"fraction": 1.0}, "fraction must be a number in [0, 1), got 1.0"),
    ("holdout", {"max": 0}, "max must be a positive integer or null, got 0"),
    ("amortization_gap", "yes", "eval.amortization_gap must be true, false, null or a mapping"),
    ("amortization_gap", {"lams": []}, "lams must be a non-empty list of numbers ≥ 0, got []"),
    ("amortization_gap", {"lams": [0.1, -1]}, "lams must be a number in [0, ∞), got -1"),
    ("amortization_gap", {"solvers": []}, "solvers must be a non-empty list of method names"),
    ("amortization_gap", {"tol": 0}, "tol must be a number in (0, ∞), got 0"),
    ("amortization_gap", {"max_iter": 1.5}, "max_iter must be a positive integer, got 1.5"),
    ("amortization_gap", {"nonneg": 1}, "nonneg must be true or false, got 1"),
    ("amortization_gap", {"max_val": -5}, "max_val must be a positive integer or null, got -5"),
])
def test_wrong_types_and_ranges(key, value, message):
    with pytest.raises(ConfigError) as err:
        EvalSettings.from_mapping({key: value}, where="eval")
    assert message in str(err.value)


def test_not_a_mapping():
    with pytest.raises(ConfigError, match=r"here: eval must be a mapping, got \[1\]"):
        EvalSettings.from_mapping([1], where="here")


def test_values_in_any_notation_are_made_canonical():
    s = EvalSettings.from_mapping({"max_val": 1e4, "knn_draws": 2.0e1, "holdout": {"fraction": 0, "max": 5e3},
                                   "amortization_gap": {"lams": [1], "max_iter": 1e3}})
    assert s.max_val == 10000 and isinstance(s.max_val, int) and s.knn_draws == 20
    assert s.holdout == HoldoutSettings(0.0, 5000)
    assert s.amortization_gap == GapSettings(lams=(1.0,), max_iter=1000)
    assert s.to_dict() == {"max_val": 10000, "knn_draws": 20, "holdout": {"fraction": 0.0, "max": 5000},
                           "amortization_gap": {"lams": [1.0], "max_iter": 1000}}


def test_switches():
    assert EvalSettings.from_mapping({"holdout": None}).holdout == HoldoutSettings(fraction=0.0)
    assert EvalSettings.from_mapping({"holdout": False}).holdout.fraction == 0.0
    assert EvalSettings.from_mapping({"holdout": {"max": None}}).holdout == HoldoutSettings(0.05, None)
    for off in (None, False, {}):
        assert EvalSettings.from_mapping({"amortization_gap": off}).amortization_gap is None
    assert EvalSettings.from_mapping({"amortization_gap": True}).amortization_gap == GapSettings()


def test_gap_overrides_are_validated():
    g = GapSettings().replace(lams=[0.3], max_val=None, solvers=["fista"])
    assert g == GapSettings(lams=(0.3,), solvers=("fista",))
    with pytest.raises(ConfigError, match="solvers"):
        GapSettings().replace(solvers=[])
    from suite.analyses.amortization_gap import gap_solver  # names are checked against the registry
    with pytest.raises(ConfigError, match=r"unknown amortization-gap solver 'omp'.*fista.*lca"):
        gap_solver("omp")
    with pytest.raises(ConfigError, match="does not declare the LassoSolver capability"):
        gap_solver("pvae")


# -- the canonical dict of a run spec ------------------------------------------------------------
@pytest.mark.parametrize("profile", profile_names())
def test_round_trip_of_every_profile(profile):
    written = load_profile(profile)["eval"]
    s = EvalSettings.from_mapping(written, where=profile)
    d = s.to_dict()
    # the keys as written, holdout filled in: what run specs stored before the typed settings,
    # so that the run keys of existing stores do not change
    assert d == {**written, "holdout": s.holdout.to_dict()}
    assert EvalSettings.from_mapping(d) == s
    assert EvalSettings.from_mapping(d).to_dict() == d
    assert s.to_dict() is not s.to_dict()                     # a copy: specs cannot alias it


def test_round_trip_of_settings_built_directly():
    s = EvalSettings(max_val=7, amortization_gap=GapSettings(lams=(0.5,)))
    assert s.to_dict() == s.full_dict()
    assert EvalSettings.from_mapping(s.to_dict()) == s


def test_spec_eval_is_the_canonical_dict():
    discover([PLUGINS])
    for profile in profile_names():
        (spec,) = build_grid("toy", "toy", [0], profile).specs
        assert spec.eval == EvalSettings.from_mapping(load_profile(profile)["eval"]).to_dict()
        assert spec.eval["holdout"] == DEFAULT_HOLDOUT


def test_profile_eval_errors_name_the_file(tmp_path, monkeypatch):
    (tmp_path / "profiles").mkdir()
    monkeypatch.setattr(config, "config_dir", lambda: tmp_path)
    path = tmp_path / "profiles" / "mine.yaml"
    path.write_text("n_latents: 4\neval: {max_vall: 10}\n")
    with pytest.raises(ConfigError, match=rf"profile {re.escape(str(path))}: eval: unknown eval setting 'max_vall'"):
        load_profile("mine")
    path.write_text("n_latents: 4\neval: {max_val: 10}\ndatasets: {toy: {eval: {knn_draws: 0}}}\n")
    with pytest.raises(ConfigError, match=r"datasets: toy: eval: knn_draws must be a positive integer, got 0"):
        load_profile("mine")
    path.write_text("n_latents: 4\ndatasets: {toy: {n_latent: 3}}\n")
    with pytest.raises(ConfigError, match=r"datasets: toy: unknown keys \['n_latent'\]"):
        load_profile("mine")
    path.write_text("n_latents: 4\neval: {max_val: 10}\ndatasets: {toy: {eval: {knn_draws: 3}}}\n")
    assert load_profile("mine")["datasets"]["toy"]["eval"] == {"knn_draws": 3}


# -- smoke values: one source, the classes -------------------------------------------------------
def test_no_method_settings_file_has_smoke_entries():
    for name, cls in METHODS.items():
        path = config.method_config_file(cls)
        if path is not None:
            assert "smoke" not in (load_yaml(path).get(name) or {}), f"{path}: {name} has a smoke entry"


def test_smoke_profile_applies_the_class_values():
    profile, configs = load_profile("smoke"), load_method_configs()
    for name, cls in METHODS.items():
        config.check_budget(f"{name}.smoke_budget", dict(cls.smoke_budget))
        s = settings_for(name, "nat16", "smoke", profile, configs, {})
        assert s["hparams"] == dict(cls.smoke_hparams), name
        assert s["budget"] == {**profile["budget"], **cls.smoke_budget}, name
