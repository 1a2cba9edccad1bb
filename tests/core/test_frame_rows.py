"""The frame table's store queries: rows, filters and sort (project/frame_rows.py)."""

from __future__ import annotations

import numpy as np
import pytest

from handpose_core.project import Score
from handpose_core.project.frame_rows import FILTERS, FrameRows, filter_mask, sort_order


def _restore(p, f, raw_mm, res_mm, ok):
    m = np.zeros((p.crop_size, p.crop_size), np.uint8)
    p.save_restoration(f, model="m", raw=m, restored=m, score_raw=Score(raw_mm, 1),
                       score_restored=Score(res_mm, 1), auto_accept=ok)


@pytest.fixture
def rows_project(make_nyu_project):
    p = make_nyu_project(5)
    f = p.frames()
    _restore(p, f[0], 120, 60, True)
    _restore(p, f[1], 100, 300, False)
    _restore(p, f[2], 240, 480, False)
    p.set_override(f[2].id, True)  # disagrees with the automatic reject
    return p, [x.id for x in f]


def test_rows_hold_each_frames_decision_and_scores(rows_project):
    p, ids = rows_project
    r = p.frame_rows()
    assert list(r.id) == ids and list(r.split) == ["train"] * 5
    assert list(r.auto) == [1, 0, 0, -1, -1] and list(r.override) == [-1, -1, 1, -1, -1]
    assert r.raw[1] == 100 and r.restored[2] == 480 and np.isnan(r.raw[3])
    assert r.labelled.all()  # rendered frames come with part labels
    one = p.frame_rows([ids[2], ids[0]])
    assert list(one.id) == [ids[0], ids[2]]


def test_filters(rows_project):
    p, ids = rows_project
    r = p.frame_rows()

    def shown(name):
        return [int(i) for i in r.id[filter_mask(r, name)]]

    assert set(FILTERS) >= {"all", "accepted", "rejected", "not_restored", "worst"}
    assert shown("all") == ids
    assert shown("accepted") == [ids[0], ids[2]]  # the override is in force
    assert shown("rejected") == shown("rejected_worst") == [ids[1]]
    assert shown("overridden") == shown("disagreeing") == [ids[2]]
    assert shown("not_restored") == ids[3:]
    assert shown("worst") == [ids[2]]  # in force: restored 480, the worst 10 %
    with pytest.raises(KeyError, match="unknown filter"):
        filter_mask(r, "nope")


def test_sort_puts_missing_scores_last_both_ways_and_breaks_ties_by_id(rows_project):
    p, ids = rows_project
    r = p.frame_rows()
    assert [ids[k] for k in sort_order(r, "restored")] == [ids[0], ids[1], ids[2], ids[3], ids[4]]
    assert [ids[k] for k in sort_order(r, "restored", True)] == \
        [ids[2], ids[1], ids[0], ids[3], ids[4]]
    order = sort_order(r, "raw", True)
    assert list(filter_mask(r, "rejected", order)) == [False, False, True, False, False]


def test_update_writes_fresh_rows_in_place(rows_project):
    p, ids = rows_project
    r = p.frame_rows()
    p.set_override(ids[1], True)
    fresh = p.frame_rows([ids[1]])
    r.update(fresh, np.array([1]))
    assert r.override[1] == 1 and isinstance(r, FrameRows) and len(r) == 5
