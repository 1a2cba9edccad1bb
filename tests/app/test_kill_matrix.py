"""The studio killed with SIGKILL at any instant of an action (issue 27): a few kills per
action of tests/app/kill_matrix.py (which says what is checked after each kill); the big
run is ``python tests/app/kill_matrix.py --kills N``, reported in docs/testing.md.

Each kill starts a child with the real main window (Qt, torch: seconds each), hence slow.
"""

from __future__ import annotations

import shutil
import sys

import pytest

sys.path.insert(0, __file__.rsplit("/", 1)[0])  # kill_matrix.py beside this file
import kill_matrix as km  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900),  # a child per kill: seconds each
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

KILLS = 2
SEEDS = {a: 2700 + i for i, a in enumerate(km.ACTIONS)}
"""One fixed seed per action (never the clock or a pid): a failure repeats."""


@pytest.mark.parametrize("action", km.ACTIONS)
def test_a_kill_at_any_instant_loses_nothing_but_the_action_in_flight(action, template_project,
                                                                     tmp_path):
    base = tmp_path / "k"
    shutil.copytree(template_project, base, ignore=shutil.ignore_patterns("k"))
    root = base / "proj"
    imports = km.make_imports(root, tmp_path / "imports") if action == "import" else None
    m = km.Matrix(root, action, SEEDS[action], imports, log=lambda *_: None)
    recs = [m.kill_once() for _ in range(KILLS)]
    m.reopen()
    assert [r["problems"] for r in recs] == [[]] * KILLS, recs
    assert m.stats["kills"] == KILLS and m.stats["writes returned"] > 0, m.stats
