"""Published prediction files: the named-xyz reader, format detection, alignment."""

from __future__ import annotations

import numpy as np
import pytest

from handpose_core.camera import NYU_CAMERA
from handpose_core.evaluation import PredictionFileError, evaluate_joints, write_predictions
from handpose_core.labelling.predictions import (
    align_with_project,
    detect_format,
    load_prediction_file,
    read_named_xyz_predictions,
)


def _write_named(path, names, uvd, y_up=False):
    xyz = NYU_CAMERA.uvd_to_xyz(uvd)
    if not y_up:
        xyz[..., 1] *= -1
    with open(path, "w") as f:
        for n, row in zip(names, xyz.reshape(len(xyz), -1)):
            f.write(n + "\t" + "\t".join(f"{v:.4f}" for v in row) + "\n")


def test_named_xyz_reads_back_the_uvd_it_was_written_from(tmp_path, real_sample):
    gt = np.loadtxt(real_sample / "test_groundtruth_uvd_frame1.txt").reshape(1, 14, 3)
    p = tmp_path / "pred.txt"
    _write_named(p, ["depth_1_0000001.png"], gt)
    names, uvd = read_named_xyz_predictions(p)
    assert names == ["depth_1_0000001.png"]
    np.testing.assert_allclose(uvd, gt, atol=1e-3)
    assert detect_format(p) == "named xyz"


def test_published_files_use_y_down():
    # pinky tip of frame 1 in a published named-xyz NYU result file (dense regression),
    # against the published ground truth u, v = 169.2, 199.6 px
    xyz = np.array([[-188.8766, -48.4957, 737.5183]])
    u, v, _ = NYU_CAMERA.xyz_to_uvd(xyz * [1, -1, 1])[0]
    assert abs(u - 169.2) < 1 and abs(v - 199.6) < 3
    u_up, v_up, _ = NYU_CAMERA.xyz_to_uvd(xyz)[0]
    assert abs(v_up - 199.6) > 30  # NYU's y-up reading would put it 78 px off


@pytest.mark.parametrize("text, msg", [
    ("depth_1_0000001.png 1 2 3\n", "expected a file name and 42 numbers"),
    ("depth_1_0000001.png " + " ".join(["1"] * 41) + " x\n", "'x' is not a number"),
    ("depth_1_0000001.png " + " ".join(["1"] * 41) + " nan\n", "NaN"),
    ("depth_1_0000001.png " + " ".join(["1"] * 41) + " 0\n", "depth z <= 0"),
    ("\n\n", "empty"),
])
def test_named_xyz_errors_name_file_and_line(tmp_path, text, msg):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(PredictionFileError, match=msg) as e:
        read_named_xyz_predictions(p)
    assert str(p) in str(e.value)


def test_both_formats_align_with_the_project_test_frames(tmp_path):
    from handpose_core.project import Project
    from handpose_core.render import write_nyu_layout

    write_nyu_layout(tmp_path / "nyu", 4, split="test", seed=2)
    with Project.create(tmp_path / "p", tmp_path / "nyu", kind="nyu") as project:
        from handpose_core.skeleton import joints_36_to_14

        gt = np.stack([joints_36_to_14(project.joints_uvd(f)) for f in project.frames("test")])
        noisy = gt + np.random.default_rng(0).normal(0, 2, gt.shape)
        write_predictions(tmp_path / "a.txt", noisy)
        _write_named(tmp_path / "b.txt", [f"depth_1_{n:07d}.png" for n in (3, 1)],
                     noisy[[2, 0]])
        a = load_prediction_file(tmp_path / "a.txt")
        ids, pred, g = align_with_project(a, project)
        assert a.fmt == "uvd" and len(ids) == 4 and np.array_equal(g, gt)
        b = load_prediction_file(tmp_path / "b.txt")
        ids_b, pred_b, g_b = align_with_project(b, project)
        assert b.fmt == "named xyz" and [project.frame(i).frame for i in ids_b] == [3, 1]
        ea, eb = evaluate_joints(pred, g), evaluate_joints(pred_b, g_b)
        assert eb.mean_mm == pytest.approx(
            evaluate_joints(noisy[[2, 0]], gt[[2, 0]]).mean_mm, abs=1e-3)
        assert ea.mean_mm > 0
        write_predictions(tmp_path / "short.txt", noisy[:3])
        with pytest.raises(PredictionFileError, match="3 lines, but the project has 4 test"):
            align_with_project(load_prediction_file(tmp_path / "short.txt"), project)
        _write_named(tmp_path / "c.txt", ["depth_1_0000009.png"], noisy[:1])
        with pytest.raises(PredictionFileError, match="frame 9 is not a test frame"):
            align_with_project(load_prediction_file(tmp_path / "c.txt"), project)
