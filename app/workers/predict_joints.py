"""The "predict this frame with the chosen regressor" task: f_r's joints and its guidance maps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameInput:
    """What one prediction needs from the GUI thread's frame data (copied: no Qt, no
    shared arrays): ``depth_crop`` (S, S) float32, ``transform`` (11,), ``full_depth``
    (480, 640) uint16 mm and ``centre_uvd`` (3,) the ground-truth palm centre."""

    frame_id: int
    depth_crop: np.ndarray
    transform: np.ndarray
    full_depth: np.ndarray
    centre_uvd: np.ndarray

    @classmethod
    def of(cls, data) -> FrameInput:
        """From an ``app.workers.frame_data.FrameData``."""
        # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
        from handpose_core.nets.joints import PALM_14

        return cls(int(data.frame.id), np.array(data.depth_crop, np.float32),
                   np.asarray(data.transform.to_array(), np.float64), np.array(data.full_depth),
                   np.array(data.joints_uvd[PALM_14], np.float64))


@dataclass(frozen=True)
class JointsPrediction:
    """A task's result: the loaded ``predictor`` (a ``RunPredictor``, kept for the next
    frame), ``frame_id``, ``uvd`` (14, 3) and ``maps`` (14, S, S) or None without a head."""

    predictor: object
    frame_id: int
    uvd: np.ndarray
    maps: np.ndarray | None


def predict_joints_task(run, frame: FrameInput, loaded=None):
    """A :class:`~.task_worker.TaskWorker` function: load ``run`` (a
    ``handpose_core.nets.regressor_runs.RegressorRun``) in the worker's project connection,
    unless ``loaded`` (a ``RunPredictor`` of the same run) is given, and predict ``frame``."""

    def run_task(ctx):
        # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
        from handpose_core.nets.regressor_runs import RunPredictor

        pred = loaded
        if pred is None or pred.run != run:
            ctx.progress(0, 2, f"loading {run.name}")
            pred = RunPredictor.load(ctx.project, run)
        ctx.progress(1, 2, f"predicting frame {frame.frame_id}")
        uvd, maps = pred.predict_frame(frame.full_depth, frame.centre_uvd, frame.depth_crop,
                                       frame.transform)
        return JointsPrediction(pred, frame.frame_id, uvd, maps)

    return run_task
