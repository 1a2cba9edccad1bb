"""Reading frames ahead: the frames after the current one are loaded in a worker.

A frame's data costs a PNG decode of the 640 x 480 depth, crops, label maps and the
quality scores; done on the GUI thread that is most of a frame switch. The session asks
for the next frames of the browser's list; this task loads them through its own project
connection and hands each :class:`~app.models.frame_data.FrameData` back through
``ctx.on_item`` as ``(change_count, FrameData)``, so the session can drop data that a
change to the store made stale in the meantime.
"""

from __future__ import annotations

import time

IDLE_S = 0.06
"""Read ahead only once the user has paused this long: while frames are switched back to
back, a reader in another thread only takes the CPU and the GIL from the GUI thread
(docs/studio.md has the measurements)."""


def prefetch_task(queue, predictor_ref):
    """A TaskWorker function serving ``queue`` (a :class:`~.prediction.PredictionQueue` of
    ``(frame_id, change_count)``) until cancelled; ``predictor_ref()`` gives the session's
    current SegPredictor or None."""

    def run(ctx):
        from ..models.frame_data import load_frame_data

        while not ctx.cancel.is_set():
            if queue.quiet_for() < IDLE_S:
                time.sleep(IDLE_S / 3)
                continue
            jobs = queue.take_urgent(1)
            if not jobs:
                queue.wake.wait(0.5)
                queue.wake.clear()
                continue
            for fid, count in jobs:
                try:
                    d = load_frame_data(ctx.project, fid, predictor_ref())
                    d.raw_quality, d.restored_quality  # noqa: B018 - computed here, not on the GUI thread
                except Exception:  # noqa: BLE001 - the GUI thread reads it again and reports
                    continue
                ctx.on_item((count, d))
        return None

    return run
