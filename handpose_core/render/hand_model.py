"""An articulated hand built from round cones (capsules with two radii), one group per part.

Hand frame (mm): origin at the wrist centre, +y along the middle finger, +x towards the
index/thumb side, +z out of the back of the hand (the palm faces -z). With the palm facing
the camera and the fingers up, the thumb appears on the image's right, as in NYU's frames.

:func:`pose_hand` turns shape and articulation parameters into the 36 NYU joints and a
fixed-size array of primitives ``(P, 8)`` = (ax, ay, az, bx, by, bz, ra, rb) with their part
ids, which the ray caster renders. Sizes follow the sphere-mesh hand of Tkach et al.
(spec/hand-model.md); every finger's MCP, PIP, DIP flexion, MCP abduction and the thumb's
CMC/MCP/IP angles are parameters, with DIP = 2/3 PIP coupled by the pose sampler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# finger order used in this module (and in articulation arrays): index, middle, ring, pinky
LONG_FINGERS = ("index", "middle", "ring", "pinky")
NYU_PREFIX = {"pinky": "F1", "ring": "F2", "middle": "F3", "index": "F4", "thumb": "TH"}
# NYU joint index of F_KNU3_A for each finger (6 joints per finger)
NYU_BASE = {"pinky": 0, "ring": 6, "middle": 12, "index": 18, "thumb": 24}

# reference proportions (mm)
PHALANX = {"index": (38.0, 22.8, 15.2), "middle": (40.0, 24.0, 16.0),
           "ring": (38.0, 22.8, 15.2), "pinky": (30.0, 18.0, 12.0)}
THUMB = (40.0, 24.0, 16.0)  # metacarpal, proximal, distal
FINGER_RADII = (8.0, 7.2, 6.4, 5.8)  # MCP, PIP, DIP, tip
THUMB_RADII = (13.6, 8.0, 7.2, 6.4)  # CMC, MCP, IP, tip
MCP_POS = {"index": (30.0, 78.0), "middle": (10.0, 80.0), "ring": (-10.0, 77.0),
           "pinky": (-30.0, 70.0)}
THUMB_BASE = (22.0, 14.0, -10.0)
KNUCKLE_LEN = 15.0
PART_IDS = {"thumb": (2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12),
            "ring": (13, 14, 15, 16), "pinky": (17, 18, 19, 20)}
N_PRIMS = 27
"""Primitives per hand: 6 palm, 4 x 4 long-finger, 3 thumb, 2 forearm (part 0)."""


@dataclass(frozen=True)
class HandShape:
    """Whole-hand ``scale`` and per-finger length factors ``(index, middle, ring, pinky,
    thumb)``; ``thickness`` scales every radius."""

    scale: float = 1.0
    finger_scale: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)
    thickness: float = 1.0


def _rot_x(a: np.ndarray) -> np.ndarray:
    """(B,) angles -> (B, 3, 3) rotations about x."""
    c, s = np.cos(a), np.sin(a)
    r = np.zeros((len(a), 3, 3))
    r[:, 0, 0] = 1
    r[:, 1, 1], r[:, 1, 2], r[:, 2, 1], r[:, 2, 2] = c, -s, s, c
    return r


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    r = np.zeros((len(a), 3, 3))
    r[:, 2, 2] = 1
    r[:, 0, 0], r[:, 0, 1], r[:, 1, 0], r[:, 1, 1] = c, -s, s, c
    return r


def pose_hands(articulation: np.ndarray, scale: np.ndarray, finger_scale: np.ndarray,
               thickness: np.ndarray):
    """Pose B hands at once in the hand frame (vectorised over the batch).

    ``articulation`` (B, 20) radians: for index, middle, ring, pinky (in that order)
    ``[mcp_flex, mcp_abd, pip_flex, dip_flex]`` (16 values), then the thumb's
    ``[cmc_abd, cmc_flex, mcp_flex, ip_flex]``; flexion bends towards the palm (-z).
    ``scale`` (B,), ``finger_scale`` (B, 5) (index, middle, ring, pinky, thumb),
    ``thickness`` (B,). Returns ``joints (B, 36, 3)``, ``prims (B, N_PRIMS, 8)`` (mm) and
    ``parts (N_PRIMS,)`` uint8 (the same for every hand).
    """
    art = np.atleast_2d(np.asarray(articulation, dtype=np.float64))
    B = art.shape[0]
    s = np.asarray(scale, dtype=np.float64).reshape(B, 1)
    th = np.asarray(thickness, dtype=np.float64).reshape(B) * s[:, 0]
    fsc = np.asarray(finger_scale, dtype=np.float64).reshape(B, 5)
    joints = np.zeros((B, 36, 3))
    prims = np.zeros((B, N_PRIMS, 8))
    parts = np.zeros(N_PRIMS, np.uint8)
    k = 0

    def add(a, b, ra, rb, part):
        nonlocal k
        prims[:, k, :3], prims[:, k, 3:6], prims[:, k, 6], prims[:, k, 7] = a, b, ra, rb
        parts[k] = part
        k += 1

    mcps = {}
    for i, f in enumerate(LONG_FINGERS):
        ox, oy = MCP_POS[f]
        mcp = np.array([ox, oy, 0.0]) * s
        mcps[f] = mcp
        flex, abd, pip, dip = (art[:, 4 * i + j] for j in range(4))
        # the knuckle part: the distal end of the metacarpal, leading into the MCP
        meta_dir = np.array([ox * 0.65, oy, 0.0])
        meta_dir /= np.linalg.norm(meta_dir)
        r_mcp = FINGER_RADII[0] * th * (1.05 if f != "pinky" else 0.95)
        add(mcp - meta_dir * KNUCKLE_LEN * s, mcp, r_mcp * 1.05, r_mcp, PART_IDS[f][0])
        # the chain: abduction about the palm normal, then flexion about the local x axis
        R = _rot_z(abd)
        lens = np.array(PHALANX[f])[None, :] * s * fsc[:, i:i + 1]
        radii = np.array(FINGER_RADII)[None, :] * th[:, None] * (0.9 if f == "pinky" else 1.0)
        pts = [mcp]
        for seg, ang in enumerate((flex, pip, dip)):
            R = R @ _rot_x(-ang)
            pts.append(pts[-1] + R[:, :, 1] * lens[:, seg:seg + 1])
            add(pts[-2], pts[-1], radii[:, seg], radii[:, seg + 1], PART_IDS[f][seg + 1])
        b = NYU_BASE[f]
        mcp_p, pip_p, dip_p, tip_p = pts
        joints[:, b + 0] = tip_p                       # KNU3_A tip
        joints[:, b + 1] = dip_p                       # KNU3_B DIP
        joints[:, b + 2] = 0.5 * (pip_p + dip_p)       # KNU2_A
        joints[:, b + 3] = pip_p                       # KNU2_B PIP
        joints[:, b + 4] = 0.5 * (mcp_p + pip_p)       # KNU1_A
        joints[:, b + 5] = mcp_p                       # KNU1_B MCP
    # thumb: rest direction up and out (~52 deg), tilted towards the palm, then its angles
    cmc_abd, cmc_flex, mcp_flex, ip_flex = (art[:, 16 + j] for j in range(4))
    base = np.array(THUMB_BASE) * s
    R = _rot_z(np.full(B, -0.9)) @ _rot_x(np.full(B, -0.15))
    R = R @ _rot_z(-cmc_abd) @ _rot_x(-cmc_flex)
    lens = np.array(THUMB)[None, :] * s * fsc[:, 4:5]
    radii = np.array(THUMB_RADII)[None, :] * th[:, None]
    pts = [base]
    for seg, ang in enumerate((np.zeros(B), mcp_flex, ip_flex)):
        R = R @ _rot_x(-ang)
        pts.append(pts[-1] + R[:, :, 1] * lens[:, seg:seg + 1])
        add(pts[-2], pts[-1], radii[:, seg], radii[:, seg + 1], PART_IDS["thumb"][seg])
    cmc_p, tmcp_p, ip_p, ttip_p = pts
    b = NYU_BASE["thumb"]
    joints[:, b + 0] = ttip_p
    joints[:, b + 1] = ip_p
    joints[:, b + 2] = 0.5 * (tmcp_p + ip_p)
    joints[:, b + 3] = tmcp_p
    joints[:, b + 4] = 0.5 * (cmc_p + tmcp_p)
    joints[:, b + 5] = cmc_p
    # palm: a slab of capsules from the wrist to each knuckle, plus the wrist and thenar
    pr = 15.0 * th
    wrist_l, wrist_r = np.array([-16.0, 6.0, 0.0]) * s, np.array([16.0, 6.0, 0.0]) * s
    mid = 0.5 * (wrist_l + wrist_r)
    for f, w in zip(LONG_FINGERS, (wrist_r, mid + [6, 0, 0] * s, mid - [6, 0, 0] * s, wrist_l)):
        add(w, mcps[f] - np.array([0, KNUCKLE_LEN * 0.8, 0]) * s, pr, pr * 0.8, 1)
    add(wrist_l, wrist_r, pr * 1.05, pr * 1.05, 1)
    add(base * [1.0, 1.0, 0.3] + np.array([0, 8.0, 0]) * s, 0.5 * (base + tmcp_p) * [1, 1, 0.6],
        pr * 1.05, pr * 0.8, 1)  # thenar eminence
    # forearm (not hand: part 0), leaving the wrist away from the fingers
    add(np.array([0.0, 2.0, 0.0]) * s, np.array([0.0, -120.0, 4.0]) * s, 22.0 * th, 24.0 * th, 0)
    add(np.array([0.0, -120.0, 4.0]) * s, np.array([0.0, -260.0, 10.0]) * s, 24.0 * th,
        28.0 * th, 0)
    assert k == N_PRIMS
    # palm joints: wrist sides 29 mm apart, palm centre, three more palm points
    for j, p in zip(range(30, 36), ([14.5, 0, 0], [-14.5, 0, 0], [0, 42, 0], [-22, 55, 0],
                                    [22, 55, 0], [0, 20, 0])):
        joints[:, j] = np.array(p, dtype=np.float64) * s
    return joints, prims, parts


def pose_hand(articulation: np.ndarray, shape: HandShape = HandShape()):
    """One hand: ``(joints (36, 3), prims (N_PRIMS, 8), parts (N_PRIMS,))``."""
    j, p, parts = pose_hands(np.asarray(articulation)[None], np.array([shape.scale]),
                             np.array([shape.finger_scale]), np.array([shape.thickness]))
    return j[0], p[0], parts


def transform(joints: np.ndarray, prims: np.ndarray, R: np.ndarray, t: np.ndarray):
    """Move posed hands into camera space: ``x_cam = R @ x_hand + t`` (mm).

    Batched: joints (B, 36, 3), prims (B, P, 8), R (B, 3, 3), t (B, 3); or unbatched.
    """
    Rt = np.swapaxes(R, -1, -2)
    tt = np.asarray(t)[..., None, :]
    j = joints @ Rt + tt
    p = prims.copy()
    p[..., :3] = prims[..., :3] @ Rt + tt
    p[..., 3:6] = prims[..., 3:6] @ Rt + tt
    return j, p
