"""Configuration: profiles, per-method YAML, command-line overrides, and the run grid.

Where a run's settings come from, later entries overriding earlier ones:

1. the method class's ``hparams`` defaults;
2. the profile ``configs/profiles/<profile>.yaml``: ``n_latents``, ``budget``, ``eval``, and its
   ``datasets: {<dataset>: {n_latents, budget, eval}}`` section. ``eval`` is validated by
   :class:`suite.settings.EvalSettings` (where every evaluation default lives); a run spec stores
   its canonical dict, in which ``eval.holdout``, the slice of the training split held out for
   early stopping, is always filled in, so that it is part of every run key (:mod:`suite.subsets`);
   under the ``smoke`` profile, then, the method class's ``smoke_hparams`` and ``smoke_budget``
   (the one source of smoke values);
3. the method's own settings file, beside its code (:func:`method_config_file`: the family
   package's ``config.yaml``, or ``<module>.yaml`` beside a single-file plugin): for each
   method, entries keyed by a selector, applied from least to most specific: ``"*"``, ``"<profile>"``, ``"@<dataset>"``,
   ``"<profile>@<dataset>"``; each entry may set ``hparams``, ``budget`` and ``n_latents``. The
   whole file is validated when it is read (:func:`check_method_settings`);
4. a user file given with ``--config FILE``: its ``method_config`` section, same format as 3;
5. ``--set method.key=v1,v2,...``: a sweep over the listed values (``key`` is a hyperparameter,
   ``n_latents``, ``epochs``, ``max_seconds`` or ``max_steps``).

Steps 4 and 5 are the user's *overrides*; they are recorded with the run and label its row in
the leaderboard.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .errors import ConfigError, UnknownNameError
from .method import Budget
from .registry import DATASETS, METHODS, unavailable
from .settings import EvalSettings



def config_dir() -> Path:
    """The folder of the suite's settings (``suite.yaml``, ``profiles/``): the package data
    ``brainlike_suite.configs`` (the checkout's ``configs/`` folder)."""
    from importlib import resources

    try:
        return Path(str(resources.files("brainlike_suite.configs")))
    except ModuleNotFoundError as exc:
        from .registry import INSTALL_HINT
        raise ConfigError(f"the suite's settings (package brainlike_suite.configs) are not "
                          f"installed. Install the suite: {INSTALL_HINT}") from exc


BUDGET_KEYS = ("epochs", "max_seconds", "max_steps")
PROFILE_KEYS = ("description", "n_latents", "budget", "eval", "datasets")
PROFILE_DATASET_KEYS = ("n_latents", "budget", "eval")
ENTRY_KEYS = ("hparams", "budget", "n_latents")
"""The keys of one entry of a method settings file (and of ``--config``'s ``method_config``)."""


class YamlLoader(yaml.SafeLoader):
    """The one YAML loader of the suite: PyYAML's safe loader (YAML 1.1), with floats also
    resolved the YAML 1.2 way, so that ``1e-3``, ``1E3``, ``-.5e-2`` are numbers, not text
    (YAML 1.1 wants a dot and a signed exponent: ``1.0e-3``). Everything else reads as before;
    in particular every ``configs/*.yaml`` gives the same values, hence the same run keys."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"))


def parse_yaml(text: str) -> Any:
    """Parse YAML text with :class:`YamlLoader` (config files and ``--set`` values)."""
    return yaml.load(text, Loader=YamlLoader)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file, with an error that names the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist.")
    try:
        return parse_yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc


# -- profiles ---------------------------------------------------------------------------------
def profile_names() -> list[str]:
    return sorted(p.stem for p in (config_dir() / "profiles").glob("*.yaml"))


def load_profile(name: str) -> dict:
    """The profile ``name`` as a dict with keys description, n_latents, budget, eval, datasets."""
    path = config_dir() / "profiles" / f"{name}.yaml"
    if not path.exists():
        raise UnknownNameError("profile", name, profile_names())
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"profile {path}: expected a mapping, got {type(data).__name__}: {data!r}")
    unknown = set(data) - set(PROFILE_KEYS)
    if unknown:
        raise ConfigError(f"profile {path}: unknown keys {sorted(unknown)} "
                          f"(allowed: {', '.join(PROFILE_KEYS)})")
    check_budget(f"profile {path}", data.get("budget"))
    check_n_latents(f"profile {path}", data.get("n_latents"))
    EvalSettings.from_mapping(data.get("eval"), where=f"profile {path}: eval")
    datasets = data.get("datasets") or {}
    if not isinstance(datasets, dict):
        raise ConfigError(f"profile {path}: datasets must be a mapping DATASET -> "
                          f"{{{', '.join(PROFILE_DATASET_KEYS)}}}, got {datasets!r}")
    for dataset, entry in datasets.items():
        where = f"profile {path}: datasets: {dataset}"
        if entry is not None and not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with keys {', '.join(PROFILE_DATASET_KEYS)}, "
                              f"got {entry!r}")
        entry = entry or {}
        unknown = set(entry) - set(PROFILE_DATASET_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)} "
                              f"(allowed: {', '.join(PROFILE_DATASET_KEYS)})")
        check_budget(where, entry.get("budget"))
        check_n_latents(where, entry.get("n_latents"))
        if entry.get("eval") is not None:
            EvalSettings.from_mapping({**(data.get("eval") or {}), **_mapping_or_error(where, entry["eval"])},
                                      where=f"{where}: eval")
    return data


def _mapping_or_error(where: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: eval must be a mapping, got {value!r}")
    return value


# -- per-method configuration ----------------------------------------------------------------
def method_config_file(cls: type) -> Path | None:
    """The settings file a method ships beside its code, or None: ``<module>.yaml`` beside the
    module that defines the class, else ``config.yaml`` in that module's folder when the folder
    is a package (a family package such as ``methods/amortized_vae/``)."""
    import sys

    path = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if not path:
        return None
    path = Path(path)
    for candidate in (path.with_suffix(".yaml"), path.parent / "config.yaml"):
        if candidate.exists() and (candidate.name != "config.yaml"
                                   or (path.parent / "__init__.py").exists()):
            return candidate
    return None


def _method_config_files() -> list[Path]:
    files = {method_config_file(cls) for _, cls in METHODS.items()}
    return sorted(f for f in files if f is not None)


def load_method_configs() -> dict[str, dict]:
    """Merge the settings files of every registered method (:func:`method_config_file`; a
    method may appear in one file only), each validated whole (:func:`check_method_settings`)."""
    merged: dict[str, dict] = {}
    origin: dict[str, Path] = {}
    for path in _method_config_files():
        data = check_method_settings(str(path), load_yaml(path))
        for method, entries in data.items():
            if method in merged:
                raise ConfigError(f"method {method!r} is configured in both {origin[method]} and {path}")
            merged[method], origin[method] = entries, path
    return merged


def check_method_settings(where: str, data: Any, *, require_registered: bool = True) -> dict[str, dict]:
    """Validate a whole method settings file (or ``--config``'s ``method_config`` section):
    a mapping METHOD -> SELECTOR -> entry, where a selector is ``"*"``, ``"<profile>"``,
    ``"@<dataset>"`` or ``"<profile>@<dataset>"`` (``<profile>`` a profile name) and an entry
    has at most the keys of :data:`ENTRY_KEYS` (hyperparameter names of the method, a valid
    budget, a positive ``n_latents``). Returns ``{method: {selector: entry}}`` (empty entries as
    ``{}``); ConfigError naming ``where`` (the file) otherwise."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping METHOD -> SELECTOR -> settings, got {data!r}")
    registered = set(METHODS.names())
    some_failed = bool(unavailable("methods"))
    profiles = profile_names()
    out: dict[str, dict] = {}
    for method, entries in data.items():
        cls = METHODS.get(method) if method in registered else None
        if cls is None and require_registered and not some_failed:
            raise UnknownNameError("method", str(method), registered, hint=f"(configured in {where})")
        if entries is not None and not isinstance(entries, dict):
            raise ConfigError(f"{where}: {method} must be a mapping SELECTOR -> settings, got {entries!r}")
        out[method] = {}
        for sel, entry in (entries or {}).items():
            at = f"{where}: {method}[{sel!r}]"
            _check_selector(at, sel, profiles)
            entry = _check_entry(at, entry)
            if cls is not None:
                unknown = sorted(set(entry.get("hparams") or {}) - set(cls.hparams))
                if unknown:
                    raise ConfigError(f"{at}: unknown hyperparameters {unknown} of {method} "
                                      f"(valid: {', '.join(sorted(cls.hparams))})")
            out[method][sel] = entry
    return out


_DATASET_SELECTOR_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*$")


def _check_selector(where: str, sel: Any, profiles: list[str]) -> None:
    """A selector: ``"*"``, ``"<profile>"``, ``"@<dataset>"`` or ``"<profile>@<dataset>"``."""
    shapes = '"*", "<profile>", "@<dataset>" or "<profile>@<dataset>"'
    if not isinstance(sel, str):
        raise ConfigError(f"{where}: a selector must be text ({shapes}), got {sel!r}")
    if sel == "*":
        return
    profile, at, dataset = sel.partition("@")
    if at and not _DATASET_SELECTOR_RE.match(dataset):
        raise ConfigError(f"{where}: malformed selector {sel!r}: expected {shapes}")
    if (profile or not at) and profile not in profiles:
        raise ConfigError(f"{where}: unknown profile {profile!r} in selector {sel!r} (profiles: "
                          f"{', '.join(profiles)}; selectors: {shapes})")


def _selectors(profile: str, dataset: str) -> list[str]:
    return ["*", profile, f"@{dataset}", f"{profile}@{dataset}"]


def _check_entry(where: str, entry: Any) -> dict:
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with {'/'.join(ENTRY_KEYS)}, got {entry!r}")
    unknown = set(entry) - set(ENTRY_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)} (allowed: {', '.join(ENTRY_KEYS)})")
    if not isinstance(entry.get("hparams") or {}, dict):
        raise ConfigError(f"{where}: hparams must be a mapping NAME -> value, got {entry['hparams']!r}")
    check_budget(where, entry.get("budget"))
    check_n_latents(where, entry.get("n_latents"))
    return entry


def check_n_latents(where: str, value: Any) -> None:
    """An ``n_latents`` setting: a positive integer, or absent (None)."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
        raise ConfigError(f"{where}: n_latents must be a positive integer, got {value!r}")


def budget_problem(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be the budget ``key`` (epochs, max_seconds, max_steps), or None.

    Only checks, never converts: the budget is hashed into the run key as written."""
    number = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value) and value > 0)
    if key == "epochs":
        return None if number else "must be a number > 0"
    if key == "max_seconds":
        return None if value is None or number else "must be a number > 0 or null"
    if key == "max_steps":
        return None if value is None or (number and float(value).is_integer()) \
            else "must be a positive integer or null"
    return f"is not a budget key (allowed: {', '.join(BUDGET_KEYS)})"


def check_budget(where: str, budget: Any) -> None:
    """Validate a ``budget:`` mapping of a profile or a method config entry (ConfigError)."""
    if budget is None:
        return
    if not isinstance(budget, dict):
        raise ConfigError(f"{where}: budget must be a mapping with keys {', '.join(BUDGET_KEYS)}, "
                          f"got {budget!r}")
    bad = set(budget) - set(BUDGET_KEYS)
    if bad:
        raise ConfigError(f"{where}: unknown budget keys {sorted(bad)} (allowed: {', '.join(BUDGET_KEYS)})")
    for key, value in budget.items():
        problem = budget_problem(key, value)
        if problem:
            raise ConfigError(f"{where}: budget {key} {problem}, got {value!r}")


def _apply(settings: dict, entry: dict) -> None:
    settings["hparams"].update(entry.get("hparams") or {})
    settings["budget"].update(entry.get("budget") or {})
    if entry.get("n_latents") is not None:
        settings["n_latents"] = entry["n_latents"]


# -- --set and seeds ------------------------------------------------------------------------
_SET_RE = re.compile(r"^\s*([A-Za-z][\w\-]*)\.([A-Za-z_]\w*)\s*=(.*)$")


def _split_values(text: str) -> list[str]:
    """Split on commas that are not inside brackets: ``1,[2,3],4`` -> ``1``, ``[2,3]``, ``4``."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def parse_set(items: Iterable[str]) -> dict[str, dict[str, list]]:
    """Parse ``--set method.key=v1,v2`` items into ``{method: {key: [v1, v2]}}``.

    Values are YAML scalars or lists (``lca.lam=0.1``, ``bihm.layers=[100,50]``,
    ``lca.nonneg=true``). A key given twice for the same method is an error."""
    out: dict[str, dict[str, list]] = {}
    for item in items:
        m = _SET_RE.match(item)
        if not m or not m.group(3).strip():
            raise ConfigError(f"malformed --set {item!r}: expected METHOD.KEY=VALUE[,VALUE...], "
                              "e.g. --set lca.lam=0.05,0.1,0.2")
        method, key, raw = m.groups()
        values = []
        for token in _split_values(raw):
            if not token:
                raise ConfigError(f"malformed --set {item!r}: empty value in the list")
            try:
                values.append(parse_yaml(token))
            except yaml.YAMLError as exc:
                raise ConfigError(f"malformed --set {item!r}: cannot parse {token!r} ({exc})") from exc
        if key in out.setdefault(method, {}):
            raise ConfigError(f"--set gives {method}.{key} twice; list all values in one --set")
        out[method][key] = values
    return out


def parse_seeds(text: str | int | Iterable[int]) -> list[int]:
    """``"0"``, ``"0,1,2"``, ``"1-5"`` (inclusive) or a list -> sorted unique seeds."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if is_int(text):
        return [text]
    if not isinstance(text, str):
        if not isinstance(text, (list, tuple, set, range)) or not all(map(is_int, text)):
            raise ConfigError(f"malformed --seeds {text!r}: expected e.g. 0 or 0,1,2 or 1-5")
        return sorted(set(text))
    seeds: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if re.fullmatch(r"\d+-\d+", part):
                lo, hi = map(int, part.split("-"))
                if hi < lo:
                    raise ValueError
                seeds.update(range(lo, hi + 1))
            else:
                seeds.add(int(part))
    except ValueError:
        raise ConfigError(f"malformed --seeds {text!r}: expected e.g. 0 or 0,1,2 or 1-5") from None
    return sorted(seeds)


# -- run specs ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything that determines one run's result; its :meth:`key` identifies it in the store."""

    method: str
    dataset: str
    profile: str
    seed: int
    n_latents: int
    hparams: dict
    budget: dict
    eval: dict
    method_version: str
    overrides: dict = dataclasses.field(default_factory=dict)

    def identity(self) -> dict:
        """The canonical content hashed into the key (overrides only label; values are in hparams)."""
        d = dataclasses.asdict(self)
        d.pop("overrides")
        return d

    def key(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunSpec":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    def budget_obj(self) -> Budget:
        return Budget(**self.budget)

    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.overrides.items()))
        return f"{self.method}({extra})" if extra else self.method


@dataclasses.dataclass
class Grid:
    specs: list[RunSpec]
    skipped: list[tuple[str, str, str]]  # (method, dataset, reason)


def resolve_methods(names: str | Iterable[str]) -> tuple[list[str], bool]:
    """Method names from ``all`` or a comma list; unknown names raise. Returns (names, is_all)."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    if not names:
        raise ConfigError("no method given: use --methods all or a comma-separated list")
    if names == ["all"]:
        return METHODS.names(), True
    for n in names:
        METHODS.get(n)  # raises with the valid names
    return sorted(set(names)), False


def resolve_datasets(names: str | Iterable[str]) -> list[str]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    if not names:
        raise ConfigError("no dataset given: use --dataset NAME (see --list)")
    for n in names:
        DATASETS.get(n)
    return sorted(set(names))


def settings_for(method: str, dataset: str, profile_name: str, profile: dict,
                 method_configs: Mapping[str, dict], user_method_config: Mapping[str, dict]) -> dict:
    """Merged {hparams, budget, n_latents, eval} for one (method, dataset, profile), before --set.

    ``eval`` is the canonical dict of :class:`suite.settings.EvalSettings` (what the run spec
    stores). Under the ``smoke`` profile the method class's ``smoke_hparams`` and
    ``smoke_budget`` come first, before the method's settings file. Returns also
    ``user_overrides``: what the user's --config set (part of the overrides).
    ``method_configs`` and ``user_method_config`` are validated already
    (:func:`load_method_configs`, :func:`check_method_settings`)."""
    settings = {"hparams": {}, "budget": dict(profile.get("budget") or {}),
                "n_latents": profile.get("n_latents"), "eval": dict(profile.get("eval") or {})}
    ds_prof = (profile.get("datasets") or {}).get(dataset) or {}
    settings["budget"].update(ds_prof.get("budget") or {})
    settings["eval"].update(ds_prof.get("eval") or {})
    evaluation = EvalSettings.from_mapping(
        settings["eval"], where=f"profile {profile_name!r}: eval (dataset {dataset})")
    if evaluation.amortization_gap is not None:
        from .analyses.amortization_gap import gap_solver
        for solver in evaluation.amortization_gap.solvers:
            gap_solver(solver)  # a ConfigError naming the registered lasso solvers otherwise
    settings["eval"] = evaluation.to_dict()
    if ds_prof.get("n_latents") is not None:
        settings["n_latents"] = ds_prof["n_latents"]
    if profile_name == "smoke":
        cls = METHODS.get(method)
        check_budget(f"{cls.__module__}.{cls.__qualname__}.smoke_budget", dict(cls.smoke_budget))
        settings["hparams"].update(copy.deepcopy(dict(cls.smoke_hparams)))
        settings["budget"].update(cls.smoke_budget)
    for sel in _selectors(profile_name, dataset):
        _apply(settings, (method_configs.get(method) or {}).get(sel) or {})
    user = {"hparams": {}, "budget": {}, "n_latents": None}
    for sel in _selectors(profile_name, dataset):
        entry = (user_method_config.get(method) or {}).get(sel) or {}
        _apply(settings, entry)
        _apply(user, entry)
    settings["user_overrides"] = dict(user["hparams"])
    if user["n_latents"] is not None:
        settings["user_overrides"]["n_latents"] = user["n_latents"]
    settings["user_overrides"].update(user["budget"])
    return settings


def build_grid(methods: str | Iterable[str], datasets: str | Iterable[str], seeds: Iterable[int],
               profile_name: str = "quick", sets: Iterable[str] = (),
               user_method_config: Mapping[str, dict] | None = None) -> Grid:
    """Expand (methods × datasets × --set sweeps × seeds) into validated run specs.

    Every name and every hyperparameter value is validated here, before anything runs, so a
    typo fails fast and writes nothing. Methods that cannot model a dataset are skipped with
    the reason."""
    method_names, is_all = resolve_methods(methods)
    dataset_names = resolve_datasets(datasets)
    seeds = sorted(set(int(s) for s in seeds))
    if not seeds:
        raise ConfigError("no seed given")
    profile = load_profile(profile_name)
    method_configs = load_method_configs()
    user_method_config = dict(user_method_config or {})
    for m in user_method_config:
        METHODS.get(m)
    user_method_config = check_method_settings("--config method_config", user_method_config)
    sweeps = parse_set(sets)
    for m in sweeps:
        METHODS.get(m)
        if m not in method_names:
            raise ConfigError(f"--set names method {m!r}, which is not among --methods "
                              f"({', '.join(method_names)})")
        for key in set(sweeps[m]) & set(BUDGET_KEYS):
            for value in sweeps[m][key]:
                problem = budget_problem(key, value)
                if problem:
                    raise ConfigError(f"budget {key} of {m} {problem}, got {value!r} (from --set {m}.{key})")
    specs, skipped = [], []
    for dataset in dataset_names:
        source = DATASETS.get(dataset)
        for method in method_names:
            cls = METHODS.get(method)
            reason = cls.cannot_run_reason(source)
            if reason:
                skipped.append((method, dataset, reason))
                continue
            base = settings_for(method, dataset, profile_name, profile, method_configs, user_method_config)
            sweep = sweeps.get(method, {})
            keys = sorted(sweep)
            for combo in itertools.product(*(sweep[k] for k in keys)):
                s = copy.deepcopy(base)
                chosen = dict(zip(keys, combo))
                for k, v in chosen.items():
                    if k == "n_latents":
                        s["n_latents"] = v
                    elif k in BUDGET_KEYS:
                        s["budget"][k] = v
                    else:
                        s["hparams"][k] = v
                hparams = cls.resolve_hparams(s["hparams"])  # validates names and values
                n_latents = s["n_latents"]
                if not isinstance(n_latents, int) or isinstance(n_latents, bool) or n_latents <= 0:
                    raise ConfigError(f"{method} on {dataset}: n_latents must be a positive integer, "
                                      f"got {n_latents!r}")
                check_budget(f"{method} on {dataset} ({profile_name} profile)", s["budget"])
                try:
                    Budget(**s["budget"])
                except TypeError as exc:
                    raise ConfigError(f"{method} on {dataset}: bad budget {s['budget']}: {exc}") from None
                overrides = dict(s["user_overrides"], **chosen)
                for seed in seeds:
                    specs.append(RunSpec(method=method, dataset=dataset, profile=profile_name,
                                         seed=seed, n_latents=n_latents, hparams=hparams,
                                         budget=dict(s["budget"]), eval=dict(s["eval"]),
                                         method_version=str(cls.version), overrides=overrides))
    specs.sort(key=lambda sp: (sp.dataset, sp.method, sp.key()))
    return Grid(specs, skipped)
