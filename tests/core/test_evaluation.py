import json
import math

import numpy as np
import pytest

from handpose_core.camera import NYU_CAMERA
from handpose_core.cli.main import main
from handpose_core.evaluation import (
    PredictionFileError,
    evaluate_joints,
    joint_errors_mm,
    read_number_rows,
    read_predictions,
    segmentation_accuracy,
    success_curves,
    write_predictions,
)


def _gt(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(150, 450, (n, 14)), rng.uniform(100, 380, (n, 14)),
                     rng.uniform(600, 1000, (n, 14))], axis=-1)


def _offset_in_mm(gt, mm):
    """Predictions exactly ``mm`` away from every ground-truth joint (along x)."""
    xyz = NYU_CAMERA.uvd_to_xyz(gt)
    xyz[..., 0] += mm
    return NYU_CAMERA.xyz_to_uvd(xyz)


def test_known_errors():
    gt = _gt()
    pred = _offset_in_mm(gt, 10.0)
    pred[:10] = _offset_in_mm(gt[:10], 29.0)
    e = joint_errors_mm(pred, gt)
    np.testing.assert_allclose(e[10:], 10.0, atol=1e-9)
    r = evaluate_joints(pred, gt)
    assert r.mean_mm == pytest.approx((40 * 10 + 10 * 29) / 50)
    assert r.success_at(20) == pytest.approx(0.8)
    assert r.success_at(30) == pytest.approx(1.0)
    np.testing.assert_allclose(r.per_joint_mm, r.mean_mm)


def test_three_curves_differ():
    e = np.array([[5.0, 50.0], [10.0, 12.0]])
    c = success_curves(e, np.array([11.0, 30.0, 60.0]))
    assert c["max_frame"].tolist() == [0.0, 0.5, 1.0]
    assert c["mean_frame"].tolist() == [0.5, 1.0, 1.0]  # means 27.5 and 11
    assert c["joint"].tolist() == [0.5, 0.75, 1.0]


def test_write_read_round_trip(tmp_path):
    gt = np.round(_gt(), 3)
    write_predictions(tmp_path / "p.txt", gt)
    np.testing.assert_allclose(read_predictions(tmp_path / "p.txt"), gt, atol=5e-4)
    assert len((tmp_path / "p.txt").read_text().splitlines()) == 50


@pytest.mark.parametrize("mutate, message", [
    (lambda ls: ls.__setitem__(3, ls[3] + " 1.0"), r"p.txt:4: expected 42 numbers.*found 43"),
    (lambda ls: ls.__setitem__(1, ls[1].replace(ls[1].split()[5], "abc", 1)), r"p.txt:2: 'abc'"),
    (lambda ls: ls.__setitem__(7, ls[7].replace(ls[7].split()[0], "nan", 1)), r"p.txt:8: NaN"),
    (lambda ls: ls.insert(2, ""), r"p.txt:3: expected 42 numbers"),
])
def test_malformed_files(tmp_path, mutate, message):
    write_predictions(tmp_path / "p.txt", _gt(10))
    lines = (tmp_path / "p.txt").read_text().splitlines()
    mutate(lines)
    (tmp_path / "p.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(PredictionFileError, match=message):
        read_predictions(tmp_path / "p.txt")


def test_number_rows_with_and_without_a_leading_name(tmp_path):
    """The one parser of prediction files: plain rows (uvd files) and rows led by a name
    (named-xyz files); errors name the file and line."""
    p = tmp_path / "rows.txt"
    p.write_text("1 2 3\n4 5.5 -6e1\n\n")
    names, rows = read_number_rows(p, 3)
    assert names == [] and rows.tolist() == [[1, 2, 3], [4, 5.5, -60]]
    p.write_text("a.png 1 2 3\nb.png\t4 5 6\n")
    names, rows = read_number_rows(p, 3, named=True)
    assert names == ["a.png", "b.png"] and rows.shape == (2, 3)
    with pytest.raises(PredictionFileError, match=r"rows\.txt:2: expected a name and 3, found 3 "
                                                  r"fields"):
        p.write_text("a 1 2 3\n1 2 3\n")
        read_number_rows(p, 3, named=True, expected="a name and 3")
    with pytest.raises(PredictionFileError, match=r"rows\.txt:1: 'inf' is not|rows\.txt:1: NaN"):
        p.write_text("1 inf 3\n")
        read_number_rows(p, 3)
    with pytest.raises(PredictionFileError, match=r"gone\.txt: file not found"):
        read_number_rows(tmp_path / "gone.txt", 3)


def test_compare_command_table_and_json(tmp_path, capsys):
    gt = _gt()
    write_predictions(tmp_path / "gt.txt", gt)
    write_predictions(tmp_path / "a.txt", _offset_in_mm(gt, 10.0))
    write_predictions(tmp_path / "b.txt", _offset_in_mm(gt, 25.0))
    assert main(["compare", str(tmp_path / "gt.txt"), str(tmp_path / "a.txt"),
                 str(tmp_path / "b.txt"), "--names", "ten", "twentyfive"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:4]}
    assert rows["ten"][1] == "50" and math.isclose(float(rows["ten"][2]), 10.0, abs_tol=2e-3)
    assert rows["twentyfive"][5] == "0.0%" and rows["ten"][5] == "100.0%"
    assert main(["compare", str(tmp_path / "gt.txt"), str(tmp_path / "a.txt"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data[0]["per_joint_mm"]) == 14 and len(data[0]["success_max_frame"]) == 81


def test_compare_rejects_bad_input(tmp_path, capsys):
    gt = _gt()
    write_predictions(tmp_path / "gt.txt", gt)
    write_predictions(tmp_path / "short.txt", gt[:40])
    assert main(["compare", str(tmp_path / "gt.txt"), str(tmp_path / "short.txt")]) == 2
    err = capsys.readouterr().err
    assert "short.txt" in err and "40 lines" in err and "50" in err
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    assert main(["compare", str(tmp_path / "gt.txt"), str(tmp_path / "bad.txt")]) == 2
    assert "bad.txt:1: expected 42 numbers" in capsys.readouterr().err


def test_segmentation_accuracy_definitions():
    gt = np.array([[0, 1, 1, 1], [2, 2, 3, 3]])
    pred = np.array([[5, 1, 1, 0], [2, 0, 3, 3]])
    acc = segmentation_accuracy(pred, gt)
    assert acc.per_pixel == pytest.approx(5 / 7)  # background pixel ignored
    assert acc.per_class == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert np.isnan(acc.class_acc[4]) and acc.counts[1] == 3
