"""The frame table: one row per project frame, and the filter proxy the browser shows.

:class:`FrameTableModel` reads every frame with its restoration decision and scores in
one query (a read-only connection of its own, so 72,757 rows load in well under a second)
and keeps them in numpy columns; sorting is a numpy argsort, not a per-row comparison.
:class:`FrameFilterProxy` filters rows by a precomputed boolean mask per filter.
"""

from __future__ import annotations

import sqlite3

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPixmap

from handpose_core.project.records import N_SCORED

COLUMNS = ("id", "split", "frame", "auto", "override", "raw", "restored", "labelled")
_N_COLUMNS = len(COLUMNS)
COL_ID, COL_SPLIT, COL_FRAME, COL_AUTO, COL_OVERRIDE, COL_RAW, COL_RESTORED, COL_LABELLED = \
    range(len(COLUMNS))
TIPS = ("project frame id", "dataset split", "frame number in the split",
        "automatic decision of the restore stage", "human override (A / R / C)",
        "barycenter score of the raw f_s map (mean distance over the 12 scored joints, mm)",
        "barycenter score of the restored map (mm)", "frame has ground-truth part labels")

FILTERS = {
    "all": "All frames",
    "accepted": "Accepted (decision in force)",
    "rejected": "Rejected (decision in force)",
    "rejected_worst": "Rejected, worst first",
    "overridden": "Overridden by a human",
    "disagreeing": "Override disagrees with automatic",
    "labelled": "Labelled",
    "worst": "Worst scores (10 %)",
    "not_restored": "Not restored yet",
}

_QUERY = """SELECT f.id, f.split, f.frame,
    (f.has_labels OR (h.complete IS NOT NULL AND h.complete)),
    r.auto_accept, r.override, r.score_raw_mm, r.score_restored_mm
    FROM frames f LEFT JOIN hand_labels h ON h.frame_id = f.id
    LEFT JOIN restorations r ON r.frame_id = f.id"""
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
        self._db = None
        self._order = np.zeros(0, np.int64)  # display row -> data row
        self._row_of_id: dict[int, int] = {}
        self._icons = None
        self._set_rows([])

    # ------------------------------------------------------------------ loading
    def set_project(self, project) -> None:
        self._db = None if project is None else project.root / "project.sqlite"
        self.reload()

    def _rows(self, where: str = "", args=()) -> list[tuple]:
        conn = sqlite3.connect(f"file:{self._db}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(_QUERY + where + " ORDER BY f.id", args).fetchall()
        finally:
            conn.close()

    def reload(self) -> None:
        self.beginResetModel()
        self._set_rows(self._rows() if self._db is not None else [])
        self.endResetModel()

    def _set_rows(self, rows: list[tuple]) -> None:
        n = len(rows)

        def col(i, dtype, fill):
            return np.array([fill if r[i] is None else r[i] for r in rows], dtype=dtype) \
                if n else np.zeros(0, dtype)

        self._cols = {"id": col(0, np.int64, 0), "split": np.array([r[1] for r in rows], object),
                      "frame": col(2, np.int64, 0), "labelled": col(3, bool, 0),
                      "auto": col(4, np.int8, -1), "override": col(5, np.int8, -1),
                      "raw": col(6, np.float64, np.nan), "restored": col(7, np.float64, np.nan)}
        self._order = np.arange(n)
        self._row_of_id = {int(i): k for k, i in enumerate(self._cols["id"])}
        self._text_cache: dict[int, tuple[str, ...]] = {}

    def refresh_frame(self, frame_id: int) -> None:
        """Re-read one frame's row from the store and repaint it."""
        self.refresh_frames([frame_id])

    def refresh_frames(self, frame_ids) -> None:
        """Re-read these frames' rows from the store (one query) and repaint them."""
        ks = {int(i): self._row_of_id[int(i)] for i in frame_ids if int(i) in self._row_of_id}
        if not ks or self._db is None:
            return
        ids = sorted(ks)
        c = self._cols
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for r in self._rows(f" WHERE f.id IN ({','.join('?' * len(chunk))})", chunk):
                k = ks[int(r[0])]
                c["labelled"][k] = bool(r[3])
                c["auto"][k] = -1 if r[4] is None else r[4]
                c["override"][k] = -1 if r[5] is None else r[5]
                c["raw"][k] = np.nan if r[6] is None else r[6]
                c["restored"][k] = np.nan if r[7] is None else r[7]
                self._text_cache.pop(k, None)
        rows = np.flatnonzero(np.isin(self._order, list(ks.values())))
        self.dataChanged.emit(self.index(int(rows.min()), 0),
                              self.index(int(rows.max()), len(COLUMNS) - 1))

    # ------------------------------------------------------------------ queries
    def column(self, name: str) -> np.ndarray:
        """A data column in display order (``id``, ``auto``, ``override``, ``raw`` ...)."""
        return self._cols[name][self._order]

    def frame_id(self, row: int) -> int:
        return int(self._cols["id"][self._order[row]])

    def row_of(self, frame_id: int) -> int | None:
        k = self._row_of_id.get(int(frame_id))
        return None if k is None else int(np.flatnonzero(self._order == k)[0])

    def filter_mask(self, name: str) -> np.ndarray:
        """Boolean mask over display rows of filter ``name`` (a key of :data:`FILTERS`)."""
        c = {k: v[self._order] for k, v in self._cols.items()}
        has = c["auto"] >= 0
        accepted = has & np.where(c["override"] >= 0, c["override"] == 1, c["auto"] == 1)
        in_force = np.where(accepted, c["restored"], c["raw"])
        if name == "all":
            return np.ones(len(self._order), bool)
        if name == "accepted":
            return accepted
        if name in ("rejected", "rejected_worst"):
            return has & ~accepted
        if name == "overridden":
            return c["override"] >= 0
        if name == "disagreeing":
            return (c["override"] >= 0) & has & (c["override"] != c["auto"])
        if name == "labelled":
            return c["labelled"]
        if name == "not_restored":
            return ~has
        if name == "worst":
            if not has.any():
                return has
            cut = np.nanpercentile(in_force[has], 90)
            return has & (in_force >= cut)
        raise KeyError(f"unknown filter {name!r}")

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
            raw, res = c["raw"][k], c["restored"][k]
            t = (str(c["id"][k]), c["split"][k], str(c["frame"][k]),
                 {-1: "—", 0: "reject", 1: "accept"}[int(c["auto"][k])],
                 {-1: "", 0: "reject", 1: "accept"}[int(c["override"][k])],
                 "" if np.isnan(raw) else f"{raw / N_SCORED:.1f}",
                 "" if np.isnan(res) else f"{res / N_SCORED:.1f}",
                 "✓" if c["labelled"][k] else "")
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
        if role == Qt.DecorationRole and col == COL_AUTO and c["auto"][k] >= 0:
            if self._icons is None:
                self._icons = (_decision_icon(False), _decision_icon(True))
            return self._icons[int(c["auto"][k])]
        elif role == Qt.ForegroundRole and col == COL_OVERRIDE and c["override"][k] >= 0:
            return QBrush(QColor("#2e7d32" if c["override"][k] else "#c62828"))
        return None

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        """Sort by a column with numpy (stable; missing scores last either way)."""
        key = {COL_ID: "id", COL_SPLIT: "split", COL_FRAME: "frame", COL_AUTO: "auto",
               COL_OVERRIDE: "override", COL_RAW: "raw", COL_RESTORED: "restored",
               COL_LABELLED: "labelled"}[column]
        v = self._cols[key]
        if v.dtype == object:
            v = np.unique(v, return_inverse=True)[1]
        v = v.astype(np.float64)
        desc = order == Qt.DescendingOrder
        missing = np.isnan(v)
        v = np.where(missing, np.inf if not desc else -np.inf, v)
        idx = np.lexsort((self._cols["id"], -v if desc else v))
        self.layoutAboutToBeChanged.emit()
        self._order = idx
        self.layoutChanged.emit()


class FrameFilterProxy(QSortFilterProxyModel):
    """Shows the rows of one filter (:data:`FILTERS`); sorting is the source model's."""

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
