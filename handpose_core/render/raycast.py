"""Ray casting of the hand's (and arm's) primitives (numba kernels).

Why numba: the work per pixel is a handful of dot products per primitive, behind
branches (culling, which root of the quadric, which end cap), over a few thousand pixels
per image. A batched torch version would build (pixels x primitives) tensors and test
all 26 primitives at every pixel of every image; the compiled loops here rasterise each
primitive only over the rows of its projected bounding box and, per row, only over the
columns of its projected 2D stadium (per-primitive culling), into a depth buffer, with
no temporaries (speed: ``handpose-studio bench render``; figures in
docs/measurements.md). Images of a batch are spread over one Python thread per core by
:mod:`.renderer` (the kernels release the GIL). Kernels are cached on disk
(``cache=True``): only the first call in a fresh checkout compiles them (tens of
seconds; :func:`.renderer.kernels_compiled` tells whether that is still to come); later
processes load them.

Rays start at the camera centre with direction ``d = ((u-cx)/fx, (cy-v)/fy, 1)``, so the
ray parameter of a hit is its depth z (mm) directly. Round cones use Inigo Quilez's
closed-form intersection (cone body, then the two end spheres) in the primitive's local
frame; elliptic cones are round cones in a linearly scaled frame (the ray parameter is
unchanged by a linear map); plates are two parallel faces bounded by a convex quad. Each
hit also yields the cosine of the incidence angle, which the sensor model needs.
"""

from __future__ import annotations

import numba
import numpy as np

from .sensor import FAST


@numba.njit(cache=True, error_model="numpy")
def _sphere_bounds(x, y, z, r, fx, fy, cx, cy):
    """Conservative image bounds (umin, umax, vmin, vmax) of a sphere; NaN if behind."""
    zn, zf = z - r, z + r
    if zn <= 1.0:
        return np.nan, np.nan, np.nan, np.nan
    umin = cx + fx * min((x - r) / zn, (x - r) / zf)
    umax = cx + fx * max((x + r) / zn, (x + r) / zf)
    vmin = cy - fy * max((y + r) / zn, (y + r) / zf)
    vmax = cy - fy * min((y - r) / zn, (y - r) / zf)
    return umin, umax, vmin, vmax


@numba.njit(cache=True, error_model="numpy")
def prim_bounds(p, fx, fy, cx, cy):
    """Image bounds of one primitive row (see hand_model for the layout)."""
    if p[0] == 1.0:  # plate
        return _sphere_bounds(p[2], p[3], p[4], p[23], fx, fy, cx, cy)
    a0, a1, a2, a3 = _sphere_bounds(p[2], p[3], p[4], p[22], fx, fy, cx, cy)
    b0, b1, b2, b3 = _sphere_bounds(p[19], p[20], p[21], p[23], fx, fy, cx, cy)
    return min(a0, b0), max(a1, b1), min(a2, b2), max(a3, b3)


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def _cone_hit(dx, dy, dz, m, oax, oay, oaz, bax, bay, baz, ra, rb, rr, m0, m1, m5, m7, d2,
              aniso):
    """Hit of the ray d (camera space, not unit) on a round cone given in its local frame
    (``oa`` = camera centre relative to A, ``ba`` = B - A, local). Returns (z, cos)."""
    if aniso:
        lx = m[0] * dx + m[1] * dy + m[2] * dz
        ly = m[3] * dx + m[4] * dy + m[5] * dz
        lz = m[6] * dx + m[7] * dy + m[8] * dz
    else:
        lx, ly, lz = dx, dy, dz
    ln = np.sqrt(lx * lx + ly * ly + lz * lz)
    rx, ry, rz = lx / ln, ly / ln, lz / ln
    m2 = bax * rx + bay * ry + baz * rz
    m3 = rx * oax + ry * oay + rz * oaz
    obx, oby, obz = oax - bax, oay - bay, oaz - baz
    m6 = obx * rx + oby * ry + obz * rz
    k2 = d2 - m2 * m2
    k1 = d2 * m3 - m1 * m2 + m2 * rr * ra
    k0 = d2 * m5 - m1 * m1 + m1 * rr * ra * 2.0 - m0 * ra * ra
    h = k1 * k1 - k0 * k2
    if h < 0.0:
        return np.inf, 1.0
    t = np.inf
    nx = ny = nz = 0.0
    if d2 > 0.0 and abs(k2) > 1e-12:
        tb = (-np.sqrt(h) - k1) / k2
        yb = m1 - ra * rr + tb * m2
        if yb > 0.0 and yb < d2 and tb > 0.0:
            t = tb
            nx = d2 * (oax + t * rx) - bax * yb
            ny = d2 * (oay + t * ry) - bay * yb
            nz = d2 * (oaz + t * rz) - baz * yb
    if t == np.inf:
        h1 = m3 * m3 - m5 + ra * ra
        if h1 > 0.0:
            t1 = -m3 - np.sqrt(h1)
            if t1 > 0.0:
                t = t1
                nx, ny, nz = oax + t * rx, oay + t * ry, oaz + t * rz
        h2 = m6 * m6 - m7 + rb * rb
        if h2 > 0.0:
            t2 = -m6 - np.sqrt(h2)
            if 0.0 < t2 < t:
                t = t2
                nx, ny, nz = obx + t * rx, oby + t * ry, obz + t * rz
        if t == np.inf:
            return np.inf, 1.0
    if aniso:  # normals transform with M^T
        wx = m[0] * nx + m[3] * ny + m[6] * nz
        wy = m[1] * nx + m[4] * ny + m[7] * nz
        wz = m[2] * nx + m[5] * ny + m[8] * nz
        nx, ny, nz = wx, wy, wz
    dn = np.sqrt((nx * nx + ny * ny + nz * nz) * (dx * dx + dy * dy + dz * dz))
    c = abs(nx * dx + ny * dy + nz * dz) / dn if dn > 0.0 else 1.0
    return t / ln, c


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def _plate_hit(dx, dy, dz, p, side, no, e1o, e2o):
    """Hit of the ray on the near face of a plate (quad in p[15:23]). Returns (z, cos)."""
    nd = p[11] * dx + p[12] * dy + p[13] * dz
    if nd * side >= 0.0:
        return np.inf, 1.0
    t = (side * p[14] + no) / nd
    a = t * (p[5] * dx + p[6] * dy + p[7] * dz) - e1o
    b = t * (p[8] * dx + p[9] * dy + p[10] * dz) - e2o
    for k in range(4):
        k2 = (k + 1) % 4
        qa, qb = p[15 + 2 * k], p[16 + 2 * k]
        if (p[15 + 2 * k2] - qa) * (b - qb) - (p[16 + 2 * k2] - qb) * (a - qa) < 0.0:
            return np.inf, 1.0
    return t, abs(nd) / np.sqrt(dx * dx + dy * dy + dz * dz)


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def prepare_prims(prims, hand_only, fx, fy, cx, cy):
    """Per-primitive constants ``(P, 16)`` and image bounds ``(P, 4)`` of one scene.

    Constants: cones (oa (3), m0, m1, m5, m7, d2, rr) -- the camera centre in the local
    frame and the ray-independent terms of the intersection; plates (n.O, side, e1.O,
    e2.O); then [9:14] the image stadium (u, v of both ends, radius in px). Bounds are
    (umin, umax, vmin, vmax), NaN for primitives that are switched off (or, with
    ``hand_only``, belong to the arm).
    """
    n = prims.shape[0]
    pc = np.zeros((n, 16))
    bounds = np.full((n, 4), np.nan)
    for i in range(n):
        p = prims[i]
        if p[0] < 0.0 or (hand_only and p[1] == 0.0):
            continue
        bounds[i, 0], bounds[i, 1], bounds[i, 2], bounds[i, 3] = prim_bounds(p, fx, fy, cx, cy)
        # the image of the primitive lies in the 2D stadium around the projected segment
        # A'B' with radius R (each end sphere projects into a disc of f r / (z - r) times
        # 1 / cos^2 of its angle off the axis, plus a margin)
        if p[0] == 1.0:
            ax, ay, az, ra_ = p[2], p[3], p[4], p[23]
            bx, by, bz, rb_ = ax, ay, az, ra_
        else:
            ax, ay, az, ra_ = p[2], p[3], p[4], p[22]
            bx, by, bz, rb_ = p[19], p[20], p[21], p[23]
        pc[i, 9], pc[i, 10] = cx + fx * ax / az, cy - fy * ay / az
        pc[i, 11], pc[i, 12] = cx + fx * bx / bz, cy - fy * by / bz
        rpa = fx * ra_ / (az - ra_) * (1.0 + (ax * ax + ay * ay) / ((az - ra_) * (az - ra_)))
        rpb = fx * rb_ / (bz - rb_) * (1.0 + (bx * bx + by * by) / ((bz - rb_) * (bz - rb_)))
        pc[i, 13] = 1.1 * max(rpa, rpb) + 1.5
        if p[0] == 1.0:
            no = p[11] * p[2] + p[12] * p[3] + p[13] * p[4]
            pc[i, 0] = no
            pc[i, 1] = 1.0 if -no > 0.0 else -1.0
            pc[i, 2] = p[5] * p[2] + p[6] * p[3] + p[7] * p[4]
            pc[i, 3] = p[8] * p[2] + p[9] * p[3] + p[10] * p[4]
        else:
            m = p[5:14]
            oax = -(m[0] * p[2] + m[1] * p[3] + m[2] * p[4])
            oay = -(m[3] * p[2] + m[4] * p[3] + m[5] * p[4])
            oaz = -(m[6] * p[2] + m[7] * p[3] + m[8] * p[4])
            bax, bay, baz = p[14], p[15], p[16]
            rr = p[17] - p[18]
            obx, oby, obz = oax - bax, oay - bay, oaz - baz
            m0 = bax * bax + bay * bay + baz * baz
            pc[i, 0], pc[i, 1], pc[i, 2] = oax, oay, oaz
            pc[i, 3] = m0
            pc[i, 4] = bax * oax + bay * oay + baz * oaz
            pc[i, 5] = oax * oax + oay * oay + oaz * oaz
            pc[i, 6] = obx * obx + oby * oby + obz * obz
            pc[i, 7] = m0 - rr * rr
            pc[i, 8] = rr
    return pc, bounds


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def _hit(p, c, dx, dy):
    """(z, cos) of the ray (dx, dy, 1) on primitive row ``p`` with constants ``c``."""
    if p[0] == 1.0:
        return _plate_hit(dx, dy, 1.0, p, c[1], c[0], c[2], c[3])
    return _cone_hit(dx, dy, 1.0, p[5:14], c[0], c[1], c[2], p[14], p[15], p[16], p[17], p[18],
                     c[8], c[3], c[4], c[5], c[6], c[7], p[0] == 2.0)


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def _row_span(c, v):
    """Columns (u_lo, u_hi) where image row ``v`` crosses the stadium of constants ``c``."""
    ua, va, ub, vb, r = c[9], c[10], c[11], c[12], c[13]
    lo, hi = np.inf, -np.inf
    for uc, vc in ((ua, va), (ub, vb)):
        dv = v - vc
        if abs(dv) <= r:
            hw = np.sqrt(r * r - dv * dv)
            lo, hi = min(lo, uc - hw), max(hi, uc + hw)
    du, dvv = ub - ua, vb - va
    ln = np.sqrt(du * du + dvv * dvv)
    if ln > 1e-6:
        ex, ey = du / ln, dvv / ln
        dv = v - va
        # |(u - ua) ey - dv ex| <= r  and  0 <= (u - ua) ex + dv ey <= ln
        if abs(ey) > 1e-9:
            a1, a2 = ua + (dv * ex - r) / ey, ua + (dv * ex + r) / ey
            l1, h1 = min(a1, a2), max(a1, a2)
        elif abs(dv * ex) <= r:
            l1, h1 = -np.inf, np.inf
        else:
            l1, h1 = np.inf, -np.inf
        if abs(ex) > 1e-9:
            b1, b2 = ua - dv * ey / ex, ua + (ln - dv * ey) / ex
            l2, h2 = min(b1, b2), max(b1, b2)
        elif 0.0 <= dv * ey <= ln:
            l2, h2 = -np.inf, np.inf
        else:
            l2, h2 = np.inf, -np.inf
        l3, h3 = max(l1, l2), min(h1, h2)
        if l3 <= h3:
            lo, hi = min(lo, l3), max(hi, h3)
    return lo, hi


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def raster_prims(prims, pc, bounds, ucol, vrow, fx, fy, cx, cy, z, lab, cs):
    """Rasterise primitive rows ``prims`` (P, NPRM) into the depth buffer of one image.

    The image's pixel (x, y) looks along full-frame (ucol[x], vrow[y]) (increasing, evenly
    spaced up to rounding); ``pc``, ``bounds`` from :func:`prepare_prims`. Each primitive
    visits the rows of its bounding box and, per row, only the columns inside its image
    stadium. ``z`` (H, W) float32 depth in mm (inf = nothing), ``lab`` (H, W) uint8 part
    ids and ``cs`` (H, W) float32 incidence cosines are updated where a primitive is
    nearer.
    """
    h, w = z.shape
    # mean pitch: a crop sampled at rounded frame pixels is only uniform on average, so
    # the index ranges below get one grid pixel of slack on each side
    su = (ucol[w - 1] - ucol[0]) / (w - 1) if w > 1 else 1.0
    sv = (vrow[h - 1] - vrow[0]) / (h - 1) if h > 1 else 1.0
    for pi in range(prims.shape[0]):
        b = bounds[pi]
        if not b[0] == b[0]:
            continue
        y0 = max(0, int(np.floor((b[2] - 1.0 - vrow[0]) / sv)) - 1)
        y1 = min(h - 1, int(np.ceil((b[3] + 1.0 - vrow[0]) / sv)) + 1)
        p = prims[pi]
        c = pc[pi]
        label = np.uint8(p[1])
        for y in range(y0, y1 + 1):
            lo, hi = _row_span(c, vrow[y])
            lo, hi = max(lo, b[0]), min(hi, b[1])
            if lo > hi:
                continue
            x0 = max(0, int(np.floor((lo - 1.0 - ucol[0]) / su)) - 1)
            x1 = min(w - 1, int(np.ceil((hi + 1.0 - ucol[0]) / su)) + 1)
            dy = (cy - vrow[y]) / fy
            for x in range(x0, x1 + 1):
                t, cc = _hit(p, c, (ucol[x] - cx) / fx, dy)
                if t < z[y, x]:
                    z[y, x] = t
                    lab[y, x] = label
                    cs[y, x] = cc
