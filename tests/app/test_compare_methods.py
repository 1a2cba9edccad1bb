"""The Compare view's restored panel shows any restoration method stored for the frame."""

from __future__ import annotations

import numpy as np

from handpose_core.project import Score


def test_restored_panel_switches_between_stored_methods(qtbot, studio, tmp_path):
    win = studio
    view = win.compare
    p = win.session.project
    ids = win.browser.visible_ids()
    fid = ids[0]
    integ = p.restoration(fid)
    raw, restored = p.restored_maps(integ)
    crf_map = np.where(restored > 0, 7, 0).astype(np.uint8)  # visibly different
    assert not np.array_equal(crf_map, restored)
    p.save_restoration(p.frame(fid), model="m", raw=raw, restored=crf_map,
                       score_raw=Score(12.0, 1.0), score_restored=Score(11.0, 1.0),
                       auto_accept=False, method="crf-potts", details={"crf_weight": 16.0})
    # no notification by hand: the store's change feed tells the view
    qtbot.waitUntil(lambda: view.method_combo.count() == 2, timeout=5000)
    combo = view.method_combo
    # the primary slot first: the restore stage's default (joint-prior), what
    # fine-tuning trains on
    assert [combo.itemText(i) for i in range(2)] == ["joint-prior", "crf-potts"]
    assert combo.isEnabled() and combo.currentText() == "joint-prior"
    assert np.array_equal(view.panels["restored"].label_map, restored)
    combo.setCurrentIndex(1)
    combo.activated.emit(1)
    assert np.array_equal(view.panels["restored"].label_map, crf_map)
    assert "crf-potts (w 16)" in view.panels["restored"].title.text
    info = view.info.text()  # scores per scored joint: 12 / 12 and 11 / 12 mm
    assert "crf-potts score raw 1.0 → restored 0.9 mm · would be rejected" in info
    # a frame without the CRF result shows the default's, the choice is kept for later
    win.session.set_frame(ids[1])
    assert view.method_combo.count() == 1 and not view.method_combo.isEnabled()
    assert view.method == "crf-potts"
    win.session.set_frame(fid)
    assert view.method_combo.currentText() == "crf-potts"
    assert np.array_equal(view.panels["restored"].label_map, crf_map)
    assert np.array_equal(p.restored_maps(p.restoration(fid))[1], restored)  # untouched
