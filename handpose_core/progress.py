"""Progress reporting and cancellation shared by the command line and the studio.

Long-running core functions take keyword-only ``progress=`` (a :data:`ProgressFn`) and
``cancel=`` (a :class:`threading.Event`), call :func:`check_cancel` between units of
work, and raise :class:`Cancelled` when asked to stop.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

ProgressFn = Callable[[int, int, str], None]
"""``progress(done, total, message)``."""


class Cancelled(Exception):
    """Raised by a long-running function when its cancel event is set."""


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def no_progress(done: int, total: int, message: str = "") -> None:  # noqa: ARG001
    pass


class TerminalProgress:
    """A one-line progress bar on stderr, throttled to ~10 updates per second."""

    def __init__(self, label: str = "", stream=None, width: int = 30):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self._last = 0.0
        self._t0 = time.perf_counter()

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = time.perf_counter()
        final = total > 0 and done >= total
        if not final and now - self._last < 0.1:
            return
        self._last = now
        frac = done / total if total else 0.0
        filled = int(round(self.width * frac))
        bar = "#" * filled + "-" * (self.width - filled)
        el = now - self._t0
        line = f"\r{self.label} [{bar}] {done}/{total} {el:6.1f}s {message}"
        try:
            tty = self.stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if tty:
            self.stream.write(line[: 150].ljust(150))
            if final:
                self.stream.write("\n")
        elif final or now - getattr(self, "_last_plain", 0.0) > 5.0:
            self._last_plain = now
            self.stream.write(line.lstrip("\r") + "\n")
        self.stream.flush()
