"""Skeleton view: the 14-joint skeletons over the depth crop and in front / side / top views.

Ground truth is drawn solid, the regression model's prediction (when a model exists)
dashed, both with the standard edges and per-finger colours. pyqtgraph's GL view needs
PyOpenGL, which offscreen and headless installs lack, so 3D is shown as orthographic
projections in millimetres around the palm centre: fixed side and top views and one view
the user turns and tilts with two sliders. A table lists each joint's error.

Clicking near a ground-truth joint in any of the four views (or its row in the error
table) selects it: a white ring marks it in every view and :attr:`SkeletonView.joint_selected`
tells the others (the guidance view follows it); :meth:`SkeletonView.select_joint` does the
same from outside. :meth:`SkeletonView.set_prediction` draws a regressor's joints for the
current frame (the joints panel runs the chosen regressor).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal, Slot
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
PICK_PX = 14.0  # a click this close (screen px) to a joint's dot selects it


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

    joint_selected = Signal(int)  # the user chose joint j (0..13, evaluation order)

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.joint = 0
        self._prediction: tuple[int, np.ndarray | None, str] | None = None  # (frame, uvd, note)
        self._shown: dict[str, np.ndarray] = {}  # view key -> (14, 2) ground truth as drawn
        self._crop_pred: np.ndarray | None = None
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
        self.rings = {}
        for key, vb in self._boxes().items():
            ring = pg.ScatterPlotItem(size=17, brush=None, pen=pg.mkPen("w", width=2.2))
            vb.addItem(ring, ignoreBounds=True)
            self.rings[key] = ring
        self.glw.scene().sigMouseClicked.connect(self._on_scene_clicked)
        self.note = QLabel()
        self.note.setObjectName("skeleton_note")
        self.note.setWordWrap(True)
        self.errors = QTableWidget(0, 3)
        self.errors.setObjectName("joint_errors")
        self.errors.setHorizontalHeaderLabels(["joint", "error mm", "error px"])
        self.errors.verticalHeader().hide()
        self.errors.verticalHeader().setDefaultSectionSize(20)
        self.errors.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        for c in (1, 2):  # the numbers take what they need; the joint's name the rest
            self.errors.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeToContents)
        self.errors.setMaximumWidth(280)
        self.errors.setSelectionBehavior(QTableWidget.SelectRows)
        self.errors.setSelectionMode(QTableWidget.SingleSelection)
        self.errors.setEditTriggers(QTableWidget.NoEditTriggers)
        self.errors.currentCellChanged.connect(self._on_errors_current_cell_changed)
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
        pred_uvd, pred_note = d.predicted_uvd, ""
        if self._prediction is not None and self._prediction[0] == d.frame.id:
            _fid, pred_uvd, pred_note = self._prediction
        pred2 = None if pred_uvd is None else d.joints_crop(pred_uvd)[:, :2] + 0.5
        self._shown["crop"], self._crop_pred = gt2, pred2
        self.crop_gt.set(gt2)
        self.crop_pred.set(pred2)
        self._size = d.size
        gt3 = NYU_CAMERA.uvd_to_xyz(d.joints_uvd)
        pred3 = None if pred_uvd is None else NYU_CAMERA.uvd_to_xyz(pred_uvd)
        centre = gt3[13]
        self._points = (gt3 - centre, None if pred3 is None else pred3 - centre)
        self._project()
        QTimer.singleShot(0, self._fit)  # aspect-locked views fit once laid out
        self._fill_errors(d, gt3, pred3, pred_uvd)
        self._mark_joint()
        if pred3 is not None:
            text = f"Ground truth solid; prediction dashed{pred_note}."
        elif pred_note:
            text = f"Ground truth solid. {pred_note}"
        else:
            text = ("Ground truth solid. No regression model yet: the prediction appears here "
                    "once the joint-regression stage has run.")
        self.note.setText(text + " Click a joint to select it.")

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
            self._shown[key] = g[:, axes]
        self.angle_label.setText(f"turn {self.turn.value()}°, tilt {self.tilt.value()}°")
        self._mark_joint()

    def _on_angle_changed(self, _value: int) -> None:
        if getattr(self, "_points", None) is not None:
            self._project()

    def _fit(self) -> None:
        """Zoom to the hand: the crop view to a square around the joints (6 px margin, at
        least 24 px, inside the crop), the projections to the joints' farthest distance
        from the palm centre plus 20 mm (at most ``HALF_MM``; the same in every turn)."""
        s = self._size
        pts = np.concatenate([p for p in (self._shown.get("crop"), self._crop_pred) if p is not None])
        lo, hi = np.clip(pts.min(0) - 6, 0, s), np.clip(pts.max(0) + 6, 0, s)
        side = float(min(s, max(24.0, *(hi - lo))))
        c = np.clip((lo + hi) / 2, side / 2, s - side / 2)
        self.crop_vb.setRange(QRectF(c[0] - side / 2, c[1] - side / 2, side, side), padding=0.0)
        gt, pred = self._points
        reach = max(float(np.linalg.norm(p, axis=1).max()) for p in (gt, pred) if p is not None)
        half = min(HALF_MM, reach + 20.0)
        for vb, _gt, _pred in self.proj.values():
            vb.setRange(QRectF(-half, -half, 2 * half, 2 * half), padding=0.0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if getattr(self, "_size", None):
            QTimer.singleShot(0, self._fit)

    def _fill_errors(self, d, gt3, pred3, pred_uvd) -> None:
        self.errors.blockSignals(True)  # refilling moves the current cell: not a user choice
        try:
            self._fill_error_rows(d, gt3, pred3, pred_uvd)
        finally:
            self.errors.blockSignals(False)

    def _fill_error_rows(self, d, gt3, pred3, pred_uvd) -> None:
        self.errors.setVisible(pred3 is not None)
        if pred3 is None:
            self.errors.setRowCount(0)
            return
        e3 = np.linalg.norm(pred3 - gt3, axis=1)
        e2 = np.linalg.norm(pred_uvd[:, :2] - d.joints_uvd[:, :2], axis=1)
        self.errors.setRowCount(len(EVAL_NAMES) + 1)
        for j, name in enumerate(EVAL_NAMES):
            for c, text in enumerate((name, f"{e3[j]:.1f}", f"{e2[j]:.1f}")):
                self.errors.setItem(j, c, QTableWidgetItem(text))
        for c, text in enumerate(("mean", f"{e3.mean():.1f}", f"{e2.mean():.1f}")):
            self.errors.setItem(len(EVAL_NAMES), c, QTableWidgetItem(text))
        self._select_row()

    # ------------------------------------------------------------------ joint selection
    def select_joint(self, j: int) -> None:
        """Mark joint ``j`` (0..13, evaluation order) in every view and the error table;
        emits :attr:`joint_selected` when the selection changed."""
        j = int(j)
        if not 0 <= j < len(EVAL_NAMES):
            raise ValueError(f"joint index must be in 0..{len(EVAL_NAMES) - 1}, got {j}")
        if j == self.joint:
            return
        self.joint = j
        self._mark_joint()
        self._select_row()
        self.joint_selected.emit(j)

    def set_prediction(self, frame_id: int | None, uvd: np.ndarray | None, note: str = "") -> None:
        """Draw ``uvd`` (14, 3) (u px, v px, d mm) as frame ``frame_id``'s prediction, or
        None with ``note`` saying why there is none (e.g. "predicting ..."); ``note`` with a
        prediction says where it comes from (", run NAME"). Kept until replaced."""
        self._prediction = None if frame_id is None else (
            int(frame_id), None if uvd is None else np.asarray(uvd, np.float64), note)
        self.refresh()

    def joint_scene_pos(self, j: int, view: str = "crop") -> QPointF:
        """Scene position of ground-truth joint ``j``'s dot in ``view`` (crop, front, side,
        top), as drawn."""
        x, y = self._shown[view][j]
        return self._boxes()[view].mapViewToScene(QPointF(float(x), float(y)))

    def _boxes(self) -> dict:
        return {"crop": self.crop_vb, **{k: v[0] for k, v in self.proj.items()}}

    def _mark_joint(self) -> None:
        for key, ring in self.rings.items():
            pts = self._shown.get(key)
            ring.setData(pos=[] if pts is None else pts[[self.joint]])

    def _select_row(self) -> None:
        if self.errors.rowCount() > self.joint and self.errors.currentRow() != self.joint:
            self.errors.setCurrentCell(self.joint, 0)

    def _on_scene_clicked(self, ev) -> None:
        if ev.button() != Qt.LeftButton:
            return
        pos = ev.scenePos()
        for key, vb in self._boxes().items():
            pts = self._shown.get(key)
            if pts is None or not vb.sceneBoundingRect().contains(pos):
                continue
            scene = np.array([[p.x(), p.y()] for p in
                              (vb.mapViewToScene(QPointF(float(x), float(y))) for x, y in pts)])
            dist = np.linalg.norm(scene - [pos.x(), pos.y()], axis=1)
            j = int(dist.argmin())
            if dist[j] <= PICK_PX:
                ev.accept()
                self.select_joint(j)
            return

    @Slot(int, int, int, int)
    def _on_errors_current_cell_changed(self, row: int, _col: int, _prow: int, _pcol: int) -> None:
        if 0 <= row < len(EVAL_NAMES):
            self.select_joint(row)

    def showEvent(self, event) -> None:  # refresh what changed while hidden
        super().showEvent(event)
        self.refresh()

    @Slot(int)
    def _on_session_frame_changed(self, _frame_id: int) -> None:
        self.refresh()

    @Slot(str, object)
    def _on_session_data_changed(self, change) -> None:
        if change.touches(self.session.frame_id):
            self.refresh()
