"""Reading frames ahead: the frames after the current one are loaded in a worker.

A frame's data costs a PNG decode of the 640 x 480 depth, crops, label maps and the
quality scores; done on the GUI thread that is a third of a frame switch. The session
asks a :class:`ReadAhead` for the next frames of the browser's list; the worker
(:func:`prefetch_task`) loads them through its own project connection and keeps each
:class:`~app.workers.frame_data.FrameData` until the session takes it. The first few
frames of a request (the next rows) are read at once, even while frames are switched
back to back; the rest only after the user paused, so a reader that runs ahead does not
take the CPU from the GUI thread for frames nobody may look at (docs/studio.md).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

from .frame_data import load_frame_data

IDLE_S = 0.06
"""Frames past the eager ones are read only once the user has paused this long."""

EAGER = 2
"""Frames at the front of a request read at once (the next rows: what an arrow key shows)."""


class ReadAhead:
    """Frames waiting to be read and the data read, shared by the session (GUI thread) and
    the reading worker (thread-safe). Jobs are ``(frame_id, change_count)``: data read
    under an older change count than the session's is stale and never handed out."""

    def __init__(self, keep: int = 32):
        self._cond = threading.Condition()
        self._jobs: deque[tuple[int, int]] = deque()
        self._eager = 0
        self._busy: int | None = None
        self._done: OrderedDict[int, tuple[int, object]] = OrderedDict()
        self._keep = keep
        self.last_request = 0.0
        self.taken = 0  # frames the session took instead of reading them itself

    # ------------------------------------------------------------------ GUI thread
    def request(self, frame_ids, count: int, eager: int = EAGER) -> None:
        """Read these frames next, in this order; the first ``eager`` of them at once. Data
        read under another change count than ``count`` is dropped (and so read again):
        after an override the frames ahead are still served from here."""
        with self._cond:
            for i in [i for i, (c, _) in self._done.items() if c != count]:
                del self._done[i]
            ids = [int(i) for i in frame_ids if int(i) not in self._done and int(i) != self._busy]
            new = set(ids)
            self._jobs = deque([(i, count) for i in ids] +
                               [j for j in self._jobs if j[0] not in new])
            self._eager = min(eager, len(ids))
            self.last_request = time.monotonic()
            self._cond.notify_all()

    def take(self, frame_id: int, count: int, wait_s: float = 0.25):
        """The data read for ``frame_id`` under change ``count``, or None. When the worker
        is reading that frame right now, waits for it (at most ``wait_s``) rather than read
        it a second time."""
        with self._cond:
            if self._busy == frame_id:
                self._cond.wait_for(lambda: self._busy != frame_id, wait_s)
            item = self._done.pop(int(frame_id), None)
            if any(j[0] == frame_id for j in self._jobs):  # the caller reads it: not twice
                self._jobs = deque(j for j in self._jobs if j[0] != frame_id)
        if item is None or item[0] != count:
            return None
        self.taken += 1
        return item[1]

    def ready(self, frame_id: int) -> bool:
        """Whether data read for ``frame_id`` waits to be taken."""
        with self._cond:
            return int(frame_id) in self._done

    def forget(self, frame_id: int | None = None) -> None:
        """Drop data read for one frame (all frames for None)."""
        with self._cond:
            if frame_id is None:
                self._done.clear()
            else:
                self._done.pop(int(frame_id), None)

    # ------------------------------------------------------------------ worker
    def next_job(self, timeout: float) -> tuple[int, int] | None:
        """The next job the worker may read now, waiting at most ``timeout`` s for one."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                if self._jobs and (self._eager > 0 or now - self.last_request >= IDLE_S):
                    job = self._jobs.popleft()
                    self._eager = max(0, self._eager - 1)
                    self._busy = job[0]
                    return job
                if now >= end:
                    return None
                wait = end - now
                if self._jobs:  # eager ones are done: the rest once the user pauses
                    wait = min(wait, self.last_request + IDLE_S - now + 0.001)
                self._cond.wait(max(wait, 0.001))

    def finish(self, frame_id: int, count: int, data) -> None:
        """The worker read ``frame_id`` (``data`` None when it could not)."""
        with self._cond:
            self._busy = None
            if data is not None:
                self._done[int(frame_id)] = (count, data)
                while len(self._done) > self._keep:
                    self._done.popitem(last=False)
            self._cond.notify_all()


def prefetch_task(read_ahead: ReadAhead, predictor_ref):
    """A TaskWorker function serving ``read_ahead`` until cancelled; ``predictor_ref()``
    gives the session's current SegPredictor or None."""

    def run(ctx):
        while not ctx.cancel.is_set():
            job = read_ahead.next_job(0.5)
            if job is None:
                continue
            fid, count = job
            d = None
            try:
                d = load_frame_data(ctx.project, fid, predictor_ref())
                d.raw_quality, d.restored_quality  # noqa: B018 - computed here, not on the GUI thread
            except Exception:  # noqa: BLE001 - the GUI thread reads it again and reports
                d = None
            read_ahead.finish(fid, count, d)
        return None

    return run
