"""Who is in front of the sensor on the real-like side: pose, hand shape and view per hand.

This module holds :class:`People` and :func:`sample_people` only; the geometry code
(:mod:`.body`, :mod:`.scene`) reads nothing but the fields of :class:`People`, so the
sampler can be replaced (e.g. by one calibrated on NYU's published joint positions)
without touching the surface, the labels or the clutter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..pose import sample_articulations, sample_shapes, sample_views


@dataclass(frozen=True)
class People:  # n hands of the real-like side
    articulation: np.ndarray  # (n, 20) radians, pose_hands order
    scale: np.ndarray         # (n,)
    finger_scale: np.ndarray  # (n, 5) index, middle, ring, pinky, thumb
    thickness: np.ndarray     # (n,)
    rotation: np.ndarray      # (n, 3, 3) camera = R @ hand + t
    depth: np.ndarray         # (n,) palm-centre depth, mm


def sample_people(rng: np.random.Generator, n: int) -> People:
    """``n`` hands: first version, the training side's samplers (gesture templates and
    uniform articulations, +-15 % hand scale, +-8 % fingers) with the recorded view
    (:data:`..store.RECORDED_VIEW`: yaw 60, pitch 50, roll 60 deg, palm 550-950 mm
    away); ``thickness`` 0.88-1.12 multiplies the real-like side's anthropometric
    finger breadths (``body.FINGER_WIDTH``). Same generator state -> same people."""
    from ..store import RECORDED_VIEW

    if n < 0:
        raise ValueError(f"people count must be >= 0, got {n}")
    art = sample_articulations(rng, n)
    scale, finger_scale, _ = sample_shapes(rng, n)
    thickness = rng.uniform(0.88, 1.12, n)
    R, depth = sample_views(rng, n, RECORDED_VIEW)
    return People(art, scale, finger_scale, thickness, R, depth)
