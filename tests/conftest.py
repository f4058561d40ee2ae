"""Shared fixtures: folders, the real-data folder of the project, the device under test."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

# Built datasets (nat16 patches) are cached across test sessions unless CI says otherwise.
os.environ.setdefault("BRAINLIKE_CACHE_DIR", str(REPO / ".pytest_cache" / "brainlike_cache"))


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="device of the tests that take one (the conformance battery and the "
                          "README example read it with request.config.getoption): cpu, cuda")


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip saying it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (it lives beside the repository)")
    return SHARED_DATA
