import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from handpose_core.datasets.nyu import write_nyu_split
from handpose_core.project import SCHEMA_VERSION, ChangeKind, Project, ProjectError, Score


@pytest.fixture
def nyu_root(tmp_path):
    rng = np.random.default_rng(0)
    n = 4
    uvd = np.zeros((n, 36, 3))
    uvd[:, :, 0], uvd[:, :, 1], uvd[:, :, 2] = 320, 240, 700
    depth = []
    for _ in range(n):
        d = np.full((480, 640), 2001, np.uint16)
        d[200:280, 280:360] = 700 + rng.integers(-5, 5, (80, 80))
        depth.append(d)
    labels = [np.where(d < 2001, 1, 0).astype(np.uint8) for d in depth]
    root = tmp_path / "nyu"
    write_nyu_split(root, "train", depth, uvd, uvd, labels=labels)
    write_nyu_split(root, "test", depth[:2], uvd[:2], uvd[:2])
    return root


def test_create_and_reopen(tmp_path, nyu_root):
    p = Project.create(tmp_path / "proj", nyu_root, kind="nyu")
    assert len(p.frames()) == 6 and len(p.frames("test")) == 2
    assert len(p.frames(labelled=True)) == 4
    p.close()
    p = Project.open(tmp_path / "proj")
    assert p.kind == "nyu" and p.cube_mm == 300.0
    con = sqlite3.connect(tmp_path / "proj" / "project.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(tmp_path / "proj", nyu_root, kind="nyu")


def test_crops_are_cached(tmp_path, nyu_root):
    p = Project.create(tmp_path / "proj", nyu_root, kind="nyu")
    fr = p.frames("train")
    d, tf, lab = p.crops(fr)
    assert d.shape == (4, 48, 48) and tf.shape == (4, 11) and lab.shape == (4, 48, 48)
    assert (lab[0] == 1).sum() > 100 and ((d[0] < 1) == (lab[0] == 1)).all()
    calls = []
    p.crop = lambda *a, **k: calls.append(a)  # a cached crop must not be recomputed
    d2, _, _ = p.crops(fr[:2])
    assert not calls and np.array_equal(d2, d[:2])


def test_override_persists(tmp_path, nyu_root):
    p = Project.create(tmp_path / "proj", nyu_root, kind="nyu")
    f = p.frames("train")[1]
    m = np.zeros((48, 48), np.uint8)
    rec = p.save_restoration(f, model="m", raw=m, restored=m + 1, score_raw=Score(50.0, 5),
                             score_restored=Score(40.0, 4), auto_accept=True,
                             details={"per_joint_mm": [1.0]})
    assert rec.accepted and rec.override is None
    p.set_override(f.id, False)
    p.close()
    p = Project.open(tmp_path / "proj")
    rec = p.restoration(f.id)
    assert rec.auto_accept and rec.override is False and not rec.accepted
    assert rec.override_time is not None
    raw, res = p.restored_maps(rec)
    assert res.max() == 1
    # re-running the stage keeps the human decision
    p.save_restoration(f, model="m2", raw=m, restored=m, score_raw=Score(50.0, 5),
                       score_restored=Score(60.0, 6), auto_accept=False)
    assert p.restoration(f.id).override is False
    with pytest.raises(ProjectError, match="no restoration"):
        p.set_override(p.frames("test")[0].id, True)


def test_runs_recorded(tmp_path, nyu_root):
    p = Project.create(tmp_path / "proj", nyu_root, kind="nyu")
    rid = p.start_run("pretrain-seg", {"epochs": 2})
    r = p.runs()[0]
    assert r.outcome == "running" and r.status == "running" and r.pid == os.getpid()
    p.finish_run(rid, "completed", {"val_acc": np.float32(0.9)}, "models/x/best.pt")
    r = p.runs("pretrain-seg")[0]
    assert r.outcome == r.status == "completed"
    assert r.metrics["val_acc"] == pytest.approx(0.9) and r.checkpoint == "models/x/best.pt"
    with pytest.raises(ValueError, match="outcome must be one of"):
        p.finish_run(rid, "succeeded")


def test_run_of_a_dead_process_reads_as_interrupted(tmp_path, nyu_root):
    p = Project.create(tmp_path / "proj", nyu_root, kind="nyu")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that no longer runs
    rid = p.start_run("restore", {})
    with p._lock, p._conn:
        p._conn.execute("UPDATE runs SET pid = ? WHERE id = ?", (child.pid, rid))
    assert p.run_record(rid).status == "interrupted"
    with p._lock, p._conn:  # a live pid with a stale heartbeat: interrupted too
        p._conn.execute("UPDATE runs SET pid = ?, heartbeat = heartbeat - 3600 WHERE id = ?",
                        (os.getpid(), rid))
    assert p.run_record(rid).status == "interrupted"


def test_changes_are_announced_after_commit(tmp_path, nyu_root):
    p = Project.create(tmp_path / "proj", nyu_root, kind="nyu")
    seen = []

    def on_event(e):
        # committed before the callback: a second connection already sees it
        con = sqlite3.connect(tmp_path / "proj" / "project.sqlite")
        n = con.execute("SELECT count(*) FROM restorations").fetchone()[0]
        con.close()
        seen.append((e.kind, e.frame_ids, n))

    unsubscribe = p.subscribe(on_event)
    f = p.frames("train")[0]
    m = np.zeros((48, 48), np.uint8)
    p.save_restoration(f, model="m", raw=m, restored=m, score_raw=Score(1, 1),
                       score_restored=Score(2, 2), auto_accept=False)
    p.set_override(f.id, True)
    p.set_eval_set([f.id])
    unsubscribe()
    p.set_override(f.id, None)
    assert seen == [(ChangeKind.RESTORATION, {f.id}, 1), (ChangeKind.OVERRIDE, {f.id}, 1),
                    (ChangeKind.EVAL_SET, None, 1)]


def test_eval_set_round_trip(tmp_path, nyu_root):
    p = Project.create(tmp_path / "proj", nyu_root, kind="nyu")
    ids = [f.id for f in p.frames()][::-1][:3]
    p.set_eval_set(ids)
    p.close()
    p = Project.open(tmp_path / "proj")
    assert p.eval_set() == ids
    with pytest.raises(ProjectError, match="no frames with ids"):
        p.set_eval_set([999])
    with pytest.raises(ProjectError, match="twice"):
        p.set_eval_set([ids[0], ids[0]])
    assert p.eval_set() == ids  # a refused change leaves the set as it was


def test_hand_labels_count_as_labelled(tmp_path, nyu_root):
    p = Project.create(tmp_path / "proj", nyu_root, kind="nyu")
    f = p.frames("test")[0]
    assert not f.has_labels and p.labels(f) is None
    lab = np.zeros((480, 640), np.uint8)
    lab[200:280, 280:360] = 3
    p.save_hand_labels(f, lab, strokes=2, complete=True, seconds=12.5, author="ann")
    assert p.frame(f.id).has_labels
    rec = p.hand_label_record(f.id)
    assert (rec.strokes, rec.complete, rec.seconds, rec.author) == (2, True, 12.5, "ann")
    assert (p.labels(f) == 3).sum() == 6400


def test_open_errors(tmp_path):
    with pytest.raises(ProjectError, match="not a handpose-studio project"):
        Project.open(tmp_path)
    (tmp_path / "project.sqlite").write_bytes(b"garbage" * 100)
    with pytest.raises(ProjectError, match="project.sqlite"):
        Project.open(tmp_path)


def damage_middle(db) -> bytes:
    """Overwrite one page in the middle of a store with garbage; returns the new bytes."""
    data = bytearray(db.read_bytes())
    page = 4096
    mid = (len(data) // page // 2) * page
    data[mid:mid + page] = bytes(range(256)) * (page // 256)
    db.write_bytes(bytes(data))
    return bytes(data)


def test_a_store_damaged_in_the_middle_is_refused_naming_it(tmp_path, capsys):
    from handpose_core.cli.main import main
    from handpose_core.render import write_nyu_layout

    write_nyu_layout(tmp_path / "nyu", 30, split="test", seed=3)
    p = Project.create(tmp_path / "proj", tmp_path / "nyu", kind="nyu")
    for f in p.frames():  # enough rows for a store of several pages
        p.save_hand_labels(f, np.zeros((480, 640), np.uint8), strokes=1, author="x" * 500)
    p.close()
    db = tmp_path / "proj" / "project.sqlite"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    assert db.stat().st_size >= 4 * 4096
    damaged = damage_middle(db)
    with pytest.raises(ProjectError, match="project.sqlite: the project store is damaged"):
        Project.open(tmp_path / "proj")
    for argv in (["evaluate", "--what", "segmentation"], ["train", "restore"],
                 ["train", "build-dictionary"]):
        assert main([*argv, "--project", str(tmp_path / "proj")]) == 2
        err = capsys.readouterr().err
        assert "project.sqlite: the project store is damaged" in err and "Traceback" not in err
    assert db.read_bytes() == damaged  # nothing was written
