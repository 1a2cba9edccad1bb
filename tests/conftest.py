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


@pytest.fixture
def make_nyu_project(tmp_path):
    """Factory for a small project over a rendered NYU-layout root (sensor frames with
    part labels): ``make_nyu_project(n_train, n_test=0, seed=11) -> Project``."""
    from handpose_core.project import Project
    from handpose_core.render import write_nyu_layout

    made = []

    def make(n_train: int, n_test: int = 0, seed: int = 11, name: str = "proj"):
        root = tmp_path / f"{name}-nyu"
        write_nyu_layout(root, n_train, split="train", seed=seed)
        if n_test:
            write_nyu_layout(root, n_test, split="test", seed=seed + 1)
        p = Project.create(tmp_path / name, root, kind="nyu")
        made.append(p)
        return p

    yield make
    for p in made:
        try:
            p.close()
        except Exception:  # noqa: BLE001 -- already closed by the test
            pass
