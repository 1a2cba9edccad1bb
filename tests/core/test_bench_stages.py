"""``bench pipeline --stages``: the step list, the per-process measurements, and (slow)
the whole quick chain on a fresh demo project."""

from __future__ import annotations

import json
import sys

import pytest

from handpose_core.bench.stages import QUICK, _child, _steps
from handpose_core.stages import STAGES


def test_steps_follow_the_stage_table_with_one_train_reg_per_variant():
    steps = _steps(True, ["a", "d"])
    names = [n for n, _ in steps]
    expected = []
    for s in STAGES:
        expected += [f"train-reg {v}" for v in "ad"] if s.name == "train-reg" else [s.name]
    assert names == expected
    argv = dict(steps)
    assert argv["train-reg d"] == ["train", "train-reg", "--variant", "d", *QUICK["train-reg"]]
    assert argv["build-dictionary"][2:] == QUICK["build-dictionary"]
    assert dict(_steps(False, ["b"]))["pretrain-seg"] == ["train", "pretrain-seg"]


def test_child_reports_its_own_cpu_time_and_peak_memory(tmp_path):
    """A child that holds 300 MB and spins for a while: its peak memory and CPU time are
    its own (this test process's memory does not count)."""
    code = ("import time, numpy as np; a = np.ones(300 * 2**20, np.uint8); "
            "t = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n"
            "print(int(a.sum()))")
    r = _child(["-c", code], tmp_path / "out.txt")
    assert r["rc"] == 0 and (tmp_path / "out.txt").read_text().strip() == str(300 * 2**20)
    assert r["peak_rss_mb"] >= 300 and r["cpu_s"] >= 0.5 and r["wall_s"] >= 0.5
    bad = _child(["-c", "raise SystemExit(3)"], tmp_path / "out.txt")
    assert bad["rc"] == 3


@pytest.mark.slow
# the whole chain: longer than the suite's 300 s per-test limit (pyproject.toml) on a
# loaded machine; that limit, hit, ends the whole run (timeout_method "thread")
@pytest.mark.timeout(1200)
def test_quick_stage_bench_runs_every_stage_on_a_fresh_demo(tmp_path, capsys):
    """The whole chain with --quick (~6 minutes on a loaded 2-core machine; killed at the
    300 s limit in a random-order run at load 27, docs/testing.md)."""
    from handpose_core.cli.main import main

    rc = main(["bench", "pipeline", "--stages", "--quick", "--variants", "a",
               "--dir", str(tmp_path / "p"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["complete"] and out["settings"] == "quick"
    steps = {r["step"]: r for r in out["steps"]}
    assert list(steps)[0] == "init --demo" and "train-reg a" in steps
    assert all(r["wall_s"] > 0 and r["peak_rss_mb"] > 50 for r in out["steps"])
    assert "patches" in steps["build-dictionary"]["headline"]
    assert out["python"] == sys.version.split()[0]
    # a second run into the same folder is refused: the bench starts from a fresh project
    assert main(["bench", "pipeline", "--stages", "--quick", "--dir",
                 str(tmp_path / "p")]) == 2
