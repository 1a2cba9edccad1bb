"""The weak joint loss of finetune-seg (soft part-set barycenters against annotated
joints), per-frame target weights, the held-out selection frames and head-only tuning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handpose_core.datasets.crop import crop_transform
from handpose_core.parts import JOINT_PARTS_14, NUM_CLASSES
from handpose_core.restoration.quality import quality_score
from handpose_core.stages.finetune_seg import (
    crop_joints,
    hard_barycenters,
    quality_weights,
)
from handpose_core.training.config import TrainConfig
from handpose_core.training.segmentation import (
    IGNORE,
    SegmentationTask,
    WeakTargets,
    freeze_all_but_head,
    joint_barycenter_loss,
    part_set_matrix,
    soft_barycenters,
)

SETS = part_set_matrix(JOINT_PARTS_14, NUM_CLASSES)


def _blobs(n=3, s=24, seed=0):
    """Label maps with one square blob per scored part set's first part, at random places."""
    rng = np.random.default_rng(seed)
    maps = np.zeros((n, s, s), np.uint8)
    for i in range(n):
        for parts in JOINT_PARTS_14:
            if parts:
                y, x = rng.integers(0, s - 3, 2)
                maps[i, y:y + 3, x:x + 3] = parts[-1]
    return maps


def test_soft_barycenters_of_a_sure_prediction_are_the_quality_checks_barycenters():
    maps = _blobs(2, 48)
    logits = 40.0 * torch.nn.functional.one_hot(torch.from_numpy(maps).long(),
                                                NUM_CLASSES).permute(0, 3, 1, 2).float()
    centres, mass = soft_barycenters(logits, SETS)
    hard = hard_barycenters(maps)
    ok = np.isfinite(hard).all(-1)
    np.testing.assert_allclose(centres.numpy()[ok], hard[ok], atol=1e-3)
    # the same centre the quality check computes (in full-frame pixels there)
    tf = crop_transform(np.array([320.0, 240.0, 700.0]), 300.0, 48)
    depth = np.where(maps[0] > 0, 0.0, 1.0).astype(np.float32)
    q = quality_score(maps[0], depth, tf, np.tile([320.0, 240.0, 700.0], (14, 1)))
    scored = [j for j, p in enumerate(JOINT_PARTS_14) if p and ok[0, j]]
    back = crop_joints(q.barycenters_uvd[None, scored], tf.to_array()[None])[0]
    np.testing.assert_allclose(back, centres.numpy()[0, scored], atol=1e-3)
    assert (mass.numpy()[0, scored] > 8.9).all()


def test_joint_loss_is_zero_at_the_barycenters_and_the_distance_elsewhere():
    maps = _blobs(2, 24, seed=1)
    logits = 40.0 * torch.nn.functional.one_hot(torch.from_numpy(maps).long(),
                                                NUM_CLASSES).permute(0, 3, 1, 2).float()
    centres, _ = soft_barycenters(logits, SETS)
    tgt = centres.clone()
    assert joint_barycenter_loss(logits, tgt, SETS).abs().max() < 2e-3
    moved = tgt.clone()
    moved[0, :, 0] += 3.0            # sample 0: every joint 3 px to the right
    moved[1, :, 1] += 4.0            # sample 1: 4 px down
    moved[1, 0] = float("nan")       # a joint without annotation does not count
    loss = joint_barycenter_loss(logits, moved, SETS)
    np.testing.assert_allclose(loss.numpy(), [3.0, 4.0], atol=2e-3)
    margin = torch.full((14,), 1.0)
    np.testing.assert_allclose(joint_barycenter_loss(logits, moved, SETS, margin).numpy(),
                               [2.0, 3.0], atol=2e-3)
    none = torch.full_like(moved, float("nan"))
    assert float(joint_barycenter_loss(logits, none, SETS).abs().max()) == 0.0


def test_the_joint_loss_alone_moves_the_parts_onto_the_joints():
    """Gradient descent on the joint loss alone (no labels) carries each part set's
    barycenter to its joint: x and y, every scored joint. A loss with a wrong sign, x and
    y swapped or the part sets mixed up would not get there."""
    torch.manual_seed(0)
    s = 24
    rng = np.random.default_rng(5)
    tgt = torch.from_numpy(rng.uniform(5, 19, (1, 14, 2)).astype(np.float32))
    tgt[0, 2] = torch.tensor([4.0, 20.0])   # far from the centre, asymmetric in x and y
    logits = torch.zeros(1, NUM_CLASSES, s, s, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.3)
    first = float(joint_barycenter_loss(logits.detach(), tgt, SETS))
    for _ in range(300):
        opt.zero_grad()
        loss = joint_barycenter_loss(logits, tgt, SETS).sum()
        loss.backward()
        opt.step()
    centres, _ = soft_barycenters(logits.detach(), SETS)
    scored = [j for j, p in enumerate(JOINT_PARTS_14) if p]
    err = (centres[0, scored] - tgt[0, scored]).norm(dim=-1)
    assert first > 3.0 and float(err.max()) < 0.5, (first, err)


def test_weak_batches_move_the_joints_with_the_augmentation_and_weight_the_nll():
    """A shifted / rotated batch keeps each joint where its part moved; the per-pixel NLL
    of a sample counts with its weight (0: the joint loss alone)."""
    s = 24
    maps = np.zeros((4, s, s), np.uint8)
    for i in range(4):
        maps[i, 6 + i:9 + i, 10:13] = 20      # pinky distal: joint 0's part set
        maps[i, 14:17, 4 + i:7 + i] = 1       # palm: joint 13
    depth = np.where(maps > 0, 0.0, 1.0).astype(np.float32)
    joints = hard_barycenters(maps)
    sw = np.array([1.0, 0.5, 0.0, 2.0], np.float32)
    weak = WeakTargets(joints, sw, SETS, 1.0)
    cfg = TrainConfig(epochs=1, batch_size=4, shift_px=3.0, rotate_deg=30.0, num_threads=1)
    from handpose_core.nets.segnet import SegNetConfig, build_segnet
    from handpose_core.training.augment import augment

    torch.manual_seed(0)
    model = build_segnet(SegNetConfig("fast", in_size=s)).train()
    task = SegmentationTask(model, depth, maps, np.arange(4), np.arange(0), cfg, {}, "t",
                            weak=weak)
    x, y, norm, jt, w = next(task.batches(0, 0))
    got = hard_barycenters(y.numpy().astype(np.uint8))
    for j in (0, 13):
        np.testing.assert_allclose(jt.numpy()[:, j], got[:, j], atol=0.75)
    assert not np.allclose(jt.numpy()[:, 13], joints[:, 13], atol=0.5)  # it did move
    np.testing.assert_array_equal(w.numpy(), sw)
    # the step's NLL part: the sample-weighted class-weighted mean over counted pixels
    weak.joint_weight = 0.0
    with torch.no_grad():
        nll = torch.nn.functional.cross_entropy(model(x), y, weight=task.class_weight,
                                                reduction="none")
    pw = task.class_weight[y] * w[:, None, None]
    want = float((nll * w[:, None, None]).sum() / pw.sum())
    assert task.train_step(model, (x, y, norm, jt, w), None) == pytest.approx(want, rel=1e-5)
    del augment


def test_quality_weights_cut_or_grade_by_the_score_gain():
    class R:
        def __init__(self, raw, res):
            from handpose_core.project import Score
            self.raw, self.restored = Score(12 * raw, 0.0), Score(12 * res, 0.0)

    class F:
        def __init__(self, i):
            self.id = i

    recs = {0: R(30, 28), 1: R(30, 29.5), 2: R(30, 31), 3: R(30, 20)}
    frames = [F(i) for i in range(4)]
    acc = np.array([True, True, False, True])
    np.testing.assert_array_equal(quality_weights(recs, frames, acc, 0.0), [1, 1, 0, 1])
    np.testing.assert_allclose(quality_weights(recs, frames, acc, 4.0), [0.5, 0.125, 0, 1])


def test_head_only_tuning_freezes_everything_but_the_head():
    from handpose_core.nets.segnet import SegNetConfig, build_segnet

    model = build_segnet(SegNetConfig("fast", in_size=16))
    n = freeze_all_but_head(model)
    trained = {k for k, p in model.named_parameters() if p.requires_grad}
    assert trained and all(k.startswith(("head.", "classifier.")) for k in trained)
    assert n == sum(p.numel() for k, p in model.named_parameters() if k in trained)


def test_weak_targets_refuse_bad_shapes_and_weights():
    with pytest.raises(ValueError, match="joints must be"):
        WeakTargets(np.zeros((3, 13, 2)), np.ones(3), SETS, 1.0)
    with pytest.raises(ValueError, match="sample_weight must be"):
        WeakTargets(np.zeros((3, 14, 2)), np.ones(2), SETS, 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        WeakTargets(np.zeros((3, 14, 2)), -np.ones(3), SETS, 1.0)
    with pytest.raises(ValueError, match="not a hand class"):
        part_set_matrix(((0,),), NUM_CLASSES)
    assert IGNORE == 255


def test_only_surface_pixels_count_so_background_probability_does_not_pull_the_centres():
    maps = _blobs(1, 24, seed=3)
    onehot = torch.nn.functional.one_hot(torch.from_numpy(maps).long(),
                                         NUM_CLASSES).permute(0, 3, 1, 2).float()
    # sure on the parts, unsure on the background: each background pixel gives each part
    # about 2.5 % probability
    sure = torch.from_numpy(np.where(maps > 0, 12.0, 3.0).astype(np.float32))[:, None]
    logits = sure * onehot
    hard = hard_barycenters(maps)[0]
    ok = np.isfinite(hard).all(-1)
    loose, _ = soft_barycenters(logits, SETS)
    # the surface: the parts and a few pixels around them, not the whole crop
    surface = torch.from_numpy(maps > 0)
    masked, _ = soft_barycenters(logits, SETS, mask=surface)
    np.testing.assert_allclose(masked.numpy()[0][ok], hard[ok], atol=0.05)
    assert np.abs(loose.numpy()[0][ok] - hard[ok]).max() > 0.5
    tgt = torch.from_numpy(np.nan_to_num(hard))[None]
    assert float(joint_barycenter_loss(logits, tgt, SETS, mask=surface)) < 0.05


@pytest.mark.slow
def test_holdout_frames_stay_out_and_resuming_with_other_settings_is_refused(tmp_path):
    import json
    from dataclasses import replace

    from handpose_core.errors import BadInput
    from handpose_core.project import Score, create_demo_project
    from handpose_core.stages.finetune_seg import FT_TRAIN, FinetuneSegSettings, run

    p = create_demo_project(tmp_path / "proj", n_train=8, n_test=3, seed=7)
    try:
        frames = p.frames("train")
        _, _, labels = p.crops(frames)
        for k, f in enumerate(frames):  # every other restoration rejected
            p.save_restoration(f, model="m", raw=labels[k], restored=labels[k],
                               score_raw=Score(10.0, 1.0), score_restored=Score(5.0, 0.5),
                               auto_accept=k % 2 == 0)
        s = FinetuneSegSettings(samples=16, synthetic_ratio=1, holdout=2,
                                train=replace(FT_TRAIN, epochs=1, batch_size=4, num_threads=1))
        rep = run(p, s)
        used = json.loads((p.path("models") / "finetune-seg" / "frames.json").read_text())
        held = set(used["holdout_ids"])
        assert len(held) == 2 and held <= {f.id for f in p.frames("train", labelled=True)}
        assert not held & set(used["joint_frame_ids"]) and not held & set(used["frame_ids"])
        assert len(used["joint_frame_ids"]) == 6 and rep["joint_frames"] == 6
        assert set(used["frame_ids"]) <= set(used["joint_frame_ids"])
        assert rep["selection"]["frames"] == 2 and "finetuned" in rep["selection"]["results"]
        with pytest.raises(BadInput, match="cannot resume.*joint_weight"):
            run(p, replace(s, joint_weight=1.0))
        again = run(p, s)  # the same settings: a finished run, nothing retrained
        assert again["already_done"]
    finally:
        p.close()
