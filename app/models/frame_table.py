"""The frame table: one row per project frame, and the filter proxy the browser shows.

A Qt face over the store's frame-table queries (:mod:`handpose_core.project.frame_rows`):
:class:`FrameTableModel` keeps the store's numpy columns (every frame read in one
query), re-reads only the rows of the frames a change names, and sorts with the store's
:func:`~handpose_core.project.frame_rows.sort_order`; display strings are made per row
when a row is first painted. :class:`FrameFilterProxy` shows the rows of one of the
store's filters (:data:`~handpose_core.project.frame_rows.FILTERS`) from a mask.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPixmap

from handpose_core.project.frame_rows import FILTERS, SORT_KEYS, FrameRows, filter_mask, sort_order
from handpose_core.project.records import N_SCORED

COLUMNS = SORT_KEYS  # the store's frame-table columns, in table order
_N_COLUMNS = len(COLUMNS)
COL_ID, COL_SPLIT, COL_FRAME, COL_AUTO, COL_OVERRIDE, COL_RAW, COL_RESTORED, COL_LABELLED = \
    range(len(COLUMNS))
TIPS = ("project frame id", "dataset split", "frame number in the split",
        "automatic decision of the restore stage", "human override (A / R / C)",
        "barycenter score of the raw f_s map (mean distance over the 12 scored joints, mm)",
        "barycenter score of the restored map (mm)", "frame has ground-truth part labels")

_ROOT = QModelIndex()
_DISPLAY, _ALIGN = Qt.DisplayRole, Qt.TextAlignmentRole
_ROLES = frozenset((Qt.DecorationRole, Qt.ForegroundRole, Qt.TextAlignmentRole))
_RIGHT, _CENTRE = int(Qt.AlignRight | Qt.AlignVCenter), int(Qt.AlignCenter)
_ALIGNMENT = (_RIGHT, None, _RIGHT, None, None, _RIGHT, _RIGHT, _CENTRE)


def _decision_icon(ok: bool) -> QIcon:
    pm = QPixmap(14, 14)
    pm.fill(Qt.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(Qt.NoPen)
    p.setBrush(QColor("#2e7d32" if ok else "#c62828"))
    p.drawEllipse(1, 1, 12, 12)
    p.setPen(QColor("white"))
    f = QFont()
    f.setPixelSize(10)
    f.setBold(True)
    p.setFont(f)
    p.drawText(pm.rect(), Qt.AlignCenter, "✓" if ok else "✗")
    p.end()
    return QIcon(pm)


class FrameTableModel(QAbstractTableModel):
    """All frames of a project; ``reload()`` on open, ``refresh_frame(id)`` on a change."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._project = None
        self._order = np.zeros(0, np.int64)  # display row -> data row
        self._row_of_id: dict[int, int] = {}
        self._icons = None
        self._set_rows(FrameRows.from_rows([]))

    # ------------------------------------------------------------------ loading
    def set_project(self, project) -> None:
        self._project = project
        self.reload()

    def reload(self) -> None:
        """Read every row from the store again."""
        self.beginResetModel()
        self._set_rows(self._project.frame_rows() if self._project is not None
                       else FrameRows.from_rows([]))
        self.endResetModel()

    def _set_rows(self, rows: FrameRows) -> None:
        self._cols = rows
        self._order = np.arange(len(rows))
        self._row_of_id = {int(i): k for k, i in enumerate(rows.id)}
        self._text_cache: dict[int, tuple[str, ...]] = {}

    def refresh_frame(self, frame_id: int) -> None:
        """Re-read one frame's row from the store and repaint it."""
        self.refresh_frames([frame_id])

    def refresh_frames(self, frame_ids) -> None:
        """Re-read these frames' rows from the store (one query per 500) and repaint them."""
        ids = [int(i) for i in frame_ids if int(i) in self._row_of_id]
        if not ids or self._project is None:
            return
        fresh = self._project.frame_rows(ids)
        ks = np.array([self._row_of_id[int(i)] for i in fresh.id], np.int64)
        if not len(ks):
            return
        self._cols.update(fresh, ks)
        for k in ks:
            self._text_cache.pop(int(k), None)
        rows = np.flatnonzero(np.isin(self._order, ks))
        self.dataChanged.emit(self.index(int(rows.min()), 0),
                              self.index(int(rows.max()), len(COLUMNS) - 1))

    # ------------------------------------------------------------------ queries
    def column(self, name: str) -> np.ndarray:
        """A data column in display order (``id``, ``auto``, ``override``, ``raw`` ...)."""
        return self._cols.column(name)[self._order]

    def frame_id(self, row: int) -> int:
        return int(self._cols.id[self._order[row]])

    def row_of(self, frame_id: int) -> int | None:
        k = self._row_of_id.get(int(frame_id))
        return None if k is None else int(np.flatnonzero(self._order == k)[0])

    def filter_mask(self, name: str) -> np.ndarray:
        """Boolean mask over display rows of filter ``name`` (a key of :data:`FILTERS`)."""
        return filter_mask(self._cols, name, self._order)

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent=_ROOT) -> int:
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent=_ROOT) -> int:
        return 0 if parent.isValid() else _N_COLUMNS

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == _DISPLAY and orientation == Qt.Horizontal:
            return COLUMNS[section]
        if role == Qt.ToolTipRole and orientation == Qt.Horizontal:
            return TIPS[section]
        return None

    def _texts(self, k: int) -> tuple[str, ...]:
        """Display strings of data row ``k`` (made once; a repaint asks for each cell)."""
        t = self._text_cache.get(k)
        if t is None:
            c = self._cols
            raw, res = c.raw[k], c.restored[k]
            t = (str(c.id[k]), c.split[k], str(c.frame[k]),
                 {-1: "—", 0: "reject", 1: "accept"}[int(c.auto[k])],
                 {-1: "", 0: "reject", 1: "accept"}[int(c.override[k])],
                 "" if np.isnan(raw) else f"{raw / N_SCORED:.1f}",
                 "" if np.isnan(res) else f"{res / N_SCORED:.1f}",
                 "✓" if c.labelled[k] else "")
            self._text_cache[k] = t
        return t

    def data(self, index, role=Qt.DisplayRole):
        # a repaint asks every visible cell for about ten roles: answer the others at once
        if role == _DISPLAY:
            return self._texts(int(self._order[index.row()]))[index.column()]
        if role not in _ROLES:
            return None
        col = index.column()
        if role == _ALIGN:
            return _ALIGNMENT[col]
        k = self._order[index.row()]
        c = self._cols
        if role == Qt.DecorationRole and col == COL_AUTO and c.auto[k] >= 0:
            if self._icons is None:
                self._icons = (_decision_icon(False), _decision_icon(True))
            return self._icons[int(c.auto[k])]
        elif role == Qt.ForegroundRole and col == COL_OVERRIDE and c.override[k] >= 0:
            return QBrush(QColor("#2e7d32" if c.override[k] else "#c62828"))
        return None

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        """Sort by a column with numpy (stable; missing scores last either way)."""
        idx = sort_order(self._cols, SORT_KEYS[column], order == Qt.DescendingOrder)
        self.layoutAboutToBeChanged.emit()
        self._order = idx
        self.layoutChanged.emit()


class FrameFilterProxy(QSortFilterProxyModel):
    """Shows the rows of one filter (:data:`FILTERS`); sorting is the source model's.

    ``refiltered`` is emitted once the rows shown follow a new filter, sort or data: Qt
    re-maps the rows on the source's ``layoutChanged`` before the mask is recomputed for
    the new order, and the recompute may then remove and insert rows (the current one
    included), so a view keeping a row selected re-selects it on ``refiltered``."""

    refiltered = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter_name = "all"
        self._mask = np.zeros(0, bool)
        self.setDynamicSortFilter(False)

    def setSourceModel(self, model) -> None:
        super().setSourceModel(model)
        model.modelReset.connect(self._recompute)
        model.layoutChanged.connect(self._recompute)
        model.dataChanged.connect(self._on_source_data_changed)
        self._recompute()

    def _on_source_data_changed(self, *args) -> None:
        # one row changed (an override): refilter only when the filter's answer changed,
        # since refiltering asks every one of up to 72,757 rows again
        mask = self.sourceModel().filter_mask(self.filter_name)
        if mask.shape != self._mask.shape or not np.array_equal(mask, self._mask):
            self._recompute()

    def set_filter(self, name: str) -> None:
        if name not in FILTERS:
            raise KeyError(f"unknown filter {name!r}")
        self.filter_name = name
        src = self.sourceModel()
        if name in ("rejected_worst", "worst"):
            src.sort(COL_RESTORED if name == "rejected_worst" else COL_RAW, Qt.DescendingOrder)
        self._recompute()

    def _recompute(self, *args) -> None:
        self.beginFilterChange()
        self._mask = self.sourceModel().filter_mask(self.filter_name)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        self.refiltered.emit()

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:
        return bool(self._mask[source_row]) if source_row < len(self._mask) else False

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        if column >= 0:
            self.sourceModel().sort(column, order)

    def frame_id(self, row: int) -> int:
        return self.sourceModel().frame_id(self.mapToSource(self.index(row, 0)).row())

    def row_of(self, frame_id: int) -> int | None:
        r = self.sourceModel().row_of(frame_id)
        if r is None:
            return None
        i = self.mapFromSource(self.sourceModel().index(r, 0))
        return i.row() if i.isValid() else None
