"""Another person's hand as a smooth signed-distance surface, built on the posed skeleton.

The joint positions come from the training side's kinematics
(:func:`..hand_model.pose_hands`, so the 36 NYU joints mean the same thing on both
sides); everything about the surface is new. Per hand this module fills flat float64
arrays that the compiled kernels (:mod:`.sdf`, :mod:`.trace`) read:

- ``bones`` (NB, 16): one tapered segment per bone with an elliptic cross-section --
  the four metacarpals of the long fingers (inside the palm), 3 x 4 phalanges, the
  thumb's metacarpal and two phalanges (rows below). Columns: start ``a`` (3), unit
  axis ``u`` (3), length, width direction (3, the flexion axis), palmar direction (3),
  thickness radius at ``a`` and at the end, width / thickness ratio.
- ``ells`` (NE, 15): soft-tissue bodies -- the carpus, the palm's pad, the hypothenar
  and thenar eminences, five finger pads. Columns: centre (3), local axes as rows (9),
  semi-axes (3).
- ``sph`` (NS, 4): the palmar soft tissue at the joints (MCP, PIP, DIP; thumb MCP, IP),
  a sphere whose radius grows with the joint's flexion. Columns: centre, radius.
- ``stub`` (16): the first 70 mm of the forearm (the same elliptic cone as the arm the
  analytic ray caster draws), so the wrist is a smooth junction. Columns: start (3),
  world -> scaled local rows (9), length, radii at the start and end, 1 = present.
- ``prm`` (NP,): the wrist plane (point, normal), the scale, the knuckle length, the
  person's smoothing radii and web height, and bounding spheres per group (palm,
  four fingers, thumb) and of the whole hand.

Sizes: the spec's reference hand (hand_model) scaled by ``People``; the person's soft
tissue (pads, web height, smoothing radii, finger ellipticity) varies per hand over the
ranges in docs/realism.md ("Geometry").
"""

from __future__ import annotations

import numpy as np

from ..hand_model import (
    FINGER_THICK,
    FOREARM,
    KNUCKLE_LEN,
    LONG_FINGERS,
    MCP,
    NYU_BASE,
    REST_SPLAY,
    THUMB_ABD_AXIS,
    THUMB_FRAME,
    pose_hands,
    rot_axis,
    rot_z,
)
from .people import People

NB, NE, NS, NP = 19, 9, 14, 48
FINGER_WIDTH = np.array([10.6, 9.9, 8.8, 7.8])
"""Half-breadths (mm) of a long finger at the MCP, PIP, DIP and tip of an average adult
(index; the pinky is scaled by hand_model.FINGER_THICK): ANSUR-1988-like breadths of
about 21 mm at the PIP and 18 mm at the DIP (docs/realism.md, "Geometry"); the
thickness radii are these over the person's width / thickness ratio."""
THUMB_WIDTH = np.array([13.6, 10.4, 9.8, 8.4])  # CMC (thenar side), MCP, IP, tip
META_RADII = (10.0, 10.8)  # metacarpal at its base, at the MCP (x FINGER_THICK)
# bones: finger f (index, middle, ring, pinky) has rows 4f (metacarpal) .. 4f+3 (distal);
# the thumb 16 (metacarpal), 17, 18
THUMB0 = 16
# ells: 0 carpus, 1 palm pad, 2 hypothenar, 3 thenar, 4 + f finger pads (f: 0-3 long, 4 thumb)
# sph: 3 f + j (j: MCP, PIP, DIP) for long fingers, 12 thumb MCP, 13 thumb IP
# prm
(P_WRIST, P_WRIST_N, P_SCALE, P_KNUCKLE, P_K_PALM, P_K_JOINT, P_K_FINGER, P_K_WEB, P_WEB_FRAC,
 P_K_THUMB, P_K_WRIST, P_WEB_MARGIN, P_BOUND, P_GROUPS) = (0, 3, 6, 7, 8, 9, 10, 11, 12, 13,
                                                            14, 15, 16, 20)
# P_BOUND: centre (3), radius of the whole hand; P_GROUPS: 6 x (centre (3), radius):
# palm (with the carpus, pads and forearm stub), index, middle, ring, pinky, thumb
N_GROUPS = 6
NSTUB = 16
STUB_LEN = 70.0
PALM_Z = -1.0  # the palm pad's centre sits this far (x thickness) towards the palm side


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _bone(a, b, xw_hint, ra, rb, ratio):
    """Row (B, 16) of a tapered elliptic segment from a to b (camera, B x 3)."""
    u = _unit(b - a)
    xw = _unit(xw_hint - np.sum(xw_hint * u, -1, keepdims=True) * u)
    pal = np.cross(u, xw)
    B = a.shape[0]
    row = np.zeros((B, 16))
    row[:, 0:3], row[:, 3:6], row[:, 6] = a, u, np.linalg.norm(b - a, axis=-1)
    row[:, 7:10], row[:, 10:13] = xw, pal
    row[:, 13], row[:, 14], row[:, 15] = ra, rb, ratio
    return row


def _ell(c, axes, semi):
    """Row (B, 15): centre (B, 3), axes (B, 3, 3) rows, semi-axes (B, 3)."""
    B = c.shape[0]
    row = np.zeros((B, 15))
    row[:, 0:3], row[:, 3:12], row[:, 12:15] = c, axes.reshape(B, 9), semi
    return row


def sample_tissue(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-person soft-tissue factors ``(n, 6)``: finger ellipticity (width / thickness
    1.05-1.2), palm pad thickness x 0.8-1.25, web height (0.3-0.5 of the proximal
    phalanx, palmar), smoothing softness x 0.8-1.3, finger pad size x 0.85-1.15,
    joint bulge x 0.7-1.3."""
    return np.stack([rng.uniform(1.05, 1.2, n), rng.uniform(0.8, 1.25, n),
                     rng.uniform(0.3, 0.5, n), rng.uniform(0.8, 1.3, n),
                     rng.uniform(0.85, 1.15, n), rng.uniform(0.7, 1.3, n)], axis=1)


def build_hands(people: People, translation: np.ndarray, forearm_dir: np.ndarray,
                tissue: np.ndarray):
    """Surface arrays of ``n`` posed hands (see the module docstring) and their joints.

    ``translation`` (n, 3): camera = R @ hand + t; ``forearm_dir`` (n, 3) unit vectors
    from the wrist along the forearm; ``tissue`` (n, 6) from :func:`sample_tissue`.
    Returns ``(joints (n, 36, 3) camera mm, bones, ells, sph, stub, prm)``.
    """
    art = np.asarray(people.articulation, np.float64)
    n = art.shape[0]
    s = np.asarray(people.scale, np.float64).reshape(n)
    th = np.asarray(people.thickness, np.float64).reshape(n) * s
    R = np.asarray(people.rotation, np.float64).reshape(n, 3, 3)
    t = np.asarray(translation, np.float64).reshape(n, 3)
    tissue = np.asarray(tissue, np.float64).reshape(n, 6)
    ratio, padk, web_frac, soft, tipk, bulge = tissue.T
    eye = np.broadcast_to(np.eye(3), (n, 3, 3))
    # joints in the hand frame (the kinematics of the training side), then camera space
    jh, _ = pose_hands(art, s, people.finger_scale, people.thickness, eye, np.zeros((n, 3)))

    def cam(p):
        return np.einsum("bij,bj->bi", R, p) + t

    def camdir(v):
        return np.einsum("bij,bj->bi", R, np.broadcast_to(v, (n, 3)))

    def hand(p):  # (3,) reference point scaled per hand
        return np.asarray(p, np.float64)[None] * s[:, None]

    bones = np.zeros((n, NB, 16))
    ells = np.zeros((n, NE, 15))
    sph = np.zeros((n, NS, 4))
    prm = np.zeros((n, NP))
    zh = camdir(np.array([0.0, 0.0, 1.0]))
    xh = camdir(np.array([1.0, 0.0, 0.0]))
    yh = camdir(np.array([0.0, 1.0, 0.0]))
    groups = [[] for _ in range(N_GROUPS)]  # (points (n,3), radius (n,)) per group

    def bulge_sphere(k, joint, pal_a, pal_b, d_a, d_b, r):
        flex = np.arccos(np.clip(np.sum(d_a * d_b, -1), -1.0, 1.0))
        pb = _unit(pal_a + pal_b)
        sph[:, k, :3] = joint + pb * (0.3 * r)[:, None]
        sph[:, k, 3] = r * (0.7 + 0.3 * bulge * np.sin(np.minimum(flex, np.pi / 2)))

    for i, f in enumerate(LONG_FINGERS):
        b = NYU_BASE[f]
        tip, dip, pip, mcp = (cam(jh[:, b + k]) for k in (0, 1, 3, 5))
        # metacarpal: from the carpus (y = 16 mm) towards the knuckle, along the line
        # the training model's knuckle segment follows
        conv = np.array([0.45 * MCP[i, 0], 5.0, 0.0])
        base_ref = conv + (MCP[i] - conv) * (16.0 - 5.0) / (MCP[i, 1] - 5.0)
        base = cam(hand(base_ref))
        ft = FINGER_THICK[i]
        r = FINGER_WIDTH[None] * ft * th[:, None] / ratio[:, None]  # thickness radii
        splay = REST_SPLAY[i] + art[:, 4 * i + 1]
        # the finger's flexion axis (pose_hands: rot_z(-(splay + abd)) of the hand's x)
        xf = np.einsum("bij,bj->bi", R, np.stack([np.cos(splay), -np.sin(splay), np.zeros(n)], 1))
        bones[:, 4 * i] = _bone(base, mcp, xh, META_RADII[0] * ft * th, META_RADII[1] * ft * th,
                                np.ones(n))
        # the distal segment ends half a tip radius short of the NYU tip joint, so the
        # finger's end lies just beyond it (NYU marks the tip at the finger's end)
        dd = _unit(tip - dip)
        tip_c = tip - dd * (0.5 * r[:, 3])[:, None]
        pts = [mcp, pip, dip, tip_c]
        for k in range(3):
            bones[:, 4 * i + 1 + k] = _bone(pts[k], pts[k + 1], xf, r[:, k], r[:, k + 1], ratio)
        u = [bones[:, 4 * i + k, 3:6] for k in range(4)]
        pal = [bones[:, 4 * i + k, 10:13] for k in range(4)]
        for j, (jt, rr) in enumerate(((mcp, r[:, 0]), (pip, r[:, 1]), (dip, r[:, 2]))):
            bulge_sphere(3 * i + j, jt, pal[j], pal[j + 1], u[j], u[j + 1], rr)
        # finger pad: on the palmar side of the distal phalanx
        L = bones[:, 4 * i + 3, 6]
        c = dip + u[3] * (0.55 * L)[:, None] + pal[3] * (0.3 * r[:, 2])[:, None]
        axes = np.stack([bones[:, 4 * i + 3, 7:10], u[3], pal[3]], axis=1)
        semi = np.stack([0.95 * r[:, 2] * ratio, 0.5 * L, 0.75 * r[:, 2]], 1) * tipk[:, None]
        ells[:, 4 + i] = _ell(c, axes, semi)
        groups[1 + i] += [(mcp, r[:, 0] * ratio * 1.4), (pip, r[:, 1] * ratio * 1.4),
                          (dip, r[:, 2] * ratio * 1.4), (tip_c, r[:, 3] * ratio * 1.4)]
        groups[0] += [(base, META_RADII[1] * ft * th * 1.5), (mcp, META_RADII[1] * ft * th * 1.5)]
    # thumb: CMC -> MCP -> IP -> tip; its flexion axis from the training kinematics
    cmc_abd, cmc_flex = art[:, 16], art[:, 17]
    Rt = rot_z(cmc_flex) @ rot_axis(THUMB_ABD_AXIS, -cmc_abd) @ THUMB_FRAME[None]
    xt = np.einsum("bij,bj->bi", R, Rt[:, :, 0])
    ttip, tip_ip, tmcp, tcmc = (cam(jh[:, 24 + k]) for k in (0, 1, 3, 5))
    rt = THUMB_WIDTH[None] * th[:, None] / ratio[:, None]
    dd = _unit(ttip - tip_ip)
    ttip_c = ttip - dd * (0.5 * rt[:, 3])[:, None]
    pts = [tcmc, tmcp, tip_ip, ttip_c]
    for k in range(3):
        # the metacarpal's 13.6 mm base is the training model's thenar; here the thenar
        # is its own soft body, so the bone itself is slimmer
        ra = rt[:, 0] * 0.75 if k == 0 else rt[:, k]
        bones[:, THUMB0 + k] = _bone(pts[k], pts[k + 1], xt, ra, rt[:, k + 1],
                                     ratio if k else np.ones(n))
    u = [bones[:, THUMB0 + k, 3:6] for k in range(3)]
    pal = [bones[:, THUMB0 + k, 10:13] for k in range(3)]
    bulge_sphere(12, tmcp, pal[0], pal[1], u[0], u[1], rt[:, 1])
    bulge_sphere(13, tip_ip, pal[1], pal[2], u[1], u[2], rt[:, 2])
    L = bones[:, THUMB0 + 2, 6]
    c = tip_ip + u[2] * (0.55 * L)[:, None] + pal[2] * (0.3 * rt[:, 2])[:, None]
    axes = np.stack([bones[:, THUMB0 + 2, 7:10], u[2], pal[2]], axis=1)
    semi = np.stack([0.95 * rt[:, 2] * ratio, 0.5 * L, 0.75 * rt[:, 2]], 1) * tipk[:, None]
    ells[:, 8] = _ell(c, axes, semi)
    groups[5] += [(tcmc, rt[:, 0] * 1.6), (tmcp, rt[:, 1] * ratio * 1.5),
                  (tip_ip, rt[:, 2] * ratio * 1.5), (ttip_c, rt[:, 3] * ratio * 1.5)]
    # soft bodies of the palm, in the hand frame's axes (x to the thumb side, y to the
    # fingers, z out of the back of the hand)
    hax = np.stack([xh, yh, zh], axis=1)
    ells[:, 0] = _ell(cam(hand([0.0, 12.0, -1.0])), hax,
                      np.stack([26.0 * s, 16.0 * s, 13.0 * th], 1))  # carpus
    ells[:, 1] = _ell(cam(hand([1.0, 50.0, 0.0])) + zh * (-4.0 * th * padk)[:, None],
                      hax, np.stack([31.0 * s, 27.0 * s, 11.0 * th * padk], 1))  # palm pad
    ells[:, 2] = _ell(cam(hand([-22.0, 30.0, 0.0])) + zh * (-5.0 * th)[:, None], hax,
                      np.stack([12.0 * s, 26.0 * s, 11.0 * th * padk], 1))  # hypothenar
    # thenar: along the thumb's metacarpal, on its palm side, leaning into the palm
    tm = bones[:, THUMB0]
    ca = tcmc + tm[:, 3:6] * (0.4 * tm[:, 6])[:, None]
    c = ca + 0.5 * (cam(hand([0.0, 40.0, 0.0])) - ca) * 0.45 + zh * (-5.0 * th)[:, None]
    tax = np.stack([_unit(np.cross(zh, tm[:, 3:6])), tm[:, 3:6], zh], axis=1)
    tax[:, 2] = np.cross(tax[:, 0], tax[:, 1])
    ells[:, 3] = _ell(c, tax, np.stack([15.0 * s, 24.0 * s, 12.0 * th * padk], 1))
    for e in range(4):
        groups[0].append((ells[:, e, 0:3], ells[:, e, 12:15].max(-1) + 2.0))
    # forearm stub: the analytic forearm's elliptic cone (hand_model.FOREARM), 70 mm of it
    length, fra, frb, fratio = FOREARM
    fd = _unit(np.asarray(forearm_dir, np.float64).reshape(n, 3))
    wrist = cam(hand([0.0, 4.0, 1.0]))
    rb_stub = fra * th + (frb - fra) * th * STUB_LEN / (length * s)
    w = _unit(xh - np.sum(xh * fd, -1, keepdims=True) * fd)
    tt = np.cross(fd, w)
    m = np.stack([fd, w / fratio, tt], axis=1)
    stub = np.zeros((n, NSTUB))
    stub[:, 0:3], stub[:, 3:12] = wrist, m.reshape(n, 9)
    stub[:, 12], stub[:, 13], stub[:, 14], stub[:, 15] = STUB_LEN, fra * th, rb_stub, 1.0
    groups[0] += [(wrist, fra * th * fratio + 10.0),
                  (wrist + fd * STUB_LEN, rb_stub * fratio + 10.0)]
    # the wrist crease: the plane through the wrist that bisects the hand's axis and the
    # forearm's (points behind it are forearm, class 0)
    prm[:, P_WRIST:P_WRIST + 3] = cam(hand([0.0, -2.0, 0.0]))
    prm[:, P_WRIST_N:P_WRIST_N + 3] = _unit(yh - fd)
    prm[:, P_SCALE] = s
    prm[:, P_KNUCKLE] = KNUCKLE_LEN * s
    prm[:, P_K_PALM] = 9.0 * s * soft
    prm[:, P_K_JOINT] = 2.5 * s * soft
    prm[:, P_K_FINGER] = 5.0 * s * soft
    prm[:, P_K_WEB] = 12.0 * s * soft
    prm[:, P_WEB_FRAC] = web_frac
    prm[:, P_K_THUMB] = 10.0 * s * soft
    prm[:, P_K_WRIST] = 12.0 * s * soft
    prm[:, P_WEB_MARGIN] = 2.0 * s
    kmax = 12.0 * s * soft
    allp, allr = [], []
    for g in range(N_GROUPS):
        pts = np.stack([p for p, _ in groups[g]], axis=1)  # (n, k, 3)
        rad = np.stack([np.broadcast_to(r, (n,)) for _, r in groups[g]], axis=1)
        cen = pts.mean(axis=1)
        rg = (np.linalg.norm(pts - cen[:, None], axis=-1) + rad).max(axis=1) + kmax
        prm[:, P_GROUPS + 4 * g:P_GROUPS + 4 * g + 3] = cen
        prm[:, P_GROUPS + 4 * g + 3] = rg
        allp.append(cen)
        allr.append(rg)
    cen = np.mean(allp, axis=0)
    prm[:, P_BOUND:P_BOUND + 3] = cen
    prm[:, P_BOUND + 3] = np.max([np.linalg.norm(c - cen, axis=-1) + r
                                  for c, r in zip(allp, allr)], axis=0)
    joints = np.einsum("bij,bkj->bki", R, jh) + t[:, None]
    return joints, bones, ells, sph, stub, prm
