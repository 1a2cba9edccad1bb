"""Python's cyclic garbage collection on the GUI thread only.

The collector runs in whichever thread happens to allocate when a threshold is crossed.
When it frees a reference cycle that holds Qt widgets while a worker thread is the one
allocating, Qt destroys those widgets off the GUI thread: a QMenu's destructor then waited
for the GIL inside the collector and the studio (a test run) hung for good. A
:class:`GuiGarbageCollector` turns automatic collection off and collects, with the same
generation thresholds, from a timer on the GUI thread.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiGarbageCollector(QObject):
    """While it lives (until :meth:`stop`), cycles are collected every ``interval_ms`` on
    the thread that created it, when Python's own thresholds say a collection is due."""

    def __init__(self, parent=None, interval_ms: int = 500):
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect_if_due)
        self.timer.start(interval_ms)

    def collect_if_due(self) -> int:
        """Collect the oldest generation whose threshold is crossed; returns it (-1: none)."""
        counts, limits = gc.get_count(), gc.get_threshold()
        if counts[0] <= limits[0]:
            return -1
        gen = 2 if counts[2] > limits[2] else 1 if counts[1] > limits[1] else 0
        gc.collect(gen)
        return gen

    def stop(self) -> None:
        """Stop the timer, collect everything here, and give collection back to Python."""
        self.timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
