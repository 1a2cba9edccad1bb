"""The articulated hand: analytic primitives per part, posed by a kinematic tree.

Hand frame (mm): origin at the wrist centre, +y towards the middle finger, +x towards the
index and thumb side, +z out of the back of the hand (the palm faces -z). With the palm
facing the camera and the fingers up, the thumb appears on the image's right, as in NYU's
frames (a right hand).

Primitives, one group per part of the 21-class table (``handpose_core.parts``):

- palm (part 1): a rounded slab -- a flat quadrilateral plate of half-thickness ``r``
  (wrist edge narrower than the knuckle row) plus a capsule of radius ``r`` along each of
  its four edges, so the palm has flat faces and round rims instead of the ridges a row
  of capsules would leave;
- knuckles (5, 9, 13, 17): the last 15 mm of each metacarpal, ending at the MCP joint;
- phalanges: round cones (capsules whose end spheres differ) from joint to joint;
- thumb (2, 3, 4): metacarpal from the CMC joint (its wide base is the thenar eminence),
  proximal and distal phalanges;
- forearm and upper arm (part 0): an elliptic cone leaving the wrist and a capsule to the
  shoulder, only in scenes that show an arm.

Every primitive is one row of ``NPRM`` float64 (layout below) so that the ray caster
(:mod:`.raycast`) reads a flat array. Sizes are the spec's (sphere-mesh hand of Tkach et
al.); whole-hand scale, per-finger length and a thickness factor vary per hand.
"""

from __future__ import annotations

import numpy as np

# --- primitive rows ---------------------------------------------------------------------
NPRM = 24
KIND_OFF, KIND_CONE, KIND_PLATE, KIND_ECONE = -1.0, 0.0, 1.0, 2.0
# cone (isotropic) / econe (anisotropic: local q = M (p - A), a unit-shaped cone there):
#   [0] kind [1] label [2:5] A [5:14] M row-major [14:17] M (B - A) [17] ra [18] rb
#   [19:22] B (camera space) [22] bounding radius at A [23] at B
# plate: [0] kind [1] label [2:5] O (quad centroid) [5:8] e1 [8:11] e2 [11:14] n = e1 x e2
#   [14] half thickness [15:23] quad corners (a, b) in the (e1, e2) plane, counter-clockwise
#   [23] bounding radius around O

# --- reference proportions (mm) ----------------------------------------------------------
LONG_FINGERS = ("index", "middle", "ring", "pinky")  # order of articulation arrays
PHALANX = np.array([[38.0, 22.8, 15.2], [40.0, 24.0, 16.0], [38.0, 22.8, 15.2],
                    [30.0, 18.0, 12.0]])  # proximal, middle, distal
FINGER_RADII = np.array([8.0, 7.2, 6.8, 6.4])  # MCP, PIP, DIP, tip
FINGER_THICK = np.array([1.0, 1.0, 0.97, 0.88])  # the pinky is slimmer
MCP = np.array([[30.0, 79.0, 0.0], [10.0, 82.0, 1.0], [-10.0, 79.0, 0.0], [-29.0, 72.0, -1.0]])
REST_SPLAY = np.radians([5.0, 0.0, -5.0, -11.0])  # towards +x (thumb side) is positive
KNUCKLE_LEN = 15.0
KNUCKLE_RADII = (9.4, 8.9)
THUMB_LEN = np.array([40.0, 24.0, 16.0])  # metacarpal, proximal, distal
THUMB_RADII = np.array([13.6, 8.0, 7.2, 6.4])  # CMC, MCP, IP, tip
THUMB_CMC = np.array([20.0, 10.0, -7.0])
# rest direction of the thumb's metacarpal (about 48 deg from the middle finger, fully
# spread; CMC flexion brings it alongside the index and across the palm), slightly out of
# the palm; and of its nail (facing the thumb side and the back of the hand): the pad
# faces the index finger and the palm's side, so MCP/IP flexion curls it inwards
THUMB_DIR = np.array([0.74, 0.67, -0.10]) / np.linalg.norm([0.74, 0.67, -0.10])
_tz = np.array([0.80, -0.20, 0.55])
_tz -= _tz @ THUMB_DIR * THUMB_DIR
_tz /= np.linalg.norm(_tz)
THUMB_FRAME = np.stack([np.cross(THUMB_DIR, _tz), THUMB_DIR, _tz], axis=1)  # columns x, y, z
# CMC abduction tilts the thumb out of the palm plane (towards the palm side, -z), about
# the in-plane axis perpendicular to its rest direction; CMC flexion swings it across
# the palm about the palm normal
_planar = np.array([THUMB_DIR[0], THUMB_DIR[1], 0.0]) / np.hypot(THUMB_DIR[0], THUMB_DIR[1])
THUMB_ABD_AXIS = np.array([_planar[1], -_planar[0], 0.0])
PALM_QUAD = np.array([[-18.0, 10.0], [18.0, 10.0], [26.0, 58.0], [-25.0, 53.0]])  # CCW
PALM_HALF_THICKNESS = 14.0
# the six palm joints of NYU: wrist sides 29 mm apart (PALM_2 on the thumb side, as in
# the real sample frame), palm centre, and three more palm points (ours: index-side and
# pinky-side palm, lower palm)
PALM_JOINTS = np.array([[-14.5, -3.0, 0.0], [14.5, -3.0, 0.0], [0.0, 54.0, 0.0],
                        [22.0, 60.0, 0.0], [-22.0, 56.0, 0.0], [0.0, 20.0, 0.0]])

PART_IDS = {"thumb": (2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12),
            "ring": (13, 14, 15, 16), "pinky": (17, 18, 19, 20)}
NYU_BASE = {"pinky": 0, "ring": 6, "middle": 12, "index": 18, "thumb": 24}
N_HAND_PRIMS = 5 + 4 * 4 + 3  # palm (plate + 4 rims), 4 x (knuckle + 3 phalanges), thumb
N_PRIMS = N_HAND_PRIMS + 2  # + forearm and upper arm
FOREARM = (250.0, 21.0, 30.0, 1.35)  # length, thickness radius at wrist / elbow, width ratio
UPPER_ARM_RADII = (40.0, 46.0)


def rot_x(a: np.ndarray) -> np.ndarray:
    """``(B,)`` radians -> ``(B, 3, 3)`` rotations about x (y turns towards +z)."""
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    r = np.zeros((*a.shape, 3, 3))
    r[..., 0, 0] = 1
    r[..., 1, 1], r[..., 1, 2], r[..., 2, 1], r[..., 2, 2] = c, -s, s, c
    return r


def rot_y(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    r = np.zeros((*a.shape, 3, 3))
    r[..., 1, 1] = 1
    r[..., 0, 0], r[..., 0, 2], r[..., 2, 0], r[..., 2, 2] = c, s, -s, c
    return r


def rot_z(a: np.ndarray) -> np.ndarray:
    """``(B,)`` radians -> ``(B, 3, 3)`` rotations about z (y turns towards -x)."""
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    r = np.zeros((*a.shape, 3, 3))
    r[..., 2, 2] = 1
    r[..., 0, 0], r[..., 0, 1], r[..., 1, 0], r[..., 1, 1] = c, -s, s, c
    return r


def rot_axis(axis: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``(B,)`` radians -> ``(B, 3, 3)`` rotations about the unit ``axis`` (Rodrigues)."""
    a = np.asarray(a, dtype=np.float64)[..., None, None]
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]],
                  [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(a) * k + (1.0 - np.cos(a)) * (k @ k)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


class _Prims:
    """Fills the ``(B, P, NPRM)`` primitive array of a batch, one primitive at a time."""

    def __init__(self, b: int, p: int):
        self.a = np.zeros((b, p, NPRM))
        self.a[:, :, 0] = KIND_OFF
        self.k = 0

    def cone(self, a, b, ra, rb, label):
        """Round cone from ``a`` to ``b`` (B, 3) camera mm with end radii ``ra``, ``rb`` (B,)."""
        row = self.a[:, self.k]
        row[:, 0], row[:, 1] = KIND_CONE, label
        row[:, 2:5] = a
        row[:, 5:14] = np.eye(3).ravel()
        row[:, 14:17] = b - a
        row[:, 17], row[:, 18] = ra, rb
        row[:, 19:22] = b
        row[:, 22], row[:, 23] = ra, rb
        self.k += 1

    def econe(self, a, b, ra, rb, width_axis, width_ratio, label):
        """Cone with an elliptic cross-section: ``width_axis`` (B, 3) is ``width_ratio``
        times wider than the thickness radii ``ra``, ``rb``."""
        row = self.a[:, self.k]
        ax = _unit(b - a)
        w = _unit(width_axis - np.sum(width_axis * ax, -1, keepdims=True) * ax)
        t = np.cross(ax, w)
        m = np.stack([ax, w / width_ratio, t], axis=1)  # rows: world -> scaled local
        row[:, 0], row[:, 1] = KIND_ECONE, label
        row[:, 2:5] = a
        row[:, 5:14] = m.reshape(-1, 9)
        row[:, 14:17] = np.einsum("bij,bj->bi", m, b - a)
        row[:, 17], row[:, 18] = ra, rb
        row[:, 19:22] = b
        row[:, 22], row[:, 23] = ra * width_ratio, rb * width_ratio
        self.k += 1

    def plate(self, centre, e1, e2, quad, r, label):
        """Slab: quad ``(B, 4, 2)`` (relative to ``centre`` in the e1, e2 plane), half
        thickness ``r``."""
        row = self.a[:, self.k]
        row[:, 0], row[:, 1] = KIND_PLATE, label
        row[:, 2:5], row[:, 5:8], row[:, 8:11] = centre, e1, e2
        row[:, 11:14] = np.cross(e1, e2)
        row[:, 14] = r
        row[:, 15:23] = quad.reshape(-1, 8)
        row[:, 23] = np.linalg.norm(quad, axis=-1).max(-1) + r
        self.k += 1


def pose_hands(articulation: np.ndarray, scale: np.ndarray, finger_scale: np.ndarray,
               thickness: np.ndarray, rotation: np.ndarray, translation: np.ndarray,
               forearm_dir: np.ndarray | None = None, shoulder: np.ndarray | None = None):
    """Pose ``B`` hands in camera space (vectorised over the batch).

    ``articulation`` (B, 20) radians: for index, middle, ring, pinky (in that order)
    ``[mcp_flex, mcp_abd, pip_flex, dip_flex]`` (flexion bends towards the palm, abduction
    towards the thumb side is positive), then the thumb's ``[cmc_abd, cmc_flex, mcp_flex,
    ip_flex]``. ``scale`` (B,) whole hand, ``finger_scale`` (B, 5) lengths of index, middle,
    ring, pinky, thumb, ``thickness`` (B,) radii. ``rotation`` (B, 3, 3) and
    ``translation`` (B, 3): camera = R @ hand + t (mm). ``forearm_dir`` (B, 3) unit vectors
    and ``shoulder`` (B, 3) points add the forearm and upper arm (part 0); without them
    those two rows are switched off.

    Returns ``joints (B, 36, 3)`` (NYU order, camera mm) and ``prims (B, N_PRIMS, NPRM)``.
    """
    art = np.atleast_2d(np.asarray(articulation, dtype=np.float64))
    B = art.shape[0]
    s = np.asarray(scale, dtype=np.float64).reshape(B, 1)
    th = np.asarray(thickness, dtype=np.float64).reshape(B) * s[:, 0]
    fsc = np.asarray(finger_scale, dtype=np.float64).reshape(B, 5)
    R = np.asarray(rotation, dtype=np.float64).reshape(B, 3, 3)
    t = np.asarray(translation, dtype=np.float64).reshape(B, 3)

    def cam(p):  # hand-frame points (B, 3) or (3,) -> camera space
        return np.einsum("bij,bj->bi", R, np.broadcast_to(p, (B, 3))) + t

    def camdir(v):
        return np.einsum("bij,bj->bi", R, np.broadcast_to(v, (B, 3)))

    joints = np.zeros((B, 36, 3))
    pr = _Prims(B, N_PRIMS)
    # palm: plate + rim capsules; centred on the quad's centroid
    rp = PALM_HALF_THICKNESS * th
    quad = PALM_QUAD[None] * s[:, :, None]
    cen = quad.mean(axis=1)
    cen3 = np.concatenate([cen, np.zeros((B, 1))], axis=1)
    pr.plate(cam(cen3), camdir(np.array([1.0, 0, 0])), camdir(np.array([0, 1.0, 0])),
             quad - cen[:, None], rp, 1)
    corners = [cam(np.concatenate([quad[:, k], np.zeros((B, 1))], axis=1)) for k in range(4)]
    for k in range(4):
        pr.cone(corners[k], corners[(k + 1) % 4], rp, rp, 1)
    # long fingers
    for i, f in enumerate(LONG_FINGERS):
        mcp = MCP[i] * s
        meta = _unit(MCP[i] - np.array([0.45 * MCP[i, 0], 5.0, 0.0]))
        kr = np.array(KNUCKLE_RADII) * FINGER_THICK[i]
        pr.cone(cam(mcp - meta * KNUCKLE_LEN * s), cam(mcp), kr[0] * th, kr[1] * th,
                PART_IDS[f][0])
        flex, abd, pip, dip = (art[:, 4 * i + j] for j in range(4))
        Rf = rot_z(np.full(B, -REST_SPLAY[i])) @ rot_z(-abd)
        lens = PHALANX[i][None] * s * fsc[:, i:i + 1]
        radii = FINGER_RADII[None] * FINGER_THICK[i] * th[:, None]
        pts = [mcp]
        for seg, ang in enumerate((flex, pip, dip)):
            Rf = Rf @ rot_x(-ang)
            pts.append(pts[-1] + Rf[:, :, 1] * lens[:, seg:seg + 1])
        pts = [cam(p) for p in pts]
        for seg in range(3):
            pr.cone(pts[seg], pts[seg + 1], radii[:, seg], radii[:, seg + 1],
                    PART_IDS[f][seg + 1])
        b = NYU_BASE[f]
        mcp_p, pip_p, dip_p, tip_p = pts
        joints[:, b:b + 6] = np.stack([tip_p, dip_p, 0.5 * (pip_p + dip_p), pip_p,
                                       0.5 * (mcp_p + pip_p), mcp_p], axis=1)
    # thumb: CMC (two angles), MCP, IP
    cmc_abd, cmc_flex, mcp_flex, ip_flex = (art[:, 16 + j] for j in range(4))
    Rt = rot_z(cmc_flex) @ rot_axis(THUMB_ABD_AXIS, -cmc_abd) @ THUMB_FRAME[None]
    lens = THUMB_LEN[None] * s * fsc[:, 4:5]
    pts = [THUMB_CMC * s]
    for seg, ang in enumerate((np.zeros(B), mcp_flex, ip_flex)):
        Rt = Rt @ rot_x(-ang)
        pts.append(pts[-1] + Rt[:, :, 1] * lens[:, seg:seg + 1])
    pts = [cam(p) for p in pts]
    for seg in range(3):
        pr.cone(pts[seg], pts[seg + 1], THUMB_RADII[seg] * th, THUMB_RADII[seg + 1] * th,
                PART_IDS["thumb"][seg])
    cmc_p, tmcp_p, ip_p, ttip_p = pts
    joints[:, 24:30] = np.stack([ttip_p, ip_p, 0.5 * (tmcp_p + ip_p), tmcp_p,
                                 0.5 * (cmc_p + tmcp_p), cmc_p], axis=1)
    for j in range(6):
        joints[:, 30 + j] = cam(PALM_JOINTS[j] * s)
    # the arm: an elliptic forearm cone from the wrist, a capsule on to the shoulder
    if forearm_dir is not None:
        fd = _unit(np.asarray(forearm_dir, dtype=np.float64).reshape(B, 3))
        length, ra, rb, ratio = FOREARM
        wrist = cam(np.array([0.0, 4.0, 1.0]) * s)
        elbow = wrist + fd * length * s
        pr.econe(wrist, elbow, ra * th, rb * th, camdir(np.array([1.0, 0, 0])), ratio, 0)
        if shoulder is not None:
            pr.cone(elbow, np.asarray(shoulder, dtype=np.float64).reshape(B, 3),
                    np.full(B, UPPER_ARM_RADII[0]), np.full(B, UPPER_ARM_RADII[1]), 0)
    return joints, pr.a
