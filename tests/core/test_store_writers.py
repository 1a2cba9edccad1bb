"""The project store under many writers: 4 processes write at once (restorations,
overrides, runs and heartbeats, meta) while this process reads and writes through its
own connection, as the studio does beside restore workers. No 'database is locked'
may reach a caller, and every write is there afterwards."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import traceback

import numpy as np
import pytest

from handpose_core.project import Project
from handpose_core.project.records import Score

WRITERS = 4
ROUNDS = 15


def _writer(root: str, k: int, frame_ids: list[int], start, errors) -> None:
    try:
        with Project.open(root) as p:
            start.wait(60)
            lab = np.full((8, 8), k + 1, np.uint8)
            run = p.start_run("restore", {"writer": k})
            for i in range(ROUNDS):
                f = p.frame(frame_ids[(k + WRITERS * i) % len(frame_ids)])
                p.save_restoration(f, model=f"writer{k}", raw=lab, restored=lab,
                                   score_raw=Score(1.0, 1.0), score_restored=Score(1.0, 1.0),
                                   auto_accept=True, run_key=f"w{k}")
                p.set_override(f.id, bool(i % 2))
                p.heartbeat(run)
                p.set_meta(f"writer{k}", str(i))
                # a read then a write in one transaction: the case a busy handler
                # alone does not cover in WAL mode (a stale read snapshot)
                with p._lock, p._conn:
                    p._conn.execute("SELECT count(*) FROM restorations").fetchone()
                    p._conn.execute("UPDATE meta SET value = ? WHERE key = ?",
                                    (str(i), f"writer{k}"))
            p.finish_run(run, "completed", {"rounds": ROUNDS})
    except BaseException:  # noqa: BLE001 -- reported to the test
        errors.put(f"writer {k}: {traceback.format_exc()}")


def test_four_writer_processes_and_a_reader(make_nyu_project):
    project = make_nyu_project(8, seed=41)
    ids = [f.id for f in project.frames()]
    ctx = mp.get_context("spawn")
    start, errors = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(project.root), k, ids, start, errors))
             for k in range(WRITERS)]
    for p in procs:
        p.start()
    start.set()
    mine = 0
    try:
        while any(p.is_alive() for p in procs):
            project.restorations()
            project.frames()
            project.set_meta("studio", str(mine))  # the studio's own writes
            mine += 1
        for p in procs:
            p.join(120)
    except sqlite3.OperationalError as e:
        pytest.fail(f"the studio's connection failed: {e}")
    errs = []
    while not errors.empty():
        errs.append(errors.get())
    assert not errs, "\n".join(errs)
    assert all(p.exitcode == 0 for p in procs)
    runs = [r for r in project.runs() if r.stage == "restore"]
    assert len(runs) == WRITERS and all(r.outcome == "completed" for r in runs)
    with Project.open(project.root) as p:
        assert all(p.get_meta(f"writer{k}") == str(ROUNDS - 1) for k in range(WRITERS))
        assert len(p.restorations()) == len(ids)
        assert p._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
