"""The part legend of the labelling mode: 21 colour swatches with id and name; a click
(or the number keys, handled by the panel) chooses the part to paint."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem

from handpose_core.parts import PARTS


def swatch(colour: str, size: int = 18) -> QIcon:
    """A filled square with a thin grey frame (black and near-white parts stay visible)."""
    pm = QPixmap(size, size)
    pm.fill(Qt.transparent)
    p = QPainter(pm)
    p.setPen(QColor("#808080"))
    p.setBrush(QColor(colour))
    p.drawRect(1, 1, size - 3, size - 3)
    p.end()
    return QIcon(pm)


class PartLegendView(QListWidget):
    """One row per part: swatch, id, name. ``part_chosen(id)`` when the user clicks one."""

    part_chosen = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setIconSize(QSize(18, 18))
        self.setUniformItemSizes(True)
        self.setFocusPolicy(Qt.NoFocus)  # keys belong to the canvas / panel shortcuts
        f = QFont(self.font())
        f.setPointSizeF(max(f.pointSizeF(), 10.0))
        self.setFont(f)
        for part in PARTS:
            it = QListWidgetItem(swatch(part.colour), f"{part.id:>2}  {part.name}")
            it.setData(Qt.UserRole, part.id)
            it.setToolTip(f"{part.name} ({part.colour}); key {part.id}"
                          + (" (two digits, quickly)" if part.id >= 10 else ""))
            self.addItem(it)
        self.setMinimumWidth(self.sizeHintForColumn(0) + 28)
        self.setMaximumWidth(self.sizeHintForColumn(0) + 48)
        self.itemClicked.connect(self._on_item_clicked)

    def set_part(self, part_id: int) -> None:
        """Show ``part_id`` as chosen (no signal)."""
        self.blockSignals(True)
        self.setCurrentRow(int(part_id))
        self.blockSignals(False)

    def current_part(self) -> int:
        return max(self.currentRow(), 0)

    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        self.part_chosen.emit(int(item.data(Qt.UserRole)))
