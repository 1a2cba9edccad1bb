"""The task that runs a stage in a worker (a :class:`~.task_worker.TaskWorker` function),
and the one that warms torch's training path up when the training panel opens.

The studio adds no training logic: :func:`stage_task` calls the stage's own ``run`` on
the worker's own project connection; what it writes reaches the views through the
session's change feed.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field

from handpose_core.progress import Cancelled

# Torch threads of a stage run from the studio: one leaves the GUI thread a core of the
# two this project targets (docs/studio-training.md has the stall measurements).
STUDIO_TORCH_THREADS = 1


@dataclass
class StageJobInfo:
    """What the panel keeps about the job it started (the worker fills ``traceback``)."""

    stage: str
    settings: object
    started: float = field(default_factory=time.monotonic)
    traceback: str | None = None
    failure: str | None = None


def stage_task(stage, settings, info: StageJobInfo, *, threads: int = STUDIO_TORCH_THREADS,
               min_interval_s: float = 0.05):
    """A :class:`~app.workers.task_worker.TaskWorker` function that runs ``stage`` with
    ``settings`` on the worker's own project connection.

    Torch and the numba renderer use ``threads`` threads during the run; progress
    reaches the GUI at most every ``min_interval_s`` seconds (and always at the end of a
    phase); the traceback of a failure is kept in ``info.traceback`` before the worker
    reports it."""

    def fn(ctx):
        # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
        import numba
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # this thread's
        last = [0.0]
        lock = threading.Lock()

        def progress(done, total, message=""):
            now = time.monotonic()
            with lock:
                if done < total and now - last[0] < min_interval_s:
                    return
                last[0] = now
            ctx.progress(done, total, message)

        try:
            return stage.run(ctx.project, settings, progress=progress, cancel=ctx.cancel,
                             on_item=ctx.on_item)
        except Cancelled:
            raise
        except BaseException:
            info.traceback = traceback.format_exc()
            raise
        finally:
            torch.set_num_threads(before)

    return fn


def warm_up_torch_training(ctx=None) -> None:
    """Take one optimiser step on a tiny model (a TaskWorker function).

    A process's first optimiser step imports ``torch._dynamo``, which holds the GIL for
    stretches of a few hundred milliseconds; done in a worker when the panel opens, that
    happens once at start-up instead of freezing the window just after the user pressed
    Run. Trains nothing of the project's."""
    import torch

    m = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(m.parameters())
    m(torch.zeros(1, 2)).sum().backward()
    opt.step()

