"""train-reg on crops around jittered and detected hand centres (robustness of f_r to a
centre found from depth alone)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handpose_core.camera import NYU_CAMERA
from handpose_core.cli.main import main
from handpose_core.detection import detect_center
from handpose_core.nets.joints import PALM_14
from handpose_core.stages.train_reg import TrainRegSettings, frame_set, training_centres
from handpose_core.training.regression import REG_TRAIN


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from handpose_core.project import Project
    from handpose_core.render import write_nyu_layout

    base = tmp_path_factory.mktemp("centres")
    write_nyu_layout(base / "nyu", 6, split="train", seed=21)
    write_nyu_layout(base / "nyu", 2, split="test", seed=22)
    return Project.create(base / "proj", base / "nyu", kind="nyu")


def _settings(seed=0, **kw):
    from dataclasses import replace

    return TrainRegSettings(variant="a", train=replace(REG_TRAIN, seed=seed), **kw)


def test_default_trains_on_the_ground_truth_palm_only(small):
    frames, _, _, gt = frame_set(small, "train")
    centres, src = training_centres(small, frames, gt, _settings())
    np.testing.assert_array_equal(src, np.arange(len(frames)))
    np.testing.assert_allclose(centres, gt[:, PALM_14])


def test_jitter_moves_the_extra_centres_by_the_set_noise_reproducibly(small):
    frames, _, _, gt = frame_set(small, "train")
    n = len(frames)
    centres, src = training_centres(small, frames, gt, _settings(centre_copies=3,
                                                                 centre_jitter_mm=15.0))
    assert len(centres) == 4 * n
    np.testing.assert_array_equal(src, np.repeat(np.arange(n), 4))
    per = centres.reshape(n, 4, 3)
    np.testing.assert_allclose(per[:, 0], gt[:, PALM_14])  # the gt crop stays
    moved = NYU_CAMERA.uvd_to_xyz(per[:, 1:]) - NYU_CAMERA.uvd_to_xyz(per[:, :1])
    dist = np.linalg.norm(moved, axis=-1)
    # 3D norm of N(0, 15 mm) per axis: mean 15 * 1.596 = 23.9 mm
    assert dist.min() > 0.1 and 10.0 < dist.mean() < 40.0
    again, _ = training_centres(small, frames, gt, _settings(centre_copies=3,
                                                             centre_jitter_mm=15.0))
    np.testing.assert_array_equal(again, centres)
    other, _ = training_centres(small, frames, gt, _settings(seed=1, centre_copies=3,
                                                             centre_jitter_mm=15.0))
    assert not np.allclose(other.reshape(n, 4, 3)[:, 1:], per[:, 1:])
    wider, _ = training_centres(small, frames, gt, _settings(centre_copies=3,
                                                             centre_jitter_mm=45.0))
    wd = np.linalg.norm(NYU_CAMERA.uvd_to_xyz(wider.reshape(n, 4, 3)[:, 1:])
                        - NYU_CAMERA.uvd_to_xyz(wider.reshape(n, 4, 3)[:, :1]), axis=-1)
    np.testing.assert_allclose(wd, 3.0 * dist, rtol=1e-6)  # same draws, three times as far


def test_detected_centres_are_the_detectors(small):
    frames, _, _, gt = frame_set(small, "train")
    centres, src = training_centres(small, frames, gt, _settings(detected_centres=True))
    per = centres.reshape(len(frames), 2, 3)
    for f, c in zip(frames, per[:, 1]):
        np.testing.assert_allclose(c, detect_center(small.depth(f), name=f.key))


def test_bad_centre_settings_are_refused():
    with pytest.raises(ValueError, match="centre_copies"):
        TrainRegSettings(centre_copies=-1)


def test_training_uses_the_extra_crops(small, capsys):
    root = str(small.root)
    assert main(["train", "train-reg", "--project", root, "--variant", "a", "--epochs", "1",
                 "--hidden", "8", "--set", "batch_size=4", "--centre-copies", "2",
                 "--detected-centres", "--run-name", "jit", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["settings"]["centre_copies"] == 2 and rep["settings"]["detected_centres"]
    import tomllib

    data = tomllib.loads((small.root / "models" / "jit" / "config.toml").read_text())["data"]
    assert data["frames"] == 6 and data["samples"] == 6 * 4
    assert data["train"] + data["val"] == 24 and data["val"] % 4 == 0  # frames held out whole
