"""Joint prediction files of published methods, in the two formats NYU results circulate in.

- **uvd** (the community format, :func:`handpose_core.evaluation.read_predictions`): one
  line per test frame, 14 joints x (u px, v px, d mm).
- **named xyz**: one line per frame, the frame's file name (``depth_1_0000001.png``)
  then 14 joints x (x, y, z) in mm, whitespace or tab separated — the form several
  published NYU result files use (e.g. the dense-regression results). Their camera
  space has y pointing *down* (converted with ``v = cy + y * fy / z``), unlike the NYU
  ``joint_xyz`` convention; ``y_up=True`` reads files that use NYU's.

:func:`load_prediction_file` tells the two apart by the first token of the first line
and returns uvd either way; :func:`align_with_project` pairs a file's rows with the
project's test frames and their ground truth.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..camera import NYU_CAMERA, Camera
from ..evaluation import (
    PredictionFileError,
    is_number,
    read_number_rows,
    read_predictions,
    read_text_lines,
)
from ..skeleton import joints_36_to_14

_NAME = re.compile(r"^(?:depth|rgb|synthdepth)_(\d)_(\d{7})\.png$")


@dataclass(frozen=True)
class PredictionSet:
    """Predictions read from a file: ``uvd`` ``(N, 14, 3)`` float64; ``frames`` the NYU
    frame number of each row (1..N for a uvd file, whose rows are the split's frames in
    order); ``fmt`` "uvd" or "named xyz"."""

    path: Path
    fmt: str
    uvd: np.ndarray
    frames: np.ndarray

    @property
    def name(self) -> str:
        return self.path.stem


def read_named_xyz_predictions(path: str | os.PathLike, n_joints: int = 14, *,
                               y_up: bool = False, camera: Camera = NYU_CAMERA
                               ) -> tuple[list[str], np.ndarray]:
    """Read a named-xyz file -> ``(names, uvd (N, n_joints, 3) float64)``.

    Raises :class:`PredictionFileError` naming the file and line for a missing name, a
    wrong number of values, a non-number, NaN / infinity, a non-positive depth, or an
    empty file.
    """
    path = Path(path)
    want = n_joints * 3
    names, xyz = read_number_rows(
        path, want, named=True,
        expected=f"a file name and {want} numbers ({n_joints} joints x x y z)")
    xyz = xyz.reshape(len(xyz), n_joints, 3)
    bad = np.nonzero((xyz[..., 2] <= 0).any(axis=1))[0]
    if bad.size:
        raise PredictionFileError(f"{path}:{bad[0] + 1}: a joint has depth z <= 0 mm")
    if not y_up:
        xyz = xyz * np.array([1.0, -1.0, 1.0])  # to NYU's y-up camera space
    return names, camera.xyz_to_uvd(xyz)


def detect_format(path: str | os.PathLike) -> str:
    """"named xyz" when the first token of the first line is not a number, else "uvd"."""
    path = Path(path)
    first = read_text_lines(path)[0].split()
    if not first:
        raise PredictionFileError(f"{path}: the first line is empty")
    return "uvd" if is_number(first[0]) else "named xyz"


def load_prediction_file(path: str | os.PathLike, *, y_up: bool = False) -> PredictionSet:
    """Read a prediction file in either format (see the module docstring)."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "uvd":
        uvd = read_predictions(path)
        return PredictionSet(path, fmt, uvd, np.arange(1, len(uvd) + 1))
    names, uvd = read_named_xyz_predictions(path, y_up=y_up)
    nums = []
    for i, n in enumerate(names):
        m = _NAME.match(n)
        if not m:
            raise PredictionFileError(f"{path}:{i + 1}: {n!r} is not an NYU frame file name "
                                      "like depth_1_0000001.png")
        nums.append(int(m.group(2)))
    return PredictionSet(path, fmt, uvd, np.asarray(nums))


def align_with_project(pred: PredictionSet, project, split: str = "test"
                       ) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Pair prediction rows with the project's ``split`` frames (kinect 1).

    Returns ``(frame ids, pred uvd (N, 14, 3), ground truth uvd (N, 14, 3))``. A uvd file
    must have one row per frame of the split; a named file may cover a subset, but every
    name must be a frame of the project. Raises :class:`PredictionFileError` otherwise.
    """
    frames = sorted((f for f in project.frames(split) if f.kinect == 1), key=lambda f: f.frame)
    by_num = {f.frame: f for f in frames}
    if pred.fmt == "uvd":
        if len(pred.uvd) != len(frames):
            raise PredictionFileError(
                f"{pred.path}: {len(pred.uvd)} lines, but the project has {len(frames)} {split} "
                "frames (one line per frame, in frame order)")
        sel = frames
    else:
        missing = [int(n) for n in pred.frames if int(n) not in by_num]
        if missing:
            raise PredictionFileError(f"{pred.path}: frame {missing[0]} is not a {split} frame "
                                      f"of the project ({len(missing)} such rows)")
        sel = [by_num[int(n)] for n in pred.frames]
    gt = np.stack([joints_36_to_14(project.joints_uvd(f)) for f in sel]).astype(np.float64)
    return [f.id for f in sel], pred.uvd, gt
