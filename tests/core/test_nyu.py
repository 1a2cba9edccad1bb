import numpy as np
import pytest
import scipy.io

from handpose_core.camera import NYU_CAMERA
from handpose_core.datasets.crop import crop_depth, crop_transform, valid_mask
from handpose_core.datasets.nyu import (
    NYUDataset,
    read_depth,
    read_joint_mat,
    write_joint_mat,
    write_nyu_split,
)
from handpose_core.evaluation import read_predictions
from handpose_core.skeleton import JOINT_NAMES_36


def _random_split(tmp_path, n=3, kinects=1, labels=False):
    rng = np.random.default_rng(1)
    uvd = rng.uniform(100, 600, (kinects, n, 36, 3))
    xyz = rng.normal(size=(kinects, n, 36, 3))
    depth = [rng.integers(400, 2002, (480, 640)).astype(np.uint16) for _ in range(n)]
    lab = [rng.integers(0, 21, (480, 640)).astype(np.uint8) for _ in range(n)] if labels else None
    write_nyu_split(tmp_path, "test", depth, uvd if kinects > 1 else uvd[0],
                    xyz if kinects > 1 else xyz[0], labels=lab)
    return uvd, xyz, depth, lab


def test_writer_round_trips_bit_exactly(tmp_path):
    uvd, xyz, depth, lab = _random_split(tmp_path, labels=True)
    ds = NYUDataset(tmp_path)
    assert ds.splits == ("test",)
    assert ds.frames("test").tolist() == [1, 2, 3]
    j = ds.joints("test")
    assert j.uvd.shape == (1, 3, 36, 3)
    assert np.array_equal(j.uvd, uvd) and np.array_equal(j.xyz, xyz)
    for f in (1, 2, 3):
        assert np.array_equal(ds.depth("test", f), depth[f - 1])
        assert np.array_equal(ds.labels("test", f), lab[f - 1])
    assert ds.rgb("test", 1) is None
    assert (tmp_path / "test" / "depth_1_0000002.png").exists()


def test_three_kinects_accepted(tmp_path):
    uvd, xyz, _, _ = _random_split(tmp_path, n=2, kinects=3)
    ds = NYUDataset(tmp_path)
    assert ds.joints("test").kinects == 3
    assert np.array_equal(ds.joints_uvd("test", 2, kinect=3), uvd[2, 1])
    assert ds.joints14_uvd("test").shape == (2, 14, 3)


def test_joint_mat_is_read_once(tmp_path, monkeypatch):
    _random_split(tmp_path)
    ds = NYUDataset(tmp_path)
    calls = []
    real = scipy.io.loadmat
    monkeypatch.setattr(scipy.io, "loadmat", lambda *a, **k: calls.append(1) or real(*a, **k))
    for f in (1, 2, 3):
        ds.joints_uvd("test", f)
    ds.frames("test")
    assert len(calls) == 1


def test_joint_names_written(tmp_path):
    _random_split(tmp_path)
    m = scipy.io.loadmat(tmp_path / "test" / "joint_data.mat")
    assert set(k for k in m if not k.startswith("__")) == {"joint_names", "joint_uvd", "joint_xyz"}
    assert m["joint_names"].shape == (1, 36)
    assert str(m["joint_names"][0, 5][0]) == JOINT_NAMES_36[5]


def test_corrupt_png_names_file(tmp_path):
    _random_split(tmp_path)
    p = tmp_path / "test" / "depth_1_0000002.png"
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(ValueError, match="depth_1_0000002.png"):
        NYUDataset(tmp_path).depth("test", 2)


def test_missing_joint_data(tmp_path):
    _random_split(tmp_path)
    (tmp_path / "test" / "joint_data.mat").unlink()
    with pytest.raises(FileNotFoundError, match="joint_data.mat"):
        NYUDataset(tmp_path).frames("test")


def test_wrong_array_shapes(tmp_path):
    p = tmp_path / "joint_data.mat"
    scipy.io.savemat(p, {"joint_uvd": np.zeros((3, 5, 14, 3)), "joint_xyz": np.zeros((3, 5, 14, 3))})
    with pytest.raises(ValueError, match=r"joint_data.mat: joint_uvd must have shape \(K, N, 36, 3\)"):
        read_joint_mat(p)
    with pytest.raises(ValueError, match="K = 1..3"):
        write_joint_mat(p, np.zeros((4, 2, 36, 3)), np.zeros((4, 2, 36, 3)))


def test_not_a_dataset_root(tmp_path):
    with pytest.raises(ValueError, match="no train/ or test/"):
        NYUDataset(tmp_path)


# --------------------------------------------------------------------- the real sample frame

def test_real_sample_depth_range(real_sample):
    d = read_depth(real_sample / "depth_1_0000001.png")
    assert d.shape == (480, 640) and d.dtype == np.uint16
    assert d.min() == 731 and d.max() == 2001
    assert 0.55 < (d == 2001).mean() < 0.65


def _real_gt(real_sample):
    return read_predictions(real_sample / "test_groundtruth_uvd_frame1.txt")[0]


def test_real_sample_joints_on_hand(real_sample):
    d = read_depth(real_sample / "depth_1_0000001.png").astype(float)
    gt = _real_gt(real_sample)
    for u, v, z in gt:
        # the joint's pixel or a direct neighbour is a hand pixel close in depth
        win = d[int(round(v)) - 1:int(round(v)) + 2, int(round(u)) - 1:int(round(u)) + 2]
        win = win[valid_mask(win)]
        assert win.size and np.min(np.abs(win - z)) <= 40.0, (u, v, z)


def test_real_sample_crop_contains_hand_and_inverts(real_sample):
    d = read_depth(real_sample / "depth_1_0000001.png")
    gt = _real_gt(real_sample)
    tf = crop_transform(gt[13], 300.0, 96)
    crop = crop_depth(d, tf)
    inside = tf.frame_to_crop(gt)
    assert (inside[:, :2] >= 0).all() and (inside[:, :2] < 96).all()
    assert (np.abs(inside[:, 2]) < 1).all()
    np.testing.assert_allclose(tf.crop_to_frame(inside), gt, atol=1e-9)
    # every hand pixel near the joints in the frame lands inside the crop window
    # hand pixels: valid pixels whose 3D point lies within 40 mm of a ground-truth joint
    pts = NYU_CAMERA.depth_to_points(d.astype(float))
    gxyz = NYU_CAMERA.uvd_to_xyz(gt)
    near = np.min(np.linalg.norm(pts[:, :, None, :] - gxyz[None, None], axis=-1), axis=-1)
    hand = valid_mask(d) & (near < 40.0)
    assert hand.sum() > 2000
    vs, us = np.nonzero(hand)
    assert us.min() >= tf.u0 and us.max() < tf.u1 and vs.min() >= tf.v0 and vs.max() < tf.v1
    assert (crop < 1).mean() > 0.2
    # crop pixel -> xyz is consistent with the camera
    c = tf.frame_to_crop(gt[13:14])[0]
    back = NYU_CAMERA.uvd_to_xyz(tf.crop_to_frame(c))
    np.testing.assert_allclose(back, NYU_CAMERA.uvd_to_xyz(gt[13]), atol=1e-9)


def test_joints_are_read_once_per_file_and_again_when_it_changes(tmp_path):
    """Every dataset object over a split shares one copy of its joints (the studio opens
    a project in several threads; NYU's train joints are 126 MB a kinect)."""
    uvd, xyz, _, _ = _random_split(tmp_path)
    a, b = NYUDataset(tmp_path), NYUDataset(tmp_path)
    assert a.joints("test").uvd is b.joints("test").uvd
    write_joint_mat(tmp_path / "test" / "joint_data.mat", uvd[0] + 1.0, xyz[0])
    c = NYUDataset(tmp_path)
    assert np.array_equal(c.joints("test").uvd, uvd + 1.0)
    assert np.array_equal(a.joints("test").uvd, uvd)  # an object keeps what it read


def test_a_project_maps_its_joints_from_copies_in_its_cache(tmp_path, monkeypatch):
    """``Project.create`` writes the joints of each split as .npy copies in the project's
    cache; opening the project then maps them (one frame's joints without decompressing
    the whole joint_data.mat). A damaged copy is made again from the .mat, and a rewritten
    .mat gets new copies in place of the old ones."""
    import handpose_core.datasets.nyu as nyu
    from handpose_core.project import Project

    uvd, xyz, _, _ = _random_split(tmp_path / "root", n=4)
    Project.create(tmp_path / "proj", tmp_path / "root", kind="nyu").close()
    copies = sorted(p.name for p in (tmp_path / "proj" / "cache").glob("joints_*.npy"))
    assert len(copies) == 2 and copies[0].startswith("joints_test_")
    monkeypatch.setattr(nyu, "_JOINTS_CACHE", {})  # as in a new process
    monkeypatch.setattr(nyu, "_MAPPED", {})

    def no_mat(path):
        raise AssertionError(f"{path} read although its copies are in the project's cache")

    monkeypatch.setattr(nyu, "read_joint_mat", no_mat)
    with Project.open(tmp_path / "proj") as p:
        f = p.frames("test")[2]
        np.testing.assert_array_equal(p.joints_uvd(f), uvd[0, f.frame - 1])
        j = p.dataset.joints("test")
        assert isinstance(j.uvd, np.memmap) and isinstance(j.xyz, np.memmap)
        np.testing.assert_array_equal(j.xyz, xyz)
        mine = p.joints_uvd(f)
        mine[0] = -1.0  # a caller's frame joints are its own: the copy is not written
        np.testing.assert_array_equal(p.joints_uvd(f), uvd[0, f.frame - 1])
    monkeypatch.undo()
    # a copy cut short is made again from the .mat
    cut = next((tmp_path / "proj" / "cache").glob("joints_*_uvd.npy"))
    cut.write_bytes(cut.read_bytes()[:200])
    with Project.open(tmp_path / "proj") as p:
        np.testing.assert_array_equal(p.dataset.joints("test").uvd, uvd)
    assert cut.stat().st_size > 200
    # a rewritten .mat: new copies, the old ones gone
    write_joint_mat(tmp_path / "root" / "test" / "joint_data.mat", uvd[0] + 1.0, xyz[0])
    with Project.open(tmp_path / "proj") as p:
        np.testing.assert_array_equal(p.dataset.joints("test").uvd, uvd + 1.0)
    now = sorted(p.name for p in (tmp_path / "proj" / "cache").glob("joints_*.npy"))
    assert len(now) == 2 and not set(now) & set(copies)
