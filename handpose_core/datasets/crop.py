"""Hand crops: centre, metric cube, resize, normalisation and the exact inverse.

A crop is the image window that is the projection of a metric cube (default 300 mm)
around a centre (u, v, d), resampled to ``size x size`` pixels. Depth inside the cube is
normalised to [-1, 1] relative to the centre depth; everything else (no return, outside
the cube) becomes +1 (far). :class:`CropTransform` maps crop coordinates back to
full-frame uvd exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..camera import NO_RETURN, NYU_CAMERA, Camera
from ..errors import BadInput

INVALID_DEPTHS = (0, NO_RETURN)
"""Depth values (mm) that mean "no return" in NYU files."""

BACKGROUND_VALUE = 1.0
"""Normalised depth written where the crop has no hand-cube surface."""


DEFAULT_CUBE_MM = 300.0
"""Side of the metric cube cut around the hand (mm)."""

DEFAULT_CROP_SIZE = 48
"""Side of a crop in pixels (the seed paper's f_s input)."""


@dataclass(frozen=True)
class CropSpec:
    """How a project cuts hand crops: ``size`` x ``size`` pixels of a ``cube_mm`` cube."""

    size: int = DEFAULT_CROP_SIZE
    cube_mm: float = DEFAULT_CUBE_MM

    def __post_init__(self):
        if int(self.size) < 8 or not (float(self.cube_mm) > 0):
            raise BadInput(f"invalid crop spec: size {self.size}, cube {self.cube_mm} mm")


DEFAULT_CROP = CropSpec()


@dataclass(frozen=True)
class CropTransform:
    """Full-frame window ``[u0, u1) x [v0, v1)`` (float pixels) mapped to ``size x size``.

    ``center`` is (u, v, d) of the cube centre (px, px, mm); ``cube`` its (x, y, z)
    extent in mm. Crop pixel (x, y) covers full-frame u = u0 + (x + 0.5) * su - 0.5 ...
    precisely: full-frame coordinates are ``u = u0 + x * su`` with ``su = (u1 - u0) / size``
    (pixel centres map to pixel centres up to the constant half-pixel convention used
    consistently both ways).
    """

    center: tuple[float, float, float]
    cube: tuple[float, float, float]
    u0: float
    v0: float
    u1: float
    v1: float
    size: int

    @property
    def su(self) -> float:
        return (self.u1 - self.u0) / self.size

    @property
    def sv(self) -> float:
        return (self.v1 - self.v0) / self.size

    def to_array(self) -> np.ndarray:
        """``(11,)`` float64: center(3), cube(3), u0, v0, u1, v1, size."""
        return np.array([*self.center, *self.cube, self.u0, self.v0, self.u1, self.v1, self.size],
                        dtype=np.float64)

    @classmethod
    def from_array(cls, a: np.ndarray) -> CropTransform:
        a = np.asarray(a, dtype=np.float64)
        if a.shape != (11,):
            raise ValueError(f"a crop transform is 11 numbers, got shape {a.shape}")
        return cls(tuple(a[0:3]), tuple(a[3:6]), a[6], a[7], a[8], a[9], int(a[10]))

    def frame_to_crop(self, uvd: np.ndarray) -> np.ndarray:
        """``(..., 3)`` full-frame u, v (px), d (mm) -> crop x, y (crop px), z in [-1, 1]."""
        uvd = np.asarray(uvd, dtype=np.float64)
        out = np.empty_like(uvd)
        out[..., 0] = (uvd[..., 0] - self.u0) / self.su
        out[..., 1] = (uvd[..., 1] - self.v0) / self.sv
        out[..., 2] = (uvd[..., 2] - self.center[2]) / (self.cube[2] / 2.0)
        return out

    def crop_to_frame(self, xyz: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`frame_to_crop`."""
        xyz = np.asarray(xyz, dtype=np.float64)
        out = np.empty_like(xyz)
        out[..., 0] = xyz[..., 0] * self.su + self.u0
        out[..., 1] = xyz[..., 1] * self.sv + self.v0
        out[..., 2] = xyz[..., 2] * (self.cube[2] / 2.0) + self.center[2]
        return out

    def affine(self) -> np.ndarray:
        """``(2, 3)`` affine matrix mapping full-frame (u, v) to crop (x, y)."""
        return np.array([[1.0 / self.su, 0.0, -self.u0 / self.su],
                         [0.0, 1.0 / self.sv, -self.v0 / self.sv]])


def crop_transform(center_uvd, cube_mm=DEFAULT_CUBE_MM, size: int = DEFAULT_CROP_SIZE,
                   camera: Camera = NYU_CAMERA) -> CropTransform:
    """The crop window of a metric cube around ``center_uvd`` (u px, v px, d mm)."""
    cu, cv, cd = (float(c) for c in center_uvd)
    if not np.isfinite([cu, cv, cd]).all() or cd <= 0:
        raise ValueError(f"crop centre must be finite with positive depth, got {center_uvd}")
    cube = (float(cube_mm),) * 3 if np.isscalar(cube_mm) else tuple(float(c) for c in cube_mm)
    hu = cube[0] / 2.0 * camera.fx / cd
    hv = cube[1] / 2.0 * camera.fy / cd
    return CropTransform((cu, cv, cd), cube, cu - hu, cv - hv, cu + hu, cv + hv, int(size))


def valid_mask(depth: np.ndarray) -> np.ndarray:
    """True where a depth value (mm) is a real return (not 0, not 2001)."""
    d = np.asarray(depth)
    return (d > 0) & (d != NO_RETURN)


def crop_depth(depth_mm: np.ndarray, tf: CropTransform) -> np.ndarray:
    """Crop a full-frame depth image (mm) -> ``(size, size)`` float32 in [-1, 1].

    Nearest-neighbour resampling (depth must not be blended across edges); no return
    and everything outside the cube's depth range become :data:`BACKGROUND_VALUE`.
    """
    d = np.asarray(depth_mm, dtype=np.float32)
    warped = cv2.warpAffine(d, tf.affine(), (tf.size, tf.size), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    half = tf.cube[2] / 2.0
    z = (warped - tf.center[2]) / half
    ok = valid_mask(warped) & (np.abs(z) <= 1.0)
    return np.where(ok, z, BACKGROUND_VALUE).astype(np.float32)


def crop_labels(labels: np.ndarray, tf: CropTransform) -> np.ndarray:
    """Crop a full-frame label map (uint8) with the same window, nearest neighbour."""
    return cv2.warpAffine(np.asarray(labels, dtype=np.uint8), tf.affine(), (tf.size, tf.size),
                          flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def crop_points_mm(crop: np.ndarray, tf: CropTransform, camera: Camera = NYU_CAMERA,
                   mask: np.ndarray | None = None) -> np.ndarray:
    """Back-project crop pixels to camera xyz (mm): ``(size, size, 3)`` (NaN off-mask)."""
    s = tf.size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
    uvd = tf.crop_to_frame(np.stack([xx, yy, crop.astype(np.float64)], axis=-1))
    xyz = camera.uvd_to_xyz(uvd)
    if mask is not None:
        xyz[~mask] = np.nan
    return xyz


def center_of_mass(depth_mm: np.ndarray, cube_mm: float = DEFAULT_CUBE_MM, iterations: int = 5,
                   camera: Camera = NYU_CAMERA) -> np.ndarray:
    """Estimate the hand centre (u, v, d) as the refined centre of mass of near pixels.

    Starts from the pixels within ``cube_mm`` behind the nearest valid return (the hand
    is the object closest to the sensor), then iterates: centre of mass of the valid
    pixels inside the cube around the current estimate.
    Raises ``ValueError`` when the frame has no valid pixel.
    """
    d = np.asarray(depth_mm, dtype=np.float64)
    ok = valid_mask(d)
    if not ok.any():
        raise ValueError("no valid depth pixel: cannot find a hand centre")
    near = np.percentile(d[ok], 0.5)
    sel = ok & (d <= near + cube_mm)
    vs, us = np.nonzero(sel)
    c = np.array([us.mean(), vs.mean(), np.median(d[sel])])
    for _ in range(iterations):
        tf = crop_transform(c, cube_mm, 1, camera)
        u0, u1 = int(max(0, np.floor(tf.u0))), int(min(d.shape[1], np.ceil(tf.u1)))
        v0, v1 = int(max(0, np.floor(tf.v0))), int(min(d.shape[0], np.ceil(tf.v1)))
        win = d[v0:v1, u0:u1]
        wok = valid_mask(win) & (np.abs(win - c[2]) <= cube_mm / 2.0)
        if not wok.any():
            break
        vs, us = np.nonzero(wok)
        c_new = np.array([us.mean() + u0, vs.mean() + v0, win[wok].mean()])
        if np.allclose(c_new, c, atol=0.05):
            c = c_new
            break
        c = c_new
    return c


def local_contrast_normalise(img: np.ndarray, kernel: int = 9, eps: float = 1e-2) -> np.ndarray:
    """Subtractive and divisive local contrast normalisation with a Gaussian window.

    ``img`` is ``(H, W)`` or ``(N, H, W)`` float; returns float32 of the same shape.
    """
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 3:
        return np.stack([local_contrast_normalise(x, kernel, eps) for x in a])
    sigma = kernel / 4.0
    mean = cv2.GaussianBlur(a, (kernel, kernel), sigma, borderType=cv2.BORDER_REFLECT)
    centred = a - mean
    var = cv2.GaussianBlur(centred * centred, (kernel, kernel), sigma,
                           borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(var, 0.0))
    return (centred / np.maximum(std, max(eps, float(std.mean())))).astype(np.float32)
