"""Plausible hand poses: articulation within joint limits, gesture templates, viewpoints.

Articulation (20,) radians in :func:`hand_model.pose_hand` order. Half of the samples
start from a gesture template (open, fist, point, pinch, grasp, flat, spread) plus noise,
the other half are uniformly random within the limits; DIP = 2/3 PIP is always enforced.
Global orientation covers what a front-facing sensor sees: the palm towards the camera
turned by up to +-90 deg of yaw and pitch, any roll; the palm centre 500-1000 mm away.
Everything is drawn from a ``numpy.random.Generator``, so a seed reproduces a pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

D = np.pi / 180.0
# limits (deg) per long finger: mcp_flex, mcp_abd, pip_flex, dip (coupled); thumb 4
FINGER_LO = np.array([-15.0, -15.0, 0.0, 0.0])
FINGER_HI = np.array([90.0, 15.0, 110.0, 110.0 * 2 / 3])
THUMB_LO = np.array([-40.0, 0.0, 0.0, -15.0])
THUMB_HI = np.array([60.0, 70.0, 60.0, 90.0])
LO = np.concatenate([np.tile(FINGER_LO, 4), THUMB_LO]) * D
HI = np.concatenate([np.tile(FINGER_HI, 4), THUMB_HI]) * D
# abduction sign that spreads each long finger away from the middle finger
SPREAD = np.array([-1.0, 0.0, 1.0, 1.5])


def _template(mcp, pip, spread=0.0, thumb=(0.0, 0.0, 0.0, 0.0)):
    a = []
    for i in range(4):
        m = mcp[i] if np.ndim(mcp) else mcp
        p = pip[i] if np.ndim(pip) else pip
        a += [m, SPREAD[i] * spread, p, p * 2 / 3]
    return np.array(a + list(thumb)) * D


GESTURES = {
    "open": _template(5, 5, 6, (0, 10, 5, 5)),
    "spread": _template(0, 0, 13, (-20, 5, 0, 0)),
    "flat": _template(0, 0, 0, (20, 10, 5, 0)),
    "fist": _template(85, 100, 0, (30, 45, 50, 45)),
    "point": _template([0, 85, 85, 85], [0, 100, 100, 100], 0, (30, 40, 40, 30)),
    "pinch": _template([40, 15, 10, 5], [45, 15, 10, 10], 5, (40, 40, 30, 35)),
    "grasp": _template(40, 55, 5, (25, 30, 25, 30)),
}


def clamp(art: np.ndarray) -> np.ndarray:
    """Clip ``(..., 20)`` to the joint limits and re-impose DIP = 2/3 PIP."""
    a = np.clip(art, LO, HI)
    a[..., 3:16:4] = a[..., 2:16:4] * (2.0 / 3.0)
    return a


def sample_articulations(rng: np.random.Generator, n: int,
                         template_prob: float = 0.5) -> np.ndarray:
    """``(n, 20)`` articulations: templates + N(0, 10 deg) noise, or random within limits."""
    names = list(GESTURES)
    templ = np.stack([GESTURES[k] for k in names])[rng.integers(len(names), size=n)]
    templ = templ + rng.normal(0.0, 10.0 * D, (n, 20))
    uni = rng.uniform(LO, HI, (n, 20))
    # fingers move together more often than not: pull half of the random ones towards a
    # shared flexion
    shared = rng.uniform(0, 1, (n, 1))
    pull = rng.uniform(0, 1, (n, 1)) < 0.5
    mcp = 0.5 * uni[:, 0:16:4] + 0.5 * (LO[0] + shared * (HI[0] - LO[0]))
    pip = 0.5 * uni[:, 2:16:4] + 0.5 * shared * HI[2]
    uni[:, 0:16:4] = np.where(pull, mcp, uni[:, 0:16:4])
    uni[:, 2:16:4] = np.where(pull, pip, uni[:, 2:16:4])
    use_t = rng.uniform(0, 1, (n, 1)) < template_prob
    return clamp(np.where(use_t, templ, uni))


def sample_shapes(rng: np.random.Generator, n: int):
    """``(scale (n,), finger_scale (n, 5), thickness (n,))``: +-15 % hand, +-8 % fingers."""
    return rng.uniform(0.85, 1.15, n), rng.uniform(0.92, 1.08, (n, 5)), rng.uniform(0.9, 1.1, n)


def rotations(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """``(n, 3, 3)`` camera-space rotations: roll about the optical axis, then pitch (x),
    then yaw (y)."""
    n = len(yaw)
    cy, sy, cp, sp, cr, sr = (np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch),
                              np.cos(roll), np.sin(roll))
    ry = np.zeros((n, 3, 3))
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 1, 1], ry[:, 2, 0], ry[:, 2, 2] = cy, sy, 1, -sy, cy
    rx = np.zeros((n, 3, 3))
    rx[:, 0, 0], rx[:, 1, 1], rx[:, 1, 2], rx[:, 2, 1], rx[:, 2, 2] = 1, cp, -sp, sp, cp
    rz = np.zeros((n, 3, 3))
    rz[:, 0, 0], rz[:, 0, 1], rz[:, 1, 0], rz[:, 1, 1], rz[:, 2, 2] = cr, -sr, sr, cr, 1
    return ry @ rx @ rz


@dataclass(frozen=True)
class ViewRange:
    """Viewpoint distribution (degrees, mm). ``roll`` is centred on fingers-up."""

    yaw: float = 90.0
    pitch: float = 90.0
    roll: float = 180.0
    depth: tuple[float, float] = (500.0, 1000.0)


def sample_views(rng: np.random.Generator, n: int, view: ViewRange | None = None):
    """``(R (n, 3, 3), depth (n,))``: palm towards the camera, turned; palm-centre depth.

    Yaw and pitch are triangular around 0 within +-limit (frontal views are the most
    common in front of a sensor); roll is uniform.
    """
    view = view or ViewRange()
    yaw = rng.triangular(-view.yaw, 0.0, view.yaw, n) * D
    pitch = rng.triangular(-view.pitch, 0.0, view.pitch, n) * D
    roll = rng.uniform(-view.roll, view.roll, n) * D
    return rotations(yaw, pitch, roll), rng.uniform(*view.depth, n)
