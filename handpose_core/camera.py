"""The NYU Kinect camera: intrinsics and uvd <-> xyz conversion.

Camera space has y pointing up (NYU's own convention)::

    x = (u - cx) * d / fx,   y = (cy - v) * d / fy,   z = d

All functions accept arrays of any leading shape ``(..., 3)`` and return float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_RETURN = 2001
"""Depth value (mm) NYU's Kinect files use for "no return" (0 means the same)."""


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics in pixels; image size in pixels."""

    fx: float = 588.036865
    fy: float = 587.075073
    cx: float = 320.0
    cy: float = 240.0
    width: int = 640
    height: int = 480

    def uvd_to_xyz(self, uvd: np.ndarray) -> np.ndarray:
        """``(..., 3)`` u, v in px and d in mm -> x, y, z in mm (y up)."""
        uvd = np.asarray(uvd, dtype=np.float64)
        _check_last3(uvd)
        u, v, d = uvd[..., 0], uvd[..., 1], uvd[..., 2]
        out = np.empty_like(uvd)
        out[..., 0] = (u - self.cx) * d / self.fx
        out[..., 1] = (self.cy - v) * d / self.fy
        out[..., 2] = d
        return out

    def xyz_to_uvd(self, xyz: np.ndarray) -> np.ndarray:
        """``(..., 3)`` x, y, z in mm -> u, v in px and d in mm. z must be > 0."""
        xyz = np.asarray(xyz, dtype=np.float64)
        _check_last3(xyz)
        x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
        out = np.empty_like(xyz)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[..., 0] = x * self.fx / z + self.cx
            out[..., 1] = self.cy - y * self.fy / z
        out[..., 2] = z
        return out

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """``(..., 3)`` camera points -> ``(..., 2)`` pixel coordinates (u, v)."""
        return self.xyz_to_uvd(xyz)[..., :2]

    def depth_to_points(self, depth: np.ndarray, u0: float = 0.0, v0: float = 0.0) -> np.ndarray:
        """Back-project a depth image ``(H, W)`` in mm to ``(H, W, 3)`` xyz (mm).

        ``u0, v0`` is the full-frame pixel of the image's top-left corner (for crops).
        """
        h, w = depth.shape
        vv, uu = np.mgrid[0:h, 0:w].astype(np.float64)
        uvd = np.stack([uu + u0, vv + v0, depth.astype(np.float64)], axis=-1)
        return self.uvd_to_xyz(uvd)


def _check_last3(a: np.ndarray) -> None:
    if a.ndim == 0 or a.shape[-1] != 3:
        raise ValueError(f"expected an array of shape (..., 3), got {a.shape}")


NYU_CAMERA = Camera()
"""The dataset's own conversion constants (see spec/nyu.md)."""


def uvd_to_xyz(uvd: np.ndarray, camera: Camera = NYU_CAMERA) -> np.ndarray:
    return camera.uvd_to_xyz(uvd)


def xyz_to_uvd(xyz: np.ndarray, camera: Camera = NYU_CAMERA) -> np.ndarray:
    return camera.xyz_to_uvd(xyz)
