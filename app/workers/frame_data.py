"""Everything the studio shows for one frame, read from a project (no Qt here).

:func:`load_frame_data` gathers a frame's depth crop, its crop transform, the ground-truth
labels and joints, and the raw / restored / fine-tuned part maps into one frozen
:class:`FrameData`. The session caches one per frame; views only read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from handpose_core.datasets.crop import BACKGROUND_VALUE, CropTransform, crop_depth, crop_labels
from handpose_core.project import Frame, RestorationRecord
from handpose_core.restoration.quality import (
    PENALTY_MM,
    PENALTY_PX,
    QualityScore,
    quality_score,
    restoration_scores,
)
from handpose_core.skeleton import joints_36_to_14


@dataclass(frozen=True, eq=False)
class FrameData:
    """One frame's data for display. All crops are ``(S, S)`` for the project's crop size S.

    - ``depth_crop`` float32 in [-1, 1] (+1 = no surface), ``transform`` its crop window
    - ``gt_labels`` uint8 part ids of the ground-truth labels (hand-painted or the dataset's),
      or None when the frame is not labelled
    - ``raw_labels``: f_s's prediction, from the restoration store when the frame was
      restored (``raw_source`` says which), else the prediction worker's; None while
      f_s is loading or the frame waits for its prediction (``raw_source`` "pending")
    - ``restored_labels`` / ``restoration``: the restore stage's result, or None
    - ``finetuned_labels``: the fine-tuned f_s's prediction, or None
    - ``joints_uvd`` ``(14, 3)`` float64 ground-truth evaluation joints (u px, v px, d mm)
    - ``predicted_uvd`` ``(14, 3)`` of the regression model, or None
    - ``full_depth`` ``(480, 640)`` uint16 mm, read on first use
    """

    frame: Frame
    depth_crop: np.ndarray
    transform: CropTransform
    joints_uvd: np.ndarray
    gt_labels: np.ndarray | None = None
    raw_labels: np.ndarray | None = None
    raw_source: str = ""
    restored_labels: np.ndarray | None = None
    finetuned_labels: np.ndarray | None = None
    restoration: RestorationRecord | None = None
    predicted_uvd: np.ndarray | None = None
    _read_full_depth: object = field(default=None, repr=False)

    @cached_property
    def full_depth(self) -> np.ndarray:
        """``(480, 640)`` uint16 depth (mm) of the whole frame."""
        return self._read_full_depth(self.frame)

    @property
    def size(self) -> int:
        return int(self.depth_crop.shape[0])

    def depth_mm(self, x: int, y: int) -> float:
        """Depth (mm) of crop pixel (x, y); NaN where the crop has no surface."""
        z = float(self.depth_crop[y, x])
        if z >= BACKGROUND_VALUE:
            return float("nan")
        return z * self.transform.cube[2] / 2.0 + self.transform.center[2]

    def crop_to_uv(self, x: float, y: float) -> tuple[float, float]:
        """Full-frame (u, v) pixel of crop position (x, y)."""
        uv = self.transform.crop_to_frame(np.array([x, y, 0.0]))
        return float(uv[0]), float(uv[1])

    def joints_crop(self, uvd: np.ndarray | None = None) -> np.ndarray:
        """``(14, 3)`` joints (ground truth by default) in crop pixels x, y and z in [-1, 1]."""
        return self.transform.frame_to_crop(self.joints_uvd if uvd is None else uvd)

    @cached_property
    def raw_quality(self) -> QualityScore | None:
        """Barycenter score of the raw map against the ground truth: as the restore stage
        stored it, else computed with the stage's function and penalties."""
        return self._stored_score("raw") or self._score(self.raw_labels)

    @cached_property
    def restored_quality(self) -> QualityScore | None:
        """Score of the restored map as the quality check makes it (only the raw map's
        hand scored, a removed misplaced part at its raw distance:
        :func:`~handpose_core.restoration.quality.restoration_scores`): as the restore
        stage stored it, else computed."""
        stored = self._stored_score("restored")
        if stored is not None:
            return stored
        if self.restored_labels is None:
            return None
        if self.raw_labels is None:
            return self._score(self.restored_labels)
        return restoration_scores(self.raw_labels, self.restored_labels, self.depth_crop,
                                  self.transform, self.joints_uvd, **self._penalties())[1]

    def _stored_score(self, which: str) -> QualityScore | None:
        return stored_quality(self.restoration, which)

    def _score(self, labels) -> QualityScore | None:
        if labels is None:
            return None
        return quality_score(labels, self.depth_crop, self.transform, self.joints_uvd,
                             **self._penalties())

    def _penalties(self) -> dict:
        settings = (self.restoration.details.get("settings", {}) if self.restoration else {})
        return {"penalty_mm": settings.get("penalty_mm", PENALTY_MM),
                "penalty_px": settings.get("penalty_px", PENALTY_PX)}


def stored_quality(rec: RestorationRecord | None, which: str) -> QualityScore | None:
    """The barycenter score of a record's ``which`` ("raw" or "restored") map as the
    restore stage stored it, or None when the record has none."""
    d = rec.details.get(which) if rec is not None else None
    if not d or "per_joint_mm" not in d:
        return None

    def arr(key, shape):
        return np.array([np.nan if v is None else v for v in np.ravel(d[key])],
                        np.float64).reshape(shape)

    return QualityScore(float(d["total_mm"]), float(d["total_px"]), arr("per_joint_mm", 14),
                        arr("per_joint_px", 14), arr("barycenters_uvd", (14, 3)),
                        np.asarray(d["missing"], bool), float(d.get("penalty_mm", PENALTY_MM)),
                        float(d.get("penalty_px", PENALTY_PX)),
                        np.asarray(d["capped"], bool) if "capped" in d else None,
                        int(d.get("unscored_pixels", 0)))


def load_frame_data(project, frame_id: int, predictor=None) -> FrameData:
    """Read one frame of ``project``. ``predictor`` (a :class:`~.predictions.SegPredictor`
    or None) supplies f_s maps already predicted for frames the restore stage has not
    seen; a map not predicted yet is None with ``raw_source`` "pending"."""
    f = project.frame(frame_id)
    full = project.depth(f)  # read once: the crop and the full-frame panel share it
    tf = project.crop_transform(f)
    depth = crop_depth(full, tf)
    gt = None
    if f.has_labels:
        lab = project.labels(f)
        gt = None if lab is None else crop_labels(lab, tf)
    rec = project.restoration(f.id)
    raw = restored = None
    source = ""
    if rec is not None:
        try:
            raw, restored = project.restored_maps(rec)
            source = f"restore stage ({Path(rec.model).name})"
        except (OSError, ValueError):  # maps deleted from disk: predict instead
            raw = restored = None
    finetuned = None
    if predictor is not None:
        if raw is None:
            raw = predictor.lookup("raw", f.id)
            source = (f"f_s prediction ({predictor.raw_name})" if raw is not None else
                      "pending" if predictor.has_model("raw") else "")
        finetuned = predictor.lookup("fine", f.id)
    joints = joints_36_to_14(project.joints_uvd(f)).astype(np.float64)
    data = FrameData(f, depth, tf, joints, gt, raw, source, restored, finetuned, rec, None,
                     project.depth)
    data.__dict__["full_depth"] = full  # fills the cached_property
    return data
