"""Scenes: a posed hand in camera space, optionally with a body and a wall behind it.

:func:`sample_scenes` draws hands (shape, articulation, viewpoint) and the clutter of a
real NYU frame (the person's torso and head 150-450 mm behind the hand, sometimes a wall
or furniture at 1.4-2 m, everything farther is "no return"). :func:`render_crops` ray-casts
the crop window around the palm centre directly at the crop's resolution (clean style)
or measures the full frame with the sensor model and crops it (sensor style);
:func:`render_frames` produces full 640x480 frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ..camera import NYU_CAMERA
from ..datasets.crop import BACKGROUND_VALUE, CropTransform, crop_depth, crop_labels
from .hand_model import pose_hands, transform
from .pose import ViewRange, sample_articulations, sample_shapes, sample_views
from .raycast import raycast
from .sensor import apply_sensor

PALM_CENTRE = 32


@dataclass
class Scenes:
    """A batch of B scenes. Arrays: ``prims`` (B, P, 8), ``parts`` (B, P) uint8,
    ``joints_xyz`` / ``joints_uvd`` (B, 36, 3) float64, ``body`` (B, 8) float64 clutter
    parameters, ``seeds`` (B,) uint64 sensor seeds."""

    prims: np.ndarray
    parts: np.ndarray
    joints_xyz: np.ndarray
    joints_uvd: np.ndarray
    body: np.ndarray
    seeds: np.ndarray

    def __len__(self) -> int:
        return int(self.prims.shape[0])


DEFAULT_VIEW = ViewRange()


def sample_scenes(n: int, seed: int = 0, *, view: ViewRange = DEFAULT_VIEW,
                  margin_px: float = 90.0) -> Scenes:
    """Draw ``n`` scenes reproducibly from ``seed`` (vectorised over the batch)."""
    rng = np.random.default_rng([int(seed), 0x4A4E44])
    cam = NYU_CAMERA
    art = sample_articulations(rng, n)
    scale, finger_scale, thickness = sample_shapes(rng, n)
    joints, prims, parts = pose_hands(art, scale, finger_scale, thickness)
    R, depth = sample_views(rng, n, view)
    u = rng.uniform(margin_px, cam.width - margin_px, n)
    v = rng.uniform(margin_px * 0.8, cam.height - margin_px * 0.8, n)
    target = cam.uvd_to_xyz(np.stack([u, v, depth], axis=1))
    t = target - np.einsum("nij,nj->ni", R, joints[:, PALM_CENTRE])
    jx, pc = transform(joints, prims, R, t)
    # clutter: torso centre offset sideways and behind, shoulder height, head, wall
    side = np.where(rng.uniform(0, 1, n) < 0.3, -1.0, 1.0)
    body = np.stack([
        target[:, 0] + side * rng.uniform(120, 320, n), target[:, 1] + rng.uniform(-40, 140, n),
        depth + rng.uniform(150, 450, n), rng.uniform(170, 230, n),
        rng.uniform(0, 1, n) < 0.85,  # body visible
        np.where(rng.uniform(0, 1, n) < 0.35, rng.uniform(1400, 2000, n), 0.0),  # wall
        rng.uniform(-0.4, 0.4, n), rng.uniform(0, 1, n)], axis=1).astype(np.float64)
    uvd = cam.xyz_to_uvd(jx)
    seeds = rng.integers(1, 2**62, n, dtype=np.uint64)
    return Scenes(pc, np.tile(parts, (n, 1)), jx, uvd, body, seeds)


@numba.njit(cache=True, parallel=True, fastmath=True)
def _add_clutter(depth, body, u0, v0, su, sv, fx, fy, cx, cy):
    """Composite the torso, head and wall of ``body`` behind the hand (min depth)."""
    h, w = depth.shape
    bx, by, bz, hw, vis, wall, tilt, wall_side = body
    for y in numba.prange(h):
        v = v0 + y * sv
        for x in range(w):
            u = u0 + x * su
            z = depth[y, x]
            if vis > 0.5:
                X = (u - cx) * bz / fx
                Y = (cy - v) * bz / fy
                dx = X - bx
                # torso below the shoulders, slightly narrower at the waist; head above
                # rounded shoulders: the half-width grows over the top 70 mm
                top = min(1.0, max(0.0, (by - Y) / 70.0))
                if Y < by and abs(dx) < hw * np.sqrt(top) - 0.08 * max(0.0, by - Y - 250.0):
                    r = hw
                    zb = bz + r - np.sqrt(max(0.0, r * r - dx * dx)) * 0.6
                    if zb < z:
                        z = zb
                hx = (X - bx) / 75.0
                hy = (Y - (by + 150.0)) / 100.0
                if hx * hx + hy * hy < 1.0:
                    zb = bz - 60.0 * np.sqrt(1.0 - hx * hx - hy * hy) + 20.0
                    if zb < z:
                        z = zb
            if wall > 0.0:
                # a wall or furniture face covering part of the frame, slightly slanted
                xn = (u - cx) / fx
                if (wall_side < 0.5 and xn > 0.25) or (wall_side >= 0.5 and xn < -0.35) \
                        or wall_side > 0.85:
                    zw = wall * (1.0 + tilt * xn)
                    if zw < z:
                        z = zw
            depth[y, x] = z


def _clean_to_crop(depth: np.ndarray, labels: np.ndarray, center_d: float, cube: float):
    z = (depth - center_d) / (cube / 2.0)
    ok = np.isfinite(depth) & (np.abs(z) <= 1.0)
    lab = np.where(ok & (labels > 0), labels, 0).astype(np.uint8)
    return np.where(ok, z, BACKGROUND_VALUE).astype(np.float32), lab


def render_frames(scenes: Scenes, *, style: str = "sensor") -> tuple[np.ndarray, np.ndarray]:
    """Full 640x480 frames: ``(depth (B,480,640) uint16 mm, 2001 = no return, labels)``.

    ``style="clean"`` gives the hand and forearm alone, exact depth rounded to mm;
    ``"sensor"`` adds body and wall and measures everything with the sensor model.
    Labels are the hand parts of the measured pixels (forearm and clutter are 0).
    """
    cam = NYU_CAMERA
    b = len(scenes)
    grids = np.tile([0.0, 0.0, 1.0, 1.0], (b, 1))
    depth, labels = raycast(scenes.prims, scenes.parts, grids, cam.height, cam.width)
    out = np.empty((b, cam.height, cam.width), np.uint16)
    out_lab = np.empty((b, cam.height, cam.width), np.uint8)
    for i in range(b):
        if style == "sensor":
            _add_clutter(depth[i], scenes.body[i], 0.0, 0.0, 1.0, 1.0, cam.fx, cam.fy, cam.cx,
                         cam.cy)
            out[i], out_lab[i] = apply_sensor(depth[i], labels[i], int(scenes.seeds[i]))
        elif style == "clean":
            ok = np.isfinite(depth[i]) & (depth[i] < 2000.5)
            out[i] = np.where(ok, np.rint(np.where(ok, depth[i], 0)), 2001).astype(np.uint16)
            out_lab[i] = np.where(ok, labels[i], 0)
        else:
            raise ValueError(f"unknown render style {style!r}; expected 'clean' or 'sensor'")
    return out, out_lab


def render_crops(n: int, *, size: int = 48, seed: int = 0, style: str = "clean",
                 cube_mm: float = 300.0, scenes: Scenes | None = None) -> dict:
    """Labelled crops around the ground-truth palm centre, as the synthetic store holds them.

    Returns a dict of ``depth`` (n,S,S) float32 in [-1, 1] (+1 background), ``labels``
    (n,S,S) uint8, ``joints_uvd`` / ``joints_xyz`` (n,36,3) float32 and ``crop`` (n,11)
    float64 (``CropTransform.to_array()``).
    """
    scenes = scenes if scenes is not None else sample_scenes(n, seed)
    n = len(scenes)
    cam = NYU_CAMERA
    c = scenes.joints_uvd[:, PALM_CENTRE]
    hu, hv = cube_mm / 2.0 * cam.fx / c[:, 2], cube_mm / 2.0 * cam.fy / c[:, 2]
    crop_arr = np.stack([c[:, 0], c[:, 1], c[:, 2], np.full(n, cube_mm), np.full(n, cube_mm),
                         np.full(n, cube_mm), c[:, 0] - hu, c[:, 1] - hv, c[:, 0] + hu,
                         c[:, 1] + hv, np.full(n, size)], axis=1)
    if style == "clean":
        grids = np.stack([crop_arr[:, 6], crop_arr[:, 7], 2 * hu / size, 2 * hv / size], axis=1)
        d, lab = raycast(scenes.prims, scenes.parts, grids, size, size)
        depth, labels = _clean_to_crop(d, lab, c[:, 2, None, None], cube_mm)
    elif style == "sensor":
        depth = np.empty((n, size, size), np.float32)
        labels = np.empty((n, size, size), np.uint8)
        tfs = [CropTransform.from_array(a) for a in crop_arr]
        for s in range(0, n, 16):
            sub = Scenes(*(a[s:s + 16] for a in (scenes.prims, scenes.parts, scenes.joints_xyz,
                                                 scenes.joints_uvd, scenes.body, scenes.seeds)))
            frames, flabels = render_frames(sub, style="sensor")
            for k in range(len(sub)):
                t = tfs[s + k]
                depth[s + k] = crop_depth(frames[k], t)
                lab = crop_labels(flabels[k], t)
                labels[s + k] = np.where(depth[s + k] < BACKGROUND_VALUE, lab, 0)
    else:
        raise ValueError(f"unknown render style {style!r}; expected 'clean' or 'sensor'")
    return {"depth": depth, "labels": labels,
            "joints_uvd": scenes.joints_uvd.astype(np.float32),
            "joints_xyz": scenes.joints_xyz.astype(np.float32), "crop": crop_arr}
