"""Every file reader of the NYU layout and the prediction format, tried with bad input.

Corruptions are generated from a seeded loop (cuts at many offsets, single-byte flips,
shape and content changes). Each must end in a clear error naming the file (or, for a
flip that leaves a well-formed file, a well-formed result), with nothing on disk changed.
The count of cases per reader and kind is printed at the end of the run.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.io
from _badinput import check, flips, truncations
from PIL import Image

from handpose_core.datasets.labelio import read_label_png, write_label_png
from handpose_core.datasets.nyu import (
    NYUDataset,
    read_depth,
    read_joint_mat,
    write_depth,
    write_joint_mat,
)
from handpose_core.evaluation import read_predictions, write_predictions
from handpose_core.skeleton import JOINT_NAMES_36

N = 3


def _joints(n=N, seed=0):
    rng = np.random.default_rng(seed)
    uvd = rng.uniform([100, 100, 500], [500, 400, 900], size=(n, 36, 3))
    return uvd, uvd * 0.5


def _joints_ok(j):
    return (
        j.uvd.shape == j.xyz.shape
        and j.uvd.shape[2:] == (36, 3)
        and np.isfinite(j.uvd).all()
        and np.isfinite(j.xyz).all()
    )


@pytest.fixture
def mat_bytes(tmp_path):
    p = tmp_path / "joint_data.mat"
    write_joint_mat(p, *_joints())
    return p.read_bytes()


def test_joint_mat_cut_or_flipped_is_a_clear_error(tmp_path, mat_bytes):
    rng = np.random.default_rng(1)
    uvd, xyz = _joints()
    p = tmp_path / "case" / "joint_data.mat"
    p.parent.mkdir()
    errors = 0
    for kind, gen in (
        ("truncated", truncations(mat_bytes, rng, 120)),
        ("byte flip", flips(mat_bytes, rng, 150)),
    ):
        for data in gen:
            p.write_bytes(data)
            errors += check("joint_data.mat", kind, lambda: read_joint_mat(p), p, valid=_joints_ok) == "error"
    assert errors >= 200  # compressed: nearly every cut or flip is detected


def _save_mat(p, **variables):
    scipy.io.savemat(p, variables)


@pytest.mark.parametrize(
    "kind, variables, match",
    [
        ("missing variable", {"joint_xyz": np.zeros((1, 2, 36, 3))}, "'joint_uvd' missing"),
        ("missing variable", {"joint_uvd": np.zeros((1, 2, 36, 3))}, "'joint_xyz' missing"),
        (
            "wrong shape",
            {"joint_uvd": np.zeros((1, 2, 35, 3)), "joint_xyz": np.zeros((1, 2, 35, 3))},
            r"shape \(K, N, 36, 3\)",
        ),
        (
            "wrong shape",
            {"joint_uvd": np.zeros((2, 36, 2)), "joint_xyz": np.zeros((2, 36, 2))},
            r"shape \(K, N, 36, 3\)",
        ),
        (
            "wrong shape",
            {"joint_uvd": np.zeros((4, 2, 36, 3)), "joint_xyz": np.zeros((4, 2, 36, 3))},
            "K = 1..3",
        ),
        (
            "wrong shape",
            {"joint_uvd": np.zeros((72, 3)), "joint_xyz": np.zeros((72, 3))},
            r"shape \(K, N, 36, 3\)",
        ),
        (
            "wrong shape",
            {"joint_uvd": np.zeros((1, 2, 36, 3)), "joint_xyz": np.zeros((1, 3, 36, 3))},
            "differ",
        ),
        (
            "wrong type",
            {"joint_uvd": np.zeros((1, 2, 36, 3), np.int32), "joint_xyz": np.zeros((1, 2, 36, 3), np.int32)},
            "floating point",
        ),
        ("wrong type", {"joint_uvd": "text", "joint_xyz": np.zeros((1, 2, 36, 3))}, "shape"),
    ],
)
def test_joint_mat_wrong_content_is_a_clear_error(tmp_path, kind, variables, match):
    p = tmp_path / "joint_data.mat"
    _save_mat(p, **variables)
    check("joint_data.mat", kind, lambda: read_joint_mat(p), p, match=match)


@pytest.mark.parametrize(
    "which, value", [("joint_uvd", np.nan), ("joint_xyz", np.inf), ("joint_uvd", -np.inf)]
)
def test_joint_mat_nan_is_a_clear_error(tmp_path, which, value):
    uvd, xyz = _joints()
    arrays = {"joint_uvd": uvd[None], "joint_xyz": xyz[None]}
    arrays[which][0, 1, 7, 2] = value
    p = tmp_path / "joint_data.mat"
    _save_mat(p, **arrays)
    check(
        "joint_data.mat",
        "NaN / infinity",
        lambda: read_joint_mat(p),
        p,
        match=f"{which}.*(NaN|infinite).*frame 2",
    )


def test_joint_mat_other_files_are_clear_errors(tmp_path):
    p = tmp_path / "joint_data.mat"
    p.write_text("joint_uvd = [1 2 3]\n")
    check("joint_data.mat", "not a MAT file", lambda: read_joint_mat(p), p, match="cannot read MATLAB file")
    names = np.empty((1, 36), dtype=object)
    names[0, :] = list(reversed(JOINT_NAMES_36))
    uvd, xyz = _joints()
    _save_mat(p, joint_names=names, joint_uvd=uvd[None], joint_xyz=xyz[None])
    check(
        "joint_data.mat",
        "wrong joint names",
        lambda: read_joint_mat(p),
        p,
        match="joint_names are not the 36 NYU joints",
    )
    p.unlink()
    check(
        "joint_data.mat",
        "missing",
        lambda: read_joint_mat(p),
        p,
        match="joint_data.mat not found",
        error=FileNotFoundError,
    )


# ------------------------------------------------------------------ depth PNGs
def _depth_ok(d):
    return d.shape == (480, 640) and d.dtype == np.uint16


@pytest.fixture
def depth_bytes(tmp_path):
    rng = np.random.default_rng(2)
    d = np.full((480, 640), 2001, np.uint16)
    d[100:300, 200:400] = rng.integers(500, 900, size=(200, 200))
    p = tmp_path / "depth_1_0000001.png"
    write_depth(p, d)
    return p.read_bytes()


def test_depth_png_cut_or_flipped_is_a_clear_error(tmp_path, depth_bytes):
    rng = np.random.default_rng(3)
    p = tmp_path / "case" / "depth_1_0000001.png"
    p.parent.mkdir()
    for kind, gen in (
        ("truncated", truncations(depth_bytes, rng, 100)),
        ("byte flip", flips(depth_bytes, rng, 100)),
    ):
        for data in gen:
            p.write_bytes(data)
            check("depth PNG", kind, lambda: read_depth(p), p, valid=lambda d: _depth_ok(d)
                  and np.array_equal(d, read_depth(tmp_path / "depth_1_0000001.png")))


@pytest.mark.parametrize(
    "kind, image, match",
    [
        ("not 640x480", np.zeros((240, 320, 3), np.uint8), "640x480, got 320x240"),
        ("not 640x480", np.zeros((640, 480, 3), np.uint8), "640x480, got 480x640"),
        ("not 640x480", np.zeros((1, 1, 3), np.uint8), "640x480, got 1x1"),
        ("wrong channels", np.zeros((480, 640), np.uint8), "3-channel 8-bit"),
        ("wrong channels", np.zeros((480, 640), np.uint16), "3-channel 8-bit"),
        ("wrong channels", np.zeros((480, 640, 3), np.uint16), "3-channel 8-bit"),
    ],
)
def test_depth_png_wrong_format_is_a_clear_error(tmp_path, kind, image, match):
    p = tmp_path / "depth_1_0000001.png"
    assert cv2.imwrite(str(p), image)
    check("depth PNG", kind, lambda: read_depth(p), p, match=match)


def test_depth_png_not_an_image_or_missing(tmp_path):
    p = tmp_path / "depth_1_0000001.png"
    p.write_bytes(b"")
    check("depth PNG", "empty / not an image", lambda: read_depth(p), p, match="not a readable PNG")
    p.write_text("hello")
    check("depth PNG", "empty / not an image", lambda: read_depth(p), p, match="not a readable PNG")
    p.unlink()
    check(
        "depth PNG",
        "missing",
        lambda: read_depth(p),
        p,
        match="depth frame not found",
        error=FileNotFoundError,
    )


# ------------------------------------------------------------------ label PNGs
def _labels_ok(a):
    return a.ndim == 2 and a.dtype == np.uint8 and a.max() <= 20


@pytest.fixture
def label_bytes(tmp_path):
    lab = np.zeros((480, 640), np.uint8)
    lab[100:300, 200:400] = np.arange(200 * 200).reshape(200, 200) % 21
    p = tmp_path / "labels_1_0000001.png"
    write_label_png(p, lab)
    return p.read_bytes()


def test_label_png_cut_or_flipped_is_a_clear_error(tmp_path, label_bytes):
    rng = np.random.default_rng(4)
    p = tmp_path / "case" / "labels_1_0000001.png"
    p.parent.mkdir()
    for kind, gen in (
        ("truncated", truncations(label_bytes, rng, 100)),
        ("byte flip", flips(label_bytes, rng, 100)),
    ):
        for data in gen:
            p.write_bytes(data)
            check("label PNG", kind, lambda: read_label_png(p), p, valid=lambda a: _labels_ok(a)
                  and np.array_equal(a, read_label_png(tmp_path / "labels_1_0000001.png")))


@pytest.mark.parametrize(
    "kind, mode, value, match",
    [
        ("RGB, not palette", "RGB", (255, 0, 0), "palette PNG, got mode RGB"),
        ("RGB, not palette", "RGBA", (255, 0, 0, 255), "palette PNG, got mode RGBA"),
        ("RGB, not palette", "I;16", 3, "palette PNG, got mode I;16"),
        ("out-of-range index", "P", 21, "holds id 21, outside 0..20"),
        ("out-of-range index", "L", 255, "holds id 255, outside 0..20"),
    ],
)
def test_label_png_wrong_mode_or_index_is_a_clear_error(tmp_path, kind, mode, value, match):
    p = tmp_path / "labels_1_0000001.png"
    img = Image.new(mode, (64, 48), value)
    if mode == "P":
        img.putpalette(list(range(256)) * 3)
    img.save(p)
    check("label PNG", kind, lambda: read_label_png(p), p, match=match)


def test_label_png_of_the_wrong_size_for_its_frame(tmp_path):
    """A dataset's label image must match its 640x480 depth frame."""
    root = tmp_path / "nyu"
    (root / "train").mkdir(parents=True)
    write_depth(root / "train" / "depth_1_0000001.png", np.full((480, 640), 700, np.uint16))
    write_joint_mat(root / "train" / "joint_data.mat", *_joints(1))
    p = root / "train" / "labels_1_0000001.png"
    write_label_png(p, np.ones((48, 48), np.uint8))
    ds = NYUDataset(root)
    check("label PNG", "not 640x480", lambda: ds.labels("train", 1), p, watch=[root], match="640x480.*48x48")


# ------------------------------------------------------------------ prediction files
def _pred_ok(a):
    return a.ndim == 3 and a.shape[1:] == (14, 3) and np.isfinite(a).all()


@pytest.fixture
def pred_bytes(tmp_path):
    p = tmp_path / "pred.txt"
    write_predictions(p, np.random.default_rng(5).uniform(0, 600, size=(4, 14, 3)))
    return p.read_bytes()


def test_prediction_file_cut_or_flipped_is_a_clear_error(tmp_path, pred_bytes):
    rng = np.random.default_rng(6)
    p = tmp_path / "case" / "pred.txt"
    p.parent.mkdir()
    for kind, gen in (
        ("truncated", truncations(pred_bytes, rng, 150)),
        ("byte flip", flips(pred_bytes, rng, 200)),
    ):
        for data in gen:
            p.write_bytes(data)
            check("prediction file", kind, lambda: read_predictions(p), p, valid=_pred_ok)


@pytest.mark.parametrize(
    "kind, text, match",
    [
        ("NaN / infinity", "nan " + "1 " * 41, "NaN or infinite"),
        ("NaN / infinity", "1 " * 41 + "inf", "NaN or infinite"),
        ("wrong count", "1 " * 41, "expected 42 numbers"),
        ("wrong count", "1 " * 42 + "\n" + "1 " * 43, ":2: expected 42 numbers"),
        ("wrong count", "1 " * 42 + "\n\n" + "1 " * 42, ":2: expected 42"),
        ("not a number", "1,0 " + "1 " * 41, "'1,0' is not a number"),
        ("empty", "", "file is empty"),
        ("empty", "\n\n  \n", "file is empty"),
    ],
)
def test_prediction_file_wrong_content_is_a_clear_error(tmp_path, kind, text, match):
    p = tmp_path / "pred.txt"
    p.write_text(text)
    check("prediction file", kind, lambda: read_predictions(p), p, match=match)


def test_prediction_file_binary_or_missing(tmp_path):
    p = tmp_path / "pred.txt"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" * 10)
    check("prediction file", "binary", lambda: read_predictions(p), p, match="not a text file")
    p.unlink()
    check("prediction file", "missing", lambda: read_predictions(p), p, match="file not found")
