"""The restore stage on a project: predict, restore, score, decide, store.

For every frame of a split: f_s predicts a label map of the frame's depth crop, the map
is restored with the project's dictionary, both maps are scored against the frame's
ground-truth joints (:func:`.quality.quality_score`) and the restored map is accepted
when it scores lower (:func:`.quality.accept_restoration`). Raw and restored maps, the
scores, the automatic decision and a per-joint breakdown go to the project store
(``Project.save_restoration``), which keeps any human override already recorded.
The studio's worker and ``handpose-studio train restore`` both call
:func:`restore_project`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..datasets.crop import CropTransform
from ..progress import ProgressFn, check_cancel
from ..skeleton import joints_36_to_14
from .dictionary import Dictionary, SearchParams
from .quality import PENALTY_MM, PENALTY_PX, accept_restoration, quality_score
from .restore import DEFAULT_STRIDE, DEFAULT_WINDOW, restore_many


@dataclass(frozen=True)
class RestoreStageConfig:
    """Settings of the restore stage (saved with the run)."""

    split: str = "train"
    limit: int | None = None
    window: int = DEFAULT_WINDOW
    stride: int = DEFAULT_STRIDE
    integrate: bool = True
    keep_silhouette: bool = True
    backend: str = "annoy"
    n_candidates: int = SearchParams.n_candidates
    search_k: int = SearchParams.search_k
    propagate: int = SearchParams.propagate
    pool: int = SearchParams.pool
    threads: int = SearchParams.threads
    batch: int = 64
    penalty_mm: float = PENALTY_MM
    penalty_px: float = PENALTY_PX

    @property
    def search(self) -> SearchParams:
        return SearchParams(self.n_candidates, self.search_k, self.threads, self.propagate,
                            self.pool)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RestoreStageResult:
    """Counts and mean scores (mm, sums over the 12 scored joints) of one run."""

    frames: int
    accepted: int
    no_hand: int
    mean_raw_mm: float
    mean_restored_mm: float
    seconds: float

    @property
    def acceptance(self) -> float:
        return self.accepted / self.frames if self.frames else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "acceptance": self.acceptance}


def restore_project(project, model, dictionary: Dictionary,
                    config: RestoreStageConfig | None = None, *,
                    model_name: str | None = None, progress: ProgressFn | None = None,
                    cancel=None) -> RestoreStageResult:
    """Run the restore stage over ``config.split`` of ``project`` (a
    :class:`~handpose_core.project.Project`).

    ``model``: an f_s checkpoint path, or a loaded network (anything with
    ``predict(depth (N, S, S), probabilities=False) -> (labels, None)``, as
    :class:`~handpose_core.nets.segnet.SegNet`). Frames are stored as they are done, so
    a cancelled run keeps its finished frames. Raises
    :class:`~handpose_core.progress.Cancelled` when ``cancel`` is set."""

    t0 = time.perf_counter()
    config = config or RestoreStageConfig()
    frames = project.frames(config.split)
    if config.limit is not None:
        frames = frames[:config.limit]
    if not frames:
        raise ValueError(f"{project.root}: no frames in split {config.split!r}")
    if isinstance(model, (str, Path)):
        from ..training.checkpoint import load_segnet

        name = model_name or Path(model).parent.name or str(model)
        model, _, _ = load_segnet(model)
    else:
        name = model_name or type(model).__name__
    settings = config.to_dict()
    report = progress or (lambda d, t, m: None)
    n_acc = n_empty = 0
    raw_mm, res_mm = [], []
    for s in range(0, len(frames), config.batch):
        check_cancel(cancel)
        chunk = frames[s:s + config.batch]
        depth, tfs, _ = project.crops(chunk, cancel=cancel)
        raw, _ = model.predict(depth, probabilities=False)
        restored = restore_many(raw, dictionary, window=config.window,
                                integrate=config.integrate, backend=config.backend,
                                stride=config.stride, keep_silhouette=config.keep_silhouette,
                                search=config.search, cancel=cancel)
        for f, d, tfa, r, rr in zip(chunk, depth, tfs, raw, restored):
            tf = CropTransform.from_array(tfa)
            gt = joints_36_to_14(project.joints_uvd(f))
            q_raw = quality_score(r, d, tf, gt, penalty_mm=config.penalty_mm,
                                  penalty_px=config.penalty_px)
            q_res = quality_score(rr.labels, d, tf, gt, penalty_mm=config.penalty_mm,
                                  penalty_px=config.penalty_px)
            empty = rr.n_queries == 0
            ok = accept_restoration(q_raw, q_res) and not empty
            n_acc += ok
            n_empty += empty
            raw_mm.append(q_raw.total_mm)
            res_mm.append(q_res.total_mm)
            hand = r > 0
            details = {
                "raw": q_raw.to_dict(), "restored": q_res.to_dict(),
                "queries": rr.n_queries, "changed": int((rr.labels != r).sum()),
                "mean_confidence": float(rr.confidence[hand].mean()) if hand.any() else None,
                "mean_distance": float(rr.distances.mean()) if not empty else None,
                "settings": settings, "no_hand": bool(empty)}
            project.save_restoration(
                f, model=name, raw=r, restored=rr.labels, score_raw_mm=q_raw.total_mm,
                score_restored_mm=q_res.total_mm, score_raw_px=q_raw.total_px,
                score_restored_px=q_res.total_px, auto_accept=ok, details=details)
        report(min(len(frames), s + len(chunk)), len(frames), "restoring frames")
    return RestoreStageResult(len(frames), int(n_acc), int(n_empty), float(np.mean(raw_mm)),
                              float(np.mean(res_mm)), round(time.perf_counter() - t0, 2))
