"""How stage states and progress read in the training panel (no widgets)."""

from __future__ import annotations

from app.models.stage_display import ProgressClock, duration, needs_text, row_texts
from app.models.stages_model import MetricsTail
from handpose_core.stages import stage_status


def test_progress_clock_estimates_from_the_current_phase_only():
    c = ProgressClock()
    assert c.update(0, 100, "training store: crops", now=0.0)
    c.update(50, 100, "training store: crops", now=10.0)
    assert c.text() == "50/100 · 0:10 · ETA 0:10"
    # a new phase (new head) restarts the clock; a resumed run's done steps are not credited
    assert c.update(300, 1000, "training: epoch 1/3", now=20.0)
    c.update(310, 1000, "training: epoch 1/3", now=30.0)
    assert c.text() == f"310/1000 · 0:10 · ETA {duration(10 / 10 * 690)}"
    assert duration(3725) == "1:02:05"


def test_rows_say_state_time_result_and_what_to_run_first(make_nyu_project):
    p = make_nyu_project(1)
    st = stage_status(p, "restore")
    assert row_texts(st)[:2] == ("not run", "needs Build dictionary")
    assert "run Build dictionary first" in needs_text(st)
    assert row_texts(st, running=True)[0] == "running"
    assert row_texts(st, early_failure="no dictionary")[:2] == ("failed", "no dictionary")
    rid = p.start_run("restore", {})
    p.finish_run(rid, "failed", {"error": "ValueError: bad"})
    text, result, _ = row_texts(stage_status(p, "restore"))
    assert text.startswith("failed  ") and result == "ValueError: bad"


def test_metrics_tail_reads_complete_lines_and_notices_a_rewrite(tmp_path):
    f = tmp_path / "metrics.jsonl"
    tail = MetricsTail(f)
    assert tail.poll() == ([], False)
    f.write_text('{"kind": "train", "step": 1}\n{"kind": "tr')
    assert tail.poll() == ([{"kind": "train", "step": 1}], False)
    with open(f, "a") as fh:
        fh.write('ain", "step": 2}\n')
    assert tail.poll() == ([{"kind": "train", "step": 2}], False)
    tmp = tmp_path / "new"
    tmp.write_text('{"kind": "val", "step": 1}\n')
    tmp.replace(f)  # a resumed run rewrites the log (os.replace)
    assert tail.poll() == ([{"kind": "val", "step": 1}], True)


def test_chain_left_adds_the_current_stages_rest_and_the_queued_stages():
    from app.models.stage_display import chain_left, chain_text

    # past runs say 100 s, 40 s in: 60 s left, unless the phase's own ETA says more
    assert chain_left(100.0, 40.0, 10.0, [50.0, 30.0]) == (140.0, 0)
    assert chain_left(100.0, 40.0, 90.0, [50.0]) == (140.0, 0)
    assert chain_left(100.0, 150.0, None, []) == (0.0, 0)  # over its usual time
    # no past run: the phase's ETA, or nothing counted and the stage named as unknown
    assert chain_left(None, 5.0, 20.0, [None, 10.0]) == (30.0, 1)
    assert chain_left(None, 5.0, None, [None]) == (0.0, 2)
    assert chain_text(3725.0, 1, 3) == "3 stages to go: ~1:02:05 left + 1 without a past run"
    assert chain_text(0.0, 2, 2) == "2 stages to go: no estimate yet (no past runs)"
