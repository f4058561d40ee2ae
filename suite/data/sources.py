"""Datasets: the loaded data (:class:`Dataset`) and the registered sources that load it.

A data source is a :class:`DatasetSource` subclass in a module of the ``datasets/`` folder,
registered with ``@suite.registry.register_dataset``. It says what it is (shape, labelled,
``data_kind``: one of :class:`suite.capabilities.DataKind`, the vocabulary methods declare their
``data_kinds`` in), whether its files are here (:meth:`DatasetSource.availability`), and loads them
(:meth:`DatasetSource.load`) into a :class:`Dataset` of flat float32 tensors.

Folders: the data folder is ``--data-dir``, else ``$BRAINLIKE_DATA_DIR``, else ``~/Datasets``
(the P-VAE repositories' layout). Built artefacts (e.g. the embedded patches) are cached under
``--cache-dir``, else ``$BRAINLIKE_CACHE_DIR``, else ``~/.cache/brainlike_suite``, through
:func:`read_array_cache` / :func:`write_array_cache`: a cache file that is unreadable, or holds
arrays of another shape or dtype, or NaN / infinite values, is named on stderr and rebuilt.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..capabilities import DataKind
from ..errors import DataError

DATA_DIR_ENV = "BRAINLIKE_DATA_DIR"
CACHE_DIR_ENV = "BRAINLIKE_CACHE_DIR"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir``, else ``$BRAINLIKE_DATA_DIR``, else ``~/Datasets``."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / "Datasets"


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else ``$BRAINLIKE_CACHE_DIR``, else ``~/.cache/brainlike_suite``."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "brainlike_suite"


# -- built-dataset caches ------------------------------------------------------------------------
ArraySpec = tuple  # (shape, dtype): a cached array's expected shape (None: any size > 0) and dtype


def cache_problem(arrays: dict, expected: dict) -> str | None:
    """Why ``arrays`` (name -> numpy array) do not match ``expected`` (name -> :data:`ArraySpec`):
    a missing name, another dtype or shape, an empty array, NaN or infinite values; or None."""
    import numpy as np

    for name, (shape, dtype) in expected.items():
        if name not in arrays:
            return f"it has no array {name!r}"
        a = arrays[name]
        if a.dtype != np.dtype(dtype):
            return f"{name} has dtype {a.dtype}, expected {np.dtype(dtype)}"
        if a.ndim != len(shape) or any(want is not None and got != want
                                       for got, want in zip(a.shape, shape)):
            want = "(" + ", ".join("N" if n is None else str(n) for n in shape) + ")"
            return f"{name} has shape {a.shape}, expected {want}"
        if a.size == 0:
            return f"{name} is empty"
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            return f"{name} holds {int((~np.isfinite(a)).sum())} NaN or infinite values"
    return None


def read_array_cache(path: Path, expected: dict) -> dict | None:
    """The arrays of the ``.npz`` cache file ``path``, checked against ``expected``
    (:func:`cache_problem`); None when the file is absent or unusable (unreadable, truncated, of
    another shape or dtype, NaN or infinite values): then one line on stderr names the file and
    why, and the caller rebuilds it (:func:`write_array_cache`)."""
    import sys
    import zipfile
    import zlib

    import numpy as np

    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        problem = cache_problem(arrays, expected)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        problem = f"unreadable ({type(exc).__name__}: {exc})"
    if problem is None:
        return arrays
    print(f"warning: the cache file {path} is unusable ({problem}); rebuilding it",
          file=sys.stderr, flush=True)
    return None


def write_array_cache(path: Path, arrays: dict) -> Path:
    """Write ``arrays`` to the ``.npz`` cache file ``path`` atomically (mode 0666 minus umask)."""
    import numpy as np

    from ..store import atomic_write

    return atomic_write(Path(path), lambda fh: np.savez(fh, **arrays))


@dataclasses.dataclass
class Dataset:
    """A loaded dataset: flat float32 samples, optional integer labels.

    train: (N, D) float32; val: (M, D) float32, the split every metric is computed on;
    test: (T, D) or None, kept for final likelihood reports (binarized MNIST);
    shape: the per-sample image shape, prod(shape) == D (e.g. (1, 16, 16) or (1, 28, 28));
    data_kind: :data:`DataKind.CONTINUOUS` or :data:`DataKind.BINARY` (every value 0 or 1);
    ``is_binary`` is derived from it (read-only; ``Dataset(..., is_binary=True)`` is still
    accepted and sets ``data_kind``);
    *_labels: (N,) int64 or None; knn_sizes: the few-shot pool sizes of PROTOCOL.md;
    provenance: where the data came from (files, images and licences, recipe hash).
    """

    name: str
    train: Tensor
    val: Tensor
    shape: tuple[int, ...]
    data_kind: str = DataKind.CONTINUOUS
    train_labels: Tensor | None = None
    val_labels: Tensor | None = None
    test: Tensor | None = None
    test_labels: Tensor | None = None
    knn_sizes: tuple[int, ...] = ()
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.data_kind, bool):  # a legacy positional is_binary flag
            self.data_kind = DataKind.of_flag(self.data_kind)
        try:
            DataKind.check(self.data_kind, f"dataset {self.name}")
        except ValueError as exc:
            raise DataError(str(exc)) from None

    @property
    def is_binary(self) -> bool:
        """Whether ``data_kind`` is binary (read-only; records and reports keep reading it)."""
        return self.data_kind == DataKind.BINARY

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    @property
    def labelled(self) -> bool:
        return self.val_labels is not None

    def validate(self) -> "Dataset":
        """Raise :class:`DataError` on wrong shapes, dtypes, non-finite or out-of-range values."""
        for split in ("train", "val", "test"):
            x = getattr(self, split)
            if x is None:
                if split != "test":
                    raise DataError(f"{self.name}: the {split} split is missing")
                continue
            if x.ndim != 2 or x.shape[1] != self.dim:
                raise DataError(f"{self.name}: {split} must have shape (N, {self.dim}) for images "
                                f"of shape {self.shape}, got {tuple(x.shape)}")
            if x.dtype != torch.float32:
                raise DataError(f"{self.name}: {split} must be float32, got {x.dtype}")
            if x.shape[0] == 0:
                raise DataError(f"{self.name}: the {split} split is empty")
            if not torch.isfinite(x).all():
                raise DataError(f"{self.name}: {split} has NaN or infinite values")
            if self.is_binary and not ((x == 0) | (x == 1)).all():
                raise DataError(f"{self.name}: {split} is flagged binary but has values other than 0/1")
            labels = getattr(self, f"{split}_labels")
            if labels is not None:
                if labels.ndim != 1 or labels.shape[0] != x.shape[0]:
                    raise DataError(f"{self.name}: {split} has {x.shape[0]} samples but "
                                    f"{tuple(labels.shape)} labels")
                if labels.dtype != torch.int64:
                    raise DataError(f"{self.name}: {split} labels must be int64, got {labels.dtype}")
        return self

    def to(self, device: torch.device | str) -> "Dataset":
        """A copy with every tensor on ``device`` (labels stay on the CPU)."""
        moved = {f: (getattr(self, f).to(device) if getattr(self, f) is not None else None)
                 for f in ("train", "val", "test")}
        return dataclasses.replace(self, **moved)


_dataset_fields_init = Dataset.__init__


@functools.wraps(_dataset_fields_init)
def _dataset_init(self, *args, is_binary: bool | None = None, **kwargs):
    """The dataclass constructor, also accepting the legacy keyword ``is_binary`` (which then
    sets ``data_kind``, also in ``dataclasses.replace(ds, is_binary=...)``)."""
    if is_binary is not None:
        kwargs["data_kind"] = DataKind.of_flag(bool(is_binary))
    _dataset_fields_init(self, *args, **kwargs)


Dataset.__init__ = _dataset_init


@dataclasses.dataclass(frozen=True)
class Availability:
    """Whether a dataset can be loaded here, and where from or why not."""

    ok: bool
    detail: str


class DatasetSource:
    """A registered dataset. Subclasses set the class attributes and implement ``load``.

    name: the CLI name; description: one line; shape: per-sample image shape;
    labelled / data_kind: what the data is (``data_kind``: :data:`DataKind.CONTINUOUS` or
    :data:`DataKind.BINARY`; ``is_binary`` is a read-only property derived from it, and a
    subclass that still sets the legacy class attribute ``is_binary = True`` gets the binary
    kind); knn_sizes: few-shot pool sizes (labelled only); embedded: True when it needs no files
    (built from packages the suite depends on).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    shape: ClassVar[tuple[int, ...]] = ()
    labelled: ClassVar[bool] = False
    data_kind: ClassVar[str] = DataKind.CONTINUOUS
    knn_sizes: ClassVar[tuple[int, ...]] = ()
    embedded: ClassVar[bool] = False
    derived_from: str | None = None
    """The dataset this one is drawn from at load time (e.g. ``digits`` for ``digits-bin``), or
    None; ``prepare`` prepares that one instead."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        legacy = cls.__dict__.get("is_binary")
        if isinstance(legacy, bool):  # the former declaration: translate it to data_kind
            cls.data_kind = DataKind.of_flag(legacy)
            del cls.is_binary

    @property
    def is_binary(self) -> bool:
        """Whether ``data_kind`` is binary (read-only, derived)."""
        return self.data_kind == DataKind.BINARY

    def availability(self, data_dir: Path) -> Availability:
        """Whether ``load`` would succeed with this data folder; embedded sets always can."""
        return Availability(True, "embedded (built from installed packages)")

    def load(self, data_dir: Path, cache_dir: Path) -> Dataset:
        raise NotImplementedError
