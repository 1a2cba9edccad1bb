"""Weak labels for finetune-seg: ignoring uncertain pixels and class-balanced weights."""

from __future__ import annotations

import numpy as np
import pytest
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
    """Pixels labelled IGNORE count neither in the training loss nor in validation: the
    loss equals the class-weighted cross-entropy over the counted pixels alone, and the
    validation accuracy is that of the counted hand pixels."""
    import torch.nn.functional as F

    from handpose_core.evaluation import segmentation_accuracy
    from handpose_core.training.segmentation import SegmentationTask

    rng = np.random.default_rng(1)
    depth = rng.uniform(-0.5, 0.5, (8, 16, 16)).astype(np.float32)
    labels = np.full((8, 16, 16), IGNORE, np.uint8)
    labels[:, 4:12, 4:12] = 3
    labels[:, 6:9, 6:9] = 9
    labels[:, :2, :] = 0
    cfg = TrainConfig(epochs=1, batch_size=4, warmup_steps=0, num_threads=1, log_every=1)
    weight = np.linspace(0.5, 2.0, 21).astype(np.float32)
    # the loss of one step, against the same sum computed here over counted pixels only
    torch.manual_seed(0)
    model = build_segnet(SegNetConfig("fast", in_size=16)).train()
    task = SegmentationTask(model, depth, labels, np.arange(8), np.arange(0), cfg, {}, "t",
                            class_weight=weight)
    x, y = torch.from_numpy(depth[:4]).unsqueeze(1), torch.from_numpy(labels[:4]).long()
    with torch.no_grad():
        logp = F.log_softmax(model(x), 1)
    w = task.class_weight  # the background's weight is config.background_weight
    counted = y != IGNORE
    yc = y[counted]
    nll = -logp.permute(0, 2, 3, 1)[counted].gather(1, yc[:, None])[:, 0]
    want = float((w[yc] * nll).sum() / w[yc].sum())
    assert task.train_step(model, (x, y), None) == pytest.approx(want, rel=1e-5)
    # a loss that counted the ignored pixels as background would differ
    as_bg = torch.where(counted, y, 0)
    assert float(F.cross_entropy(logp, as_bg, weight=w)) != pytest.approx(want, rel=1e-3)

    res = train_segmentation((depth, labels), cfg, tmp_path / "run",
                             net=SegNetConfig("fast", in_size=16), val_fraction=0.25,
                             class_weight=weight)
    assert np.isfinite(res.metrics["val_loss"])
    # validation: the accuracy of the best checkpoint on the counted hand pixels of the
    # held-out samples, recomputed here
    from handpose_core.nets.checkpoint import load_segnet
    from handpose_core.training.segmentation import split_indices

    _, val_idx = split_indices(8, 0.25, cfg.seed, cfg.val_max)
    best, _, _ = load_segnet(res.best_checkpoint)
    pred, _ = best.eval().predict(depth[val_idx], probabilities=False)
    gt = labels[val_idx]
    keep = gt != IGNORE
    acc = segmentation_accuracy(pred[keep], gt[keep]).per_pixel
    assert res.metrics["val_acc"] == pytest.approx(acc)
    bg = keep & (gt == 0)
    assert res.metrics["val_bg_acc"] == pytest.approx((pred[bg] == 0).mean())
    with torch.no_grad():
        logits = best(torch.from_numpy(depth[val_idx]).unsqueeze(1))
    g = torch.from_numpy(gt).long()
    nll = F.cross_entropy(logits, g, reduction="sum", ignore_index=IGNORE)
    assert res.metrics["val_loss"] == pytest.approx(float(nll) / keep.sum(), rel=1e-4)
