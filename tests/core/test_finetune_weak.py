"""Weak labels for finetune-seg: ignoring uncertain pixels and class-balanced weights."""

from __future__ import annotations

import numpy as np
import torch

from handpose_core.nets.segnet import SegNetConfig, build_segnet
from handpose_core.stages.finetune_seg import class_weights, uncertain_ignored
from handpose_core.training.config import TrainConfig
from handpose_core.training.segmentation import IGNORE, train_segmentation


def test_class_weights_favour_rare_classes_and_keep_the_background():
    labels = np.zeros((2, 10, 10), np.uint8)
    labels[:, :5, :] = 1          # 100 palm pixels
    labels[:, 5, :4] = 8          # 8 index-distal pixels
    labels[:, 6, :2] = 12         # 4 middle-distal pixels
    labels[:, 9, :] = IGNORE      # not counted
    w = class_weights(labels, 1.0)
    assert w.shape == (21,) and w.dtype == np.float32
    assert w[0] == 1.0 and w[2] == 1.0  # background; an absent class
    share = np.array([100, 8, 4]) / 112
    v = 1 / share
    np.testing.assert_allclose(w[[1, 8, 12]], v / v.mean(), rtol=1e-6)
    assert w[12] > w[8] > w[1]
    half = class_weights(labels, 0.5)
    assert 1 < half[12] / half[1] < w[12] / w[1]
    np.testing.assert_allclose(class_weights(labels, 0.0)[[1, 8, 12]], 1.0)


def test_uncertain_pixels_are_those_the_model_gives_a_low_probability():
    torch.manual_seed(3)
    model = build_segnet(SegNetConfig("fast", in_size=16))
    rng = np.random.default_rng(0)
    depth = rng.uniform(-0.5, 0.5, (3, 16, 16)).astype(np.float32)
    maps = rng.integers(0, 21, (3, 16, 16)).astype(np.uint8)
    _, prob = model.predict(depth, probabilities=True)
    p = np.take_along_axis(prob, maps[:, None].astype(np.int64), axis=1)[:, 0]
    thr = float(np.median(p))
    out, n = uncertain_ignored(model, depth, maps, thr)
    np.testing.assert_array_equal(out == IGNORE, p < thr)
    np.testing.assert_array_equal(out[p >= thr], maps[p >= thr])
    assert n == int((p < thr).sum()) and 0 < n < maps.size
    assert (maps != IGNORE).all()  # the input is not changed


def test_training_skips_ignored_pixels(tmp_path):
    rng = np.random.default_rng(1)
    depth = rng.uniform(-0.5, 0.5, (8, 16, 16)).astype(np.float32)
    labels = np.full((8, 16, 16), IGNORE, np.uint8)
    labels[:, 4:12, 4:12] = 3
    labels[:, :2, :] = 0
    cfg = TrainConfig(epochs=1, batch_size=4, warmup_steps=0, num_threads=1, log_every=1)
    res = train_segmentation((depth, labels), cfg, tmp_path / "run",
                             net=SegNetConfig("fast", in_size=16), val_fraction=0.25,
                             class_weight=np.linspace(0.5, 2.0, 21))
    assert np.isfinite(res.metrics["val_loss"])
    assert 0.0 <= res.metrics["val_acc"] <= 1.0  # over the 64 counted hand pixels only
