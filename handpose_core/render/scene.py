"""Scenes: a posed hand in camera space, its arm, and the person and room behind it.

:func:`sample_scenes` draws a batch (vectorised): hand shape, articulation, viewpoint,
palm-centre position (500-1000 mm, inside the frame), a wrist bend and a forearm that
leans away from the camera towards the body, the person's torso, neck and head 150-450
mm behind the hand (mostly on the image's right, as for a right hand held up), sometimes
a wall (often beyond the sensor's 2 m, hence "no return") and sometimes a table top.
The clean style renders the hand and its arm (labelled background, 0) with exact depth;
the sensor style renders everything.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..camera import NYU_CAMERA
from ..skeleton import PALM_CENTRE
from .background import (
    BG_BODY,
    BG_HEAD_DX,
    BG_HEAD_RX,
    BG_HEAD_RY,
    BG_HEAD_RZ,
    BG_RX,
    BG_RZ,
    BG_TABLE,
    BG_TX0,
    BG_TX1,
    BG_WALL,
    BG_WALL_TX,
    BG_WALL_TY,
    BG_XB,
    BG_YS,
    BG_YT,
    BG_ZB,
    BG_ZT0,
    BG_ZT1,
    BG_ZW,
    NBG,
)
from .hand_model import PALM_JOINTS, pose_hands, rot_x, rot_z
from .pose import D, ViewRange, sample_articulations, sample_shapes, sample_views

DEFAULT_VIEW = ViewRange()


class SceneBatch:
    """Shared by the scene batches of both generators: the batch size is the first
    field's first axis, and indexing slices every field alike."""

    def __len__(self) -> int:
        return int(getattr(self, fields(self)[0].name).shape[0])

    def __getitem__(self, sl):
        """A sub-batch (slice or index array)."""
        return type(self)(*(getattr(self, f.name)[sl] for f in fields(self)))


@dataclass
class Scenes(SceneBatch):
    """A batch of B scenes.

    ``prims`` (B, P, NPRM) float64 primitive rows (hand_model), ``background`` (B, NBG)
    float64 analytic clutter (background), ``seeds`` (B,) uint64 sensor-noise seeds,
    ``joints_xyz`` / ``joints_uvd`` (B, 36, 3) float64 (mm; px, px, mm), ``articulation``
    (B, 20) radians.
    """

    prims: np.ndarray
    background: np.ndarray
    seeds: np.ndarray
    joints_xyz: np.ndarray
    joints_uvd: np.ndarray
    articulation: np.ndarray


def make_rng(seed) -> np.random.Generator:
    """A generator from an int, a sequence of ints, a SeedSequence or a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    entropy = [int(s) for s in np.atleast_1d(seed)]
    return np.random.default_rng([*entropy, 0x4A4E44])


def sample_scenes(n: int, seed=0, *, view: ViewRange = DEFAULT_VIEW,
                  margin_px: float = 90.0) -> Scenes:
    """Draw ``n`` scenes reproducibly from ``seed`` (int, ints, SeedSequence or Generator)."""
    if n < 0:
        raise ValueError(f"scene count must be >= 0, got {n}")
    rng = make_rng(seed)
    cam = NYU_CAMERA
    art = sample_articulations(rng, n)
    scale, finger_scale, thickness = sample_shapes(rng, n)
    R, depth = sample_views(rng, n, view)
    u = rng.uniform(margin_px, cam.width - margin_px, n)
    v = rng.uniform(margin_px * 0.8, cam.height - margin_px * 0.8, n)
    palm = cam.uvd_to_xyz(np.stack([u, v, depth], axis=1))
    t = palm - np.einsum("nij,nj->ni", R, PALM_JOINTS[2][None] * scale[:, None])
    fdir, bg, shoulder = sample_arm_and_person(rng, palm, depth, R)
    joints, prims = pose_hands(art, scale, finger_scale, thickness, R, t, fdir, shoulder)
    seeds = rng.integers(1, 2**62, n, dtype=np.uint64)
    return Scenes(prims, bg, seeds, joints, cam.xyz_to_uvd(joints), art)


def forearm_dirs(rng: np.random.Generator, R: np.ndarray) -> np.ndarray:
    """Unit forearm directions (n, 3) for hands turned by ``R`` (n, 3, 3): the hand's -y
    axis bent at the wrist, leaning back towards the body."""
    n = R.shape[0]
    wrist = rot_x(rng.normal(0, 12 * D, n)) @ rot_z(rng.normal(0, 10 * D, n))
    fdir = np.einsum("nij,nj->ni", R @ wrist, np.tile([0.0, -1.0, 0.0], (n, 1)))
    fdir[:, 2] += rng.uniform(0.2, 0.9, n)
    fdir[:, 2] = np.maximum(fdir[:, 2], -0.2)
    return fdir / np.linalg.norm(fdir, axis=1, keepdims=True)


def sample_arm_and_person(rng: np.random.Generator, palm: np.ndarray, depth: np.ndarray,
                          R: np.ndarray):
    """The forearm's direction and the person and room behind ``n`` hands whose palm
    centres are at ``palm`` (n, 3) camera mm, ``depth`` (n,) mm, turned by ``R``
    (n, 3, 3): ``(forearm_dir (n, 3) unit, background (n, NBG), shoulder (n, 3))``.
    (Shared by the training side's scenes and the real-like ones; the draws are in a
    fixed order, so a seed gives the same scenes as before this was a function.)"""
    n = palm.shape[0]
    fdir = forearm_dirs(rng, R)
    # the person: torso (elliptic cylinder), neck, head; a wall; a table top
    bg = np.zeros((n, NBG))
    side = np.where(rng.uniform(0, 1, n) < 0.75, 1.0, -1.0)
    bg[:, BG_BODY] = rng.uniform(0, 1, n) < 0.9
    bg[:, BG_XB] = palm[:, 0] + side * rng.uniform(150, 330, n)
    bg[:, BG_ZB] = depth + rng.uniform(150, 450, n)
    bg[:, BG_RX] = rng.uniform(185, 235, n)
    bg[:, BG_RZ] = rng.uniform(100, 140, n)
    bg[:, BG_YS] = palm[:, 1] + rng.uniform(-60, 200, n)
    bg[:, BG_HEAD_DX] = rng.normal(0, 15, n)
    bg[:, BG_HEAD_RX] = rng.uniform(70, 85, n)
    bg[:, BG_HEAD_RY] = rng.uniform(95, 115, n)
    bg[:, BG_HEAD_RZ] = rng.uniform(85, 100, n)
    zw = rng.uniform(1400, 4000, n)
    # a wall beyond ~2.6 m is out of range everywhere in the frame (NYU's frames are
    # mostly "no return" around the person): leave it out
    bg[:, BG_WALL] = (rng.uniform(0, 1, n) < 0.35) & (zw < 2600)
    bg[:, BG_ZW] = zw
    bg[:, BG_WALL_TX] = rng.uniform(-0.3, 0.3, n)
    bg[:, BG_WALL_TY] = rng.uniform(-0.2, 0.2, n)
    bg[:, BG_TABLE] = rng.uniform(0, 1, n) < 0.15
    bg[:, BG_YT] = palm[:, 1] - rng.uniform(150, 400, n)
    bg[:, BG_ZT0] = depth + rng.uniform(-50, 250, n)
    bg[:, BG_ZT1] = bg[:, BG_ZT0] + rng.uniform(400, 900, n)
    bg[:, BG_TX0] = palm[:, 0] - rng.uniform(250, 700, n)
    bg[:, BG_TX1] = palm[:, 0] + rng.uniform(250, 700, n)
    shoulder = np.stack([bg[:, BG_XB] - side * 0.8 * bg[:, BG_RX], bg[:, BG_YS] - 90.0,
                         bg[:, BG_ZB] + 0.5 * bg[:, BG_RZ]], axis=1)
    return fdir, bg, shoulder


def posed_scenes(articulation: np.ndarray, rotation: np.ndarray | None = None,
                 palm_xyz=(0.0, 0.0, 600.0), *, scale=1.0, finger_scale=1.0,
                 thickness=1.0, seed: int = 1) -> Scenes:
    """Scenes of given poses, without arm or background (tests, figures).

    ``articulation`` (B, 20) or (20,) radians; ``rotation`` (B, 3, 3) camera-space
    rotations of the reference hand (default: palm towards the camera, fingers up);
    ``palm_xyz`` (B, 3) or (3,) where the palm centre goes (mm); shape factors are
    scalars or (B,) / (B, 5) arrays.
    """
    art = np.atleast_2d(np.asarray(articulation, dtype=np.float64))
    n = art.shape[0]
    R = np.broadcast_to(np.eye(3) if rotation is None else rotation, (n, 3, 3))
    sc = np.broadcast_to(np.asarray(scale, dtype=np.float64), (n,))
    palm = np.broadcast_to(np.asarray(palm_xyz, dtype=np.float64), (n, 3))
    t = palm - np.einsum("nij,nj->ni", R, PALM_JOINTS[2][None] * sc[:, None])
    joints, prims = pose_hands(art, sc, np.broadcast_to(finger_scale, (n, 5)),
                               np.broadcast_to(thickness, (n,)), R, t)
    seeds = np.arange(seed, seed + n, dtype=np.uint64)
    return Scenes(prims, np.zeros((n, NBG)), seeds, joints, NYU_CAMERA.xyz_to_uvd(joints), art)


def crop_arrays(scenes: Scenes, size: int, cube_mm: float) -> np.ndarray:
    """``(B, 11)`` CropTransform arrays around each scene's ground-truth palm centre
    (the same numbers as ``datasets.crop.crop_transform``, vectorised)."""
    cam = NYU_CAMERA
    c = scenes.joints_uvd[:, PALM_CENTRE]
    n = len(scenes)
    hu, hv = cube_mm / 2.0 * cam.fx / c[:, 2], cube_mm / 2.0 * cam.fy / c[:, 2]
    full = np.full(n, float(cube_mm))
    return np.stack([c[:, 0], c[:, 1], c[:, 2], full, full, full, c[:, 0] - hu, c[:, 1] - hv,
                     c[:, 0] + hu, c[:, 1] + hv, np.full(n, float(size))], axis=1)
