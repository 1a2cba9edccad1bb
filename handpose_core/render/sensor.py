"""A Kinect-v1-like structured-light sensor applied to clean renders (spec/hand-model.md).

Effects, in the order the sensor produces them:

- lateral jitter: about 0.57 px rms per axis (0.8 px in all), partly smooth over 4 px,
  so depth and part edges become ragged in small blocks: pixels next to an edge read
  the clean image at their displaced position (:func:`jitter_px`, applied by
  ``renderer._jitter_edges``);
- projector shadow: the IR projector sits 75 mm beside the camera, so background just to
  the right of a nearer object is not lit and gives no return: a pixel is shadowed when
  ``u + f b / z`` is smaller than for some pixel to its left in the same row (the band is
  ``f b (1/z_near - 1/z_far)`` px wide: about 9 px between a hand at 0.8 m and a body at
  0.95 m, as on the real NYU frame);
- depth edges: where the 9x9 correlation window straddles two surfaces, the far side
  within a ragged band of 0.3-2 px (a smooth random width) either gives no return or
  reads the near surface (half and half: the real sensor fattens near objects), and the
  near side's rim pixels drop out with probability 0.25; surfaces seen at a grazing
  angle drop out in clusters, with a probability growing with ``1 - cos theta``: none
  below 63 deg, ``((0.45 - cos theta) / 0.4)^2`` beyond (about 0.25 at 75 deg, 0.8 at
  85 deg);
- axial noise ``sigma_z = 1.2 + 1.9 (z - 0.4 m)^2`` mm plus ``0.1/sqrt(z) theta^2 /
  (pi/2 - theta)^2`` (theta capped at 84 deg);
- quantisation through disparity: 1/8-pixel disparity steps with f = 580 px, b = 75 mm
  (0.7 mm at 0.5 m, 1.8 mm at 0.8 m, 2.9 mm at 1 m), then whole millimetres;
- range: no return nearer than 350 mm or farther than 2000 mm (NYU's frames hold nothing
  beyond 2 m: 2001 is their "no return").

Random numbers come from a counter-based hash of (seed, full-frame pixel, channel), so
the output depends only on the seed and the pixel -- never on thread scheduling -- and a
crop sampled at the frame's pixel centres sees exactly the frame's noise. Edge effects
are written for a grid whose pixels are ``step`` frame pixels apart (1 for a frame, the
crop's pitch for a crop), with probabilities scaled so the expected band widths in frame
pixels are the same.
"""

from __future__ import annotations

import numba
import numpy as np

from ..camera import NO_RETURN

FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
"""numba fast-math flags: everything but 'no NaNs / no infs' (inf marks "nothing hit")."""
F_PX = 580.0
BASELINE_MM = 75.0
FB = F_PX * BASELINE_MM
Z_MIN, Z_MAX = 350.0, 2000.0
JITTER_SIGMA = 0.65  # x ~0.88 -> 0.57 px rms per axis, 0.8 px in all (the spec's "about 0.8")
EDGE_BAND = (0.3, 2.0)
RIM_DROP = 0.25
FAT_SHARE = 0.5
_CH_JITTER, _CH_EDGE, _CH_RIM, _CH_GRAZE, _CH_NOISE = 1, 3, 4, 5, 6


def axial_sigma_mm(z_mm, theta=0.0):
    """Axial noise standard deviation (mm) at depth ``z_mm`` and incidence ``theta`` (rad)."""
    zm = np.asarray(z_mm, dtype=np.float64) / 1000.0
    th = np.minimum(np.asarray(theta, dtype=np.float64), np.radians(84.0))
    return 1.2 + 1.9 * (zm - 0.4) ** 2 + 0.1 / np.sqrt(zm) * th ** 2 / (np.pi / 2 - th) ** 2


def quantisation_step_mm(z_mm):
    """Depth step (mm) of one 1/8-pixel disparity step at ``z_mm``."""
    z = np.asarray(z_mm, dtype=np.float64)
    return z * z / FB / 8.0


@numba.njit(cache=True, inline="always", error_model="numpy")
def _hash(seed, iu, iv, ch):
    """splitmix64 of (seed, pixel, channel): 64 random bits."""
    x = seed ^ (np.uint64(iu & 0xFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15))
    x = x ^ (np.uint64(iv & 0xFFFFFFFF) * np.uint64(0xC2B2AE3D27D4EB4F))
    x = x + np.uint64(ch) * np.uint64(0x165667B19E3779F9)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, inline="always", error_model="numpy")
def uniform(seed, iu, iv, ch):
    """A uniform number in (0, 1) for pixel (iu, iv) and channel ``ch``."""
    return (np.float64(_hash(seed, iu, iv, ch) >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, inline="always", error_model="numpy")
def _gauss(seed, iu, iv, ch):
    """A near-normal number: Irwin-Hall sum of four 16-bit uniforms, unit variance (within
    +-3.46; several times cheaper than Box-Muller, which the sensor needs per pixel)."""
    h = _hash(seed, iu, iv, ch)
    m = np.uint64(0xFFFF)
    s = np.float64(h & m) + np.float64((h >> np.uint64(16)) & m) \
        + np.float64((h >> np.uint64(32)) & m) + np.float64(h >> np.uint64(48))
    return (s / 65536.0 - 2.0) * 1.7320508075688772


@numba.njit(cache=True, inline="always", error_model="numpy")
def _lattice2(seed, ix, iy, ch):
    """Two uniforms in [0, 1) at a lattice node (the two 32-bit halves of one hash)."""
    h = _hash(seed, ix, iy, ch)
    return (np.float64(h >> np.uint64(32)) * (1.0 / 4294967296.0),
            np.float64(h & np.uint64(0xFFFFFFFF)) * (1.0 / 4294967296.0))


@numba.njit(cache=True, error_model="numpy")
def jitter_px(seed, u, v, sigma):
    """Lateral jitter (du, dv) in pixels of the ray through pixel (u, v): a part smooth
    over 4 px (ragged, blocky edges: bilinear value noise, std about 0.8 after scaling)
    and a per-pixel part: about 0.88 ``sigma`` rms per axis."""
    if sigma <= 0.0:
        return 0.0, 0.0
    iu, iv = int(np.floor(u + 0.5)), int(np.floor(v + 0.5))
    gx, gy = iu * 0.25, iv * 0.25
    x0, y0 = int(np.floor(gx)), int(np.floor(gy))
    fx, fy = gx - x0, gy - y0
    a1, a2 = _lattice2(seed, x0, y0, _CH_JITTER)
    b1, b2 = _lattice2(seed, x0 + 1, y0, _CH_JITTER)
    c1, c2 = _lattice2(seed, x0, y0 + 1, _CH_JITTER)
    d1, d2 = _lattice2(seed, x0 + 1, y0 + 1, _CH_JITTER)
    w00, w10, w01, w11 = (1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy
    s1 = (a1 * w00 + b1 * w10 + c1 * w01 + d1 * w11 - 0.5) * 4.0
    s2 = (a2 * w00 + b2 * w10 + c2 * w01 + d2 * w11 - 0.5) * 4.0
    return (sigma * (0.8 * s1 + 0.6 * _gauss(seed, iu, iv, _CH_JITTER + 8)),
            sigma * (0.8 * s2 + 0.6 * _gauss(seed, iu, iv, _CH_JITTER + 9)))


@numba.njit(cache=True, error_model="numpy")
def _value_noise(seed, iu, iv, cell, ch):
    """Smooth random field in [0, 1]: bilinear value noise on a lattice of ``cell`` px."""
    gx, gy = iu / cell, iv / cell
    x0, y0 = int(np.floor(gx)), int(np.floor(gy))
    fx, fy = gx - x0, gy - y0
    a = uniform(seed, x0, y0, ch + 16)
    b = uniform(seed, x0 + 1, y0, ch + 16)
    c = uniform(seed, x0, y0 + 1, ch + 16)
    d = uniform(seed, x0 + 1, y0 + 1, ch + 16)
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


@numba.njit(cache=True, error_model="numpy")
def _value_noise3(seed, iu, iv, cell, ch):
    """Three independent smooth fields in [0, 1] from one lattice (21 bits each of the
    same four hashes): a third of the cost of three :func:`_value_noise` calls."""
    gx, gy = iu / cell, iv / cell
    x0, y0 = int(np.floor(gx)), int(np.floor(gy))
    fx, fy = gx - x0, gy - y0
    w00, w10, w01, w11 = (1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy
    r0 = r1 = r2 = 0.0
    m = np.uint64(0x1FFFFF)
    for k in range(4):
        hk = _hash(seed, x0 + (k & 1), y0 + (k >> 1), ch + 16)
        wk = w00 if k == 0 else (w10 if k == 1 else (w01 if k == 2 else w11))
        r0 += wk * np.float64(hk & m)
        r1 += wk * np.float64((hk >> np.uint64(21)) & m)
        r2 += wk * np.float64((hk >> np.uint64(42)) & m)
    scale = 1.0 / 2097152.0
    return r0 * scale, r1 * scale, r2 * scale


@numba.njit(cache=True, fastmath=FAST, inline="always", error_model="numpy")
def _measure_px(zz, c, iu, iv, seed):
    """Measured depth (whole mm) of one lit pixel, or 0 for no return."""
    if zz > Z_MAX + 50.0 or zz < Z_MIN or iu < 0 or iu >= 640 or iv < 0 or iv >= 480:
        return np.float32(0.0)
    c = min(1.0, max(c, 0.0))
    if c < 0.45:
        g = (0.45 - c) / 0.4
        # clustered: a smooth random field (3 px cells) mixed with per-pixel noise
        if 0.85 * _value_noise(seed, iu, iv, 3.0, _CH_GRAZE) \
                + 0.15 * uniform(seed, iu, iv, _CH_GRAZE) < g * g:
            return np.float32(0.0)
    zm = zz * 0.001
    sig = 1.2 + 1.9 * (zm - 0.4) ** 2
    if c < 0.95:  # the incidence term is below 0.01 mm under 18 deg
        th = min(np.arccos(c), 1.4660765716752369)  # 84 deg
        sig += 0.1 / np.sqrt(zm) * th * th / ((np.pi / 2 - th) ** 2)
    fb8 = np.float32(FB * 8.0)  # float32: half the cost of the two divisions
    zn = zz + np.float32(sig * _gauss(seed, iu, iv, _CH_NOISE))
    disp = np.floor(fb8 / zn + np.float32(0.5))  # in 1/8-pixel disparity steps
    zq = np.floor(fb8 / disp + np.float32(0.5))  # then whole mm
    return zq if Z_MIN <= zq <= Z_MAX else np.float32(0.0)


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def measure_grid(z, lab, cs, ucol, vrow, step, seed, rlo, rhi, out, miss, fat_k, fat_z,
                 fat_lab, mlist, clist):
    """Measure a clean depth grid like the sensor.

    ``z`` (H, W) float32 clean depth in mm (inf = nothing), ``lab`` (H, W) uint8 and
    ``cs`` (H, W) float32 incidence cosines (all three are modified in place: labels end
    up zero where nothing is measured); ``ucol`` (W,) and ``vrow`` (H,) the integer
    full-frame pixel of each column / row, ``step`` the grid pitch in frame pixels;
    ``rlo``, ``rhi`` (H,) int the first and last column of each row that has a surface
    (see :func:`row_ranges`). Writes ``out`` (H, W) float32: measured whole mm, 0 = no
    return (``out`` must arrive zeroed). The rest are the scratch buffers of
    :func:`scratch`, reused across images (fresh pages for every frame would cost more
    than the work): they arrive and are left in their initial state, only the pixels
    listed in ``mlist`` / ``clist`` are touched.
    """
    h, w = z.shape
    kmax = max(1, int(np.ceil(EDGE_BAND[1] / step)))
    nm = 0
    nc = 0
    # projector shadow: scan each row left to right
    for y in range(h):
        maxq = -1e30
        for x in range(rlo[y], rhi[y] + 1):
            zz = z[y, x]
            if zz < np.inf:
                q = ucol[x] + np.float32(FB) / zz
                if q < maxq - 0.25:
                    miss[y, x] = 1
                    mlist[nm] = y * w + x
                    nm += 1
                elif q > maxq:
                    maxq = q
    # depth edges: rim pixels of the near side drop out; on the far side, within a ragged
    # band, pixels either drop out or read the near surface (the correlation window
    # "fattens" near objects). First the nearest near-side edge pixel of every far pixel.
    rim = min(1.0, 1.0 / step) * RIM_DROP
    for y in range(h):
        for x in range(rlo[y], rhi[y] + 1):
            zz = z[y, x]
            if not zz < np.inf:
                continue
            far = zz + 15.0 + 0.01 * zz
            if not ((x > 0 and z[y, x - 1] > far) or (x < w - 1 and z[y, x + 1] > far)
                    or (y > 0 and z[y - 1, x] > far) or (y < h - 1 and z[y + 1, x] > far)):
                continue
            if _value_noise(seed, int(ucol[x]), int(vrow[y]), 2.0, _CH_RIM) < rim \
                    and not miss[y, x]:
                miss[y, x] = 1
                mlist[nm] = y * w + x
                nm += 1
            for yy in range(max(0, y - kmax), min(h, y + kmax + 1)):
                for xx in range(max(0, x - kmax), min(w, x + kmax + 1)):
                    if z[yy, xx] > far:
                        k = max(abs(yy - y), abs(xx - x))
                        if fat_k[yy, xx] == 127:
                            clist[nc] = yy * w + xx
                            nc += 1
                        if k < fat_k[yy, xx] or (k == fat_k[yy, xx] and zz < fat_z[yy, xx]):
                            fat_k[yy, xx] = k
                            fat_z[yy, xx] = zz
                            fat_lab[yy, xx] = lab[y, x]
    for j in range(nc):
        y, x = clist[j] // w, clist[j] % w
        # three smooth fields (3 px cells): the band's width, where in it the pixel
        # falls, and whether it drops out or reads the near surface
        band, where, fat = _value_noise3(seed, int(ucol[x]), int(vrow[y]), 3.0, _CH_EDGE)
        band = EDGE_BAND[0] + (EDGE_BAND[1] - EDGE_BAND[0]) * band
        if (fat_k[y, x] - where) * step >= band:
            continue
        if fat < FAT_SHARE:
            z[y, x] = fat_z[y, x]
            lab[y, x] = fat_lab[y, x]
            cs[y, x] = 1.0
            miss[y, x] = 0
        elif not miss[y, x]:
            miss[y, x] = 1
            mlist[nm] = y * w + x
            nm += 1
    for y in range(h):
        iv = int(vrow[y])
        for x in range(rlo[y], rhi[y] + 1):
            zz = z[y, x]
            m = np.float32(0.0)
            if zz < np.inf and not miss[y, x]:
                m = _measure_px(zz, cs[y, x], int(ucol[x]), iv, seed)
            out[y, x] = m
            if m == 0.0:
                lab[y, x] = 0
    for j in range(nc):  # fattened pixels outside their row's range
        y, x = clist[j] // w, clist[j] % w
        if (x < rlo[y] or x > rhi[y]) and z[y, x] < np.inf and not miss[y, x]:
            out[y, x] = _measure_px(z[y, x], cs[y, x], int(ucol[x]), int(vrow[y]), seed)
            if out[y, x] == 0.0:
                lab[y, x] = 0
    for j in range(nm):  # leave the scratch buffers as they came
        miss[mlist[j] // w, mlist[j] % w] = 0
    for j in range(nc):
        y, x = clist[j] // w, clist[j] % w
        fat_k[y, x] = 127
        fat_z[y, x] = np.inf
        miss[y, x] = 0


@numba.njit(cache=True, error_model="numpy")
def expand_ranges(rlo, rhi, k, w):
    """Row ranges grown by ``k`` rows and columns (clipped to 0..w-1): the pixels within
    Chebyshev distance ``k`` of a surface."""
    h = rlo.shape[0]
    elo = np.empty(h, np.int64)
    ehi = np.empty(h, np.int64)
    for y in range(h):
        a, e = rlo[y], rhi[y]
        for yy in range(max(0, y - k), min(h, y + k + 1)):
            a, e = min(a, rlo[yy]), max(e, rhi[yy])
        elo[y], ehi[y] = max(0, a - k), min(w - 1, e + k)
    return elo, ehi


@numba.njit(cache=True, error_model="numpy")
def scratch(h, w):
    """Scratch buffers of :func:`measure_grid`: (miss, fat_k, fat_z, fat_lab, mlist,
    clist) in their initial state."""
    return (np.zeros((h, w), np.uint8), np.full((h, w), 127, np.int8),
            np.full((h, w), np.inf, np.float32), np.zeros((h, w), np.uint8),
            np.empty(h * w, np.int64), np.empty(h * w, np.int64))


@numba.njit(cache=True, error_model="numpy")
def row_ranges(z):
    """First and last column with a surface (z < inf) of every row: ``(rlo, rhi)`` int64
    (H,); an empty row gets ``rlo = W, rhi = -1``."""
    h, w = z.shape
    rlo = np.full(h, w, np.int64)
    rhi = np.full(h, -1, np.int64)
    for y in range(h):
        for x in range(w):
            if z[y, x] < np.inf:
                rlo[y] = x
                break
        for x in range(w - 1, rlo[y] - 1, -1):
            if z[y, x] < np.inf:
                rhi[y] = x
                break
    return rlo, rhi


def apply_sensor(depth: np.ndarray, labels: np.ndarray | None = None, seed: int = 0, *,
                 cos: np.ndarray | None = None, u0: int = 0, v0: int = 0,
                 step: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Measure a clean depth image (no lateral jitter: that acts on the rays).

    ``depth`` (H, W) mm (inf or 0 = nothing), ``labels`` (H, W) uint8, ``cos`` (H, W)
    incidence cosines (1 = facing the camera), the image's top-left at full-frame pixel
    (u0, v0), ``step`` frame pixels per image pixel. Returns uint16 depth with 2001 where
    there is no return, and the labels of the measured pixels.
    """
    z = np.asarray(depth, dtype=np.float32).copy()
    z[~(z > 0)] = np.inf
    h, w = z.shape
    lab = np.zeros((h, w), np.uint8) if labels is None else np.array(labels, np.uint8)
    cs = np.ones((h, w), np.float32) if cos is None else np.asarray(cos, np.float32)
    out = np.zeros((h, w), np.float32)
    ucol = (u0 + np.arange(w) * step).astype(np.float64)
    vrow = (v0 + np.arange(h) * step).astype(np.float64)
    rlo, rhi = row_ranges(z)
    measure_grid(z, lab, np.array(cs, np.float32), np.floor(ucol + 0.5),
                 np.floor(vrow + 0.5), float(step), np.uint64(seed), rlo, rhi, out,
                 *scratch(h, w))
    return np.where(out > 0, out, NO_RETURN).astype(np.uint16), lab
