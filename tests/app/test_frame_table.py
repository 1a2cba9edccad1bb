"""The frame table's filter proxy: index arrays instead of one call per row, and the
view's current row following its frame across sorts and filters."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QTableView

from app.models.frame_table import (
    COL_ID,
    COL_RAW,
    COL_RESTORED,
    FILTERS,
    FrameFilterProxy,
    FrameTableModel,
)


@pytest.fixture()
def table(tmp_path, qapp):
    from handpose_core.project.scale import create_table_scale_project

    project, ids = create_table_scale_project(tmp_path, 600, seed=3)
    for k, fid in enumerate(ids[10:40:3]):  # overrides, some disagreeing with the decision
        project.set_override(fid, bool(k % 2))
    with project._lock, project._conn:  # a few frames with ground-truth labels
        project._conn.execute("UPDATE frames SET has_labels = 1 WHERE id % 7 = 0")
    model, proxy = FrameTableModel(), FrameFilterProxy()
    proxy.setSourceModel(model)
    model.set_project(project)
    view = QTableView()
    view.setModel(proxy)
    yield project, ids, model, proxy, view
    view.setModel(None)
    project.close()


def _select(view, proxy, fid):
    view.selectionModel().setCurrentIndex(
        proxy.index(proxy.row_of(fid), COL_ID),
        QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)


def test_every_filter_shows_the_mask_rows_in_the_source_order(table):
    _, ids, model, proxy, _ = table
    for col, order in ((COL_RESTORED, Qt.DescendingOrder), (COL_ID, Qt.AscendingOrder)):
        proxy.sort(col, order)
        for name in FILTERS:
            proxy.set_filter(name)
            mask = model.filter_mask(name)
            want = model.column("id")[mask]
            assert proxy.rowCount() == int(mask.sum()) > 0, name
            assert np.array_equal(proxy.frame_ids(), want), name
            for r in (0, proxy.rowCount() // 2, proxy.rowCount() - 1):
                fid = proxy.frame_id(r)
                assert proxy.row_of(fid) == r
                assert proxy.data(proxy.index(r, COL_ID)) == str(fid)
                assert proxy.mapToSource(proxy.index(r, 0)).row() == model.row_of(fid)
            hidden = np.setdiff1d(ids, want)
            if len(hidden):
                assert proxy.row_of(int(hidden[0])) is None
    # "worst" sorts by the raw score, worst first
    proxy.set_filter("worst")
    raw = model.column("raw")[model.filter_mask("worst")]
    assert np.all(np.diff(raw) <= 0) and proxy.rowCount() == len(raw)
    assert model.column("raw")[0] == np.nanmax(model.column("raw"))


def test_the_current_row_follows_its_frame_across_sorts_and_filters(table):
    _, ids, model, proxy, view = table
    accepted = model.column("id")[model.filter_mask("accepted")]
    fid = int(accepted[len(accepted) // 3])
    _select(view, proxy, fid)
    current = view.selectionModel().currentIndex

    def shown():
        i = current()
        return proxy.frame_id(i.row()) if i.isValid() else None

    assert shown() == fid
    for col in (COL_RAW, COL_RESTORED, COL_ID):
        for order in (Qt.AscendingOrder, Qt.DescendingOrder):
            proxy.sort(col, order)
            assert shown() == fid and view.selectionModel().isRowSelected(current().row())
    proxy.set_filter("accepted")
    assert shown() == fid and proxy.rowCount() == len(accepted)
    proxy.set_filter("rejected")  # hides it: no current row
    assert shown() is None
    # an override changes the filter's answer: the row leaves or joins the shown rows
    proxy.set_filter("all")
    _select(view, proxy, fid)
    proxy.set_filter("accepted")
    other = int(accepted[0])
    model._project.set_override(other, False)
    model.refresh_frame(other)
    assert proxy.row_of(other) is None and shown() == fid
    assert proxy.rowCount() == len(accepted) - 1
