import numpy as np
import pytest

from handpose_core.camera import NYU_CAMERA, uvd_to_xyz, xyz_to_uvd


def test_round_trip_any_leading_shape():
    rng = np.random.default_rng(0)
    uvd = np.stack([rng.uniform(0, 640, (4, 5, 14)), rng.uniform(0, 480, (4, 5, 14)),
                    rng.uniform(300, 1500, (4, 5, 14))], axis=-1)
    back = xyz_to_uvd(uvd_to_xyz(uvd))
    assert back.shape == uvd.shape
    np.testing.assert_allclose(back, uvd, rtol=0, atol=1e-9)


def test_y_points_up_and_principal_point():
    xyz = uvd_to_xyz(np.array([[320.0, 240.0, 800.0], [320.0, 100.0, 800.0]]))
    np.testing.assert_allclose(xyz[0], [0, 0, 800])
    assert xyz[1, 1] > 0  # above the centre in the image -> positive y
    assert xyz[1, 1] == pytest.approx(140 * 800 / NYU_CAMERA.fy)


def test_bad_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        uvd_to_xyz(np.zeros((4, 2)))


def test_depth_to_points_matches_uvd_to_xyz():
    d = np.full((3, 4), 700.0)
    pts = NYU_CAMERA.depth_to_points(d, u0=10, v0=20)
    np.testing.assert_allclose(pts[2, 3], uvd_to_xyz(np.array([13.0, 22.0, 700.0])))
