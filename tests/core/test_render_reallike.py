"""The real-like generator (render/reallike): painted labels, the traced surface, webbing,
determinism, the demo writer."""

import json

import numpy as np
import pytest

from handpose_core.camera import NO_RETURN, NYU_CAMERA
from handpose_core.render import render_frames
from handpose_core.render.pose import GESTURES
from handpose_core.render.reallike import People, render_reallike_frames, sample_reallike_scenes
from handpose_core.render.reallike.scene import posed_reallike_scenes
from handpose_core.render.reallike.sdf import hand_sdf, label_at, obj_sdf
from handpose_core.render.reallike.trace import HIT_EPS
from handpose_core.render.scene import posed_scenes
from handpose_core.skeleton import PALM_CENTRE

PALM = (0.0, -20.0, 600.0)


def _people(art, n=1, thickness=1.0):
    art = np.atleast_2d(art)
    return People(np.repeat(art, n, 0), np.ones(n), np.ones((n, 5)), np.full(n, thickness),
                  np.repeat(np.eye(3)[None], n, 0), np.full(n, PALM[2]))


def _hand(sc, k=0):
    return sc.bones[k, 0], sc.ells[k, 0], sc.sph[k, 0], sc.stub[k, 0], sc.prm[k, 0]


def _surface_point(bn, st, pr, el, sp, p, direction):
    """Walk from inside point ``p`` along ``direction`` to the surface."""
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    for s in np.arange(0.0, 60.0, 0.05):
        q = p + s * d
        if hand_sdf(bn, el, sp, st, pr, *q) > 0.0:
            return q
    raise AssertionError("no surface within 60 mm")


def test_labels_follow_the_nearest_bone_and_the_joint_creases():
    art = GESTURES["grasp"].copy()  # bent fingers: the creases are not perpendicular planes
    sc = posed_reallike_scenes(_people(art), PALM)
    bn, el, sp, st, pr = _hand(sc)
    j = sc.joints_xyz[0]
    # index finger (NYU F4 = joints 18..23): PIP is 21, DIP 19
    pip, mcp, dip = j[21], j[23], j[19]
    prox_dir = (pip - mcp) / np.linalg.norm(pip - mcp)
    mid_dir = (dip - pip) / np.linalg.norm(dip - pip)
    # out of the back of the finger at the PIP: away from the palmar sides of both bones
    dorsal = -(bn[1, 10:13] + bn[2, 10:13])  # bones 1, 2: index proximal, middle
    for offset, want in ((-2.5, 6), (2.5, 7)):  # index proximal / index middle
        along = prox_dir if offset < 0 else mid_dir
        p = _surface_point(bn, st, pr, el, sp, pip + along * offset, dorsal)
        assert label_at(bn, pr, *p) == want, (offset, label_at(bn, pr, *p))
    # the middle of a phalanx: its own bone, whichever soft body surrounds it
    mid = 0.5 * (j[13] + j[15])  # middle finger (F3: 12..17), middle phalanx (bone 6)
    assert label_at(bn, pr, *_surface_point(bn, st, pr, el, sp, mid, -bn[6, 10:13])) == 11
    assert label_at(bn, pr, *_surface_point(bn, st, pr, el, sp, mid, bn[6, 10:13])) == 11
    back = np.array([0.0, 0.0, 1.0])  # the back of the hand (R = I: it faces away)
    # beyond the wrist crease: forearm (0), never the thumb's metacarpal
    wrist = 0.5 * (j[30] + j[31])
    down = wrist - j[PALM_CENTRE]
    down /= np.linalg.norm(down)
    for side in (j[30], j[31], wrist):
        assert label_at(bn, pr, *(side + 12.0 * down)) == 0
    # the palm centre's surface is palm; a thumb tip's is thumb distal
    assert label_at(bn, pr, *_surface_point(bn, st, pr, el, sp, j[PALM_CENTRE], back)) == 1
    tip_dir = j[24] - j[25]
    assert label_at(bn, pr, *_surface_point(bn, st, pr, el, sp, j[25] + 0.5 * tip_dir,
                                                tip_dir)) == 4


def test_finger_tips_end_just_beyond_the_nyu_tip_joints():
    sc = posed_reallike_scenes(_people(GESTURES["flat"]), PALM)
    bn, el, sp, st, pr = _hand(sc)
    j = sc.joints_xyz[0]
    for tip, dip in ((0, 1), (6, 7), (12, 13), (18, 19), (24, 25)):
        d = (j[tip] - j[dip]) / np.linalg.norm(j[tip] - j[dip])
        assert hand_sdf(bn, el, sp, st, pr, *j[tip]) < 0.0  # the joint is inside the finger
        assert hand_sdf(bn, el, sp, st, pr, *(j[tip] + 7.0 * d)) > 0.0  # its end is near


def _brute_force_depth(sc, i, u, v, t_max=2000.0, step=0.05):
    bn, el, sp, st, pr = _hand(sc, i)
    ob = sc.objects[i]
    d = np.array([(u - NYU_CAMERA.cx) / NYU_CAMERA.fx, (NYU_CAMERA.cy - v) / NYU_CAMERA.fy, 1.0])
    c, r = sc.bounds[i, 0, :3], sc.bounds[i, 0, 3]
    zc = c[2]
    for z in np.arange(max(zc - r, 1.0), min(zc + r, t_max), step):
        p = d * z
        if min(hand_sdf(bn, el, sp, st, pr, *p), obj_sdf(ob, *p)) < HIT_EPS:
            return z
    return None


def test_traced_depth_agrees_with_a_brute_force_march():
    sc = sample_reallike_scenes(2, 5)
    sc.arm[:, :, 0] = -1.0  # only the traced surfaces
    sc.bounds[:, 1, 3] = 0.0
    depth, lab = render_reallike_frames(sc, style="clean")
    rng = np.random.default_rng(0)
    for i in range(2):
        hand = np.argwhere(lab[i] > 0)
        assert len(hand) > 300
        for v, u in hand[rng.choice(len(hand), 4, replace=False)]:
            z = _brute_force_depth(sc, i, u, v)
            assert z is not None and abs(z - float(depth[i, v, u])) <= 0.6, (u, v, z, depth[i, v, u])
        # pixels well clear of everything: no surface on the ray
        empty = np.argwhere(depth[i] == NO_RETURN)
        uc, vc = sc.joints_uvd[i, PALM_CENTRE, :2]
        near = empty[(np.abs(empty[:, 1] - uc) < 150) & (np.abs(empty[:, 0] - vc) < 150)]
        far_from_hand = [p for p in near if (depth[i, max(0, p[0] - 3):p[0] + 4,
                                                       max(0, p[1] - 3):p[1] + 4] == NO_RETURN).all()]
        for v, u in [far_from_hand[k] for k in rng.choice(len(far_from_hand), 3, replace=False)]:
            assert _brute_force_depth(sc, i, u, v, step=0.5) is None, (u, v)


def test_webbing_joins_adjacent_proximal_phalanges_near_the_mcps():
    from handpose_core.render.reallike.body import P_K_WEB

    art = GESTURES["spread"].copy()
    art[1:16:4] *= 1.3  # fingers spread 17 deg apart
    new = posed_reallike_scenes(_people(art), PALM)
    old = posed_scenes(art, palm_xyz=PALM)
    _, lab_new = render_reallike_frames(new, style="clean")
    _, lab_old = render_frames(old, style="clean")
    bn, el, sp, st, pr = _hand(new)
    no_web = pr.copy()
    no_web[P_K_WEB] = 0.0
    j = new.joints_xyz[0]
    assert np.allclose(j, old.joints_xyz[0])  # the same skeleton
    for a, b in ((23, 17), (17, 11), (11, 5)):  # MCPs: index-middle, middle-ring, ring-pinky
        # between the two proximal phalanges, 30 % of the way to the PIPs (the web
        # reaches 40 % here, the default person's web height)
        p = 0.5 * (j[a] + j[b]) + 0.5 * 0.3 * ((j[a - 2] - j[a]) + (j[b - 2] - j[b]))
        assert hand_sdf(bn, el, sp, st, pr, *p) < -0.5, (a, b)  # inside the web
        assert hand_sdf(bn, el, sp, st, no_web, *p) > 0.0, (a, b)  # a gap without it
        u, v = np.rint(NYU_CAMERA.xyz_to_uvd(p[None])[0, :2]).astype(int)
        assert lab_new[0, v, u] > 0, (a, b)
        assert lab_old[0, v, u] == 0, (a, b)  # a gap between the training hand's fingers


def test_same_seed_same_frames_and_clutter_is_background():
    a = render_reallike_frames(sample_reallike_scenes(3, 17))
    b = render_reallike_frames(sample_reallike_scenes(3, 17))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    c = render_reallike_frames(sample_reallike_scenes(3, 18))
    assert not np.array_equal(a[0], c[0])
    assert np.array_equal(a[1] > 0, (a[1] > 0) & (a[0] < NO_RETURN))


def test_demo_writer_makes_the_nyu_layout_with_the_real_like_generator(tmp_path):
    from handpose_core.datasets.nyu import read_depth, read_joint_mat
    from handpose_core.project import Project
    from handpose_core.project.create import create_demo_project
    from handpose_core.render.demo import DEMO_VERSION, demo_version

    p = create_demo_project(tmp_path / "demo", n_train=3, n_test=2)
    p.close()
    ds = tmp_path / "demo" / "dataset"
    for split, n in (("train", 3), ("test", 2)):
        j = read_joint_mat(ds / split / "joint_data.mat")
        assert np.asarray(j.uvd).shape == (1, n, 36, 3)
        for f in range(1, n + 1):
            d = read_depth(ds / split / f"depth_1_{f:07d}.png")
            assert d.shape == (480, 640) and (d < NO_RETURN).sum() > 1000
            assert (ds / split / f"labels_1_{f:07d}.png").exists()
    info = json.loads((ds / "demo.json").read_text())
    assert info["generator"] == "reallike" and demo_version(ds) == DEMO_VERSION == 2
    with Project.open(tmp_path / "demo") as p:
        assert p.meta["demo_version"] == "2"
    assert demo_version(tmp_path) == 1  # a folder without demo.json: primitive frames


def test_unknown_generator_is_refused(tmp_path):
    from handpose_core.render import write_nyu_layout

    with pytest.raises(ValueError, match="generator"):
        write_nyu_layout(tmp_path, 1, generator="blender")


def test_synth_cli_writes_real_like_frames_and_previews(tmp_path):
    from handpose_core.cli.main import main
    from handpose_core.datasets.nyu import read_joint_mat

    assert main(["synth", "--nyu-layout", "--out", str(tmp_path / "nyu"), "--count", "2",
                 "--split", "test"]) == 0  # the real-like generator by default
    assert np.asarray(read_joint_mat(tmp_path / "nyu" / "test" / "joint_data.mat").uvd).shape \
        == (1, 2, 36, 3)
    assert main(["synth", "--preview", str(tmp_path / "p.png"), "--count", "2",
                 "--generator", "reallike"]) == 0
    assert (tmp_path / "p.png").stat().st_size > 1000
