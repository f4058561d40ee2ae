"""Plugin registries for methods and datasets, and their discovery.

Plugins are found the way benchopt finds solvers: every module in the repository's
``methods/`` and ``datasets/`` folders (a ``.py`` file, or a package folder with an
``__init__.py``; names starting with ``_`` are skipped) is imported, and its decorators
register its classes. Third-party packages register through the entry-point groups
``brainlike_suite.methods`` and ``brainlike_suite.datasets`` (the entry point names a module to
import), and extra folders can be given with the ``BRAINLIKE_SUITE_PLUGINS`` environment
variable (``os.pathsep``-separated folders holding ``methods/`` and/or ``datasets/`` or plugin
files directly) or ``discover(extra_dirs=...)``.

Plugin modules are imported under private package names, so the folder names never shadow
other installed packages (such as Hugging Face's ``datasets``): the repository's own folders as
``suite_plugins.methods.<file>`` and ``suite_plugins.datasets.<file>`` (names other code imports,
e.g. ``suite_plugins.methods.sparse_coding``), every extra folder under a package of its own,
``suite_plugins.ext_<hash>.<kind>.<file>``, ``<hash>`` derived from the folder's absolute path
(the same in every process, so workers import the same names). A plugin file named like a
built-in one (``sparse_coding.py``), or ``model.py`` in two extra folders, therefore loads beside
the other instead of being shadowed by it; two plugins registering the same *name* are still a
:class:`~suite.errors.DuplicateRegistrationError`, which names both files.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import re
import sys
import types
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, TypeVar

from .errors import DuplicateRegistrationError, SuiteError, UnknownNameError

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGIN_ENV = "BRAINLIKE_SUITE_PLUGINS"
ENTRY_POINT_GROUPS = {"methods": "brainlike_suite.methods", "datasets": "brainlike_suite.datasets"}
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


class Registry(Generic[T]):
    """Name -> plugin object, with errors that list the valid names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._origin: dict[str, str] = {}

    def add(self, name: str, obj: T, origin: str) -> None:
        if not _NAME_RE.match(name or ""):
            raise SuiteError(f"{self.kind} name {name!r} (from {origin}) must start with a letter "
                             "and contain only letters, digits, '_' and '-'.")
        if name in self._items:
            if self._origin[name] == origin:  # the same definition imported again
                self._items[name] = obj
                return
            raise DuplicateRegistrationError(
                f"{self.kind} {name!r} is registered twice: by {self._origin[name]} and by "
                f"{origin}. Rename one of them.")
        self._items[name] = obj
        self._origin[name] = origin

    def get(self, name: str) -> T:
        discover()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items,
                                   hint="See `python run_suite.py --list`.") from None

    def names(self) -> list[str]:
        discover()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        discover()
        return sorted(self._items.items())

    def origin(self, name: str) -> str:
        return self._origin[name]


METHODS: Registry = Registry("method")
DATASETS: Registry = Registry("dataset")


def _origin_of(obj: Any) -> str:
    """``module.qualname`` of a plugin class, with the module's file when it has one (plugin
    module names of extra folders carry a hash, so the file is what a reader recognizes)."""
    module = getattr(obj, "__module__", "?")
    origin = f"{module}.{getattr(obj, '__qualname__', type(obj).__name__)}"
    path = getattr(sys.modules.get(module), "__file__", None)
    return f"{origin} ({path})" if path else origin


def register(cls):
    """Class decorator registering a :class:`suite.method.Method` subclass under ``cls.name``."""
    from .method import FAMILIES, Method

    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise SuiteError(f"@register expects a Method subclass, got {cls!r}")
    if cls.family not in FAMILIES:
        raise SuiteError(f"method {cls.name!r}: family must be one of {FAMILIES}, got {cls.family!r}")
    unknown = set(cls.smoke_hparams) - set(cls.hparams)
    if unknown:
        raise SuiteError(f"method {cls.name!r}: smoke_hparams names unknown hyperparameters "
                         f"{sorted(unknown)}")
    METHODS.add(cls.name, cls, _origin_of(cls))
    return cls


def register_dataset(source):
    """Decorator (or call) registering a :class:`suite.data.DatasetSource` class or instance."""
    from .data import DatasetSource

    obj = source() if isinstance(source, type) else source
    if not isinstance(obj, DatasetSource):
        raise SuiteError(f"@register_dataset expects a DatasetSource, got {source!r}")
    DATASETS.add(obj.name, obj, _origin_of(source) + f"[{obj.name}]")
    return source


# -- discovery ------------------------------------------------------------------------------
_discovered = False
_loaded_dirs: set[Path] = set()


def _package(name: str, path: list[str] | None = None) -> types.ModuleType:
    mod = sys.modules.get(name)
    if mod is None:
        mod = types.ModuleType(name)
        mod.__path__ = []  # type: ignore[attr-defined]
        sys.modules[name] = mod
    if path:
        for p in path:
            if p not in mod.__path__:
                mod.__path__.append(p)
    return mod


def _plugin_modules(folder: Path) -> Iterable[str]:
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        if entry.is_file() and entry.suffix == ".py":
            yield entry.stem
        elif entry.is_dir() and (entry / "__init__.py").exists():
            yield entry.name


def plugin_package(folder: Path, kind: str) -> str:
    """The package name the plugin modules of ``folder`` (of ``kind``: methods or datasets) are
    imported under: ``suite_plugins.<kind>`` for the repository's own ``methods/`` and
    ``datasets/``, ``suite_plugins.ext_<hash>.<kind>`` for any other folder, ``<hash>`` the first
    12 hex digits of the SHA-256 of its resolved absolute path."""
    folder = Path(folder).resolve()
    if folder == (REPO_ROOT / kind).resolve():
        return f"suite_plugins.{kind}"
    digest = hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"suite_plugins.ext_{digest}.{kind}"


def load_plugin_folder(folder: Path, kind: str) -> None:
    """Import every plugin module of ``folder`` as ``<package>.<module>``, the package from
    :func:`plugin_package` (one per folder, so no folder shadows another's modules)."""
    folder = Path(folder).resolve()
    if folder in _loaded_dirs or not folder.is_dir():
        return
    pkg = plugin_package(folder, kind)
    parts = pkg.split(".")
    for i in range(1, len(parts)):
        _package(".".join(parts[:i]))
    _package(pkg, [str(folder)])
    _loaded_dirs.add(folder)
    for mod in _plugin_modules(folder):
        try:
            importlib.import_module(f"{pkg}.{mod}")
        except SuiteError:
            raise
        except Exception as exc:  # a broken plugin: say which file and why
            raise SuiteError(f"could not import {kind} plugin {folder / mod}: "
                             f"{type(exc).__name__}: {exc}") from exc


def _extra_dirs_from_env() -> list[Path]:
    raw = os.environ.get(PLUGIN_ENV, "")
    return [Path(p) for p in raw.split(os.pathsep) if p.strip()]


def _load_extra_dir(d: Path) -> None:
    d = Path(d)
    if not d.is_dir():
        raise SuiteError(f"plugin folder {d} (from {PLUGIN_ENV} or --plugins) does not exist.")
    has_sub = False
    for kind in ("methods", "datasets"):
        if (d / kind).is_dir():
            load_plugin_folder(d / kind, kind)
            has_sub = True
    if not has_sub:  # plugin files directly in the folder
        load_plugin_folder(d, "methods")


def _load_entry_points() -> None:
    for kind, group in ENTRY_POINT_GROUPS.items():
        for ep in metadata.entry_points(group=group):
            try:
                ep.load()
            except Exception as exc:
                raise SuiteError(f"could not load {kind} plugin entry point {ep.name!r} "
                                 f"({ep.value}) of group {group}: {type(exc).__name__}: {exc}") from exc


def discover(extra_dirs: Iterable[str | Path] = ()) -> None:
    """Import every plugin once (the built-in folders, entry points, extra folders)."""
    global _discovered
    extra = [Path(d) for d in extra_dirs]
    if not _discovered:
        _discovered = True
        try:
            load_plugin_folder(REPO_ROOT / "datasets", "datasets")
            load_plugin_folder(REPO_ROOT / "methods", "methods")
            _load_entry_points()
            for d in _extra_dirs_from_env():
                _load_extra_dir(d)
        except Exception:
            _discovered = False
            raise
    for d in extra:
        _load_extra_dir(d)


def create_method(name: str, data_shape, n_latents: int, device="cpu", seed: int = 0, **hparams):
    """Build the registered method ``name`` (see :class:`suite.method.Method`)."""
    cls = METHODS.get(name)
    return cls(data_shape, n_latents, device=device, seed=seed, **hparams)
