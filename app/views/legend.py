"""The part legend: a swatch and a name for each of the 20 hand parts, grouped by finger."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from handpose_core.parts import FINGER_PARTS, PARTS


class LegendWidget(QWidget):
    """Part colours and names, one column per finger (palm first)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(1)
        groups = [("palm", (1,))] + list(FINGER_PARTS.items())
        for col, (finger, ids) in enumerate(groups):
            head = QLabel(f"<b>{finger}</b>")
            grid.addWidget(head, 0, col)
            for row, pid in enumerate(ids, start=1):
                part = PARTS[pid]
                name = part.name.replace(f"{finger} ", "") if finger != "palm" else part.name
                lab = QLabel(f"<span style='background:{part.colour};'>&nbsp;&nbsp;&nbsp;&nbsp;</span>"
                             f"&nbsp;{name}")
                lab.setToolTip(f"part {pid}: {part.name} ({part.colour})")
                grid.addWidget(lab, row, col)
        grid.setColumnStretch(len(groups), 1)
