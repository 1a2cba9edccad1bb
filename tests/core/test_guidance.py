"""Dense guidance maps (HandMap): heatmap, normalised Euclidean and geodesic maps; the GMS head."""

from __future__ import annotations

import numpy as np
import pytest

from handpose_core.guidance import (
    Fallback,
    crop_joints,
    geodesic_distance,
    guidance_maps,
    guidance_maps_batch,
    hand_mask,
)

PINKY_TIP, PINKY_PIP, RING_TIP, RING_PIP = 0, 1, 2, 3


@pytest.fixture(scope="module")
def open_hand():
    """A rendered clean crop whose pinky and ring fingers are spread (seed 17, crop 0):
    ``(depth (48,48), labels, joints (14,3) crop px)``."""
    from handpose_core.render import render_crops

    d = render_crops(2, seed=17)
    joints = crop_joints(d["joints_uvd"], d["crop"])
    return d["depth"][0], d["labels"][0], joints[0]


def _pix(xy):
    return int(round(xy[1])), int(round(xy[0]))


def _bar_mask():
    """A U: two 1-px-wide vertical bars (x = 2 and x = 6, y = 1..9) joined at y = 9."""
    m = np.zeros((12, 12), bool)
    m[1:10, 2] = m[1:10, 6] = True
    m[9, 2:7] = True
    return m


def test_geodesic_distance_follows_the_mask_around_an_obstacle():
    m = _bar_mask()
    seeds = np.array([[[2, 1]]])  # top of the left bar
    g = geodesic_distance(m[None], seeds)[0, 0]
    assert g[1, 2] == 0.0
    assert g[9, 2] == pytest.approx(8.0, abs=1e-6)  # straight down the bar
    assert g[1, 6] == pytest.approx(8 + 4 + 8, abs=1e-6)  # down, across, up: not 4 px across
    assert np.isinf(g[~m]).all()


def test_edt_speed_slows_the_front_near_the_outline():
    m = np.zeros((16, 16), bool)
    m[2:14, 2:14] = True  # a square: EDT 1 on the rim, up to 6 in the middle
    seeds = np.array([[[2, 7]]])  # on the left edge
    uni = geodesic_distance(m[None], seeds)[0, 0]
    edt = geodesic_distance(m[None], seeds, speed="edt")[0, 0]
    assert uni[7, 2] == edt[7, 2] == 0.0
    assert (edt[m] >= 0).all() and (edt[m] >= uni[m] - 1e-9).all()  # speed <= 1 everywhere
    # near the outline the front is slowed (speed EDT / 3), across the middle it is not:
    # the corner, reached along the rim, is delayed far more than the opposite side
    assert edt[2, 2] / uni[2, 2] > 1.5 * edt[7, 13] / uni[7, 13]
    g = guidance_maps(np.where(m, 0.0, 1.0).astype(np.float32), [[2, 7]], speed="edt")
    assert g.maps[0][7, 2] == 1.0 and (g.maps[0][~m] == 0).all()


def test_geodesic_map_is_one_at_the_joint_and_decreases_away_from_it(open_hand):
    depth, labels, joints = open_hand
    g = guidance_maps(depth, joints, labels=labels, kind="geodesic")
    mask = hand_mask(depth, labels)
    assert g.fallback[PINKY_TIP] == Fallback.ON_MASK
    m = g.maps[PINKY_TIP]
    assert m[_pix(joints[PINKY_TIP])] == 1.0
    assert m.max() == 1.0 and m[mask].min() == 0.0
    # no local maximum but the joint: every other reached pixel has a higher 8-neighbour
    reached = mask & (m > 0)
    pad = np.pad(np.where(mask, m, -1.0), 1, constant_values=-1.0)
    best = np.max([pad[1 + dy:49 + dy, 1 + dx:49 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                   if dy or dx], axis=0)
    ys, xs = np.nonzero(reached)
    for y, x in zip(ys, xs):
        if (y, x) != _pix(joints[PINKY_TIP]):
            assert best[y, x] > m[y, x], (y, x)
    # and it falls monotonically along the pinky from its tip to its PIP joint
    a, b = np.array(joints[PINKY_TIP, :2]), np.array(joints[PINKY_PIP, :2])
    line = [_pix(a + t * (b - a)) for t in np.linspace(0, 1, 12)]
    vals = [m[p] for p in line if mask[p]]
    assert len(vals) >= 6 and all(v1 >= v2 for v1, v2 in zip(vals, vals[1:]))


def test_geodesic_between_spread_fingertips_runs_through_the_web(open_hand):
    depth, labels, joints = open_hand
    mask = hand_mask(depth, labels)
    tip_p, tip_r = _pix(joints[PINKY_TIP]), _pix(joints[RING_TIP])
    assert mask[tip_p] and mask[tip_r]
    # precondition: the fingers are apart in the image (background between the tips)
    a, b = np.array(joints[PINKY_TIP, :2]), np.array(joints[RING_TIP, :2])
    assert not all(mask[_pix(a + t * (b - a))] for t in np.linspace(0, 1, 20))
    seeds = np.array([[[tip_p[1], tip_p[0]]]])
    geo = geodesic_distance(mask[None], seeds)[0, 0][tip_r]
    euclid = float(np.hypot(tip_p[0] - tip_r[0], tip_p[1] - tip_r[1]))
    # the path goes down the pinky past its PIP, through the web, and up the ring finger
    down_up = (np.linalg.norm(joints[PINKY_TIP, :2] - joints[PINKY_PIP, :2])
               + np.linalg.norm(joints[RING_TIP, :2] - joints[RING_PIP, :2]))
    assert geo > 2 * euclid
    assert geo > down_up
    # and the normalised maps tell the two tips apart where the Euclidean map does not
    maps_g = guidance_maps(depth, joints, labels=labels, kind="geodesic").maps[PINKY_TIP]
    maps_e = guidance_maps(depth, joints, labels=labels, kind="euclidean").maps[PINKY_TIP]
    assert maps_e[tip_r] > 0.7 and maps_g[tip_r] < maps_e[tip_r] - 0.3


def test_masked_out_pixels_are_zero_and_heatmap_peaks_at_the_joint(open_hand):
    depth, labels, joints = open_hand
    mask = hand_mask(depth, labels)
    for kind in ("euclidean", "geodesic"):
        g = guidance_maps(depth, joints, labels=labels, kind=kind)
        assert g.maps.shape == (14, 48, 48) and g.maps.dtype == np.float32
        assert (g.maps[:, ~mask] == 0).all()
        assert g.maps.min() >= 0 and g.maps.max() <= 1
    h = guidance_maps(depth, joints, labels=labels, kind="heatmap").maps
    for j in range(14):
        assert np.unravel_index(h[j].argmax(), h[j].shape) == _pix(joints[j])


def test_labels_restrict_the_mask():
    depth = np.full((16, 16), 1.0, np.float32)
    depth[4:12, 4:12] = 0.0
    labels = np.zeros((16, 16), np.uint8)
    labels[4:12, 4:8] = 3  # only the left half is hand; the right half is arm / clutter
    g = guidance_maps(depth, [[5.0, 6.0]], labels=labels, kind="geodesic")
    assert (g.maps[0][:, 8:] == 0).all() and (g.maps[0][4:12, 4:8] > 0).sum() == 31
    g2 = guidance_maps(depth, [[5.0, 6.0]], kind="geodesic")
    assert (g2.maps[0][4:12, 4:12] > 0).sum() == 63  # all but the farthest pixel


def test_joint_outside_the_mask_takes_the_documented_fallback():
    depth = np.full((24, 24), 1.0, np.float32)
    depth[8:16, 8:16] = 0.0
    joints = np.array([[10.0, 10.0],   # on the mask
                       [17.6, 12.0],   # 1.6 px right of the outline: snapped to (15, 12)
                       [2.0, 2.0],     # far outside: Euclidean map
                       [-30.0, 12.0]])  # outside the crop: Euclidean map
    g = guidance_maps(depth, joints, kind="geodesic")
    assert list(g.fallback) == [Fallback.ON_MASK, Fallback.SNAPPED, Fallback.EUCLIDEAN,
                                Fallback.EUCLIDEAN]
    assert tuple(g.seeds[1]) == (15, 12) and g.maps[1][12, 15] == 1.0
    assert tuple(g.seeds[2]) == (-1, -1)
    eu = guidance_maps(depth, joints, kind="euclidean").maps
    np.testing.assert_array_equal(g.maps[2], eu[2])
    np.testing.assert_array_equal(g.maps[3], eu[3])
    assert g.maps[2].max() < 1.0  # the joint itself is off the hand: no pixel reaches 1
    empty = guidance_maps(np.ones((24, 24), np.float32), joints, kind="geodesic")
    assert (empty.fallback == Fallback.EMPTY).all() and not empty.maps.any()


def test_batch_matches_single_crops(open_hand):
    from handpose_core.render import render_crops

    d = render_crops(3, seed=9, style="sensor")
    joints = crop_joints(d["joints_uvd"], d["crop"])
    for kind in ("heatmap", "euclidean", "geodesic"):
        maps, code = guidance_maps_batch(d["depth"], joints, labels=d["labels"], kind=kind)
        assert maps.shape == (3, 14, 48, 48) and maps.dtype == np.float32 and code.dtype == np.int8
        for i in range(3):
            one = guidance_maps(d["depth"][i], joints[i], labels=d["labels"][i], kind=kind)
            np.testing.assert_array_equal(maps[i], one.maps)
            np.testing.assert_array_equal(code[i], one.fallback)


@pytest.mark.parametrize("call, message", [
    (lambda: guidance_maps(np.zeros((4, 5), np.float32), [[1, 1]]), "(S, S)"),
    (lambda: guidance_maps(np.zeros((8, 8), np.int16), [[1, 1]]), "float"),
    (lambda: guidance_maps(np.zeros((8, 8), np.float32), [[1, 1, 1, 1]]), "(J, 2|3)"),
    (lambda: guidance_maps(np.zeros((8, 8), np.float32), [[1, np.nan]]), "joint 0 of crop 0"),
    (lambda: guidance_maps(np.zeros((8, 8), np.float32), [[1, 1]], kind="gauss"), "unknown"),
    (lambda: guidance_maps(np.zeros((8, 8), np.float32), [[1, 1]], labels=np.zeros((7, 7))),
     "labels shape"),
    (lambda: guidance_maps_batch(np.zeros((2, 8, 8), np.float32), np.zeros((3, 14, 2))), "2 crop"),
    (lambda: guidance_maps(np.zeros((8, 8), np.float32), [[1, 1]], speed="fast"), "speed"),
])
def test_bad_input_is_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("|", r"\|")):
        call()


def test_guidance_head_learns_geodesic_maps_on_tiny_data():
    import torch

    from handpose_core.guidance.head import GuidanceHead, guidance_loss, guidance_targets
    from handpose_core.render import render_crops

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a shared 2-core machine two threads ran 20x slower
    try:
        _train_head_on_tiny_data(torch, GuidanceHead, guidance_loss, guidance_targets, render_crops)
    finally:
        torch.set_num_threads(threads)


def _train_head_on_tiny_data(torch, GuidanceHead, guidance_loss, guidance_targets, render_crops):
    d = render_crops(4, seed=21)
    target = torch.from_numpy(guidance_targets(d["depth"], crop_joints(d["joints_uvd"], d["crop"]),
                                               kind="geodesic", labels=d["labels"]))
    assert target.shape == (4, 14, 48, 48) and target.dtype == torch.float32
    trunk = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.MaxPool2d(4))  # features at 12 x 12, as f_r's trunk
    head = GuidanceHead(16, n_joints=14, out_size=48, hidden=16)
    opt = torch.optim.Adam([*trunk.parameters(), *head.parameters()], lr=1e-2)
    x = torch.from_numpy(d["depth"])[:, None]
    losses = []
    for _ in range(25):
        pred = head(trunk(x))
        loss = guidance_loss(pred, target, weight=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert pred.shape == (4, 14, 48, 48)
    assert losses[-1] < 0.2 * losses[0], losses[::5]
    # the weight scales the loss; a zero joint weight removes that joint from the mean
    p = pred.detach()
    assert float(guidance_loss(p, target, weight=0.5)) == pytest.approx(0.5 * losses[-1], rel=0.2)
    jw = torch.zeros(4, 14)
    jw[:, 0] = 1
    only0 = ((p[:, 0] - target[:, 0]) ** 2).mean()
    assert float(guidance_loss(p, target, joint_weight=jw)) == pytest.approx(float(only0), rel=1e-5)
    with pytest.raises(ValueError, match="features"):
        head(torch.zeros(1, 3, 24, 24))
    with pytest.raises(ValueError, match="one shape"):
        guidance_loss(p, target[:, :13])


def test_an_isolated_hand_pixel_is_its_own_map():
    depth = np.ones((10, 10), np.float32)
    depth[5, 5] = 0.0
    depth[2:4, 2:4] = 0.0
    g = guidance_maps(depth, [[5, 5], [2, 2]], kind="geodesic")
    assert list(g.fallback) == [Fallback.ON_MASK, Fallback.ON_MASK]
    assert g.maps[0][5, 5] == 1.0 and g.maps[0].sum() == 1.0  # the 2x2 block is not reached
    assert g.maps[1][2, 2] == 1.0 and g.maps[1][3, 3] == 0.0 and 0 < g.maps[1][2, 3] < 1


@pytest.mark.parametrize("speed", ["uniform", "edt"])
def test_every_seed_isolated_is_each_its_own_map(speed):
    """Found by the studio monkey (seed 1): hand labels painted as scattered dabs left
    every joint's seed on a lone pixel; scikit-fmm then finds no zero contour and raised
    ValueError into the Skeleton tab's event handler."""
    mask = np.zeros((1, 12, 12), bool)
    mask[0, 2, 2] = mask[0, 8, 9] = True
    seeds = np.array([[[2, 2], [9, 8], [-1, -1]]])
    d = geodesic_distance(mask, seeds, speed=speed)
    assert d[0, 0, 2, 2] == 0.0 and np.isinf(d[0, 0, 8, 9])
    assert d[0, 1, 8, 9] == 0.0 and np.isinf(d[0, 1, 2, 2])
    assert np.isinf(d[0, 2]).all()
    depth = np.ones((12, 12), np.float32)
    depth[2, 2] = depth[8, 9] = 0.0
    g = guidance_maps(depth, [[2, 2], [9, 8]], kind="geodesic")
    assert g.maps[0][2, 2] == 1.0 and g.maps[0].sum() == 1.0
    assert g.maps[1][8, 9] == 1.0 and g.maps[1].sum() == 1.0


def test_bench_guidance_reports_every_kind(capsys):
    import json

    from handpose_core.cli.main import main

    assert main(["bench", "guidance", "--json", "--crops", "6", "--repeats", "1", "--batch", "3"]) == 0
    info = json.loads(capsys.readouterr().out)
    kinds = {"heatmap", "euclidean", "geodesic", "geodesic_edt"}
    assert set(info["single_crop_ms"]) == kinds == set(info["training_crops_per_s"])
    assert all(v > 0 for v in info["single_crop_ms"].values())
    assert all(v > 0 for v in info["training_crops_per_s"].values())
    assert sum(info["fallback_fraction"].values()) == pytest.approx(1.0, abs=1e-3)
    assert info["cache_float16"]["bytes_per_crop"] >= 14 * 48 * 48 * 2


def test_cache_builds_once_and_follows_the_inputs(tmp_path):
    import threading

    from handpose_core.guidance.cache import cached_guidance_maps
    from handpose_core.progress import Cancelled
    from handpose_core.render import render_crops

    d = render_crops(5, seed=3, style="sensor")
    joints = crop_joints(d["joints_uvd"], d["crop"])
    calls = []
    maps = cached_guidance_maps(tmp_path, d["depth"], joints, kind="geodesic", labels=d["labels"],
                                progress=lambda *a: calls.append(a))
    assert maps.shape == (5, 14, 48, 48) and maps.dtype == np.float16 and calls[-1][:2] == (5, 5)
    direct, _ = guidance_maps_batch(d["depth"], joints, kind="geodesic", labels=d["labels"])
    np.testing.assert_allclose(maps.astype(np.float32), direct, atol=1e-3)  # float16 rounding
    files = sorted(tmp_path.glob("*.npy"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    again = cached_guidance_maps(tmp_path, d["depth"], joints, kind="geodesic", labels=d["labels"])
    assert files[0].stat().st_mtime_ns == mtime and np.array_equal(again, maps)  # read, not rebuilt
    moved = joints.copy()
    moved[2, 0, 0] += 2.0  # one joint moved: other maps, another file
    other = cached_guidance_maps(tmp_path, d["depth"], moved, kind="geodesic", labels=d["labels"])
    assert len(list(tmp_path.glob("*.npy"))) == 2 and not np.array_equal(other[2, 0], maps[2, 0])
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        cached_guidance_maps(tmp_path, d["depth"], joints, kind="euclidean", cancel=stop)
    assert len(list(tmp_path.glob("*.npy"))) == 2  # nothing half-written left behind


def test_guidance_hook_for_the_regressor_task_builds_targets_from_its_batch():
    import torch

    from handpose_core.guidance import make_guidance_hook
    from handpose_core.render import render_crops

    d = render_crops(3, seed=4, style="sensor")
    xy = crop_joints(d["joints_uvd"], d["crop"])
    s = 48
    target = np.concatenate([(2 * xy[..., :2] + 1) / s - 1, xy[..., 2:]], -1)  # f_r's coordinates
    labels = d["labels"].astype(np.int64)
    labels[1] = 0  # a crop without segmentation: its mask is the depth alone
    hook = make_guidance_hook("geodesic", channels=8, size=12, weight=0.25)
    assert hook.weight == 0.25 and hook.out_size == 48
    t = hook.targets(torch.from_numpy(target).float(), torch.from_numpy(labels),
                     torch.from_numpy(d["depth"])[:, None])
    assert t.shape == (3, 14, 48, 48) and t.dtype == torch.float32
    with_labels, _ = guidance_maps_batch(d["depth"][[0, 2]], xy[[0, 2]], labels=d["labels"][[0, 2]])
    np.testing.assert_allclose(t[[0, 2]].numpy(), with_labels, atol=1e-4)
    depth_only = guidance_maps(d["depth"][1], xy[1]).maps
    np.testing.assert_allclose(t[1].numpy(), depth_only, atol=1e-4)
    pred = hook.head(torch.randn(3, 8, 12, 12))
    loss = hook.loss(pred, t)
    loss.backward()
    assert loss.ndim == 0 and hook.head.out.weight.grad is not None
    with pytest.raises(ValueError, match="guidance kind"):
        make_guidance_hook("none", channels=8, size=12)


def test_early_placement_head_reads_unpooled_maps_and_trains_the_first_convolution():
    import torch

    from handpose_core.guidance.head import guidance_loss
    from handpose_core.nets.regnet import RegNetConfig, build_regnet
    from handpose_core.stages.train_reg import TrainRegSettings, _guidance_hook

    settings = TrainRegSettings(variant="d", guidance="geodesic", guidance_at="early")
    assert settings.folder() == "train-reg-d-geodesic-early"
    net = settings.net(48)
    assert net.guidance_at == "early" and RegNetConfig.from_dict(net.to_dict()) == net
    hook = _guidance_hook(settings, net)
    assert hook.out_size == 48 and hook.head.in_channels == net.channels
    torch.manual_seed(0)
    model = build_regnet(net)
    model.attach_guidance(hook.head)
    x = torch.rand(2, 1, 48, 48) * 2 - 1
    lab = torch.randint(0, 19, (2, 48, 48))
    joints, feats = model.forward_features(x, lab)
    assert joints.shape == (2, 14, 3) and feats.shape == (2, net.channels, 48, 48)
    assert torch.equal(feats, model.guidance_features(x))
    maps = model.guidance_head(feats)
    m = maps.detach()
    assert maps.shape == (2, 14, 48, 48) and 0 <= float(m.min()) <= float(m.max()) <= 1
    guidance_loss(maps, torch.rand(2, 14, 48, 48)).backward()
    assert float(hook.head.out.weight.grad.abs().sum()) > 0
    c1 = model.trunk[0].weight.grad
    assert c1 is not None and float(c1.abs().sum()) > 0
    # the joint layers only ever read the trunk: they got no gradient from the maps' loss
    assert model.fc_w.grad is None and model.trunk[4].weight.grad is None

    # the same seed gives the same network as the default placement: only the head moves
    torch.manual_seed(0)
    default = build_regnet(TrainRegSettings(variant="d").net(48))
    assert default.config.guidance_at == "trunk" and "guidance_at" not in default.config.to_dict()
    default.load_state_dict({k: v for k, v in model.state_dict().items()
                             if not k.startswith("guidance_head.")})
    d_joints, d_feats = default.forward_features(x, lab)
    assert torch.allclose(d_joints, joints) and d_feats.shape == (2, net.channels, 12, 12)
    assert torch.equal(d_feats, default.features(x))
    trunk_hook = _guidance_hook(TrainRegSettings(variant="d", guidance="geodesic"), default.config)
    assert trunk_hook.head(d_feats).shape == (2, 14, 48, 48)
    with pytest.raises(ValueError, match="need a guidance kind"):
        TrainRegSettings(variant="d", guidance_at="early")
    with pytest.raises(ValueError, match="guidance_at must be one of"):
        TrainRegSettings(variant="d", guidance="heatmap", guidance_at="middle")


def test_feedback_joints_read_the_head_maps_and_the_head_is_saved_for_inference(tmp_path):
    import torch

    from handpose_core.nets.checkpoint import load_regnet, save_checkpoint
    from handpose_core.nets.regnet import build_regnet
    from handpose_core.stages.train_reg import TrainRegSettings

    settings = TrainRegSettings(variant="d", guidance="geodesic", guidance_at="early",
                                guidance_feedback=True)
    assert settings.folder() == "train-reg-d-geodesic-early-feedback"
    net = settings.net(48)
    torch.manual_seed(0)
    model = build_regnet(net)
    assert model.guidance_head is not None and model.b3_full.in_channels == net.channels + 14
    x = torch.rand(2, 1, 48, 48) * 2 - 1
    lab = torch.randint(0, 19, (2, 48, 48))
    joints, maps = model.forward_guided(x, lab)
    assert joints.shape == (2, 14, 3) and maps.shape == (2, 14, 48, 48)
    joints.square().mean().backward()  # the joint loss alone reaches the head through its maps
    assert float(model.guidance_head.out.weight.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="its head stays"):
        model.attach_guidance(None)
    model.eval()
    save_checkpoint(tmp_path / "f.pt", model, net)
    loaded, config, _ = load_regnet(tmp_path / "f.pt", variant="d")
    assert config == net and loaded.guidance_head is not None
    with torch.inference_mode():
        np.testing.assert_allclose(loaded(x, lab).numpy(), model(x, lab).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="need a guidance kind"):
        TrainRegSettings(variant="d", guidance_feedback=True)


def test_a_run_title_says_how_its_guidance_head_was_trained():
    from pathlib import Path

    from handpose_core.nets.regressor_runs import RegressorRun

    def title(**kw):
        return RegressorRun("r", "d", kw.pop("guidance", "geodesic"), Path("x.pt"), False, **kw).title

    assert title(guidance="none").endswith("(full method)")
    assert title().endswith("+ geodesic guidance")
    assert title(guidance_at="early", guidance_feedback=True).endswith(
        "+ geodesic guidance (early, fed back)")
    # weight 0: the head learnt no maps, so the title must not name a map kind
    t = title(guidance_weight=0.0, guidance_feedback=True)
    assert "geodesic" not in t and t.endswith("+ guidance head without map loss (fed back)")
