"""Shared fixtures. Qt runs offscreen; tests read ../shared when it exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL_SAMPLE = SHARED / "data" / "nyu-real-sample"


@pytest.fixture
def real_sample() -> Path:
    if not (REAL_SAMPLE / "depth_1_0000001.png").exists():
        pytest.skip("../shared/data/nyu-real-sample is not available")
    return REAL_SAMPLE
