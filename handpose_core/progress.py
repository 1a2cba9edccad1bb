"""Progress reporting and cancellation shared by the command line and the studio.

Long-running core functions take keyword-only ``progress=`` (a :data:`ProgressFn`) and
``cancel=`` (a :class:`threading.Event`), call :func:`check_cancel` between units of
work, and raise :class:`Cancelled` when asked to stop.
"""

from __future__ import annotations

import os
import shutil
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


def phase_progress(progress: ProgressFn | None, name: str) -> ProgressFn | None:
    """``progress`` with each message prefixed by ``"NAME: "`` (one phase of a stage's
    run); None when ``progress`` is None."""
    if progress is None:
        return None
    return lambda done, total, message="": progress(done, total, f"{name}: {message}")


def format_duration(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` above (seconds rounded down)."""
    t = int(max(seconds, 0.0))
    h, m, sec = t // 3600, t // 60 % 60, t % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class TerminalProgress:
    """A progress line on stderr: a bar, done/total, elapsed time and an estimate of the
    time left, then the message.

    On a terminal the line is redrawn in place (throttled to ~10 updates per second) and
    fits the terminal's width: the message is cut (ending in "…") rather than wrapping
    onto a new line; ``columns`` fixes the width instead of asking the terminal. Into a
    file or pipe it writes a full line every 5 s and at the end. The estimate is the
    work left at the rate measured since ``done`` first moved, so neither a start-up
    phase (loading, compiling) nor work done before a resume skews it; a new total, or
    ``done`` going back, starts a new phase with its own estimate.
    """

    def __init__(self, label: str = "", stream=None, width: int = 30, columns: int | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.columns = columns
        self._last = 0.0
        self._last_plain = 0.0
        self._drawn = 0  # length of the line now on the terminal
        self._t0 = time.perf_counter()
        self._initial: int | None = None  # done at the first update of this phase
        self._phase: tuple[int, int] = (-1, -1)  # (total, done) of the last update
        self._moved: tuple[float, int] | None = None  # (time, done) when done first moved

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = time.perf_counter()
        if self._initial is None or total != self._phase[0] or done < self._phase[1]:
            self._initial, self._moved = done, None
        elif self._moved is None and done > self._initial:
            self._moved = (now, done)
        self._phase = (total, done)
        final = total > 0 and done >= total
        if not final and now - self._last < 0.1:
            return
        self._last = now
        if self._is_tty():
            line = self._fit(done, total, message, now, self._terminal_columns() - 1)
            self.stream.write("\r" + line.ljust(self._drawn))  # blank what a longer line left
            self._drawn = len(line)
            if final:
                self.stream.write("\n")
                self._drawn = 0
        elif final or now - self._last_plain > 5.0:
            self._last_plain = now
            self.stream.write(" ".join(self._parts(done, total, message, now, self.width)) + "\n")
        self.stream.flush()

    def _is_tty(self) -> bool:
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError):
            return False

    def _terminal_columns(self) -> int:
        if self.columns:
            return self.columns
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            return shutil.get_terminal_size((80, 24)).columns

    def _times(self, done: int, total: int, now: float) -> str:
        text = f"{format_duration(now - self._t0)} elapsed"
        if self._moved is None or (total > 0 and done >= total):
            return text
        t1, d1 = self._moved
        if done > d1 and now > t1:
            left = (total - done) * (now - t1) / (done - d1)
            return f"{text}, ~{format_duration(left)} left"
        return text

    def _parts(self, done: int, total: int, message: str, now: float, bar_width: int) -> list[str]:
        frac = min(done / total, 1.0) if total > 0 else 0.0
        filled = int(round(bar_width * frac))
        parts = [self.label] if self.label else []
        if bar_width > 0:
            parts.append(f"[{'#' * filled}{'-' * (bar_width - filled)}]")
        parts += [f"{done}/{total}", f"({self._times(done, total, now)})"]
        return parts + ([message] if message else [])

    def _fit(self, done: int, total: int, message: str, now: float, columns: int) -> str:
        """The line for a terminal of ``columns`` usable columns. The bar takes an eighth
        of the width (at most ``width``) when the message still fits beside it, and is
        left out otherwise; a message that does not fit even then is cut."""
        columns = max(columns, 10)
        line = " ".join(self._parts(done, total, "", now, 0))
        bar_width = min(self.width, columns // 8)
        if bar_width >= 8 and len(line) + bar_width + 3 + (len(message) + 1 if message else 0) <= columns:
            line = " ".join(self._parts(done, total, "", now, bar_width))
        if message:
            room = columns - len(line) - 1
            if room >= len(message):
                line += " " + message
            elif room > 1:
                line += " " + message[: room - 1] + "…"
        return line[:columns]
