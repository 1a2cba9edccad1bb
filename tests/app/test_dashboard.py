"""The evaluation dashboard in the studio: its numbers are ``evaluate``'s, a click on a
worst frame opens it, and prediction files in both formats give the joint-error rows."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter

from app.models.session import Session
from app.views.dashboard import DashboardPanel
from handpose_core.camera import NYU_CAMERA
from handpose_core.evaluation import evaluate_joints, write_predictions
from handpose_core.project import Project
from handpose_core.render import write_nyu_layout
from handpose_core.skeleton import joints_36_to_14
from handpose_core.stages.evaluate import segmentation_report


def _click_tab(qtbot, tabs, name):
    bar = tabs.tabBar()
    i = next(i for i in range(tabs.count()) if tabs.tabText(i) == name)
    qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(i).center())
    assert tabs.currentIndex() == i


def test_dashboard_numbers_equal_evaluate_and_worst_frame_opens(qtbot, studio):
    win = studio
    db = win.dashboard
    with qtbot.waitSignal(db.scores_ready, timeout=60000) as sig:
        _click_tab(qtbot, win.tabs, "Evaluation")  # first view computes, in a worker
    scores = sig.args[0]
    rep = segmentation_report(win.session.project)
    raw, stored = scores.methods["raw f_s"], scores.methods["restored (stored)"]
    assert raw.total.per_pixel == rep["results"]["raw"]["per_pixel"]
    assert raw.total.per_class == rep["results"]["raw"]["per_class"]
    assert stored.total.per_pixel == rep["results"]["restored"]["per_pixel"]
    assert len(stored.frame_ids) == rep["restored_frames"] == 5
    cells = {db.rows_table.item(r, 0).text(): db.rows_table.item(r, 2).text()
             for r in range(db.rows_table.rowCount())}
    assert cells["raw f_s"] == f"{100 * rep['results']['raw']['per_pixel']:.1f}"
    assert "fine-tuned" in db.missing_label.text()
    # the worst frame of the raw map, clicked, becomes the current frame
    worst_id = raw.worst(1)[0][0]
    item = db.worst_list.item(0)
    assert item.data(Qt.UserRole) == worst_id
    qtbot.mouseClick(db.worst_list.viewport(), Qt.LeftButton,
                     pos=db.worst_list.visualItemRect(item).center())
    assert win.session.frame_id == worst_id
    # one bar series per method, 20 hand classes each, lengths = per-class accuracy
    bars = db.bar_plot.listDataItems()
    assert len(bars) == len(scores.methods) == 3  # raw, stored, joints only
    assert "joints only (no f_s, no patches)" in cells
    widths = bars[0].opts["width"]
    assert len(widths) == 20
    np.testing.assert_allclose(widths, np.nan_to_num(raw.total.class_acc[1:]) * 100)


def test_scores_are_summed_and_ranked_in_the_worker_not_on_the_gui_thread(qtbot, studio,
                                                                          monkeypatch):
    """The totals and the per-frame ranking (tens of ms of numpy over NYU's 8,252 test
    frames) are computed by the worker that measured; showing them computes nothing."""
    import threading
    from functools import cached_property

    from handpose_core.labelling import accuracy

    threads = []
    total_of = accuracy.accuracy_from_confusion

    def recorded_total(c):
        threads.append(("total", threading.get_ident()))
        return total_of(c)

    per_frame = accuracy.MethodScores.__dict__["_per_frame"].func

    def recorded_per_frame(self):
        threads.append(("per frame", threading.get_ident()))
        return per_frame(self)

    prop = cached_property(recorded_per_frame)
    prop.__set_name__(accuracy.MethodScores, "_per_frame")
    monkeypatch.setattr(accuracy, "accuracy_from_confusion", recorded_total)
    monkeypatch.setattr(accuracy.MethodScores, "_per_frame", prop)
    win = studio
    db = win.dashboard
    with qtbot.waitSignal(db.scores_ready, timeout=60000) as sig:
        _click_tab(qtbot, win.tabs, "Evaluation")
    scores = sig.args[0]
    gui = threading.get_ident()
    assert {k for k, _ in threads} == {"total", "per frame"}
    assert all(t != gui for _, t in threads), "a total or ranking was computed on the GUI thread"
    n = len(threads)
    db.show_scores(scores)  # shown again: nothing is computed
    assert len(threads) == n
    # the ranking is the per-frame accuracy's, worst first, frames without hand pixels out
    for m in scores.methods.values():
        acc = m.per_frame()
        ranked = sorted((a, i) for i, a in enumerate(acc) if not np.isnan(a))
        assert [round(a, 12) for _, a in m.worst(len(acc))] == [round(a, 12) for a, _ in ranked]
        assert {f for f, _ in m.worst(len(acc))} == {m.frame_ids[i] for _, i in ranked}


def test_before_compute_a_note_says_what_to_do_and_the_results_replace_it(qtbot, studio):
    win = studio
    db = win.dashboard
    assert db.seg_stack.currentIndex() == 0
    assert "Press <b>Compute</b>" in db.seg_note.text()
    notes, bar = [], []
    db.seg_progress.valueChanged.connect(
        lambda v: bar.append((db.seg_progress.isVisible(), v, db.seg_progress.maximum(),
                              db.seg_progress.format())))
    with qtbot.waitSignal(db.scores_ready, timeout=60000):
        _click_tab(qtbot, win.tabs, "Evaluation")  # the first view computes, in a worker
        notes.append(db.seg_note.text())
    assert "Computing segmentation accuracy" in notes[0]  # while it runs, the note says so
    # and a progress bar counts each phase (f_s over the 8 labelled frames), then goes
    assert any(vis and m == 8 and f.startswith("raw f_s") for vis, _, m, f in bar), bar
    assert not db.seg_progress.isVisible()
    qtbot.waitUntil(lambda: db.seg_stack.currentIndex() == 1 and db.rows_table.isVisible(),
                    timeout=5000)
    assert not db.seg_note.isVisible()
    # nothing clipped: the columns fit the table and the status line fits its label
    assert db.rows_table.horizontalHeader().length() <= db.rows_table.viewport().width()
    st = db.seg_status
    assert st.fontMetrics().horizontalAdvance(st.text()) <= st.width()
    # every method name readable with the results' pane as narrow as it goes: a name
    # wider than its column wraps at its spaces and its row grows, none is cut short
    t = db.rows_table
    names = [t.item(r, 0).text() for r in range(t.rowCount())]
    joints = names.index("joints only (no f_s, no patches)")
    db.findChild(QSplitter).setSizes([1, 5000])
    fm = t.fontMetrics()

    def in_full():
        w = t.columnWidth(0)
        return w > 0 and all(fm.horizontalAdvance(word) < w for n in names for word in n.split()) \
            and all(t.rowHeight(r) >= t.sizeHintForRow(r) for r in range(len(names)))

    qtbot.waitUntil(in_full, timeout=5000)
    assert fm.horizontalAdvance(names[joints]) >= t.columnWidth(0)  # too narrow for it,
    assert t.rowHeight(joints) > t.rowHeight(names.index("raw f_s"))  # so it wrapped
    assert t.horizontalHeader().length() <= t.viewport().width()
    # another project: the note again, not the old numbers
    db._on_session_project_opened(win.session.project)
    assert db.seg_stack.currentIndex() == 0 and "Press <b>Compute</b>" in db.seg_note.text()


@pytest.fixture
def test_split_panel(qtbot, tmp_path):
    write_nyu_layout(tmp_path / "nyu", 4, split="test", seed=2)
    session = Session()
    panel = DashboardPanel(session)
    qtbot.addWidget(panel)
    session.open_project(Project.create(tmp_path / "proj", tmp_path / "nyu", kind="nyu"))
    yield panel
    session.shutdown()


def test_prediction_files_in_both_formats_give_joint_rows_and_curves(qtbot, test_split_panel,
                                                                      tmp_path):
    panel = test_split_panel
    project = panel.session.project
    gt = np.stack([joints_36_to_14(project.joints_uvd(f)) for f in project.frames("test")])
    rng = np.random.default_rng(1)
    a, b = gt + rng.normal(0, 4, gt.shape), gt + rng.normal(0, 9, gt.shape)
    write_predictions(tmp_path / "A.txt", a)
    xyz = NYU_CAMERA.uvd_to_xyz(b) * [1, -1, 1]  # published named-xyz files have y down
    with open(tmp_path / "B.txt", "w") as f:
        for k, row in enumerate(xyz.reshape(len(xyz), -1), start=1):
            f.write(f"depth_1_{k:07d}.png\t" + "\t".join(f"{v:.4f}" for v in row) + "\n")
    assert panel.joint_stack.currentIndex() == 0  # a note saying what to load, not an empty plot
    assert "Load predictions" in panel.joint_stack.currentWidget().text()
    with qtbot.waitSignal(panel.predictions_loaded, timeout=30000):
        panel.load_predictions([tmp_path / "A.txt", tmp_path / "B.txt"])
    assert panel.joint_stack.currentIndex() == 1
    t = panel.joint_table
    rows = {t.item(r, 0).text(): [t.item(r, c).text() for c in range(t.columnCount())]
            for r in range(t.rowCount())}
    assert rows["A"][1] == "uvd" and rows["B"][1] == "named xyz"
    assert rows["A"][3] == f"{evaluate_joints(a, gt).mean_mm:.2f}"
    assert rows["B"][3] == f"{evaluate_joints(b, gt).mean_mm:.2f}"
    assert len(panel.curve_plot.listDataItems()) == 2
    # a file with the wrong number of lines: a message naming it, the rows stay
    write_predictions(tmp_path / "short.txt", a[:3])
    panel.load_predictions([tmp_path / "short.txt"])
    qtbot.waitUntil(lambda: "short.txt" in panel.joint_status.text(), timeout=30000)
    assert "3 lines, but the project has 4 test frames" in panel.joint_status.text()
    assert t.rowCount() == 2


def test_compute_with_nothing_to_evaluate_says_why_and_what_to_do(qtbot, studio):
    win = studio
    db = win.dashboard
    db.scope_combo.setCurrentIndex(db.scope_combo.findData("eval_set"))  # none chosen yet
    qtbot.mouseClick(db.compute_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: "Could not compute" in db.seg_note.text(), timeout=60000)
    assert db.seg_stack.currentIndex() == 0 and db.scores is None
    assert "Labelling" in db.seg_note.text() and db.compute_button.isEnabled()
