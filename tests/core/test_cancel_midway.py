"""Cancelling in the middle of long work (the event is set by the work's own progress
callback after some calls, not before the call): a dictionary build, the demo dataset
and a batch restoration. Each raises Cancelled, leaves nothing that looks complete, and
a second run finishes with the result an uninterrupted run has. And the bundled f_s
segments a rendered real-like frame sensibly.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from handpose_core.progress import Cancelled
from handpose_core.restoration import Dictionary, restore_many
from handpose_core.restoration.patches import PatchEncoding

REPO = Path(__file__).resolve().parents[2]


class CancelAfter:
    """A progress callback that sets ``event`` on its ``k``-th call."""

    def __init__(self, k: int):
        self.k, self.calls, self.event, self.messages = k, 0, threading.Event(), []

    def __call__(self, done, total, message=""):
        self.calls += 1
        self.messages.append(message)
        if self.calls >= self.k:
            self.event.set()


@pytest.fixture(scope="module")
def maps():
    from handpose_core.render import render_crops

    return render_crops(600, size=32, seed=4, style="clean")["labels"]


def _build(maps, out, progress=None, cancel=None):
    return Dictionary.build(maps, out, patch=9, encoding=PatchEncoding(9, 2, 3), n_trees=3,
                            max_patches=20000, progress=progress, cancel=cancel)


def test_dictionary_build_cancelled_at_every_stage(maps, tmp_path):
    full = _build(maps, tmp_path / "full", progress=(count := CancelAfter(10**9)))
    phases = sorted(set(count.messages))
    assert {"scanning label maps", "extracting patches", "building trees"} <= set(phases)
    out = tmp_path / "d"
    _build(maps, out)  # a complete dictionary that each cancelled rebuild replaces
    for k in range(1, count.calls):  # cancel after every progress call but the last
        cb = CancelAfter(k)
        with pytest.raises(Cancelled):
            _build(maps, out, progress=cb, cancel=cb.event)
        assert cb.calls == k  # it stopped at the next check, not at the end
        assert not (out / "meta.json").exists(), cb.messages[-1]  # not complete-looking
        with pytest.raises(FileNotFoundError, match="build did not finish"):
            Dictionary.load(out)
    again = _build(maps, out)
    np.testing.assert_array_equal(np.asarray(again.patches), np.asarray(full.patches))
    q = np.asarray(full.patches[:50])
    np.testing.assert_array_equal(again.candidates(q), full.candidates(q))


def test_restore_many_cancelled_between_batches(maps, tmp_path):
    d = _build(maps, tmp_path / "d")
    noisy = maps[:6].copy()
    noisy[noisy > 0] = 1  # every hand pixel palm: the restoration has work to do
    whole = restore_many(noisy, d, window=7, batch=2, stride=2, raw_weight=0.0)
    for k in (1, 2):
        cb = CancelAfter(k)
        with pytest.raises(Cancelled):
            restore_many(noisy, d, window=7, batch=2, stride=2, raw_weight=0.0, progress=cb,
                         cancel=cb.event)
        assert cb.calls == k  # stopped before the next batch, not at the end
    again = restore_many(noisy, d, window=7, batch=2, stride=2, raw_weight=0.0)
    for a, b in zip(whole, again):
        np.testing.assert_array_equal(a.labels, b.labels)
    assert np.mean([(r.labels != noisy[i]).mean() for i, r in enumerate(whole)]) > 0


def test_demo_dataset_cancelled_midway_is_not_a_dataset_and_resumes(tmp_path):
    from handpose_core.datasets.nyu import NYUDataset
    from handpose_core.project import DB_NAME, create_demo_project

    small = dict(n_train=5, n_test=3, seed=11)
    cb = CancelAfter(3)  # call 1 says "preparing"; 2 and 3 are train frames
    with pytest.raises(Cancelled):
        create_demo_project(tmp_path / "p", progress=cb, cancel=cb.event, **small)
    ds = tmp_path / "p" / "dataset"
    assert not (tmp_path / "p" / DB_NAME).exists()
    assert not (ds / "train" / "joint_data.mat").exists()  # the split is not readable yet
    with pytest.raises(FileNotFoundError, match="joint_data.mat not found"):
        NYUDataset(ds).frames("train")
    written = sorted(p.name for p in (ds / "train").glob("depth_*.png"))
    assert 0 < len(written) < 5 and not list(ds.rglob("*.tmp*"))
    p = create_demo_project(tmp_path / "p", **small)
    assert [len(p.frames(s)) for s in ("train", "test")] == [5, 3]
    ref = create_demo_project(tmp_path / "ref", **small)
    for f, g in zip(p.frames(), ref.frames()):
        np.testing.assert_array_equal(p.depth(f), ref.depth(g))
        np.testing.assert_array_equal(p.labels(f), ref.labels(g))
    p.close()
    ref.close()


def test_bundled_model_segments_a_rendered_frame(tmp_path):
    """resources/models/segnet_fast.pt on 3 real-like frames rendered as the demo renders
    them: most hand pixels are found and labelled far above chance (1/20)."""
    from handpose_core.datasets.crop import crop_depth, crop_labels, crop_transform
    from handpose_core.datasets.nyu import NYUDataset
    from handpose_core.nets.checkpoint import load_segnet
    from handpose_core.nets.inference import predict_labels
    from handpose_core.render import write_nyu_layout

    model, config, meta = load_segnet(REPO / "resources" / "models" / "segnet_fast.pt")
    assert config.preset == "fast" and config.in_size == 48
    write_nyu_layout(tmp_path, 3, split="test", seed=3)
    ds = NYUDataset(tmp_path)
    depth, gt = [], []
    for f in ds.frames("test"):
        tf = crop_transform(ds.joints_uvd("test", f)[32], 300.0, 48)
        depth.append(crop_depth(ds.depth("test", f), tf))
        gt.append(crop_labels(ds.labels("test", f), tf))
    pred = predict_labels(model, np.stack(depth))
    gt = np.stack(gt)
    hand = gt > 0
    found = (pred[hand] > 0).mean()
    acc = (pred[hand] == gt[hand]).mean()
    # measured on these 3 frames: found 1.00, accuracy 0.68 (manifest: 66.8 % on demo frames)
    assert found > 0.5 and acc > 0.4, (found, acc)
    assert (pred[~hand] == 0).mean() > 0.8  # measured 0.89
