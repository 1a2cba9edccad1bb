"""The evaluation dashboard: segmentation accuracy per method, per class and per frame,
and joint errors of prediction files with success curves.

Segmentation (the seed paper's Tables 2 and 3 and Figure 6): per-pixel and per-class
accuracy of raw f_s, the stored restorations, nearest-neighbour restoration without and
with integration, and the fine-tuned f_s, on the frames ``handpose-studio evaluate``
uses (or the evaluation set's done frames), computed in a worker by
:func:`handpose_core.labelling.accuracy.dashboard_scores` — the numbers equal the
command's. A grouped bar chart gives the per-class accuracy; the worst frames of a
method are listed and a click opens the frame.

Joints (Figure 8): prediction files loaded from disk (community uvd format, or named
xyz) are paired with the project's test frames; the table gives mean / median error
and the plot the max-frame success curves.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from handpose_core.parts import PARTS
from handpose_core.project import ChangeKind

from .dashboard_notes import (
    JOINT_PLACEHOLDER,
    SEG_PLACEHOLDER,
    computing_note,
    failed_note,
    placeholder,
    result_stack,
)

# what makes computed scores stale
_STALE_SCORES = frozenset({ChangeKind.LABELS, ChangeKind.RESTORATION, ChangeKind.MODELS, ChangeKind.EVAL_SET})

METHOD_COLOURS = {"raw f_s": "#5f6368", "restored (stored)": "#1a73e8",
                  "NN, no integration": "#f29900", "NN, integration": "#d93025",
                  "CRF, Potts-like": "#9334e6", "CRF, patch-overlap Hamming": "#12b5cb",
                  "joints only (no f_s, no patches)": "#795548",
                  "fine-tuned f_s": "#188038"}
CURVE_COLOURS = ("#1a73e8", "#d93025", "#188038", "#f29900", "#9334e6", "#12b5cb", "#5f6368")
SCOPES = (("labelled", "labelled frames (as evaluate)"),
          ("eval_set", "evaluation set, frames marked done"))


def _pct(x) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f}"


def _table(headers) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QTableWidget.NoEditTriggers)
    t.setSelectionBehavior(QTableWidget.SelectRows)
    t.horizontalHeader().setStretchLastSection(False)
    return t


def _dark_axes(plot) -> None:
    """Axis lines and labels in dark grey: pyqtgraph's light grey is faint on white."""
    for name in ("left", "bottom"):
        ax = plot.getAxis(name)
        ax.setPen("#5f6368")
        ax.setTextPen("#202124")


def _fill(table: QTableWidget, rows) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            it = QTableWidgetItem(str(v))
            if c > 0:
                it.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            table.setItem(r, c, it)
    table.resizeColumnsToContents()
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)  # the names


class DashboardPanel(QWidget):
    """The dashboard tab over a :class:`~app.models.session.Session`."""

    scores_ready = Signal(object)  # DashboardScores
    predictions_loaded = Signal(object)  # list of (PredictionSet, JointEvaluation)

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.scores = None
        self.joint_results: list = []
        self._stale = True
        tabs = QTabWidget()
        tabs.addTab(self._segmentation_tab(), "Segmentation (Tables 2–3, Figure 6)")
        tabs.addTab(self._joints_tab(), "Joint errors (Figure 8)")
        lay = QVBoxLayout(self)
        lay.addWidget(tabs)
        session.project_opened.connect(self._on_session_project_opened)
        session.data_changed.connect(self._on_session_data_changed)

    # ------------------------------------------------------------------ segmentation
    def _segmentation_tab(self) -> QWidget:
        w = QWidget()
        top = QHBoxLayout()
        top.addWidget(QLabel("Frames"))
        self.scope_combo = QComboBox()
        for key, text in SCOPES:
            self.scope_combo.addItem(text, key)
        top.addWidget(self.scope_combo)
        self.restoration_box = QCheckBox("restoration rows (slower)")
        self.restoration_box.setToolTip("NN restoration without and with integration and the "
                                        "two CRF restorations, as 'evaluate --what "
                                        "restoration': restores the frames afresh with the "
                                        "project's dictionary")
        top.addWidget(self.restoration_box)
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(self.compute)
        top.addWidget(self.compute_button)
        top.addStretch(1)
        self.seg_status = QLabel("not computed yet")  # its own line: never cut short
        self.seg_status.setObjectName("seg_status")
        self.seg_status.setWordWrap(True)
        # while Compute runs: the phase's done / total (cropping, each f_s, each restoration)
        self.seg_progress = QProgressBar()
        self.seg_progress.setObjectName("seg_progress")
        self.seg_progress.setTextVisible(True)
        self.seg_progress.setVisible(False)

        self.rows_table = _table(["method", "frames", "per pixel %", "per class %"])
        # a method name wraps at its spaces when the names column is narrower than it (a
        # narrow pane), rows growing to fit: never cut short ("joints only (no f_s,...")
        self.rows_table.setWordWrap(True)
        # re-fit once the column widths have settled (a resize of the pane, the first show)
        self._fit_timer = QTimer(self, singleShot=True, interval=0)
        self._fit_timer.timeout.connect(self._fit_rows)
        self.rows_table.horizontalHeader().sectionResized.connect(self._fit_timer.start)
        self.missing_label = QLabel()
        self.missing_label.setWordWrap(True)
        self.worst_combo = QComboBox()
        self.worst_combo.currentIndexChanged.connect(self._show_worst)
        self.worst_list = QListWidget()
        self.worst_list.setToolTip("Click a frame to open it")
        self.worst_list.itemClicked.connect(self._on_worst_list_item_clicked)
        left = QWidget()
        left.setMinimumWidth(330)  # method names and both accuracies without cutting
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Accuracy on ground-truth hand pixels"))
        ll.addWidget(self.rows_table, 2)
        ll.addWidget(self.missing_label)
        wl = QHBoxLayout()
        wl.addWidget(QLabel("Worst frames of"))
        wl.addWidget(self.worst_combo, 1)
        ll.addLayout(wl)
        ll.addWidget(self.worst_list, 3)

        self.bar_plot = pg.PlotWidget(background="w")
        _dark_axes(self.bar_plot)
        self.bar_plot.setLabel("bottom", "per-class accuracy (%)")
        self.bar_plot.setXRange(0, 100)
        self.bar_plot.invertY(True)
        self.bar_plot.setMouseEnabled(False, False)
        self.bar_plot.showGrid(x=True, y=False, alpha=0.3)
        ax = self.bar_plot.getAxis("left")
        ax.setTicks([[(i, f"{p.id} {p.name}") for i, p in enumerate(PARTS[1:])]])
        self.bar_legend = QLabel()  # above the chart: a legend inside would hide bars
        self.bar_legend.setWordWrap(True)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.bar_legend)
        rl.addWidget(self.bar_plot, 1)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([460, 640])  # "CRF, patch-overlap Hamming" in full
        self.seg_note = placeholder(SEG_PLACEHOLDER)
        self.seg_stack = result_stack(self.seg_note, split)
        lay = QVBoxLayout(w)
        lay.addLayout(top)
        lay.addWidget(self.seg_status)
        lay.addWidget(self.seg_progress)
        lay.addWidget(self.seg_stack, 1)
        return w

    def compute(self) -> None:
        """Measure every available method in a worker (a progress bar and the phase in
        the placeholder meanwhile)."""
        project = self.session.project
        if project is None or self.session.runner.busy("dashboard"):
            return
        # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
        from handpose_core.labelling.accuracy import dashboard_scores

        scope = self.scope_combo.currentData()
        restoration = self.restoration_box.isChecked()

        def task(ctx):
            return dashboard_scores(ctx.project, scope, restoration=restoration,
                                    progress=ctx.progress, cancel=ctx.cancel)

        self.compute_button.setEnabled(False)
        self.seg_status.setText("computing …")
        self.seg_note.setText(computing_note("starting", 0, 0))
        self.seg_progress.setRange(0, 0)  # busy until the first report
        self.seg_progress.setFormat("starting")
        self.seg_progress.setVisible(True)
        self.session.runner.run(task, name="dashboard", project_root=project.root,
                                on_success=self._on_scores_succeeded,
                                on_failure=self._on_scores_failed,
                                on_progress=self._on_scores_progress)

    def _on_scores_progress(self, done: int, total: int, message: str) -> None:
        self.seg_note.setText(computing_note(message, done, total))
        if total > 0:
            self.seg_progress.setRange(0, total)
            self.seg_progress.setValue(min(done, total))
        self.seg_progress.setFormat(f"{message} — %p%" if total > 0 else message)

    def _on_scores_succeeded(self, scores) -> None:
        self.compute_button.setEnabled(True)
        self.seg_progress.setVisible(False)
        self.show_scores(scores)

    def _on_scores_failed(self, message: str) -> None:
        self.compute_button.setEnabled(True)
        self.seg_progress.setVisible(False)
        if self.scores is None:  # the note in the middle says why
            self.seg_status.setText("failed")
            self.seg_note.setText(failed_note(message.splitlines()[0]))
        else:
            self.seg_status.setText(message.splitlines()[0])

    def show_scores(self, scores) -> None:
        """Fill the table, the bar chart and the worst-frame list from ``scores``."""
        self.scores = scores
        self._stale = False
        rows = []
        for name, m in scores.methods.items():
            t = m.total
            rows.append((name, len(m.frame_ids), _pct(t.per_pixel), _pct(t.per_class)))
        _fill(self.rows_table, rows)
        self._fit_rows()
        for r, m in enumerate(scores.methods.values()):
            self.rows_table.item(r, 0).setToolTip(f"{m.name}: {m.source}")
        self.missing_label.setText("<br>".join(f"<i>{k}</i>: {v}" for k, v in
                                               scores.missing.items()))
        self._draw_bars()
        self.worst_combo.blockSignals(True)
        self.worst_combo.clear()
        self.worst_combo.addItems(list(scores.methods))
        self.worst_combo.blockSignals(False)
        self._show_worst()
        self.seg_status.setText(f"{len(scores.frame_ids)} labelled frames")
        self.seg_stack.setCurrentIndex(1)
        self.scores_ready.emit(scores)

    def _fit_rows(self, *_) -> None:
        """Each row as tall as its name wrapped at the names column's width, and every
        row visible (eight with the restoration rows), no scroll bar."""
        t = self.rows_table
        t.resizeRowsToContents()
        t.setMinimumHeight(t.horizontalHeader().sizeHint().height() + 2 * t.frameWidth()
                           + sum(t.rowHeight(r) for r in range(t.rowCount())))

    def _draw_bars(self) -> None:
        self.bar_plot.clear()
        methods = list(self.scores.methods.values())
        self.bar_legend.setText("&nbsp;&nbsp;&nbsp;".join(
            f"<span style='color:{METHOD_COLOURS.get(m.name, '#888')}'>&#9632;</span>&nbsp;"
            + m.name.replace(" ", "&nbsp;")
            for m in methods))
        n = max(len(methods), 1)
        h = 0.8 / n
        y = np.arange(len(PARTS) - 1, dtype=float)
        for k, m in enumerate(methods):
            acc = np.nan_to_num(m.total.class_acc[1:], nan=0.0) * 100
            self.bar_plot.addItem(pg.BarGraphItem(
                x0=0, y=y - 0.4 + (k + 0.5) * h, height=h * 0.92, width=acc,
                brush=METHOD_COLOURS.get(m.name, "#888"), pen=None))
        self.bar_plot.setYRange(-0.6, len(PARTS) - 1.4, padding=0)

    def _show_worst(self) -> None:
        self.worst_list.clear()
        if self.scores is None:
            return
        m = self.scores.methods.get(self.worst_combo.currentText())
        if m is None:
            return
        project = self.session.project
        for fid, acc in m.worst(15):
            f = project.frame(fid)
            it = QListWidgetItem(f"{100 * acc:5.1f} %   {f.split} frame {f.frame}")
            it.setData(Qt.UserRole, fid)
            self.worst_list.addItem(it)

    def _on_worst_list_item_clicked(self, item: QListWidgetItem) -> None:
        self.session.set_frame(int(item.data(Qt.UserRole)))

    # ------------------------------------------------------------------ joints
    def _joints_tab(self) -> QWidget:
        w = QWidget()
        top = QHBoxLayout()
        self.load_button = QPushButton("Load predictions…")
        self.load_button.setToolTip("Prediction files of the test set: the community uvd format "
                                    "(42 numbers a line) or named xyz (a file name, then 42)")
        self.load_button.clicked.connect(self._on_load_button_clicked)
        top.addWidget(self.load_button)
        self.y_up_box = QCheckBox("xyz files have y up")
        self.y_up_box.setToolTip("Published named-xyz NYU result files have y pointing down; "
                                 "tick for files in NYU's joint_xyz convention (y up)")
        top.addWidget(self.y_up_box)
        top.addStretch(1)
        self.joint_status = QLabel("no prediction files loaded")  # its own line, wrapped
        self.joint_status.setWordWrap(True)
        self.joint_table = _table(["method", "format", "frames", "mean mm", "median",
                                   "≤20 mm %", "≤40 mm %"])
        self.curve_plot = pg.PlotWidget(background="w")
        _dark_axes(self.curve_plot)
        self.curve_plot.setLabel("bottom", "maximum joint error threshold (mm)")
        self.curve_plot.setLabel("left", "frames with all joints within (%)")
        self.curve_plot.setXRange(0, 80)
        self.curve_plot.setYRange(0, 100)
        self.curve_plot.showGrid(x=True, y=True, alpha=0.3)
        # bottom right: where success curves leave room
        self.curve_legend = self.curve_plot.addLegend(offset=(-10, -40), labelTextColor="#202124",
                                                      brush=(255, 255, 255, 230),
                                                      pen="#c0c0c0")
        self.joint_table.setMaximumHeight(170)  # a few methods: the curves get the room
        results = QWidget()
        rl = QVBoxLayout(results)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.joint_table)
        rl.addWidget(self.curve_plot, 1)
        self.joint_stack = result_stack(placeholder(JOINT_PLACEHOLDER), results)
        lay = QVBoxLayout(w)
        lay.addLayout(top)
        lay.addWidget(self.joint_status)
        lay.addWidget(self.joint_stack, 1)
        return w

    def load_predictions(self, paths) -> None:
        """Read prediction files and evaluate them against the test frames, in a worker."""
        project = self.session.project
        if project is None:
            return
        y_up = self.y_up_box.isChecked()
        paths = [str(p) for p in paths]

        def task(ctx):
            # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
            from handpose_core.evaluation import evaluate_joints
            from handpose_core.labelling.predictions import align_with_project, load_prediction_file

            out = []
            for i, p in enumerate(paths):
                ctx.progress(i, len(paths), f"reading {p}")
                pred = load_prediction_file(p, y_up=y_up)
                _, uvd, gt = align_with_project(pred, ctx.project)
                out.append((pred, evaluate_joints(uvd, gt, pred.name)))
            return out

        self.joint_status.setText("reading …")
        self.session.runner.run(task, name="predictions", project_root=project.root,
                                on_success=self._on_predictions_succeeded,
                                on_failure=self._on_predictions_failed)

    def _on_predictions_succeeded(self, results) -> None:
        names = {r[0].path for r in results}
        self.joint_results = [r for r in self.joint_results if r[0].path not in names] + results
        self._draw_joints()
        self.joint_stack.setCurrentIndex(1)
        self.joint_status.setText(f"{len(self.joint_results)} prediction sets on the test frames")
        self.predictions_loaded.emit(results)

    def _on_predictions_failed(self, message: str) -> None:
        self.joint_status.setText(message.splitlines()[0])
        from PySide6.QtWidgets import QMessageBox

        if self.isVisible():
            QMessageBox.warning(self, "Prediction file", message)

    def _draw_joints(self) -> None:
        rows = []
        self.curve_plot.clear()
        self.curve_legend.clear()
        for k, (pred, ev) in enumerate(self.joint_results):
            rows.append((ev.name, pred.fmt, ev.frames, f"{ev.mean_mm:.2f}", f"{ev.median_mm:.2f}",
                         _pct(ev.success_at(20)), _pct(ev.success_at(40))))
            pen = pg.mkPen(CURVE_COLOURS[k % len(CURVE_COLOURS)], width=2)
            self.curve_plot.plot(ev.thresholds, 100 * ev.curves["max_frame"], pen=pen,
                                 name=f"{ev.name} ({ev.mean_mm:.1f} mm)")
        _fill(self.joint_table, rows)

    def _on_load_button_clicked(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Prediction files", "",
                                                "Text files (*.txt);;All files (*)")
        if paths:
            self.load_predictions(paths)

    # ------------------------------------------------------------------ session
    def _on_session_project_opened(self, project) -> None:
        self.scores = None
        self.joint_results = []
        self._stale = True
        self.rows_table.setRowCount(0)
        self.missing_label.clear()
        self.bar_legend.clear()
        self.worst_list.clear()
        self.bar_plot.clear()
        self.curve_plot.clear()
        self.joint_table.setRowCount(0)
        self.seg_stack.setCurrentIndex(0)
        self.seg_note.setText(SEG_PLACEHOLDER)
        self.joint_stack.setCurrentIndex(0)
        self.seg_status.setText("not computed yet" if project else "no project")
        self.seg_progress.setVisible(False)

    def _on_session_data_changed(self, change) -> None:
        if change.kind in _STALE_SCORES and self.scores is not None:
            self._stale = True
            self.seg_status.setText("labels or models changed since: Compute to update")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale and self.scores is None and self.session.project is not None:
            self.compute()
