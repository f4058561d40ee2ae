"""Provenance of a run: versions, git commit, device, host, times."""
from __future__ import annotations

import datetime as _dt
import functools
import platform
import socket
import subprocess
import sys

import numpy as np
import torch

from . import __version__
from pathlib import Path


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The HEAD commit of the git checkout the suite's code runs from, with ``-dirty`` when
    tracked files were modified; None for an installed (non-editable) suite or without git."""
    source = Path(__file__).resolve().parent.parent
    if not (source / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        if not sha:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=source, capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def provenance(device: torch.device) -> dict:
    return {
        "suite_version": __version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "device": device_name(device),
        "hostname": socket.gethostname(),
    }
