"""A text line that changes on every frame switch without re-laying out the window.

``QLabel.setText`` asks every layout up to the window to recompute (Qt calls
``updateGeometry`` on each parent in turn, whether or not a size hint changed), and the
main window then repaints every widget it holds: a tab bar, the docks, both tables. On
each frame switch that doubled the time spent painting (docs/studio.md). A
:class:`StableLabel` keeps its :class:`QLabel` outside any layout and tells its own layout
about a new size only when the text needs a different height.
"""

from __future__ import annotations

import html
import math
import re

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


class StableLabel(QWidget):
    """A :class:`QLabel` (``.label``) whose text changes re-lay out nothing unless its height
    must change. Its width follows the layout (it never widens a dock); with
    ``word_wrap`` the text wraps to the width, else a line too long is cut at the right.
    ``min_lines`` reserves that many lines, so texts of one to ``min_lines`` lines keep the
    same height. With ``sample`` (a text of the height every text will have, e.g. a
    table of fixed rows) the height is measured once from it and never again: measuring
    rich text costs milliseconds."""

    def __init__(self, parent=None, *, word_wrap: bool = False, rich: bool = True,
                 min_lines: int = 1, sample: str | None = None):
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setWordWrap(word_wrap)
        self.label.setTextFormat(Qt.RichText if rich else Qt.PlainText)
        self.label.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self._min_lines = min_lines
        self._min_h = self.fontMetrics().lineSpacing() * min_lines + 2
        self._fixed = sample is not None
        if self._fixed:
            self.label.setText(sample)
            self._min_h = max(self._min_h, self.label.sizeHint().height())
            self.label.setText("")
        self._h = self._min_h
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setFixedHeight(self._h)

    # QLabel's API as used by the views and tests
    def text(self) -> str:
        return self.label.text()

    def setText(self, text: str) -> None:
        if text == self.label.text():
            return
        self.label.setText(text)
        self._fit_height()

    def setTextInteractionFlags(self, flags) -> None:
        self.label.setTextInteractionFlags(flags)

    def setToolTip(self, text: str) -> None:
        self.label.setToolTip(text)

    # sizing
    def _lines_at_most(self, width: int) -> int:
        """An upper bound of the lines the text wraps to at ``width`` (measured in bold,
        a wrapped line filled at least to ``width`` less the longest word): cheap, where
        laying out rich text costs a millisecond or more. Only for text in the label's
        font (code, tables and headings are measured by Qt)."""
        font = QFont(self.label.font())
        font.setBold(True)
        fm = QFontMetrics(font)
        n = 0
        for line in _BR.split(self.label.text()):
            plain = html.unescape(_TAG.sub("", line))
            w = fm.horizontalAdvance(plain)
            if w <= width:
                n += 1
                continue
            longest = max((fm.horizontalAdvance(word) for word in plain.split()), default=w)
            room = width - longest
            n += math.ceil(w / room) if room > 0 else 10_000
        return n

    def _needed_height(self) -> int:
        if self.label.wordWrap():
            w = max(self.width(), 40)
            text = self.label.text()
            other_font = any(t in text for t in ("<code", "<tt", "<pre", "<table", "<h"))
            if not other_font and self._lines_at_most(w) <= self._min_lines:
                return self._min_h
            h = self.label.heightForWidth(w)
        else:
            h = self.label.sizeHint().height()
        return max(self._min_h, h)

    def _fit_height(self) -> None:
        if self._fixed:
            return
        h = self._needed_height()
        if h != self._h:
            self._h = h
            self.setFixedHeight(h)  # re-lays out the parents once, for a real change

    def sizeHint(self) -> QSize:
        return QSize(40, self._h)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self._h)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.label.setGeometry(self.rect())
        if self.label.wordWrap():
            self._fit_height()
