"""Evaluation: community prediction files, joint errors, success curves, segmentation.

Prediction files (the field's exchange format): one line per test frame, 14 joints x
(u, v, d) = 42 numbers separated by whitespace, in the 14-joint order of
:mod:`handpose_core.skeleton`. Errors are Euclidean distances in camera space (mm) after
converting both prediction and ground truth with the NYU camera; 2D errors are in
pixels. These are the definitions with which public prediction files reproduce their
published mean errors.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .camera import NYU_CAMERA, Camera
from .errors import BadInput
from .parts import NUM_CLASSES

THRESHOLDS_MM = np.arange(0, 81, dtype=np.float64)
"""Success-curve thresholds: 0..80 mm in 1 mm steps."""


class PredictionFileError(BadInput):
    """A prediction file that cannot be read; the message names file and line."""


def read_predictions(path: str | os.PathLike, n_joints: int = 14) -> np.ndarray:
    """Read a prediction (or ground-truth) file -> ``(N, n_joints, 3)`` float64 u, v, d.

    Raises :class:`PredictionFileError` naming the file and line for a wrong number of
    values, a non-number, NaN or infinity, or an empty file. A final newline and trailing
    whitespace are accepted; an empty line in the middle is not.
    """
    want = n_joints * 3
    _, rows = read_number_rows(path, want, expected=f"{want} numbers ({n_joints} joints x u v d)")
    return rows.reshape(len(rows), n_joints, 3)


def read_number_rows(path: str | os.PathLike, n_numbers: int, *, named: bool = False,
                     expected: str = "") -> tuple[list[str], np.ndarray]:
    """The rows of a text file of whitespace-separated numbers, one row a line:
    ``(names, rows (N, n_numbers) float64)``. With ``named`` each line starts with one
    more field, a name (``names`` holds them; else it is empty).

    The parser of every prediction file (:func:`read_predictions` and the named-xyz files
    of :mod:`handpose_core.labelling.predictions`). Raises :class:`PredictionFileError`
    naming the file (and line) when it is missing, not text or empty, or a line has
    another number of fields ("expected ``expected``, found N fields"), a non-number, NaN
    or infinity. A final newline and trailing blank lines are accepted; an empty line in
    the middle is not.
    """
    path = Path(path)
    lines = read_text_lines(path)
    skip = 1 if named else 0
    names: list[str] = []
    out = np.empty((len(lines), n_numbers), dtype=np.float64)
    for i, line in enumerate(lines):
        parts = line.split()
        if len(parts) != n_numbers + skip:
            raise PredictionFileError(f"{path}:{i + 1}: expected {expected or n_numbers}, found "
                                      f"{len(parts)} fields")
        if named:
            names.append(parts[0])
        try:
            row = [float(p) for p in parts[skip:]]
        except ValueError:
            bad = next(p for p in parts[skip:] if not is_number(p))
            raise PredictionFileError(f"{path}:{i + 1}: {bad!r} is not a number") from None
        if not all(math.isfinite(v) for v in row):
            raise PredictionFileError(f"{path}:{i + 1}: NaN or infinite value")
        out[i] = row
    return names, out


def read_text_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a prediction file, trailing blank lines dropped. Raises
    :class:`PredictionFileError` naming the file when it is missing, not text or empty."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise PredictionFileError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise PredictionFileError(f"{path}: not a text file ({e.reason})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise PredictionFileError(f"{path}: file is empty")
    return lines


def is_number(s: str) -> bool:
    """Whether ``float(s)`` reads ``s``."""
    try:
        float(s)
        return True
    except ValueError:
        return False


def write_predictions(path: str | os.PathLike, uvd: np.ndarray) -> None:
    """Write ``(N, J, 3)`` u, v, d predictions in the community format, atomically."""
    uvd = np.asarray(uvd, dtype=np.float64)
    if uvd.ndim != 3 or uvd.shape[2] != 3:
        raise ValueError(f"predictions must have shape (N, J, 3), got {uvd.shape}")
    if not np.isfinite(uvd).all():
        raise ValueError("predictions contain NaN or infinite values")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    flat = uvd.reshape(len(uvd), -1)
    with open(tmp, "w") as f:
        for row in flat:
            f.write(" ".join(f"{v:.3f}" for v in row) + " \n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def joint_errors_mm(pred_uvd: np.ndarray, gt_uvd: np.ndarray,
                    camera: Camera = NYU_CAMERA) -> np.ndarray:
    """``(N, J)`` 3D Euclidean errors (mm) between ``(N, J, 3)`` uvd arrays."""
    pred_uvd, gt_uvd = np.asarray(pred_uvd, np.float64), np.asarray(gt_uvd, np.float64)
    if pred_uvd.shape != gt_uvd.shape:
        raise ValueError(f"prediction shape {pred_uvd.shape} != ground truth {gt_uvd.shape}")
    return np.linalg.norm(camera.uvd_to_xyz(pred_uvd) - camera.uvd_to_xyz(gt_uvd), axis=-1)


def joint_errors_px(pred_uvd: np.ndarray, gt_uvd: np.ndarray) -> np.ndarray:
    """``(N, J)`` 2D errors in the image plane (pixels)."""
    pred_uvd, gt_uvd = np.asarray(pred_uvd, np.float64), np.asarray(gt_uvd, np.float64)
    if pred_uvd.shape != gt_uvd.shape:
        raise ValueError(f"prediction shape {pred_uvd.shape} != ground truth {gt_uvd.shape}")
    return np.linalg.norm(pred_uvd[..., :2] - gt_uvd[..., :2], axis=-1)


def success_curves(errors: np.ndarray, thresholds: np.ndarray = THRESHOLDS_MM) -> dict:
    """The three success-rate curves of ``(N, J)`` errors, each ``(len(thresholds),)``.

    ``max_frame``: fraction of frames whose largest joint error is <= t (the curve most
    papers plot); ``mean_frame``: frames whose mean joint error is <= t; ``joint``:
    fraction of all (frame, joint) errors <= t.
    """
    e = np.asarray(errors, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)[:, None]
    return {
        "max_frame": (e.max(axis=1)[None, :] <= t).mean(axis=1),
        "mean_frame": (e.mean(axis=1)[None, :] <= t).mean(axis=1),
        "joint": (e.reshape(-1)[None, :] <= t).mean(axis=1),
    }


@dataclass(frozen=True)
class JointEvaluation:
    """Summary of one prediction set against ground truth."""

    name: str
    frames: int
    mean_mm: float
    median_mm: float  # median over all (frame, joint) errors
    per_joint_mm: np.ndarray  # (J,)
    mean_px: float
    curves: dict = field(repr=False)  # success_curves(...) of the 3D errors
    thresholds: np.ndarray = field(default_factory=lambda: THRESHOLDS_MM, repr=False)

    def success_at(self, t_mm: float, kind: str = "max_frame") -> float:
        return float(self.curves[kind][int(np.searchsorted(self.thresholds, t_mm))])

    def to_dict(self) -> dict:
        return {
            "name": self.name, "frames": self.frames, "mean_mm": self.mean_mm,
            "median_mm": self.median_mm, "mean_px": self.mean_px,
            "per_joint_mm": [float(x) for x in self.per_joint_mm],
            "success_max_frame": {str(int(t)): float(v)
                                  for t, v in zip(self.thresholds, self.curves["max_frame"])},
        }


def evaluate_joints(pred_uvd: np.ndarray, gt_uvd: np.ndarray, name: str = "",
                    camera: Camera = NYU_CAMERA) -> JointEvaluation:
    e = joint_errors_mm(pred_uvd, gt_uvd, camera)
    px = joint_errors_px(pred_uvd, gt_uvd)
    return JointEvaluation(
        name=name, frames=int(e.shape[0]), mean_mm=float(e.mean()),
        median_mm=float(np.median(e)), per_joint_mm=e.mean(axis=0), mean_px=float(px.mean()),
        curves=success_curves(e))


# ----------------------------------------------------------------------------- segmentation

@dataclass(frozen=True)
class SegAccuracy:
    """Segmentation accuracy on ground-truth hand pixels (the seed paper's definitions).

    ``per_pixel``: fraction of ground-truth hand pixels (gt > 0) given the right part;
    ``per_class``: mean over the hand classes present in the ground truth of the per-class
    recall; ``class_acc`` (21,) per-class recall, NaN for absent classes (index 0 unused);
    ``counts`` (21,) ground-truth pixel count per class.
    """

    per_pixel: float
    per_class: float
    class_acc: np.ndarray
    counts: np.ndarray

    def to_dict(self) -> dict:
        return {"per_pixel": self.per_pixel, "per_class": self.per_class,
                "class_acc": [None if np.isnan(x) else float(x) for x in self.class_acc],
                "counts": [int(c) for c in self.counts]}


def segmentation_confusion(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(21, 21)`` int64 confusion counts, rows = ground truth, columns = prediction."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} != ground truth {gt.shape}")
    idx = gt.astype(np.int64).ravel() * NUM_CLASSES + pred.astype(np.int64).ravel()
    return np.bincount(idx, minlength=NUM_CLASSES * NUM_CLASSES).reshape(NUM_CLASSES, NUM_CLASSES)


def accuracy_from_confusion(conf: np.ndarray) -> SegAccuracy:
    conf = np.asarray(conf, dtype=np.int64)
    counts = conf.sum(axis=1)
    hand = counts[1:].sum()
    correct = np.diag(conf)
    with np.errstate(invalid="ignore", divide="ignore"):
        class_acc = np.where(counts > 0, correct / np.maximum(counts, 1), np.nan)
    class_acc[0] = np.nan
    per_pixel = float(correct[1:].sum() / hand) if hand else float("nan")
    present = class_acc[1:][~np.isnan(class_acc[1:])]
    per_class = float(present.mean()) if present.size else float("nan")
    return SegAccuracy(per_pixel, per_class, class_acc, counts)


def segmentation_accuracy(pred: np.ndarray, gt: np.ndarray) -> SegAccuracy:
    """Accuracy of label maps ``pred`` vs ``gt`` (same shape, any batch dims)."""
    return accuracy_from_confusion(segmentation_confusion(pred, gt))
