"""The barycenter quality score and the accept rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handpose_core.camera import NYU_CAMERA
from handpose_core.datasets.crop import crop_transform
from handpose_core.parts import FINGER_PARTS, JOINT_PARTS_14, SCORED_JOINTS_14
from handpose_core.restoration import (
    PENALTY_MM,
    PENALTY_PX,
    accept_restoration,
    quality_score,
)

S = 48


def _scene():
    """A flat hand at 700 mm: every part a 3x3 block in its own place; the ground
    truth joints are the barycenters of the true map's part sets."""
    labels = np.zeros((S, S), np.uint8)
    for pid in range(1, 21):
        r, c = 4 + 5 * ((pid - 1) // 5), 4 + 8 * ((pid - 1) % 5)
        labels[r:r + 3, c:c + 3] = pid
    labels[30:44, 10:40] = 1  # the palm is big
    tf = crop_transform((320.0, 240.0, 700.0), 300.0, S)
    depth = np.where(labels > 0, 0.0, 1.0).astype(np.float32)  # hand at the centre depth
    yy, xx = np.mgrid[0:S, 0:S].astype(float)
    gt = np.zeros((14, 3))
    for j, parts in enumerate(JOINT_PARTS_14):
        sel = np.isin(labels, parts) if parts else labels == 1
        uvd = tf.crop_to_frame(np.stack([xx[sel], yy[sel], depth[sel]], -1))
        xyz = NYU_CAMERA.uvd_to_xyz(uvd).mean(0)
        gt[j] = NYU_CAMERA.xyz_to_uvd(xyz)
        if parts:  # 2D barycenter is the mean pixel, not the projected 3D mean
            gt[j, :2] = uvd[:, :2].mean(0)
    return labels, depth, tf, gt


def test_the_true_map_scores_near_zero_and_wrists_are_unscored():
    labels, depth, tf, gt = _scene()
    q = quality_score(labels, depth, tf, gt)
    assert q.total_px < 1e-6
    assert q.total_mm < 1.0  # 2D mean vs projected 3D mean differ by a hair in depth
    wrists = [j for j in range(14) if j not in SCORED_JOINTS_14]
    assert wrists == [11, 12]
    assert np.isnan(q.per_joint_mm[wrists]).all() and np.isnan(q.barycenters_uvd[wrists]).all()
    assert not q.missing.any()
    np.testing.assert_allclose(q.barycenters_uvd[SCORED_JOINTS_14, 2], 700.0, atol=1e-6)
    d = json.loads(json.dumps(q.to_dict(), allow_nan=False))  # NaN become null, not NaN
    assert d["per_joint_mm"][11] is None and d["barycenters_uvd"][12] == [None] * 3
    assert d["per_joint_mm"][0] == pytest.approx(q.per_joint_mm[0])


def test_a_missing_finger_scores_worse_and_is_flagged():
    labels, depth, tf, gt = _scene()
    good = quality_score(labels, depth, tf, gt)
    lost = labels.copy()
    lost[np.isin(lost, FINGER_PARTS["pinky"])] = 0
    bad = quality_score(lost, depth, tf, gt)
    assert bad.missing[[0, 1]].all() and bad.n_missing == 2
    assert bad.per_joint_mm[0] == PENALTY_MM and bad.per_joint_px[1] == PENALTY_PX
    assert bad.total_mm > good.total_mm + 150 and bad.total_px > good.total_px + 100
    assert not accept_restoration(good, bad) and accept_restoration(bad, good)
    # a swapped finger (pinky painted as ring) also scores worse
    swapped = labels.copy()
    swapped[np.isin(labels, (18, 19, 20))] = np.array([0, 14, 15, 16])[
        np.searchsorted([0, 18, 19, 20], labels[np.isin(labels, (18, 19, 20))])]
    assert quality_score(swapped, depth, tf, gt).total_mm > good.total_mm


def test_labels_without_depth_count_as_missing_in_3d_only():
    labels, depth, tf, gt = _scene()
    d = depth.copy()
    d[labels == 20] = 1.0  # the pinky tip has no depth return
    q = quality_score(labels, d, tf, gt)
    assert q.per_joint_mm[0] == PENALTY_MM and q.per_joint_px[0] < 1e-6
    assert not q.missing[0] and np.isnan(q.barycenters_uvd[0, 2])


def test_quality_score_rejects_bad_input():
    labels, depth, tf, gt = _scene()
    with pytest.raises(ValueError, match=r"labels \(10, \d+\) and depth .* must both be"):
        quality_score(labels[:10], depth, tf, gt)
    with pytest.raises(ValueError, match=r"must be \(14, 3\) uvd, got \(5, 3\)"):
        quality_score(labels, depth, tf, gt[:5])
    bad = gt.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        quality_score(labels, depth, tf, bad)
