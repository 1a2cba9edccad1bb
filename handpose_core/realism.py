"""Realism measurements: the same statistics on real NYU frames and on a project's frames.

Per frame (full-frame depth in mm, the 14 evaluation joints in uvd, optionally part
labels), :func:`measure_frame` gives:

- ``crop_pixels``: pixels of the 48 x 48 crop (300 mm cube around the ground-truth palm
  centre, :mod:`handpose_core.datasets.crop`) that hold a return inside the cube (the
  issue's "hand pixels in the crop": 715 on the real sample frame);
- ``labelled_hand_pixels``: crop pixels with a hand part label (1..20), where labels exist;
- ``hand_pixels``: full-frame pixels of the *hand mask*: valid returns within
  :data:`HAND_RADIUS_MM` (3D) of the 14-joint skeleton's bones (the same definition
  on real and rendered frames, since real frames have no labels);
- ``finger_width_mm`` / ``finger_width_px``: across each long finger halfway between
  PIP and tip, the run of pixels without a depth step (> :data:`STEP_MM`) or a missing
  return, perpendicular to the finger in the image; fingers seen end-on (PIP-to-tip
  under 6 px), occluded (surface not within 50 mm in front of / 10 mm behind the
  joints) or merged with a neighbour (wider than 35 mm) are skipped;
- ``finger_sag_mm``: along that run, how much deeper the two edge pixels are than the
  nearest point (the surface's curvature across a finger: a cylinder of radius r seen
  square-on sags by about r);
- ``hand_area_cm2``: the hand mask's surface area facing the camera (pixels x (z/f)^2);
- ``edge_no_return``: of the pixels just outside the hand mask (4-neighbours) where the
  surface does not go on (no return, or a depth step over :data:`STEP_MM`), the
  fraction that are "no return"; ``edge_step_mm``: median step to the others;
- ``rim_falloff_mm``: median depth of mask pixels 1 px inside the silhouette minus the
  mean of the mask's pixels at least 3 px inside in a 9 x 9 window (how the surface
  bends away at the silhouette);
- ``ring_no_return``: fraction of no-return pixels in a ring 2..12 mm (at the hand's
  depth) around the hand mask; ``hole_fraction``: no-return pixels inside the closed
  hand mask;
- ``quant_step_mm``: mean spacing of the distinct depth values of the hand's pixels
  within 60 mm of their median (sensor quantisation) and ``quant_k``: that spacing
  over z^2 (mm per m^2; a Kinect's disparity quantisation keeps it constant).

:func:`summarise_frames` gives medians and 10th / 90th percentiles over frames.
"""

from __future__ import annotations

import cv2
import numpy as np

from .camera import NYU_CAMERA
from .datasets.crop import (
    BACKGROUND_VALUE,
    DEFAULT_CROP_SIZE,
    DEFAULT_CUBE_MM,
    crop_depth,
    crop_labels,
    crop_transform,
    valid_mask,
)
from .skeleton import EDGES_14

HAND_RADIUS_MM = 25.0
STEP_MM = 10.0
PALM = 13
FINGER_JOINTS = {"pinky": (1, 0), "ring": (3, 2), "middle": (5, 4), "index": (7, 6)}
"""(PIP, tip) indices into the 14 joints."""


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points ``p`` (M, 3) to segments ``a``-``b`` (S, 3): (M,) minimum."""
    ab = b - a
    t = np.einsum("msk,sk->ms", p[:, None] - a[None], ab) / np.maximum(np.sum(ab * ab, -1), 1e-9)
    t = np.clip(t, 0.0, 1.0)
    q = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(p[:, None] - q, axis=-1).min(axis=1)


def hand_mask(depth: np.ndarray, uvd14: np.ndarray, radius_mm: float = HAND_RADIUS_MM):
    """``(mask (H, W) bool, window (v0, v1, u0, u1))``: valid pixels within ``radius_mm``
    of the skeleton's bones (:data:`handpose_core.skeleton.EDGES_14`)."""
    cam = NYU_CAMERA
    h, w = depth.shape
    xyz = cam.uvd_to_xyz(uvd14)
    c = uvd14[PALM]
    half = 160.0 * cam.fx / c[2]
    u0, u1 = int(max(0, c[0] - half)), int(min(w, c[0] + half + 1))
    v0, v1 = int(max(0, c[1] - half)), int(min(h, c[1] + half + 1))
    mask = np.zeros((h, w), bool)
    win = depth[v0:v1, u0:u1].astype(np.float64)
    ok = valid_mask(win) & (np.abs(win - c[2]) < 250.0)
    if not ok.any():
        return mask, (v0, v1, u0, u1)
    vs, us = np.nonzero(ok)
    pts = cam.uvd_to_xyz(np.stack([us + u0, vs + v0, win[vs, us]], axis=1))
    a = np.array([xyz[i] for i, _ in EDGES_14])
    b = np.array([xyz[j] for _, j in EDGES_14])
    near = np.zeros(len(pts), bool)
    for s in range(0, len(pts), 20000):
        near[s:s + 20000] = _segment_distance(pts[s:s + 20000], a, b) <= radius_mm
    mask[vs[near] + v0, us[near] + u0] = True
    return mask, (v0, v1, u0, u1)


def _finger_profile(depth: np.ndarray, pip: np.ndarray, tip: np.ndarray):
    """(width px, width mm, sag mm) across a finger halfway between PIP and tip, or None."""
    d = np.asarray(depth, dtype=np.float64)
    h, w = d.shape
    axis = tip[:2] - pip[:2]
    length = float(np.hypot(*axis))
    if length < 6.0:
        return None
    nrm = np.array([-axis[1], axis[0]]) / length
    mid = 0.5 * (pip + tip)

    def at(p):
        u, v = int(round(p[0])), int(round(p[1]))
        if not (0 <= u < w and 0 <= v < h):
            return np.nan
        z = d[v, u]
        return z if z > 0 and z != 2001 else np.nan

    z0 = at(mid[:2])
    if not np.isfinite(z0) or not (mid[2] - 50.0 <= z0 <= mid[2] + 10.0):
        return None
    ends, end_z = [], []
    for sgn in (-1.0, 1.0):
        prev, last, k = z0, z0, 0
        for k in range(1, 81):  # 0.5 px steps, up to 40 px
            z = at(mid[:2] + sgn * 0.5 * k * nrm)
            if not np.isfinite(z) or abs(z - prev) > STEP_MM:
                break
            prev = last = z
        else:
            return None  # no edge within 40 px
        ends.append(0.5 * (k - 1))
        end_z.append(last)
    width_px = ends[0] + ends[1] + 1.0
    width_mm = width_px * z0 / NYU_CAMERA.fx
    if width_mm > 35.0:
        return None
    run = [at(mid[:2] + 0.5 * k * nrm) for k in np.arange(-2 * ends[0], 2 * ends[1] + 1)]
    sag = 0.5 * (end_z[0] + end_z[1]) - np.nanmin(run)
    return width_px, width_mm, float(sag)


def measure_frame(depth: np.ndarray, uvd14: np.ndarray, labels: np.ndarray | None = None,
                  cube_mm: float = DEFAULT_CUBE_MM, size: int = DEFAULT_CROP_SIZE) -> dict:
    """The statistics of one frame (module docstring); NaN where one cannot be measured."""
    d = np.asarray(depth)
    uvd14 = np.asarray(uvd14, dtype=np.float64)
    if d.ndim != 2 or uvd14.shape != (14, 3):
        raise ValueError(f"expected a depth image and (14, 3) joints, got {d.shape}, {uvd14.shape}")
    out: dict = {}
    tf = crop_transform(uvd14[PALM], cube_mm, size)
    out["crop_pixels"] = int((crop_depth(d, tf) != BACKGROUND_VALUE).sum())
    if labels is not None:
        out["labelled_hand_pixels"] = int((crop_labels(labels, tf) > 0).sum())
    mask, _ = hand_mask(d, uvd14)
    out["hand_pixels"] = int(mask.sum())
    zc = float(uvd14[PALM, 2])
    out["hand_area_cm2"] = float(np.sum((d[mask] / NYU_CAMERA.fx) ** 2)) / 100.0
    widths = [_finger_profile(d, uvd14[p], uvd14[t]) for p, t in FINGER_JOINTS.values()]
    widths = [x for x in widths if x is not None]
    out["finger_width_px"] = float(np.median([x[0] for x in widths])) if widths else np.nan
    out["finger_width_mm"] = float(np.median([x[1] for x in widths])) if widths else np.nan
    out["finger_sag_mm"] = float(np.median([x[2] for x in widths])) if widths else np.nan
    valid = valid_mask(d)
    df = d.astype(np.float64)
    m8 = mask.astype(np.uint8)
    inner = cv2.erode(m8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    boundary = mask & ~inner.astype(bool)
    nb_nr, steps = 0, []
    vs, us = np.nonzero(boundary)
    h, w = d.shape
    for dv, du in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        v2, u2 = np.clip(vs + dv, 0, h - 1), np.clip(us + du, 0, w - 1)
        out_px = ~mask[v2, u2]
        nb_nr += int(np.sum(out_px & ~valid[v2, u2]))
        step = df[v2, u2] - df[vs, us]
        sel = out_px & valid[v2, u2] & (np.abs(step) > STEP_MM)
        steps.append(step[sel])
    steps = np.concatenate(steps) if steps else np.zeros(0)
    n_out = nb_nr + len(steps)
    out["edge_no_return"] = nb_nr / n_out if n_out else np.nan
    out["edge_step_mm"] = float(np.median(steps)) if len(steps) else np.nan
    dist = cv2.distanceTransform(m8, cv2.DIST_L2, 3)
    deep = (dist >= 3.0).astype(np.float64)
    num = cv2.boxFilter(df * deep, -1, (9, 9), normalize=False)
    den = cv2.boxFilter(deep, -1, (9, 9), normalize=False)
    rim = mask & (dist < 1.5) & (den > 0)
    out["rim_falloff_mm"] = (float(np.median(df[rim] - num[rim] / den[rim])) if rim.any()
                             else np.nan)
    px = lambda mm: max(1, int(round(mm * NYU_CAMERA.fx / zc)))  # noqa: E731
    grow = lambda k: cv2.dilate(m8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1,) * 2))  # noqa: E731
    ring = grow(px(12.0)).astype(bool) & ~grow(px(2.0)).astype(bool)
    out["ring_no_return"] = float(np.mean(~valid[ring])) if ring.any() else np.nan
    k = px(6.0)
    closed = cv2.morphologyEx(m8, cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1,) * 2)).astype(bool)
    out["hole_fraction"] = float(np.mean(~valid[closed])) if closed.any() else np.nan
    z = np.unique(df[mask])
    z = z[np.abs(z - np.median(df[mask])) < 60.0] if len(z) else z
    if len(z) > 3:
        step = float((z[-1] - z[0]) / (len(z) - 1))
        out["quant_step_mm"] = step
        out["quant_k"] = step / (float(np.median(z)) / 1000.0) ** 2
    else:
        out["quant_step_mm"] = out["quant_k"] = np.nan
    out["palm_depth_mm"] = zc
    return out


FRAME_STATS = ("crop_pixels", "labelled_hand_pixels", "hand_pixels", "hand_area_cm2",
               "finger_width_px",
               "finger_width_mm", "finger_sag_mm", "edge_no_return", "edge_step_mm",
               "rim_falloff_mm", "ring_no_return", "hole_fraction", "quant_step_mm", "quant_k",
               "palm_depth_mm")


def summarise_frames(rows: list[dict]) -> dict:
    """``{stat: {"median", "p10", "p90", "frames"}}`` over frames (NaNs left out)."""
    res = {}
    for k in FRAME_STATS:
        vals = np.array([r[k] for r in rows if k in r], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        if len(vals) == 0:
            continue
        res[k] = {"median": round(float(np.median(vals)), 3),
                  "p10": round(float(np.percentile(vals, 10)), 3),
                  "p90": round(float(np.percentile(vals, 90)), 3), "frames": int(len(vals))}
    return res
