"""Background f_s predictions: fills a :class:`~app.models.predictions.SegPredictor` cache.

The task runs until cancelled. Each round it takes up to ``BATCH`` frames that still
need a map — frames the session asked for first (the current frame and those after it),
then, for projects of at most ``SWEEP_MAX`` frames, every other frame in id order — crops
them through the worker's own project connection (the crop cache on disk) and predicts
them in one batch. It reports each batch's frame ids through ``ctx.on_item``.
"""

from __future__ import annotations

import threading
import time
from collections import deque

BATCH = 64
SWEEP_MAX = 20000


class PredictionQueue:
    """Frame ids waiting for a prediction, the requested ones first (thread-safe)."""

    def __init__(self):
        self._urgent: deque[int] = deque()
        self._lock = threading.Lock()
        self.wake = threading.Event()
        self.last_request = 0.0  # time.monotonic() of the latest request

    def request(self, items) -> None:
        """Put ``items`` (frame ids, or any hashable jobs) first, in this order."""
        with self._lock:
            items = list(items)
            new = set(items)
            self._urgent = deque(items + [i for i in self._urgent if i not in new])
            self.last_request = time.monotonic()
        self.wake.set()

    def quiet_for(self) -> float:
        """Seconds since the latest request."""
        return time.monotonic() - self.last_request

    def take_urgent(self, n: int) -> list[int]:
        with self._lock:
            out = []
            while self._urgent and len(out) < n:
                out.append(self._urgent.popleft())
            return out


def prediction_task(predictor, queue: PredictionQueue):
    """A TaskWorker function predicting what ``queue`` asks for, then sweeping small projects."""

    def run(ctx):
        # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
        import torch

        torch.set_num_threads(1)  # leave the other core to the GUI thread
        project = ctx.project
        frames = {f.id: f for f in project.frames()}
        restored = set(project.restorations()) if hasattr(project, "restorations") else set()
        sweep = deque(sorted(frames)) if len(frames) <= SWEEP_MAX else deque()

        unreadable: set[int] = set()

        def needs(fid: int) -> bool:
            if fid in unreadable:
                return False
            raw = fid not in restored and predictor.has_model("raw") and \
                predictor.lookup("raw", fid) is None
            fine = predictor.has_model("fine") and predictor.lookup("fine", fid) is None
            return raw or fine

        while not ctx.cancel.is_set():
            batch = [i for i in queue.take_urgent(BATCH) if i in frames and needs(i)]
            while len(batch) < BATCH and sweep:
                i = sweep.popleft()
                if needs(i) and i not in batch:
                    batch.append(i)
            if not batch:
                queue.wake.wait(0.5)
                queue.wake.clear()
                continue
            try:
                depth, _, _ = project.crops([frames[i] for i in batch], cancel=ctx.cancel)
            except (OSError, ValueError):  # an unreadable frame: crop one by one, skip it
                ok = []
                for i in batch:
                    try:
                        project.crops([frames[i]], cancel=ctx.cancel)
                        ok.append(i)
                    except (OSError, ValueError):
                        unreadable.add(i)  # the session reports it when the frame is shown
                batch = ok
                if not batch:
                    continue
                depth, _, _ = project.crops([frames[i] for i in batch], cancel=ctx.cancel)
            raw_ids = [k for k, i in enumerate(batch) if i not in restored]
            if raw_ids and predictor.has_model("raw"):
                predictor.predict_batch("raw", [batch[k] for k in raw_ids], depth[raw_ids])
            if predictor.has_model("fine"):
                predictor.predict_batch("fine", batch, depth)
            ctx.on_item(batch)
        return None

    return run
