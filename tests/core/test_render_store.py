"""Writing renders: the training store, NYU-layout sets, the demo set and the synth command."""

import threading

import numpy as np
import pytest

from handpose_core.cli.main import main
from handpose_core.datasets.nyu import NYUDataset
from handpose_core.datasets.synthetic import SyntheticStore
from handpose_core.progress import Cancelled
from handpose_core.render import (
    RENDERER_VERSION,
    make_demo_dataset,
    render_frames,
    render_scene_crops,
    sample_scenes,
    write_nyu_layout,
    write_synthetic_store,
)
from handpose_core.render.store import RECORDED_VIEW, _chunk_seed


def test_store_round_trip_and_chunk_seeds(tmp_path):
    p = write_synthetic_store(tmp_path / "s", 40, seed=2, chunk=16, style="sensor")
    s = SyntheticStore.open(p)
    assert len(s) == 40 and s.size == 48
    assert s.meta["style"] == "sensor" and s.meta["seed"] == 2 and s.meta["cube_mm"] == 300.0
    assert s.meta["renderer_version"] == RENDERER_VERSION
    assert isinstance(s.depth, np.memmap)
    ref = render_scene_crops(sample_scenes(16, _chunk_seed(2, 16)), style="sensor")
    for k in ("depth", "labels", "joints_uvd", "joints_xyz", "crop"):
        assert np.array_equal(np.asarray(getattr(s, k)[16:32]), ref[k]), k
    tf = s.transform(3)
    assert np.allclose(tf.crop_to_frame(tf.frame_to_crop(s.joints_uvd[3])), s.joints_uvd[3],
                       atol=1e-3)


def test_store_resumes_after_cancel_with_the_same_samples(tmp_path):
    cancel = threading.Event()
    seen = []

    def progress(done, total, msg):
        seen.append(done)
        if done >= 8:
            cancel.set()

    with pytest.raises(Cancelled):
        write_synthetic_store(tmp_path / "a", 24, seed=3, chunk=8, progress=progress,
                              cancel=cancel)
    with pytest.raises(ValueError, match="incomplete"):
        SyntheticStore.open(tmp_path / "a")
    done = []
    write_synthetic_store(tmp_path / "a", 24, seed=3, chunk=8,
                          progress=lambda d, t, m: done.append(d))
    assert done[0] == 8  # resumed after the first chunk
    write_synthetic_store(tmp_path / "b", 24, seed=3, chunk=8)
    a, b = SyntheticStore.open(tmp_path / "a"), SyntheticStore.open(tmp_path / "b")
    assert np.array_equal(np.asarray(a.depth), np.asarray(b.depth))
    assert np.array_equal(np.asarray(a.labels), np.asarray(b.labels))


def test_nyu_layout_reads_back_with_identical_joints(tmp_path):
    write_nyu_layout(tmp_path, 6, split="test", seed=4, batch=4)
    ds = NYUDataset(tmp_path)
    assert ds.frames("test").tolist() == [1, 2, 3, 4, 5, 6]
    scenes = [sample_scenes(4, _chunk_seed(4, 0), view=RECORDED_VIEW),
              sample_scenes(2, _chunk_seed(4, 4), view=RECORDED_VIEW)]
    uvd = np.concatenate([s.joints_uvd for s in scenes])
    xyz = np.concatenate([s.joints_xyz for s in scenes])
    assert np.array_equal(ds.joints("test").uvd[0], uvd)
    assert np.array_equal(ds.joints("test").xyz[0], xyz)
    depth, labels = render_frames(scenes[1])
    assert np.array_equal(ds.depth("test", 6), depth[1])
    assert np.array_equal(ds.labels("test", 6), labels[1])
    behind = []
    for f in range(1, 7):
        d, lab = ds.depth("test", f), ds.labels("test", f)
        assert d.dtype == np.uint16 and (lab > 0).sum() > 100
        assert ((lab > 0) <= (d < 2001)).all()
        # the palm centre projects onto measured hand depth, the joint behind the surface
        # (inside the palm; farther where curled fingers cover it)
        u, v, z = ds.joints_uvd("test", f)[32]
        win = d[int(v) - 3:int(v) + 4, int(u) - 3:int(u) + 4].astype(float)
        behind.append(z - np.median(win[win < 2001]))
    assert 0 < min(behind) and max(behind) < 80 and 5 < np.median(behind) < 40, behind


def test_demo_dataset_is_deterministic(tmp_path):
    seen = []
    make_demo_dataset(tmp_path / "a", n_train=3, n_test=2,
                      progress=lambda d, t, m: seen.append((d, t)))
    make_demo_dataset(tmp_path / "b", n_train=3, n_test=2)
    assert seen[-1] == (5, 5)
    a, b = NYUDataset(tmp_path / "a"), NYUDataset(tmp_path / "b")
    assert a.splits == ("train", "test")
    for split, n in (("train", 3), ("test", 2)):
        assert len(a.frames(split)) == n
        assert np.array_equal(a.joints(split).uvd, b.joints(split).uvd)
        assert np.array_equal(a.depth(split, n), b.depth(split, n))
    # a real-like frame: the hand near, "no return" around the person, like NYU's frames
    d = a.depth("train", 1)
    assert 0.3 < (d == 2001).mean() < 0.95


def test_synth_command(tmp_path, capsys):
    assert main(["synth", "--preview", str(tmp_path / "p.png"), "--count", "8",
                 "--style", "sensor"]) == 0
    assert (tmp_path / "p.png").stat().st_size > 1000
    assert main(["synth", "--out", str(tmp_path / "s"), "--count", "20", "--seed", "1"]) == 0
    s = SyntheticStore.open(tmp_path / "s")
    assert len(s) == 20 and s.meta["style"] == "clean"
    assert main(["synth", "--nyu-layout", "--out", str(tmp_path / "n"), "--count", "3",
                 "--split", "test"]) == 0
    assert NYUDataset(tmp_path / "n").frames("test").tolist() == [1, 2, 3]
    assert main(["synth", "--count", "5"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "x"), "--count", "0"]) == 2


def test_nyu_layout_resumes_after_cancel_and_a_lost_file(tmp_path):
    """An interrupted NYU-layout write continues at the first batch with a file missing
    and ends with the files and joints a write in one go gives."""
    import os

    from handpose_core.render.store import SYNTH_MARKER

    cancel = threading.Event()

    def progress(done, total, msg):
        if done >= 4:
            cancel.set()

    with pytest.raises(Cancelled):
        write_nyu_layout(tmp_path / "a", 7, split="test", seed=6, batch=2, progress=progress,
                         cancel=cancel)
    d = tmp_path / "a" / "test"
    assert (d / SYNTH_MARKER).is_file() and not (d / "joint_data.mat").exists()
    assert (d / "depth_1_0000004.png").exists()
    kept = (d / "depth_1_0000001.png").stat().st_mtime_ns
    (d / "labels_1_0000004.png").unlink()  # batch 2 (frames 3-4) is incomplete
    seen = []
    write_nyu_layout(tmp_path / "a", 7, split="test", seed=6, batch=2,
                     progress=lambda done, total, m: seen.append(done))
    assert seen[0] == 2 and seen[-1] == 7  # resumed after the first whole batch
    assert (d / "depth_1_0000001.png").stat().st_mtime_ns == kept
    write_nyu_layout(tmp_path / "b", 7, split="test", seed=6, batch=2)
    a, b = NYUDataset(tmp_path / "a"), NYUDataset(tmp_path / "b")
    assert a.frames("test").tolist() == list(range(1, 8))
    assert np.array_equal(a.joints("test").uvd, b.joints("test").uvd)
    assert np.array_equal(a.joints("test").xyz, b.joints("test").xyz)
    for f in range(1, 8):
        assert np.array_equal(a.depth("test", f), b.depth("test", f))
        assert np.array_equal(a.labels("test", f), b.labels("test", f))
    # finished: nothing is rendered again
    seen.clear()
    write_nyu_layout(tmp_path / "a", 7, split="test", seed=6, batch=2,
                     progress=lambda done, total, m: seen.append(done))
    assert seen == [7] and (d / "depth_1_0000001.png").stat().st_mtime_ns == kept
    # other settings: written again from frame 1
    seen.clear()
    write_nyu_layout(tmp_path / "a", 7, split="test", seed=7, batch=2,
                     progress=lambda done, total, m: seen.append(done))
    assert seen[0] == 1 and not np.array_equal(NYUDataset(tmp_path / "a").depth("test", 1),
                                               b.depth("test", 1))
    assert sorted(os.listdir(d)).count(SYNTH_MARKER) == 1
