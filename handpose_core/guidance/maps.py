"""Per-joint dense guidance maps of a depth crop (HandMap, ECCV 2018).

Three kinds, each ``(J, S, S)`` float32 in [0, 1] for the J joints of one ``(S, S)`` crop:

- ``"heatmap"``: the sparse baseline, ``exp(-r^2 / (2 sigma^2))`` around the joint's
  sub-pixel position over the whole crop (not masked: a heatmap says where the joint is,
  whether or not the hand is visible there).
- ``"euclidean"``: normalised 2D Euclidean distance, ``1 - r / r_max`` with ``r_max`` the
  largest distance from the joint to a hand pixel; 0 off the hand mask.
- ``"geodesic"``: distance along the hand, approximated as the seed does. The 2D
  Euclidean distance transform (EDT) of the background finds each off-mask joint's nearest
  hand pixel; fast marching (scikit-fmm) then propagates the front from the joint's pixel
  over the hand mask, background pixels being obstacles, so the path between two
  fingertips runs through the web between the fingers. ``speed="edt"`` uses the mask's
  EDT (distance to the hand's outline, clipped to ``edt_clip`` px) as the front's speed,
  the seed's Fig. 2(a) variant that draws paths to the middle of the fingers; the default
  ``speed="uniform"`` measures plain in-mask path length in pixels. The map is
  ``1 - g / g_max`` over the pixels the front reaches; 0 elsewhere (background and
  hand pixels not connected to the joint's component).

All J joints of a crop (and all crops of a batch) are marched in ONE scikit-fmm call: the
per-joint copies of the mask are laid side by side, separated by obstacle columns, so the
fronts cannot meet. A joint whose rounded pixel is not on the mask takes a fallback,
recorded per joint in :class:`Fallback` codes:

- ``ON_MASK`` (0): the joint's pixel is a hand pixel; the map is as above.
- ``SNAPPED`` (1): the nearest hand pixel is within ``snap_px`` (an occluded fingertip
  just outside a noisy outline); the geodesic front starts there. Euclidean and heatmap
  maps always use the joint's own position.
- ``EUCLIDEAN`` (2): no hand pixel within ``snap_px`` (joint far outside the mask, or
  outside the crop): the geodesic map is the normalised Euclidean map instead.
- ``EMPTY`` (3): the mask has no pixel; every masked kind is all 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import skfmm
from scipy import ndimage

from ..datasets.crop import BACKGROUND_VALUE, CropTransform
from ..errors import BadInput
from ..skeleton import joints_36_to_14

KINDS = ("heatmap", "euclidean", "geodesic")
"""The map kinds :func:`guidance_maps` computes."""

DEFAULT_SIGMA_PX = 1.5
"""Heatmap standard deviation (crop pixels)."""

DEFAULT_SNAP_PX = 3.0
"""How far (crop pixels) an off-mask joint may be moved onto the mask for the geodesic map."""

DEFAULT_EDT_CLIP_PX = 3.0
"""With ``speed="edt"``: distance to the outline (px) above which the front runs at full speed."""


_CHUNK = 8  # crops per vectorised step of guidance_maps_batch


class Fallback(IntEnum):
    """What a joint's geodesic map was computed from (see the module docstring)."""

    ON_MASK = 0
    SNAPPED = 1
    EUCLIDEAN = 2
    EMPTY = 3


@dataclass(frozen=True)
class GuidanceMaps:
    """Maps of one crop: ``maps`` (J, S, S) float32 in [0, 1]; ``fallback`` (J,) int8
    :class:`Fallback` codes; ``seeds`` (J, 2) int64 (x, y) pixel the geodesic front started
    from (-1 where none); ``kind`` the map kind."""

    kind: str
    maps: np.ndarray
    fallback: np.ndarray
    seeds: np.ndarray


def hand_mask(depth: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """``(..., S, S)`` bool: pixels with surface in the crop (depth < +1), and, where a
    segmentation ``labels`` of the same shape is given, labelled as hand (label > 0)."""
    depth = np.asarray(depth)
    mask = depth < BACKGROUND_VALUE
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != depth.shape:
            raise ValueError(f"labels shape {labels.shape} differs from depth shape {depth.shape}")
        mask &= labels > 0
    return mask


def crop_joints(joints_uvd: np.ndarray, crops: np.ndarray) -> np.ndarray:
    """Evaluation joints in crop pixels: ``joints_uvd`` (B, 36|14, 3) full-frame (u, v, d)
    and ``crops`` (B, 11) ``CropTransform.to_array()`` rows (as the stores hold them) ->
    ``(B, 14, 3)`` float64 crop x, y (px) and z in [-1, 1]."""
    joints_uvd = np.asarray(joints_uvd, dtype=np.float64)
    crops = np.asarray(crops, dtype=np.float64)
    if joints_uvd.ndim != 3 or joints_uvd.shape[2] != 3 or crops.shape != (len(joints_uvd), 11):
        raise ValueError(f"expected joints (B, 36|14, 3) and crops (B, 11), got "
                         f"{joints_uvd.shape} and {crops.shape}")
    if joints_uvd.shape[1] == 36:
        joints_uvd = joints_36_to_14(joints_uvd)
    return np.stack([CropTransform.from_array(c).frame_to_crop(j) for c, j in zip(crops, joints_uvd)])


def _check(depth, joints, mask, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate one or a batch of crops; returns depth (B,S,S), joints (B,J,2), mask (B,S,S)."""
    depth = np.asarray(depth)
    if depth.ndim != 3 or depth.shape[1] != depth.shape[2] or depth.shape[1] < 2:
        raise ValueError(f"depth crops must be (S, S) or (B, S, S) with S >= 2, got {depth.shape}")
    if not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f"depth crops must be float (normalised to [-1, 1]), got {depth.dtype}")
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[0] != depth.shape[0] or joints.shape[2] not in (2, 3):
        raise ValueError(f"joints must be (J, 2|3) per crop (crop pixels x, y[, z]) for "
                         f"{depth.shape[0]} crop(s), got {joints.shape}")
    if joints.shape[1] == 0:
        raise ValueError("joints must hold at least one joint")
    xy = joints[..., :2]
    if not np.isfinite(xy).all():
        bad = np.argwhere(~np.isfinite(xy).all(-1))[0]
        raise ValueError(f"joint {int(bad[1])} of crop {int(bad[0])} is not finite: "
                         f"{joints[bad[0], bad[1]].tolist()}")
    if mask is None:
        mask = hand_mask(depth, labels)
    else:
        mask = np.asarray(mask)
        if mask.shape != depth.shape:
            raise ValueError(f"mask shape {mask.shape} differs from depth shape {depth.shape}")
        mask = mask.astype(bool)
    return depth, xy, mask


def heatmaps(xy: np.ndarray, size: int, sigma: float = DEFAULT_SIGMA_PX) -> np.ndarray:
    """``(..., J, 2)`` joint positions (crop px) -> ``(..., J, S, S)`` float32 Gaussians,
    1 at the joint's (sub-pixel) position."""
    g = np.arange(size, dtype=np.float32)
    xy = np.asarray(xy, dtype=np.float32)
    ex = np.exp(-((g - xy[..., 0:1]) ** 2) / (2 * sigma**2))  # (..., J, S) over x
    ey = np.exp(-((g - xy[..., 1:2]) ** 2) / (2 * sigma**2))
    return (ey[..., :, None] * ex[..., None, :]).astype(np.float32)


def _normalise(dist: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``1 - d / max(d over valid)`` per map on ``valid`` pixels, 0 elsewhere. (B,J,S,S)."""
    d = np.where(valid, dist, 0.0)
    dmax = d.max(axis=(-2, -1), keepdims=True)
    out = np.where(valid, 1.0 - d / np.where(dmax > 0, dmax, 1.0), 0.0)
    return out.astype(np.float32)


def euclidean_distance(xy: np.ndarray, size: int) -> np.ndarray:
    """``(..., J, 2)`` -> ``(..., J, S, S)`` float32 2D distance (px) of each pixel to the joint."""
    g = np.arange(size, dtype=np.float32)
    xy = np.asarray(xy, dtype=np.float32)
    dx = g - xy[..., 0:1]
    dy = g - xy[..., 1:2]
    return np.sqrt(dy[..., :, None] ** 2 + dx[..., None, :] ** 2)


def _seeds(xy: np.ndarray, mask: np.ndarray, snap_px: float):
    """Start pixel and fallback code per joint: ``(B, J, 2)`` int64 (x, y), ``(B, J)`` int8."""
    b, j = xy.shape[:2]
    s = mask.shape[-1]
    seeds = np.full((b, j, 2), -1, np.int64)
    code = np.full((b, j), int(Fallback.EMPTY), np.int8)
    pix = np.rint(xy).astype(np.int64)
    inside = ((pix >= 0) & (pix < s)).all(-1)  # (B, J)
    px = pix.clip(0, s - 1)
    on = inside & mask[np.arange(b)[:, None], px[..., 1], px[..., 0]]
    seeds[on] = px[on]
    code[on] = Fallback.ON_MASK
    for i in np.nonzero((~on).any(-1))[0]:
        if not mask[i].any():
            continue
        # EDT of the background, with the nearest hand pixel of every pixel
        _, (iy, ix) = ndimage.distance_transform_edt(~mask[i], return_indices=True)
        off = ~on[i]
        near_x, near_y = ix[px[i, :, 1], px[i, :, 0]], iy[px[i, :, 1], px[i, :, 0]]
        # distance from the joint's own (possibly out-of-crop) position to that hand pixel
        gap = np.hypot(near_x - xy[i, :, 0], near_y - xy[i, :, 1])
        snap = off & (gap <= snap_px)
        code[i, snap] = Fallback.SNAPPED
        code[i, off & ~snap] = Fallback.EUCLIDEAN
        seeds[i, snap, 0] = near_x[snap]
        seeds[i, snap, 1] = near_y[snap]
    return seeds, code


def _march(mask: np.ndarray, seeds: np.ndarray, speed: str, edt_clip: float) -> np.ndarray:
    """One crop: ``mask`` (H, W) bool, ``seeds`` (n, 2) int (x, y) on the mask -> (n, H, W)
    float64 distance from each seed, ``inf`` off the reached region. The n copies of the
    mask lie side by side with an obstacle column between them: one scikit-fmm call."""
    h, wd = mask.shape
    n = len(seeds)
    rows, xs = seeds[:, 1], seeds[:, 0]
    if not _any_seed_has_a_neighbour(mask, seeds):
        # scikit-fmm finds no zero contour when no seed has a hand pixel beside it (it
        # raises): every seed alone is reached, as below
        tiles = np.full((n, h, wd), np.inf)
        tiles[np.arange(n), rows, xs] = 0.0
        return tiles
    w = wd + 1
    cols = np.arange(n)[:, None] * w + np.arange(wd)[None, :]  # (n, W) tile columns
    obstacle = np.ones((h, n * w), bool)
    obstacle[:, cols] = ~mask[:, None, :]
    phi = np.ones((h, n * w))
    phi[seeds[:, 1], seeds[:, 0] + np.arange(n) * w] = -1.0
    marr = np.ma.MaskedArray(phi, obstacle)
    rows, seed_cols = seeds[:, 1], seeds[:, 0] + np.arange(n) * w
    if speed == "uniform":
        d = skfmm.distance(marr, order=1)
        half = np.full(n, 0.5)
    else:
        edt = ndimage.distance_transform_edt(np.pad(~obstacle, 1))[1:-1, 1:-1]
        f = np.clip(edt / edt_clip, 1.0 / edt_clip, 1.0)
        d = skfmm.travel_time(marr, np.ma.MaskedArray(f, obstacle), order=1)
        half = 0.5 / f[rows, seed_cols]
    d = np.where(np.ma.getmaskarray(d), np.inf, np.abs(np.ma.getdata(d)))
    tiles = d[:, cols].transpose(1, 0, 2)  # (n, H, W)
    # the zero contour lies half a step from the seed: add the seed's half step, seed = 0
    # (a seed with no hand pixel beside it is masked by scikit-fmm: it alone is reached)
    tiles = tiles + half[:, None, None]
    tiles[:, ~mask] = np.inf
    tiles[np.arange(n), rows, seeds[:, 0]] = 0.0
    return tiles


def _any_seed_has_a_neighbour(mask: np.ndarray, seeds: np.ndarray) -> bool:
    """Whether a seed (x, y) has a mask pixel among its 4 neighbours (the marcher's)."""
    h, wd = mask.shape
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        y, x = seeds[:, 1] + dy, seeds[:, 0] + dx
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < wd)
        if mask[y[inside], x[inside]].any():
            return True
    return False


def geodesic_distance(mask: np.ndarray, seeds: np.ndarray, *, speed: str = "uniform",
                      edt_clip: float = DEFAULT_EDT_CLIP_PX) -> np.ndarray:
    """Fast-marching distance over the hand from each seed pixel.

    ``mask`` (B, S, S) bool, ``seeds`` (B, J, 2) int (x, y) hand pixels, (-1, -1) for none.
    Returns ``(B, J, S, S)`` float64: path length (px, ``speed="uniform"``) or travel
    time (``speed="edt"``: px at full speed) from the seed, 0 at the seed; ``inf`` where
    the front does not reach (background, other components, joints without a seed).
    One scikit-fmm call per crop for all its joints, on the mask's bounding box (one call
    for a whole batch is slower: the marcher's cost grows faster than the array).
    """
    return _geodesic(mask, seeds, speed, edt_clip, normalise=False)


def _geodesic(mask, seeds, speed, edt_clip, *, normalise: bool) -> np.ndarray:
    """:func:`geodesic_distance`, or with ``normalise`` the float32 maps ``1 - g / g_max``
    (0 where not reached), normalised on each crop's bounding box (cheaper than full size)."""
    if speed not in ("uniform", "edt"):
        raise ValueError(f"speed must be 'uniform' or 'edt', got {speed!r}")
    b, s = mask.shape[0], mask.shape[-1]
    out = (np.zeros if normalise else np.full)((b, seeds.shape[1], s, s), *(
        (np.float32,) if normalise else (np.inf,)))
    has = (seeds >= 0).all(-1)  # (B, J)
    for i in np.nonzero(has.any(-1))[0]:
        ys, xs = np.nonzero(mask[i])
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        js = np.nonzero(has[i])[0]
        local = seeds[i, js] - np.array([x0, y0])
        g = _march(mask[i, y0:y1, x0:x1], local, speed, edt_clip)
        if normalise:
            reached = np.isfinite(g)
            gmax = np.where(reached, g, 0.0).max(axis=(1, 2), keepdims=True)
            g = np.where(reached, 1.0 - g / np.maximum(gmax, 1e-9), 0.0)
        out[i, js, y0:y1, x0:x1] = g
    return out


def _compute(depth, joints, kind, labels, mask, sigma, snap_px, speed):
    if kind not in KINDS:
        raise BadInput(f"unknown guidance kind {kind!r}; expected one of {KINDS}")
    depth, xy, mask = _check(depth, joints, mask, labels)
    size = depth.shape[-1]
    seeds, code = _seeds(xy, mask, snap_px)
    if kind == "heatmap":
        return heatmaps(xy, size, sigma), code, seeds
    if kind == "euclidean":
        return _euclidean_maps(xy, mask), code, seeds
    geo = _geodesic(mask, seeds, speed, DEFAULT_EDT_CLIP_PX, normalise=True)
    far = code == Fallback.EUCLIDEAN
    if far.any():
        geo[far] = _euclidean_maps(xy, mask)[far]
    return geo, code, seeds


def _euclidean_maps(xy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    eu = euclidean_distance(xy, mask.shape[-1])
    return _normalise(eu, np.broadcast_to(mask[:, None], eu.shape))


def guidance_maps_batch(depth: np.ndarray, joints: np.ndarray, *, kind: str = "geodesic",
                        labels: np.ndarray | None = None, mask: np.ndarray | None = None,
                        sigma: float = DEFAULT_SIGMA_PX, snap_px: float = DEFAULT_SNAP_PX,
                        speed: str = "uniform") -> tuple[np.ndarray, np.ndarray]:
    """Maps of a batch: ``depth`` (B, S, S) float crops in [-1, 1] (+1 background),
    ``joints`` (B, J, 2|3) crop pixels (x, y[, z]), optional ``labels`` (B, S, S) part ids
    or an explicit ``mask`` (B, S, S). Returns ``(maps (B, J, S, S) float32 in [0, 1],
    fallback (B, J) int8 Fallback codes)``. Raises ValueError on bad shapes, non-float
    depth, non-finite joints or an unknown kind."""
    depth, xy, mask = _check(depth, joints, mask, None if mask is not None else labels)
    maps = np.empty((*xy.shape[:2], *depth.shape[1:]), np.float32)
    code = np.empty(xy.shape[:2], np.int8)
    for i in range(0, len(depth), _CHUNK):  # chunks stay in cache: ~2x faster than all at once
        sl = slice(i, i + _CHUNK)
        maps[sl], code[sl], _ = _compute(depth[sl], xy[sl], kind, None, mask[sl], sigma, snap_px, speed)
    return maps, code


def guidance_maps(depth: np.ndarray, joints: np.ndarray, *, kind: str = "geodesic",
                  labels: np.ndarray | None = None, mask: np.ndarray | None = None,
                  sigma: float = DEFAULT_SIGMA_PX, snap_px: float = DEFAULT_SNAP_PX,
                  speed: str = "uniform") -> GuidanceMaps:
    """Maps of one crop: ``depth`` (S, S) float in [-1, 1], ``joints`` (J, 2|3) crop pixels,
    optional ``labels`` / ``mask`` (S, S). See :func:`guidance_maps_batch`."""
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"one depth crop must be (S, S), got {depth.shape}")
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 2:
        raise ValueError(f"joints of one crop must be (J, 2|3), got {joints.shape}")

    def one(a):
        return None if a is None else np.asarray(a)[None]

    maps, code, seeds = _compute(depth[None], joints[None], kind, one(labels), one(mask),
                                 sigma, snap_px, speed)
    return GuidanceMaps(kind, maps[0], code[0], seeds[0])
