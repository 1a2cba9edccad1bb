"""Rendering scenes: labelled crops (store-shaped) and full 640x480 frames.

Both paths run one compiled kernel per chunk of images, a chunk per thread: ray-cast
the primitives over their bounding boxes, add the analytic background, apply the
sensor's lateral jitter, measure with the sensor model, normalise (crops) or encode in
millimetres (frames), reusing the image buffers from one image to the next.

A crop is ray-cast directly on its own pixel grid (crop pixel x looks along full-frame
``u = u0 + x * su``): the clean style exactly there; the sensor style at the nearest
full-frame pixel centre, which is what ``datasets.crop.crop_depth`` samples from a frame
(OpenCV's nearest neighbour rounds), so a sensor crop reads the same rays, noise and
holes as the frame it was cut from, except near depth and part edges, where the edge
model and the jitter work at the crop's coarser pitch with the same expected effect
(see ``tests/core/test_render_sensor.py``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from ..camera import NYU_CAMERA
from ..datasets.crop import DEFAULT_CROP_SIZE, DEFAULT_CUBE_MM
from ..errors import BadInput
from .background import fill_background
from .jitcache import invalidate_if_changed, kernel_cached
from .raycast import prepare_prims, raster_prims
from .scene import Scenes, crop_arrays, make_rng, sample_scenes
from .sensor import (
    FAST,
    JITTER_SIGMA,
    NO_RETURN,
    expand_ranges,
    jitter_px,
    measure_grid,
    row_ranges,
    scratch,
    uniform,
)

STYLES = ("clean", "sensor")
_CAM = (NYU_CAMERA.fx, NYU_CAMERA.fy, NYU_CAMERA.cx, NYU_CAMERA.cy)


def _run_chunks(fn, n: int) -> None:
    """Run ``fn(i0, i1)`` over ``n`` images split into one contiguous chunk per thread.

    The kernels are plain (nogil) numba functions run on Python threads rather than
    ``prange`` loops: the same speed for batches, and less compile time than a parallel
    kernel. ``NUMBA_NUM_THREADS`` / ``numba.set_num_threads`` set the threads.
    """
    k = max(1, min(n, numba.get_num_threads()))
    bounds = [i * n // k for i in range(k + 1)]
    if k == 1:
        fn(0, n)
        return
    with ThreadPoolExecutor(max_workers=k) as pool:
        for f in [pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(k)]:
            f.result()


def _check_style(style: str) -> bool:
    if style not in STYLES:
        raise BadInput(f"unknown render style {style!r}; expected 'clean' or 'sensor'")
    return style == "sensor"


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def _jitter_edges(ucol, vrow, seed, step, rlo, rhi, z, lab, cs, near):
    """Apply the sensor's lateral jitter to the pixels near depth or label edges.

    Inside a surface a sub-pixel shift changes nothing the sensor could resolve, so only
    pixels next to an edge of the clean image (and, on a frame, their neighbours: the
    jitter rarely reaches farther) move: each reads the grid pixel at its displaced
    position, the displacement (frame px) divided by the grid pitch ``step`` and rounded
    stochastically, so its expectation is the same at any pitch -- on a crop's coarse grid
    a pixel next to an edge takes its neighbour's value with probability ``|shift| /
    step``, as a ray cast through the displaced position would. (Resampling the clean
    image instead of casting the displaced rays again is several times cheaper and, at
    the grid's own resolution, the same thing.)
    """
    h, w = z.shape
    lo, hi = expand_ranges(rlo, rhi, 3, w)  # every pixel an edge flag can reach
    for y in range(h):
        for x in range(lo[y], hi[y] + 1):
            near[y, x] = 0
    r = 1 if step < 1.5 else 0
    count = 0
    for y in range(h):
        for x in range(lo[y], hi[y] + 1):
            zz, ll = z[y, x], lab[y, x]
            edge = False
            if x < w - 1:
                zn = z[y, x + 1]
                edge = lab[y, x + 1] != ll or abs(zn - zz) > 10.0 or (zn < np.inf) != (zz < np.inf)
            if not edge and y < h - 1:
                zn = z[y + 1, x]
                edge = lab[y + 1, x] != ll or abs(zn - zz) > 10.0 or (zn < np.inf) != (zz < np.inf)
            if edge:
                for yy in range(max(0, y - r), min(h, y + r + 2)):
                    for xx in range(max(0, x - r), min(w, x + r + 2)):
                        if not near[yy, xx]:
                            near[yy, xx] = 1
                            count += 1
    ys = np.empty(count, np.int64)
    xs = np.empty(count, np.int64)
    k = 0
    for y in range(h):
        for x in range(lo[y], hi[y] + 1):
            if near[y, x] and k < count:
                ys[k], xs[k] = y, x
                k += 1
    count = k
    nz = np.empty(count, np.float32)
    nl = np.empty(count, np.uint8)
    nc = np.empty(count, np.float32)
    for k in range(count):
        y, x = ys[k], xs[k]
        iu, iv = int(ucol[x]), int(vrow[y])
        ju, jv = jitter_px(seed, ucol[x], vrow[y], JITTER_SIGMA)
        sx = x + int(np.floor(ju / step + uniform(seed, iu, iv, 30)))
        sy = y + int(np.floor(jv / step + uniform(seed, iu, iv, 31)))
        sx, sy = min(w - 1, max(0, sx)), min(h - 1, max(0, sy))
        nz[k], nl[k], nc[k] = z[sy, sx], lab[sy, sx], cs[sy, sx]
    for k in range(count):
        z[ys[k], xs[k]], lab[ys[k], xs[k]], cs[ys[k], xs[k]] = nz[k], nl[k], nc[k]


@numba.njit(cache=True, nogil=True, fastmath=FAST, error_model="numpy")
def sense_scene(bg, seed, ucol, vrow, step, fx, fy, cx, cy, z, lab, out, cs, near, miss,
                fat_k, fat_z, fat_lab, mlist, clist):
    """What the sensor sees of a clean render in ``z`` / ``lab`` / ``cs``: the analytic
    background added, edges jittered, the depth measured into ``out`` (the remaining
    arrays are :func:`_grid_buffers`' scratch). Both generators' kernels end with it."""
    fill_background(bg, ucol, vrow, fx, fy, cx, cy, z, lab, cs)
    rlo, rhi = row_ranges(z)
    _jitter_edges(ucol, vrow, seed, step, rlo, rhi, z, lab, cs, near)
    rlo, rhi = row_ranges(z)
    out[:] = 0.0
    measure_grid(z, lab, cs, ucol, vrow, step, seed, rlo, rhi, out, miss, fat_k, fat_z,
                 fat_lab, mlist, clist)


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def _render_grid(prims, bg, seed, ucol, vrow, step, sensor, fx, fy, cx, cy, z, lab, out, cs,
                 near, miss, fat_k, fat_z, fat_lab, mlist, clist):
    """One image on the grid (ucol, vrow): clean depth of the hand and its arm (part 0)
    into ``z`` / ``lab``; with ``sensor``, the background too and the measured depth into
    ``out``. The remaining (H, W) arrays are scratch buffers, reused across images."""
    z[:] = np.inf
    lab[:] = 0
    cs[:] = 1.0
    pc, bounds = prepare_prims(prims, False, fx, fy, cx, cy)
    raster_prims(prims, pc, bounds, ucol, vrow, fx, fy, cx, cy, z, lab, cs)
    if sensor:
        sense_scene(bg, seed, ucol, vrow, step, fx, fy, cx, cy, z, lab, out, cs, near, miss,
                    fat_k, fat_z, fat_lab, mlist, clist)


@numba.njit(cache=True, nogil=True)
def _grid_buffers(h, w):
    """Buffers of :func:`_render_grid` for an ``h x w`` grid, allocated once per batch
    slice: (z, lab, meas, cs, near) then :func:`.sensor.scratch`'s six."""
    return (np.empty((h, w), np.float32), np.empty((h, w), np.uint8),
            np.zeros((h, w), np.float32), np.empty((h, w), np.float32),
            np.zeros((h, w), np.uint8), *scratch(h, w))


@numba.njit(cache=True, nogil=True, fastmath=FAST, error_model="numpy")
def _crops_kernel(prims, bg, seeds, crops, sensor, i0, i1, fx, fy, cx, cy, out_depth,
                  out_labels):
    """Crops ``i0:i1`` of a batch (one thread; buffers allocated once for all of them)."""
    s = out_depth.shape[1]
    z, lab, meas, cs, near, miss, fat_k, fat_z, fat_lab, mlist, clist = _grid_buffers(s, s)
    ucol = np.empty(s)
    vrow = np.empty(s)
    for i in range(i0, i1):
        u0, v0 = crops[i, 6], crops[i, 7]
        su, sv = (crops[i, 8] - u0) / s, (crops[i, 9] - v0) / s
        for k in range(s):
            ucol[k] = u0 + k * su
            vrow[k] = v0 + k * sv
            if sensor:  # the frame's pixel centres, as crop_depth samples them
                ucol[k] = np.floor(ucol[k] + 0.5)
                vrow[k] = np.floor(vrow[k] + 0.5)
        _render_grid(prims[i], bg[i], seeds[i], ucol, vrow, su, sensor, fx, fy, cx, cy, z,
                     lab, meas, cs, near, miss, fat_k, fat_z, fat_lab, mlist, clist)
        cd, half = crops[i, 2], crops[i, 5] / 2.0
        for y in range(s):
            for x in range(s):
                zz = meas[y, x] if sensor else z[y, x]
                zn = (zz - cd) / half
                if zz > 0.0 and zz < np.inf and abs(zn) <= 1.0:
                    out_depth[i, y, x] = zn
                    out_labels[i, y, x] = lab[y, x]
                else:
                    out_depth[i, y, x] = 1.0
                    out_labels[i, y, x] = 0


@numba.njit(cache=True, nogil=True, fastmath=FAST, error_model="numpy")
def encode_frame(meas, z, lab, sensor, out_depth, out_labels):
    """One frame as NYU stores it: ``out_depth`` (H, W) uint16 mm, the measured depth
    (``sensor``) or the clean depth rounded to mm up to 2 m, ``NO_RETURN`` where there is
    none; ``out_labels`` the part labels where there is depth, else 0."""
    h, w = out_depth.shape
    for y in range(h):
        for x in range(w):
            m = meas[y, x] if sensor else (np.floor(z[y, x] + 0.5) if z[y, x] <= 2000.0
                                           else 0.0)
            if m > 0.0:
                out_depth[y, x] = np.uint16(m)
                out_labels[y, x] = lab[y, x]
            else:
                out_depth[y, x] = NO_RETURN
                out_labels[y, x] = 0


@numba.njit(cache=True, nogil=True, fastmath=FAST, error_model="numpy")
def _frames_kernel(prims, bg, seeds, sensor, i0, i1, fx, fy, cx, cy, out_depth, out_labels):
    """Frames ``i0:i1`` of a batch (one thread; buffers allocated once for all of them)."""
    h, w = out_depth.shape[1], out_depth.shape[2]
    ucol = np.arange(w).astype(np.float64)
    vrow = np.arange(h).astype(np.float64)
    z, lab, meas, cs, near, miss, fat_k, fat_z, fat_lab, mlist, clist = _grid_buffers(h, w)
    for i in range(i0, i1):
        _render_grid(prims[i], bg[i], seeds[i], ucol, vrow, 1.0, sensor, fx, fy, cx, cy, z,
                     lab, meas, cs, near, miss, fat_k, fat_z, fat_lab, mlist, clist)
        encode_frame(meas, z, lab, sensor, out_depth[i], out_labels[i])


invalidate_if_changed(_frames_kernel)

COMPILING = "compiling the renderer (first run only)"  # short: it must fit an 80-column line


def kernels_compiled(kind: str) -> bool:
    """Whether the kernel of ``kind`` ("frames": full frames, "crops": labelled crops) is
    already compiled in numba's disk cache; when not, this process's first render of that
    kind compiles it, which takes tens of seconds (see docs/measurements.md)."""
    return kernel_cached({"frames": _frames_kernel, "crops": _crops_kernel}[kind])


def render_scene_crops(scenes: Scenes, *, size: int = DEFAULT_CROP_SIZE, style: str = "clean",
                       cube_mm: float = DEFAULT_CUBE_MM) -> dict:
    """Crops of given scenes (see :func:`render_crops` for the returned dict)."""
    sensor = _check_style(style)
    if size < 2:
        raise BadInput(f"crop size must be >= 2 pixels, got {size}")
    n = len(scenes)
    crops = crop_arrays(scenes, size, cube_mm)
    depth = np.empty((n, size, size), np.float32)
    labels = np.empty((n, size, size), np.uint8)
    if n:
        _run_chunks(lambda i0, i1: _crops_kernel(scenes.prims, scenes.background, scenes.seeds,
                                                 crops, sensor, i0, i1, *_CAM, depth, labels), n)
    return {"depth": depth, "labels": labels,
            "joints_uvd": scenes.joints_uvd.astype(np.float32),
            "joints_xyz": scenes.joints_xyz.astype(np.float32), "crop": crops}


def render_crops(n: int, *, size: int = DEFAULT_CROP_SIZE, seed=0, style: str = "clean",
                 cube_mm: float = DEFAULT_CUBE_MM, scenes: Scenes | None = None) -> dict:
    """Labelled crops around the ground-truth palm centre, as the synthetic store holds them.

    Returns a dict of ``depth`` (n,S,S) float32 in [-1, 1] relative to the palm centre over
    cube/2 (+1 = background, no return, outside the cube), ``labels`` (n,S,S) uint8 part
    ids (only where the hand has depth), ``joints_uvd`` / ``joints_xyz`` (n,36,3) float32
    full-frame (px, px, mm) / camera mm, ``crop`` (n,11) float64
    (``CropTransform.to_array()``, window of ``datasets.crop.crop_transform``).
    ``style="clean"``: the hand and its forearm and wrist (labelled background, 0), exact
    depth, nothing else; ``"sensor"``: the real-like frame's crop (arm, body, background,
    sensor noise and holes). Same seed -> same output.
    """
    _check_style(style)
    if scenes is None:
        scenes = sample_scenes(n, seed)
    return render_scene_crops(scenes, size=size, style=style, cube_mm=cube_mm)


def render_frames(scenes: Scenes, *, style: str = "sensor") -> tuple[np.ndarray, np.ndarray]:
    """Full frames ``(depth (B,480,640) uint16 mm with 2001 = no return, labels (B,480,640)
    uint8)``. Labels are the hand parts of the measured pixels (arm and clutter are 0).
    ``"clean"``: the hand and its arm (labelled 0) with exact depth rounded to mm."""
    sensor = _check_style(style)
    n = len(scenes)
    depth = np.empty((n, NYU_CAMERA.height, NYU_CAMERA.width), np.uint16)
    labels = np.empty((n, NYU_CAMERA.height, NYU_CAMERA.width), np.uint8)
    if n:
        _run_chunks(lambda i0, i1: _frames_kernel(scenes.prims, scenes.background, scenes.seeds,
                                                  sensor, i0, i1, *_CAM, depth, labels), n)
    return depth, labels


def render_frame(rng_or_seed=0, *, style: str = "sensor"):
    """One full frame: ``(depth uint16 (480,640) mm with 2001 = no return, labels uint8
    (480,640) (hand parts only), joints_uvd (36,3), joints_xyz (36,3))``."""
    sc = sample_scenes(1, make_rng(rng_or_seed))
    depth, labels = render_frames(sc, style=style)
    return depth[0], labels[0], sc.joints_uvd[0].copy(), sc.joints_xyz[0].copy()
