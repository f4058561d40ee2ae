"""The result store: plain files that pandas reads, written atomically, validated when read.

Layout under the output folder ``out``::

    out/runs/<key>.json        one record per finished run (the commit marker: written last)
    out/runs/<key>.npz         per-unit arrays (unit_kl, unit_active_frac, ...; dictionary)
    out/runs/<key>.pt          checkpoint: the method's state_dict
    out/failures/<key>.json    the last failure of a run (error + traceback); removed on success

Every file is written to a temporary name in the same folder and renamed into place, so a killed
process never leaves a half-written record; the JSON record is written after its arrays and
checkpoint and holds their size and SHA-256 (``checksums``). Files get the mode that ``open``
would give them (0666 minus the umask), so colleagues can read a shared store.

A run is finished exactly when ``runs/<key>.json`` is an intact record of run ``key`` whose
arrays and checkpoint are intact (:meth:`Store.has`). A *damaged* run (a truncated or garbled
record, ``.npz`` or ``.pt``; records written before checksums are checked structurally: JSON,
zip CRCs) counts as not done: it is named on stderr (once per file and process), left out of
:meth:`Store.records`, and redone by the next run of its grid, which overwrites its files. A
command that needs a damaged file raises :class:`DamagedRunError`, naming the file. A file that
cannot be read at all (permission denied) is an error (:class:`StoreReadError`), never a skip.

Metrics that are NaN or infinite are stored as ``null`` (JSON has no NaN) and listed, by name,
in the record's ``nonfinite_metrics`` (``"nan"``, ``"inf"`` or ``"-inf"``), so that reports show
them apart from metrics that do not apply to a method (``null`` and not listed).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import SuiteError

RUNS, FAILURES = "runs", "failures"


class DamagedRunError(SuiteError):
    """A stored run whose record, arrays or checkpoint is damaged (truncated, garbled, missing).

    The run counts as not done and is redone by the next run of its grid; ``path`` is the
    damaged file, ``key`` the run and ``reason`` what is wrong with the file."""

    def __init__(self, path: Path, key: str, reason: str):
        self.path, self.key, self.reason = Path(path), key, reason
        super().__init__(damage_message(path, key, reason))


class StoreReadError(SuiteError):
    """A store file that exists but cannot be read (e.g. permission denied)."""


def damage_message(path: Path, key: str, reason: str) -> str:
    return (f"damaged run store file {path}: {reason}. Run {key} is treated as not finished and "
            "will be redone the next time its grid runs (the same `run_suite.py` command).")


def unreadable_message(path: Path, exc: OSError, what: str = "file") -> str:
    """``what`` (file or folder) ``path`` of a store cannot be read; how to fix a permission."""
    why = exc.strerror or type(exc).__name__
    hint = (f" Ask the store's owner to make it readable (e.g. `chmod a+r{'x' if what == 'folder' else ''} "
            f"{path}`, or `chmod -R a+rX` on the whole store), or pass --out to use another store."
            if isinstance(exc, PermissionError) else "")
    return f"cannot read the run store {what} {path}: {why}.{hint}"


_warned: set[str] = set()
_warn_lock = threading.Lock()


def _warn_damaged(path: Path, key: str, reason: str) -> None:
    """Name a damaged file on stderr, once per file, reason and process."""
    token = f"{path}\0{reason}"
    with _warn_lock:
        if token in _warned:
            return
        _warned.add(token)
    print(f"warning: {damage_message(path, key, reason)}", file=sys.stderr, flush=True)


# -- file modes --------------------------------------------------------------------------------
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, without changing it)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0666 minus the umask."""
    return 0o666 & ~current_umask()


def default_dir_mode() -> int:
    """The mode ``mkdir`` gives a new folder: 0777 minus the umask."""
    return 0o777 & ~current_umask()


def atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write ``path`` through ``write(fh)`` into a temporary file of the same folder, fsync, then
    rename it into place: readers see the old file or the whole new one, never a partial one.
    The file gets the mode of a plain ``open``: 0666 minus the umask (not mkstemp's 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, default_file_mode())
        except OSError:  # a file system without modes: keep what it gives
            pass
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _jsonable(obj: Any) -> Any:
    """Convert numpy/torch scalars and arrays, tuples and paths to JSON types; NaN -> None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def nonfinite_marker(value: Any) -> str | None:
    """"nan", "inf" or "-inf" for a non-finite number (Python, numpy or 0-d torch), else None."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def write_json(path: Path, data: dict) -> Path:
    text = json.dumps(_jsonable(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write(Path(path), lambda fh: fh.write(text.encode()))


# -- validation ----------------------------------------------------------------------------------
def file_digest(path: Path) -> dict:
    """``{"bytes": size, "sha256": hex digest}`` of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return {"bytes": size, "sha256": h.hexdigest()}


_verified: dict[tuple, str | None] = {}
"""File checks already done in this process: (path, inode, size, mtime, expected) -> reason."""


def _check_file(path: Path, expected: dict | None) -> str | None:
    """Why the stored file ``path`` is damaged, or None when it is intact.

    With ``expected`` (size and SHA-256 from the record): both must match. Without (records
    written before checksums): ``.npz`` and zip-format ``.pt`` files must pass their CRCs; a
    ``.pt`` in torch's legacy format must load with ``weights_only=True``.
    Raises :class:`StoreReadError` when the file cannot be read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "the file is missing"
    except OSError as exc:
        raise StoreReadError(unreadable_message(path, exc)) from None
    token = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, json.dumps(expected, sort_keys=True))
    if token in _verified:
        return _verified[token]
    try:
        reason = _damage_of(path, st.st_size, expected)
    except OSError as exc:
        raise StoreReadError(unreadable_message(path, exc)) from None
    _verified[token] = reason
    return reason


def _damage_of(path: Path, size: int, expected: dict | None) -> str | None:
    if isinstance(expected, dict) and "sha256" in expected:
        if "bytes" in expected and size != expected["bytes"]:
            what = "truncated" if size < expected["bytes"] else "longer than written"
            return f"{what}: {size} bytes, the record says {expected['bytes']}"
        if file_digest(path)["sha256"] != expected["sha256"]:
            return "its content changed since it was written (SHA-256 mismatch: garbled)"
        return None
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
            return f"not a readable archive ({type(exc).__name__})"
        except OSError as exc:
            if isinstance(exc, PermissionError):
                raise
            return f"not a readable archive ({type(exc).__name__})"
        return None if bad is None else f"member {bad!r} fails its CRC check (garbled)"
    if path.suffix == ".pt":  # torch's legacy (non-zip) format: try a safe load
        try:
            _torch_load(path, "cpu")
        except PermissionError:
            raise
        except Exception as exc:  # noqa: BLE001  (any unpickling failure means damaged)
            return f"not a readable checkpoint ({type(exc).__name__})"
        return None
    return "truncated or not a zip archive"


def _torch_load(path: Path, map_location):
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)


def _record_problem(path: Path, rec: Any) -> str | None:
    """Why the parsed JSON ``rec`` is not a record of the run named by ``path``, or None."""
    if not isinstance(rec, dict):
        return f"not a run record (a JSON {type(rec).__name__}, not an object)"
    if rec.get("key") != path.stem:
        return f"not the record of run {path.stem} (its key is {rec.get('key')!r})"
    if not isinstance(rec.get("spec"), dict):
        return "not a run record (no spec)"
    return None


def _read_json(path: Path) -> tuple[Any, str | None]:
    """``(data, None)``, or ``(None, reason)`` when the file is missing, truncated or not JSON.
    Raises :class:`StoreReadError` when it cannot be read."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, "the file is missing"
    except OSError as exc:
        raise StoreReadError(unreadable_message(path, exc)) from None
    try:
        return json.loads(raw.decode("utf-8")), None
    except UnicodeDecodeError:
        return None, "not UTF-8 text (garbled)"
    except json.JSONDecodeError as exc:
        what = "truncated" if exc.pos >= len(raw.rstrip()) else "not valid JSON"
        return None, f"{what} ({exc.msg} at line {exc.lineno}, column {exc.colno})"


class Store:
    """Read and write run records under one output folder."""

    def __init__(self, out: str | Path):
        self.root = Path(out)
        self.runs = self.root / RUNS
        self.failures = self.root / FAILURES

    # -- queries ---------------------------------------------------------------------------
    def record_path(self, key: str) -> Path:
        return self.runs / f"{key}.json"

    def has(self, key: str) -> bool:
        """Whether run ``key`` is finished: its record and the files it lists are intact (a
        damaged run is named on stderr and counts as not done). Raises :class:`StoreReadError`
        when a file of the run cannot be read."""
        path = self.record_path(key)
        if not path.exists():
            return False
        _, damage = self._validated(path)
        if damage is not None:
            _warn_damaged(damage.path, damage.key, damage.reason)
            return False
        return True

    def damage(self, key: str) -> DamagedRunError | None:
        """What is wrong with stored run ``key`` (its first damaged file), or None when it is
        intact or absent."""
        path = self.record_path(key)
        return self._validated(path)[1] if path.exists() else None

    def failed(self, key: str) -> bool:
        return (self.failures / f"{key}.json").exists()

    def status(self, key: str) -> str:
        """``done``, ``failed`` (last attempt failed; it will be retried) or ``todo`` (never
        run, or damaged: it will be redone)."""
        if self.has(key):
            return "done"
        return "failed" if self.failed(key) else "todo"

    def scan(self) -> tuple[list[dict], list[DamagedRunError]]:
        """``(records, damaged)``: every intact finished record (sorted by key) and every
        damaged run, each named on stderr. Raises :class:`StoreReadError` for an unreadable
        file."""
        records, damaged = [], []
        for path in _json_files(self.runs):
            rec, damage = self._validated(path)
            if damage is None:
                records.append(rec)
            else:
                _warn_damaged(damage.path, damage.key, damage.reason)
                damaged.append(damage)
        return records, damaged

    def records(self) -> list[dict]:
        """Every intact finished record, sorted by key (damaged runs are named on stderr)."""
        return self.scan()[0]

    def damaged(self) -> list[DamagedRunError]:
        """Every damaged run of the store (see :meth:`scan`)."""
        return self.scan()[1]

    def failure_records(self) -> list[dict]:
        """The failure records (a damaged one is named on stderr and left out)."""
        out = []
        for path in _json_files(self.failures):
            rec, reason = _read_json(path)
            if reason is None and not isinstance(rec, dict):
                reason = "not a failure record"
            if reason is not None:
                print(f"warning: damaged failure record {path} ({reason}); ignored",
                      file=sys.stderr, flush=True)
                continue
            out.append(rec)
        return out

    def failure(self, key: str) -> dict | None:
        """The last failure record of run ``key``, or None (none, or unreadable)."""
        try:
            return json.loads((self.failures / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None

    def record(self, key: str) -> dict:
        """The record of finished run ``key`` (or of the run whose key starts with ``key``);
        :class:`SuiteError` when there is none, :class:`DamagedRunError` when it is damaged."""
        path = self.record_path(key)
        if not path.exists():
            known = sorted(p.stem for p in self.runs.glob("*.json"))
            close = [k for k in known if k.startswith(key)]
            if len(close) == 1:  # a unique key prefix is enough
                return self.record(close[0])
            raise SuiteError(f"no finished run {key!r} in {self.runs}. "
                             f"{len(known)} runs are stored; list them with `python run_suite.py report`.")
        rec, damage = self._validated(path)
        if damage is not None:
            raise damage
        return rec

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The per-unit arrays stored with run ``key``; {} when it stored none;
        :class:`DamagedRunError` when the file is damaged."""
        path = self.runs / f"{key}.npz"
        if not path.exists():
            return {}
        expected = None
        rec, reason = _read_json(self.record_path(key))
        if reason is None and isinstance(rec, dict):
            expected = (rec.get("checksums") or {}).get(path.name)
        reason = _check_file(path, expected)
        if reason is None:
            try:
                with np.load(path, allow_pickle=False) as z:
                    return {k: z[k] for k in z.files}
            except PermissionError as exc:
                raise StoreReadError(unreadable_message(path, exc)) from None
            except Exception as exc:  # noqa: BLE001  (zip, zlib, format errors: damaged)
                reason = f"not a readable .npz archive ({type(exc).__name__})"
        raise DamagedRunError(path, key, reason)

    def checkpoint_path(self, key: str) -> Path:
        return self.runs / f"{key}.pt"

    def load_checkpoint(self, key: str, map_location: Any = "cpu") -> Any:
        """The checkpoint of run ``key``, checked against its record then loaded with
        ``weights_only=True``; :class:`DamagedRunError` when it is damaged, :class:`SuiteError`
        when the run has none."""
        rec = self.record(key)  # validates the record and every file it lists
        key = rec["key"]
        path = self.checkpoint_path(key)
        if not path.exists():
            raise SuiteError(f"run {key} has no checkpoint ({path} is missing).")
        reason = _check_file(path, (rec.get("checksums") or {}).get(path.name))
        if reason is None:
            try:
                return _torch_load(path, map_location)
            except PermissionError as exc:
                raise StoreReadError(unreadable_message(path, exc)) from None
            except Exception as exc:  # noqa: BLE001  (never surface torch's unsafe advice)
                reason = f"not a readable checkpoint ({type(exc).__name__})"
        raise DamagedRunError(path, key, reason)

    def _validated(self, path: Path) -> tuple[dict | None, DamagedRunError | None]:
        """``(record, None)`` for an intact run, ``(None, damage)`` otherwise."""
        key = path.stem
        rec, reason = _read_json(path)
        if reason is None:
            reason = _record_problem(path, rec)
        if reason is not None:
            return None, DamagedRunError(path, key, reason)
        checksums = rec.get("checksums") or {}
        for name in _listed_files(rec, self.runs, key):
            fpath = self.runs / name
            reason = _check_file(fpath, checksums.get(name) if isinstance(checksums, dict) else None)
            if reason is not None:
                return None, DamagedRunError(fpath, key, reason)
        return rec, None

    # -- writes ----------------------------------------------------------------------------
    def write_result(self, record: dict, arrays: dict[str, np.ndarray] | None = None,
                     checkpoint: dict | None = None) -> Path:
        """Write arrays, checkpoint, then the record (the commit marker, with the size and
        SHA-256 of both files and the names of its non-finite metrics); clear any failure."""
        key = record["key"]
        files = {"arrays": None, "checkpoint": None}
        checksums = {}
        if arrays:
            def dump_npz(fh):
                np.savez_compressed(fh, **{k: np.asarray(v) for k, v in arrays.items()})
            path = atomic_write(self.runs / f"{key}.npz", dump_npz)
            files["arrays"] = path.name
            checksums[path.name] = file_digest(path)
        if checkpoint is not None:
            import torch

            path = atomic_write(self.checkpoint_path(key), lambda fh: torch.save(checkpoint, fh))
            files["checkpoint"] = path.name
            checksums[path.name] = file_digest(path)
        nonfinite = {name: m for name, v in (record.get("metrics") or {}).items()
                     if (m := nonfinite_marker(v)) is not None}
        record = dict(record, files=files, checksums=checksums)
        if nonfinite:
            record["nonfinite_metrics"] = nonfinite
        path = write_json(self.record_path(key), record)
        fail = self.failures / f"{key}.json"
        if fail.exists():
            fail.unlink()
        return path

    def write_failure(self, record: dict) -> Path:
        return write_json(self.failures / f"{record['key']}.json", record)

    def update_record(self, key: str, **sections: Any) -> Path:
        """Add or replace top-level sections of a finished record (e.g. a later analysis)."""
        record = self.record(key)
        record.update(sections)
        return write_json(self.record_path(record["key"]), record)


def _json_files(folder: Path) -> list[Path]:
    """The ``*.json`` files of ``folder``, sorted (none when it does not exist);
    :class:`StoreReadError` when it cannot be listed (never an empty store by mistake)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreReadError(unreadable_message(folder, exc, "folder")) from None
    return [folder / n for n in sorted(names) if n.endswith(".json") and not n.startswith(".")]


def _listed_files(rec: dict, runs: Path, key: str) -> list[str]:
    """The arrays and checkpoint file names a record lists (``files``); for a record without
    that section (hand-written), the run's ``.npz`` and ``.pt`` found beside it."""
    files = rec.get("files")
    if not isinstance(files, dict):
        return [n for n in (f"{key}.npz", f"{key}.pt") if (runs / n).exists()]
    names = [files.get("arrays"), files.get("checkpoint")]
    return [n for n in names if isinstance(n, str) and n and Path(n).name == n
            and n not in (".", "..")]


def load_records(out: str | Path) -> list[dict]:
    """Every intact finished run record under ``out`` (sorted by key)."""
    return Store(out).records()
