"""The people of the real-like side: hand proportions and poses, NYU-like and unlike the
training side's (:mod:`handpose_core.render.pose`).

:func:`sample_people` draws ``n`` hands; :func:`pose_people` poses them with
:func:`handpose_core.render.hand_model.pose_hands` (the joints the real-like frames use
as ground truth); :func:`sample_palm_pixels` draws where the palm centre lies in the
frame. Where each number comes from (docs/realism.md, "People and poses"):

- **Hand size** (``scale``): hand breadth across the knuckles drawn per person from the
  adult British survey of Pheasant (*Bodyspace*; via the City University of Hong Kong
  online anthropometry tables): men 85 +- 5 mm, women 75 +- 4 mm (50th percentile +-
  SD), half of each; ``scale`` is the breadth over the model's breadth at that
  ``thickness`` (:func:`model_breadth`).
- **Finger lengths** (``finger_scale``): the middle finger's length relative to the palm
  is calibrated on NYU's test-set ground truth (:data:`F_MIDDLE`, see
  :func:`calibrate_f_middle`); the other fingers relative to the middle one from NYU's
  PIP-to-tip medians (:data:`FINGER_RATIO`); person-to-person spread 3 % (middle) and
  2.5 % (each finger relative to the middle), an assumption of the same order as the
  finger-to-hand-length variation of Chatzioglou et al. 2024 (Anat Cell Biol 57:172).
- **Thickness**: a factor on the real-like renderer's anthropometric finger and
  knuckle breadths (``body.FINGER_WIDTH``, about 21 mm at the PIP; not on the training
  hand's radii), triangular 0.88-1.12 around 1.0: the real NYU frame's fingers are 0.65
  wrist widths wide, those breadths give 0.645 x thickness (docs/realism.md, "People and
  poses"). ``pose_hands`` (the arm rows the renderer borrows) reads it as its radius
  factor, as the training side does (0.95-1.2 there).
- **Pose and view**: each long finger's extension ratio, the thumb's, the palm's roll,
  tilt and turn (:mod:`.joint_stats`; the turn from NYU's turn quantiles among hands of
  the same tilt, since the facing angle depends on both) and the palm-centre depth are
  drawn jointly from
  a Gaussian copula fitted to NYU's test set (:mod:`.nyu_stats`: quantile tables and the
  normal-scores correlations), so the fingers curl together as NYU's do, open hands are
  as frequent, and the palm faces the sensor as often as in NYU. A finger's curl splits
  between MCP and PIP flexion at random (hooked or flat), DIP = 2/3 PIP, abduction as
  a spread shared by the hand plus per-finger noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...camera import NYU_CAMERA
from ..hand_model import FINGER_THICK, MCP, PALM_JOINTS, pose_hands
from ..pose import HI, LO
from . import joint_stats as js
from .nyu_stats import NYU

D = np.pi / 180.0
COPULA = NYU["copula"]
"""NYU's quantile tables and normal-scores correlations (derived numbers only)."""

BREADTH_MEN = (85.0, 5.0)
BREADTH_WOMEN = (75.0, 4.0)
"""Hand breadth (mm) at the metacarpal heads, 50th percentile and SD, British adults
19-65 (Pheasant, *Bodyspace*, via the CityU online anthropometry tables, item 29)."""

THICKNESS_RANGE = (0.88, 1.0, 1.12)
"""Triangular (low, mode, high) factor on the real-like renderer's anthropometric
breadths."""

KNUCKLE_HALF_BREADTH = 10.8
"""Half-breadth (mm) of the index knuckle at the MCP at scale 1 and thickness 1, as the
real-like renderer draws it (``body.META_RADII[1]``; the pinky's x FINGER_THICK)."""

_NYU_ALL = NYU["all"]["stats"]
FINGER_RATIO = np.array([
    _NYU_ALL["pip_tip_index"]["p50"] / _NYU_ALL["pip_tip_middle"]["p50"] / (38.0 / 40.0),
    1.0,
    _NYU_ALL["pip_tip_ring"]["p50"] / _NYU_ALL["pip_tip_middle"]["p50"] / (38.0 / 40.0),
    _NYU_ALL["pip_tip_pinky"]["p50"] / _NYU_ALL["pip_tip_middle"]["p50"] / (30.0 / 40.0),
])
"""Index, middle, ring, pinky length factors relative to the middle finger's: NYU's
PIP-to-tip medians over the reference model's middle + distal phalanx lengths."""

F_MIDDLE = 1.16
"""Median middle-finger length factor (relative to the reference model and the hand's
scale). NYU's annotated skeleton has longer fingers for its palm than the reference
sphere-mesh hand: :func:`calibrate_f_middle` gives the factor at which the sampled
people's palm-to-middle-tip and middle PIP-to-tip medians are, relative to NYU's, off by
the same amount in opposite directions (the model cannot match both: its palm centre
sits closer to the wrist than NYU's PALM_3). Set from a run of that function
(docs/realism.md)."""

THUMB_FACTOR = 1.35
"""Thumb length factor relative to ``scale`` (all three thumb bones): between what NYU's
thumb root-to-tip median asks (58 mm over the model's 40 mm proximal + distal phalanx:
1.48 at the median scale) and what its IP-to-tip median asks (19.5 over 16 mm: 1.24);
the model's proximal : distal ratio (1.5) is shorter than NYU's (2.0)."""

SPREAD_DEG = 7.0
"""SD of the hand's shared finger spread (deg); each finger adds N(0, 4 deg)."""


@dataclass(frozen=True)
class People:
    """``n`` hands of the real-like side.

    ``articulation`` (n, 20) radians in :func:`pose_hands` order, ``scale`` (n,),
    ``finger_scale`` (n, 5) index, middle, ring, pinky, thumb, ``thickness`` (n,),
    ``rotation`` (n, 3, 3) with camera = R @ hand + t, ``depth`` (n,) palm-centre depth
    in mm."""

    articulation: np.ndarray
    scale: np.ndarray
    finger_scale: np.ndarray
    thickness: np.ndarray
    rotation: np.ndarray
    depth: np.ndarray

    def __len__(self) -> int:
        return int(self.scale.shape[0])


def model_breadth(scale, thickness) -> np.ndarray:
    """Hand breadth (mm) across the index and pinky MCP knuckles: the skeleton's MCP span
    plus the real-like renderer's knuckle half-breadths."""
    r = KNUCKLE_HALF_BREADTH * (FINGER_THICK[0] + FINGER_THICK[3])
    return np.asarray(scale) * (MCP[0, 0] - MCP[3, 0] + r * np.asarray(thickness))


def _inverse_cdf(name: str, u: np.ndarray) -> np.ndarray:
    """NYU's quantile function of statistic ``name`` at probabilities ``u`` (0..1),
    piecewise linear through the shipped percentiles, flat beyond the outer ones."""
    levels = np.asarray(COPULA["levels"]) / 100.0
    q = np.asarray(COPULA["quantiles"][name])
    return np.interp(u, levels, q)


def _turn_given_tilt(tilt_deg: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The turn (deg) at probability ``u`` of NYU's turn quantiles among hands of the
    same tilt range (the facing angle depends on both; ``turn_given_tilt`` tables)."""
    tab = COPULA["turn_given_tilt"]
    edges, qs = np.asarray(tab["edges"]), np.asarray(tab["quantiles"])
    b = np.clip(np.searchsorted(edges, tilt_deg, side="right") - 1, 0, len(qs) - 1)
    levels = np.asarray(COPULA["levels"]) / 100.0
    out = np.empty(len(u))
    for k in range(len(qs)):
        sel = b == k
        out[sel] = np.interp(u[sel], levels, qs[k])
    return out


def _copula_uniforms(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Correlated uniforms (0..1), one per copula variable (NYU's normal-scores
    correlation matrix)."""
    from scipy.stats import norm

    c = np.asarray(COPULA["corr"])
    w, v = np.linalg.eigh(c)
    L = v * np.sqrt(np.clip(w, 1e-9, None))  # c = L L^T, also if c is barely non-PSD
    z = rng.standard_normal((n, len(c))) @ L.T
    u = norm.cdf(z)
    return {k: u[:, i] for i, k in enumerate(COPULA["names"])}


CURL_GRID = np.linspace(0.0, 1.0, 101)


def _curl_articulation(curl: np.ndarray, hook: np.ndarray | float = 0.0) -> tuple:
    """(mcp, pip, dip) radians of a long finger at ``curl`` 0..1; ``hook`` in -1..1 moves
    flexion from the MCP (flat grasp, -1) to the PIP (hook, +1)."""
    curl = np.asarray(curl, dtype=np.float64)
    mcp = curl * np.clip(85.0 * (1.0 - 0.4 * np.asarray(hook)), 0.0, 90.0) * D
    pip = curl * np.clip(100.0 * (1.0 + 0.3 * np.asarray(hook)), 0.0, 110.0) * D
    return mcp, pip, pip * (2.0 / 3.0)


@lru_cache(maxsize=1)
def _ext_tables() -> np.ndarray:
    """``(5, len(CURL_GRID))`` extension ratio of index, middle, ring, pinky, thumb of the
    median person at each curl (monotone decreasing), relative to the straight finger."""
    m = len(CURL_GRID)
    art = np.zeros((m, 20))
    for i in range(4):
        mcp, pip, dip = _curl_articulation(CURL_GRID)
        art[:, 4 * i], art[:, 4 * i + 2], art[:, 4 * i + 3] = mcp, pip, dip
    art[:, 16:20] = _thumb_articulation(CURL_GRID, np.full(m, 0.5), np.full(m, 0.5))
    fs = np.tile(np.r_[FINGER_RATIO * F_MIDDLE, THUMB_FACTOR], (m, 1))
    j, _ = pose_hands(art, np.ones(m), fs, np.ones(m), np.broadcast_to(np.eye(3), (m, 3, 3)),
                      np.tile([0.0, 0.0, 600.0], (m, 1)))
    st = js.per_hand(js.from_36(j))
    tab = np.stack([st[f"ext_{f}"] for f in ("index", "middle", "ring", "pinky", "thumb")])
    tab = np.minimum.accumulate(tab / tab[:, :1], axis=1)  # relative, forced monotone
    return tab


def _thumb_articulation(curl, abd_u, flex_u) -> np.ndarray:
    """``(n, 4)`` thumb angles: CMC abduction and flexion from uniforms ``abd_u``,
    ``flex_u`` over -10..40 and 0..25 deg (NYU's thumb root stays 53-73 mm from the palm
    centre, 10th-90th percentile: it rarely crosses the palm), MCP and IP flexion from
    ``curl`` 0..1."""
    curl = np.asarray(curl, dtype=np.float64)
    return np.stack([(-10.0 + 50.0 * np.asarray(abd_u)) * D, 25.0 * np.asarray(flex_u) * D,
                     curl * 60.0 * D, curl * 80.0 * D], axis=-1)


def _curl_from_ext(k: int, rel_ext: np.ndarray) -> np.ndarray:
    """Invert finger ``k``'s relative extension table: the curl that gives ``rel_ext``."""
    tab = _ext_tables()[k]
    # np.interp needs increasing x: the table decreases with curl
    return np.interp(rel_ext, tab[::-1], CURL_GRID[::-1])


def _orientation(roll: np.ndarray, tilt: np.ndarray, turn: np.ndarray) -> np.ndarray:
    """``(n, 3, 3)`` rotations whose wrist -> palm axis has image direction ``roll`` and
    out-of-plane angle ``tilt``, turned about that axis by ``turn`` (radians; the
    definitions of :mod:`.joint_stats`)."""
    a = np.stack([np.sin(roll) * np.cos(tilt), np.cos(roll) * np.cos(tilt), np.sin(tilt)], -1)
    e1 = np.array([0.0, 0.0, 1.0]) - a[:, 2:3] * a
    e1 /= np.linalg.norm(e1, axis=-1, keepdims=True)
    e2 = np.cross(a, e1)
    nrm = np.cos(turn)[:, None] * e1 + np.sin(turn)[:, None] * e2
    x = np.cross(a, nrm)
    return np.stack([x, a, nrm], axis=-1)  # columns: hand x, y, z in camera space


def sample_people(rng: np.random.Generator, n: int, *, f_middle: float = F_MIDDLE) -> People:
    """Draw ``n`` hands (see the module docstring for every distribution's source);
    ``f_middle`` overrides :data:`F_MIDDLE` (calibration only)."""
    if n < 0:
        raise ValueError(f"people count must be >= 0, got {n}")
    thickness = rng.triangular(*THICKNESS_RANGE, n)
    men = rng.uniform(0.0, 1.0, n) < 0.5
    breadth = np.where(men, rng.normal(*BREADTH_MEN, n), rng.normal(*BREADTH_WOMEN, n))
    scale = breadth / model_breadth(1.0, thickness)
    f_mid = f_middle * np.exp(rng.normal(0.0, 0.03, n))
    finger_scale = np.empty((n, 5))
    finger_scale[:, :4] = f_mid[:, None] * FINGER_RATIO * np.exp(rng.normal(0.0, 0.025, (n, 4)))
    finger_scale[:, 1] = f_mid
    finger_scale[:, 4] = THUMB_FACTOR * np.exp(rng.normal(0.0, 0.04, n))

    u = _copula_uniforms(rng, n)
    art = np.zeros((n, 20))
    spread = rng.normal(0.0, SPREAD_DEG, n)
    spread_dir = np.array([1.0, 0.0, -1.0, -1.5])
    for k, f in enumerate(("index", "middle", "ring", "pinky")):
        q = _inverse_cdf(f"ext_{f}", u[f"ext_{f}"])
        rel = q / COPULA["quantiles"][f"ext_{f}"][-1]
        curl = _curl_from_ext(k, np.clip(rel, 0.0, 1.0))
        hook = rng.uniform(-1.0, 1.0, n)
        mcp, pip, dip = _curl_articulation(curl, hook)
        art[:, 4 * k], art[:, 4 * k + 2], art[:, 4 * k + 3] = mcp, pip, dip
        art[:, 4 * k + 1] = (spread * spread_dir[k] + rng.normal(0.0, 4.0, n)) * D
    qt = _inverse_cdf("ext_thumb", u["ext_thumb"])
    t_curl = np.interp(np.clip(qt / COPULA["quantiles"]["ext_thumb"][-1], 0, 1),
                       _ext_tables()[4][::-1], CURL_GRID[::-1])
    art[:, 16:20] = _thumb_articulation(t_curl, rng.uniform(0, 1, n), rng.uniform(0, 1, n))
    art = np.clip(art, LO, HI)

    tilt = _inverse_cdf("tilt_deg", u["tilt_deg"])
    R = _orientation(_inverse_cdf("roll_deg", u["roll_deg"]) * D, tilt * D,
                     _turn_given_tilt(tilt, u["turn_deg"]) * D)
    depth = _inverse_cdf("depth", u["depth"])
    return People(art, scale, finger_scale, thickness, R, depth)


def sample_palm_pixels(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(u, v)`` (n,) palm-centre pixels drawn from NYU's test-set marginals (the
    copula's ``u`` and ``v`` tables; independent of the pose)."""
    return (_inverse_cdf("u", rng.uniform(0, 1, n)), _inverse_cdf("v", rng.uniform(0, 1, n)))


def pose_people(people: People, u: np.ndarray | None = None, v: np.ndarray | None = None,
                **arm) -> tuple[np.ndarray, np.ndarray]:
    """Pose ``people`` with :func:`pose_hands`, the palm centre (PALM_3) at pixel
    ``(u, v)`` (default: the image centre) and ``people.depth``; ``arm`` passes
    ``forearm_dir`` / ``shoulder`` on. Returns ``(joints (n, 36, 3), prims)``."""
    n = len(people)
    cam = NYU_CAMERA
    u = np.full(n, cam.cx) if u is None else np.asarray(u, dtype=np.float64)
    v = np.full(n, cam.cy) if v is None else np.asarray(v, dtype=np.float64)
    palm = cam.uvd_to_xyz(np.stack([u, v, people.depth], axis=1))
    t = palm - np.einsum("nij,nj->ni", people.rotation, PALM_JOINTS[2][None] * people.scale[:, None])
    return pose_hands(people.articulation, people.scale, people.finger_scale, people.thickness,
                      people.rotation, t, **arm)


def calibrate_f_middle(n: int = 4000, seed: int = 0, grid=(1.0, 1.1, 1.2)) -> dict:
    """The middle-finger factor at which the sampled people's palm-to-middle-tip and
    middle PIP-to-tip medians are off NYU's by equal and opposite relative amounts
    (people drawn with the same seed at each ``grid`` value, the balance point
    interpolated linearly), with the two relative errors at each grid value."""
    rows = []
    for f in grid:
        ppl = sample_people(np.random.default_rng(seed), n, f_middle=f)
        st = js.per_hand(js.from_36(pose_people(ppl)[0]))
        a = np.median(st["palm_tip_middle"]) / _NYU_ALL["palm_tip_middle"]["p50"] - 1.0
        b = np.median(st["pip_tip_middle"]) / _NYU_ALL["pip_tip_middle"]["p50"] - 1.0
        rows.append((float(f), float(a), float(b)))
    g = np.array(rows)
    bal = g[:, 1] + g[:, 2]  # zero where the errors are equal and opposite
    f_best = float(np.interp(0.0, bal, g[:, 0])) if np.all(np.diff(bal) > 0) else float("nan")
    return {"f_middle": f_best, "grid": rows}


def report(n: int = 2000, seed: int = 0) -> str:
    """A table of the sampled people's joint statistics next to NYU's (p10 / p50 / p90),
    the open-finger fractions and issue 22's check (docs/realism.md)."""
    st = js.per_hand(js.from_36(pose_people(sample_people(np.random.default_rng(seed), n))[0]))
    ours = js.summarise(st, (10, 50, 90))
    lines = [f"{n} people (seed {seed}) posed by pose_hands vs NYU's test set (8252 frames)",
             f"{'statistic':<18} {'people p10 / p50 / p90':>26}   {'NYU p10 / p50 / p90':>26}"]
    for k, o in ours.items():
        if k in ("u", "v"):
            continue
        ny = _NYU_ALL[k]
        lines.append(f"{k:<18} {o['p10']:>8} {o['p50']:>8} {o['p90']:>8}   "
                     f"{ny['p10']:>8} {ny['p50']:>8} {ny['p90']:>8}")
    lines.append(f"open fractions: people {js.open_fraction(st)}")
    lines.append(f"                NYU    {NYU['all']['open_fraction']}")
    lines.append(f"issue 22 check: {js.nyu_acceptance(st)}")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    if "--calibrate" in sys.argv:
        print(calibrate_f_middle())
    print(report())
