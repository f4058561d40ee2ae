"""Loading a registered dataset by name, and checking which are available, before any run."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..errors import DataError
from ..registry import DATASETS
from .sources import Dataset, resolve_cache_dir, resolve_data_dir


def unavailable_datasets(names: Iterable[str], data_dir: str | Path | None = None) -> dict[str, str]:
    """{name: why} for the registered datasets among ``names`` whose files are not in the data
    folder (:meth:`DatasetSource.availability`, once per dataset): checked before any run."""
    ddir = resolve_data_dir(data_dir)
    missing = {}
    for name in dict.fromkeys(names):
        available = DATASETS.get(name).availability(ddir)
        if not available.ok:
            missing[name] = available.detail
    return missing


_memo: dict[tuple, Dataset] = {}


def load_dataset(name: str, data_dir: str | Path | None = None,
                 cache_dir: str | Path | None = None) -> Dataset:
    """Load (once per process) and validate the registered dataset ``name``."""
    source = DATASETS.get(name)
    ddir, cdir = resolve_data_dir(data_dir), resolve_cache_dir(cache_dir)
    key = (name, str(ddir), str(cdir))
    if key not in _memo:
        ds = source.load(ddir, cdir)
        if tuple(ds.shape) != tuple(source.shape):
            raise DataError(f"{name}: loaded images of shape {tuple(ds.shape)}, "
                            f"the source declares {tuple(source.shape)}")
        _memo[key] = ds.validate()
    return _memo[key]
