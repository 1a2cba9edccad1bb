"""Realism measurements (issue 22): the same statistics on the real frame and on a
project's frames; the ``realism`` command."""

from __future__ import annotations

import json

import numpy as np

from handpose_core import realism as R
from handpose_core.cli.main import main
from handpose_core.datasets.nyu import read_depth


def _real(real_sample):
    d = read_depth(real_sample / "depth_1_0000001.png")
    g = np.loadtxt(real_sample / "test_groundtruth_uvd_frame1.txt").reshape(14, 3)
    return d, g


def test_real_frame_statistics(real_sample):
    d, g = _real(real_sample)
    m = R.measure_frame(d, g)
    assert m["crop_pixels"] == 715  # the figure, with the project's crop
    assert 15.0 < m["finger_width_mm"] < 30.0
    assert 0.9 < m["edge_no_return"] <= 1.0  # a Kinect's silhouettes are mostly shadow
    # quantisation: integer mm files, steps of 1-2 mm near 0.78 m
    assert 1.0 <= m["quant_step_mm"] <= 2.5


def test_measures_respond_to_the_frame(real_sample):
    """The statistics follow the image: blank out the hand's surroundings' no-return
    pixels and the ring fraction drops; thin the fingers and the width drops."""
    d, g = _real(real_sample)
    base = R.measure_frame(d, g)
    filled = d.copy()
    filled[filled == 2001] = 1500
    assert R.measure_frame(filled, g)["ring_no_return"] < 0.05 < base["ring_no_return"]
    mask, _ = R.hand_mask(d, g)
    import cv2

    eroded = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    thin = d.copy()
    thin[mask & ~eroded] = 2001
    assert R.measure_frame(thin, g)["finger_width_mm"] < base["finger_width_mm"] - 2.0


def test_realism_command(make_nyu_project, tmp_path, capsys, real_sample):
    p = make_nyu_project(2, 3)
    root = p.root
    p.close()
    code = main(["realism", "--project", str(root), "--json", "--real-sample", str(real_sample)])
    out = capsys.readouterr().out
    assert code == 0
    rep = json.loads(out)
    assert rep["frames_measured"] == 3 and rep["real"]["frame"]["crop_pixels"] == 715
    assert rep["frames"]["labelled_hand_pixels"]["frames"] == 3
    assert set(rep["acceptance"]) >= {"ok", "palm_tip_middle", "pip_tip_middle"}
    code = main(["realism", "--project", str(root), "--json", "--max-frames", "2",
                 "--real-sample", str(real_sample)])
    assert code == 0 and json.loads(capsys.readouterr().out)["frames_measured"] == 2
    # without the real sample: measured all the same, the absence said
    code = main(["realism", "--project", str(root), "--real-sample", str(tmp_path / "none")])
    out = capsys.readouterr().out
    assert code == 0 and "real NYU sample not available" in out and "palm centre" in out


def test_realism_bad_input(tmp_path, capsys):
    assert main(["realism", "--project", str(tmp_path / "nope")]) == 2
    assert "realism" in capsys.readouterr().err
    assert main(["realism", "--dataset", str(tmp_path)]) == 2
