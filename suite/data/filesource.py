"""Datasets read from files in the data folder: where they are looked for, and how to get them.

A :class:`FileDatasetSource` lists its accepted :class:`Layout` s (a folder under the data folder
and the files it must hold). :meth:`FileDatasetSource.locate` returns the first complete one;
when none is, it raises :class:`DataMissingError` naming the dataset, the files expected, the
folders searched (and what was found there) and the exact ``prepare`` commands that get or
build the files. The hooks of ``python run_suite.py prepare`` (:mod:`suite.data.prepare`) live here
too: :attr:`remote_files` + :meth:`after_download` for ``--download``, :meth:`build` for
``--from DIR``.
"""
from __future__ import annotations

import dataclasses
import shlex
import shutil
from pathlib import Path
from typing import ClassVar

from .sources import DATA_DIR_ENV, Availability, Dataset, DatasetSource, resolve_data_dir
from .download import RemoteFile, fetch
from ..errors import DataError, DataMissingError
from ..progress import ProgressFactory, null_progress
from ..store import atomic_write


@dataclasses.dataclass(frozen=True)
class Layout:
    """One accepted way of storing a dataset: ``files`` in ``folder``.

    kind: what the loader reads (e.g. ``"idx"``, ``"npy"``); description: for messages;
    files: one entry per required file, each the tuple of its accepted names in order of
    preference (e.g. ``("x.gz", "x")``, shown as ``x[.gz]``).
    """

    kind: str
    description: str
    folder: Path
    files: tuple[tuple[str, ...], ...]

    def resolve(self) -> list[Path] | None:
        """The path of every required file (first accepted name present), or None if any is missing."""
        paths = [next((self.folder / n for n in names if (self.folder / n).is_file()), None)
                 for names in self.files]
        return None if any(p is None for p in paths) else paths

    def present(self) -> list[str]:
        return [n for names in self.files for n in names if (self.folder / n).is_file()]

    def expected(self) -> str:
        """The required files, alternatives compacted: ``("x.gz", "x")`` -> ``x[.gz]``."""
        return ", ".join(_compact(names) for names in self.files)


def _compact(names: tuple[str, ...]) -> str:
    base = min(names, key=len)
    if len(names) > 1 and all(n.startswith(base) for n in names):
        return base + "[" + "|".join(n[len(base):] for n in names if n != base) + "]"
    return " or ".join(names)


def prepare_command(name: str, data_dir: Path, flag: str) -> str:
    """``python run_suite.py prepare NAME FLAG``, with ``--data-dir`` unless it is the default."""
    cmd = f"python run_suite.py prepare {shlex.quote(name)} {flag}"
    if Path(data_dir) != resolve_data_dir(None):
        cmd += f" --data-dir {shlex.quote(str(data_dir))}"
    return cmd


class FileDatasetSource(DatasetSource):
    """A :class:`DatasetSource` whose files live in the data folder.

    Subclasses implement :meth:`layouts` and :meth:`read` (``load`` = locate + read), and
    optionally the ``prepare`` hooks: :attr:`remote_files` (downloaded into
    :meth:`download_folder`), :meth:`after_download`, and :meth:`build` with :attr:`from_hint`
    saying what ``--from DIR`` must hold.
    """

    remote_files: ClassVar[tuple[RemoteFile, ...]] = ()
    download_subdir: ClassVar[str] = ""
    from_hint: ClassVar[str] = ""

    # -- files ------------------------------------------------------------------------------
    def layouts(self, data_dir: Path) -> list[Layout]:
        raise NotImplementedError

    def read(self, layout: Layout, paths: list[Path]) -> Dataset:
        raise NotImplementedError

    def locate(self, data_dir: Path) -> tuple[Layout, list[Path]]:
        """The first complete layout and its files; :class:`DataMissingError` when none is."""
        layouts = self.layouts(Path(data_dir))
        for layout in layouts:
            paths = layout.resolve()
            if paths is not None:
                return layout, paths
        raise DataMissingError(self.missing_message(Path(data_dir), layouts))

    def load(self, data_dir: Path, cache_dir: Path) -> Dataset:
        layout, paths = self.locate(data_dir)
        return self.read(layout, paths)

    def availability(self, data_dir: Path) -> Availability:
        try:
            layout, paths = self.locate(data_dir)
        except DataMissingError:
            layouts = self.layouts(Path(data_dir))
            where = "; or ".join(f"{l.expected()} in {l.folder}" for l in layouts)
            return Availability(False, f"missing (expected {where}); get it with: "
                                       + " or ".join(self.prepare_commands(Path(data_dir))))
        return Availability(True, f"{layout.description} in {layout.folder}: "
                                  + ", ".join(p.relative_to(layout.folder).as_posix() for p in paths))

    # -- messages ---------------------------------------------------------------------------
    def prepare_commands(self, data_dir: Path) -> list[str]:
        cmds = []
        if self.remote_files:
            cmds.append(prepare_command(self.name, data_dir, "--download"))
        if self.from_hint:
            cmds.append(prepare_command(self.name, data_dir, "--from DIR") + f"   (DIR: {self.from_hint})")
        return cmds

    def missing_message(self, data_dir: Path, layouts: list[Layout]) -> str:
        lines = [f"dataset {self.name!r} was not found in the data folder {data_dir}.",
                 "Expected one of:"]
        groups: dict[tuple[str, str], list[Layout]] = {}
        for layout in layouts:
            groups.setdefault((layout.description, layout.expected()), []).append(layout)
        for (description, expected), group in groups.items():
            lines.append(f"  - {description}: {expected}, all in" + (":" if len(group) == 1 else " one of:"))
            for layout in group:
                found = layout.present()
                lines.append(f"      {layout.folder}" + (f"  (found only: {', '.join(found)})" if found else ""))
        lines.append("Folders searched: " + ", ".join(dict.fromkeys(str(l.folder) for l in layouts)))
        cmds = self.prepare_commands(data_dir)
        if cmds:
            lines.append("To get it, run: " + "\n            or: ".join(cmds))
        lines.append(f"To read from another folder, pass --data-dir DIR or set ${DATA_DIR_ENV}.")
        return "\n".join(lines)

    # -- prepare hooks ----------------------------------------------------------------------
    def download_folder(self, data_dir: Path) -> Path:
        return Path(data_dir) / self.download_subdir

    def download(self, data_dir: Path, seed: int = 0, *,
                 progress: ProgressFactory = null_progress) -> list[Path]:
        """Fetch :attr:`remote_files` (checksums verified), then :meth:`after_download`."""
        if not self.remote_files:
            raise DataError(f"dataset {self.name!r} has no published download. "
                            + (f"Build it with: {prepare_command(self.name, data_dir, '--from DIR')} "
                               f"(DIR: {self.from_hint})" if self.from_hint else ""))
        folder = self.download_folder(data_dir)
        fetched = [fetch(r, folder, progress=progress) for r in self.remote_files]
        return fetched + self.after_download(Path(data_dir), fetched, seed, progress=progress)

    def after_download(self, data_dir: Path, fetched: list[Path], seed: int, *,
                       progress: ProgressFactory = null_progress) -> list[Path]:
        """What to do with the downloaded files (e.g. build patches from an archive)."""
        return []

    def install_checked(self, from_dir: Path, data_dir: Path, layout_kind: str,
                        files: tuple[tuple[str, ...], ...], what: str) -> list[Path]:
        """``--from`` for files that need no building: find ``files`` in ``from_dir``, read them
        with :meth:`read` (every integrity check runs), then copy each, atomically, into
        :meth:`download_folder`. Returns the installed paths."""
        layout = Layout(layout_kind, what, Path(from_dir), files)
        paths = layout.resolve()
        if paths is None:
            found = layout.present()
            raise DataError(f"--from {from_dir}: expected {what}: {layout.expected()}"
                            + (f" (found only: {', '.join(found)})" if found else ""))
        self.read(layout, paths)
        installed = []
        for src in paths:
            dst = self.download_folder(data_dir) / src.name
            if not (dst.exists() and dst.samefile(src)):
                with open(src, "rb") as fh_in:
                    atomic_write(dst, lambda fh: shutil.copyfileobj(fh_in, fh))
            installed.append(dst)
        return installed

    def build(self, from_dir: Path, data_dir: Path, seed: int = 0, *,
              progress: ProgressFactory = null_progress) -> list[Path]:
        """Build or install the dataset's files from ``from_dir``; return the files written."""
        raise DataError(f"dataset {self.name!r} cannot be built from a folder (--from); "
                        + ("use --download" if self.remote_files else "see docs/DATA.md"))
