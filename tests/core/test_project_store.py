"""The project store through the public Project API: a store of an older schema opened
and migrated with its data intact, an interrupted create, the crop cache after labels
change, and concurrent writers (two threads, two processes; SQLite in WAL mode)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from handpose_core.datasets.nyu import write_nyu_split
from handpose_core.project import DB_NAME, SCHEMA_VERSION, Project, ProjectError, Score

REPO = Path(__file__).resolve().parents[2]
N = 6

# The schema as version 1 shipped it (a frozen copy: the code's migrations must keep
# reading it).
V1_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE frames (
    id INTEGER PRIMARY KEY,
    split TEXT NOT NULL, kinect INTEGER NOT NULL, frame INTEGER NOT NULL,
    has_labels INTEGER NOT NULL DEFAULT 0,
    UNIQUE (split, kinect, frame));
CREATE TABLE restorations (
    frame_id INTEGER PRIMARY KEY REFERENCES frames(id),
    model TEXT NOT NULL,
    raw_path TEXT NOT NULL, restored_path TEXT NOT NULL,
    score_raw_mm REAL, score_restored_mm REAL, score_raw_px REAL, score_restored_px REAL,
    details TEXT NOT NULL DEFAULT '{}',
    auto_accept INTEGER NOT NULL,
    override INTEGER, override_time TEXT,
    updated TEXT NOT NULL);
CREATE TABLE hand_labels (
    frame_id INTEGER PRIMARY KEY REFERENCES frames(id),
    path TEXT NOT NULL, strokes INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0, updated TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stage TEXT NOT NULL, config TEXT NOT NULL,
    started TEXT NOT NULL, ended TEXT, outcome TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}', checkpoint TEXT, run_dir TEXT);
"""


def _labels(k):
    lab = np.zeros((480, 640), np.uint8)
    lab[200:280, 280:360] = 1 + k % 20  # a square of part k around the palm centre
    return lab


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("nyu")
    uvd = np.tile(np.array([320.0, 240.0, 700.0]), (N, 36, 1))
    depth = np.full((480, 640), 2001, np.uint16)
    depth[200:280, 280:360] = 700
    write_nyu_split(root, "train", [depth] * N, uvd, uvd, labels=[_labels(k) for k in range(N)])
    return root


@pytest.fixture
def project(dataset, tmp_path):
    p = Project.create(tmp_path / "p", dataset, kind="nyu")
    yield p
    p.close()


def _restore_all(p):
    lab = np.zeros((48, 48), np.uint8)
    for f in p.frames():
        p.save_restoration(f, model="m", raw=lab, restored=lab, score_raw=Score(10.0, 1.0),
                           score_restored=Score(5.0, 0.5), auto_accept=f.id % 2 == 0)


def test_a_version_1_store_opens_with_its_data(dataset, tmp_path):
    root = tmp_path / "old"
    (root / "labels").mkdir(parents=True)
    (root / "restoration" / "raw").mkdir(parents=True)
    db = root / DB_NAME
    conn = sqlite3.connect(db)
    conn.executescript(V1_DDL)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", {
        "kind": "nyu", "dataset_root": str(dataset), "created": "2026-01-01T00:00:00+0000",
        "cube_mm": "300.0", "crop_size": "48", "kinect": "1"}.items())
    conn.executemany("INSERT INTO frames (split, kinect, frame, has_labels) VALUES (?, 1, ?, 1)",
                     [("train", k) for k in range(1, N + 1)])
    conn.execute("INSERT INTO restorations VALUES (2, 'old-model', 'restoration/raw/a.png', "
                 "'restoration/raw/b.png', 12.5, 7.25, 3.0, 1.5, '{\"n\": 4}', 0, 1, "
                 "'2026-01-02T00:00:00+0000', '2026-01-02T00:00:00+0000')")
    conn.execute("INSERT INTO hand_labels VALUES (3, 'labels/train_1_0000003.png', 17, 1, "
                 "'2026-01-03T00:00:00+0000')")
    conn.execute("INSERT INTO runs (stage, config, started, ended, outcome, metrics, checkpoint)"
                 " VALUES ('pretrain-seg', '{\"lr\": 0.01}', 's', 'e', 'completed',"
                 " '{\"val_acc\": 0.8}', 'models/x/best.pt')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Project.open(root) as p:
        assert [f.frame for f in p.frames()] == list(range(1, N + 1))
        r = p.restoration(2)
        assert (r.model, r.raw.total_mm, r.restored.total_mm, r.raw.total_px,
                r.restored.total_px, r.details) == ("old-model", 12.5, 7.25, 3.0, 1.5, {"n": 4})
        assert r.auto_accept is False and r.override is True and r.accepted
        assert p.restoration(1) is None
        (run,) = p.runs()
        assert run.stage == "pretrain-seg" and run.metrics == {"val_acc": 0.8}
        assert run.config == {"lr": 0.01} and run.checkpoint == "models/x/best.pt"
        assert run.status == "completed"
        hl = p.hand_label_record(3)
        assert (hl.strokes, hl.complete, hl.path) == (17, True, "labels/train_1_0000003.png")
        assert hl.seconds == 0.0 and hl.author == ""  # columns a later schema added
        assert p.eval_set() == []
        assert p.frame(3).has_labels and p.cube_mm == 300.0
        p.set_override(2, None)  # the migrated store takes writes
    with Project.open(root) as p:  # and opens again (the migration ran once)
        assert p.restoration(2).override is None and len(p.runs()) == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
    conn.close()


def test_an_interrupted_create_is_not_a_project_and_is_redone(dataset, tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / (DB_NAME + ".creating")).write_bytes(b"half a database" * 50)
    with pytest.raises(ProjectError, match="not a handpose-studio project .project.sqlite missing"):
        Project.open(root)
    with Project.create(root, dataset, kind="nyu") as p:
        assert len(p.frames()) == N
    assert not (root / (DB_NAME + ".creating")).exists()
    with pytest.raises(ProjectError, match="a project already exists here"):
        Project.create(root, dataset, kind="nyu")


def test_crop_cache_follows_label_changes(project):
    frames = project.frames()
    _, _, before = project.crops(frames)
    assert all(set(np.unique(b)) == {0, 1 + k % 20} for k, b in enumerate(before))
    new = np.zeros((480, 640), np.uint8)
    new[200:280, 280:320] = 7  # the left half of the square relabelled, the right half gone
    project.save_hand_labels(frames[2], new, strokes=3, complete=True)
    _, _, after = project.crops(frames)
    assert set(np.unique(after[2])) == {0, 7}
    assert (after[2] == 7).sum() < 0.7 * (before[2] > 0).sum()
    np.testing.assert_array_equal(np.delete(after, 2, 0), np.delete(before, 2, 0))
    with Project.open(project.root) as again:  # the cache on disk holds the new crop too
        np.testing.assert_array_equal(again.crops([frames[2]])[2][0], after[2])


def test_two_threads_write_at_once(project):
    _restore_all(project)
    ids = [f.id for f in project.frames()]
    errors = []

    def writer(k):
        try:
            for i in range(40):
                fid = ids[(i + k) % len(ids)]
                project.set_override(fid, (i + k) % 2 == 0)
                run = project.start_run(f"thread{k}", {"i": i})
                project.finish_run(run, "completed", {"i": i})
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    runs = project.runs()
    for k in range(2):
        mine = [r for r in runs if r.stage == f"thread{k}"]
        assert sorted(r.metrics["i"] for r in mine) == list(range(40))
        assert all(r.outcome == "completed" for r in mine)


WRITER = """
import sys
from handpose_core.project import Project
root, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
p = Project.open(root)
ids = [f.id for f in p.frames() if f.id % 2 == k]
for i in range(n):
    fid = ids[i % len(ids)]
    p.set_override(fid, i % 3 == 0)
    p.finish_run(p.start_run(f"proc{k}", {"i": i}), "completed", {"i": i})
p.close()
print("done", k)
"""


def test_two_processes_write_at_once(project):
    _restore_all(project)
    n = 60
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(project.root), str(k), str(n)],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(2)]
    for k, pr in enumerate(procs):
        out, err = pr.communicate(timeout=120)
        assert pr.returncode == 0 and out.strip() == f"done {k}", err
        assert "locked" not in err
    with Project.open(project.root) as p:
        runs = p.runs()
        for k in range(2):
            assert sorted(r.metrics["i"] for r in runs if r.stage == f"proc{k}") == \
                list(range(n))
        for f in p.frames():  # each frame's last override is the one its writer set last
            ids = [g.id for g in p.frames() if g.id % 2 == f.id % 2]
            last = max(i for i in range(n) if ids[i % len(ids)] == f.id)
            assert p.restoration(f.id).override is (last % 3 == 0)
