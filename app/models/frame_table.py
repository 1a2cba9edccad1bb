"""The frame table: one row per project frame, and the filter proxy the browser shows.

A Qt face over the store's frame-table queries (:mod:`handpose_core.project.frame_rows`):
:class:`FrameTableModel` keeps the store's numpy columns (every frame read in one
query: about 40 bytes a frame, 3 MB for NYU's 81,009), re-reads only the rows of the
frames a change names, and sorts with the store's
:func:`~handpose_core.project.frame_rows.sort_order`; display strings are made per row
when a row is first painted. :class:`FrameFilterProxy` shows the rows of one of the
store's filters (:data:`~handpose_core.project.frame_rows.FILTERS`) through numpy index
arrays. Nothing asks Python once per row: a sort, a filter or finding a frame's row is
a few vectorised passes (or one array lookup), and a repaint asks only the visible cells.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import (
    QAbstractProxyModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
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
_DECORATION, _FOREGROUND = Qt.DecorationRole, Qt.ForegroundRole
_ITEM_FLAGS, _NO_FLAGS = Qt.ItemIsSelectable | Qt.ItemIsEnabled, Qt.NoItemFlags
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
        self._icons = None
        self._set_rows(FrameRows.from_rows([]))

    # ------------------------------------------------------------------ loading
    def set_project(self, project, rows: FrameRows | None = None) -> None:
        """Show ``project``'s frames: ``rows`` when given (none yet: an empty
        ``FrameRows`` until :meth:`set_rows`), else every row read from the store now."""
        self._project = project
        if rows is None:
            self.reload()
        else:
            self.set_rows(rows)

    def set_rows(self, rows: FrameRows) -> None:
        """Replace every row by ``rows`` (read elsewhere, in id order)."""
        self.beginResetModel()
        self._set_rows(rows)
        self.endResetModel()

    def reload(self) -> None:
        """Read every row from the store again."""
        self.beginResetModel()
        self._set_rows(self._project.frame_rows() if self._project is not None
                       else FrameRows.from_rows([]))
        self.endResetModel()

    def _set_rows(self, rows: FrameRows) -> None:
        self._cols = rows
        self._order = np.arange(len(rows))
        self._pos = np.arange(len(rows))  # data row -> display row (the inverse of _order)
        self._sorted_by: tuple[int, bool] | None = None  # (column, descending) of _order
        self._text_cache: dict[int, tuple[str, ...]] = {}

    def refresh_frame(self, frame_id: int) -> None:
        """Re-read one frame's row from the store and repaint it."""
        self.refresh_frames([frame_id])

    def refresh_frames(self, frame_ids) -> None:
        """Re-read these frames' rows from the store (one query per 500) and repaint them."""
        ids = [int(i) for i in frame_ids if self._data_row(int(i)) is not None]
        if not ids or self._project is None:
            return
        fresh = self._project.frame_rows(ids)
        ks = np.searchsorted(self._cols.id, fresh.id)
        if not len(ks):
            return
        self._cols.update(fresh, ks)
        self._sorted_by = None  # the order may be stale now: the next sort sorts again
        for k in ks:
            self._text_cache.pop(int(k), None)
        rows = self._pos[ks]
        self.dataChanged.emit(self.index(int(rows.min()), 0),
                              self.index(int(rows.max()), len(COLUMNS) - 1))

    # ------------------------------------------------------------------ queries
    def column(self, name: str) -> np.ndarray:
        """A data column in display order (``id``, ``auto``, ``override``, ``raw`` ...)."""
        return self._cols.column(name)[self._order]

    def frame_id(self, row: int) -> int:
        return int(self._cols.id[self._order[row]])

    def row_of(self, frame_id: int) -> int | None:
        k = self._data_row(int(frame_id))
        return None if k is None else int(self._pos[k])

    def _data_row(self, frame_id: int) -> int | None:
        """The data row of a frame id (rows are in id order: a binary search, no dict of
        81,009 entries)."""
        ids = self._cols.id
        k = int(np.searchsorted(ids, frame_id))
        return k if k < len(ids) and ids[k] == frame_id else None

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
        return self.cell(index.row(), index.column(), role)

    def cell(self, row: int, col: int, role) -> object:
        """``data()`` of display row ``row``, column ``col`` without a model index (the
        filter proxy asks this directly: a repaint asks every visible cell for about ten
        roles, and each Python-side index costs more than the answer)."""
        if role == _DISPLAY:
            return self._texts(int(self._order[row]))[col]
        if role not in _ROLES:
            return None
        if role == _ALIGN:
            return _ALIGNMENT[col]
        k = self._order[row]
        c = self._cols
        if role == _DECORATION and col == COL_AUTO and c.auto[k] >= 0:
            if self._icons is None:
                self._icons = (_decision_icon(False), _decision_icon(True))
            return self._icons[int(c.auto[k])]
        elif role == _FOREGROUND and col == COL_OVERRIDE and c.override[k] >= 0:
            return QBrush(QColor("#2e7d32" if c.override[k] else "#c62828"))
        return None

    def sort(self, column: int, order=Qt.AscendingOrder) -> bool:
        """Sort by a column with numpy (stable; missing scores last either way). False
        (and nothing emitted) when the rows are in that order already: Qt's
        ``QTableView.sortByColumn`` asks twice when the header's indicator moves."""
        key = (int(column), order == Qt.DescendingOrder)
        if key == self._sorted_by:
            return False
        idx = sort_order(self._cols, SORT_KEYS[column], key[1])
        self._sorted_by = key
        self.layoutAboutToBeChanged.emit()
        self._order = idx
        self._pos = np.empty_like(idx)
        self._pos[idx] = np.arange(len(idx))
        self.layoutChanged.emit()
        return True


class FrameFilterProxy(QAbstractProxyModel):
    """Shows the rows of one filter (:data:`FILTERS`); sorting is the source model's.

    The filter is a numpy mask over the source's display rows, turned into two index
    arrays (shown row -> source row and back), so a filter or a sort over NYU's 81,009
    frames costs a few vectorised passes and never one Python call per row (a
    ``QSortFilterProxyModel`` asks ``filterAcceptsRow`` of every row). Rows are shown in
    the source's order. Across a sort or a filter change the view's current and
    selected rows (persistent indexes) follow their frames, and become invalid only
    when the filter hides them. ``refiltered`` is emitted once the rows shown follow a
    new filter, sort or data (after ``layoutChanged``), for views that keep the
    session's frame selected."""

    refiltered = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter_name = "all"
        self._mask = np.zeros(0, bool)
        self._rows = np.zeros(0, np.int64)  # shown row -> source row
        self._shown = np.zeros(0, np.int64)  # source row -> shown row, -1 when hidden
        self._held: list[tuple[QPersistentModelIndex, int, int]] = []

    def setSourceModel(self, model) -> None:
        self.beginResetModel()
        super().setSourceModel(model)
        self._cell = model.cell
        model.modelAboutToBeReset.connect(self.beginResetModel)
        model.modelReset.connect(self._on_source_reset)
        model.layoutAboutToBeChanged.connect(self._hold_persistent)
        model.layoutChanged.connect(self._on_source_layout_changed)
        model.dataChanged.connect(self._on_source_data_changed)
        self._recompute()
        self.endResetModel()

    # ------------------------------------------------------------------ mapping
    def _recompute(self) -> None:
        src = self.sourceModel()
        self._mask = src.filter_mask(self.filter_name)
        self._rows = np.flatnonzero(self._mask)
        self._shown = np.full(len(self._mask), -1, np.int64)
        self._shown[self._rows] = np.arange(len(self._rows))

    def _hold_persistent(self, *args) -> None:
        """Before the rows move: remember each persistent index's frame id."""
        self.layoutAboutToBeChanged.emit()
        src = self.sourceModel()
        self._held = [(QPersistentModelIndex(i), src.frame_id(int(self._rows[i.row()])), i.column())
                      for i in self.persistentIndexList() if 0 <= i.row() < len(self._rows)]

    def _restore_persistent(self) -> None:
        """After the rows moved: each persistent index to its frame's new row (invalid
        when the filter hides it)."""
        src = self.sourceModel()
        old, new = [], []
        for pidx, fid, col in self._held:
            r = src.row_of(fid)
            shown = -1 if r is None else int(self._shown[r])
            old.append(QModelIndex(pidx))
            new.append(self.index(shown, col) if shown >= 0 else QModelIndex())
        self._held = []
        if old:
            self.changePersistentIndexList(old, new)
        self.layoutChanged.emit()
        self.refiltered.emit()

    def _on_source_reset(self) -> None:
        self._recompute()
        self.endResetModel()
        self.refiltered.emit()

    def _on_source_layout_changed(self, *args) -> None:
        self._recompute()
        self._restore_persistent()

    def _on_source_data_changed(self, top, bottom, roles=()) -> None:
        # one row changed (an override): refilter only when the filter's answer changed
        mask = self.sourceModel().filter_mask(self.filter_name)
        if mask.shape != self._mask.shape or not np.array_equal(mask, self._mask):
            self._hold_persistent()
            self._recompute()
            self._restore_persistent()
            return
        shown = self._shown[top.row():bottom.row() + 1]
        shown = shown[shown >= 0]
        if len(shown):
            self.dataChanged.emit(self.index(int(shown.min()), top.column()),
                                  self.index(int(shown.max()), bottom.column()), list(roles))

    def set_filter(self, name: str) -> None:
        if name not in FILTERS:
            raise KeyError(f"unknown filter {name!r}")
        src = self.sourceModel()
        self.filter_name = name
        if name in ("rejected_worst", "worst") and \
                src.sort(COL_RESTORED if name == "rejected_worst" else COL_RAW, Qt.DescendingOrder):
            return  # the source's layout change refiltered
        self._hold_persistent()
        self._recompute()
        self._restore_persistent()

    # ------------------------------------------------------------------ Qt proxy
    def mapToSource(self, proxy_index):
        if not proxy_index.isValid() or not 0 <= proxy_index.row() < len(self._rows):
            return QModelIndex()
        return self.sourceModel().index(int(self._rows[proxy_index.row()]), proxy_index.column())

    def mapFromSource(self, source_index):
        if not source_index.isValid() or not 0 <= source_index.row() < len(self._shown):
            return QModelIndex()
        r = int(self._shown[source_index.row()])
        return self.index(r, source_index.column()) if r >= 0 else QModelIndex()

    def index(self, row, column, parent=_ROOT):
        if parent.isValid() or not (0 <= row < len(self._rows) and 0 <= column < _N_COLUMNS):
            return _ROOT
        return self.createIndex(row, column)

    def parent(self, index=None):
        return _ROOT

    def rowCount(self, parent=_ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=_ROOT) -> int:
        return 0 if parent.isValid() else _N_COLUMNS

    def data(self, index, role=Qt.DisplayRole):
        if role != _DISPLAY and role not in _ROLES:
            return None
        r = index.row()
        if not 0 <= r < len(self._rows):
            return None
        return self._cell(int(self._rows[r]), index.column(), role)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        return self.sourceModel().headerData(section, orientation, role)

    def flags(self, index):
        return _ITEM_FLAGS if index.isValid() else _NO_FLAGS

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        if column >= 0:
            self.sourceModel().sort(column, order)

    # ------------------------------------------------------------------ queries
    def frame_id(self, row: int) -> int:
        return self.sourceModel().frame_id(int(self._rows[row]))

    def frame_ids(self) -> np.ndarray:
        """The shown rows' frame ids, in order (one vectorised lookup)."""
        return self.sourceModel().column("id")[self._rows]

    def row_of(self, frame_id: int) -> int | None:
        r = self.sourceModel().row_of(frame_id)
        if r is None:
            return None
        shown = int(self._shown[r])
        return shown if shown >= 0 else None
