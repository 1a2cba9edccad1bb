"""Live loss and accuracy curves of a training run, read from its metric log.

The engine appends one JSON object per line to ``RUN_DIR/metrics.jsonl`` (kind
``train``: ``train_loss`` every few steps; kind ``val``: ``val_acc`` and ``val_loss``
after each validation). :class:`TrainingCurvesView` tails that file with
:class:`~app.models.stages_model.MetricsTail`, so it draws the curves of a run in this
studio or one started from the command line, and of a finished run after a restart.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..models.stages_model import MetricsTail

METRICS_FILE = "metrics.jsonl"


class TrainingCurvesView(QWidget):
    """Training loss (per logged step) and validation accuracy (per validation) against
    the epoch. :meth:`set_run_dir` chooses the run; :meth:`poll` reads what is new."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self._tail: MetricsTail | None = None
        self.train_x: list[float] = []
        self.train_loss: list[float] = []
        self.val_x: list[float] = []  # epochs of val_acc
        self.val_loss_x: list[float] = []
        self.val_loss: list[float] = []
        self.val_acc: list[float] = []
        self.caption = QLabel("no training curves: the selected stage has not trained a network")
        self.caption.setObjectName("curves_caption")
        self.caption.setWordWrap(True)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.setMinimumWidth(240)
        self.loss_plot = self.graphics.addPlot(row=0, col=0)
        self.acc_plot = self.graphics.addPlot(row=0, col=1)
        titles = ("loss: <span style='color:#1565c0'>train</span> · "
                  "<span style='color:#ef6c00'>validation</span>",
                  "validation accuracy (%)")
        for p, title in zip((self.loss_plot, self.acc_plot), titles):
            # series named in the title: a legend box covered the curves in a narrow dock
            p.setTitle(title, color="#333", size="10pt")
            p.setLabel("bottom", "epoch")
            p.showGrid(x=True, y=True, alpha=0.25)
            p.setMouseEnabled(x=False, y=False)
        self.acc_plot.setYRange(0, 100)
        self.train_curve = self.loss_plot.plot(pen=pg.mkPen("#1565c0", width=1.5))
        self.val_loss_curve = self.loss_plot.plot(
            pen=pg.mkPen("#ef6c00", width=1.5), symbol="o", symbolSize=6, symbolBrush="#ef6c00")
        self.acc_curve = self.acc_plot.plot(
            pen=pg.mkPen("#2e7d32", width=1.5), symbol="o", symbolSize=6, symbolBrush="#2e7d32")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.caption)
        lay.addWidget(self.graphics, 1)
        self.caption.setAlignment(Qt.AlignLeft | Qt.AlignTop)

    def set_run_dir(self, run_dir: str | Path | None) -> None:
        """Show the run in ``run_dir`` (None: no run); reads its log from the start."""
        run_dir = Path(run_dir) if run_dir else None
        if run_dir == self.run_dir:
            return
        self.run_dir = run_dir
        self._tail = MetricsTail(run_dir / METRICS_FILE) if run_dir else None
        self._clear()
        self.poll()

    def poll(self) -> int:
        """Read the records appended since the last poll; returns how many were new."""
        self.graphics.setVisible(self._tail is not None)
        if self._tail is None:
            self.caption.setText("No training curves: the selected stage does not train a "
                                 "network. Select Pre-train f_s (or a running training stage) "
                                 "to see its loss and validation accuracy.")
            return 0
        records, replaced = self._tail.poll()
        if replaced:
            self._clear()
        for r in records:
            x = float(r.get("epoch", r.get("step", 0)))
            if r.get("kind") == "train" and "train_loss" in r:
                self.train_x.append(x)
                self.train_loss.append(float(r["train_loss"]))
            elif r.get("kind") == "val":
                if "val_loss" in r:
                    self.val_loss_x.append(x)
                    self.val_loss.append(float(r["val_loss"]))
                if "val_acc" in r:
                    self.val_x.append(x)
                    self.val_acc.append(100.0 * float(r["val_acc"]))
        if records or replaced:
            self.train_curve.setData(self.train_x, self.train_loss)
            self.val_loss_curve.setData(self.val_loss_x, self.val_loss)
            self.acc_curve.setData(self.val_x, self.val_acc)
        self._caption()
        return len(records)

    def _caption(self) -> None:
        name = self.run_dir.name if self.run_dir else ""
        if not self.train_x and not self.val_x and not self.val_loss_x:
            self.caption.setText(f"run {name}: no metrics yet")
            return
        text = f"run <b>{name}</b>: {len(self.train_x)} loss points"
        if self.train_loss:
            text += f", last loss {self.train_loss[-1]:.3f}"
        if self.val_acc:
            text += f"; validation accuracy {self.val_acc[-1]:.1f} % (best {max(self.val_acc):.1f} %)"
        self.caption.setText(text)

    def _clear(self) -> None:
        for lst in (self.train_x, self.train_loss, self.val_x, self.val_loss_x, self.val_loss,
                    self.val_acc):
            lst.clear()
        for c in (self.train_curve, self.val_loss_curve, self.acc_curve):
            c.setData([], [])
