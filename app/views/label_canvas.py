"""The painting surface of the labelling mode: depth at native resolution, labels over it.

It shows the crop box of a frame as the frame's own pixels (see
:mod:`handpose_core.labelling.aids`): a grey depth image with the part labels blended
over it in the part colours (one RGB32 image, recomposed only where a stroke changed
it), a circle showing the brush, wheel zoom and right / middle-button pan (pyqtgraph's
ViewBox). The left button paints: the label item
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
from PySide6.QtGui import QColor, QImage, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem

from handpose_core.parts import NUM_CLASSES, palette_rgb


def colour_table() -> np.ndarray:
    """``(256, 3)`` uint16 part colours (ids past 20 magenta, never painted)."""
    lut = np.zeros((256, 3), np.uint16)
    lut[:] = (255, 0, 255)
    lut[:NUM_CLASSES] = palette_rgb()
    return lut


class _PaintImageItem(pg.GraphicsObject):
    """Depth with the labels blended over it, as one RGB32 image (the fastest format for
    Qt to scale and draw; a grey depth image plus an RGBA overlay cost four times as
    much per repaint). Claims left-button presses so the canvas can paint."""

    def __init__(self, canvas: LabelCanvasView):
        super().__init__()
        self._canvas = canvas
        self._buf = np.zeros((1, 1), np.uint32)
        self._qimage = None
        self.setAcceptedMouseButtons(Qt.LeftButton)
        self.setAcceptHoverEvents(True)

    def set_buffer(self, buf: np.ndarray) -> None:
        """``buf`` ``(h, w)`` uint32 0xffRRGGBB, kept and drawn as it changes."""
        self.prepareGeometryChange()
        self._buf = buf
        h, w = buf.shape
        self._qimage = QImage(buf.data, w, h, 4 * w, QImage.Format_RGB32)
        self.update()

    def boundingRect(self) -> QRectF:
        h, w = self._buf.shape
        return QRectF(0, 0, w, h)

    def paint(self, painter, option, widget=None):
        if self._qimage is not None:
            painter.drawImage(self.boundingRect(), self._qimage)

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
    """Depth + labels of one frame region; emits mouse actions in frame pixels."""

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
        self.label_item = _PaintImageItem(self)
        self.vb.addItem(self.label_item)
        self._colours = colour_table()
        self.opacity = 0.6
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
        self._grey: np.ndarray | None = None
        self._rgb = np.zeros((1, 1), np.uint32)
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
        self._grey = np.asarray(depth_grey, np.uint16)
        self._rgb = np.zeros((y1 - y0, x1 - x0), np.uint32)
        self._compose(None)
        self.label_item.setPos(x0, y0)
        self.label_item.set_buffer(self._rgb)
        if reset_view:
            self.vb.setRange(QRectF(x0, y0, x1 - x0, y1 - y0), padding=0.02)

    def clear_frame(self) -> None:
        """Show nothing (not ``clear``: GraphicsLayoutWidget's clear removes the view)."""
        self._labels_view = None
        self.label_item.set_buffer(np.zeros((1, 1), np.uint32))

    def _compose(self, box) -> None:
        """Blend labels over depth into the RGB32 buffer, inside ``box`` (frame px) or all."""
        if self._labels_view is None:
            return
        y0, x0, y1, x1 = self.region
        if box is None:
            sl = (slice(None), slice(None))
        else:
            by0, bx0 = max(box[0] - y0, 0), max(box[1] - x0, 0)
            by1, bx1 = min(box[2] - y0, y1 - y0), min(box[3] - x0, x1 - x0)
            if by1 <= by0 or bx1 <= bx0:
                return
            sl = (slice(by0, by1), slice(bx0, bx1))
        lab = self._labels_view[sl]
        g = self._grey[sl][..., None]
        a = np.where(lab > 0, int(round(self.opacity * 256)), 0).astype(np.uint16)[..., None]
        rgb = (g * (256 - a) + self._colours[lab] * a) >> 8
        self._rgb[sl] = (0xFF000000 | (rgb[..., 0].astype(np.uint32) << 16)
                         | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2])

    def refresh(self, box=None) -> None:
        """Redraw after the editor changed the labels inside ``box`` (frame px; None: all)."""
        if self._labels_view is None:
            return
        self._compose(box)
        if box is None:
            self.label_item.update()
        else:
            y0, x0 = self.region[0], self.region[1]
            self.label_item.update(QRectF(box[1] - x0, box[0] - y0, box[3] - box[1],
                                          box[2] - box[0]))

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(np.clip(opacity, 0.0, 1.0))
        self.refresh()

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
