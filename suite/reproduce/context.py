"""What a claim's judge sees: the runs of its experiments, the store, and where to draw.

An :class:`Experiment` asks for runs the way the command line does (methods, a data *role*,
``--set`` sweeps); :func:`plan` expands it, for a profile and seeds, into run specs with
:func:`suite.config.build_grid`, so that ``reproduce`` and ``run_suite.py`` share every run (the
same key: a finished run is never retrained). Data roles name what a claim needs (``patches``:
natural-image patches; ``mnist``: labelled digits; ``bmnist``: binarized MNIST), and the
command maps them to datasets (``--patches vH16``).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable

import numpy as np

from suite.config import RunSpec, build_grid
from suite.store import Store

DATA_ROLES = {"patches": "nat16-pvae", "mnist": "MNIST", "bmnist": "bMNIST"}
"""The default dataset of each data role."""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Runs a claim needs: ``methods`` on the dataset of ``data`` (a role of
    :data:`DATA_ROLES`), with ``sets`` (``--set`` strings, e.g. ``"pvae.beta=0.25,1,4"``)."""

    methods: tuple[str, ...]
    data: str
    sets: tuple[str, ...] = ()


def plan(experiment: Experiment, datasets: dict[str, str], profile: str,
         seeds: Iterable[int]) -> list[RunSpec]:
    """The run specs of ``experiment`` (see the module docstring)."""
    grid = build_grid(",".join(experiment.methods), datasets[experiment.data], list(seeds),
                      profile, list(experiment.sets))
    return grid.specs


@dataclasses.dataclass
class ClaimContext:
    """The runs of one claim: ``specs[name]`` per experiment name; ``unavailable[role]`` says
    why a data role cannot be loaded here (absent when it can)."""

    store: Store
    figure_dir: Path
    profile: str
    datasets: dict[str, str]
    specs: dict[str, list[RunSpec]]
    unavailable: dict[str, str]
    experiments: dict[str, Experiment]
    data_dir: str | None = None
    """The data folder (``--data-dir``), for judges that read the data themselves (C1)."""

    def records(self, name: str) -> list[dict]:
        """The finished records of experiment ``name`` (missing runs left out)."""
        out = []
        for spec in self.specs[name]:
            if self.store.has(spec.key()):
                out.append(self.store.record(spec.key()))
        return out

    def all_records(self) -> list[dict]:
        return [r for name in self.specs for r in self.records(name)]

    def missing(self) -> list[str]:
        """A description of every run of the claim that is not in the store (with the last
        failure's error, or the reason its data are unavailable)."""
        out = []
        for name, specs in self.specs.items():
            role = self.experiments[name].data
            if role in self.unavailable:
                out.append(f"{self.datasets[role]} is not available here ({self.unavailable[role]})")
                continue
            for spec in specs:
                if not self.store.has(spec.key()):
                    failure = self.store.failure(spec.key())
                    why = f" (failed: {failure.get('error')})" if failure else ""
                    out.append(f"{spec.label()} seed{spec.seed} on {spec.dataset}{why}")
        return out

    def arrays(self, record: dict) -> dict[str, np.ndarray]:
        return self.store.arrays(record["key"])


def by_method(records: Iterable[dict]) -> dict[str, list[dict]]:
    """Records grouped by method name (in first-seen order)."""
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(r["spec"]["method"], []).append(r)
    return out


def by_hparam(records: Iterable[dict], name: str) -> dict:
    """Records grouped by the value of hyperparameter ``name``, sorted by value."""
    out: dict = {}
    for r in records:
        out.setdefault(r["spec"]["hparams"][name], []).append(r)
    return dict(sorted(out.items()))


def metric(records: Iterable[dict], name: str) -> list[float | None]:
    """``name`` from each record's metrics (None where absent)."""
    return [(r.get("metrics") or {}).get(name) for r in records]
