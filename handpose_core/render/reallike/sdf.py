"""Signed distances of the real-like hand and its clutter, and part labels from bones.

Compiled (numba) functions over the arrays of :mod:`.body` (one hand: ``bn`` bones,
``el`` soft bodies, ``sp`` joint tissue, ``st`` forearm stub, ``pr`` parameters) and of
:mod:`.scene` (``ob`` objects). The hand is a smooth union (polynomial smooth-min) of:

- the palm: the four metacarpals, the carpus, the palm's pad and the hypothenar and
  thenar eminences (radius ``K_PALM``), joined to the forearm stub at the wrist
  (``K_WRIST``);
- each finger: its three tapered phalanges, the palmar tissue at its joints and its
  finger pad (``K_JOINT``), joined to the palm (``K_FINGER``); adjacent proximal
  phalanges are also joined with each other by a smoothing radius that is ``K_WEB`` from
  the MCPs to 0.65 ``WEB_FRAC`` of their length and fades to 0 at ``WEB_FRAC`` (the
  webbing);
- the thumb likewise, joined to the palm with ``K_THUMB`` (the first web space).

Distances are lower bounds (tapered segments, scaled ellipses, bounding spheres per
group), so sphere tracing never steps through the surface.

Labels (:func:`label_at`) come from the skeleton, as a person paints them: the nearest
bone (distance to its segment minus its radius there), then the joint creases (planes
through a joint bisecting its two bones) between that bone and its neighbours, the
knuckle part (the last ``KNUCKLE`` mm of the metacarpal before the MCP crease), the
webbing (knuckle), the wrist crease (beyond it: forearm, 0; before it everything is
hand, the heel of the palm included). Which surface a ray hit plays no part.
"""

from __future__ import annotations

import numba
import numpy as np

from ..sensor import FAST
from .body import (
    NB,
    P_BOUND,
    P_GROUPS,
    P_K_FINGER,
    P_K_JOINT,
    P_K_PALM,
    P_K_THUMB,
    P_K_WEB,
    P_K_WRIST,
    P_KNUCKLE,
    P_WEB_FRAC,
    P_WEB_MARGIN,
    P_WRIST,
    P_WRIST_N,
    THUMB0,
)

OBJ_OFF, OBJ_SPHERE, OBJ_CYLINDER, OBJ_BOX = 0.0, 1.0, 2.0, 3.0
NOBJ = 2
NOBJ_COLS = 16  # kind, centre (3), axes rows (9), sizes (3)


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def smin(a, b, k):
    """Polynomial smooth minimum (Quilez): ``min(a, b)`` less up to ``k / 4`` where
    ``|a - b| < k``."""
    if k <= 0.0:
        return min(a, b)
    h = max(k - abs(a - b), 0.0) / k
    return min(a, b) - h * h * k * 0.25


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def bone_dist(bn, i, x, y, z):
    """(signed distance, fraction along the bone of the nearest axis point) of a
    tapered segment with an elliptic cross-section."""
    px, py, pz = x - bn[i, 0], y - bn[i, 1], z - bn[i, 2]
    L = bn[i, 6]
    h = px * bn[i, 3] + py * bn[i, 4] + pz * bn[i, 5]
    hc = min(max(h, 0.0), L)
    pw = (px * bn[i, 7] + py * bn[i, 8] + pz * bn[i, 9]) / bn[i, 15]
    pp = px * bn[i, 10] + py * bn[i, 11] + pz * bn[i, 12]
    f = hc / L if L > 0.0 else 0.0
    dh = h - hc
    return np.sqrt(dh * dh + pw * pw + pp * pp) - (bn[i, 13] + (bn[i, 14] - bn[i, 13]) * f), f


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def ell_dist(el, i, x, y, z):
    """Lower-bound distance to an ellipsoid (Quilez's k0 (k0 - 1) / k1)."""
    px, py, pz = x - el[i, 0], y - el[i, 1], z - el[i, 2]
    qx = (px * el[i, 3] + py * el[i, 4] + pz * el[i, 5]) / el[i, 12]
    qy = (px * el[i, 6] + py * el[i, 7] + pz * el[i, 8]) / el[i, 13]
    qz = (px * el[i, 9] + py * el[i, 10] + pz * el[i, 11]) / el[i, 14]
    k0 = np.sqrt(qx * qx + qy * qy + qz * qz)
    k1 = np.sqrt((qx / el[i, 12]) ** 2 + (qy / el[i, 13]) ** 2 + (qz / el[i, 14]) ** 2)
    if k1 < 1e-9:
        return -min(el[i, 12], min(el[i, 13], el[i, 14]))
    return k0 * (k0 - 1.0) / k1


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def sph_dist(sp, i, x, y, z):
    dx, dy, dz = x - sp[i, 0], y - sp[i, 1], z - sp[i, 2]
    return np.sqrt(dx * dx + dy * dy + dz * dz) - sp[i, 3]


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def stub_dist(st, x, y, z):
    """Distance (lower bound) to the forearm stub: a tapered segment in the elliptic
    cone's scaled local frame."""
    if st[15] < 0.5:
        return np.inf
    px, py, pz = x - st[0], y - st[1], z - st[2]
    h = st[3] * px + st[4] * py + st[5] * pz
    qw = st[6] * px + st[7] * py + st[8] * pz
    qt = st[9] * px + st[10] * py + st[11] * pz
    L = st[12]
    hc = min(max(h, 0.0), L)
    dh = h - hc
    return np.sqrt(dh * dh + qw * qw + qt * qt) - (st[13] + (st[14] - st[13]) * hc / L)


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def _group_out(pr, g, x, y, z, margin):
    """Distance from the bounding sphere of group ``g`` plus ``margin`` when the point
    is outside it (a lower bound of the group's distance), else -1."""
    o = P_GROUPS + 4 * g
    dx, dy, dz = x - pr[o], y - pr[o + 1], z - pr[o + 2]
    d = np.sqrt(dx * dx + dy * dy + dz * dz) - pr[o + 3]
    return d + margin if d > 0.0 else -1.0


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def hand_sdf(bn, el, sp, st, pr, x, y, z):
    """Signed distance (mm, a lower bound) of the hand at camera point (x, y, z)."""
    kp, kj, kf = pr[P_K_PALM], pr[P_K_JOINT], pr[P_K_FINGER]
    margin = max(kp, max(pr[P_K_WRIST], max(pr[P_K_THUMB], pr[P_K_WEB])))
    d = _group_out(pr, 0, x, y, z, margin)
    if d < 0.0:
        d = bone_dist(bn, 0, x, y, z)[0]
        for f in range(1, 4):
            d = smin(d, bone_dist(bn, 4 * f, x, y, z)[0], kp)
        for e in range(4):
            d = smin(d, ell_dist(el, e, x, y, z), kp)
        d = smin(d, stub_dist(st, x, y, z), pr[P_K_WRIST])
    dfin = np.inf
    wf, kw = pr[P_WEB_FRAC], pr[P_K_WEB]
    pd, ph, pin = np.inf, 1.0, False  # the previous finger's proximal phalanx
    for f in range(4):
        g = _group_out(pr, 1 + f, x, y, z, margin)
        if g >= 0.0:
            dfin = min(dfin, g)
            pin = False
            continue
        d1, h1 = bone_dist(bn, 4 * f + 1, x, y, z)
        df = smin(d1, bone_dist(bn, 4 * f + 2, x, y, z)[0], kj)
        df = smin(df, bone_dist(bn, 4 * f + 3, x, y, z)[0], kj)
        for j in range(3):
            df = smin(df, sph_dist(sp, 3 * f + j, x, y, z), kj)
        df = smin(df, ell_dist(el, 4 + f, x, y, z), kj)
        dfin = min(dfin, df)
        if pin:  # webbing between adjacent proximal phalanges, near the MCPs: full up
            # to 0.65 of the web height, fading out at the web height
            w = min(1.0, (wf - 0.5 * (ph + h1)) / (0.35 * wf))
            if w > 0.0:
                w = w * w * (3.0 - 2.0 * w)
                dfin = min(dfin, smin(pd, d1, kw * w))
        pd, ph, pin = d1, h1, True
    d = smin(d, dfin, kf)
    g = _group_out(pr, 5, x, y, z, margin)
    if g >= 0.0:
        dt = g
    else:
        dt = smin(bone_dist(bn, THUMB0, x, y, z)[0], bone_dist(bn, THUMB0 + 1, x, y, z)[0], kj)
        dt = smin(dt, bone_dist(bn, THUMB0 + 2, x, y, z)[0], kj)
        dt = smin(dt, sph_dist(sp, 12, x, y, z), kj)
        dt = smin(dt, sph_dist(sp, 13, x, y, z), kj)
        dt = smin(dt, ell_dist(el, 8, x, y, z), kj)
    return smin(d, dt, pr[P_K_THUMB])


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def obj_sdf(ob, x, y, z):
    """Distance to the nearest clutter object (rows of ``ob``; inf if none)."""
    best = np.inf
    for i in range(ob.shape[0]):
        k = ob[i, 0]
        if k == OBJ_OFF:
            continue
        px, py, pz = x - ob[i, 1], y - ob[i, 2], z - ob[i, 3]
        if k == OBJ_SPHERE:
            d = np.sqrt(px * px + py * py + pz * pz) - ob[i, 13]
        else:
            qx = abs(px * ob[i, 4] + py * ob[i, 5] + pz * ob[i, 6])
            qy = abs(px * ob[i, 7] + py * ob[i, 8] + pz * ob[i, 9])
            qz = abs(px * ob[i, 10] + py * ob[i, 11] + pz * ob[i, 12])
            if k == OBJ_CYLINDER:  # axis = local y; radius, half height; 3 mm rounded rim
                r = 3.0
                a = np.sqrt(qx * qx + qz * qz) - ob[i, 13] + r
                b = qy - ob[i, 14] + r
                d = min(max(a, b), 0.0) + np.sqrt(max(a, 0.0) ** 2 + max(b, 0.0) ** 2) - r
            else:  # box with half extents, 4 mm rounded edges
                r = 4.0
                a, b, c = qx - ob[i, 13] + r, qy - ob[i, 14] + r, qz - ob[i, 15] + r
                d = (np.sqrt(max(a, 0.0) ** 2 + max(b, 0.0) ** 2 + max(c, 0.0) ** 2)
                     + min(max(a, max(b, c)), 0.0) - r)
        best = min(best, d)
    return best


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def _crease_side(bn, i, x, y, z):
    """Signed side of point (x, y, z) relative to the crease at the start of bone ``i``
    (the plane through its start joint bisecting bone i-1 and bone i): >= 0 on bone i's
    side."""
    nx, ny, nz = bn[i - 1, 3] + bn[i, 3], bn[i - 1, 4] + bn[i, 4], bn[i - 1, 5] + bn[i, 5]
    return (x - bn[i, 0]) * nx + (y - bn[i, 1]) * ny + (z - bn[i, 2]) * nz


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def label_at(bn, pr, x, y, z):
    """Part id (handpose_core.parts) of the hand's surface point (x, y, z)."""
    wx, wy, wz = x - pr[P_WRIST], y - pr[P_WRIST + 1], z - pr[P_WRIST + 2]
    if wx * pr[P_WRIST_N] + wy * pr[P_WRIST_N + 1] + wz * pr[P_WRIST_N + 2] < 0.0:
        return 0  # beyond the wrist crease: forearm
    best, bi, bh = np.inf, 0, 0.0
    for i in range(NB):
        d, h = bone_dist(bn, i, x, y, z)
        if d < best:
            best, bi, bh = d, i, h
    if bi >= THUMB0:
        k = bi - THUMB0
        if k > 0 and _crease_side(bn, bi, x, y, z) < 0.0:
            k -= 1
        elif k < 2 and _crease_side(bn, bi + 1, x, y, z) >= 0.0:
            k += 1
        if k == 0 and ((x - bn[THUMB0, 0]) * bn[THUMB0, 3] + (y - bn[THUMB0, 1]) * bn[THUMB0, 4]
                       + (z - bn[THUMB0, 2]) * bn[THUMB0, 5]) < 0.0:
            return 1  # proximal of the CMC joint: the heel of the palm
        return 2 + k
    f, k = bi // 4, bi % 4
    i0 = 4 * f
    if k > 0 and _crease_side(bn, i0 + k, x, y, z) < 0.0:
        k -= 1
    elif k < 3 and _crease_side(bn, i0 + k + 1, x, y, z) >= 0.0:
        k += 1
    if k == 0:  # metacarpal: the knuckle is its last KNUCKLE mm before the MCP crease
        m = i0 + 1
        nx, ny, nz = bn[i0, 3] + bn[m, 3], bn[i0, 4] + bn[m, 4], bn[i0, 5] + bn[m, 5]
        nn = np.sqrt(nx * nx + ny * ny + nz * nz)
        s = ((x - bn[m, 0]) * nx + (y - bn[m, 1]) * ny + (z - bn[m, 2]) * nz) / nn
        return 5 + 4 * f if s > -pr[P_KNUCKLE] else 1
    if k == 1 and bi == i0 + 1 and best > pr[P_WEB_MARGIN] and bh < pr[P_WEB_FRAC]:
        return 5 + 4 * f  # the webbing beside the proximal phalanx: painted as knuckle
    return 5 + 4 * f + k


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def bound_of(pr):
    """(centre x, y, z, radius) of the hand's bounding sphere."""
    return pr[P_BOUND], pr[P_BOUND + 1], pr[P_BOUND + 2], pr[P_BOUND + 3]

