"""What held the GUI thread: a tick timer, every thread's stack dumped while a tick is
overdue, and the garbage collector's runs.

:class:`StallRecorder` is started on the GUI thread. Each tick of its ``tick_ms`` timer
records the wall clock, the GUI thread's CPU time (``time.thread_time``), the GUI thread's
time spent runnable but waiting for a core (Linux ``/proc/thread-self/schedstat``) and
the whole process's CPU time. The gap between two ticks is the event loop's latency; the
clocks' differences over a gap split it into the GUI thread's own work, waiting for a core,
and the rest (waiting for the GIL or a lock while another thread holds it). The ticks keep
:func:`faulthandler.dump_traceback_later` armed: when no tick comes for ``stall_ms``, its
C thread (which needs no GIL, so a thread holding the GIL in C code cannot hide) writes
every thread's Python stack, and the next tick files that dump under its gap.
:meth:`report` gives the longest gaps with their split and stacks.
"""

from __future__ import annotations

import faulthandler
import gc
import os
import re
import tempfile
import threading
import time
from collections import Counter

import numpy as np


def _schedstat_wait_s() -> float:
    """Seconds this thread has waited on a run queue (Linux); NaN elsewhere."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


_THREAD = re.compile(r"^(?:Current thread|Thread) (0x[0-9a-f]+)", re.M)
_FILE = re.compile(r'^\s+File "([^"]+)", line (\d+) in (\S+)', re.M)


def parse_dump(text: str, depth: int = 6) -> dict[int, str]:
    """faulthandler's traceback text -> {thread id: its innermost ``depth`` frames as
    'folder/file:line function' joined by ' < '}."""
    out = {}
    heads = list(_THREAD.finditer(text))
    for k, h in enumerate(heads):
        body = text[h.end():heads[k + 1].start() if k + 1 < len(heads) else len(text)]
        frames = ["/".join(f.group(1).split("/")[-2:]) + f":{f.group(2)} {f.group(3)}"
                  for f in _FILE.finditer(body)][:depth]
        out[int(h.group(1), 16)] = " < ".join(frames)
    return out


class StallRecorder:
    """Ticks on the GUI thread and dumps stacks when they stop (module docstring)."""

    def __init__(self, tick_ms: int = 10, stall_ms: float = 200.0, depth: int = 6, note=None):
        from PySide6.QtCore import QTimer

        self.tick_ms, self.stall_s, self.depth = tick_ms, stall_ms / 1e3, depth
        self.note = note  # () -> str: what the GUI says it is doing (the phase), per tick
        self.gui_ident = threading.get_ident()
        self.ticks: list[tuple[float, float, float, float]] = []
        self.notes: list[str] = []
        self.dumps: dict[int, str] = {}  # gap index -> faulthandler text written during it
        self.gc_runs: list[tuple[float, float, int, bool]] = []  # (start, s, gen, on GUI)
        self._gc_start: dict[int, float] = {}
        self._file = None
        self._pos = 0
        self._armed = 0.0
        self.timer = QTimer()
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._file = tempfile.TemporaryFile(mode="w+b")
        self._tick()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        faulthandler.cancel_dump_traceback_later()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._file is not None:
            self._file.close()
            self._file = None

    def _tick(self) -> None:
        now = time.perf_counter()
        self.ticks.append((now, time.thread_time(), _schedstat_wait_s(), time.process_time()))
        if self.note is not None:
            self.notes.append(self.note())
        fd = self._file.fileno()
        size = os.fstat(fd).st_size
        if size > self._pos:  # a dump was written during the gap that just ended
            self.dumps[len(self.ticks) - 2] = os.pread(fd, size - self._pos, self._pos).decode(
                "utf-8", "replace")
            self._pos = size
        if now - self._armed > 0.05:  # re-arming starts a C thread: not on every tick
            faulthandler.dump_traceback_later(self.stall_s, repeat=False, file=self._file)
            self._armed = now

    def _on_gc(self, phase: str, info: dict) -> None:
        ident = threading.get_ident()
        if phase == "start":
            self._gc_start[ident] = time.perf_counter()
        else:
            t0 = self._gc_start.pop(ident, None)
            if t0 is not None:
                self.gc_runs.append((t0, time.perf_counter() - t0, info.get("generation", -1),
                                     ident == self.gui_ident))

    def report(self, t0: float, longest: int = 5) -> dict:
        """The gap statistics and the ``longest`` gaps, each with its split into GUI-thread
        CPU, waiting for a core and the rest, the collector's runs and the stacks dumped."""
        if len(self.ticks) < 2:
            return {"ticks": len(self.ticks)}
        a = np.asarray(self.ticks)
        gaps = np.diff(a, axis=0)
        wall = gaps[:, 0]
        order = np.argsort(wall)[::-1][:longest]
        on_gui = [s for _, s, _, on in self.gc_runs if on]
        out = {"ticks": len(self.ticks), "tick_ms": self.tick_ms,
               "stall_ms": round(self.stall_s * 1e3),
               "gap_max_ms": round(float(wall.max() * 1e3), 1),
               "gap_p99_ms": round(float(np.percentile(wall, 99) * 1e3), 1),
               "gaps_over_stall": int((wall > self.stall_s).sum()),
               "gui_cpu_total_s": round(float(a[-1, 1] - a[0, 1]), 2),
               "gui_core_wait_total_s": round(float(a[-1, 2] - a[0, 2]), 2),
               "process_cpu_total_s": round(float(a[-1, 3] - a[0, 3]), 2),
               "gui_gc_total_s": round(sum(on_gui), 3),
               "gui_gc_max_ms": round(1e3 * max(on_gui, default=0.0), 1),
               "longest_gaps": []}
        for i in order:
            start, end = a[i, 0], a[i + 1, 0]
            gcs = [{"at_s": round(s0 - t0, 3), "ms": round(s * 1e3, 1), "generation": g,
                    "gui_thread": on} for s0, s, g, on in self.gc_runs
                   if s0 < end and s0 + s > start]
            stacks = parse_dump(self.dumps.get(int(i), ""), self.depth)
            gui = stacks.pop(self.gui_ident, None)
            g_ms, c_ms = float(gaps[i, 1] * 1e3), float(gaps[i, 2] * 1e3)
            out["longest_gaps"].append({
                "at_s": round(float(start - t0), 2),
                "gap_ms": round(float(wall[i] * 1e3), 1),
                "gui_cpu_ms": round(g_ms, 1),
                "gui_core_wait_ms": round(c_ms, 1) if np.isfinite(c_ms) else None,
                # neither running nor runnable: blocked (the GIL, a lock, I/O)
                "gui_blocked_ms": round(float(wall[i] * 1e3) - g_ms - c_ms, 1)
                if np.isfinite(c_ms) else None,
                "process_cpu_ms": round(float(gaps[i, 3] * 1e3), 1),
                "phase": self.notes[i] if i < len(self.notes) else None,
                "gc": gcs,
                "gui_stack": gui,
                "other_threads": dict(Counter(v for v in stacks.values() if v)),
            })
        return out
