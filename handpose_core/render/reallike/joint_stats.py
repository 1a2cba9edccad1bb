"""Statistics of 14-joint hand poses (NYU evaluation order), computed the same way on
NYU's published test-set ground truth, on a project's frames and on sampled people.

Input: ``xyz`` ``(N, 14, 3)`` camera-space mm (y up, z = depth), joints in the order of
:data:`handpose_core.skeleton.EVAL_NAMES`. :func:`per_hand` gives named ``(N,)`` arrays;
:func:`summarise` turns them into percentiles. Definitions (all distances mm):

- ``palm_tip_<f>``: palm centre (PALM_3) to the fingertip of finger f;
- ``pip_tip_<f>`` / ``pip_palm_<f>``: PIP to tip / PIP to palm centre (long fingers);
  for the thumb ``ip_tip_thumb``, ``root_ip_thumb``, ``root_tip_thumb``;
- ``ext_<f>``: extension ratio ``|tip - palm| / (|tip - PIP| + |PIP - palm|)`` (1: the
  finger straight out of the palm centre; it drops as the finger curls); for the thumb
  ``|tip - root| / (|tip - IP| + |IP - root|)``;
- ``wrist_width``: PALM_1 to PALM_2; ``wrist_palm``: wrist midpoint to palm centre;
- ``facing_deg``: angle between the back-of-hand normal ``(W2 - W1) x (C - wrist mid)``
  (W2 on the thumb side, a right hand) and the camera's +z axis: 0 the palm faces the
  camera, 90 the hand is seen edge-on, 180 its back faces the camera;
- ``turn_deg``: signed turn of the hand about its own wrist -> palm axis, 0 when the
  palm faces the camera as squarely as that axis allows, -180 when the back does
  (positive: the thumb side turns towards the camera), in -270..90 so that NYU's hands
  (mostly -180..0) have no cut; with ``roll_deg`` and
  ``tilt_deg`` it fixes the palm's orientation;
- ``normal_azimuth_deg``: the direction of that normal's image-plane component, 0..360
  (0 = towards +x, the image's right; 90 = up; NYU's cluster around 180, so the cut at
  0 / 360 splits few hands); ``axis_angle_deg``: the wrist -> palm axis's
  angle about the normal from the image's "up" projected onto the palm plane (with
  ``facing_deg`` these three fix the orientation, without constraints between them);
- ``roll_deg``: image-plane direction of wrist mid -> palm centre, 0 = fingers up,
  positive towards the image's right; ``tilt_deg``: that axis's angle out of the image
  plane (positive = the fingers point away from the camera);
- ``depth``: palm-centre z; ``u``, ``v``: palm-centre pixel (NYU camera).
"""

from __future__ import annotations

import numpy as np

from ...camera import NYU_CAMERA
from ...skeleton import EVAL_INDICES

FINGERS = ("pinky", "ring", "middle", "index")
"""Long fingers in 14-joint order: tip at 2k, PIP at 2k + 1."""
THUMB_TIP, THUMB_IP, THUMB_ROOT, WRIST_1, WRIST_2, PALM = 8, 9, 10, 11, 12, 13
PERCENTILES = (10, 25, 50, 75, 90)


def from_36(joints36: np.ndarray) -> np.ndarray:
    """``(N, 36, 3)`` NYU joints -> ``(N, 14, 3)`` evaluation joints."""
    return np.asarray(joints36, dtype=np.float64)[:, list(EVAL_INDICES)]


def _d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def per_hand(xyz: np.ndarray) -> dict[str, np.ndarray]:
    """Named ``(N,)`` statistics of ``(N, 14, 3)`` camera-space joints (see module doc)."""
    x = np.asarray(xyz, dtype=np.float64)
    if x.ndim != 3 or x.shape[1:] != (14, 3):
        raise ValueError(f"expected joints of shape (N, 14, 3), got {x.shape}")
    c = x[:, PALM]
    out: dict[str, np.ndarray] = {}
    for k, f in enumerate(FINGERS):
        tip, pip = x[:, 2 * k], x[:, 2 * k + 1]
        out[f"palm_tip_{f}"] = _d(tip, c)
        out[f"pip_tip_{f}"] = _d(tip, pip)
        out[f"pip_palm_{f}"] = _d(pip, c)
        out[f"ext_{f}"] = out[f"palm_tip_{f}"] / (out[f"pip_tip_{f}"] + out[f"pip_palm_{f}"])
    tt, ti, tr = x[:, THUMB_TIP], x[:, THUMB_IP], x[:, THUMB_ROOT]
    out["palm_tip_thumb"] = _d(tt, c)
    out["ip_tip_thumb"] = _d(tt, ti)
    out["root_ip_thumb"] = _d(ti, tr)
    out["root_tip_thumb"] = _d(tt, tr)
    out["root_palm_thumb"] = _d(tr, c)
    out["ext_thumb"] = out["root_tip_thumb"] / (out["ip_tip_thumb"] + out["root_ip_thumb"])
    w1, w2 = x[:, WRIST_1], x[:, WRIST_2]
    mid = 0.5 * (w1 + w2)
    out["wrist_width"] = _d(w1, w2)
    out["wrist_palm"] = _d(c, mid)
    axis = c - mid
    n = np.cross(w2 - w1, axis)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    out["facing_deg"] = np.degrees(np.arccos(np.clip(n[:, 2], -1.0, 1.0)))
    a = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-9)
    e1 = np.array([0.0, 0.0, 1.0]) - a[:, 2:3] * a
    e1 /= np.maximum(np.linalg.norm(e1, axis=-1, keepdims=True), 1e-9)
    e2 = np.cross(a, e1)
    turn = np.degrees(np.arctan2(np.sum(n * e2, -1), np.sum(n * e1, -1)))
    out["turn_deg"] = np.where(turn >= 90.0, turn - 360.0, turn)
    out["normal_azimuth_deg"] = np.degrees(np.arctan2(n[:, 1], n[:, 0])) % 360.0
    up = np.array([0.0, 1.0, 0.0]) - n[:, 1:2] * n
    up /= np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    out["axis_angle_deg"] = np.degrees(np.arctan2(np.sum(np.cross(up, a) * n, -1),
                                                  np.sum(up * a, -1)))
    out["roll_deg"] = np.degrees(np.arctan2(axis[:, 0], axis[:, 1]))
    out["tilt_deg"] = np.degrees(np.arctan2(axis[:, 2], np.hypot(axis[:, 0], axis[:, 1])))
    uvd = NYU_CAMERA.xyz_to_uvd(c)
    out["depth"], out["u"], out["v"] = c[:, 2], uvd[:, 0], uvd[:, 1]
    return out


def summarise(stats: dict[str, np.ndarray], percentiles=PERCENTILES) -> dict[str, dict]:
    """``{name: {"p10": .., "p25": .., "p50": .., "p75": .., "p90": .., "mean": ..}}``
    (numbers rounded to 0.1; the ratios to 0.001)."""
    res = {}
    for k, v in stats.items():
        nd = 3 if k.startswith("ext_") else 1
        row = {f"p{p}": round(float(np.percentile(v, p)), nd) for p in percentiles}
        row["mean"] = round(float(np.mean(v)), nd)
        res[k] = row
    return res


def open_fraction(stats: dict[str, np.ndarray], threshold: float = 0.9) -> dict[str, float]:
    """Fraction of hands whose finger ``ext_*`` ratio is above ``threshold`` (straight
    fingers), per finger and for all four long fingers at once ("open hand")."""
    res = {f: round(float(np.mean(stats[f"ext_{f}"] > threshold)), 3) for f in (*FINGERS, "thumb")}
    allf = np.all([stats[f"ext_{f}"] > threshold for f in FINGERS], axis=0)
    res["all_four"] = round(float(np.mean(allf)), 3)
    return res


SAMPLED = ("ext_index", "ext_middle", "ext_ring", "ext_pinky", "ext_thumb", "roll_deg",
           "tilt_deg", "turn_deg", "depth", "u", "v")
"""Statistics whose joint distribution :mod:`.people` reproduces (Gaussian copula)."""
LEVELS = (0.5, 2.5, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90,
          95, 97.5, 99.5)
"""Percentile levels of the shipped quantile tables (inverse CDFs for sampling)."""


def copula(stats: dict[str, np.ndarray], names=SAMPLED) -> dict:
    """Marginal quantile tables at :data:`LEVELS` and the normal-scores correlation
    matrix of ``names``: enough to draw samples with the same marginals and the same
    rank dependence (a Gaussian copula); and the turn's quantiles given the tilt."""
    from scipy.stats import norm, rankdata

    cols = [np.asarray(stats[k], dtype=np.float64) for k in names]
    n = len(cols[0])
    z = np.stack([norm.ppf((rankdata(c) - 0.5) / n) for c in cols])
    corr = np.corrcoef(z)
    return {"names": list(names), "levels": list(LEVELS),
            "quantiles": {k: [round(float(q), 4) for q in np.percentile(c, LEVELS)]
                          for k, c in zip(names, cols)},
            "corr": [[round(float(x), 3) for x in row] for row in corr],
            "turn_given_tilt": conditional_quantiles(stats["tilt_deg"], stats["turn_deg"])}


def conditional_quantiles(x: np.ndarray, y: np.ndarray, bins: int = 6) -> dict:
    """``y``'s quantile tables (at :data:`LEVELS`) within each of ``bins`` equally
    populated ranges of ``x``: ``{"edges": [...], "quantiles": [[...], ...]}``. (The
    facing angle is a function of tilt and turn; their dependence is not a Gaussian
    copula's, so the turn is drawn given the tilt.)"""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    edges = np.percentile(x, np.linspace(0, 100, bins + 1))
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    return {"edges": [round(float(e), 4) for e in edges],
            "quantiles": [[round(float(q), 4) for q in np.percentile(y[idx == b], LEVELS)]
                          for b in range(bins)]}


ACCEPTANCE_TOLERANCE = 0.10
"""Issue 22: the real-like joints' medians within 10 % of NYU's."""


def nyu_acceptance(stats: dict[str, np.ndarray], nyu: dict | None = None) -> dict:
    """Issue 22's check of joints against NYU's test set: palm-to-middle-tip and middle
    PIP-to-tip medians within :data:`ACCEPTANCE_TOLERANCE` of NYU's, and the
    palm-to-middle-tip 10th-90th percentile range overlapping NYU's. ``nyu`` is
    ``nyu_stats.NYU["all"]["stats"]`` by default. Returns the numbers and ``ok``."""
    if nyu is None:
        from .nyu_stats import NYU

        nyu = NYU["all"]["stats"]
    res: dict = {}
    ok = True
    for k in ("palm_tip_middle", "pip_tip_middle"):
        med = float(np.median(stats[k]))
        rel = med / nyu[k]["p50"] - 1.0
        res[k] = {"median": round(med, 1), "nyu_median": nyu[k]["p50"],
                  "relative_difference": round(rel, 3)}
        ok &= abs(rel) <= ACCEPTANCE_TOLERANCE
    lo, hi = (float(np.percentile(stats["palm_tip_middle"], p)) for p in (10, 90))
    nlo, nhi = nyu["palm_tip_middle"]["p10"], nyu["palm_tip_middle"]["p90"]
    overlap = lo <= nhi and nlo <= hi
    res["palm_tip_middle"].update(p10=round(lo, 1), p90=round(hi, 1), nyu_p10=nlo, nyu_p90=nhi,
                                  range_overlaps=overlap)
    res["ok"] = bool(ok and overlap)
    return res
