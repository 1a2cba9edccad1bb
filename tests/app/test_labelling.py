"""Labelling mode driven by real mouse and key events: painting reaches the saved PNG,
fill, picker, number keys, undo / redo depth, reopening restores, done and progress."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.models.session import Session
from app.views.labelling import LabellingPanel
from handpose_core.datasets.labelio import read_label_png
from handpose_core.labelling.editor import label_record
from handpose_core.project import Project
from handpose_core.render import write_nyu_layout


@pytest.fixture(scope="module")
def nyu_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("nyu")
    write_nyu_layout(root, 6, split="test", seed=5)
    return root


@pytest.fixture
def panel(qtbot, nyu_root, tmp_path):
    session = Session()
    w = LabellingPanel(session)
    qtbot.addWidget(w)
    w.resize(1100, 760)
    w.show()
    qtbot.waitExposed(w)
    session.open_project(Project.create(tmp_path / "proj", nyu_root, kind="nyu"))
    w.actions_.choose(3)  # stored by a worker
    qtbot.waitUntil(lambda: len(w.eval_ids) == 3, timeout=10000)
    session.set_frame(w.eval_ids[0])
    yield w
    close(qtbot, session)


def close(qtbot, session):
    session.shutdown()  # cancels and waits for the session's workers, closes the project


def saved(panel) -> np.ndarray:
    ed = panel.editor
    return read_label_png(ed.project.root / "labels" / f"{ed.frame.key}.png")


def drag(qtbot, panel, points):
    """Press at the first frame point, move through the others, release at the last."""
    c = panel.canvas
    vp = c.viewport()
    pos = [c.frame_to_widget(x, y) for x, y in points]
    qtbot.mousePress(vp, Qt.LeftButton, pos=pos[0])
    for p in pos[1:]:
        qtbot.mouseMove(vp, p)
    qtbot.mouseRelease(vp, Qt.LeftButton, pos=pos[-1])


def centre(panel):
    y0, x0, y1, x1 = panel.editor.region
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


def test_a_mouse_stroke_is_painted_and_saved_before_the_next(qtbot, panel):
    qtbot.keyClick(panel.canvas, Qt.Key_6)
    assert panel.part == 6
    cx, cy = centre(panel)
    drag(qtbot, panel, [(cx, cy), (cx + 20, cy), (cx + 40, cy + 5)])
    on_disk = saved(panel)
    assert on_disk[int(cy), int(cx) + 10] == 6 and on_disk[int(cy), int(cx) + 25] == 6
    assert on_disk[int(cy) + 30, int(cx)] == 0  # far off the stroke
    n6 = (on_disk == 6).sum()
    assert 7 * 38 < n6 < 9 * 45  # a 7 px wide band about 41 px long
    assert label_record(panel.session.project, panel.editor.frame.id)[0] == 1
    assert panel.session.undo_stack.count() == 1
    # brush size keys
    qtbot.keyClick(panel.canvas, Qt.Key_BracketRight)
    qtbot.keyClick(panel.canvas, Qt.Key_BracketRight)
    assert panel.size_spin.value() == 9 and panel.canvas.brush_size == 9
    qtbot.keyClick(panel.canvas, Qt.Key_BracketLeft)
    assert panel.size_spin.value() == 8


def test_number_keys_and_legend_choose_the_part(qtbot, panel):
    qtbot.keyClick(panel.canvas, Qt.Key_1)
    qtbot.keyClick(panel.canvas, Qt.Key_4)
    assert panel.part == 14 and panel.legend.currentRow() == 14
    qtbot.keyClick(panel.canvas, Qt.Key_5)
    assert panel.part == 5
    with qtbot.waitSignal(panel._digit_timer.timeout, timeout=5000):
        qtbot.keyClick(panel.canvas, Qt.Key_2)  # then too slow for a second digit
    assert panel.part == 2
    qtbot.keyClick(panel.canvas, Qt.Key_0)
    assert panel.part == 0
    item = panel.legend.item(17)
    qtbot.mouseClick(panel.legend.viewport(), Qt.LeftButton,
                     pos=panel.legend.visualItemRect(item).center())
    assert panel.part == 17


def test_fill_and_picker_with_the_mouse(qtbot, panel):
    ed = panel.editor
    qtbot.keyClick(panel.canvas, Qt.Key_D)  # depth edges on: the fill keeps to the hand
    assert ed.limit_to_depth
    gt = ed.project.labels(ed.frame)
    v, u = np.argwhere(gt == 1)[len(np.argwhere(gt == 1)) // 2]
    qtbot.keyClick(panel.canvas, Qt.Key_9)
    qtbot.keyClick(panel.canvas, Qt.Key_F)
    drag(qtbot, panel, [(u + 0.5, v + 0.5)])
    on_disk = saved(panel)
    filled = on_disk == 9
    assert filled.sum() > 300 and not (filled & ~ed.in_range).any()
    assert (filled & (gt > 0)).sum() > 0.9 * (gt > 0).sum()  # the hand's silhouette
    qtbot.keyClick(panel.canvas, Qt.Key_3)
    qtbot.keyClick(panel.canvas, Qt.Key_I)
    assert panel.tool == "picker"
    drag(qtbot, panel, [(u + 0.5, v + 0.5)])
    assert panel.part == 9 and panel.tool == "brush"  # picked: ready to paint with it


def test_undo_and_redo_of_101_strokes_reach_the_disk(qtbot, panel):
    cx, cy = centre(panel)
    stack = panel.session.undo_stack
    qtbot.keyClick(panel.canvas, Qt.Key_1)
    qtbot.keyClick(panel.canvas, Qt.Key_BracketLeft)
    qtbot.keyClick(panel.canvas, Qt.Key_BracketLeft)  # 5 px
    for i in range(101):
        x = cx - 60 + i
        drag(qtbot, panel, [(x, cy - 30 + (i % 7) * 8), (x, cy - 26 + (i % 7) * 8)])
    assert stack.count() == 101
    final = saved(panel).copy()
    assert (final == 1).sum() > 500
    for _ in range(101):
        qtbot.keyClick(panel.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert stack.index() == 0 and not saved(panel).any()
    assert label_record(panel.session.project, panel.editor.frame.id)[0] == 0
    for _ in range(101):
        qtbot.keyClick(panel.canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert np.array_equal(saved(panel), final) and np.array_equal(panel.editor.labels, final)


def test_reopening_restores_labels_and_undo_brings_back_the_frame(qtbot, panel, tmp_path):
    cx, cy = centre(panel)
    qtbot.keyClick(panel.canvas, Qt.Key_8)
    drag(qtbot, panel, [(cx, cy), (cx + 15, cy + 15)])
    first = panel.editor.frame.id
    painted = panel.editor.labels.copy()
    qtbot.keyClick(panel.canvas, Qt.Key_N)  # next evaluation frame
    assert panel.session.frame_id == panel.eval_ids[1] != first
    qtbot.keyClick(panel.canvas, Qt.Key_Z, Qt.ControlModifier)  # undo jumps back, then undoes
    assert panel.session.frame_id == first and not saved(panel).any()
    qtbot.keyClick(panel.canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    root = panel.session.project.root
    panel.session.close_project()
    s2 = Session()
    w2 = LabellingPanel(s2)
    qtbot.addWidget(w2)
    try:
        s2.open_project(Project.open(root))
        s2.set_frame(first)
        assert w2.editor is None  # a hidden panel reads nothing
        w2.show()
        assert np.array_equal(w2.editor.labels, painted)
    finally:
        close(qtbot, s2)


def test_done_counts_in_the_progress_and_moves_on(qtbot, panel):
    assert panel.progress_label.text() == "0 / 3 labelled"
    first = panel.session.frame_id
    cx, cy = centre(panel)
    drag(qtbot, panel, [(cx, cy)])
    qtbot.keyClick(panel.canvas, Qt.Key_Return, Qt.ControlModifier)
    assert panel.progress_label.text() == "1 / 3 labelled"
    assert label_record(panel.session.project, first)[1] is True
    assert panel.session.frame_id == panel.eval_ids[1]
    assert "evaluation frame 2 of 3" in panel.frame_label.text()


def test_start_from_dataset_labels_is_one_undoable_step(qtbot, panel):
    ed = panel.editor
    assert panel.start_from("dataset")
    gt = ed.project.dataset.labels(ed.frame.split, ed.frame.frame)
    y0, x0, y1, x1 = ed.region
    assert np.array_equal(saved(panel)[y0:y1, x0:x1], gt[y0:y1, x0:x1])
    qtbot.keyClick(panel.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert not saved(panel).any()


def test_import_shows_at_once_and_a_bad_file_changes_nothing(qtbot, panel, tmp_path):
    from handpose_core.datasets.labelio import write_label_png
    from handpose_core.labelling.files import LabelFileError

    ed = panel.editor
    cx, cy = centre(panel)
    drag(qtbot, panel, [(cx, cy)])
    out = panel.actions_.export_to(tmp_path / "out")
    assert [p.name for p in out] == [f"{ed.frame.key}.png"]
    new = np.zeros((480, 640), np.uint8)
    new[200:260, 300:360] = 13
    src = tmp_path / "in" / f"{ed.frame.key}.png"
    src.parent.mkdir()
    write_label_png(src, new)
    panel.actions_.import_from([src])
    qtbot.waitUntil(lambda: np.array_equal(panel.editor.labels, new), timeout=5000)
    bad = tmp_path / "bad" / f"{ed.frame.key}.png"
    bad.parent.mkdir()
    write_label_png(bad, np.zeros((48, 48), np.uint8))
    with pytest.raises(LabelFileError, match="48 x 48"):
        panel.actions_.import_from([bad])
    assert np.array_equal(saved(panel), new)


def test_marking_done_is_an_undoable_write(qtbot, panel):
    """The Done box writes through the undo stack: undo and redo reach the store."""
    fid = panel.editor.frame.id
    project = panel.session.project
    stack = panel.session.undo_stack
    panel.done_box.setChecked(True)
    assert stack.count() == 1 and label_record(project, fid)[1] is True
    stack.undo()
    assert label_record(project, fid)[1] is False and not panel.done_box.isChecked()
    stack.redo()
    assert label_record(project, fid)[1] is True and panel.done_box.isChecked()
