"""Shared fixtures. Qt runs offscreen; tests read ../shared when it exists."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL_SAMPLE = SHARED / "data" / "nyu-real-sample"


@pytest.fixture(autouse=True)
def _torch_rng_as_numpy(request):
    """Every test starts with torch's global generator seeded, as pytest-randomly seeds
    ``random`` and numpy's (with its ``--randomly-seed``; 0 without the plugin): what a
    test draws unseeded (initial weights, ``torch.rand``) then no longer depends on which
    tests ran before it in a random order. (pytest-randomly knows nothing of torch.)
    Only when torch is already imported: a fresh import starts from torch's fixed seed."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            seed = request.config.getoption("randomly_seed")
        except ValueError:  # pytest-randomly not loaded (-p no:randomly)
            seed = 0
        torch.manual_seed(seed if isinstance(seed, int) else 0)


REAL_SAMPLE_FILES = ("depth_1_0000001.png", "test_groundtruth_uvd_frame1.txt")
"""Every file of the real sample a test reads."""


def real_sample_or_skip(folder: Path) -> Path:
    """``folder`` when it holds every file of :data:`REAL_SAMPLE_FILES`, readable; else
    skip the test, naming what is missing (a partial ``../shared`` skips, never errors)."""
    from handpose_core.datasets.nyu import read_depth
    from handpose_core.evaluation import read_predictions

    missing = [n for n in REAL_SAMPLE_FILES if not (folder / n).is_file()]
    if missing:
        pytest.skip(f"{folder}: real NYU sample not available (missing {', '.join(missing)})")
    try:
        read_depth(folder / "depth_1_0000001.png")
        read_predictions(folder / "test_groundtruth_uvd_frame1.txt")
    except ValueError as e:
        pytest.skip(f"real NYU sample unreadable: {e}")
    return folder


@pytest.fixture
def real_sample() -> Path:
    return real_sample_or_skip(REAL_SAMPLE)


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


def pytest_terminal_summary(terminalreporter):
    """Print the bad-input cases tried (tests/core/_badinput.py), when any ran; with
    HANDPOSE_BAD_INPUT_TABLE=FILE also write the table there (docs/bad-input.md)."""
    import sys

    mod = sys.modules.get("_badinput")
    if mod is None or not mod.TALLY:
        return
    table = mod.table_markdown()
    terminalreporter.write_sep("-", "bad input: cases tried per reader and corruption")
    terminalreporter.write_line(table)
    out = os.environ.get("HANDPOSE_BAD_INPUT_TABLE")
    if out:
        Path(out).write_text(table + "\n")
