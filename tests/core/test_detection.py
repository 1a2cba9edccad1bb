"""The hand centre from depth alone: the real NYU sample frame, rendered frames, bad frames."""

from __future__ import annotations

import numpy as np
import pytest

from handpose_core.camera import NO_RETURN, NYU_CAMERA
from handpose_core.datasets.crop import center_of_mass, crop_transform
from handpose_core.datasets.nyu import read_depth
from handpose_core.detection import DetectSettings, NoHandError, detect_center, detect_hand
from handpose_core.skeleton import PALM_CENTRE


def _err_mm(c, gt):
    return float(np.linalg.norm(NYU_CAMERA.uvd_to_xyz(c) - NYU_CAMERA.uvd_to_xyz(gt)))


def _holds(tf, joints_uvd) -> bool:
    c = tf.frame_to_crop(joints_uvd)
    return bool(((c[:, :2] >= 0) & (c[:, :2] <= tf.size - 1)).all() and (np.abs(c[:, 2]) <= 1).all())


def test_real_sample_hand_found_where_centre_of_mass_finds_the_body(real_sample):
    d = read_depth(real_sample / "depth_1_0000001.png")
    gt = np.loadtxt(real_sample / "test_groundtruth_uvd_frame1.txt").reshape(14, 3)
    palm = gt[13]
    det = detect_hand(d)
    assert _err_mm(det.center, palm) < 40.0
    assert _holds(crop_transform(det.center, 300.0, 48), gt)
    # the old estimate settles on the body, ~230 mm behind the hand
    assert _err_mm(center_of_mass(d), palm) > 150.0
    # the hand mask covers the ground-truth palm pixel and not the head
    assert det.mask[int(palm[1]), int(palm[0])]
    assert not det.mask[140, 340]


def test_rendered_frames_detection_beats_centre_of_mass(make_nyu_project):
    p = make_nyu_project(10, seed=23)
    errs, com = [], []
    for f in p.frames("train"):
        d, j = p.depth(f), p.joints_uvd(f)
        errs.append(_err_mm(detect_center(d, name=f.key), j[PALM_CENTRE]))
        com.append(_err_mm(center_of_mass(d), j[PALM_CENTRE]))
    assert np.median(errs) < 40.0
    assert np.median(errs) < np.median(com)


def _scene():
    yy, xx = np.mgrid[0:480, 0:640]
    d = np.full((480, 640), 1500, np.uint16)
    hand = np.hypot(xx - 200, yy - 240) < 45  # ~ 75 mm radius at 700 mm
    d[hand] = 700
    return d


def test_speck_nearer_than_the_hand_is_skipped_and_depth_offset_applied():
    d = _scene()
    d[100:102, 500:502] = 400  # 4 pixels of noise in front of everything
    s = DetectSettings()
    det = detect_hand(d, s)
    assert abs(det.center[0] - 200) < 2 and abs(det.center[1] - 240) < 2
    assert det.center[2] == pytest.approx(700 + s.depth_offset_mm, abs=1.0)
    assert det.near_mm == 700


def test_frames_without_a_hand_raise_naming_the_frame():
    with pytest.raises(NoHandError, match=r"cam\.png: no valid depth pixel"):
        detect_hand(np.full((480, 640), NO_RETURN, np.uint16), name="cam.png")
    with pytest.raises(NoHandError, match="x.png: no valid depth"):
        detect_hand(np.zeros((480, 640), np.uint16), name="x.png")
    speckle = np.full((480, 640), NO_RETURN, np.uint16)
    speckle[::37, ::41] = 800  # isolated returns only: removed by the median
    with pytest.raises(NoHandError, match="y.png: only isolated depth pixels"):
        detect_hand(speckle, name="y.png")
    tiny = np.full((480, 640), NO_RETURN, np.uint16)
    tiny[200:206, 300:306] = 900  # 6x6 px at 900 mm: ~ 80 mm^2, no hand
    with pytest.raises(NoHandError, match="z.png: no object of a hand's size"):
        detect_hand(tiny, name="z.png")
    with pytest.raises(NoHandError, match="2D image"):
        detect_hand(np.zeros((4, 480, 640)), name="w")


def test_evaluate_detection_reports_the_error_distribution(make_nyu_project, capsys):
    import json

    from handpose_core.cli.main import main

    p = make_nyu_project(4, seed=29)
    assert main(["evaluate", "--project", str(p.root), "--what", "detection", "--split", "train",
                 "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    errs = [_err_mm(detect_center(p.depth(f)), p.joints_uvd(f)[PALM_CENTRE])
            for f in p.frames("train")]
    assert r["frames"] == 4 and r["no_hand"] == []
    assert r["median_mm"] == pytest.approx(float(np.median(errs)))
    assert r["within_40mm"] == pytest.approx(float(np.mean(np.array(errs) <= 40)))
    assert main(["evaluate", "--project", str(p.root), "--what", "detection", "--split",
                 "nope"]) == 2
    assert "no frames in split 'nope'" in capsys.readouterr().err
