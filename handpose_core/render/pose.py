"""Plausible hand poses: articulation within joint limits, gesture templates, viewpoints.

Articulation is ``(20,)`` radians in :func:`hand_model.pose_hands` order. Half of the
samples start from a gesture template (open, spread, flat, fist, point, pinch, grasp,
victory) plus N(0, 10 deg) noise, the other half are uniformly random within the limits
(half of those pulled towards a flexion shared by all fingers, since fingers rarely move
independently); DIP = 2/3 PIP is always enforced. The viewpoint covers what a
front-facing sensor sees: the palm towards the camera turned by up to +-90 deg of yaw and
pitch (triangular densities, so frontal views are the most common), any roll; the palm
centre 500-1000 mm away. Everything is drawn from a ``numpy.random.Generator``, so a seed
reproduces a pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hand_model import rot_x, rot_y, rot_z

D = np.pi / 180.0
# limits (deg) per long finger: mcp_flex, mcp_abd, pip_flex, dip (coupled = 2/3 pip)
FINGER_LO = np.array([-15.0, -15.0, 0.0, 0.0])
FINGER_HI = np.array([90.0, 15.0, 110.0, 110.0 * 2 / 3])
# thumb: cmc_abd, cmc_flex, mcp_flex, ip_flex
THUMB_LO = np.array([-40.0, 0.0, 0.0, -15.0])
THUMB_HI = np.array([60.0, 70.0, 60.0, 90.0])
LO = np.concatenate([np.tile(FINGER_LO, 4), THUMB_LO]) * D
HI = np.concatenate([np.tile(FINGER_HI, 4), THUMB_HI]) * D
SPREAD = np.array([1.0, 0.0, -1.0, -1.5])
"""Abduction direction that spreads each long finger away from the middle finger."""


def _template(mcp, pip, spread=0.0, thumb=(0.0, 0.0, 0.0, 0.0)) -> np.ndarray:
    a = []
    for i in range(4):
        m = mcp[i] if np.ndim(mcp) else mcp
        p = pip[i] if np.ndim(pip) else pip
        a += [m, SPREAD[i] * spread, p, p * 2 / 3]
    return np.array(a + list(thumb)) * D


GESTURES: dict[str, np.ndarray] = {
    "open": _template(8, 8, 6, (15, 15, 10, 10)),
    "spread": _template(0, 0, 13, (5, 0, 0, 0)),
    "flat": _template(0, 0, 0, (0, 30, 5, 0)),
    "fist": _template(85, 100, 0, (35, 60, 30, 30)),
    "point": _template([0, 85, 85, 85], [0, 100, 100, 100], 0, (30, 55, 25, 20)),
    "pinch": _template([45, 15, 10, 5], [50, 15, 10, 10], 5, (45, 35, 15, 20)),
    "grasp": _template(40, 55, 5, (45, 25, 15, 15)),
    "victory": _template([0, 0, 85, 85], [0, 0, 100, 100], 0, (35, 60, 30, 30)),
}
"""Gesture templates (20,) radians."""
GESTURES["victory"][[1, 5]] = np.array([12.0, -8.0]) * D  # index and middle spread apart


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
    shared = rng.uniform(0, 1, (n, 1))
    pull = rng.uniform(0, 1, (n, 1)) < 0.5
    mcp = 0.5 * uni[:, 0:16:4] + 0.5 * (LO[0] + shared * (HI[0] - LO[0]))
    pip = 0.5 * uni[:, 2:16:4] + 0.5 * shared * HI[2]
    uni[:, 0:16:4] = np.where(pull, mcp, uni[:, 0:16:4])
    uni[:, 2:16:4] = np.where(pull, pip, uni[:, 2:16:4])
    use_t = rng.uniform(0, 1, (n, 1)) < template_prob
    return clamp(np.where(use_t, templ, uni))


def sample_shapes(rng: np.random.Generator, n: int):
    """``(scale (n,), finger_scale (n, 5), thickness (n,))``: +-15 % hand, +-8 % fingers,
    radii x 0.95-1.2 (NYU's fingers measure 20-25 mm across, wider than the reference)."""
    return rng.uniform(0.85, 1.15, n), rng.uniform(0.92, 1.08, (n, 5)), rng.uniform(0.95, 1.2, n)


def rotations(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """``(n, 3, 3)`` camera-space rotations of the reference hand (palm towards the camera,
    fingers up): roll about the optical axis, then pitch (about x), then yaw (about y)."""
    return rot_y(yaw) @ rot_x(pitch) @ rot_z(roll)


@dataclass(frozen=True)
class ViewRange:
    """Viewpoint distribution: yaw/pitch limits (deg, triangular around 0), roll limit (deg,
    uniform around fingers-up), palm-centre depth range (mm)."""

    yaw: float = 90.0
    pitch: float = 90.0
    roll: float = 180.0
    depth: tuple[float, float] = (500.0, 1000.0)


def sample_views(rng: np.random.Generator, n: int, view: ViewRange | None = None):
    """``(R (n, 3, 3), depth (n,))``: palm towards the camera, turned; palm-centre depth."""
    view = view or ViewRange()
    yaw = rng.triangular(-view.yaw, 0.0, view.yaw, n) * D
    pitch = rng.triangular(-view.pitch, 0.0, view.pitch, n) * D
    roll = rng.uniform(-view.roll, view.roll, n) * D
    return rotations(yaw, pitch, roll), rng.uniform(*view.depth, n)
