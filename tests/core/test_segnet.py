"""The segmentation network f_s: presets, per-image normalisation, LCN, fusing, predict."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from handpose_core.datasets.crop import local_contrast_normalise
from handpose_core.nets import SegNetConfig, build_segnet
from handpose_core.nets.segnet import ImageNormReLU, LocalContrastNorm, OverlapMaxPool


def _crops(n=4, size=48, seed=0):
    """Depth crops: +1 background with a sloped disc (the 'hand') in the middle."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.ones((n, size, size), np.float32)
    for i in range(n):
        cx, cy, r = *rng.uniform(18, 30, 2), rng.uniform(8, 14)
        inside = np.hypot(xx - cx, yy - cy) < r
        out[i][inside] = (-0.3 + 0.2 * (xx - cx) / r + rng.normal(0, 0.02, (size, size)))[inside]
    return out


def test_preset_defaults_are_resolved_and_round_trip():
    paper = SegNetConfig("paper", 48)
    assert paper.channels == (32, 64, 128) and paper.hidden == 500
    assert paper.inputs == "depth+lcn" and paper.in_channels == 2
    fast = SegNetConfig()
    assert fast.preset == "fast" and fast.inputs == "depth" and fast.num_classes == 21
    for cfg in (paper, fast, SegNetConfig("fast", 32, channels=(4, 8, 16), inputs="lcn")):
        assert SegNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="preset"):
        SegNetConfig("huge")
    with pytest.raises(ValueError, match="inputs"):
        SegNetConfig("fast", inputs="rgb")
    with pytest.raises(ValueError, match="in_size"):
        SegNetConfig("fast", in_size=46)
    with pytest.raises(ValueError, match="full_depth"):
        SegNetConfig("fast", full_depth=0)


def test_fast_checkpoint_configs_from_before_full_depth_keep_their_architecture():
    """Configs saved before ``full_depth`` existed had one 48x48 convolution; they must
    rebuild exactly that network (same state-dict keys), not today's default."""
    old = {"preset": "fast", "in_size": 48, "num_classes": 21, "inputs": "depth",
           "lcn_kernel": 9, "channels": [8, 32, 64], "hidden": 32}
    cfg = SegNetConfig.from_dict(old)
    assert cfg.full_depth == 1 and SegNetConfig().full_depth == 3
    keys = set(build_segnet(cfg).state_dict())
    assert "full.0.weight" in keys and not any(k.startswith("full.1.0") for k in keys)
    assert "full.2.0.weight" in build_segnet(SegNetConfig()).state_dict()


@pytest.mark.parametrize("preset", ["paper", "fast"])
def test_output_is_per_pixel_logits_at_input_resolution(preset):
    model = build_segnet(SegNetConfig(preset, 48)).eval()
    x = torch.from_numpy(_crops(2)).unsqueeze(1)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 21, 48, 48) and y.dtype == torch.float32
    assert torch.isfinite(y).all()
    with pytest.raises(ValueError, match=r"\(N, 1, S, S\)"):
        model(torch.zeros(2, 48, 48))


def test_paper_preset_follows_table_1():
    model = build_segnet(SegNetConfig("paper", 48))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.in_channels > 1]
    shapes = [(m.out_channels, *m.kernel_size, m.stride[0]) for m in convs]
    # 5x5 convs 32/64/128, per-pixel hidden layers of 500, per-pixel output of 21.
    assert shapes == [(32, 5, 5, 1), (64, 5, 5, 1), (128, 5, 5, 1), (500, 1, 1, 1),
                      (500, 1, 1, 1), (21, 1, 1, 1)]
    assert sum(isinstance(m, OverlapMaxPool) for m in model.modules()) == 2
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_overlapping_pool_keeps_resolution_and_takes_2x2_max():
    x = torch.rand(1, 3, 7, 7)
    y = OverlapMaxPool()(x)
    assert y.shape == x.shape
    assert torch.equal(y[..., :-1, :-1], torch.maximum(
        torch.maximum(x[..., :-1, :-1], x[..., 1:, :-1]),
        torch.maximum(x[..., :-1, 1:], x[..., 1:, 1:])))


def test_image_norm_equals_instance_norm_then_relu():
    torch.manual_seed(0)
    x = torch.randn(3, 6, 9, 9) * 3 + 2
    ours = ImageNormReLU(6)
    ref = nn.InstanceNorm2d(6, affine=True)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2)
        ours.bias.uniform_(-1, 1)
        ref.weight.copy_(ours.weight)
        ref.bias.copy_(ours.bias)
    torch.testing.assert_close(ours(x), torch.relu(ref(x)), atol=1e-5, rtol=1e-4)
    xc = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(ours(xc), torch.relu(ref(x)), atol=1e-5, rtol=1e-4)


def test_paper_normalises_each_image_alone_in_training_and_test():
    torch.manual_seed(0)
    model = build_segnet(SegNetConfig("paper", 24, hidden=16))
    x = torch.from_numpy(_crops(3, 24)).unsqueeze(1)
    with torch.no_grad():
        train_batch = model.train()(x)
        train_alone = model(x[1:2])
        eval_batch = model.eval()(x)
    torch.testing.assert_close(train_batch[1:2], train_alone, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(train_batch, eval_batch, atol=1e-5, rtol=1e-4)


def test_in_network_lcn_matches_numpy_lcn():
    crops = _crops(3)
    ref = local_contrast_normalise(crops, kernel=9)
    ours = LocalContrastNorm(9)(torch.from_numpy(crops).unsqueeze(1))[:, 0].numpy()
    np.testing.assert_allclose(ours, ref, atol=2e-4)


def test_fast_preset_sees_the_whole_crop():
    """Design claim: the centre pixel's output depends on all four corners of the input."""
    model = build_segnet(SegNetConfig("fast", 48)).eval()
    x = torch.from_numpy(_crops(1)).unsqueeze(1).requires_grad_(True)
    model(x)[0, :, 24, 24].sum().backward()
    g = x.grad[0, 0].abs()
    for corner in (g[:4, :4], g[:4, -4:], g[-4:, :4], g[-4:, -4:]):
        assert corner.sum() > 0


def test_fuse_keeps_outputs_and_needs_eval_mode():
    torch.manual_seed(1)
    model = build_segnet(SegNetConfig("fast", 48))
    with pytest.raises(RuntimeError, match="eval"):
        model.fuse()
    x = torch.from_numpy(_crops(4)).unsqueeze(1)
    model(x)  # a training pass gives BatchNorm non-trivial running statistics
    model.eval()
    with torch.no_grad():
        before = model(x)
        model.fuse()
        after = model(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("preset", ["paper", "fast"])
def test_predict_labels_and_probabilities(preset):
    torch.manual_seed(0)  # weights that do not depend on the tests run before (random order)
    model = build_segnet(SegNetConfig(preset, 24, hidden=16 if preset == "paper" else None))
    crops = _crops(11, 24)
    labels, probs = model.predict(crops, batch=4)
    assert labels.shape == (11, 24, 24) and labels.dtype == np.uint8
    assert probs.shape == (11, 21, 24, 24) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    # each label is a most probable class: softmax can round two close logits to one
    # float32 probability, and argmax of the probabilities then picks the lower index
    # (2 of 200 random untrained "fast" nets had one such pixel; seed 103 hit one)
    picked = np.take_along_axis(probs, labels[:, None].astype(np.int64), 1)[:, 0]
    assert np.array_equal(picked, probs.max(1))
    assert (labels == probs.argmax(1)).mean() > 0.999
    assert not model.training
    with torch.no_grad():
        direct = model(torch.from_numpy(crops).unsqueeze(1)).argmax(1).numpy()
    assert (direct == labels).mean() > 0.999  # chunked = one pass, up to float ties
    one, p1 = model.predict(crops[3])
    assert one.shape == (24, 24) and p1.shape == (21, 24, 24)
    assert np.array_equal(one, labels[3])
    only, none = model.predict(crops, probabilities=False)
    assert none is None and np.array_equal(only, labels)
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((2, 24, 20), np.float32))


@pytest.mark.slow
def test_bench_command_measures_both_presets(capsys):
    from handpose_core.cli.main import main

    assert main(["bench", "segnet", "--json", "--size", "16", "--repeats", "1", "--threads", "1"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [r["preset"] for r in info["results"]] == ["fast", "paper"]
    for r in info["results"]:
        assert r["infer_b1_ms"] > 0 and r["infer_b64_ms_per_frame"] > 0
        assert r["train_images_per_s"] > 0 and r["params"] > 0
    fast, paper = info["results"]
    assert paper["mmac_per_frame"] > 10 * fast["mmac_per_frame"]
