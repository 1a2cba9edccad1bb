"""A per-(pixel, part) prior from the 14 annotated joints of a frame (the weak labels).

The paper's quality check already relies on each real frame's 14 evaluation joints. The
same joints say where each part must lie: every part gets a segment of the hand's
skeleton (built from the 14 joints alone) and each pixel a log-score
``-max(0, d - r)^2 / (2 sigma^2)`` from its image distance ``d`` to that segment
(``r`` the part's half-width). Segments, in crop pixels (x = column, y = row):

* fingers (tip T, PIP joint P, palm centre C): knuckle ``C + k0 (P - C)`` to
  ``C + k1 (P - C)``; proximal from there to P; middle P to ``P + m (T - P)``; distal
  from there to T;
* thumb (root R, IP joint I, tip T, W the wrist side nearer to R): metacarpal R to
  ``R + w (W - R)``; proximal R to ``R + i (I - R)``; distal from there to T;
* palm: C to the middle of the two wrist joints, half-width ``palm_r``.

The fractions were read off the demo's labelled train frames (the median extent of each
part along its finger, docs/restoration.md); the prior is used by the ``joint-prior``
restoration (:func:`combine`), never on its own except as the "joints only" baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..parts import NUM_CLASSES

# 14-joint indices (handpose_core.skeleton.EVAL_NAMES)
_FINGERS = ((0, 1, (17, 18, 19, 20)), (2, 3, (13, 14, 15, 16)), (4, 5, (9, 10, 11, 12)),
            (6, 7, (5, 6, 7, 8)))  # (tip, PIP, parts knuckle..distal): pinky, ring, middle, index
_THUMB_TIP, _THUMB_IP, _THUMB_ROOT, _WRIST1, _WRIST2, _PALM = 8, 9, 10, 11, 12, 13


@dataclass(frozen=True)
class PriorParams:
    """Shape of the joint prior (crop pixels of a 48-pixel crop; scaled by size / 48)."""

    sigma: float = 2.0
    knuckle: tuple[float, float] = (0.15, 0.45)
    middle: float = 0.45
    thumb_ip: float = 0.9
    thumb_wrist: float = 0.8
    palm_r: float = 2.5
    knuckle_r: float = 1.5
    finger_r: float = 0.5


def part_segments(joints_xy: np.ndarray, params: PriorParams = PriorParams()
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(segments (21, 2, D), half_widths (21,))``: the skeleton segment (two end
    points) of each part from ``joints_xy`` ``(14, D)`` crop coordinates (x, y first;
    D = 2, or 3 with z); row 0 (background) is unused (zeros)."""
    j = np.asarray(joints_xy, dtype=np.float64)
    if j.ndim != 2 or j.shape[0] != 14 or j.shape[1] < 2 or not np.isfinite(j).all():
        raise ValueError(f"joint prior needs 14 finite joints (x, y[, z]), got {j.shape}")
    seg = np.zeros((NUM_CLASSES, 2, j.shape[1]))
    rad = np.zeros(NUM_CLASSES)
    c = j[_PALM]
    k0, k1 = params.knuckle
    for tip, pip, (kn, pr, mi, di) in _FINGERS:
        p, t = j[pip], j[tip]
        a, b = c + k0 * (p - c), c + k1 * (p - c)
        m = p + params.middle * (t - p)
        seg[kn], seg[pr], seg[mi], seg[di] = (a, b), (b, p), (p, m), (m, t)
        rad[kn] = params.knuckle_r
        rad[[pr, mi, di]] = params.finger_r
    r, i, t = j[_THUMB_ROOT], j[_THUMB_IP], j[_THUMB_TIP]
    w = min((j[_WRIST1], j[_WRIST2]), key=lambda q: float(np.hypot(*(q - r)[:2])))
    ip = r + params.thumb_ip * (i - r)
    seg[2], seg[3], seg[4] = (r, r + params.thumb_wrist * (w - r)), (r, ip), (ip, t)
    rad[2:5] = params.finger_r
    seg[1] = (c, (j[_WRIST1] + j[_WRIST2]) / 2)
    rad[1] = params.palm_r
    return seg, rad


def segment_distance(points: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Distance of ``points`` ``(..., D)`` to each segment ``(K, 2, D)``: ``(..., K)``."""
    a, b = seg[:, 0], seg[:, 1]
    ab = b - a
    l2 = np.maximum((ab ** 2).sum(-1), 1e-9)
    p = np.asarray(points, dtype=np.float64)[..., None, :]
    t = np.clip(((p - a) * ab).sum(-1) / l2, 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def part_distances(joints_crop: np.ndarray, size: int, params: PriorParams = PriorParams(),
                   depth: np.ndarray | None = None, depth_scale: float = 0.0) -> np.ndarray:
    """``(size, size, 20)`` distance of each pixel to each hand part's segment (parts
    1..20), less the part's half-width (0 inside it), in pixels of a 48-pixel crop.
    ``joints_crop`` ``(14, >=2)``: the 14 joints in crop coordinates (x = column,
    y = row, z in cube units, as
    :meth:`~handpose_core.datasets.crop.CropTransform.frame_to_crop` gives). With
    ``depth`` (the crop's normalised depth, ``(size, size)``) and ``depth_scale`` > 0
    the distance is 3D where the pixel has depth: the crop's z (cube units) times
    ``depth_scale * size / 2`` is a third coordinate (1: metric, the cube is as deep as
    it is wide), the segments' z interpolated between their joints' z."""
    s = size / 48.0
    j = np.asarray(joints_crop, dtype=np.float64)
    use_z = depth is not None and depth_scale > 0
    if use_z and (j.ndim != 2 or j.shape[1] < 3):
        raise ValueError(f"a 3D joint prior needs joints with z (14, 3), got {j.shape}")
    seg, rad = part_segments(j[:, :3] if use_z else j[:, :2], params)
    yy, xx = np.mgrid[0:size, 0:size]
    pts = np.stack([xx, yy], -1).astype(np.float64)
    if use_z:
        dep = np.asarray(depth, dtype=np.float64)
        if dep.shape != (size, size):
            raise ValueError(f"depth crop {dep.shape} is not ({size}, {size})")
        zs = depth_scale * size / 2.0
        seg = seg.copy()
        seg[..., 2] *= zs
        has = dep < 1.0
        d2 = segment_distance(pts, seg[1:, :, :2])
        d3 = segment_distance(np.concatenate([pts, (np.where(has, dep, 0) * zs)[..., None]], -1),
                              seg[1:])
        d = np.where(has[..., None], d3, d2) / s
    else:
        d = segment_distance(pts, seg[1:]) / s
    return np.maximum(0.0, d - rad[1:])


def log_prior_from_distances(dist: np.ndarray, params: PriorParams = PriorParams()
                             ) -> np.ndarray:
    """``(S, S, 21)`` float32 log-prior ``-d^2 / (2 sigma^2)`` from
    :func:`part_distances`; column 0 (background) is 0."""
    out = np.zeros((*dist.shape[:2], NUM_CLASSES), np.float32)
    out[..., 1:] = -(dist ** 2) / (2.0 * params.sigma ** 2)
    return out


def joint_log_prior(joints_crop: np.ndarray, size: int,
                    params: PriorParams = PriorParams(), depth: np.ndarray | None = None,
                    depth_scale: float = 0.0) -> np.ndarray:
    """``(size, size, 21)`` float32 log-prior of each part at each pixel from the 14
    joints in crop coordinates (arguments as :func:`part_distances`); column 0
    (background) is 0."""
    return log_prior_from_distances(part_distances(joints_crop, size, params, depth,
                                                   depth_scale), params)


def joint_silhouette(hand: np.ndarray, depth: np.ndarray, dist: np.ndarray, *,
                     grow: float, cut: float) -> np.ndarray:
    """The hand mask ``(S, S)`` bool the joints allow: the predicted ``hand`` plus
    pixels with depth within ``grow`` of some part's segment (``dist`` from
    :func:`part_distances`, 3D), less hand pixels farther than ``cut`` from every part
    (clutter or sleeve f_s called hand). ``grow`` 0 adds nothing; ``cut`` <= 0 removes
    nothing."""
    near = np.asarray(dist).min(axis=2)
    out = np.asarray(hand, dtype=bool).copy()
    if grow > 0:
        out |= (np.asarray(depth) < 1.0) & (near <= grow)
    if cut > 0:
        out &= near <= cut
    return out


DEFAULT_PARAMS = PriorParams(sigma=1.5)
DEFAULT_WEIGHT = 4.0
"""Weight of the joint log-prior against the log of the integration vote shares."""
DEFAULT_EPS = 0.5
"""Floor added to each label's vote share before the log: a part no patch voted for is
still reachable when the joints insist (0 would forbid it)."""
DEFAULT_DEPTH_SCALE = 1.0
"""3D distance to the skeleton where the pixel has depth (metric: 1)."""
DEFAULT_GROW = 1.5
"""Pixels with depth this close (48-pixel crop pixels, beyond a part's half-width) to the
skeleton join the hand though f_s called them background."""
DEFAULT_CUT = 6.0
"""Predicted hand pixels farther than this from every part are background (clutter)."""
# (sigma, weight, eps, depth scale) chosen on the first 300 labelled train frames of the
# demo (docs/restoration.md, "Joint prior"); every combination tried is listed there.


def crop_joints(joints14_uvd: np.ndarray, tf) -> np.ndarray:
    """The 14 evaluation joints (full-frame u, v px, d mm) in crop coordinates ``(14, 3)``
    (x = column, y = row, z in cube units) of the crop transform ``tf``."""
    j = np.asarray(joints14_uvd, dtype=np.float64)
    if j.shape != (14, 3) or not np.isfinite(j).all():
        raise ValueError(f"joint prior needs 14 finite (u, v, d) joints, got {j.shape}")
    return tf.frame_to_crop(j)


JOINTS_ONLY_ROW = "joints only (joint prior alone, no f_s, no patches)"
"""The row name of :func:`joints_only_map` in ``evaluate --what restoration``'s Table 2."""


def joints_only_map(joints14_uvd: np.ndarray, tf, depth_crop: np.ndarray) -> np.ndarray:
    """What a frame's 14 joints give by themselves, with the restore stage's defaults
    (no f_s, no dictionary): the part of highest prior on every pixel with depth within
    the default cut of the skeleton (the joints' own silhouette), 0 elsewhere; ``(S, S)``
    uint8 for the crop transform ``tf``. The baseline the joint-prior row is read against
    (``evaluate --what restoration`` and the studio's Evaluation tab)."""
    dist = part_distances(crop_joints(joints14_uvd, tf), tf.size, DEFAULT_PARAMS, depth_crop,
                          DEFAULT_DEPTH_SCALE)
    return joints_only_from(dist, log_prior_from_distances(dist, DEFAULT_PARAMS), depth_crop)


def joints_only_from(dist: np.ndarray, log_prior: np.ndarray, depth_crop: np.ndarray
                     ) -> np.ndarray:
    """:func:`joints_only_map` from a frame's part distances and log-prior already
    computed (``(S, S, NUM_CLASSES)`` each, default settings)."""
    own = joint_silhouette(np.zeros(dist.shape[:2], bool), depth_crop, dist,
                           grow=DEFAULT_CUT, cut=0)
    return np.where(own, np.argmax(log_prior[..., 1:], axis=2) + 1, 0).astype(np.uint8)


def frame_prior(joints14_uvd: np.ndarray, tf, depth_crop: np.ndarray, hand: np.ndarray, *,
                params: PriorParams = DEFAULT_PARAMS, depth_scale: float = DEFAULT_DEPTH_SCALE,
                grow: float = DEFAULT_GROW, cut: float = DEFAULT_CUT
                ) -> tuple[np.ndarray, np.ndarray]:
    """One frame's ``(log_prior (S, S, 21) float32, silhouette (S, S) bool)`` from its
    full-frame joints ``(14, 3)``, crop transform, normalised depth crop and predicted
    hand mask (:func:`joint_log_prior`, :func:`joint_silhouette`)."""
    dist = part_distances(crop_joints(joints14_uvd, tf), tf.size, params, depth=depth_crop,
                          depth_scale=depth_scale)
    return (log_prior_from_distances(dist, params),
            joint_silhouette(hand, depth_crop, dist, grow=grow, cut=cut))


def combine(raw: np.ndarray, counts: np.ndarray, log_prior: np.ndarray, mask: np.ndarray, *,
            raw_weight: float = 0.0, weight: float = DEFAULT_WEIGHT, eps: float = DEFAULT_EPS,
            silhouette: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integration votes and the joint prior, log-linearly: at each pixel of ``mask``
    the hand part maximising ``log(share + eps) + weight * log_prior``, where ``share``
    is the part's share of the counted votes with the raw label's prior
    (``raw_weight`` times the votes, as :func:`..restore.decide`; a pixel without votes
    has only its raw label's share). Background is never chosen inside the hand: the
    predicted silhouette (``raw > 0``) is kept, or ``silhouette`` ``(S, S)`` bool
    replaces it (:func:`joint_silhouette`: pixels outside it become background, pixels
    inside it that f_s called background get a part; ``mask`` is then ignored). Returns
    ``(labels uint8, confidence float32, votes int32)`` as :func:`..restore.decide`;
    confidence is the winner's share of the votes."""
    raw = np.asarray(raw)
    c = np.asarray(counts, dtype=np.float32).copy()
    c[..., 0] = 0
    total = c.sum(axis=2)
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[raw.astype(np.int64)]
    q = c + (raw_weight * total + 0.5)[..., None] * onehot
    q /= np.maximum(q.sum(axis=2, keepdims=True), 1e-9)
    score = np.log(q + eps) + weight * np.asarray(log_prior, dtype=np.float32)
    win = (np.argmax(score[..., 1:], axis=2) + 1).astype(np.uint8)
    if silhouette is not None:
        mask = np.asarray(silhouette, dtype=bool)
        labels = np.where(mask, win, 0).astype(np.uint8)
    else:
        mask = np.asarray(mask, dtype=bool) & (raw > 0)
        labels = np.where(mask, win, raw).astype(np.uint8)
    best = np.take_along_axis(c, win[..., None].astype(np.int64), 2)[..., 0]
    conf = np.where(mask & (total > 0), best / np.maximum(total, 1e-9), 0).astype(np.float32)
    return labels, conf, total.astype(np.int32)
