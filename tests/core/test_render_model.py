"""The synthetic hand: parts, labels, joints, pose sampling, crops, determinism."""

import numpy as np
import pytest

from handpose_core.camera import NYU_CAMERA
from handpose_core.datasets.crop import crop_transform
from handpose_core.parts import JOINT_PARTS_14, SCORED_JOINTS_14
from handpose_core.render import render_crops, render_frame, render_frames, sample_scenes
from handpose_core.render.pose import GESTURES, HI, LO, sample_articulations
from handpose_core.render.scene import posed_scenes
from handpose_core.skeleton import EVAL_INDICES, PALM_CENTRE


def _open_frontal(style="clean", depth=600.0):
    sc = posed_scenes(GESTURES["spread"], palm_xyz=(0.0, -20.0, depth))
    d, lab = render_frames(sc, style=style)
    return d[0], lab[0], sc.joints_uvd[0]


def test_open_frontal_hand_shows_all_20_parts():
    _, lab, _ = _open_frontal()
    assert set(np.unique(lab).tolist()) == set(range(21))
    # every part is a visible patch, not a stray pixel
    counts = np.bincount(lab.ravel(), minlength=21)
    assert counts[1:].min() >= 30, counts


def test_labels_exactly_where_the_hand_has_depth():
    d, lab, _ = _open_frontal()
    assert np.array_equal(lab > 0, d < 2001)
    c = render_crops(48, seed=3)  # clean crops: the hand and its forearm (label 0)
    assert ((c["labels"] > 0) <= (c["depth"] < 1.0)).all()
    assert (c["labels"] > 0).sum(axis=(1, 2)).min() > 20
    arm = (c["depth"] < 1.0) & (c["labels"] == 0)
    assert (arm.sum(axis=(1, 2)) > 10).mean() > 0.5  # most crops show the forearm, as real ones do
    # the arm is the only thing besides the hand: without it the crop is the hand alone
    from handpose_core.render.hand_model import N_HAND_PRIMS
    from handpose_core.render.renderer import render_scene_crops

    sc = sample_scenes(48, 3)  # the scenes render_crops(48, seed=3) draws
    sc.prims[:, N_HAND_PRIMS:, 0] = -1.0  # switch the arm primitives off
    alone = render_scene_crops(sc)
    assert np.array_equal(alone["labels"] > 0, alone["depth"] < 1.0)
    hand = c["labels"] > 0
    assert np.array_equal(alone["labels"][hand], c["labels"][hand])
    assert (alone["labels"] > 0)[hand].all()  # the arm adds background, never hand
    # sensor style: labels only on measured depth, and a lone hand is labelled everywhere
    ds, ls, _ = _open_frontal("sensor")
    assert np.array_equal(ls > 0, ds < 2001)
    cs = render_crops(24, seed=3, style="sensor")
    assert ((cs["labels"] > 0) <= (cs["depth"] < 1.0)).all()
    assert ((cs["depth"] < 1.0) & (cs["labels"] == 0)).any()  # arm / body are not hand


def test_eval_joints_project_onto_their_parts():
    _, lab, uvd = _open_frontal()
    for k in SCORED_JOINTS_14:
        u, v = np.rint(uvd[EVAL_INDICES[k], :2]).astype(int)
        assert np.isin(lab[v - 1:v + 2, u - 1:u + 2], JOINT_PARTS_14[k]).any(), k
    # over random poses: a joint whose part is visible lies on or next to it (crop px)
    c = render_crops(200, seed=5)
    near, total = 0, 0
    for i in range(200):
        xy = (c["joints_uvd"][i, list(EVAL_INDICES), :2] - c["crop"][i, 6:8]) / (
            (c["crop"][i, 8:10] - c["crop"][i, 6:8]) / 48)
        for k in SCORED_JOINTS_14:
            ys, xs = np.nonzero(np.isin(c["labels"][i], JOINT_PARTS_14[k]))
            if len(ys) < 3:
                continue
            total += 1
            near += np.hypot(xs - xy[k, 0], ys - xy[k, 1]).min() <= 1.5
    assert total > 1500 and near / total > 0.95, (near, total)


def test_joints_are_consistent_and_anatomical():
    sc = sample_scenes(64, 4)
    assert np.allclose(NYU_CAMERA.uvd_to_xyz(sc.joints_uvd), sc.joints_xyz)
    j = sc.joints_xyz
    wrist = np.linalg.norm(j[:, 30] - j[:, 31], axis=1)
    assert 29 * 0.85 - 1e-6 <= wrist.min() and wrist.max() <= 29 * 1.15 + 1e-6
    # fingertip -> PIP of the middle finger, PIP -> palm centre (NYU medians 47 and 61-68)
    tip_pip = np.linalg.norm(j[:, 12] - j[:, 15], axis=1)
    pip_palm = np.linalg.norm(j[:, 15] - j[:, 32], axis=1)
    assert 30 < np.median(tip_pip) < 50 and 50 < np.median(pip_palm) < 80
    assert (500 <= j[:, PALM_CENTRE, 2]).all() and (j[:, PALM_CENTRE, 2] <= 1000).all()


def test_articulation_respects_limits_and_dip_coupling():
    a = sample_articulations(np.random.default_rng(0), 2000)
    assert (a >= LO - 1e-12).all() and (a <= HI + 1e-12).all()
    assert np.allclose(a[:, 3:16:4], a[:, 2:16:4] * 2 / 3)
    # templates and random poses both occur: fists (all PIPs > 70 deg) and flat hands
    pip = np.degrees(a[:, 2:16:4])
    assert (pip.min(axis=1) > 70).mean() > 0.02 and (pip.max(axis=1) < 25).mean() > 0.05


def test_crop_windows_match_crop_transform():
    c = render_crops(8, seed=2, size=32, cube_mm=250.0)
    for i in range(8):
        tf = crop_transform(c["joints_uvd"][i, PALM_CENTRE], 250.0, 32)
        assert np.allclose(c["crop"][i], tf.to_array())
    assert c["depth"].shape == (8, 32, 32) and c["depth"].dtype == np.float32
    assert c["labels"].dtype == np.uint8 and c["joints_xyz"].dtype == np.float32
    assert c["depth"].min() >= -1.0 and c["depth"].max() == 1.0


def test_same_seed_same_output():
    for style in ("clean", "sensor"):
        a, b = render_crops(16, seed=7, style=style), render_crops(16, seed=7, style=style)
        for k in a:
            assert np.array_equal(a[k], b[k]), (style, k)
        assert not np.array_equal(render_crops(16, seed=8, style=style)["depth"], a["depth"])
    f1, f2 = render_frame(11), render_frame(np.random.default_rng([11, 0x4A4E44]))
    for x, y in zip(f1, f2):
        assert np.array_equal(x, y)
    assert not np.array_equal(render_frame(12)[0], f1[0])
    # a batch renders each scene as it would alone (threads do not share random state)
    sc = sample_scenes(6, 9)
    d6, _ = render_frames(sc)
    d1, _ = render_frames(sc[3:4])
    assert np.array_equal(d6[3], d1[0])


def test_bad_style_and_size():
    with pytest.raises(ValueError, match="bogus"):
        render_crops(2, style="bogus")
    with pytest.raises(ValueError, match="size"):
        render_crops(2, size=1)
