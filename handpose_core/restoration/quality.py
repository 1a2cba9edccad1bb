"""The barycenter quality score of a label map (seed paper, section 3.1).

For each scored evaluation joint, the barycenter of the pixels of its part set
(:data:`~handpose_core.parts.JOINT_PARTS_14`) is compared with the ground-truth joint:
in 3D (mm, barycenter of the back-projected crop pixels) and in 2D (full-frame pixels).
The score of a map is the sum over the 12 scored joints (the two wrist sides have no
part of their own). A restored map is accepted when its 3D score is lower than the raw
prediction's.

A joint whose part set has no pixel (a lost finger) counts a fixed penalty rather
than nothing, so losing parts never improves a score: :data:`PENALTY_MM` = 100 mm
(half a hand length; a present but misplaced part of a 300 mm crop is typically 10-60
mm off, so a missing part always scores worse than a roughly placed one) and
:data:`PENALTY_PX` = 80 px (100 mm seen at 735 mm, the middle of NYU's hand depths,
with fx = 588 px).

A restored map is scored against the raw one by :func:`restoration_scores`, which the
restore stage, ``evaluate`` and the studio all use, with two rules that keep the check
from rejecting a restoration for what it did right (docs/restoration.md, "The quality
check under the joint prior"):

* **Only the raw map's hand is scored in the restored map.** Pixels a restoration added
  outside f_s's silhouette (the joint prior's grow step) are labelled by the joints
  alone; scoring them against the same joints is no evidence, and grown forearm pixels
  called palm pull the palm barycenter. They are left out (``unscored_pixels``).
* **A part removed from a misplaced position costs what it cost in the raw map.** A
  scored joint whose part set the restored map lacks while the raw map had it more than
  :data:`MISPLACED_MM` from the joint scores the raw distance (``capped``), not the
  penalty: removing f_s's misplaced thumb from a hand whose thumb is hidden is neither
  better nor worse by this score. A part removed from within :data:`MISPLACED_MM` of its
  joint costs the full penalty. Either way, losing parts never lowers a score by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import NYU_CAMERA, Camera
from ..datasets.crop import BACKGROUND_VALUE, CropTransform, crop_points_mm
from ..parts import JOINT_PARTS_14

PENALTY_MM = 100.0
PENALTY_PX = 80.0
MISPLACED_MM = 50.0
"""A raw part set farther than this from its joint (half the penalty, half a hand length)
was misplaced: a restoration that removes it is scored with the raw distance."""


@dataclass(frozen=True)
class QualityScore:
    """Barycenter score of one label map against 14 ground-truth joints.

    ``total_mm`` / ``total_px``: sums over the scored joints (penalties included).
    ``per_joint_mm`` / ``per_joint_px`` ``(14,)`` float64: distance per joint, the
    penalty for a missing part set, NaN for the unscored wrist joints.
    ``barycenters_uvd`` ``(14, 3)``: u, v = mean full-frame pixel of the part set,
    d = depth (mm) of its 3D barycenter; NaN where missing or unscored (d alone is NaN
    when the part's pixels have no depth). ``missing`` ``(14,)`` bool: a scored joint
    whose part set has no pixel. ``capped`` ``(14,)`` bool (restored maps scored by
    :func:`restoration_scores`): a missing joint scored with the raw map's distance
    instead of the penalty. ``unscored_pixels``: hand pixels left out of the score (a
    restoration's pixels outside the raw map's hand).
    """

    total_mm: float
    total_px: float
    per_joint_mm: np.ndarray
    per_joint_px: np.ndarray
    barycenters_uvd: np.ndarray
    missing: np.ndarray
    penalty_mm: float = PENALTY_MM
    penalty_px: float = PENALTY_PX
    capped: np.ndarray | None = None
    unscored_pixels: int = 0

    @property
    def n_capped(self) -> int:
        return 0 if self.capped is None else int(np.sum(self.capped))

    @property
    def n_missing(self) -> int:
        return int(self.missing.sum())

    @property
    def mean_mm(self) -> float:
        return float(np.nanmean(self.per_joint_mm))

    def to_dict(self) -> dict:
        def clean(a):
            return [None if not np.isfinite(x) else float(x) for x in np.ravel(a)]

        return {"total_mm": self.total_mm, "total_px": self.total_px,
                "per_joint_mm": clean(self.per_joint_mm),
                "per_joint_px": clean(self.per_joint_px),
                "barycenters_uvd": [clean(r) for r in self.barycenters_uvd],
                "missing": [bool(x) for x in self.missing],
                "penalty_mm": self.penalty_mm, "penalty_px": self.penalty_px,
                "capped": [bool(x) for x in (self.capped if self.capped is not None
                                             else np.zeros(len(self.missing), bool))],
                "unscored_pixels": int(self.unscored_pixels)}


def quality_score(labels: np.ndarray, depth_crop: np.ndarray, tf: CropTransform,
                  gt_joints_uvd: np.ndarray, *, penalty_mm: float = PENALTY_MM,
                  penalty_px: float = PENALTY_PX, camera: Camera = NYU_CAMERA
                  ) -> QualityScore:
    """Score ``labels`` ``(S, S)`` uint8 of a crop against ``gt_joints_uvd`` ``(14, 3)``.

    ``depth_crop`` ``(S, S)`` float32 is the normalised crop depth of the same crop
    (+1 = no surface); ``tf`` its :class:`CropTransform`; joints are full-frame
    (u px, v px, d mm) in the 14-joint evaluation order.
    """
    labels = np.asarray(labels)
    depth_crop = np.asarray(depth_crop, dtype=np.float32)
    gt = np.asarray(gt_joints_uvd, dtype=np.float64)
    s = tf.size
    if labels.shape != (s, s) or depth_crop.shape != (s, s):
        raise ValueError(f"labels {labels.shape} and depth {depth_crop.shape} must both be "
                         f"({s}, {s}) for this crop")
    if gt.shape != (len(JOINT_PARTS_14), 3):
        raise ValueError(f"ground-truth joints must be (14, 3) uvd, got {gt.shape}")
    if not np.isfinite(gt).all():
        raise ValueError("ground-truth joints contain NaN or inf")
    has_depth = depth_crop < BACKGROUND_VALUE
    xyz = crop_points_mm(depth_crop, tf, camera)  # (S, S, 3)
    gt_xyz = camera.uvd_to_xyz(gt)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
    n = len(JOINT_PARTS_14)
    per_mm = np.full(n, np.nan)
    per_px = np.full(n, np.nan)
    bary = np.full((n, 3), np.nan)
    missing = np.zeros(n, bool)
    for j, parts in enumerate(JOINT_PARTS_14):
        if not parts:
            continue
        sel = np.isin(labels, parts)
        if not sel.any():
            missing[j] = True
            per_mm[j], per_px[j] = penalty_mm, penalty_px
            continue
        uv = tf.crop_to_frame(np.stack([xx[sel].mean(), yy[sel].mean(), 0.0]))[:2]
        bary[j, :2] = uv
        per_px[j] = float(np.hypot(*(uv - gt[j, :2])))
        sel3 = sel & has_depth
        if sel3.any():
            b = xyz[sel3].mean(axis=0)
            bary[j, 2] = b[2]
            per_mm[j] = float(np.linalg.norm(b - gt_xyz[j]))
        else:
            # labelled pixels without any depth: no 3D position, counted as missing in 3D
            per_mm[j] = penalty_mm
    return QualityScore(float(np.nansum(per_mm)), float(np.nansum(per_px)), per_mm, per_px,
                        bary, missing, float(penalty_mm), float(penalty_px))


def restoration_scores(raw_labels: np.ndarray, restored_labels: np.ndarray,
                       depth_crop: np.ndarray, tf: CropTransform, gt_joints_uvd: np.ndarray, *,
                       penalty_mm: float = PENALTY_MM, penalty_px: float = PENALTY_PX,
                       misplaced_mm: float = MISPLACED_MM, camera: Camera = NYU_CAMERA
                       ) -> tuple[QualityScore, QualityScore]:
    """``(raw score, restored score)`` of a restoration, the pair :func:`accept_restoration`
    decides on. The raw map is scored by :func:`quality_score`; the restored map only on
    the raw map's hand pixels, and a joint whose part set it lost where the raw map had
    it more than ``misplaced_mm`` off scores the raw distances (3D and 2D) instead of the
    penalties (module docstring). Arguments as :func:`quality_score`."""
    raw_labels = np.asarray(raw_labels)
    restored_labels = np.asarray(restored_labels)
    if raw_labels.shape != restored_labels.shape:
        raise ValueError(f"raw {raw_labels.shape} and restored {restored_labels.shape} maps "
                         "differ in shape")
    kw = dict(penalty_mm=penalty_mm, penalty_px=penalty_px, camera=camera)
    q_raw = quality_score(raw_labels, depth_crop, tf, gt_joints_uvd, **kw)
    hand = raw_labels > 0
    q = quality_score(np.where(hand, restored_labels, 0), depth_crop, tf, gt_joints_uvd, **kw)
    capped = q.missing & ~q_raw.missing & (q_raw.per_joint_mm > misplaced_mm)
    mm, px = q.per_joint_mm.copy(), q.per_joint_px.copy()
    mm[capped], px[capped] = q_raw.per_joint_mm[capped], q_raw.per_joint_px[capped]
    unscored = int(((restored_labels > 0) & ~hand).sum())
    q_res = QualityScore(float(np.nansum(mm)), float(np.nansum(px)), mm, px,
                         q.barycenters_uvd, q.missing, q.penalty_mm, q.penalty_px,
                         capped, unscored)
    return q_raw, q_res


def accept_restoration(raw: QualityScore, restored: QualityScore, *,
                       n_queries: int | None = None) -> bool:
    """The paper's rule: keep the restored map if it scores lower (3D) than the raw one.

    A restoration that queried no patch (``n_queries`` 0: no hand pixel predicted) is
    never accepted. This is the one accept rule of the project: the restore stage,
    ``evaluate`` and the studio all decide through it."""
    if n_queries is not None and n_queries <= 0:
        return False
    return bool(restored.total_mm < raw.total_mm)
