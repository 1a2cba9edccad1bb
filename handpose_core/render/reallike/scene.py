"""Real-like scenes: the person's hand (:mod:`.body`), posed by :func:`.people.sample_people`,
with the arm, the person and the room of the training side's scenes and the clutter a
real recording has.

Clutter (all class 0): a sleeve or cuff over the forearm, its opening 20-150 mm from the
wrist and 4-14 mm looser than the arm (60 % of frames); the other hand, 130-260 mm to a
side, with its forearm (20 %); an object near the hand or (30 % of those) held in the
palm -- a ball, a cylinder (mug, bottle) or a box (25 %); the hand touching the
person's body (10 %) or resting on a table seen from above (5 %, when the hand is
120 mm or more below the sensor). The probabilities are choices, not measurements (see
docs/realism.md, "Clutter").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...camera import NYU_CAMERA
from ..background import (
    BG_BODY,
    BG_TABLE,
    BG_TX0,
    BG_TX1,
    BG_XB,
    BG_YS,
    BG_YT,
    BG_ZB,
    BG_ZT0,
    BG_ZT1,
)
from ..hand_model import FOREARM, N_HAND_PRIMS, NPRM, PALM_JOINTS, _Prims, pose_hands
from ..scene import SceneBatch, forearm_dirs, make_rng, sample_arm_and_person
from .body import NB, NE, NP, NS, NSTUB, P_BOUND, build_hands, sample_tissue
from .people import People, sample_people
from .sdf import NOBJ, NOBJ_COLS, OBJ_BOX, OBJ_CYLINDER, OBJ_SPHERE

N_ARM = 5  # forearm, upper arm (hand_model rows), sleeve, upper sleeve, other forearm
P_SLEEVE, P_OTHER, P_OBJECT, P_HELD, P_BODY_TOUCH, P_TABLE_TOUCH = 0.6, 0.2, 0.25, 0.3, 0.10, 0.05


@dataclass
class RealScenes(SceneBatch):
    """A batch of B real-like scenes: two hand slots (0: the labelled hand, 1: the other
    hand, absent where ``bounds[:, 1, 3] == 0``), each as :mod:`.body` arrays; ``arm``
    (B, N_ARM, NPRM) analytic rows (arms, sleeve); ``objects`` (B, NOBJ, NOBJ_COLS);
    ``bounds`` (B, 2, 4) tracing spheres; ``background`` (B, NBG); ``seeds`` (B,)
    uint64; ``joints_xyz`` / ``joints_uvd`` (B, 36, 3) of the labelled hand;
    ``articulation`` (B, 20)."""

    arm: np.ndarray
    bones: np.ndarray
    ells: np.ndarray
    sph: np.ndarray
    stub: np.ndarray
    prm: np.ndarray
    objects: np.ndarray
    bounds: np.ndarray
    background: np.ndarray
    seeds: np.ndarray
    joints_xyz: np.ndarray
    joints_uvd: np.ndarray
    articulation: np.ndarray


def _stack(a, b):
    return np.ascontiguousarray(np.stack([a, b], axis=1))


def _rotations(rng, n):
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
                     2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
                     2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
                    axis=1).reshape(n, 3, 3)


def sample_reallike_scenes(n: int, seed=0, *, margin_px: float = 90.0,
                           people_fn=sample_people) -> RealScenes:
    """Draw ``n`` real-like scenes reproducibly from ``seed`` (int, ints, SeedSequence or
    Generator); ``people_fn(rng, n) -> People`` draws the hands."""
    if n < 0:
        raise ValueError(f"scene count must be >= 0, got {n}")
    rng = make_rng(seed)
    cam = NYU_CAMERA
    people: People = people_fn(rng, n)
    R = np.asarray(people.rotation, np.float64)
    scale = np.asarray(people.scale, np.float64)
    depth = np.asarray(people.depth, np.float64)
    u = rng.uniform(margin_px, cam.width - margin_px, n)
    v = rng.uniform(margin_px * 0.8, cam.height - margin_px * 0.8, n)
    palm = cam.uvd_to_xyz(np.stack([u, v, depth], axis=1))
    t = palm - np.einsum("nij,nj->ni", R, PALM_JOINTS[2][None] * scale[:, None])
    fdir, bg, shoulder = sample_arm_and_person(rng, palm, depth, R)
    tissue = sample_tissue(rng, n)
    joints, bones0, ells0, sph0, stub0, prm0 = build_hands(people, t, fdir, tissue)
    # the analytic arm of the training side (forearm, upper arm), as clutter rows
    _, prims = pose_hands(people.articulation, scale, people.finger_scale, people.thickness,
                          R, t, fdir, shoulder)
    arm = np.zeros((n, N_ARM, NPRM))
    arm[:, :, 0] = -1.0
    arm[:, :2] = prims[:, N_HAND_PRIMS:N_HAND_PRIMS + 2]
    th = np.asarray(people.thickness, np.float64) * scale
    length, fra, frb, fratio = FOREARM
    wrist = prims[:, N_HAND_PRIMS, 2:5]
    elbow = prims[:, N_HAND_PRIMS, 19:22]
    xh = R[:, :, 0]
    # sleeve: a looser elliptic cone from its opening to the elbow, and over the upper arm
    sl = _Prims(n, 2)
    d0 = rng.uniform(20.0, 150.0, n) * scale
    loose = rng.uniform(4.0, 14.0, n)
    ra = fra * th + (frb - fra) * th * d0 / (length * scale) + loose
    # the cone's round cap reaches ra beyond its start: start there, so the opening's
    # edge is d0 from the wrist and the cap never swallows the heel of the hand
    a = wrist + fdir * (d0 + ra)[:, None]
    sl.econe(a, elbow, ra, frb * th + loose, xh, 1.2, 0)
    sl.cone(elbow, shoulder, np.full(n, 40.0 + 8.0), np.full(n, 46.0 + 8.0), 0)
    sleeve = rng.uniform(0, 1, n) < P_SLEEVE
    arm[sleeve, 2:4] = sl.a[sleeve]
    # the other hand (a second person's pose and shape), beside the first, with its arm
    other = rng.uniform(0, 1, n) < P_OTHER
    p2 = people_fn(rng, n)
    side = np.where(rng.uniform(0, 1, n) < 0.5, -1.0, 1.0)
    off = np.stack([side * rng.uniform(130, 260, n), rng.uniform(-80, 80, n),
                    rng.uniform(-60, 150, n)], axis=1)
    palm2 = palm + off
    palm2[:, 2] = np.maximum(palm2[:, 2], 420.0)
    R2 = np.asarray(p2.rotation, np.float64)
    s2 = np.asarray(p2.scale, np.float64)
    t2 = palm2 - np.einsum("nij,nj->ni", R2, PALM_JOINTS[2][None] * s2[:, None])
    fdir2 = forearm_dirs(rng, R2)
    _, bones1, ells1, sph1, stub1, prm1 = build_hands(p2, t2, fdir2, sample_tissue(rng, n))
    _, prims2 = pose_hands(p2.articulation, s2, p2.finger_scale, p2.thickness, R2, t2, fdir2)
    arm[other, 4] = prims2[other, N_HAND_PRIMS]
    # an object held in the palm or near the hand
    obj = np.zeros((n, NOBJ, NOBJ_COLS))
    has_obj = rng.uniform(0, 1, n) < P_OBJECT
    kind = rng.choice([OBJ_SPHERE, OBJ_CYLINDER, OBJ_BOX], size=n, p=[0.35, 0.4, 0.25])
    size = np.stack([rng.uniform(25, 50, n), rng.uniform(40, 90, n), rng.uniform(12, 40, n)], 1)
    size[kind == OBJ_CYLINDER, 0] = rng.uniform(20, 40, n)[kind == OBJ_CYLINDER]
    size[kind == OBJ_BOX, 0] = rng.uniform(25, 70, n)[kind == OBJ_BOX]
    size[kind == OBJ_BOX, 1] = rng.uniform(20, 50, n)[kind == OBJ_BOX]
    axes = _rotations(rng, n)
    held = rng.uniform(0, 1, n) < P_HELD
    reach = np.where(kind == OBJ_SPHERE, size[:, 0], np.where(kind == OBJ_CYLINDER, size[:, 0],
                                                              size[:, 2]))
    palmar = -R[:, :, 2]
    c_held = palm + palmar * (reach + 14.0 * th)[:, None]
    # near: beside the hand (never hiding all of it) and level with it or behind
    ang = rng.uniform(0, 2 * np.pi, n)
    dist = np.linalg.norm(size, axis=1) * 0.6 + rng.uniform(70, 160, n)
    c_near = palm + np.stack([np.cos(ang) * dist, np.sin(ang) * dist,
                              rng.uniform(0, 150, n)], axis=1)
    centre = np.where(held[:, None], c_held, c_near)
    obj[has_obj, 0, 0] = kind[has_obj]
    obj[:, 0, 1:4] = centre
    obj[:, 0, 4:13] = axes.reshape(n, 9)
    obj[:, 0, 13:16] = size
    # touching the body (the torso's front just behind the hand) or resting on a table
    touch = rng.uniform(0, 1, n)
    zmax = joints[:, :, 2].max(axis=1)
    body = touch < P_BODY_TOUCH
    bg[body, BG_BODY] = 1.0
    bg[body, BG_XB] = palm[body, 0] + rng.uniform(-120, 120, n)[body]
    bg[body, BG_ZB] = zmax[body] + rng.uniform(0, 8, n)[body]
    bg[body, BG_YS] = np.maximum(bg[body, BG_YS], palm[body, 1] + 60.0)
    ymin = joints[:, :, 1].min(axis=1) - 10.0 * th
    # a table seen from above (its top 120 mm or more below the sensor), not edge-on
    table = (touch >= P_BODY_TOUCH) & (touch < P_BODY_TOUCH + P_TABLE_TOUCH) & (ymin < -120.0)
    bg[table, BG_TABLE] = 1.0
    bg[table, BG_YT] = ymin[table] - rng.uniform(0, 6, n)[table]
    bg[table, BG_ZT0] = depth[table] - rng.uniform(150, 300, n)[table]
    bg[table, BG_ZT1] = bg[table, BG_ZT0] + rng.uniform(500, 900, n)[table]
    bg[table, BG_TX0] = palm[table, 0] - rng.uniform(300, 700, n)[table]
    bg[table, BG_TX1] = palm[table, 0] + rng.uniform(300, 700, n)[table]
    # tracing spheres: hand 0 with its object, hand 1 where present
    bounds = np.zeros((n, 2, 4))
    c0, r0 = prm0[:, P_BOUND:P_BOUND + 3], prm0[:, P_BOUND + 3]
    orad = np.linalg.norm(size, axis=1) + 5.0
    oc = centre
    both = np.linalg.norm(oc - c0, axis=1)
    cen = np.where((has_obj & (both + orad > r0))[:, None],
                   c0 + (oc - c0) * (0.5 * (both + orad - r0) / np.maximum(both, 1e-9))[:, None],
                   c0)
    rad = np.where(has_obj & (both + orad > r0), 0.5 * (both + orad + r0), r0)
    bounds[:, 0, :3], bounds[:, 0, 3] = cen, rad
    bounds[other, 1, :3] = prm1[other, P_BOUND:P_BOUND + 3]
    bounds[other, 1, 3] = prm1[other, P_BOUND + 3]
    seeds = rng.integers(1, 2**62, n, dtype=np.uint64)
    out = RealScenes(arm, _stack(bones0, bones1), _stack(ells0, ells1), _stack(sph0, sph1),
                     _stack(stub0, stub1), _stack(prm0, prm1), obj, bounds, bg, seeds, joints,
                     cam.xyz_to_uvd(joints), np.asarray(people.articulation, np.float64))
    assert out.bones.shape[2:] == (NB, 16) and out.ells.shape[2:] == (NE, 15)
    assert out.sph.shape[2:] == (NS, 4) and out.stub.shape[2] == NSTUB
    assert out.prm.shape[2] == NP
    return out


def posed_reallike_scenes(people: People, palm_xyz, *, tissue=None, seed: int = 1
                          ) -> RealScenes:
    """Real-like scenes of given people without clutter, arm or background (tests,
    figures): hand ``i``'s palm centre at ``palm_xyz`` (n, 3) or (3,) camera mm (its
    ``depth`` field is not used), the forearm straight back along the hand's -y axis,
    ``tissue`` (n, 6) (default: the middle of :func:`.body.sample_tissue`'s ranges)."""
    R = np.asarray(people.rotation, np.float64)
    n = R.shape[0]
    scale = np.asarray(people.scale, np.float64).reshape(n)
    palm = np.broadcast_to(np.asarray(palm_xyz, np.float64), (n, 3))
    t = palm - np.einsum("nij,nj->ni", R, PALM_JOINTS[2][None] * scale[:, None])
    fdir = -R[:, :, 1]
    if tissue is None:
        tissue = np.tile([1.12, 1.0, 0.4, 1.0, 1.0, 1.0], (n, 1))
    joints, bones, ells, sph, stub, prm = build_hands(people, t, fdir, tissue)
    arm = np.zeros((n, N_ARM, NPRM))
    arm[:, :, 0] = -1.0
    bounds = np.zeros((n, 2, 4))
    bounds[:, 0] = prm[:, P_BOUND:P_BOUND + 4]
    from ..background import NBG

    return RealScenes(arm, _stack(bones, bones), _stack(ells, ells), _stack(sph, sph),
                      _stack(stub, stub), _stack(prm, prm), np.zeros((n, NOBJ, NOBJ_COLS)),
                      bounds, np.zeros((n, NBG)), np.arange(seed, seed + n, dtype=np.uint64),
                      joints, NYU_CAMERA.xyz_to_uvd(joints),
                      np.asarray(people.articulation, np.float64))
