"""The analytic scene behind the hand: the person's torso, neck and head, a wall, a table.

Each scene has a parameter vector of ``NBG`` float64 (layout below, drawn by
``scene.sample_scenes``). Everything is a closed-form ray intersection: the torso and
neck are vertical elliptic cylinders (their depth along a ray depends on the image
column only, so :func:`fill_background` solves them once per column), the head an
ellipsoid, the wall a slanted plane, the table a horizontal plane with a front edge.
Only the rows and columns an object can cover are visited.
"""

from __future__ import annotations

import numba
import numpy as np

from .sensor import FAST

NBG = 20
(BG_BODY, BG_XB, BG_ZB, BG_RX, BG_RZ, BG_YS, BG_HEAD_DX, BG_HEAD_RX, BG_HEAD_RY, BG_HEAD_RZ,
 BG_WALL, BG_ZW, BG_WALL_TX, BG_WALL_TY, BG_TABLE, BG_YT, BG_ZT0, BG_ZT1, BG_TX0,
 BG_TX1) = range(NBG)
# BG_BODY 0/1; torso centre x, front depth, half width, depth radius, shoulder height y
# (mm, camera space); head x offset and semi-axes; wall 0/1, depth on the optical axis,
# slopes dz/dx and dz/dy; table 0/1, height y, front and back depth, left and right x


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def _root(a, b, c):
    """Smaller positive root of a t^2 - 2 b t + c = 0, inf if none."""
    disc = b * b - a * c
    if disc < 0.0 or a <= 0.0:
        return np.inf
    t = (b - np.sqrt(disc)) / a
    return t if t > 0.0 else np.inf


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def _cylinder(xc, zc, rx, rz, dx):
    """Vertical elliptic cylinder (centre xc, zc; radii rx, rz) hit by the rays of image
    column dx: (t, |n.d| / |n| without the 1/|d| factor)."""
    a = dx * dx / (rx * rx) + 1.0 / (rz * rz)
    b = dx * xc / (rx * rx) + zc / (rz * rz)
    c = xc * xc / (rx * rx) + zc * zc / (rz * rz) - 1.0
    t = _root(a, b, c)
    if t == np.inf:
        return t, 1.0
    nx, nz = (t * dx - xc) / (rx * rx), (t - zc) / (rz * rz)
    return t, abs(nx * dx + nz) / np.sqrt(nx * nx + nz * nz)


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def _head(bg, dx, dy, dd):
    hx = bg[BG_XB] + bg[BG_HEAD_DX]
    rx, ry, rz = bg[BG_HEAD_RX], bg[BG_HEAD_RY], bg[BG_HEAD_RZ]
    hy, hz = bg[BG_YS] + 55.0 + ry, bg[BG_ZB] + 0.5 * bg[BG_RZ] + rz - 25.0
    a = dx * dx / (rx * rx) + dy * dy / (ry * ry) + 1.0 / (rz * rz)
    b = dx * hx / (rx * rx) + dy * hy / (ry * ry) + hz / (rz * rz)
    c = hx * hx / (rx * rx) + hy * hy / (ry * ry) + hz * hz / (rz * rz) - 1.0
    t = _root(a, b, c)
    if t == np.inf:
        return t, 1.0
    nx, ny, nz = (t * dx - hx) / (rx * rx), (t * dy - hy) / (ry * ry), (t - hz) / (rz * rz)
    return t, abs(nx * dx + ny * dy + nz) / np.sqrt((nx * nx + ny * ny + nz * nz) * dd)


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def _neck_geom(bg):
    nr, nzr = 0.42 * bg[BG_HEAD_RX] + 18.0, 0.5 * bg[BG_HEAD_RZ]
    return bg[BG_XB] + bg[BG_HEAD_DX], bg[BG_ZB] + 0.6 * bg[BG_RZ] + nzr, nr, nzr


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def _combine(bg, dx, dy, tt, ct, qt, tn, cn, head_ok, best, bc):
    """Nearest of torso (tt, ct, q = relative x), neck, head, table and wall for one ray.
    The torso's top follows rounded shoulders, 120 mm lower at the sides than at the
    neck. (The 1/|d| of the cosines is applied once, to the winner.)"""
    ys = bg[BG_YS]
    which = 0
    if tt < best and tt * dy < ys - 120.0 * qt * qt * (0.4 + 0.6 * qt * qt):
        best, bc, which = tt, ct, 1
    if tn < best and ys - 60.0 < tn * dy < ys + 70.0:
        best, bc, which = tn, cn, 1
    if head_ok:
        t, c = _head(bg, dx, dy, dx * dx + dy * dy + 1.0)
        if t < best:
            best, bc, which = t, c, 2
    if bg[BG_TABLE] > 0.5 and dy < 0.0:
        t = bg[BG_YT] / dy
        if bg[BG_ZT0] < t < bg[BG_ZT1] and t < best and bg[BG_TX0] < t * dx < bg[BG_TX1]:
            best, bc, which = t, -dy, 1
    if bg[BG_WALL] > 0.5:
        tx, ty = bg[BG_WALL_TX], bg[BG_WALL_TY]
        den = 1.0 - tx * dx - ty * dy
        if den > 0.05:
            t = bg[BG_ZW] / den
            if t < best:
                best, bc, which = t, den / np.sqrt(tx * tx + ty * ty + 1.0), 1
    if which == 1:
        bc /= np.sqrt(dx * dx + dy * dy + 1.0)
    return best, bc


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def fill_background(bg, ucol, vrow, fx, fy, cx, cy, z, lab, cs):
    """Composite the background behind an image's depth buffer (labels 0 where it wins)."""
    h, w = z.shape
    body = bg[BG_BODY] > 0.5
    everywhere = bg[BG_WALL] > 0.5 or bg[BG_TABLE] > 0.5
    if not body and not everywhere:
        return
    # the head's bounding box at its nearest / farthest depth
    hx = bg[BG_XB] + bg[BG_HEAD_DX]
    hz = bg[BG_ZB] + 0.5 * bg[BG_RZ] - 25.0
    hy0, hy1 = bg[BG_YS] + 55.0, bg[BG_YS] + 55.0 + 2.0 * bg[BG_HEAD_RY]
    hu0 = cx + fx * (hx - bg[BG_HEAD_RX]) / (hz if hx - bg[BG_HEAD_RX] < 0 else hz + 200.0)
    hu1 = cx + fx * (hx + bg[BG_HEAD_RX]) / (hz if hx + bg[BG_HEAD_RX] > 0 else hz + 200.0)
    hv0 = cy - fy * hy1 / (hz if hy1 > 0 else hz + 200.0)
    hv1 = cy - fy * hy0 / (hz + 200.0 if hy0 > 0 else hz)
    # per column: torso and neck (their depth along a ray depends on the column only)
    tts = np.full(w, np.inf)
    cts = np.ones(w)
    qts = np.zeros(w)
    tns = np.full(w, np.inf)
    cns = np.ones(w)
    x0, x1 = w, -1
    nxc, nzc, nr, nzr = _neck_geom(bg)
    for x in range(w):
        dx = (ucol[x] - cx) / fx
        head_col = False
        if body:
            tts[x], cts[x] = _cylinder(bg[BG_XB], bg[BG_ZB] + bg[BG_RZ], bg[BG_RX], bg[BG_RZ], dx)
            if tts[x] < np.inf:
                qts[x] = (tts[x] * dx - bg[BG_XB]) / bg[BG_RX]
            tns[x], cns[x] = _cylinder(nxc, nzc, nr, nzr, dx)
            head_col = hu0 - 1.0 <= ucol[x] <= hu1 + 1.0
        if everywhere or head_col or tts[x] < np.inf or tns[x] < np.inf:
            x0, x1 = min(x0, x), max(x1, x)
    for y in range(h):
        v = vrow[y]
        dy = (cy - v) / fy
        head_row = body and hv0 - 1.0 <= v <= hv1 + 1.0
        for x in range(max(0, x0), x1 + 1):
            head_ok = head_row and hu0 - 1.0 <= ucol[x] <= hu1 + 1.0
            t, c = _combine(bg, (ucol[x] - cx) / fx, dy, tts[x], cts[x], qts[x], tns[x], cns[x],
                            head_ok, np.inf, 1.0)
            if t < z[y, x]:
                z[y, x] = t
                lab[y, x] = 0
                cs[y, x] = c
