"""One worker that runs any core function off the GUI thread.

A :class:`TaskWorker` is a QObject moved to its own QThread. It calls ``fn(ctx)`` where
``ctx`` (:class:`TaskContext`) carries a ``progress(done, total, message)`` callback that
emits :attr:`TaskWorker.progress`, the cancel ``threading.Event``, an ``on_item(obj)``
callback that emits :attr:`TaskWorker.item_done`, and — when the worker was given a
project root — the worker's own :class:`~handpose_core.project.Project` connection, opened
in the thread and closed afterwards. Exactly one of ``succeeded(result)``, ``failed(message)``
or ``cancelled()`` follows, then ``ended()``. Cancel only sets the event; a thread is
never terminated. :class:`TaskRunner` keeps running workers alive and, on shutdown,
cancels and waits for them.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from handpose_core.progress import Cancelled
from handpose_core.project import Project

log = logging.getLogger(__name__)


@dataclass
class TaskContext:
    """What a task function receives: progress, cancel, per-item reporting, its project."""

    progress: Callable[[int, int, str], None]
    cancel: threading.Event
    on_item: Callable[[object], None]
    project: object | None = None
    extra: dict = field(default_factory=dict)


class _TaskSignals(QObject):
    """The signals of a task, shared by the worker and its GUI-thread handle."""

    progress = Signal(int, int, str)
    item_done = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    ended = Signal()


class TaskWorker(_TaskSignals):
    """Runs ``fn(ctx)`` once in a worker thread (see the module docstring)."""

    def __init__(self, fn: Callable[[TaskContext], object], *, name: str = "task",
                 project_root: str | Path | None = None, service: bool = False):
        super().__init__()
        self.fn = fn
        self.name = name
        self.service = service  # runs until cancelled (background predictions, reading ahead)
        self.project_root = project_root
        self.cancel_event = threading.Event()
        self.running = False

    def cancel(self) -> None:
        """Ask the task to stop at its next cancel check."""
        self.cancel_event.set()

    @Slot()
    def run(self) -> None:
        self.running = True
        project = None
        try:
            if self.project_root is not None:
                project = Project.open(self.project_root)
            ctx = TaskContext(lambda d, t, m="": self.progress.emit(int(d), int(t), str(m)),
                              self.cancel_event, self.item_done.emit, project)
            result = self.fn(ctx)
        except Cancelled:
            self.cancelled.emit()
        except Exception as e:  # noqa: BLE001 - every error reaches the user as a message
            # bad files and folders are the user's to fix: their message says it all, the
            # traceback goes to the log only; anything else is a bug and shows it on stderr
            level = logging.INFO if isinstance(e, (OSError, ValueError)) else logging.ERROR
            log.log(level, "%s failed:\n%s", self.name, traceback.format_exc())
            self.failed.emit(f"{self.name}: {e}" if str(e) else f"{self.name}: {type(e).__name__}")
        else:
            if self.cancel_event.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            if project is not None:
                project.close()
            self.running = False
            self.ended.emit()


class TaskHandle(_TaskSignals):
    """The GUI-thread face of a running worker: the same signals, re-emitted on the thread
    that started it, so plain functions and lambdas connected here run on the GUI thread."""

    def __init__(self, worker: TaskWorker, parent=None):
        super().__init__(parent)
        self.worker = worker
        self.name = worker.name
        # bound slots of a GUI-thread QObject: queued across threads
        worker.progress.connect(self._on_worker_progress)
        worker.item_done.connect(self._on_worker_item_done)
        worker.succeeded.connect(self._on_worker_succeeded)
        worker.failed.connect(self._on_worker_failed)
        worker.cancelled.connect(self._on_worker_cancelled)

    def cancel(self) -> None:
        self.worker.cancel()

    @Slot(int, int, str)
    def _on_worker_progress(self, d, t, m):
        self.progress.emit(d, t, m)

    @Slot(object)
    def _on_worker_item_done(self, obj):
        self.item_done.emit(obj)

    @Slot(object)
    def _on_worker_succeeded(self, result):
        self.succeeded.emit(result)

    @Slot(str)
    def _on_worker_failed(self, message):
        self.failed.emit(message)

    @Slot()
    def _on_worker_cancelled(self):
        self.cancelled.emit()


class TaskRunner(QObject):
    """Starts workers in their own threads and keeps them until they end."""

    started = Signal(object)  # the TaskHandle

    def __init__(self, parent=None):
        super().__init__(parent)
        self._running: dict[TaskWorker, QThread] = {}
        self._handles: dict[TaskWorker, TaskHandle] = {}

    def start(self, worker: TaskWorker, handle: TaskHandle | None = None) -> TaskHandle:
        """Run ``worker`` in a new thread; returns its :class:`TaskHandle`."""
        handle = handle or TaskHandle(worker, self)
        self._handles[worker] = handle
        thread = QThread()
        thread.setObjectName(worker.name)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # direct: quit() is thread-safe, and must not wait for a GUI thread blocked in shutdown()
        worker.ended.connect(thread.quit, Qt.DirectConnection)
        worker.ended.connect(self._on_worker_ended)  # queued: runs on this (GUI) thread
        self._running[worker] = thread
        thread.start()
        self.started.emit(handle)
        return handle

    def run(self, fn: Callable[[TaskContext], object], *, name: str = "task",
            project_root=None, on_success=None, on_failure=None, on_cancel=None,
            on_progress=None, service: bool = False) -> TaskHandle:
        """Build a worker for ``fn``, start it, and connect the given callables to its
        handle's signals (they run on the GUI thread). A ``service`` runs until cancelled and
        does not count as :meth:`busy`."""
        w = TaskWorker(fn, name=name, project_root=project_root, service=service)
        h = TaskHandle(w, self)
        for sig, slot in ((h.succeeded, on_success), (h.failed, on_failure),
                          (h.cancelled, on_cancel), (h.progress, on_progress)):
            if slot is not None:
                sig.connect(slot)
        return self.start(w, h)

    def workers(self) -> list[TaskWorker]:
        return list(self._running)

    def busy(self, name: str | None = None) -> bool:
        """Whether a worker named ``name`` runs; for None, whether any task (not counting
        services) runs."""
        return any(w.name == name if name is not None else not w.service for w in self._running)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel every running worker and wait for its thread to end."""
        for w in list(self._running):
            w.cancel()
        for w, t in list(self._running.items()):
            t.wait(timeout_ms)
            self._running.pop(w, None)
            self._handles.pop(w, None)

    @Slot()
    def _on_worker_ended(self) -> None:
        worker = self.sender()
        t = self._running.pop(worker, None)
        if t is not None:
            t.wait(5000)  # ended() is the worker's last act; quit follows at once
            t.deleteLater()
        h = self._handles.pop(worker, None)
        if h is not None:
            h.ended.emit()
            h.deleteLater()
