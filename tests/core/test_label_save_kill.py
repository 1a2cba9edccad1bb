"""A hand-label save killed at any point leaves the old map and row or the new ones, never
one of each, and no temporary file once the project is opened again (issue 27).

The save writes the PNG to a temporary, commits the row with the map's digest, then moves
the PNG into place; a real process is killed (``os._exit``, no clean-up runs) just before
the commit and just before the move, and the project is opened again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from handpose_core.datasets.labelio import read_label_png, write_label_png
from handpose_core.fileio import stale_temporaries
from handpose_core.project import Project
from handpose_core.render import write_nyu_layout

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import os, sys
    import numpy as np
    import handpose_core.project.store as store
    from handpose_core.project import Project

    root, where = sys.argv[1], sys.argv[2]
    p = Project.open(root)
    f = p.frame(1)
    new = np.zeros((480, 640), np.uint8)
    new[100:200, 100:300] = 7
    if where == "before-commit":  # dies inside the transaction, before COMMIT
        real = p._log_change
        def log_change(*a, **k):
            real(*a, **k)
            os._exit(9)
        p._log_change = log_change
    elif where == "after-commit":  # the row is committed, the PNG not yet in place
        def replace(src, dst):
            os._exit(9)
        store.os.replace = replace
    p.save_hand_labels(f, new, strokes=5)
    os._exit(0)
""")


@pytest.fixture
def project_root(tmp_path):
    write_nyu_layout(tmp_path / "nyu", 2, split="test", seed=4)
    with Project.create(tmp_path / "proj", tmp_path / "nyu", kind="nyu") as p:
        old = np.zeros((480, 640), np.uint8)
        old[50:90, 50:90] = 3
        p.save_hand_labels(p.frame(1), old, strokes=2)
    return tmp_path / "proj"


def _kill_during_save(root: Path, where: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", CHILD, str(root), where], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 9, r.stderr


def _on_disk(root: Path):
    with Project.open(root) as p:
        lab = read_label_png(root / "labels" / f"{p.frame(1).key}.png")
        return int(lab.max()), p.hand_label_record(1).strokes


def test_a_save_killed_after_its_commit_is_finished_when_the_project_opens(project_root):
    _kill_during_save(project_root, "after-commit")
    left = stale_temporaries(project_root / "labels")
    assert len(left) == 1  # the new PNG, under its temporary name
    assert _on_disk(project_root) == (7, 5)  # new map and new row: the save is whole
    assert not list((project_root / "labels").glob("*.tmp"))


def test_a_save_killed_before_its_commit_leaves_the_old_map_and_row(project_root):
    _kill_during_save(project_root, "before-commit")
    assert len(stale_temporaries(project_root / "labels")) == 1
    assert _on_disk(project_root) == (3, 2)  # old map and old row: the save is absent
    assert not list((project_root / "labels").glob("*.tmp"))


def test_opening_leaves_the_temporaries_of_a_live_process_alone(project_root):
    # this process is alive: a save of its own may be under way
    mine = project_root / "labels" / f"test_1_0000001.png.{os.getpid()}.abcd1234.tmp"
    write_label_png(mine.with_suffix(".png"), np.ones((480, 640), np.uint8))
    os.replace(mine.with_suffix(".png"), mine)
    # a temporary of a dead process elsewhere (a restoration's PNG, fileio's writes)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = project_root / "restoration" / "raw" / f"test_1_0000001.png.{dead}.wxyz.tmp"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"\x89PNG half")
    Project.open(project_root).close()
    assert mine.exists() and not stale.exists()
    assert _on_disk(project_root) == (3, 2)


RESTORE_CHILD = textwrap.dedent("""
    import os, sys
    import numpy as np
    import handpose_core.project.store as store
    from handpose_core.project import Project, Score

    root, where = sys.argv[1], sys.argv[2]
    p = Project.open(root)
    new = np.full((48, 48), 9, np.uint8)
    if where == "before-commit":
        real = p._log_change
        def log_change(*a, **k):
            real(*a, **k)
            os._exit(9)
        p._log_change = log_change
    elif where == "after-commit":
        def replace(src, dst):
            os._exit(9)
        store.os.replace = replace
    p.save_restoration(p.frame(1), model="new", raw=new, restored=new,
                       score_raw=Score(9.0, 1.0), score_restored=Score(4.0, 0.5),
                       auto_accept=True)
    os._exit(0)
""")


@pytest.mark.parametrize("where, want", [("after-commit", (9, "new")),
                                         ("before-commit", (2, "old"))])
def test_a_restoration_save_killed_mid_way_is_whole_or_absent(project_root, where, want):
    """The restore stage and "Restore this frame" save a frame's raw and restored maps and
    its row the same way: a kill after the commit is finished at open, one before it
    leaves the old maps with the old row (never new maps under an old row's scores)."""
    from handpose_core.project import Score

    with Project.open(project_root) as p:
        old = np.full((48, 48), 2, np.uint8)
        p.save_restoration(p.frame(1), model="old", raw=old, restored=old,
                           score_raw=Score(8.0, 1.0), score_restored=Score(6.0, 0.5),
                           auto_accept=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", RESTORE_CHILD, str(project_root), where],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 9, r.stderr
    assert len(stale_temporaries(project_root / "restoration" / "raw")) == 1
    with Project.open(project_root) as p:
        rec = p.restoration(1)
        raw, restored = p.restored_maps(rec)
        assert (int(raw.max()), rec.model) == want and int(restored.max()) == want[0]
    assert not list((project_root / "restoration").rglob("*.tmp"))
