"""How a stage's state and a run's progress read in the training panel (no widgets here).

:func:`row_texts` turns a :class:`~handpose_core.stages.StageStatus` into the table's
state and result columns; :class:`ProgressClock` turns ``progress(done, total, message)``
calls into elapsed time and an ETA per phase of a run.
"""

from __future__ import annotations

import time
from datetime import datetime

from handpose_core.stages import StageStatus, get_stage

STATE_COLOURS = {"not run": "#757575", "running": "#1565c0", "completed": "#2e7d32",
                 "failed": "#c62828", "cancelled": "#ef6c00", "interrupted": "#ef6c00"}


def clock(stamp: str | None) -> datetime | None:
    """A store time stamp (``2026-11-30T01:43:02+0000``) as an aware datetime, or None."""
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z") if stamp else None
    except ValueError:
        return None


def duration(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on)."""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def row_texts(st: StageStatus | None, *, running: bool = False,
              early_failure: str | None = None) -> tuple[str, str, str]:
    """``(state, result, colour)`` of a stage's row.

    ``running``: this studio runs it now; ``early_failure``: the message of a run that
    failed before the stage recorded it (e.g. a missing input file)."""
    if running:
        return "running", "", STATE_COLOURS["running"]
    if early_failure is not None:
        return "failed", early_failure, STATE_COLOURS["failed"]
    if st is None:
        return "", "", "#333"
    text, result = st.state, ""
    if st.run is not None:
        start, end = clock(st.run.started), clock(st.run.ended)
        if start is not None and end is not None:
            text += f"  {end.astimezone().strftime('%H:%M')} ({duration((end - start).total_seconds())})"
        result = st.headline or st.error or ""
    elif st.state == "completed":
        result = "output present (made outside a recorded run)"
    if st.missing and st.state != "completed":
        result = result or "needs " + ", ".join(get_stage(n).title for n in st.missing)
    return text, result, STATE_COLOURS.get(st.state, "#333")


def needs_text(st: StageStatus | None) -> str:
    """What to run first when a stage's inputs are missing ('' when none are)."""
    if st is None or not st.missing:
        return ""
    names = " and ".join(get_stage(n).title for n in st.missing)
    return (f"Needs the output of {names}: run {get_stage(st.missing[0]).title} first "
            "(or “Run all remaining”).")


class ProgressClock:
    """Elapsed time and ETA of the current phase of a run.

    A phase starts when the message's head (text before ':'), the total, or a smaller
    ``done`` than before appears; the ETA extrapolates the phase's own rate, so a resumed
    run (starting at ``done`` > 0) is not credited with steps it did not do now."""

    def __init__(self):
        self.head, self.total, self.t0, self.d0, self.last = "", -1, time.monotonic(), 0, 0

    def update(self, done: int, total: int, message: str, now: float | None = None) -> bool:
        """Record a progress call; returns True when it started a new phase."""
        now = time.monotonic() if now is None else now
        head = message.split(":", 1)[0]
        new = head != self.head or total != self.total or done < self.last
        if new:
            self.head, self.total, self.t0, self.d0 = head, total, now, done
        self.last = done
        self.now = now
        return new

    def text(self) -> str:
        """``done/total · elapsed · ETA m:ss``."""
        elapsed = self.now - self.t0
        s = f"{self.last}/{self.total} · {duration(elapsed)}"
        if self.last > self.d0 and self.total > self.last:
            s += f" · ETA {duration(elapsed / (self.last - self.d0) * (self.total - self.last))}"
        return s

    def eta_seconds(self) -> float | None:
        """Seconds left in the current phase at its own rate (None before a step)."""
        if self.last > self.d0 and self.total > self.last:
            return (self.now - self.t0) / (self.last - self.d0) * (self.total - self.last)
        return None


def chain_left(expected: float | None, elapsed: float, phase_eta: float | None,
               queued: list[float | None]) -> tuple[float, int]:
    """Seconds left for a chain of stages and how many stages are not in that figure.

    The current stage, ``elapsed`` seconds in, is expected to take ``expected`` seconds
    (its past runs; None: unknown) and its current phase has ``phase_eta`` seconds left
    (None: unknown): it has at least the phase's ETA left, and the rest of its past
    duration if that is longer (a stage can have several phases). ``queued``: the
    expected seconds of the stages still to start (None: no past run). Returns
    ``(seconds, n_unknown)``: stages without any estimate are not counted in seconds."""
    unknown = 0
    if expected is not None:
        current = max(expected - elapsed, phase_eta or 0.0, 0.0)
    elif phase_eta is not None:
        current = phase_eta
    else:
        current, unknown = 0.0, 1
    known = [q for q in queued if q is not None]
    return current + float(sum(known)), unknown + len(queued) - len(known)


def chain_text(seconds: float, n_unknown: int, n_stages: int) -> str:
    """``N stages to go: ~h:mm:ss left`` (with the stages the estimate leaves out)."""
    head = f"{n_stages} stage{'s' if n_stages != 1 else ''} to go"
    if n_unknown == n_stages:
        return f"{head}: no estimate yet (no past runs)"
    s = f"{head}: ~{duration(seconds)} left"
    if n_unknown:
        s += f" + {n_unknown} without a past run"
    return s
