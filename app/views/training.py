"""The training panel: run the pipeline's stages from the studio.

Built from the stage table (:data:`handpose_core.stages.STAGES`), never from a list of
its own: each stage in pipeline order with its state from the project store, a settings
form generated from its settings dataclass, Run (Resume after a cancel) and Run all
remaining (with the time left for the whole chain, from each stage's past runs), Cancel, a
progress bar with ETA, live loss / accuracy curves from the run's
metric log, and a log. One job at a time, in a :class:`~app.workers.task_worker.
TaskWorker` with its own project connection; cancel only sets the event. A failure
becomes an error dialog and a failed state with the traceback in the log. When a run
ends (here or from the command line) the session's views reload what changed.
"""

from __future__ import annotations

import html
import time

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from handpose_core.stages import STAGES, get_stage

from ..models.stage_display import (
    ProgressClock,
    chain_left,
    chain_text,
    duration,
    needs_text,
    row_texts,
)
from ..models.stages_model import StagesModel, project_outputs, studio_defaults
from ..workers.stage_task import (
    STUDIO_TORCH_THREADS,
    StageJobInfo,
    stage_task,
    warm_up_torch_training,
)
from .close_guard import CloseGuard
from .stage_form import StageSettingsForm
from .training_curves import TrainingCurvesView

RESUMABLE = ("cancelled", "interrupted", "failed")
WARM_UP = "warm up torch training"


class TrainingPanel(QWidget):
    """Runs stages of the session's project (see the module docstring).

    ``job_ended(stage)`` follows the end of every job it started (after the views were
    told what changed)."""

    job_ended = Signal(str)

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.model = StagesModel(session, parent=self)
        self.worker = None
        self.job: StageJobInfo | None = None
        self.queue: list[str] = []
        self.torch_threads = STUDIO_TORCH_THREADS  # torch threads of a run (the GUI keeps a core)
        self.error_dialog: QMessageBox | None = None
        self.close_guard = None
        self.closing = False  # the window closes once the running job has ended
        self._failed_early: dict[str, tuple[int | None, str]] = {}
        self.clock = ProgressClock()
        self._build()
        self.model.changed.connect(self._on_model_changed)
        self.model.run_ended.connect(self._on_model_run_ended)
        self.curves_timer = QTimer(self)
        self.curves_timer.setInterval(500)
        self.curves_timer.timeout.connect(self._on_curves_timer_timeout)
        self.curves_timer.start()
        self._on_model_changed()
        self.table.setCurrentItem(self.table.topLevelItem(0))
        self._warmed = False

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """The first time the panel shows, take the process's first optimiser step in a
        worker (see :func:`~app.workers.stage_task.warm_up_torch_training`)."""
        if not self._warmed:
            self._warmed = True
            self.session.runner.run(warm_up_torch_training, name=WARM_UP)
        super().showEvent(event)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.table = QTreeWidget()
        self.table.setObjectName("stage_table")
        self.table.setHeaderLabels(["Stage", "State", "Result"])
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.forms: dict[str, StageSettingsForm] = {}
        self.form_stack = QStackedWidget()
        for i, st in enumerate(STAGES):
            item = QTreeWidgetItem([f"{i + 1}. {st.title}", "", ""])
            item.setData(0, Qt.UserRole, st.name)
            item.setToolTip(0, st.help or st.title)
            self.table.addTopLevelItem(item)
            self.items[st.name] = item
            form = StageSettingsForm(st.settings_cls, studio_defaults(st))
            self.forms[st.name] = form
            self.form_stack.addWidget(form)
        header = self.table.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setTextElideMode(Qt.ElideRight)  # the full result is in the tooltip and the side
        self.table.currentItemChanged.connect(self._on_table_current_item_changed)

        self.title = QLabel()
        self.title.setObjectName("stage_title")
        self.title.setWordWrap(True)
        self.needs_label = QLabel()
        self.needs_label.setObjectName("needs_label")
        self.needs_label.setWordWrap(True)
        self.needs_label.setStyleSheet("color: #b71c1c;")
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form_stack)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("run_button")
        self.run_all_button = QPushButton("Run all remaining")
        self.run_all_button.setObjectName("run_all_button")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_button")
        self.run_button.clicked.connect(self._on_run_button_clicked)
        self.run_all_button.clicked.connect(self._on_run_all_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        buttons = QHBoxLayout()
        for b in (self.run_button, self.run_all_button, self.cancel_button):
            buttons.addWidget(b)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(6, 0, 0, 0)
        sl.addWidget(self.title)
        sl.addWidget(self.needs_label)
        sl.addWidget(scroll, 1)
        sl.addLayout(buttons)

        self.progress = QProgressBar()
        self.progress.setObjectName("progress")
        self.progress.setTextVisible(True)
        self.eta_label = QLabel("idle")
        self.eta_label.setObjectName("eta_label")
        # Run all remaining: the time left for the whole chain (past runs' durations)
        self.chain_label = QLabel("")
        self.chain_label.setObjectName("chain_label")
        self.chain_label.setToolTip("estimated from each stage's past completed runs in "
                                    "this project and the current stage's progress")
        self._chain_expected: dict[str, float | None] = {}
        self.message_label = QLabel("")
        self.message_label.setObjectName("progress_message")
        self.curves = TrainingCurvesView()
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("log_view")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setPlaceholderText("what the stages did appears here")

        top = QSplitter(Qt.Horizontal)
        top.addWidget(self.table)
        top.addWidget(side)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        bottom = QSplitter(Qt.Horizontal)
        bottom.addWidget(self.curves)
        bottom.addWidget(self.log_view)
        bottom.setStretchFactor(0, 2)
        bottom.setStretchFactor(1, 1)
        bottom.setSizes([660, 340])
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.eta_label)
        status = QHBoxLayout()
        status.addWidget(self.message_label, 1)
        status.addWidget(self.chain_label)
        mid = QWidget()
        ml = QVBoxLayout(mid)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addLayout(prog)
        ml.addLayout(status)
        ml.addWidget(bottom, 1)
        outer = QSplitter(Qt.Vertical)
        outer.addWidget(top)
        outer.addWidget(mid)
        outer.setStretchFactor(0, 1)
        outer.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(outer)

    # ------------------------------------------------------------------ state display
    def selected_stage(self) -> str:
        item = self.table.currentItem()
        return item.data(0, Qt.UserRole) if item else STAGES[0].name

    def state_text(self, name: str) -> str:
        """The state column of stage ``name`` as shown."""
        return self.items[name].text(1)

    @Slot()
    def _on_model_changed(self) -> None:
        for name, item in self.items.items():
            st = self.model.statuses.get(name)
            early = self._failed_early.get(name)
            if early is not None and (st is None or (st.run.id if st.run else None) != early[0]):
                early = None  # a newer run replaced the failure
            text, result, colour = row_texts(st, running=bool(self.job and self.job.stage == name),
                                             early_failure=early and early[1])
            item.setText(1, text)
            item.setText(2, result)
            item.setToolTip(2, result)
            item.setForeground(1, QBrush(QColor(colour)))
        self._update_side()

    def _update_side(self) -> None:
        name = self.selected_stage()
        st, stage = self.model.statuses.get(name), get_stage(name)
        self.form_stack.setCurrentWidget(self.forms[name])
        last = ""
        if st is not None and st.run is not None:
            text, result, colour = row_texts(st)
            last = f"<br><i>last run:</i> <span style='color:{colour}'>{text}</span>" + \
                (f" — {html.escape(result)}" if result else "")
        self.title.setText(f"<b>{stage.title}</b> <span style='color:#666'>({stage.name})</span>"
                           f"<br>{stage.help}<br><i>produces:</i> {stage.produces}{last}")
        self.needs_label.setText(needs_text(st))
        self.needs_label.setVisible(bool(self.needs_label.text()))
        busy = self.worker is not None
        elsewhere = st is not None and st.state == "running" and not busy
        self.run_button.setText("Resume" if st is not None and st.state in RESUMABLE else "Run")
        self.run_button.setEnabled(not busy and not elsewhere and self.session.project is not None)
        self.run_button.setToolTip("this stage is running in another process" if elsewhere else
                                   "run the selected stage with these settings (it resumes "
                                   "from its checkpoint or its finished frames)")
        self.run_all_button.setEnabled(not busy and self.session.project is not None)
        self.cancel_button.setEnabled(busy and not self.job_cancelling())

    @Slot(object, object)
    def _on_table_current_item_changed(self, *_):
        self._update_side()
        self._follow_curves()

    def _follow_curves(self) -> None:
        """Curves of the running stage, else of the selected stage's last run."""
        running = [st for st in self.model.statuses.values() if st.state == "running" and st.run]
        st = running[0] if running else self.model.statuses.get(self.selected_stage())
        self.curves.set_run_dir(st.run.run_dir if st is not None and st.run is not None else None)

    @Slot()
    def _on_curves_timer_timeout(self) -> None:
        self._follow_curves()
        self.curves.poll()

    # ------------------------------------------------------------------ running
    def busy(self) -> bool:
        return self.worker is not None

    def job_cancelling(self) -> bool:
        return self.worker is not None and self.worker.worker.cancel_event.is_set()

    @Slot()
    def _on_run_button_clicked(self) -> None:
        self.queue = []
        self._chain_expected = {}
        self.start(self.selected_stage())

    @Slot()
    def _on_run_all_button_clicked(self) -> None:
        self.queue = self.model.remaining()
        if not self.queue:
            self.log("every stage is completed")
            return
        self.log("running " + ", ".join(self.queue))
        self._chain_expected = {n: self.model.expected_seconds(n) for n in self.queue}
        self.start(self.queue.pop(0))

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self.cancel()

    def start(self, name: str) -> bool:
        """Start stage ``name`` with its form's settings; False (and a dialog) when the
        settings do not read or a job is already running."""
        if self.worker is not None or self.session.project is None:
            return False
        stage = get_stage(name)
        try:
            settings = self.forms[name].settings()
        except ValueError as e:
            self.queue = []
            self._show_error(f"{stage.title}: invalid setting", str(e), None)
            return False
        self.job = StageJobInfo(name, settings)
        self._before = project_outputs(self.session.project)
        self.clock = ProgressClock()
        self.progress.setRange(0, 0)
        self.eta_label.setText("starting …")
        self._update_chain_label()
        self.message_label.setText("")
        self.log(f"{stage.title}: started")
        self.worker = self.session.runner.run(
            stage_task(stage, settings, self.job, threads=self.torch_threads), name=stage.title,
            project_root=self.session.project.root, on_success=self._on_worker_succeeded,
            on_failure=self._on_worker_failed, on_cancel=self._on_worker_cancelled,
            on_progress=self._on_worker_progress)
        self.worker.ended.connect(self._on_worker_ended)
        self._on_model_changed()
        return True

    def chain_seconds_left(self) -> tuple[float, int, int] | None:
        """``(seconds, stages without an estimate, stages to go)`` of a *Run all
        remaining* in progress (the current stage included), None otherwise."""
        if self.job is None or not self._chain_expected:
            return None
        cur = self.job.stage
        secs, unknown = chain_left(self._chain_expected.get(cur),
                                   time.monotonic() - self.job.started,
                                   self.clock.eta_seconds() if self.clock is not None else None,
                                   [self._chain_expected.get(n) for n in self.queue])
        return secs, unknown, 1 + len(self.queue)

    def _update_chain_label(self) -> None:
        left = self.chain_seconds_left()
        self.chain_label.setText("" if left is None else "Run all remaining: " + chain_text(*left))

    def cancel(self) -> None:
        """Ask the running stage to stop at its next check (the thread is never killed)."""
        if self.worker is not None and not self.job_cancelling():
            self.queue = []
            self.worker.cancel()
            self.log(f"{get_stage(self.job.stage).title}: cancelling …")
            self.eta_label.setText("cancelling …")
            self._update_side()

    @Slot(int, int, str)
    def _on_worker_progress(self, done: int, total: int, message: str) -> None:
        if self.clock.update(done, total, message) and message:
            self.log(f"{get_stage(self.job.stage).title}: {message}")
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(done, max(1, total)))
        self.eta_label.setText(self.clock.text())
        self._update_chain_label()
        self.message_label.setText(message)

    @Slot(object)
    def _on_worker_succeeded(self, result) -> None:
        took = duration(time.monotonic() - self.job.started)
        self.log(f"{get_stage(self.job.stage).title}: completed in {took}")
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.eta_label.setText(f"completed in {took}")

    @Slot(str)
    def _on_worker_failed(self, message: str) -> None:
        stage = get_stage(self.job.stage)
        self.queue = []
        self.job.failure = message
        self.log(f"{stage.title}: FAILED: {message}\n{self.job.traceback or ''}".rstrip())
        self.eta_label.setText("failed")
        st = self.model.statuses.get(stage.name)
        hint = ""
        if st is not None and st.missing:
            hint = "\n\nIt needs " + ", ".join(get_stage(n).title for n in st.missing) + \
                   f": run {get_stage(st.missing[0]).title} first."
        self._show_error(f"{stage.title} failed", message + hint, self.job.traceback)

    @Slot()
    def _on_worker_cancelled(self) -> None:
        self.queue = []
        self.log(f"{get_stage(self.job.stage).title}: cancelled; Resume continues from its "
                 "last checkpoint / finished frames")
        self.eta_label.setText("cancelled")

    @Slot()
    def _on_worker_ended(self) -> None:
        name, failure = self.job.stage, self.job.failure
        if self.closing:  # the close guard closes the window: nothing to reload
            self.worker, self.job = None, None
            self.job_ended.emit(name)
            return
        self.model.refresh()  # with the job still set: its end is not "another process's"
        self.worker, self.job = None, None
        self.message_label.setText("")
        st = self.model.statuses.get(name)
        self._failed_early.pop(name, None)
        if failure is not None and st is not None and st.state != "failed":
            self._failed_early[name] = (st.run.id if st.run else None, failure)
        self._reload_views(name)
        self._on_model_changed()
        self.job_ended.emit(name)
        if self.queue:
            self.start(self.queue.pop(0))
        else:
            self._chain_expected = {}
            self._update_chain_label()

    # ------------------------------------------------------------------ views, log, errors
    @Slot(str, str)
    def _on_model_run_ended(self, name: str, state: str) -> None:
        if self.job is None:  # a run of another process ended: reload what it made
            self.log(f"{get_stage(name).title}: {state} (run from another process)")
            self._before = None
            self._reload_views(name)

    def _reload_views(self, name: str) -> None:
        """Load a new f_s when the run made one (what it wrote to the store reaches the
        views through the session's change feed)."""
        after, before = project_outputs(self.session.project), getattr(self, "_before", None)
        if after is None:
            return
        if before is None or after[0] != before[0]:
            self.session.load_models()

    def log(self, text: str) -> None:
        self.log_view.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def _show_error(self, title: str, text: str, details: str | None) -> None:
        box = QMessageBox(QMessageBox.Critical, title, text, QMessageBox.Ok, self)
        box.setObjectName("error_dialog")
        if details:
            box.setDetailedText(details)
        self.error_dialog = box
        box.open()  # not exec(): the studio keeps running behind it

    # ------------------------------------------------------------------ closing
    def attach_window(self, window: QWidget) -> None:
        """The window holds this panel (app/panels.py): closing it during a run asks."""
        self.guard_close(window)

    def guard_close(self, window: QWidget) -> None:
        """Closing ``window`` while a stage runs asks first, then cancels and closes the
        window once the worker has stopped (see :mod:`app.views.close_guard`)."""
        self.close_guard = CloseGuard(self, window)

    @property
    def close_dialog(self):
        """The open "stop the running stage?" question, if one was asked."""
        return self.close_guard.dialog if self.close_guard is not None else None
