"""The labelling mode's tool row: tools, brush size, overlay opacity, depth-edges limit.

A plain widget of controls; :class:`~app.views.labelling.LabellingPanel` connects them
to the editor and owns the keyboard shortcuts.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)

from handpose_core.labelling.edit import MAX_BRUSH, MIN_BRUSH
from handpose_core.labelling.editor import BRUSH, ERASER

FILL, PICKER = "fill", "picker"
TOOLS = ((BRUSH, "Brush", "B"), (ERASER, "Eraser", "E"), (FILL, "Fill", "F"),
         (PICKER, "Pick", "I"))


class LabellingToolBar(QWidget):
    """One row: a checkable button per tool (``tool_buttons[name]``, exclusive), the brush
    size in frame pixels (``size_spin``), the label overlay opacity in percent
    (``opacity_slider``) and the depth-edges limit (``depth_box``)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        for name, text, key in TOOLS:
            b = QToolButton(text=f"{text} ({key})", checkable=True)
            b.setToolTip(f"{text} — key {key}")
            self.tool_group.addButton(b)
            self.tool_buttons[name] = b
            row.addWidget(b)
        self.tool_buttons[BRUSH].setChecked(True)
        row.addSpacing(6)
        row.addWidget(QLabel("Size"))
        self.size_spin = QSpinBox(minimum=MIN_BRUSH, maximum=MAX_BRUSH, value=7, suffix=" px")
        self.size_spin.setToolTip("Brush diameter in frame pixels: [ smaller, ] larger")
        row.addWidget(self.size_spin)
        row.addSpacing(6)
        row.addWidget(QLabel("Opacity"))
        self.opacity_slider = QSlider(Qt.Horizontal, minimum=0, maximum=100, value=60)
        self.opacity_slider.setFixedWidth(90)
        row.addWidget(self.opacity_slider)
        row.addSpacing(6)
        self.depth_box = QCheckBox("Depth edges (D)")
        self.depth_box.setToolTip("Brush and fill paint only pixels within the hand's depth "
                                  "range (the eraser works everywhere)")
        row.addWidget(self.depth_box)
        row.addStretch(1)
