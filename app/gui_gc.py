"""Python's cyclic garbage collection on the GUI thread only.

The collector runs in whichever thread happens to allocate when a threshold is crossed.
When it frees a reference cycle that holds Qt widgets while a worker thread is the one
allocating, Qt destroys those widgets off the GUI thread: a QMenu's destructor then waited
for the GIL inside the collector and the studio (a test run) hung for good. A
:class:`GuiGarbageCollector` turns automatic collection off and collects, with the same
generation thresholds, from a timer on the GUI thread.

A full (generation 2) collection walks every object the process has: with PySide6, torch,
scipy and the studio loaded, about 280,000, 170 ms of GUI-thread CPU (0.58 s of wall time
at load 7, 8,252 frames evaluated: the Evaluation tab's longest stall, measured by
``bench gui --evaluation``). After each full collection the survivors are frozen
(:func:`gc.freeze`: modules, classes, widgets, long-lived caches), so the next full
collection walks only what was made since. :meth:`thaw` gives them back to the collector
(the next full collection walks everything once): the studio thaws when a project is
opened or the models are reloaded, when the objects frozen may have become garbage (a
cycle among frozen objects is not freed until then).
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
        if gen == 2:
            gc.freeze()  # the survivors are long-lived: the next full collection skips them
        return gen

    def thaw(self, *_args) -> None:
        """Let the next full collection walk the frozen objects too (a slot: a project was
        opened, models reloaded)."""
        gc.unfreeze()

    def thaw_on(self, session) -> None:
        """Thaw when ``session`` opens a project or its models change."""
        from handpose_core.project import ChangeKind

        session.project_opened.connect(self.thaw)
        session.data_changed.connect(
            lambda change: self.thaw() if change.kind == ChangeKind.MODELS else None)

    def stop(self) -> None:
        """Stop the timer, collect everything here, and give collection back to Python."""
        self.timer.stop()
        gc.unfreeze()
        gc.collect()
        if self._was_enabled:
            gc.enable()
