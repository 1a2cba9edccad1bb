"""The painting surface of the labelling mode: depth at native resolution, labels over it.

It shows the crop box of a frame as the frame's own pixels (see
:mod:`handpose_core.labelling.aids`): a grey depth image with the part labels blended
over it through the part colour table, a circle showing the brush, wheel zoom and
right / middle-button pan (pyqtgraph's ViewBox). The left button paints: the label item
takes the press itself (so the first dab lands on press, not after a drag threshold),
then the moves and the release. Scene coordinates are frame pixels (u, v).

The canvas does not decide what a press does: it reports ``pressed`` / ``moved`` /
``released`` in frame coordinates and the panel drives the editor, then calls
:meth:`LabelCanvasView.refresh` with the box that changed.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem

from handpose_core.parts import NUM_CLASSES, palette_rgb


def overlay_lut() -> np.ndarray:
    """``(256, 4)`` uint8 RGBA: part colours opaque, background and unknown ids clear."""
    lut = np.zeros((256, 4), np.uint8)
    lut[:NUM_CLASSES, :3] = palette_rgb()
    lut[1:NUM_CLASSES, 3] = 255
    return lut


class _PaintImageItem(pg.ImageItem):
    """The label overlay; claims left-button presses so the canvas can paint."""

    def __init__(self, canvas: LabelCanvasView):
        super().__init__(axisOrder="row-major")
        self._canvas = canvas
        self.setAcceptedMouseButtons(Qt.LeftButton)
        self.setAcceptHoverEvents(True)

    def _frame_pos(self, ev):
        p = self.mapToParent(ev.pos())  # parent = the ViewBox's child group: frame pixels
        return float(p.x()), float(p.y())

    def mousePressEvent(self, ev):
        if ev.button() != Qt.LeftButton:
            ev.ignore()
            return
        ev.accept()
        self._canvas.pressed.emit(*self._frame_pos(ev), int(ev.modifiers().value))

    def mouseMoveEvent(self, ev):
        if ev.buttons() & Qt.LeftButton:
            x, y = self._frame_pos(ev)
            self._canvas.moved.emit(x, y)
            self._canvas.show_cursor(x, y)

    def mouseReleaseEvent(self, ev):
        if ev.button() == Qt.LeftButton:
            self._canvas.released.emit(*self._frame_pos(ev))

    def hoverEvent(self, ev):  # pyqtgraph's hover events
        if ev.isExit():
            self._canvas.hide_cursor()
            return
        p = self.mapToParent(ev.pos())
        self._canvas.show_cursor(float(p.x()), float(p.y()))
        self._canvas.hovered.emit(float(p.x()), float(p.y()))


class LabelCanvasView(pg.GraphicsLayoutWidget):
    """Depth + label overlay of one frame region; emits mouse actions in frame pixels."""

    pressed = Signal(float, float, int)  # x, y (frame px), keyboard modifiers
    moved = Signal(float, float)
    released = Signal(float, float)
    hovered = Signal(float, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("#202124")
        self.ci.setContentsMargins(0, 0, 0, 0)
        self.vb = self.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.vb.setMouseEnabled(True, True)
        self.depth_item = pg.ImageItem(axisOrder="row-major")
        self.label_item = _PaintImageItem(self)
        self.vb.addItem(self.depth_item)
        self.vb.addItem(self.label_item)
        self._lut = overlay_lut()
        self.cursor = QGraphicsEllipseItem()
        pen = QPen(QColor("#ffffff"))
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        self.cursor.setPen(pen)
        self.cursor.setZValue(10)
        self.cursor.hide()
        self.vb.addItem(self.cursor)
        self.brush_size = 7
        self._labels_view: np.ndarray | None = None
        self.region = (0, 0, 1, 1)
        self.setMinimumSize(320, 320)
        self.setCursor(Qt.CrossCursor)

    # ------------------------------------------------------------------ content
    def set_frame(self, depth_grey: np.ndarray, labels: np.ndarray,
                  region: tuple[int, int, int, int], *, reset_view: bool = True) -> None:
        """Show ``depth_grey`` (region-sized uint8) and the region of the full-frame
        ``labels`` map, which is kept as a view: :meth:`refresh` redraws it in place."""
        y0, x0, y1, x1 = region
        self.region = region
        self._labels_view = labels[y0:y1, x0:x1]
        self.depth_item.setImage(depth_grey, levels=(0, 255), autoLevels=False)
        self.depth_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.label_item.setImage(self._labels_view, lut=self._lut, levels=(0, 255),
                                 autoLevels=False)
        self.label_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        if reset_view:
            self.vb.setRange(QRectF(x0, y0, x1 - x0, y1 - y0), padding=0.02)

    def clear_frame(self) -> None:
        """Show nothing (not ``clear``: GraphicsLayoutWidget's clear removes the view)."""
        self._labels_view = None
        self.depth_item.clear()
        self.label_item.clear()

    def refresh(self, box=None) -> None:  # noqa: ARG002 - the whole region is cheap enough
        """Redraw the labels after the editor changed them (``box`` in frame pixels)."""
        if self._labels_view is not None:
            self.label_item.updateImage(self._labels_view, lut=self._lut, levels=(0, 255),
                                        autoLevels=False)

    def set_opacity(self, opacity: float) -> None:
        self.label_item.setOpacity(float(opacity))

    # ------------------------------------------------------------------ brush cursor
    def show_cursor(self, x: float, y: float) -> None:
        r = max(self.brush_size / 2.0, 0.5)
        cx, cy = np.floor(x) + 0.5, np.floor(y) + 0.5
        self.cursor.setRect(QRectF(cx - r, cy - r, 2 * r, 2 * r))
        self.cursor.show()

    def hide_cursor(self) -> None:
        self.cursor.hide()

    def frame_to_widget(self, x: float, y: float):
        """Widget (viewport) position of frame point (x, y): for tests and benchmarks."""
        from PySide6.QtCore import QPointF

        scene = self.vb.mapViewToScene(QPointF(x, y))
        return self.mapFromScene(scene)
