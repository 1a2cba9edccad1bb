"""Running a stage from the command line: signals as cancel, exit codes, messages.

SIGTERM and the first Ctrl-C set the stage's cancel event (the stage stops at its next
check, keeps what it finished and records the run as cancelled); a second Ctrl-C
interrupts at once. Exit codes: 0 done, 2 bad input, 130 cancelled.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager


@contextmanager
def cancel_on_signals(label: str):
    """Yields a cancel event that SIGTERM and SIGINT set (in the main thread only)."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def on_term(signum, frame):  # noqa: ARG001
        cancel.set()

    def on_int(signum, frame):  # noqa: ARG001
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print(f"\n{label}: cancelling at the next safe point (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)

    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_int)
    try:
        yield cancel
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def report_interrupted(project, stage: str, label: str) -> None:
    """Say so when the stage's last run was killed (its process is gone)."""
    last = project.last_run(stage)
    if last is not None and last.status == "interrupted":
        print(f"{label}: the last run (#{last.id}, started {last.started}) was interrupted; "
              "continuing where it stopped", file=sys.stderr)
