"""Plugin registries for methods and datasets, and their discovery.

Every method and dataset, built-in or not, is a plugin registered by a decorator
(:func:`register`, :func:`register_dataset`) when its module is imported. Modules are found
three ways, as benchopt finds solvers:

* **entry points** of the groups ``brainlike_suite.methods`` and ``brainlike_suite.datasets``:
  each names a module (or package) to import. The suite's own built-ins register this way, as
  the packages ``brainlike_suite.methods`` (the checkout's ``methods/`` folder) and
  ``brainlike_suite.datasets`` (``datasets/``), so they need an installed suite
  (``pip install -e .`` in a checkout). A package imports its plugin modules with
  :func:`import_plugin_modules`.
* **extra folders**: ``--plugins DIR`` or the ``BRAINLIKE_SUITE_PLUGINS`` environment variable
  (``os.pathsep``-separated), each holding ``methods/`` and/or ``datasets/`` folders, or plugin
  files directly. Every ``.py`` file and package folder in them (names starting with ``_`` are
  skipped) is imported under a private package of its own folder,
  ``brainlike_plugin_<hash>.<kind>.<file>`` (``<hash>``: 12 hex digits of the SHA-256 of the
  folder's absolute path, the same in every process), so a plugin file named like a built-in
  module, or ``model.py`` in two folders, loads beside the other instead of shadowing it.
* :func:`discover` with ``extra_dirs``.

A plugin that fails to import does not take the suite down: it is recorded as
:class:`Unavailable` (``--list`` shows it with its error), every other plugin still loads, and
asking for a name that is not registered while some plugin failed shows those failures. Two
plugins registering the same *name* are a :class:`~suite.errors.DuplicateRegistrationError`
naming both.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import os
import pkgutil
import re
import sys
import traceback
import types
from importlib import metadata
from pathlib import Path
from typing import Any, Generic, Iterable, TypeVar

from .errors import DuplicateRegistrationError, SuiteError, UnknownNameError

T = TypeVar("T")
PLUGIN_ENV = "BRAINLIKE_SUITE_PLUGINS"
ENTRY_POINT_GROUPS = {"methods": "brainlike_suite.methods", "datasets": "brainlike_suite.datasets"}
BUILTIN_PACKAGES = {"methods": "brainlike_suite.methods", "datasets": "brainlike_suite.datasets"}
EXTRA_PACKAGE_PREFIX = "brainlike_plugin_"
INSTALL_HINT = "pip install -c constraints.txt -e .  (in the checkout)"
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


@dataclasses.dataclass(frozen=True)
class Unavailable:
    """A plugin module that failed to import: its ``kind`` (methods or datasets), the ``name``
    a user would ask for (the entry point's or file's name), where it is (``origin``), and the
    ``error`` (exception type and message; ``details`` holds the traceback)."""

    kind: str
    name: str
    origin: str
    error: str
    details: str = ""

    def describe(self) -> str:
        return f"{self.name} ({self.origin}): {self.error}"


class Registry(Generic[T]):
    """Name -> plugin object, with errors that list the valid names (and the plugins that
    failed to import, which may be the one asked for)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._origin: dict[str, str] = {}

    def add(self, name: str, obj: T, origin: str) -> None:
        if not NAME_PATTERN.match(name or ""):
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
                                   hint=_failure_hint(self.kind, name)) from None

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
_failures: list[Unavailable] = []


def unavailable(kind: str | None = None) -> list[Unavailable]:
    """The plugins that failed to import (of ``kind``: ``methods`` or ``datasets``, or all)."""
    discover()
    return [f for f in _failures if kind is None or f.kind == kind]


def _failure_hint(kind: str, name: str) -> str:
    plural = "methods" if kind == "method" else "datasets"
    failed = [f for f in _failures if f.kind == plural]
    same = [f for f in failed if f.name == name]
    if same:
        return (f"The {kind} plugin {same[0].origin} failed to import: {same[0].error}\n"
                f"{same[0].details}".rstrip())
    hint = "See `python run_suite.py --list`."
    if failed:
        hint += (f" {len(failed)} {plural} plugin(s) failed to import and may define it: "
                 + "; ".join(f.describe() for f in failed))
    return hint


def _record_failure(kind: str, name: str, origin: str, exc: BaseException) -> None:
    entry = Unavailable(kind, name, origin, f"{type(exc).__name__}: {exc}",
                        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    if entry.origin not in {f.origin for f in _failures}:
        _failures.append(entry)


def _origin_of(obj: Any) -> str:
    """``module.qualname`` of a plugin class, with the module's file when it has one (plugin
    module names of extra folders carry a hash, so the file is what a reader recognizes)."""
    module = getattr(obj, "__module__", "?")
    origin = f"{module}.{getattr(obj, '__qualname__', type(obj).__name__)}"
    path = getattr(sys.modules.get(module), "__file__", None)
    return f"{origin} ({path})" if path else origin


def register(cls):
    """Class decorator registering a :class:`suite.method.Method` subclass under ``cls.name``."""
    from .capabilities import DataKind, undeclared_hooks
    from .method import Method

    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise SuiteError(f"@register expects a Method subclass, got {cls!r}")
    if not isinstance(cls.family, str) or not cls.family:
        raise SuiteError(f"method {cls.name!r}: family must be a non-empty label, got {cls.family!r}")
    kinds = cls.data_kinds
    if not isinstance(kinds, (set, frozenset)) or not kinds or not kinds <= DataKind.ALL:
        raise SuiteError(f"method {cls.name!r}: data_kinds must be a non-empty set of "
                         f"{sorted(DataKind.ALL)} (suite.capabilities.DataKind), got {kinds!r}")
    for hook, capability in undeclared_hooks(cls):
        raise SuiteError(f"method {cls.name!r} defines the hook {hook!r} but does not declare the "
                         f"capability suite.capabilities.{capability}: add it to the class's bases "
                         f"(class {cls.__name__}(..., {capability})), or the suite never calls it.")
    unknown = set(cls.smoke_hparams) - set(cls.hparams)
    if unknown:
        raise SuiteError(f"method {cls.name!r}: smoke_hparams names unknown hyperparameters "
                         f"{sorted(unknown)}")
    METHODS.add(cls.name, cls, _origin_of(cls))
    return cls


def register_dataset(source):
    """Decorator (or call) registering a :class:`suite.data.DatasetSource` class or instance."""
    from .data.sources import DatasetSource

    from .capabilities import DataKind

    obj = source() if isinstance(source, type) else source
    if not isinstance(obj, DatasetSource):
        raise SuiteError(f"@register_dataset expects a DatasetSource, got {source!r}")
    try:
        DataKind.check(obj.data_kind, f"dataset {obj.name!r}")
    except ValueError as exc:
        raise SuiteError(f"{exc} (suite.capabilities.DataKind)") from None
    DATASETS.add(obj.name, obj, _origin_of(source) + f"[{obj.name}]")
    return source


# -- discovery ------------------------------------------------------------------------------
_discovered = False
_loaded_dirs: set[Path] = set()


def import_plugin_modules(package: str, path: Iterable[str], kind: str) -> None:
    """Import every plugin module of the package ``package`` whose folders are ``path`` (a
    package's ``__path__``): each ``.py`` file and sub-package, names starting with ``_``
    skipped, in name order. A module that fails to import is recorded as unavailable of
    ``kind`` (``methods`` or ``datasets``, named after its file) instead of stopping the others.
    Call it from a plugin package's ``__init__``:
    ``import_plugin_modules(__name__, __path__, "methods")``."""
    if kind not in ENTRY_POINT_GROUPS:
        raise SuiteError(f"import_plugin_modules: kind must be one of {sorted(ENTRY_POINT_GROUPS)}, "
                         f"got {kind!r}")
    for info in sorted(pkgutil.iter_modules(list(path)), key=lambda m: m.name):
        if info.name.startswith(("_", ".")):
            continue
        try:
            importlib.import_module(f"{package}.{info.name}")
        except DuplicateRegistrationError:
            raise
        except Exception as exc:  # a broken plugin: recorded, shown by --list
            origin = os.path.join(getattr(info.module_finder, "path", "?"), info.name)
            _record_failure(kind, info.name, origin, exc)


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


def plugin_package(folder: Path, kind: str) -> str:
    """The private package name the plugin modules of the extra ``folder`` (of ``kind``: methods
    or datasets) are imported under: ``brainlike_plugin_<hash>.<kind>``, ``<hash>`` the first 12
    hex digits of the SHA-256 of the folder's resolved absolute path."""
    folder = Path(folder).resolve()
    digest = hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{EXTRA_PACKAGE_PREFIX}{digest}.{kind}"


def load_plugin_folder(folder: Path, kind: str) -> None:
    """Import every plugin module of the extra ``folder`` as ``<package>.<module>``, the package
    from :func:`plugin_package` (one per folder, so no folder shadows another's modules)."""
    folder = Path(folder).resolve()
    if folder in _loaded_dirs or not folder.is_dir():
        return
    pkg = plugin_package(folder, kind)
    _package(pkg.split(".")[0])
    _package(pkg, [str(folder)])
    _loaded_dirs.add(folder)
    import_plugin_modules(pkg, [str(folder)], kind)


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
    found = set()
    for kind, group in ENTRY_POINT_GROUPS.items():
        for ep in metadata.entry_points(group=group):
            found.add(ep.value)
            try:
                ep.load()
            except DuplicateRegistrationError:
                raise
            except Exception as exc:
                _record_failure(kind, ep.name, f"entry point {ep.name!r} ({ep.value}) of group {group}",
                                exc)
    missing = set(BUILTIN_PACKAGES.values()) - found
    if missing:
        raise SuiteError(
            f"the suite's built-in plugins ({', '.join(sorted(missing))}) are not registered: "
            f"they register through the package's entry points, so the suite must be installed. "
            f"Install it: {INSTALL_HINT}")


def discover(extra_dirs: Iterable[str | Path] = ()) -> None:
    """Import every plugin once (entry points, including the built-ins, then extra folders)."""
    global _discovered
    extra = [Path(d) for d in extra_dirs]
    if not _discovered:
        _discovered = True
        try:
            _load_entry_points()
            for d in _extra_dirs_from_env():
                _load_extra_dir(d)
        except Exception:
            _discovered = False
            raise
    for d in extra:
        _load_extra_dir(d)


@contextlib.contextmanager
def isolated():
    """Within the block, registrations, import failures and loaded plugin folders are the
    block's own: everything registered or loaded inside is forgotten when it ends (tests and the
    ``check`` command load plugin folders without leaving them registered)."""
    discover()
    saved = [(reg, dict(reg._items), dict(reg._origin)) for reg in (METHODS, DATASETS)]
    failures, dirs = list(_failures), set(_loaded_dirs)
    try:
        yield
    finally:
        for reg, items, origin in saved:
            reg._items.clear(), reg._items.update(items)
            reg._origin.clear(), reg._origin.update(origin)
        _failures[:] = failures
        _loaded_dirs.clear(), _loaded_dirs.update(dirs)


def create_method(name: str, data_shape, n_latents: int, device="cpu", seed: int = 0, **hparams):
    """Build the registered method ``name`` (see :class:`suite.method.Method`)."""
    cls = METHODS.get(name)
    return cls(data_shape, n_latents, device=device, seed=seed, **hparams)
