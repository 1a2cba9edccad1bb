import numpy as np
import pytest

from handpose_core.camera import NYU_CAMERA
from handpose_core.cli.main import main
from handpose_core.datasets.nyu import NYUDataset
from handpose_core.datasets.synthetic import SyntheticStore
from handpose_core.parts import JOINT_PARTS_14
from handpose_core.render import (
    render_crops,
    render_frame,
    render_frames,
    sample_scenes,
    write_nyu_layout,
    write_synthetic_store,
)
from handpose_core.render.hand_model import pose_hand, transform
from handpose_core.render.pose import GESTURES
from handpose_core.render.raycast import raycast
from handpose_core.render.sensor import apply_sensor, axial_sigma_mm, quantisation_step_mm
from handpose_core.render.store import RECORDED_VIEW, _chunk_seed
from handpose_core.skeleton import EVAL_INDICES


def _frontal_open_hand(depth_mm=600.0, forearm=True):
    joints, prims, parts = pose_hand(GESTURES["spread"])
    j, p = transform(joints, prims, np.eye(3), np.array([0.0, -60.0, depth_mm]))
    if not forearm:
        keep = parts > 0
        p, parts = p[keep], parts[keep]
    d, lab = raycast(p[None], parts[None], np.array([[0.0, 0.0, 1.0, 1.0]]), 480, 640)
    return d[0], lab[0], NYU_CAMERA.xyz_to_uvd(j)


def test_open_frontal_hand_shows_all_parts():
    _, lab, _ = _frontal_open_hand()
    assert set(np.unique(lab)) >= set(range(1, 21))


def test_labels_exactly_where_the_hand_has_depth():
    d, lab, _ = _frontal_open_hand(forearm=False)
    assert np.array_equal(np.isfinite(d), lab > 0)
    c = render_crops(64, seed=3)
    assert ((c["labels"] > 0) <= (c["depth"] < 1)).all()
    assert (c["labels"] > 0).sum() > 64 * 50
    depth, labels = render_frames(sample_scenes(4, 9), style="sensor")
    assert ((labels > 0) <= (depth < 2001)).all()


def test_eval_joints_project_onto_their_parts():
    _, lab, uvd = _frontal_open_hand()
    for k, j in enumerate(EVAL_INDICES):
        part_set = JOINT_PARTS_14[k]
        if not part_set:
            continue
        u, v = np.rint(uvd[j, :2]).astype(int)
        win = lab[v - 3:v + 4, u - 3:u + 4]
        assert np.isin(win, part_set).any(), (k, part_set, np.unique(win))


def test_same_seed_same_output():
    a, b = render_crops(32, seed=7, style="clean"), render_crops(32, seed=7, style="clean")
    for k in a:
        assert np.array_equal(a[k], b[k])
    f1, f2 = render_frame(11), render_frame(11)
    for x, y in zip(f1, f2):
        assert np.array_equal(x, y)
    assert not np.array_equal(render_frame(12)[0], f1[0])


def test_sensor_noise_and_quantisation_at_800mm():
    z = np.full((200, 200), 800.0, np.float32)
    out, _ = apply_sensor(z, np.ones_like(z, np.uint8), seed=5, jitter_px=0.0)
    v = out[5:-5, 5:-5].astype(np.float64)
    levels = np.unique(v)
    step = np.mean(np.diff(levels))  # measured depth levels, whole mm
    spec_step = quantisation_step_mm(800.0)  # 1.84 mm
    assert abs(step - spec_step) / spec_step < 0.2
    # noise: total variance minus the quantisation's (uniform, step^2 / 12)
    sigma = np.sqrt(max(v.var() - spec_step ** 2 / 12.0, 0.0))
    assert abs(sigma - axial_sigma_mm(800.0)) / axial_sigma_mm(800.0) < 0.2
    assert abs(v.mean() - 800.0) < 0.5


def test_sensor_holes_on_edges_and_grazing():
    d, lab, _ = _frontal_open_hand()
    out, olab = apply_sensor(d, lab, seed=1)
    hand = np.isfinite(d)
    missing = hand & (out == 2001)
    assert 0.02 < missing.sum() / hand.sum() < 0.4
    assert (olab[out == 2001] == 0).all()


def test_store_round_trip(tmp_path):
    p = write_synthetic_store(tmp_path / "s", 40, seed=2, chunk=16)
    s = SyntheticStore.open(p)
    assert len(s) == 40 and s.meta["style"] == "clean"
    ref = render_crops(16, seed=_chunk_seed(2, 16))
    assert np.array_equal(np.asarray(s.labels[16:32]), ref["labels"])
    assert np.allclose(np.asarray(s.crop[16:32]), ref["crop"])
    tf = s.transform(3)
    back = tf.crop_to_frame(tf.frame_to_crop(np.asarray(s.joints_uvd[3], np.float64)))
    assert np.allclose(back, s.joints_uvd[3], atol=1e-3)


def test_sensor_crops_equal_cropped_frames():
    sc = sample_scenes(3, 21)
    c = render_crops(3, scenes=sc, style="sensor")
    frames, _ = render_frames(sc, style="sensor")
    from handpose_core.datasets.crop import CropTransform, crop_depth

    for i in range(3):
        assert np.array_equal(c["depth"][i], crop_depth(frames[i], CropTransform.from_array(
            c["crop"][i])))


def test_nyu_layout_reads_back(tmp_path):
    write_nyu_layout(tmp_path, 6, split="test", seed=4, batch=4)
    ds = NYUDataset(tmp_path)
    assert ds.frames("test").tolist() == [1, 2, 3, 4, 5, 6]
    expect = np.concatenate([sample_scenes(4, _chunk_seed(4, 0), view=RECORDED_VIEW).joints_uvd,
                             sample_scenes(2, _chunk_seed(4, 4), view=RECORDED_VIEW).joints_uvd])
    assert np.array_equal(ds.joints("test").uvd[0], expect)
    d, lab = ds.depth("test", 5), ds.labels("test", 5)
    assert d.dtype == np.uint16 and (lab > 0).sum() > 100
    assert ((lab > 0) <= (d < 2001)).all()
    # the palm centre projects onto measured hand depth, joints inside the surface
    u, v, z = ds.joints_uvd("test", 5)[32]
    win = d[int(v) - 4:int(v) + 5, int(u) - 4:int(u) + 5].astype(float)
    assert np.abs(win[win < 2001] - z).min() < 40


def test_synth_command(tmp_path, capsys):
    assert main(["synth", "--preview", str(tmp_path / "p.png"), "--count", "8"]) == 0
    assert (tmp_path / "p.png").stat().st_size > 1000
    assert main(["synth", "--out", str(tmp_path / "s"), "--count", "20"]) == 0
    assert len(SyntheticStore.open(tmp_path / "s")) == 20
    assert main(["synth", "--count", "5"]) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("style", ["bogus"])
def test_bad_style(style):
    with pytest.raises(ValueError, match="bogus"):
        render_crops(2, style=style)
