"""The studio session: the open project, the current frame, the undo stack, cached frame data.

Views read from the session and send user actions to it; no view writes to the project.
Every change to the project reaches every view as one typed
:class:`~handpose_core.project.Change` through :attr:`Session.data_changed`, on the GUI
thread, whoever made it: this window's own writes as the store announces them
(``Project.subscribe``), and the writes of workers and of other processes (``train
restore`` in a terminal) from the store's change log, which the session's
:class:`~handpose_core.project.ChangeFeed` polls every :attr:`Session.FEED_MS` ms (one
``PRAGMA data_version`` while nothing changed). It is the only timer that reads the store;
nobody notifies by hand.

Contract used by other panels (labelling, dashboard, training)::

    session.project_opened(project | None)     after open_project / close_project
    session.frame_changed(frame_id)            after set_frame
    session.data_changed(change)               a Change: .kind (ChangeKind), .frame_ids
                                               (None: any frame), .run_id; .touches(fid)
    session.frame_data(frame_id=None) -> FrameData   cached per frame
    session.undo_stack                         QUndoStack of the user's actions
    session.runner                             TaskRunner for work off the GUI thread
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QUndoStack

from handpose_core.project import Change, ChangeFeed, ChangeKind

from ..workers.frame_data import FrameData, load_frame_data
from ..workers.prediction import PredictionQueue, prediction_task
from ..workers.prefetch import ReadAhead, prefetch_task
from ..workers.task_worker import TaskRunner
from .predictions import SegPredictor

# what a change makes stale in the per-frame cache
_STALE_DATA = frozenset({ChangeKind.RESTORATION, ChangeKind.LABELS, ChangeKind.OVERRIDE,
                         ChangeKind.META})

log = logging.getLogger(__name__)


class Session(QObject):
    """One open project and what the user is looking at."""

    project_opened = Signal(object)
    frame_changed = Signal(int)
    data_changed = Signal(object)  # a Change, on the GUI thread
    message_posted = Signal(str)  # a one-line status message for the status bar
    error_raised = Signal(str)  # a problem the user must see (the window shows a dialog)
    _announced = Signal(object)  # a Change from Project.subscribe, any thread

    CACHE_FRAMES = 256
    FEED_MS = 250

    def __init__(self, parent=None, *, feed_ms: int | None = None):
        super().__init__(parent)
        self.project = None
        self.frame_id: int | None = None
        self.predictor = None  # SegPredictor once loaded in a worker
        self.prediction_queue = None
        self.read_ahead = None  # ReadAhead served by the "read frames ahead" worker
        self._changes = 0  # store changes seen; prefetched data older than one is dropped
        self.undo_stack = QUndoStack(self)
        self.runner = TaskRunner(self)
        self._cache: OrderedDict[int, FrameData] = OrderedDict()
        self._unsubscribe = None
        self.feed: ChangeFeed | None = None
        self.feed_timer = QTimer(self)
        self.feed_timer.setInterval(self.FEED_MS if feed_ms is None else int(feed_ms))
        self.feed_timer.timeout.connect(self._on_feed_timer_timeout)
        self._announced.connect(self._on_announced, Qt.QueuedConnection)

    # ------------------------------------------------------------------ project
    def open_project(self, project) -> None:
        """Make ``project`` (an open :class:`~handpose_core.project.Project`) current.

        The previous project is closed. f_s is loaded in a worker; until it is, frames
        that the restore stage has not seen show no raw map."""
        self.close_project(emit=False)
        self.project = project
        self.feed = ChangeFeed(project)
        self._unsubscribe = project.subscribe(self._announced.emit)
        self.feed_timer.start()
        self._start_prefetch()
        self.project_opened.emit(project)
        self.load_models()

    def close_project(self, *, emit: bool = True) -> None:
        if self.project is None:
            return
        self.feed_timer.stop()
        self.feed = None
        if self._unsubscribe is not None:
            try:
                self._unsubscribe()
            except Exception:  # noqa: BLE001 - closing must not fail on a stale callback
                log.exception("unsubscribe failed")
            self._unsubscribe = None
        self.runner.shutdown()
        self.undo_stack.clear()
        self._cache.clear()
        self.predictor = None
        self.prediction_queue = None
        self.read_ahead = None
        self.project.close()
        self.project = None
        self.frame_id = None
        if emit:
            self.project_opened.emit(None)

    def load_models(self) -> None:
        """(Re)load the project's f_s models in a worker; views refresh when they arrive."""
        if self.project is None:
            return
        root = self.project.root

        def build(ctx):
            ctx.progress(0, 1, "loading f_s")
            return SegPredictor.for_project(ctx.project)

        self.message_posted.emit("loading the segmentation network f_s …")
        self.runner.run(build, name="load f_s", project_root=root,
                        on_success=self._on_models_loaded, on_failure=self._on_models_failed)

    @Slot(object)
    def _on_models_loaded(self, predictor) -> None:
        if self.project is None:
            return
        self.predictor = predictor
        self._cache = OrderedDict((k, v) for k, v in self._cache.items()
                                  if not self._lacks_maps(v))
        self.message_posted.emit(f"f_s loaded: {predictor.raw_name}")
        self._start_predictions(predictor)
        self._deliver(Change(ChangeKind.MODELS))

    def _start_predictions(self, predictor) -> None:
        self.prediction_queue = PredictionQueue()
        if self.frame_id is not None:
            self.request_predictions(self.frame_id)
        h = self.runner.run(prediction_task(predictor, self.prediction_queue),
                            name="predict f_s", project_root=self.project.root,
                            on_failure=self._on_models_failed, service=True)
        h.item_done.connect(self._on_predictions_item_done)

    def request_predictions(self, frame_id: int, ahead: int = 48) -> None:
        """Ask the prediction worker for ``frame_id`` and the ``ahead`` frames after it."""
        q = getattr(self, "prediction_queue", None)
        if q is not None:
            q.request(list(range(frame_id, frame_id + ahead + 1)))

    def prefetch(self, frame_ids) -> None:
        """Load these frames' data in a worker, in this order (frames already cached are
        skipped); the browser asks for the next rows first, which are read at once."""
        if self.project is None or self.read_ahead is None:
            return
        ids = [int(i) for i in frame_ids if int(i) not in self._cache]
        if ids:
            self.read_ahead.request(ids, self._changes)

    def _start_prefetch(self) -> None:
        self.read_ahead = ReadAhead()
        self.runner.run(prefetch_task(self.read_ahead, lambda: self.predictor),
                        name="read frames ahead", project_root=self.project.root, service=True)

    def _read_ahead(self, fid: int) -> FrameData | None:
        """Data the worker read for ``fid`` under the current store state, unless f_s has
        delivered maps since that the worker could not see."""
        if self.read_ahead is None:
            return None
        d = self.read_ahead.take(fid, self._changes)
        return None if d is None or self._lacks_maps(d) else d

    def _lacks_maps(self, d: FrameData) -> bool:
        """Whether ``d`` lacks an f_s map that the loaded models give (read before f_s
        loaded or before the prediction worker reached the frame)."""
        p = self.predictor
        return p is not None and ((d.raw_labels is None and p.has_model("raw")) or
                                  (d.finetuned_labels is None and p.has_model("fine")))

    @Slot(object)
    def _on_predictions_item_done(self, frame_ids) -> None:
        for fid in frame_ids:
            d = self._cache.get(fid)
            if d is not None and self._lacks_maps(d):
                self._cache.pop(fid)
        if self.frame_id in frame_ids:
            self._deliver(Change(ChangeKind.MODELS, frozenset(int(i) for i in frame_ids)))

    @Slot(str)
    def _on_models_failed(self, message: str) -> None:
        self.error_raised.emit(f"Could not load the segmentation network.\n\n{message}")

    # ------------------------------------------------------------------ frames
    def set_frame(self, frame_id: int) -> None:
        """Make ``frame_id`` current and tell the views (nothing happens when it already is).

        A frame whose files cannot be read is reported through :attr:`error_raised` and the
        current frame stays as it was."""
        frame_id = int(frame_id)
        if frame_id == self.frame_id:
            return
        try:
            self.frame_data(frame_id)  # read it here, where a bad file can be reported
        except Exception as e:  # noqa: BLE001 - a corrupt frame must not take the studio down
            log.exception("reading frame %s", frame_id)
            self.error_raised.emit(f"Cannot show frame {frame_id}: {e}")
            return
        self.frame_id = frame_id
        if self.predictor is not None:
            self.request_predictions(frame_id)
        self.frame_changed.emit(frame_id)

    def frame_data(self, frame_id: int | None = None) -> FrameData:
        """The data of ``frame_id`` (the current frame by default), cached per frame."""
        fid = self.frame_id if frame_id is None else int(frame_id)
        if self.project is None or fid is None:
            raise LookupError("no project or no frame selected")
        d = self._cache.get(fid)
        if d is None:
            d = self._read_ahead(fid) or load_frame_data(self.project, fid, self.predictor)
            self._cache[fid] = d
            while len(self._cache) > self.CACHE_FRAMES:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(fid)
        return d

    def invalidate(self, frame_id: int | None = None) -> None:
        """Forget cached data of one frame (all frames for None)."""
        if frame_id is None:
            self._cache.clear()
        else:
            self._cache.pop(int(frame_id), None)
        if self.read_ahead is not None:
            self.read_ahead.forget(frame_id)

    # ------------------------------------------------------------------ user actions
    def write_override(self, frame_id: int, accept: bool | None) -> None:
        """Write an override to the store now (used by the undo command); the store's
        change reaches the views through the feed."""
        self.project.set_override(frame_id, accept)

    # ------------------------------------------------------------------ the change feed
    @Slot(object)
    def _on_announced(self, change: Change) -> None:
        """A write through the session's own connection (queued to the GUI thread)."""
        if self.feed is not None and self.feed.accept(change) is not None:
            self._deliver(change)

    @Slot()
    def _on_feed_timer_timeout(self) -> None:
        """Writes of other connections and processes, from the store's change log."""
        if self.feed is None:
            return
        try:
            changes = self.feed.poll()
        except Exception:  # noqa: BLE001 - a busy or vanished store: try again next tick
            log.exception("reading the project's changes")
            return
        for change in changes:
            self._deliver(change)

    def _deliver(self, change: Change) -> None:
        """Forget what ``change`` made stale, then tell the views (GUI thread)."""
        if self.project is None:
            return
        if change.kind is not ChangeKind.MODELS:
            self._changes += 1  # data read ahead before this change is not used
        if change.kind in _STALE_DATA:
            if change.all_frames:
                self.invalidate()
            else:
                for fid in change.frame_ids:
                    self.invalidate(fid)
                    if change.kind is ChangeKind.LABELS and self.predictor is not None:
                        self.predictor.forget(fid)
        self.data_changed.emit(change)

    def shutdown(self) -> None:
        """Cancel and wait for workers, then close the project (window close)."""
        self.runner.shutdown()
        self.close_project(emit=False)
