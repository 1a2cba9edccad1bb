"""Network-like label noise for measuring restoration without a trained network.

A segmentation network trained on clean renders and run on real frames makes
structured mistakes, not independent pixel flips: blobs of a neighbouring part
(proximal read as middle, ring read as middle), a ragged silhouette, a few stray
pixels. :func:`corrupt_labels` imitates those three on a clean label map; the
benchmark restores such maps and compares them with the clean ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..parts import FINGER_PARTS, NUM_CLASSES

_ORDER = ("thumb", "index", "middle", "ring", "pinky")


@dataclass(frozen=True)
class LabelNoise:
    """Noise settings. ``blobs``: (min, max) confusion blobs per map, radius in
    ``radius`` px; ``drop``: probability that a silhouette pixel becomes background;
    ``grow``: probability that a background pixel touching the hand takes a hand label;
    ``salt``: fraction of hand pixels given a random part."""

    blobs: tuple[int, int] = (2, 7)
    radius: tuple[float, float] = (1.5, 4.0)
    drop: float = 0.25
    grow: float = 0.15
    salt: float = 0.02


def _confuse(pid: int, rng: np.random.Generator) -> int:
    """A plausible wrong part for ``pid``."""
    if pid == 1:
        return int(rng.choice([FINGER_PARTS[f][0] for f in _ORDER]))
    finger = next(f for f in _ORDER if pid in FINGER_PARTS[f])
    seg = FINGER_PARTS[finger]
    k = seg.index(pid)
    u = rng.random()
    if u < 0.5:  # the next or previous segment of the same finger
        return seg[int(np.clip(k + rng.choice([-1, 1]), 0, len(seg) - 1))]
    if u < 0.8:  # the same segment of an adjacent finger
        i = _ORDER.index(finger) + int(rng.choice([-1, 1]))
        other = FINGER_PARTS[_ORDER[int(np.clip(i, 0, 4))]]
        return other[min(k, len(other) - 1)]
    return 1  # palm


def corrupt_labels(labels: np.ndarray, rng: np.random.Generator | int = 0,
                   noise: LabelNoise = LabelNoise()) -> np.ndarray:
    """A noisy copy of ``labels`` ``(S, S)`` or ``(N, S, S)`` uint8."""
    rng = np.random.default_rng(rng)
    labels = np.asarray(labels, dtype=np.uint8)
    if labels.ndim == 3:
        return np.stack([corrupt_labels(m, rng, noise) for m in labels])
    out = labels.copy()
    hand = np.argwhere(labels > 0)
    if len(hand) == 0:
        return out
    h, w = labels.shape
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(rng.integers(noise.blobs[0], noise.blobs[1] + 1)):
        cy, cx = hand[rng.integers(len(hand))]
        r = rng.uniform(*noise.radius)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (out > 0)
        out[disc] = _confuse(int(labels[cy, cx]), rng)
    fg = (out > 0).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    edge = (fg > 0) & (cv2.erode(fg, kernel) == 0)
    ring = (fg == 0) & (cv2.dilate(fg, kernel) > 0)
    grown = cv2.dilate(out, kernel)  # the largest neighbouring id: some hand label
    grow = ring & (rng.random(out.shape) < noise.grow)
    out[edge & (rng.random(out.shape) < noise.drop)] = 0
    out[grow] = grown[grow]
    salt = (out > 0) & (rng.random(out.shape) < noise.salt)
    out[salt] = rng.integers(1, NUM_CLASSES, int(salt.sum()))
    return out
