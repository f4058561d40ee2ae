"""Checked downloads: stream to a temporary file, verify its SHA-256, then rename into place.

Only ``python run_suite.py prepare NAME --download`` calls :func:`fetch`; nothing else in the
suite touches the network. A file is written under its final name only after its checksum
matched, so an interrupted or corrupted transfer never leaves a partial file that a loader
could mistake for the real one (the temporary file is deleted on every failure).
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.client
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from ..errors import DataError
from ..progress import ProgressFactory, null_progress
from ..store import atomic_write

CHUNK_BYTES = 1 << 20
USER_AGENT = "brainlike-suite (python urllib)"


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """A published file: its name on disk, its SHA-256 (hex), the URLs to try in order.

    size: its length in bytes where published (only shown in progress bars).
    """

    filename: str
    sha256: str
    urls: tuple[str, ...]
    size: int | None = None


class _TransferError(Exception):
    """One URL failed (network error, short transfer, checksum mismatch); try the next."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def _open_url(url: str, timeout: float):
    return urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": USER_AGENT}),
                                  timeout=timeout)


def _stream(url: str, remote: RemoteFile, fh, opener: Callable, timeout: float,
            progress: ProgressFactory) -> None:
    """Copy ``url`` into ``fh``; raise _TransferError unless complete and of the right SHA-256."""
    try:
        response = opener(url, timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise _TransferError(f"cannot open: {exc}") from None
    h, received = hashlib.sha256(), 0
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        try:
            with progress(total=total or remote.size, desc=remote.filename) as bar:
                while chunk := response.read(CHUNK_BYTES):
                    fh.write(chunk)
                    h.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except (http.client.HTTPException, OSError) as exc:
            raise _TransferError(f"interrupted after {received} bytes: {exc}") from None
    if total is not None and received != total:
        raise _TransferError(f"interrupted: received {received} of {total} bytes")
    digest = h.hexdigest()
    if digest != remote.sha256:
        raise _TransferError(f"checksum mismatch: the {received} bytes received have SHA-256 "
                             f"{digest}, expected {remote.sha256}")


def fetch(remote: RemoteFile, folder: Path, *, opener: Callable | None = None,
          timeout: float = 60.0, progress: ProgressFactory = null_progress) -> Path:
    """Download ``remote`` to ``folder/remote.filename`` and return that path.

    A file already there with the right checksum is kept (no network). Each URL is tried in
    turn; the first complete transfer with the expected SHA-256 is renamed into place.
    opener(url, timeout) -> a response with ``read(n)`` and ``headers`` (default: urllib).
    Raises :class:`DataError` listing every URL's failure when none succeeded.
    """
    final = Path(folder) / remote.filename
    if final.is_file() and sha256_file(final) == remote.sha256:
        return final
    opener = opener or _open_url
    failures = []
    for url in remote.urls:
        try:
            atomic_write(final, lambda fh: _stream(url, remote, fh, opener, timeout, progress))
            return final
        except _TransferError as exc:
            failures.append(f"  {url}: {exc}")
    raise DataError(f"could not download {remote.filename} (nothing was written to {final}):\n"
                    + "\n".join(failures)
                    + "\nCheck the network and run the command again, or get the file by other "
                      "means and use `prepare ... --from DIR`.")
