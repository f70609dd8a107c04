"""Shared fixtures: both matching engines, the shared data folder, the CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nhiguard.engine.matcher import hyperscan_available

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NHIGUARD_SHARED", ROOT.parent / "shared"))

# Both engines are tested; Hyperscan is a test dependency, so its absence is a failure, not a skip.
ENGINES = ["hyperscan", "python"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    if request.param == "hyperscan":
        assert hyperscan_available(), "hyperscan must be installed for the test suite"
    return request.param


@pytest.fixture(scope="session")
def shared() -> Path:
    assert SHARED.is_dir(), f"shared data folder not found at {SHARED} (set NHIGUARD_SHARED)"
    return SHARED


@pytest.fixture(scope="session")
def builtin_rules():
    from nhiguard.rules.loader import load_rules

    return load_rules()
