"""The hand centre from depth alone: the closest object, refined.

A user's own recordings have no ground-truth palm centre to cut crops around, and the
centre of mass of the near pixels (:func:`handpose_core.datasets.crop.center_of_mass`)
settles on the body when the hand is small next to it. :func:`detect_hand` does what
DeepPrior++ and the NYU literature do -- the hand is the object closest to the sensor --
in three steps:

1. **Nearest object.** Speckle is removed (3x3 median) and the valid pixels within
   ``band_mm`` behind the nearest return are split into 8-connected components. A
   component smaller than ``min_area_mm2`` of surface (pixel count scaled by depth) is
   noise: it is dropped and the search moves on behind it. The nearest component that
   is large enough is the hand (with whatever of the arm lies within the band).
2. **Mean shift in 3D.** From that component's centre of mass, the centre moves to the
   mean of the back-projected points within ``radius_mm`` of it (camera space, mm),
   counting only points connected to the hand within the band, until it moves less
   than 0.5 mm. A sphere of the hand's size around the palm holds mostly hand, so the
   arm behind the wrist pulls the centre much less than it pulls a centre of mass over
   the whole cube.
3. **Depth offset.** Ground-truth joints lie inside the hand, behind the visible
   surface (3-35 mm on NYU), so the centre's depth is moved ``depth_offset_mm`` back.

:class:`HandDetection` keeps the centre (u, v px, d mm), the hand mask and the numbers
a caller may check. Errors are :class:`NoHandError` (a ``ValueError``) naming the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .camera import NYU_CAMERA, Camera
from .datasets.crop import valid_mask
from .errors import BadInput


class NoHandError(BadInput):
    """No hand can be found in a frame (no valid depth, or nothing hand-sized)."""


@dataclass(frozen=True)
class DetectSettings:
    """Parameters of :func:`detect_hand` (lengths in mm)."""

    band_mm: float = 150.0
    """Depth band behind the nearest return that the nearest object is cut from."""
    min_area_mm2: float = 2500.0
    """Smallest surface (mm^2) a component must cover to count as a hand."""
    radius_mm: float = 70.0
    """Radius of the 3D mean-shift sphere around the centre."""
    depth_offset_mm: float = 20.0
    """Moved back from the surface: joints lie inside the hand."""
    max_iterations: int = 30
    surface_step_mm: float = 20.0
    """Largest depth step between neighbours on one surface (finds where the hand's
    object is cut off from the body by the band)."""
    max_points: int = 3000
    """At most this many (evenly subsampled) hand points enter the mean shift."""
    step: int = 2
    """Work on every ``step``-th pixel (speed; the centre keeps full-frame coordinates)."""


DEFAULT_DETECT = DetectSettings()


@dataclass(frozen=True)
class HandDetection:
    """A detected hand: ``center`` (u px, v px, d mm) as float64 ``(3,)``, the hand's
    pixel mask ``(H, W)`` bool (the component within the band), the nearest return
    ``near_mm`` and the number of mean-shift ``iterations`` used."""

    center: np.ndarray
    mask: np.ndarray
    near_mm: float
    iterations: int


def detect_hand(depth_mm: np.ndarray, settings: DetectSettings = DEFAULT_DETECT, *,
                camera: Camera = NYU_CAMERA, name: str = "frame") -> HandDetection:
    """Find the hand in a full-frame depth image ``(H, W)`` (mm; 0 and 2001 = no return).

    Returns a :class:`HandDetection`; raises :class:`NoHandError` naming ``name`` when
    the frame has no valid depth pixel or no object of a hand's size.
    """
    d = np.asarray(depth_mm)
    if d.ndim != 2:
        raise NoHandError(f"{name}: a depth frame must be a 2D image, got shape {d.shape}")
    ok = valid_mask(d)
    if not ok.any():
        raise NoHandError(f"{name}: no valid depth pixel (every pixel is 0 or 2001, no return)")
    st = max(1, int(settings.step))
    df = d[::st, ::st].astype(np.float32)
    ok = ok[::st, ::st]
    # 3x3 median over valid pixels only: invalid pixels are replaced by a far value first
    # so that they never make a hand pixel look nearer than it is.
    far = np.float32(max(float(df[ok].max()) if ok.any() else 1.0, 1.0) + 1000.0)
    med = cv2.medianBlur(np.where(ok, df, far).astype(np.float32), 3)
    ok = ok & (med < far)
    if not ok.any():
        raise NoHandError(f"{name}: only isolated depth pixels (speckle), no object")
    s = settings
    remaining = ok.copy()
    while remaining.any():
        near = float(med[remaining].min())
        band = remaining & (med <= near + s.band_mm)
        n, comp, stats, _ = cv2.connectedComponentsWithStats(band.astype(np.uint8), connectivity=8)
        counts = stats[:, cv2.CC_STAT_AREA].astype(np.float64) * st * st
        # surface of each component at its mean depth (one pass over the labels)
        mean_d = np.bincount(comp.ravel(), weights=med.ravel(), minlength=n) / np.maximum(
            stats[:, cv2.CC_STAT_AREA], 1)
        area = counts * (mean_d / camera.fx) * (mean_d / camera.fy)
        small = area < s.min_area_mm2
        small[0] = False
        if small.any():
            remaining &= ~small[comp]  # noise nearer than the hand: skip it
        best, best_near = None, np.inf
        for k in np.nonzero(~small)[0]:
            if k == 0:
                continue
            x0, y0, w, h = stats[k, :4]
            win = comp[y0:y0 + h, x0:x0 + w] == k
            kn = float(med[y0:y0 + h, x0:x0 + w][win].min())
            if kn < best_near:
                best, best_near = k, kn
        if best is not None:
            return _refine(med, ok, comp == best, best_near, s, camera, st)
    raise NoHandError(f"{name}: no object of a hand's size (>= {s.min_area_mm2:.0f} mm^2) "
                      "in the depth image")


def _attachment(med: np.ndarray, ok: np.ndarray, hand: np.ndarray, s: DetectSettings
                ) -> np.ndarray:
    """Pixels where the hand's component is cut off: the image border, or a neighbour on
    the same surface (depth step below ``surface_step_mm``) that is not in it."""
    att = np.zeros_like(hand)
    att[0, :], att[-1, :], att[:, 0], att[:, -1] = hand[0, :], hand[-1, :], hand[:, 0], hand[:, -1]
    outside = ok & ~hand
    for dv, du in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        nb_out = np.roll(outside, (dv, du), axis=(0, 1))
        nb_d = np.roll(med, (dv, du), axis=(0, 1))
        att |= hand & nb_out & (np.abs(nb_d - med) <= s.surface_step_mm)
    return att


def _refine(med: np.ndarray, ok: np.ndarray, hand: np.ndarray, near: float, s: DetectSettings,
            camera: Camera, st: int) -> HandDetection:
    vs, us = np.nonzero(hand)
    dd = med[vs, us].astype(np.float64)
    pts = camera.uvd_to_xyz(np.stack([us * st, vs * st, dd], axis=-1).astype(np.float64))
    att = _attachment(med, ok, hand, s)[vs, us]
    if att.any():
        # The hand is the free end of the object: start from the points farthest from
        # where it is attached (to the body, or cut by the band or the image border).
        dist = np.linalg.norm(pts - pts[att].mean(axis=0), axis=1)
        far_pt = pts[np.argmax(dist)]
        c = pts[np.sum((pts - far_pt) ** 2, axis=1) <= s.radius_mm ** 2].mean(axis=0)
    else:
        c = pts.mean(axis=0)
    k = -(-len(pts) // s.max_points)  # a regular subsample bounds the mean shift's cost
    pts = pts[::k]
    it = 0
    while it < s.max_iterations:
        it += 1
        inside = np.sum((pts - c) ** 2, axis=1) <= s.radius_mm ** 2
        if not inside.any():
            break
        c_new = pts[inside].mean(axis=0)
        moved = float(np.linalg.norm(c_new - c))
        c = c_new
        if moved < 0.5:
            break
    uvd = camera.xyz_to_uvd(c)
    # Move back along the viewing ray (constant u, v) by the offset.
    center = np.array([uvd[0], uvd[1], uvd[2] + s.depth_offset_mm], dtype=np.float64)
    full = np.zeros((hand.shape[0] * st, hand.shape[1] * st), bool)
    full[::st, ::st] = hand
    return HandDetection(center, full, near, it)


def detect_center(depth_mm: np.ndarray, settings: DetectSettings = DEFAULT_DETECT, *,
                  camera: Camera = NYU_CAMERA, name: str = "frame") -> np.ndarray:
    """The detected hand centre (u px, v px, d mm) as float64 ``(3,)``; see :func:`detect_hand`."""
    return detect_hand(depth_mm, settings, camera=camera, name=name).center
