"""f_r: per-joint heads, regions of interest, coordinates, augmentation, checkpoints, the
guidance hook."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from handpose_core.datasets.crop import crop_transform
from handpose_core.nets.checkpoint import load_regnet, save_checkpoint
from handpose_core.nets.regnet import RegNetConfig, build_regnet, target_to_uvd, uvd_to_target
from handpose_core.training.augment import augment
from handpose_core.training.config import TrainConfig
from handpose_core.training.regression import Batch, RegressionTask


def _crop(seed=0, n=2):
    rng = np.random.default_rng(seed)
    d = np.ones((n, 48, 48), np.float32)
    d[:, 12:36, 14:34] = rng.uniform(-0.3, 0.3, (n, 24, 20))
    return d


def test_each_joint_has_its_own_head():
    torch.manual_seed(0)
    m = build_regnet(RegNetConfig(variant="d", hidden=16))
    x = torch.from_numpy(_crop())[:, None]
    lab = torch.randint(0, 21, (2, 48, 48))
    out = m(x, lab)
    assert out.shape == (2, 14, 3)
    out[:, 5].sum().backward()
    g = m.fc_w.grad.abs().sum(dim=(1, 2))
    assert g[5] > 0 and float(g[torch.arange(14) != 5].sum()) == 0.0
    assert float(m.out_w.grad[torch.arange(14) != 5].abs().sum()) == 0.0


def test_regions_of_interest_are_opened_part_masks():
    m = build_regnet(RegNetConfig(variant="d"))
    depth = torch.from_numpy(_crop(n=1))[:, None]
    lab = torch.zeros(1, 48, 48, dtype=torch.long)
    lab[0, 12:24, 14:26] = 1             # palm: palm centre and both wrists
    lab[0, 30:36, 30:36] = 12            # middle distal: 6x6, survives the opening
    lab[0, 5, 5] = 20                    # pinky distal: a single stray pixel
    masks = m.joint_masks(depth, lab)    # (1, 14, 12, 12)
    assert masks.shape == (1, 14, 12, 12)
    mid = masks[0, 4]                    # middle tip <- middle distal
    assert mid[30 // 4:36 // 4, 30 // 4:36 // 4].min() == 1 and mid.sum() == 4
    # the stray pinky pixel is opened away, but the unopened mask stands in for an empty one
    assert masks[0, 0].sum() == 1 and masks[0, 0, 1, 1] == 1
    assert torch.equal(masks[0, 11], masks[0, 13]) and masks[0, 13].sum() > 0
    # a joint with no labelled part at all falls back to the silhouette
    sil = F.max_pool2d((depth < 1).float(), 4)[0, 0]
    assert torch.equal(masks[0, 2], sil)


def test_direct_variant_ignores_labels_segmented_variant_uses_them():
    torch.manual_seed(0)
    x = torch.from_numpy(_crop())[:, None]
    l1, l2 = torch.randint(0, 21, (2, 48, 48)), torch.randint(0, 21, (2, 48, 48))
    a = build_regnet(RegNetConfig(variant="a")).eval()
    d = build_regnet(RegNetConfig(variant="d")).eval()
    with torch.no_grad():
        assert torch.equal(a(x, l1), a(x, l2)) and torch.equal(a(x, None), a(x, l1))
        assert not torch.allclose(d(x, l1), d(x, l2))
    with pytest.raises(ValueError, match="variant d needs part labels"):
        d(x, None)


def test_targets_round_trip_to_full_frame_uvd():
    rng = np.random.default_rng(1)
    centres = np.array([[300.0, 250.0, 800.0], [120.0, 330.0, 620.0]])
    tfs = np.stack([crop_transform(c, 300.0, 48).to_array() for c in centres])
    uvd = centres[:, None, :] + rng.normal(0, [30, 30, 40], (2, 14, 3))
    t = uvd_to_target(uvd, tfs)
    assert np.abs(t).max() < 1.0
    np.testing.assert_allclose(target_to_uvd(t.astype(np.float64), tfs), uvd, atol=1e-9)
    # the cube centre is crop coordinate S/2: half a pixel off the grid's 0, depth 0
    c = uvd_to_target(centres[:, None, :], tfs)
    np.testing.assert_allclose(c[:, 0], [[1 / 48, 1 / 48, 0.0]] * 2, atol=1e-6)


def test_rotation_moves_joints_with_the_pixels():
    d = np.ones((1, 48, 48), np.float32)
    lab = np.zeros((1, 48, 48), np.uint8)
    d[0, 10:13, 30:33] = 0.0               # a 3x3 blob centred on crop pixel (31, 11)
    lab[0, 10:13, 30:33] = 7
    x, y = 31.0, 11.0
    target = np.zeros((1, 14, 3), np.float32)
    target[0, :, 0], target[0, :, 1] = (2 * x + 1) / 48 - 1, (2 * y + 1) / 48 - 1
    cfg = TrainConfig(rotate_deg=40.0, shift_px=4.0, depth_jitter=0.1)
    b = Batch(*augment(d, lab, np.random.default_rng(3), cfg, target))
    ys, xs = np.nonzero(b.labels[0].numpy() == 7)
    gx, gy = float(b.target[0, 0, 0]), float(b.target[0, 0, 1])
    px, py = ((gx + 1) * 48 - 1) / 2, ((gy + 1) * 48 - 1) / 2
    assert abs(xs.mean() - px) < 1.0 and abs(ys.mean() - py) < 1.0
    # the depth offset moves the hand and the joints' z alike
    dz = float(b.depth[0, 0, ys[0], xs[0]])
    assert float(b.target[0, 0, 2]) == pytest.approx(dz, abs=1e-6)


def test_checkpoint_of_another_variant_or_network_is_refused(tmp_path):
    m = build_regnet(RegNetConfig(variant="a", hidden=8))
    p = save_checkpoint(tmp_path / "a.pt", m, m.config)
    model, cfg, _ = load_regnet(p, variant="a")
    assert cfg.variant == "a"
    with pytest.raises(ValueError, match=r"a\.pt: holds an f_r of variant 'a', expected "
                                         r"variant 'd'"):
        load_regnet(p, variant="d")
    from handpose_core.nets.inference import bundled_segnet_path

    with pytest.raises(ValueError, match=r"segnet_fast\.pt: checkpoint holds a 'segnet' "
                                         r"network, expected 'regnet'"):
        load_regnet(bundled_segnet_path())


class HeatmapHook:
    """A real (minimal) guidance module: a 1x1 head predicting 14 Gaussian maps."""

    def __init__(self, channels, weight):
        self.head = nn.Conv2d(channels, 14, 1)
        self.weight = weight

    def targets(self, joints, labels, depth):
        s = 12
        g = (torch.arange(s, dtype=torch.float32) + 0.5) / s * 2 - 1
        dx = g.view(1, 1, 1, s) - joints[:, :, 0, None, None]
        dy = g.view(1, 1, s, 1) - joints[:, :, 1, None, None]
        return torch.exp(-(dx ** 2 + dy ** 2) / 0.02)

    def loss(self, pred, target):
        return F.mse_loss(pred, target)


def test_guidance_hook_adds_its_loss_and_trains_its_head(tmp_path):
    depth = _crop(n=4)
    tfs = np.stack([crop_transform((320, 240, 800), 300.0, 48).to_array()] * 4)
    gt = np.tile(np.array([320.0, 240.0, 800.0]), (4, 14, 1)) + np.arange(14)[None, :, None]
    target = uvd_to_target(gt, tfs)
    cfg = TrainConfig(batch_size=4, rotate_deg=0.0)
    losses = {}
    for name, hook in (("plain", None), ("guided", HeatmapHook(32, 5.0))):
        torch.manual_seed(0)
        m = build_regnet(RegNetConfig(variant="a", hidden=8))
        task = RegressionTask(m, depth, None, target, tfs, gt, np.arange(4), np.arange(0), cfg,
                              {}, "test", guidance=hook)
        batch = next(task.batches(0, 0))
        losses[name] = task.train_step(m, batch, None)
        if hook is not None:
            assert m.guidance_head is hook.head
            assert hook.head.weight.grad is not None and hook.head.weight.grad.abs().sum() > 0
            p = save_checkpoint(tmp_path / "g.pt", m, m.config)
            assert any(k.startswith("guidance_head.") for k in torch.load(p)["model"])
            load_regnet(p, variant="a")  # inference drops the head
    assert losses["guided"] > losses["plain"]
