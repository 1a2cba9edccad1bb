"""Sphere tracing of the real-like scene into the training side's depth buffers.

One compiled kernel per chunk of frames, as :mod:`..renderer` does: the analytic arm,
sleeve and the other hand's arm are ray-cast by :func:`..raycast.raster_prims`; the
hands (and the objects held or near the first one) are sphere-traced, only inside the
projected bounding box of each hand's bounding sphere, into the same ``z`` (clean depth,
mm), ``lab`` (part ids) and ``cs`` (incidence cosine, from the SDF's gradient) buffers;
then :func:`..background.fill_background`, the lateral edge jitter
(``renderer._jitter_edges``) and :func:`..sensor.measure_grid` run unchanged.

Rays are ``d = ((u - cx) / fx, (cy - v) / fy, 1)`` as in the ray caster, so depth is the
ray parameter along ``d``. Marching stops at a distance below ``HIT_EPS`` mm (a hit),
beyond the bounding sphere or behind what the buffer already holds.
"""

from __future__ import annotations

import numba
import numpy as np

from ..jitcache import invalidate_if_changed
from ..raycast import _sphere_bounds, prepare_prims, raster_prims
from ..renderer import _grid_buffers, encode_frame, sense_scene
from ..sensor import FAST
from .sdf import hand_sdf, label_at, obj_sdf

HIT_EPS = 0.05
TILE = 8
MAX_STEPS = 96
RELAX = 0.9  # step = RELAX x distance: the distances are bounds of a not quite exact SDF


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def scene_sdf(bn, el, sp, st, pr, ob, with_obj, x, y, z):
    """(distance, 1 if the hand is the nearer surface else 0)."""
    dh = hand_sdf(bn, el, sp, st, pr, x, y, z)
    do = obj_sdf(ob, x, y, z) if with_obj else np.inf
    return (dh, 1) if dh <= do else (do, 0)


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def trace_hand(bn, el, sp, st, pr, ob, with_obj, bound, labelled, ucol, vrow, fx, fy, cx, cy,
               z, lab, cs):
    """Sphere-trace one hand (and, ``with_obj``, the objects ``ob``) inside the sphere
    ``bound`` (centre, radius) into ``z`` / ``lab`` / ``cs`` where it is nearer, tile by
    tile (``TILE`` px: cone marching finds the empty tiles and where the others start).
    ``labelled``: paint the hand's parts (else the hand is clutter, 0)."""
    h, w = z.shape
    bx, by, bz, br = bound[0], bound[1], bound[2], bound[3]
    u0, u1, v0, v1 = _sphere_bounds(bx, by, bz, br, fx, fy, cx, cy)
    if not u0 == u0:
        return
    su = (ucol[w - 1] - ucol[0]) / (w - 1) if w > 1 else 1.0
    sv = (vrow[h - 1] - vrow[0]) / (h - 1) if h > 1 else 1.0
    x0 = max(0, int(np.floor((u0 - ucol[0]) / su)) - 1)
    x1 = min(w - 1, int(np.ceil((u1 - ucol[0]) / su)) + 1)
    y0 = max(0, int(np.floor((v0 - vrow[0]) / sv)) - 1)
    y1 = min(h - 1, int(np.ceil((v1 - vrow[0]) / sv)) + 1)
    cc = bx * bx + by * by + bz * bz - br * br
    cb = np.sqrt(bx * bx + by * by + bz * bz)
    for ty in range(y0, y1 + 1, TILE):
        ty1 = min(ty + TILE - 1, y1)
        for tx in range(x0, x1 + 1, TILE):
            tx1 = min(tx + TILE - 1, x1)
            # cone marching of the tile: the cone around the centre ray through its corner
            # pixels; if it reaches the bounding sphere's far side without touching a
            # surface, every ray of the tile misses; else the rays start where it touched
            cdx = (0.5 * (ucol[tx] + ucol[tx1]) - cx) / fx
            cdy = (cy - 0.5 * (vrow[ty] + vrow[ty1])) / fy
            cn = np.sqrt(cdx * cdx + cdy * cdy + 1.0)
            ccx, ccy, ccz = cdx / cn, cdy / cn, 1.0 / cn
            cosm = 1.0
            for kx in (tx, tx1):
                for ky in (ty, ty1):
                    ddx, ddy = (ucol[kx] - cx) / fx, (cy - vrow[ky]) / fy
                    co = (ddx * ccx + ddy * ccy + ccz) / np.sqrt(ddx * ddx + ddy * ddy + 1.0)
                    cosm = min(cosm, co)
            sinm = np.sqrt(max(0.0, 1.0 - cosm * cosm)) * 1.02 + 1e-4
            t = max(cb - br, 1.0)
            tend = cb + br
            touched = False
            for _ in range(MAX_STEPS):
                if t > tend:
                    break
                d = scene_sdf(bn, el, sp, st, pr, ob, with_obj, t * ccx, t * ccy, t * ccz)[0]
                rad = t * sinm
                if d < rad + HIT_EPS:
                    touched = True
                    break
                t += (d - rad) / (1.0 + sinm)
            if not touched:
                continue
            t_tile = t * cosm - 0.5
            for yy in range(ty, ty1 + 1):
                dy = (cy - vrow[yy]) / fy
                for xx in range(tx, tx1 + 1):
                    hit, t, which, ex, ey, ez = _march(bn, el, sp, st, pr, ob, with_obj, ucol[xx],
                                                       dy, fx, cx, bx, by, bz, cc, t_tile,
                                                       z[yy, xx])
                    if hit:
                        _shade(bn, el, sp, st, pr, ob, which, labelled, t, ex, ey, ez, z, lab,
                               cs, yy, xx)


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def _march(bn, el, sp, st, pr, ob, with_obj, u, dy, fx, cx, bx, by, bz, cc, t_start, zbuf):
    """Sphere-trace one pixel's ray from ``t_start`` (unit ray parameter) to the far side
    of the bounding sphere or the buffer's depth: (hit, t, which, unit direction)."""
    dx = (u - cx) / fx
    nrm = np.sqrt(dx * dx + dy * dy + 1.0)
    ex, ey, ez = dx / nrm, dy / nrm, 1.0 / nrm
    b = ex * bx + ey * by + ez * bz
    disc = b * b - cc
    if disc <= 0.0:
        return False, 0.0, 0, ex, ey, ez
    sq = np.sqrt(disc)
    t, t1 = max(max(b - sq, 1.0), t_start), b + sq
    t1 = min(t1, zbuf * nrm)  # nothing behind what the buffer holds
    which = 0
    for _ in range(MAX_STEPS):
        if t > t1:
            return False, t, 0, ex, ey, ez
        d, which = scene_sdf(bn, el, sp, st, pr, ob, with_obj, t * ex, t * ey, t * ez)
        if d < HIT_EPS:
            return True, t, which, ex, ey, ez
        t += RELAX * d
    return False, t, 0, ex, ey, ez


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def _shade(bn, el, sp, st, pr, ob, which, labelled, t, ex, ey, ez, z, lab, cs, yy, xx):
    """Depth, incidence cosine (from the SDF's gradient) and part of a hit."""
    px, py, pz = t * ex, t * ey, t * ez
    # normal: the SDF's gradient (tetrahedron of four samples, 0.25 mm)
    e = 0.25
    if which == 1:
        a = hand_sdf(bn, el, sp, st, pr, px + e, py - e, pz - e)
        b2 = hand_sdf(bn, el, sp, st, pr, px - e, py - e, pz + e)
        c2 = hand_sdf(bn, el, sp, st, pr, px - e, py + e, pz - e)
        d2 = hand_sdf(bn, el, sp, st, pr, px + e, py + e, pz + e)
    else:
        a = obj_sdf(ob, px + e, py - e, pz - e)
        b2 = obj_sdf(ob, px - e, py - e, pz + e)
        c2 = obj_sdf(ob, px - e, py + e, pz - e)
        d2 = obj_sdf(ob, px + e, py + e, pz + e)
    gx = a - b2 - c2 + d2
    gy = -a - b2 + c2 + d2
    gz = -a + b2 - c2 + d2
    gn = np.sqrt(gx * gx + gy * gy + gz * gz)
    c = abs(gx * ex + gy * ey + gz * ez) / gn if gn > 0.0 else 1.0
    z[yy, xx] = pz
    cs[yy, xx] = c
    lab[yy, xx] = label_at(bn, pr, px, py, pz) if (which == 1 and labelled) else 0


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def render_grid(arm, bones, ells, sph, stub, prm, obj, bounds, bg, seed, ucol, vrow, step,
                sensor, fx, fy, cx, cy, z, lab, out, cs, near, miss, fat_k, fat_z, fat_lab,
                mlist, clist):
    """One image of a real-like scene on the grid (ucol, vrow): the clean depth of the
    hands, arms and clutter into ``z`` / ``lab``; with ``sensor`` the background too and
    the measured depth into ``out`` (as ``renderer._render_grid`` does)."""
    z[:] = np.inf
    lab[:] = 0
    cs[:] = 1.0
    pc, pb = prepare_prims(arm, False, fx, fy, cx, cy)
    raster_prims(arm, pc, pb, ucol, vrow, fx, fy, cx, cy, z, lab, cs)
    for k in range(bones.shape[0]):
        if bounds[k, 3] > 0.0:
            trace_hand(bones[k], ells[k], sph[k], stub[k], prm[k], obj, k == 0,
                       bounds[k], k == 0, ucol, vrow, fx, fy, cx, cy, z, lab, cs)
    if sensor:
        sense_scene(bg, seed, ucol, vrow, step, fx, fy, cx, cy, z, lab, out, cs, near, miss,
                    fat_k, fat_z, fat_lab, mlist, clist)


@numba.njit(cache=True, nogil=True, fastmath=FAST, error_model="numpy")
def frames_kernel(arm, bones, ells, sph, stub, prm, obj, bounds, bg, seeds, sensor, i0, i1,
                  fx, fy, cx, cy, out_depth, out_labels):
    """Frames ``i0:i1`` of a batch (one thread; buffers allocated once for all of them):
    uint16 mm with ``NO_RETURN`` where nothing is measured, and the part labels."""
    h, w = out_depth.shape[1], out_depth.shape[2]
    ucol = np.arange(w).astype(np.float64)
    vrow = np.arange(h).astype(np.float64)
    z, lab, meas, cs, near, miss, fat_k, fat_z, fat_lab, mlist, clist = _grid_buffers(h, w)
    for i in range(i0, i1):
        render_grid(arm[i], bones[i], ells[i], sph[i], stub[i], prm[i], obj[i], bounds[i],
                    bg[i], seeds[i], ucol, vrow, 1.0, sensor, fx, fy, cx, cy, z, lab, meas, cs,
                    near, miss, fat_k, fat_z, fat_lab, mlist, clist)
        encode_frame(meas, z, lab, sensor, out_depth[i], out_labels[i])


KERNEL_MODULES = ("raycast", "sensor", "background", "renderer", "reallike/body",
                  "reallike/sdf", "reallike/trace")
"""Sources compiled into :func:`frames_kernel` (numba's cache keys on its own file only)."""
invalidate_if_changed(frames_kernel, KERNEL_MODULES)
