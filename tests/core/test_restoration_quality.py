"""The barycenter quality score and the accept rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handpose_core.camera import NYU_CAMERA
from handpose_core.datasets.crop import crop_transform
from handpose_core.parts import FINGER_PARTS, JOINT_PARTS_14, SCORED_JOINTS_14
from handpose_core.restoration import (
    MISPLACED_MM,
    PENALTY_MM,
    PENALTY_PX,
    accept_restoration,
    quality_score,
    restoration_scores,
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


# ---------------------------------------------------------------- restoration_scores
def _misplaced(labels, part, at=(40, 44)):
    """``labels`` with ``part``'s pixels moved to a 3x3 block at row, column ``at``
    (outside every other part, far from the part's joint)."""
    out = labels.copy()
    out[out == part] = 0
    out[at[0]:at[0] + 3, at[1]:at[1] + 3] = part
    return out


def _depth_for(*maps):
    hand = np.zeros_like(maps[0], bool)
    for m in maps:
        hand |= m > 0
    return np.where(hand, 0.0, 1.0).astype(np.float32)


def test_losing_parts_never_lowers_the_restored_score():
    """A joint whose whole part set a restoration removed (well placed or misplaced in the
    raw map) never scores lower than in the raw map, so a loss alone is never accepted:
    removing parts from the true map never is. (Removing misplaced pixels does move the
    barycenter of another joint that shares their part, as relabelling them would.)"""
    labels, _, tf, gt = _scene()
    raws = {"true": labels, "thumb tip 245 mm off": _misplaced(labels, 4),
            "index tip misplaced": _misplaced(labels, 8),
            "thumb tip 50-100 mm off": _misplaced(labels, 4, at=(12, 40))}
    removals = [(p,) for p in range(1, 21)] + [FINGER_PARTS[f] for f in FINGER_PARTS]
    for name, raw in raws.items():
        depth = _depth_for(raw, labels)
        for parts in removals:
            res = np.where(np.isin(raw, parts), 0, raw).astype(np.uint8)
            q_raw, q_res = restoration_scores(raw, res, depth, tf, gt)
            lost = q_res.missing & ~q_raw.missing
            assert (q_res.per_joint_mm[lost] >= q_raw.per_joint_mm[lost]).all(), (name, parts)
            assert (q_res.per_joint_px[lost] >= q_raw.per_joint_px[lost]).all(), (name, parts)
            if name == "true":
                assert q_res.total_mm >= q_raw.total_mm - 1e-9, parts
                assert not accept_restoration(q_raw, q_res), parts
    # the plain score lets the loss of a part more than the penalty off improve it
    raw = raws["thumb tip 245 mm off"]
    depth = _depth_for(raw, labels)
    res = np.where(raw == 4, 0, raw).astype(np.uint8)
    assert quality_score(raw, depth, tf, gt).per_joint_mm[8] > PENALTY_MM
    assert restoration_scores(raw, res, depth, tf, gt)[1].per_joint_mm[8] > PENALTY_MM


def test_a_removed_misplaced_part_costs_its_raw_distance_and_a_removed_good_one_the_penalty():
    labels, _, tf, gt = _scene()
    tip = 6  # the index tip joint; its part set is the index distal (8) alone
    raw = _misplaced(labels, 8)  # f_s's index tip far from the index tip joint
    depth = _depth_for(raw, labels)
    q_raw = quality_score(raw, depth, tf, gt)
    assert q_raw.per_joint_mm[tip] > MISPLACED_MM
    res = np.where(raw == 8, 0, raw).astype(np.uint8)  # removed, nothing else repaired
    _, q_res = restoration_scores(raw, res, depth, tf, gt)
    assert q_res.capped[tip] and q_res.missing[tip] and q_res.n_capped == 1
    assert q_res.per_joint_mm[tip] == q_raw.per_joint_mm[tip]
    assert q_res.per_joint_px[tip] == q_raw.per_joint_px[tip]
    assert q_res.total_mm == pytest.approx(q_raw.total_mm)  # a tie: not accepted
    assert not accept_restoration(q_raw, q_res)
    # a tip 50-100 mm off (frame 1011 of the demo: a thumb 66-81 mm off) removed, and
    # stray palm pixels cut: accepted, where the plain score (the missing tip costs the
    # 100 mm penalty) rejects the better map
    raw2 = _misplaced(labels, 8, at=(22, 26))
    raw2[0:3, 44:47] = 1  # clutter called palm
    depth2 = _depth_for(raw2, labels)
    q_raw2 = quality_score(raw2, depth2, tf, gt)
    assert MISPLACED_MM < q_raw2.per_joint_mm[tip] < PENALTY_MM
    res2 = np.where(raw2 == 8, 0, raw2).astype(np.uint8)
    res2[0:3, 44:47] = 0
    q_raw2, q_res2 = restoration_scores(raw2, res2, depth2, tf, gt)
    assert q_res2.capped[tip] and accept_restoration(q_raw2, q_res2)
    assert not accept_restoration(q_raw2, quality_score(res2, depth2, tf, gt))
    # a well placed part removed costs the full penalty
    res3 = np.where(labels == 20, 0, labels).astype(np.uint8)
    q3r, q3 = restoration_scores(labels, res3, _depth_for(labels), tf, gt)
    assert q3.per_joint_mm[0] == PENALTY_MM and not q3.capped[0]
    assert not accept_restoration(q3r, q3)
    d = json.loads(json.dumps(q_res.to_dict(), allow_nan=False))
    assert d["capped"][tip] is True and d["unscored_pixels"] == 0


def test_pixels_a_restoration_adds_outside_the_raw_hand_are_not_scored():
    """Grown pixels (the joint prior's silhouette) are labelled by the joints: they
    neither help nor hurt the score, and are counted."""
    labels, _, tf, gt = _scene()
    raw = labels
    grown = labels.copy()
    grown[44:48, 10:40] = 1  # forearm pixels called palm: pull the palm barycenter
    depth = _depth_for(grown)
    q_raw, q_res = restoration_scores(raw, grown, depth, tf, gt)
    assert q_res.unscored_pixels == int(((grown > 0) & (raw == 0)).sum()) == 120
    assert q_res.total_mm == pytest.approx(q_raw.total_mm)
    assert quality_score(grown, depth, tf, gt).total_mm > q_raw.total_mm + 5
    # a grown map that also repairs a finger (f_s called the middle tip ring) is accepted
    raw_bad = labels.copy()
    raw_bad[labels == 12] = 16
    q_raw, q_res = restoration_scores(raw_bad, grown, depth, tf, gt)
    assert accept_restoration(q_raw, q_res) and q_res.unscored_pixels == 120
    with pytest.raises(ValueError, match="differ in shape"):
        restoration_scores(labels, labels[:10], depth, tf, gt)
