"""Skeleton view: the 14-joint skeletons over the depth crop and in front / side / top views.

Ground truth is drawn solid, the regression model's prediction (when a model exists)
dashed, both with the standard edges and per-finger colours. pyqtgraph's GL view needs
PyOpenGL, which offscreen and headless installs lack, so 3D is shown as orthographic
projections in millimetres around the palm centre: fixed side and top views and one view
the user turns and tilts with two sliders. A table lists each joint's error.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from handpose_core.camera import NYU_CAMERA
from handpose_core.skeleton import EDGES_14, EVAL_NAMES, edge_colours_14

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)  # curves opt in

VIEWS = (("front", "3D, turned (x, y mm)", (0, 1)), ("side", "Side (z, y mm)", (2, 1)),
         ("top", "Top (x, z mm)", (0, 2)))
GRID = {"crop": (0, 0), "front": (0, 1), "side": (1, 0), "top": (1, 1)}
HALF_MM = 120.0  # half the side of the projection windows around the palm centre


class _Skeleton:
    """Edge lines (one item per edge, finger-coloured) and joint dots in one ViewBox."""

    def __init__(self, vb: pg.ViewBox, dashed: bool):
        style = Qt.DashLine if dashed else Qt.SolidLine
        self.edges = []
        for colour in edge_colours_14():
            item = pg.PlotCurveItem(pen=pg.mkPen(colour, width=3, style=style), antialias=True)
            vb.addItem(item, ignoreBounds=dashed)
            self.edges.append(item)
        self.dots = pg.ScatterPlotItem(size=6, brush=pg.mkBrush("#eceff1"), pen=None)
        vb.addItem(self.dots, ignoreBounds=dashed)

    def set(self, pts: np.ndarray | None) -> None:
        for item, (a, b) in zip(self.edges, EDGES_14):
            if pts is None:
                item.setData([], [])
            else:
                item.setData([pts[a, 0], pts[b, 0]], [pts[a, 1], pts[b, 1]])
        self.dots.setData(pos=[] if pts is None else pts[:, :2])


class SkeletonView(QWidget):
    """Skeletons of the current frame (see the module docstring)."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground("#1b2027")
        self.crop_vb = self._view(*GRID["crop"], "Over the depth crop", invert=True)
        self.depth = pg.ImageItem()
        self.crop_vb.addItem(self.depth)
        self.crop_gt, self.crop_pred = _Skeleton(self.crop_vb, False), _Skeleton(self.crop_vb, True)
        self.proj = {}
        for key, title, _axes in VIEWS:
            vb = self._view(*GRID[key], title, invert=key != "top")
            self.proj[key] = (vb, _Skeleton(vb, False), _Skeleton(vb, True))
        self.note = QLabel()
        self.note.setObjectName("skeleton_note")
        self.errors = QTableWidget(0, 3)
        self.errors.setObjectName("joint_errors")
        self.errors.setHorizontalHeaderLabels(["joint", "error mm", "error px"])
        self.errors.verticalHeader().hide()
        self.errors.verticalHeader().setDefaultSectionSize(20)
        self.errors.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.errors.setMaximumWidth(280)
        self.turn = QSlider(Qt.Horizontal)
        self.turn.setObjectName("turn")
        self.turn.setRange(-180, 180)
        self.tilt = QSlider(Qt.Horizontal)
        self.tilt.setObjectName("tilt")
        self.tilt.setRange(-90, 90)
        self.angle_label = QLabel()
        angles = QHBoxLayout()
        angles.addWidget(QLabel("Turn the 3D view:"))
        angles.addWidget(self.turn, 2)
        angles.addWidget(QLabel("tilt:"))
        angles.addWidget(self.tilt, 1)
        angles.addWidget(self.angle_label)
        for sl in (self.turn, self.tilt):
            sl.setToolTip("Rotate the skeleton in the top-right view (arrow keys step by 1°)")
            sl.valueChanged.connect(self._on_angle_changed)
        row = QHBoxLayout()
        row.addWidget(self.glw, 1)
        row.addWidget(self.errors)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.note)
        lay.addLayout(row, 1)
        lay.addLayout(angles)
        session.frame_changed.connect(self._on_session_frame_changed)
        session.data_changed.connect(self._on_session_data_changed)

    def _view(self, row: int, col: int, title: str, invert: bool) -> pg.ViewBox:
        self.glw.addLabel(f"<b>{title}</b>", row=2 * row, col=col, size="10pt")
        vb = self.glw.addViewBox(row=2 * row + 1, col=col, lockAspect=True, invertY=invert,
                                 enableMenu=False)
        vb.setBackgroundColor("#101418")
        return vb

    def refresh(self) -> None:
        if self.session.project is None or self.session.frame_id is None or not self.isVisible():
            return
        d = self.session.frame_data()
        depth = d.depth_crop
        hand = depth < 1.0
        lo, hi = (float(depth[hand].min()), float(depth[hand].max())) if hand.any() else (-1, 1)
        self.depth.setImage(np.where(hand, depth, np.nan), levels=(hi + 0.05, lo - 0.05))
        gt2 = d.joints_crop()[:, :2] + 0.5
        pred2 = None if d.predicted_uvd is None else d.joints_crop(d.predicted_uvd)[:, :2] + 0.5
        self.crop_gt.set(gt2)
        self.crop_pred.set(pred2)
        self._size = d.size
        gt3 = NYU_CAMERA.uvd_to_xyz(d.joints_uvd)
        pred3 = None if d.predicted_uvd is None else NYU_CAMERA.uvd_to_xyz(d.predicted_uvd)
        centre = gt3[13]
        self._points = (gt3 - centre, None if pred3 is None else pred3 - centre)
        self._project()
        QTimer.singleShot(0, self._fit)  # aspect-locked views fit once laid out
        self._fill_errors(d, gt3, pred3)
        self.note.setText("Ground truth solid" + ("; prediction dashed." if pred3 is not None else
                          ". No regression model yet: the prediction appears here once the "
                          "joint-regression stage has run."))

    def _project(self) -> None:
        """Draw the fixed side and top views and the turned front view (turn about the
        vertical axis, then tilt about the horizontal one, by the sliders' angles)."""
        gt, pred = self._points
        a, b = np.radians(self.turn.value()), np.radians(self.tilt.value())
        turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        tilt = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
        rot = tilt @ turn
        for key, _title, axes in VIEWS:
            _vb, sk_gt, sk_pred = self.proj[key]
            g, p = (gt @ rot.T, None if pred is None else pred @ rot.T) if key == "front" \
                else (gt, pred)
            sk_gt.set(g[:, axes])
            sk_pred.set(None if p is None else p[:, axes])
        self.angle_label.setText(f"turn {self.turn.value()}°, tilt {self.tilt.value()}°")

    def _on_angle_changed(self, _value: int) -> None:
        if getattr(self, "_points", None) is not None:
            self._project()

    def _fit(self) -> None:
        self.crop_vb.setRange(QRectF(0, 0, self._size, self._size), padding=0.02)
        for vb, _gt, _pred in self.proj.values():
            vb.setRange(QRectF(-HALF_MM, -HALF_MM, 2 * HALF_MM, 2 * HALF_MM), padding=0.02)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if getattr(self, "_size", None):
            QTimer.singleShot(0, self._fit)

    def _fill_errors(self, d, gt3, pred3) -> None:
        self.errors.setVisible(pred3 is not None)
        if pred3 is None:
            self.errors.setRowCount(0)
            return
        e3 = np.linalg.norm(pred3 - gt3, axis=1)
        e2 = np.linalg.norm(d.predicted_uvd[:, :2] - d.joints_uvd[:, :2], axis=1)
        self.errors.setRowCount(len(EVAL_NAMES) + 1)
        for j, name in enumerate(EVAL_NAMES):
            for c, text in enumerate((name, f"{e3[j]:.1f}", f"{e2[j]:.1f}")):
                self.errors.setItem(j, c, QTableWidgetItem(text))
        for c, text in enumerate(("mean", f"{e3.mean():.1f}", f"{e2.mean():.1f}")):
            self.errors.setItem(len(EVAL_NAMES), c, QTableWidgetItem(text))

    def showEvent(self, event) -> None:  # refresh what changed while hidden
        super().showEvent(event)
        self.refresh()

    @Slot(int)
    def _on_session_frame_changed(self, _frame_id: int) -> None:
        self.refresh()

    @Slot(str, object)
    def _on_session_data_changed(self, kind: str, frame_id) -> None:
        if frame_id is None or frame_id == self.session.frame_id:
            self.refresh()
