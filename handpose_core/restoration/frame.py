"""Restoring one frame of a project: what the restore stage does per frame.

:func:`restore_frame` predicts the frame's raw map with f_s, restores it with the
dictionary, scores both maps against the ground-truth joints, applies the accept rule and
stores the result (keeping any human override). The studio's "Restore this frame" calls it
from a worker; the restore stage does the same per frame (in batches).
"""

from __future__ import annotations

import numpy as np

from ..skeleton import joints_36_to_14
from .quality import accept_restoration, quality_score
from .restore import restore_many


def score_and_store(project, frame, depth: np.ndarray, tf, raw: np.ndarray, restoration,
                    settings, *, model_name: str):
    """Score ``raw`` and ``restoration.labels`` (both ``(S, S)`` uint8) of ``frame``,
    decide and save; returns ``(RestorationRecord, accepted)``.

    ``settings``: a :class:`~.stage.RestoreStageConfig` (penalties; saved in the details)."""
    gt = joints_36_to_14(project.joints_uvd(frame))
    q_raw = quality_score(raw, depth, tf, gt, penalty_mm=settings.penalty_mm,
                          penalty_px=settings.penalty_px)
    q_res = quality_score(restoration.labels, depth, tf, gt, penalty_mm=settings.penalty_mm,
                          penalty_px=settings.penalty_px)
    empty = restoration.n_queries == 0
    ok = accept_restoration(q_raw, q_res) and not empty
    hand = raw > 0
    details = {
        "raw": q_raw.to_dict(), "restored": q_res.to_dict(),
        "queries": restoration.n_queries, "changed": int((restoration.labels != raw).sum()),
        "mean_confidence": float(restoration.confidence[hand].mean()) if hand.any() else None,
        "mean_distance": float(restoration.distances.mean()) if not empty else None,
        "settings": settings.to_dict(), "no_hand": bool(empty)}
    rec = project.save_restoration(
        frame, model=model_name, raw=raw, restored=restoration.labels,
        score_raw_mm=q_raw.total_mm, score_restored_mm=q_res.total_mm,
        score_raw_px=q_raw.total_px, score_restored_px=q_res.total_px, auto_accept=ok,
        details=details)
    return rec, ok


def restore_frame(project, frame, model, dictionary, settings=None, *, model_name: str = "f_s",
                  cancel=None):
    """Restore one ``frame`` of ``project`` and store it; returns its ``RestorationRecord``.

    ``model``: a loaded f_s (anything with ``predict(depth (N,S,S), probabilities=False)``);
    ``dictionary``: a loaded :class:`~.dictionary.Dictionary`; ``settings``: a
    :class:`~.stage.RestoreStageConfig` (the stage's defaults when None). Raises
    :class:`~handpose_core.progress.Cancelled` when ``cancel`` is set before the store write.
    """
    from ..progress import check_cancel
    from .stage import RestoreStageConfig

    settings = settings or RestoreStageConfig()
    depth, tf, _ = project.crop(frame)
    raw, _ = model.predict(depth[None], probabilities=False)
    check_cancel(cancel)
    rr = restore_many(raw, dictionary, window=settings.window, integrate=settings.integrate,
                      backend=settings.backend, stride=settings.stride,
                      keep_silhouette=settings.keep_silhouette, search=settings.search,
                      cancel=cancel)[0]
    check_cancel(cancel)
    rec, _ = score_and_store(project, frame, depth, tf, raw[0], rr, settings,
                             model_name=model_name)
    return rec
