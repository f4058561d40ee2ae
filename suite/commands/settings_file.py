"""The settings of the ``run`` command: configs/suite.yaml, then ``--config FILE``, then flags,
each file's keys and types checked."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError


SETTINGS_KEYS = ("methods", "dataset", "seeds", "profile", "device", "out", "jobs", "set", "method_config",
                 "executor")


def _as_set_text(value) -> str:
    """A YAML value written back as the text of a --set value list (``[0.5, 2]`` -> ``0.5,2``)."""
    def one(v):
        if isinstance(v, bool) or v is None:
            return {True: "true", False: "false", None: "null"}[v]
        return "[" + ",".join(map(one, v)) + "]" if isinstance(v, (list, tuple)) else str(v)
    return ",".join(map(one, value)) if isinstance(value, list) else one(value)


def check_settings(data, path: Path) -> dict:
    """The settings of a file (configs/suite.yaml or ``--config FILE``) with their types checked:
    a ConfigError that names the file, the key and the value otherwise."""
    from ..config import parse_seeds

    where = f"config file {path}"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of settings (keys such as methods, dataset, seeds, "
                          f"profile, set), got a {type(data).__name__}: {data!r}")
    unknown = set(data) - set(SETTINGS_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)}; allowed: {sorted(SETTINGS_KEYS)}")

    def bad(key, expected):
        raise ConfigError(f"{where}: {key} must be {expected}, got {data[key]!r}")

    for key in ("methods", "dataset"):
        v = data.get(key, "")
        if not (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))):
            bad(key, "a name, a comma-separated list or a list of names")
    for key, expected in (("profile", "a name (text)"), ("device", "a name (text)"),
                          ("out", "a folder name (text)")):
        if key in data and not isinstance(data[key], str):
            bad(key, expected)
    jobs = data.get("jobs", 1)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        bad("jobs", "an integer >= 1")
    if "seeds" in data:
        try:
            if min(parse_seeds(data["seeds"]), default=0) < 0:
                raise ConfigError("negative seed")
        except ConfigError:
            bad("seeds", "an integer >= 0, a list of them or a range such as 0-4")
    sets = data.get("set")
    if isinstance(sets, str):
        data["set"] = [sets]
    elif isinstance(sets, dict):
        fixed = ", ".join(f'"{k}={_as_set_text(v)}"' for k, v in sets.items())
        raise ConfigError(f"{where}: set must be a list of 'METHOD.KEY=V1,V2' strings, got a mapping: "
                          f"{sets!r}. Write it as: set: [{fixed}]")
    elif sets is not None and not (isinstance(sets, list) and all(isinstance(x, str) for x in sets)):
        bad("set", "a list of 'METHOD.KEY=V1,V2' strings, e.g. [\"lca.lam=0.1,0.3\"]")
    method_config = data.get("method_config")
    if method_config is not None:
        if not isinstance(method_config, dict):
            bad("method_config", "a mapping METHOD -> SELECTOR -> settings")
        for method, entries in method_config.items():
            if entries is not None and not isinstance(entries, dict):
                raise ConfigError(f"{where}: method_config: {method} must be a mapping SELECTOR -> settings, "
                                  f"got {entries!r}")
    return data


def merged_settings(args: argparse.Namespace) -> dict:
    """configs/suite.yaml, then --config FILE, then flags."""
    from ..config import config_dir, load_yaml, parse_seeds

    defaults = config_dir() / "suite.yaml"
    settings = check_settings(load_yaml(defaults), defaults)
    settings.setdefault("set", [])
    settings.setdefault("method_config", {})
    if getattr(args, "config", None):
        settings.update(check_settings(load_yaml(args.config), Path(args.config)))
    for flag in ("methods", "dataset", "seeds", "profile", "device", "out", "jobs"):
        value = getattr(args, flag, None)
        if value is not None:
            settings[flag] = value
    settings["set"] = list(settings.get("set") or []) + list(getattr(args, "sets", []) or [])
    methods = settings["methods"]
    settings["methods"] = ",".join(methods) if isinstance(methods, list) else str(methods)
    dataset = settings["dataset"]
    settings["dataset"] = ",".join(dataset) if isinstance(dataset, list) else str(dataset)
    settings["seeds"] = parse_seeds(settings["seeds"] if not isinstance(settings["seeds"], int)
                                    else [settings["seeds"]])
    if int(settings["jobs"]) < 1:
        raise ConfigError(f"--jobs must be >= 1, got {settings['jobs']}")
    return settings
