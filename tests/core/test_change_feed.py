"""The change feed: every write to a project is one typed change, announced once to its
own connection's subscribers and read once by any other connection (project/changes.py)."""

from __future__ import annotations

import numpy as np
import pytest

from handpose_core.project import Change, ChangeFeed, ChangeKind, Project, Score
from handpose_core.project.changes import STORE_KINDS, coalesce


@pytest.fixture
def projects(make_nyu_project):
    """``(writer, reader)``: two connections to one small project (2 train frames)."""
    writer = make_nyu_project(2)
    reader = Project.open(writer.root)
    yield writer, reader
    reader.close()


def _restore(p, f):
    m = np.zeros((p.crop_size, p.crop_size), np.uint8)
    return p.save_restoration(f, model="m", raw=m, restored=m, score_raw=Score(3, 3),
                              score_restored=Score(2, 2), auto_accept=True)


def _writes(p):
    """One write of every store kind: ``{kind: (write, frame_ids, run_id or None)}``."""
    f = p.frames()[0]
    return {
        ChangeKind.RESTORATION: (lambda: _restore(p, f), {f.id}),
        ChangeKind.OVERRIDE: (lambda: p.set_override(f.id, False), {f.id}),
        ChangeKind.LABELS: (lambda: p.save_hand_labels(f, np.zeros((480, 640), np.uint8)),
                            {f.id}),
        ChangeKind.RUN: (lambda: p.start_run("evaluate", {}), None),
        ChangeKind.META: (lambda: p.set_meta("note", "x"), None),
        ChangeKind.EVAL_SET: (lambda: p.set_eval_set([f.id]), None),
    }


@pytest.mark.parametrize("kind", STORE_KINDS, ids=lambda k: k.value)
def test_each_write_announces_its_kind_once_on_its_connection_and_elsewhere(projects, kind):
    writer, reader = projects
    writes = _writes(writer)
    if kind is ChangeKind.OVERRIDE:  # an override needs a restoration to decide on
        writes[ChangeKind.RESTORATION][0]()
    feed = ChangeFeed(reader)
    announced = []
    unsubscribe = writer.subscribe(announced.append)
    write, frame_ids = writes[kind]
    result = write()
    unsubscribe()
    assert [c.kind for c in announced] == [kind]
    assert announced[0].frame_ids == (None if frame_ids is None else frozenset(frame_ids))
    if kind is ChangeKind.RUN:
        assert announced[0].run_id == result
    # the other connection reads the same change once from the change log
    got = feed.poll()
    assert [(c.kind, c.frame_ids, c.run_id) for c in got] == \
        [(kind, announced[0].frame_ids, announced[0].run_id)]
    assert feed.poll() == []


def test_a_run_finishing_is_a_run_change_with_its_id(projects):
    writer, reader = projects
    rid = writer.start_run("evaluate", {})
    feed = ChangeFeed(reader)
    writer.finish_run(rid, "completed")
    assert [(c.kind, c.run_id) for c in feed.poll()] == [(ChangeKind.RUN, rid)]


def test_a_rolled_back_write_records_no_change(projects):
    writer, reader = projects
    feed = ChangeFeed(reader)
    with pytest.raises(ValueError, match="no restoration"):
        writer.set_override(writer.frames()[0].id, True)  # nothing to override
    assert feed.poll() == []
    assert writer.change_seq() == reader.change_seq()


def test_many_writes_are_coalesced_per_kind_with_every_frame(projects):
    writer, reader = projects
    feed = ChangeFeed(reader)
    frames = writer.frames()
    for f in frames:
        _restore(writer, f)
    writer.set_override(frames[1].id, True)
    got = feed.poll()
    assert [(c.kind, c.frame_ids) for c in got] == [
        (ChangeKind.RESTORATION, frozenset(f.id for f in frames)),
        (ChangeKind.OVERRIDE, frozenset({frames[1].id}))]
    assert got[-1].seq == writer.change_seq()


def test_own_writes_are_delivered_once_whether_announced_or_polled_first(projects):
    writer, reader = projects
    feed = ChangeFeed(reader)
    own = []
    reader.subscribe(own.append)
    f0, f1 = reader.frames()
    _restore(reader, f0)           # this connection: announced
    _restore(writer, f1)           # another connection: polled
    # the poll sees both rows in the log, but only the other connection's is new ...
    assert [c.frame_ids for c in feed.poll()] == [frozenset({f0.id, f1.id})]
    # ... unless the announcement was accepted first
    assert feed.accept(own[0]) is None  # polled already
    _restore(reader, f0)
    assert feed.accept(own[1]) == own[1]
    _restore(writer, f1)
    assert [c.frame_ids for c in feed.poll()] == [frozenset({f1.id})]


def test_a_reader_behind_the_pruned_log_reloads_everything(projects, monkeypatch):
    import handpose_core.project.store as store

    writer, reader = projects
    feed = ChangeFeed(reader)
    monkeypatch.setattr(store, "KEEP_CHANGES", 3)
    monkeypatch.setattr(store, "PRUNE_EVERY", 10)
    f = writer.frames()[0]
    for _ in range(12):
        writer.set_meta("n", "1")
    assert writer.change_rows_since(0)[1]
    got = feed.poll()
    assert sorted(c.kind.value for c in got) == sorted(k.value for k in STORE_KINDS)
    assert all(c.all_frames for c in got)
    _restore(writer, f)
    assert [(c.kind, c.frame_ids) for c in feed.poll()] == \
        [(ChangeKind.RESTORATION, frozenset({f.id}))]


def test_a_run_whose_process_is_gone_is_reported_once(projects):
    writer, reader = projects
    rid = writer.start_run("evaluate", {})
    feed = ChangeFeed(reader, liveness_every=1)
    assert feed.poll() == []  # alive (this process)
    with writer._lock, writer._conn:  # the run's process died: its heartbeat went stale
        writer._conn.execute("UPDATE runs SET pid = NULL, heartbeat = 0 WHERE id = ?", (rid,))
    assert [(c.kind, c.run_id) for c in feed.poll()] == [(ChangeKind.RUN, rid)]
    assert feed.poll() == []


def test_coalesce_keeps_first_order_and_marks_frame_less_rows_as_all_frames():
    got = coalesce([(1, "labels", 4, None), (2, "run", None, 7), (3, "labels", None, None),
                    (4, "run", None, 8), (5, "labels", 5, None)])
    assert got == [Change(ChangeKind.LABELS, None, None, 5), Change(ChangeKind.RUN, None, 7, 2),
                   Change(ChangeKind.RUN, None, 8, 4)]
    assert got[0].touches(123) and not Change(ChangeKind.LABELS, frozenset({1})).touches(2)


def test_an_output_folder_changed_outside_a_run_is_a_files_change(projects):
    _, reader = projects
    feed = ChangeFeed(reader, liveness_every=1)
    assert feed.poll() == []
    (reader.path("dictionary") / "patches.npy").write_bytes(b"x")
    assert [c.kind for c in feed.poll()] == [ChangeKind.FILES]
    assert feed.poll() == []
