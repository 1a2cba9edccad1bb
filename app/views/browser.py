"""Frame browser dock: the filtered, sortable frame table, a filter menu and jump-to-id.

Selecting a row (mouse, arrow keys, PageUp / PageDown) makes that frame current in the
session; when the session's frame changes elsewhere the row follows.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from handpose_core.project import ChangeKind
from handpose_core.project.frame_rows import FrameRows

from ..models.frame_table import COL_ID, FILTERS, FrameFilterProxy, FrameTableModel

# what the frame table shows
TABLE_KINDS = frozenset({ChangeKind.OVERRIDE, ChangeKind.RESTORATION, ChangeKind.LABELS})

ROWS_IN_WORKER_ABOVE = 20_000
"""A project of more frames shows its first frame (the lowest id, the table's first row
when it opens) before the table's rows are read: they are read in a worker (NYU's 81,009
rows: one query of about 1 s under load) and fill the table when they arrive."""


class BrowserPanel(QWidget):
    """The frame list of the open project (see the module docstring)."""

    def __init__(self, session, parent=None, *, frame_actions=None):
        super().__init__(parent)
        self.session = session
        self.rows_ready = True  # False while a large project's rows are read in a worker
        self._refresh_when_ready: set[int] | None = None  # frames changed meanwhile
        self.model = FrameTableModel(self)
        self.proxy = FrameFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.filter_box = QComboBox()
        self.filter_box.setObjectName("filter")
        for key, text in FILTERS.items():
            self.filter_box.addItem(text, key)
        self.filter_box.setToolTip("Which frames to list")
        self.jump_edit = QLineEdit()
        self.jump_edit.setObjectName("jump")
        self.jump_edit.setPlaceholderText("go to id")
        self.jump_edit.setToolTip("Type a frame id and press Enter")
        self.jump_edit.setMaximumWidth(90)
        self.count_label = QLabel()
        self.count_label.setObjectName("count")

        self.table = QTableView()
        self.table.setObjectName("frames")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.AscendingOrder)
        self.table.setAlternatingRowColors(True)
        # select_frame scrolls: a row leaving the view comes back centred, so the rows
        # ahead stay visible and the list scrolls once a half page, not on every key
        self.table.setAutoScroll(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.Interactive)
        hh.setStretchLastSection(True)
        hh.setHighlightSections(False)
        widths = (48, 46, 52, 76, 68, 50, 66, 60)
        for col, w in enumerate(widths):
            self.table.setColumnWidth(col, w)
        self.table.setMinimumWidth(sum(widths) + 22)  # every column and the scroll bar

        top = QHBoxLayout()
        top.addWidget(self.filter_box, 1)
        top.addWidget(self.jump_edit)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.count_label)

        self.filter_box.currentIndexChanged.connect(self._on_filter_box_changed)
        self.jump_edit.returnPressed.connect(self._on_jump_edit_returned)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_row_changed)
        self.proxy.layoutChanged.connect(self._follow_session)
        # a sort under a filter re-maps the rows, then refilters them (FrameFilterProxy)
        self.proxy.refiltered.connect(self._follow_session)
        self.proxy.modelReset.connect(self._update_count)
        session.project_opened.connect(self._on_session_project_opened)
        session.frame_changed.connect(self._on_session_frame_changed)
        if frame_actions is not None:  # "next frame after deciding" follows this list
            frame_actions.set_frame_order(self.neighbour_id)
        session.data_changed.connect(self._on_session_data_changed)

    # ------------------------------------------------------------------ API
    def set_filter(self, key: str) -> None:
        self.filter_box.setCurrentIndex(self.filter_box.findData(key))

    def visible_ids(self) -> list[int]:
        return [int(i) for i in self.proxy.frame_ids()]

    def neighbour_id(self, frame_id: int, step: int = 1) -> int | None:
        """The frame ``step`` rows after ``frame_id`` in the filtered list (None past the end)."""
        row = self.proxy.row_of(frame_id)
        if row is None:
            return None
        r = row + step
        return self.proxy.frame_id(r) if 0 <= r < self.proxy.rowCount() else None

    def select_frame(self, frame_id: int) -> bool:
        """Select and show ``frame_id``'s row; False when the filter hides it."""
        row = self.proxy.row_of(frame_id)
        if row is None:
            return False
        idx = self.proxy.index(row, COL_ID)
        sm = self.table.selectionModel()
        if sm.currentIndex().row() != row:
            sm.setCurrentIndex(idx, QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
        if not self.table.viewport().rect().contains(self.table.visualRect(idx)):
            self.table.scrollTo(idx, QAbstractItemView.PositionAtCenter)
        return True

    # ------------------------------------------------------------------ slots
    @Slot(object)
    def _on_session_project_opened(self, project) -> None:
        self.rows_ready, self._refresh_when_ready = True, None
        n, first = project.frame_count() if project is not None else (0, None)
        if n > ROWS_IN_WORKER_ABOVE:
            self._read_rows_in_worker(project, first)
            return
        self.model.set_project(project)
        self._update_count()
        if project is not None and self.proxy.rowCount():
            first = self.proxy.frame_id(0)
            self.session.set_frame(first)
            self.select_frame(first)

    def _read_rows_in_worker(self, project, first: int) -> None:
        """The first frame now, the table's rows when a worker has read them."""
        self.rows_ready, self._refresh_when_ready = False, set()
        self.model.set_project(project, rows=FrameRows.from_rows([]))
        self.count_label.setText("reading the frame list …")
        self.session.set_frame(first)
        self.session.runner.run(lambda ctx: ctx.project.frame_rows(), name="frame table",
                                project_root=project.root,
                                on_success=lambda rows, p=project: self._on_rows_read(p, rows),
                                on_failure=self._on_rows_failed)

    def _on_rows_read(self, project, rows) -> None:
        if project is not self.session.project:  # another project was opened meanwhile
            return
        changed, self._refresh_when_ready = self._refresh_when_ready, None
        self.model.set_rows(rows)
        if -1 in (changed or ()):  # every frame changed meanwhile
            self.model.reload()
        elif changed:  # written after the worker's query, perhaps: read them again
            self.model.refresh_frames(sorted(changed))
        self.rows_ready = True
        self._update_count()
        if not self._follow_session() and self.proxy.rowCount():
            fid = self.proxy.frame_id(0)
            self.session.set_frame(fid)
            self.select_frame(fid)

    def _on_rows_failed(self, message: str) -> None:
        self.count_label.setText("the frame list could not be read")
        self.session.error_raised.emit(message)

    @Slot(int)
    def _on_filter_box_changed(self, _index: int) -> None:
        key = self.filter_box.currentData()
        self.proxy.set_filter(key)
        if key in ("rejected_worst", "worst"):
            self.table.horizontalHeader().setSortIndicator(-1, Qt.AscendingOrder)
        self._update_count()
        if not self._follow_session() and self.proxy.rowCount():
            fid = self.proxy.frame_id(0)
            self.session.set_frame(fid)
            self.select_frame(fid)

    @Slot()
    def _on_jump_edit_returned(self) -> None:
        text = self.jump_edit.text().strip()
        try:
            fid = int(text)
        except ValueError:
            self.session.message_posted.emit(f"'{text}' is not a frame id")
            return
        if self.model.row_of(fid) is None:
            self.session.message_posted.emit(f"no frame with id {fid} in this project")
            self.jump_edit.selectAll()  # typing replaces it
            return
        if self.proxy.row_of(fid) is None:  # hidden by the filter: show all
            self.set_filter("all")
        self.session.set_frame(fid)
        self.select_frame(fid)
        self.jump_edit.clear()
        self.table.setFocus()

    def _on_table_row_changed(self, current, _previous) -> None:
        if current.isValid():
            fid = self.proxy.frame_id(current.row())
            self.session.set_frame(fid)
            if self.session.frame_id != fid:  # unreadable: the selection goes back
                QTimer.singleShot(0, self._follow_session)

    @Slot(int)
    def _on_session_frame_changed(self, frame_id: int) -> None:
        self.select_frame(frame_id)
        row = self.proxy.row_of(frame_id)
        if row is not None:  # read the rows either side ahead (the next first), off the GUI thread
            n = self.proxy.rowCount()
            rows = [r for r in (row + 1, row - 1, *range(row + 2, row + 9)) if 0 <= r < n]
            self.session.prefetch([self.proxy.frame_id(r) for r in rows])

    @Slot(str, object)
    def _on_session_data_changed(self, change) -> None:
        if change.kind in TABLE_KINDS and self._refresh_when_ready is not None:
            if change.all_frames:  # the rows on their way may predate it: read all again
                self._refresh_when_ready.clear()
                self._refresh_when_ready.add(-1)
            else:
                self._refresh_when_ready.update(int(i) for i in change.frame_ids)
            return
        if change.kind in TABLE_KINDS:
            if change.all_frames:
                self.model.reload()
            else:
                self.model.refresh_frames(change.frame_ids)
            self._update_count()
            self._follow_session()

    def _follow_session(self) -> bool:
        fid = self.session.frame_id
        return fid is not None and self.select_frame(fid)

    def _update_count(self) -> None:
        self.count_label.setText(f"{self.proxy.rowCount():,} of {self.model.rowCount():,} frames")
