import numpy as np
import pytest

from handpose_core.datasets.crop import (
    CropTransform,
    center_of_mass,
    crop_depth,
    crop_labels,
    crop_transform,
    local_contrast_normalise,
)


def _blob_frame(center=(300, 200), d=700):
    depth = np.full((480, 640), 2001, np.uint16)
    vv, uu = np.mgrid[0:480, 0:640]
    blob = (uu - center[0]) ** 2 + (vv - center[1]) ** 2 < 40 ** 2
    depth[blob] = d
    depth[400:, :] = 1500  # a table far behind
    return depth, blob


@pytest.mark.parametrize("size", [48, 96, 128])
def test_inverse_is_exact(size):
    tf = crop_transform((310.5, 222.25, 812.0), 300.0, size)
    pts = np.random.default_rng(0).uniform(0, size, (20, 3))
    pts[:, 2] = np.random.default_rng(1).uniform(-1, 1, 20)
    np.testing.assert_allclose(tf.frame_to_crop(tf.crop_to_frame(pts)), pts, atol=1e-12)
    assert CropTransform.from_array(tf.to_array()) == tf


def test_window_is_metric_cube():
    tf = crop_transform((320, 240, 600), 300.0, 48)
    assert tf.u1 - tf.u0 == pytest.approx(300 * 588.036865 / 600)
    tf2 = crop_transform((320, 240, 1200), 300.0, 48)
    assert tf2.u1 - tf2.u0 == pytest.approx((tf.u1 - tf.u0) / 2)


def test_crop_normalises_and_blanks():
    depth, blob = _blob_frame()
    tf = crop_transform((300, 200, 700), 300.0, 48)
    c = crop_depth(depth, tf)
    assert c.shape == (48, 48) and c.dtype == np.float32
    assert c[24, 24] == pytest.approx(0.0)
    assert c.max() == 1.0 and c.min() >= -1
    assert (c == 1.0).sum() > 0  # no-return and the far table are background
    lab = crop_labels(blob.astype(np.uint8), tf)
    assert set(np.unique(lab)) == {0, 1}
    assert ((c < 1) == (lab == 1)).mean() > 0.98


def test_center_of_mass_finds_the_blob():
    depth, _ = _blob_frame((250, 180), 650)
    c = center_of_mass(depth)
    np.testing.assert_allclose(c, [250, 180, 650], atol=1.0)


def test_center_of_mass_empty_frame():
    with pytest.raises(ValueError, match="no valid depth"):
        center_of_mass(np.full((480, 640), 2001, np.uint16))


def test_bad_centre():
    with pytest.raises(ValueError, match="positive depth"):
        crop_transform((1, 2, 0))


def test_lcn_zero_mean_unit_scale():
    img = np.random.default_rng(0).normal(5, 3, (48, 48)).astype(np.float32)
    out = local_contrast_normalise(img)
    assert out.shape == img.shape and abs(out.mean()) < 0.2 and 0.3 < out.std() < 2
    assert local_contrast_normalise(np.stack([img, img])).shape == (2, 48, 48)
