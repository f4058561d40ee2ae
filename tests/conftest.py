"""Shared fixtures: folders, the real-data folder of the project, tiny data for the battery."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

# Built datasets (nat16 patches) are cached across test sessions unless CI says otherwise.
os.environ.setdefault("BRAINLIKE_CACHE_DIR", str(REPO / ".pytest_cache" / "brainlike_cache"))


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="device of the tests that take one (the conformance battery): cpu, cuda")


def pytest_configure(config):
    os.environ["BRAINLIKE_TEST_DEVICE"] = config.getoption("--device")


def device_under_test() -> str:
    """The device given with ``pytest --device`` (cpu by default; benchmarks/gpu_check.sh: cuda)."""
    return os.environ.get("BRAINLIKE_TEST_DEVICE", "cpu")


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip saying it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (it lives beside the repository)")
    return SHARED_DATA


def tiny_data(kind: str, n: int, dim: int = 64, seed: int = 0) -> torch.Tensor:
    """(n, dim) float32: N(0, 1) for ``continuous``, Bernoulli(0.3) for ``binary``."""
    g = torch.Generator().manual_seed(seed)
    if kind == "binary":
        return (torch.rand(n, dim, generator=g) < 0.3).float()
    return torch.randn(n, dim, generator=g)
