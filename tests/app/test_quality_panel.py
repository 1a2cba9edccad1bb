"""The Quality panel shows the check's score and decision as the store has them: a
misplaced part the restoration removed at its raw distance, grown pixels unscored."""

from __future__ import annotations

import numpy as np

from handpose_core.datasets.crop import BACKGROUND_VALUE
from handpose_core.project import Score
from handpose_core.restoration.quality import (
    MISPLACED_MM,
    accept_restoration,
    quality_score,
    restoration_scores,
)
from handpose_core.skeleton import EVAL_NAMES

THUMB_TIP = 8  # the 14-joint index of the thumb tip (part set: thumb distal, id 4)


def _maps(d):
    """A raw map with its thumb tip moved to the hand pixel farthest from the thumb tip
    joint, and a restored map without a thumb tip and with background pixels next to the
    hand grown as palm."""
    raw = d.raw_labels.copy()
    raw[raw == 4] = 3
    tip = d.joints_crop()[THUMB_TIP, :2]
    yy, xx = np.nonzero(raw > 0)
    far = np.argmax(np.hypot(xx - tip[0], yy - tip[1]))
    raw[yy[far], xx[far]] = 4
    restored = raw.copy()
    restored[restored == 4] = 3
    has_depth = d.depth_crop < BACKGROUND_VALUE
    near = np.zeros_like(raw, bool)
    near[1:, :] |= raw[:-1, :] > 0
    near[:-1, :] |= raw[1:, :] > 0
    grow = near & (raw == 0) & has_depth
    restored[grow] = 1
    return raw, restored, int(grow.sum())


def test_the_panel_shows_a_removed_part_and_unscored_grown_pixels(qtbot, studio):
    win = studio
    p = win.session.project
    fid = win.browser.visible_ids()[0]
    rec = p.restoration(fid)
    assert rec is not None
    raw, restored, n_grown = _maps(win.session.frame_data())
    d = win.session.frame_data()
    q_raw, q_res = restoration_scores(raw, restored, d.depth_crop, d.transform, d.joints_uvd)
    assert q_raw.per_joint_mm[THUMB_TIP] > MISPLACED_MM and q_res.capped[THUMB_TIP]
    assert n_grown > 0 and q_res.unscored_pixels == n_grown
    accept = accept_restoration(q_raw, q_res, n_queries=rec.details.get("queries"))
    p.save_restoration(p.frame(fid), model="m", raw=raw, restored=restored,
                       score_raw=Score(q_raw.total_mm, q_raw.total_px),
                       score_restored=Score(q_res.total_mm, q_res.total_px),
                       auto_accept=accept,
                       details={**rec.details, "raw": q_raw.to_dict(),
                                "restored": q_res.to_dict()})
    panel = win.quality
    qtbot.waitUntil(lambda: "misplaced part removed" in panel.decision.text(), timeout=5000)
    text = panel.decision.text()
    assert f"{n_grown} pixels added outside f_s's hand not scored" in text
    assert "1 misplaced part removed, scored at the raw distance" in text
    assert ("Automatic: accept" if accept else "Automatic: reject") in text
    t = panel.table
    rows = {t.item(r, 0).text(): r for r in range(t.rowCount())}
    r = rows[EVAL_NAMES[THUMB_TIP]]
    assert t.item(r, 2).text() == "removed" and t.item(r, 3).text() == "same"
    assert "raw distance" in t.item(r, 2).toolTip()
    # the studio's own score of the maps (no stored one) is the stored one
    fresh = win.session.frame_data()
    assert fresh.restored_quality.total_mm == q_res.total_mm
    from app.workers.frame_data import FrameData

    unstored = FrameData(fresh.frame, fresh.depth_crop, fresh.transform, fresh.joints_uvd,
                         raw_labels=raw, restored_labels=restored)
    assert unstored.restored_quality.total_mm == q_res.total_mm
    assert unstored.restored_quality.total_mm != quality_score(
        restored, d.depth_crop, d.transform, d.joints_uvd).total_mm
