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
