"""Frame switching stays cheap: frames read ahead while keys are pressed, no window re-layout."""

from __future__ import annotations

import threading
import time

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.views.compare import _depth_rgba
from app.views.stable_label import StableLabel
from app.workers.frame_data import load_frame_data
from app.workers.prefetch import IDLE_S, ReadAhead


class _PaintCounter(QObject):
    def __init__(self):
        super().__init__()
        self.n = 0

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Paint:
            self.n += 1
        return False


def test_read_ahead_serves_the_next_rows_at_once_and_the_rest_after_a_pause():
    ra = ReadAhead()
    ra.request([5, 6, 7, 8], count=3, eager=2)
    assert ra.next_job(0) == (5, 3)
    ra.finish(5, 3, "data 5")
    assert ra.next_job(0) == (6, 3)
    ra.finish(6, 3, None)  # could not be read: nothing kept
    t0 = time.monotonic()
    assert ra.next_job(0) is None  # the user has not paused yet
    job = ra.next_job(1.0)  # waits for the pause, then hands out the next one
    assert job == (7, 3) and time.monotonic() - t0 >= IDLE_S * 0.9
    assert ra.take(5, 3) == "data 5" and ra.take(5, 3) is None  # taken once
    assert ra.take(6, 3) is None
    ra.finish(7, 3, "data 7")
    assert ra.take(7, 4) is None  # read before a change to the store: stale


def test_after_a_store_change_the_frames_ahead_are_read_again():
    ra = ReadAhead()
    ra.request([5, 6], count=0)
    for fid in (5, 6):
        assert ra.next_job(0) == (fid, 0)
        ra.finish(fid, 0, f"data {fid} at 0")
    assert ra.ready(5) and ra.ready(6)
    ra.request([5, 6], count=1)  # an override elsewhere: what was read under 0 is stale
    assert not ra.ready(5) and not ra.ready(6)
    assert ra.next_job(0) == (5, 1)
    ra.finish(5, 1, "data 5 at 1")
    assert ra.take(5, 1) == "data 5 at 1"


def test_read_ahead_take_waits_for_the_frame_being_read():
    ra = ReadAhead()
    ra.request([9], count=0)
    assert ra.next_job(0) == (9, 0)
    threading.Timer(0.05, ra.finish, (9, 0, "data 9")).start()
    t0 = time.monotonic()
    assert ra.take(9, 0, wait_s=2.0) == "data 9"
    assert 0.03 < time.monotonic() - t0 < 1.5
    ra.request([10, 11], count=0)
    assert ra.take(10, 0) is None  # not read yet: the caller reads it and the worker skips it
    assert ra.next_job(0) == (11, 0)


def test_key_presses_show_frames_read_ahead_equal_to_a_fresh_read(qtbot, studio):
    win = studio
    ids = win.browser.visible_ids()
    table = win.browser.table
    table.setFocus()
    for k in range(1, 4):
        qtbot.keyClick(table, Qt.Key_Down)  # no pause needed: the next rows are read at once
        assert win.session.frame_id == ids[k]
        qtbot.waitUntil(lambda k=k: win.session.read_ahead.ready(ids[k + 1]), timeout=20000)
    taken = win.session.read_ahead.taken
    qtbot.keyClick(table, Qt.Key_Down)
    assert win.session.frame_id == ids[4] and win.session.read_ahead.taken == taken + 1
    shown = win.session.frame_data()
    fresh = load_frame_data(win.session.project, ids[4], win.session.predictor)
    assert np.array_equal(shown.depth_crop, fresh.depth_crop)
    assert np.array_equal(shown.raw_labels, fresh.raw_labels)
    assert np.array_equal(shown.full_depth, fresh.full_depth)
    assert f"Frame {ids[4]}" in win.compare.info.text()
    assert (win.compare.panels["raw"].label_map == fresh.raw_labels).all()


def _settle():
    """Deliver every event already posted (layout requests, deferred updates, zero-time
    timers), then what those posted in turn: what a switch causes has happened."""
    from PySide6.QtCore import QCoreApplication

    for _ in range(5):
        QCoreApplication.sendPostedEvents()
        QCoreApplication.processEvents()


def test_frame_switch_repaints_what_changed_not_the_whole_window(qtbot, studio):
    win = studio
    counter, near = _PaintCounter(), _PaintCounter()
    far = [win.compare.fit_button, win.compare.opacity, win.tabs.tabBar()]
    for w in far:
        w.installEventFilter(counter)
    win.compare.info.installEventFilter(near)  # the frame's caption: changes every switch
    table = win.browser.table
    table.setFocus()
    qtbot.keyClick(table, Qt.Key_Down)
    qtbot.waitUntil(lambda: near.n > 0, timeout=10000)  # the first switch is painted
    _settle()
    counter.n = 0
    texts = []
    for _ in range(3):
        painted = near.n
        qtbot.keyClick(table, Qt.Key_Down)
        # the caption that changed is painted (in the same pass as anything re-laid out)
        qtbot.waitUntil(lambda painted=painted: near.n > painted, timeout=10000)
        _settle()
        texts.append(win.quality.decision.text())
    assert len(set(texts)) > 1  # the docks did change ...
    assert counter.n == 0  # ... without re-laying out (and repainting) the window
    # positive control: a re-layout of the window does repaint the far widgets, and the
    # counter sees it (the height changes too: the controls under the panels move)
    win.resize(win.width() - 60, win.height() - 80)
    qtbot.waitUntil(lambda: counter.n > 0, timeout=10000)


def test_stable_label_grows_only_when_the_text_needs_more_lines(qtbot):
    host = QWidget()
    qtbot.addWidget(host)
    lay = QVBoxLayout(host)
    lab = StableLabel(word_wrap=True, min_lines=2)
    lay.addWidget(lab)
    lay.addStretch(1)
    host.resize(220, 400)
    host.show()
    qtbot.waitExposed(host)
    h0 = lab.height()
    lab.setText("<b>short</b>")
    _settle()
    assert lab.height() == h0
    long_text = "<b>Automatic: reject</b> — " + "the restored map does not score lower " * 4
    lab.setText(long_text)
    qtbot.waitUntil(lambda: lab.height() > h0, timeout=2000)
    assert lab.height() >= lab.label.heightForWidth(lab.width())  # no line cut off
    assert lab.text() == long_text
    lab.setText("two<br>lines")
    qtbot.waitUntil(lambda: lab.height() == h0, timeout=2000)


def test_depth_image_is_grey_near_white_and_transparent_without_surface():
    depth = np.ones((4, 4), np.float32)
    depth[1, 1], depth[2, 2] = -0.5, 0.5  # near, far
    img = _depth_rgba(depth)
    assert img.shape == (4, 4, 4) and img.dtype == np.uint8
    assert img[1, 1, 3] == 255 and img[2, 2, 3] == 255 and img[0, 0, 3] == 0
    assert img[1, 1, 0] > img[2, 2, 0]  # nearer is brighter
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()


def test_fine_tuned_map_appears_on_a_restored_frame_shown_before_f_s_loaded(qtbot, project_dir):
    """Frame 1 is restored, so it is shown (raw and restored maps from the store) before the
    f_s models load; its fine-tuned map must follow once the prediction worker has it."""
    import shutil

    from app.main import build_window
    from handpose_core.nets.inference import bundled_segnet_path, set_segnet_path
    from handpose_core.project import Project

    p = Project.open(project_dir)
    fine = project_dir / "models" / "fine.pt"
    fine.parent.mkdir(exist_ok=True)
    shutil.copy(bundled_segnet_path(), fine)
    set_segnet_path(p, fine, "finetuned")
    p.close()
    win = build_window(Project.open(project_dir))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    first = win.session.frame_id
    assert win.session.frame_data().restoration is not None
    qtbot.waitUntil(lambda: win.compare.panels["finetuned"].label_map is not None, timeout=60000)
    assert win.session.frame_id == first
    expected = win.session.predictor.lookup("fine", first)
    assert np.array_equal(win.compare.panels["finetuned"].label_map, expected)
    assert "predicting" not in win.compare.panels["finetuned"].title.text
    win.close()


def test_the_list_scrolls_a_half_page_when_the_current_row_leaves_the_view(qtbot, studio):
    win = studio
    table = win.browser.table
    table.setMinimumHeight(0)
    table.setFixedHeight(table.horizontalHeader().height() + 4 * 22 + 2 * table.frameWidth())
    qtbot.waitUntil(lambda: table.rowAt(table.viewport().height() - 1) == 3, timeout=5000)
    ids = win.browser.visible_ids()
    bar = table.verticalScrollBar()
    table.setFocus()
    assert bar.value() == 0
    for k in range(1, 4):  # within the view: no scrolling
        qtbot.keyClick(table, Qt.Key_Down)
        assert win.session.frame_id == ids[k] and bar.value() == 0
    qtbot.keyClick(table, Qt.Key_Down)  # row 4 was out of view: it comes back centred
    assert win.session.frame_id == ids[4]
    vp = table.viewport().rect()
    assert vp.contains(table.visualRect(win.browser.proxy.index(4, 0)))
    assert table.rowAt(vp.height() - 1) >= 5  # the next row is visible too


def test_stable_label_measures_code_text_exactly(qtbot):
    lab = StableLabel(word_wrap=True, min_lines=2)
    qtbot.addWidget(lab)
    lab.resize(160, 10)
    lab.show()
    # narrow letters: one line in the label's font, three in monospace at 160 px
    text = "<code>" + " ".join(["iiiiiiiiiiii"] * 3) + "</code>"
    lab.setText(text)
    qtbot.waitUntil(lambda: lab.height() >= lab.label.heightForWidth(lab.width()) > lab._min_h,
                    timeout=2000)  # nothing cut
