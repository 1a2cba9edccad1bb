"""A handpose-studio project: a folder with a SQLite store and the stages' outputs.

::

    DIR/project.sqlite       frames, restoration results with the automatic decision and the
                             human override, hand labels and the evaluation set, training
                             runs and their metrics
    DIR/dataset/             the demo dataset in the NYU layout (demo projects only)
    DIR/labels/              hand-painted label maps (palette PNGs, index = part id)
    DIR/models/<run>/        checkpoints, config.toml, metrics.jsonl of training runs
    DIR/dictionary/          the patch dictionary and its annoy index
    DIR/restoration/         raw/ and restored/ label maps of the restore stage (palette PNGs)
    DIR/synthetic/           synthetic training stores
    DIR/cache/               crops cached as memory-mapped arrays

SQLite runs in WAL mode and every user action is one committed transaction, so a crash
loses at most the action in flight. Every write records a typed
:class:`~handpose_core.project.changes.Change` in the ``changes`` table within its own
transaction; after the commit it is announced to the subscribers of the connection that
made it (:meth:`Project.subscribe`), and every other connection or process reads it with
:meth:`Project.changes_since` (:class:`~handpose_core.project.changes.ChangeFeed` joins
the two). This package is the only place that speaks SQL.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..datasets.crop import DEFAULT_CROP, CropSpec, CropTransform, crop_depth, crop_labels, crop_transform
from ..datasets.labelio import label_digest, read_label_png, stage_label_png
from ..datasets.nyu import NYUDataset
from ..fileio import remove_stale_temporaries, stale_temporaries
from ..progress import check_cancel
from ..skeleton import PALM_CENTRE
from .changes import STORE_KINDS, Change, ChangeKind, coalesce
from .crops import CropCache
from .frame_rows import FrameRowsMixin
from .records import Frame, HandLabelRecord
from .restorations import RestorationsMixin
from .runs import RunsMixin
from .schema import DB_NAME, ProjectError, check_integrity, connect, migrate, now

KEEP_CHANGES = 200_000
"""Rows the change log keeps; a reader further behind reloads everything."""
PRUNE_EVERY = 1000
"""The log is pruned when a write's sequence number passes a multiple of this."""

SUBFOLDERS = ("labels", "models", "dictionary", "restoration", "synthetic", "cache")

_FRAME_SQL = ("SELECT f.id, f.split, f.kinect, f.frame, "
              "(f.has_labels OR h.complete IS NOT NULL AND h.complete) "
              "FROM frames f LEFT JOIN hand_labels h ON h.frame_id = f.id")


class Project(RestorationsMixin, RunsMixin, FrameRowsMixin):
    """An open project. Thread-safe: one SQLite connection guarded by a lock."""

    def __init__(self, root: Path, conn: sqlite3.Connection):
        self.root = root
        self._conn = conn
        self._lock = threading.RLock()
        self._subscribers: list[Callable[[Change], None]] = []
        self.meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        # the joints memory-mapped from copies in the project's cache (one frame's at once)
        cache = root / "cache"
        self.dataset = NYUDataset(self.dataset_root, cache_dir=cache if cache.is_dir() else None)

    # ------------------------------------------------------------------ create / open
    @classmethod
    def create(cls, root: str | os.PathLike, dataset_root: str | os.PathLike, *, kind: str,
               crop: CropSpec = DEFAULT_CROP, kinect: int = 1) -> Project:
        """Create a project over an NYU-layout dataset root (``kind``: demo or nyu).

        The store is written under a temporary name and moved into place when complete,
        so an interrupted create leaves no half-made project."""
        root = Path(root)
        if (root / DB_NAME).exists():
            raise ProjectError(f"{root}: a project already exists here")
        ds = NYUDataset(dataset_root)  # validates the root
        root.mkdir(parents=True, exist_ok=True)
        for sub in SUBFOLDERS:
            (root / sub).mkdir(exist_ok=True)
        tmp_db = root / (DB_NAME + ".creating")
        for suffix in ("", "-wal", "-shm"):
            Path(str(tmp_db) + suffix).unlink(missing_ok=True)
        conn = connect(tmp_db)
        migrate(conn, tmp_db)
        ds_root = Path(dataset_root).resolve()
        try:
            rel = os.path.relpath(ds_root, root.resolve())
        except ValueError:
            rel = str(ds_root)
        meta = {"kind": kind, "dataset_root": rel if not rel.startswith("..") else str(ds_root),
                "created": now(), "cube_mm": str(float(crop.cube_mm)),
                "crop_size": str(int(crop.size)), "kinect": str(kinect)}
        with conn:
            conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            for split in ds.splits:
                frames = ds.frames(split, kinect)
                lab = {int(n.split("_")[2][:7]) for n in os.listdir(ds.split_dir(split))
                       if n.startswith(f"labels_{kinect}_")}
                conn.executemany(
                    "INSERT INTO frames (split, kinect, frame, has_labels) VALUES (?, ?, ?, ?)",
                    [(split, kinect, int(f), int(int(f) in lab)) for f in frames])
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        for suffix in ("-wal", "-shm"):
            Path(str(tmp_db) + suffix).unlink(missing_ok=True)
        os.replace(tmp_db, root / DB_NAME)
        p = cls.open(root)
        p.dataset.write_joint_copies()  # the first opening then reads no joint_data.mat
        return p

    @classmethod
    def open(cls, root: str | os.PathLike) -> Project:
        """Open a project folder; :class:`ProjectError` naming the file if it is not a
        project, its store is damaged or newer than this code, or its dataset is gone."""
        root = Path(root)
        db = root / DB_NAME
        if not root.is_dir():
            raise ProjectError(f"{root}: no such project folder")
        if not db.exists():
            raise ProjectError(f"{root}: not a handpose-studio project ({DB_NAME} missing)")
        with open(db, "rb") as fh:  # SQLite would take an empty file for a new database
            head = fh.read(16)
        if head != b"SQLite format 3\x00":
            raise ProjectError(f"{db}: not a readable project store (not an SQLite file"
                               + (", empty)" if not head else ")"))
        conn = None
        try:
            conn = connect(db)
            check_integrity(conn, db)
            if conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'meta'"
                            ).fetchone()[0] == 0:
                raise ProjectError(f"{db}: not a readable project store (an SQLite file "
                                   "without the project tables)")
            migrate(conn, db)
            project = cls(root, conn)
            project._finish_label_writes()
            return project
        except sqlite3.DatabaseError as e:
            if conn is not None:
                conn.close()
            raise ProjectError(f"{db}: not a readable project store ({e})") from None
        except (ProjectError, FileNotFoundError, ValueError):
            if conn is not None:
                conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ change events
    def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``callback(change)`` after every committed write through this connection;
        returns a function that unsubscribes. Callbacks run in the thread that wrote.
        Writes of other connections and processes: :meth:`changes_since`."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
        return unsubscribe

    def _log_change(self, kind: ChangeKind, frame_ids=(), run_id: int | None = None) -> Change:
        """Record a change in the ``changes`` table; call inside the write's transaction
        (with the lock held), and :meth:`_announce` the result after the commit."""
        ids = [int(i) for i in frame_ids]
        rows = [(kind.value, i, run_id) for i in ids] or [(kind.value, None, run_id)]
        self._conn.executemany("INSERT INTO changes (kind, frame_id, run_id) VALUES (?, ?, ?)",
                               rows)
        seq = int(self._conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        if seq % PRUNE_EVERY < len(rows):  # now and then: keep the last KEEP_CHANGES rows
            self._conn.execute("DELETE FROM changes WHERE seq <= ?", (seq - KEEP_CHANGES,))
        return Change(kind, frozenset(ids) if ids else None, run_id, seq)

    def _announce(self, change: Change) -> None:
        with self._lock:
            subs = list(self._subscribers)
        for cb in subs:
            cb(change)

    def change_seq(self) -> int:
        """The sequence number of the last recorded change (0 when none)."""
        with self._lock:
            r = self._conn.execute("SELECT max(seq) FROM changes").fetchone()[0]
        return int(r or 0)

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: differs from the last value this connection
        saw when another connection or process has committed since (a cheap check)."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def change_rows_since(self, seq: int) -> tuple[list[tuple], bool]:
        """``(rows, missed)``: change-log rows ``(seq, kind, frame_id, run_id)`` after
        ``seq`` in order, and whether rows after ``seq`` were already pruned (then a
        reader must assume that everything changed)."""
        with self._lock:
            rows = self._conn.execute("SELECT seq, kind, frame_id, run_id FROM changes "
                                      "WHERE seq > ? ORDER BY seq", (int(seq),)).fetchall()
            first = self._conn.execute("SELECT min(seq) FROM changes").fetchone()[0]
        # seqs are contiguous (AUTOINCREMENT, and a rolled-back write gives its seq back)
        return rows, first is not None and first > int(seq) + 1

    def changes_since(self, seq: int) -> tuple[list[Change], int]:
        """``(changes, last seq)``: what every connection wrote after ``seq``, one
        :class:`Change` per kind (and per run), frame ids merged; every store kind for
        all frames when the log no longer reaches back to ``seq``."""
        rows, missed = self.change_rows_since(seq)
        last = rows[-1][0] if rows else seq
        if missed:
            return [Change(k) for k in STORE_KINDS], last
        return coalesce(rows), last

    # ------------------------------------------------------------------ properties
    @property
    def dataset_root(self) -> Path:
        p = Path(self.meta["dataset_root"])
        return p if p.is_absolute() else (self.root / p)

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def crop_spec(self) -> CropSpec:
        """The crop size and cube of this project (fixed at creation)."""
        return CropSpec(int(self.meta["crop_size"]), float(self.meta["cube_mm"]))

    @property
    def cube_mm(self) -> float:
        return self.crop_spec.cube_mm

    @property
    def crop_size(self) -> int:
        return self.crop_spec.size

    def path(self, sub: str) -> Path:
        p = self.root / sub
        p.mkdir(parents=True, exist_ok=True)
        return p

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        return self.meta.get(key, default)

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))
            change = self._log_change(ChangeKind.META)
        self.meta[key] = str(value)
        self._announce(change)

    # ------------------------------------------------------------------ frames
    def frames(self, split: str | None = None, *, labelled: bool | None = None) -> list[Frame]:
        q, args = _FRAME_SQL + " WHERE 1", []
        if split is not None:
            q += " AND f.split = ?"
            args.append(split)
        with self._lock:
            rows = self._conn.execute(q + " ORDER BY f.id", args).fetchall()
        out = [Frame(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]
        if labelled is not None:
            out = [f for f in out if f.has_labels == labelled]
        return out

    def frame(self, frame_id: int) -> Frame:
        with self._lock:
            r = self._conn.execute(_FRAME_SQL + " WHERE f.id = ?", (frame_id,)).fetchone()
        if r is None:
            raise ProjectError(f"{self.root}: no frame with id {frame_id}")
        return Frame(r[0], r[1], r[2], r[3], bool(r[4]))

    def depth(self, f: Frame) -> np.ndarray:
        """``(480, 640)`` uint16 depth (mm) of a frame."""
        return self.dataset.depth(f.split, f.frame, f.kinect)

    def joints_uvd(self, f: Frame) -> np.ndarray:
        """``(36, 3)`` ground-truth joints (u, v px, d mm)."""
        return self.dataset.joints_uvd(f.split, f.frame, f.kinect)

    def labels(self, f: Frame) -> np.ndarray | None:
        """Ground-truth part labels (480, 640) uint8: hand-painted, else the dataset's."""
        hp = self.root / "labels" / f"{f.key}.png"
        if hp.exists():
            return read_label_png(hp)
        return self.dataset.labels(f.split, f.frame, f.kinect)

    def crop_transform(self, f: Frame, size: int | None = None) -> CropTransform:
        """Crop window around the ground-truth palm centre with the project's cube."""
        return crop_transform(self.joints_uvd(f)[PALM_CENTRE], self.cube_mm,
                              size or self.crop_size)

    def crop(self, f: Frame, size: int | None = None):
        """``(depth crop (S,S) float32 in [-1,1], CropTransform, label crop or None)``."""
        tf = self.crop_transform(f, size)
        lab = self.labels(f)
        return crop_depth(self.depth(f), tf), tf, (crop_labels(lab, tf) if lab is not None
                                                   else None)

    def crops(self, frames: list[Frame], size: int | None = None, *, progress=None,
              cancel=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Depth crops, transforms and label crops of many frames, cached on disk.

        Returns ``(depth (N,S,S) float32, transforms (N,11) float64, labels (N,S,S) uint8)``;
        frames without labels get an all-zero label crop (check ``Frame.has_labels``).
        """
        size = size or self.crop_size
        cache = CropCache(self.path("cache"), len(self._all_ids()), size, self.cube_mm)
        idx = self._row_index([f.id for f in frames])
        todo = [(i, f) for i, f in zip(idx, frames) if not cache.done[i]]
        for k, (i, f) in enumerate(todo):
            check_cancel(cancel)
            d, tf, lab = self.crop(f, size)
            cache.put(i, d, tf.to_array(), lab)
            if progress and (k % 16 == 0 or k + 1 == len(todo)):
                progress(k + 1, len(todo), f"cropping {f.key}")
        cache.flush()
        return (np.asarray(cache.depth[idx]), np.asarray(cache.tf[idx]),
                np.asarray(cache.labels[idx]))

    def evaluation_frames(self, split: str | None = None) -> list[Frame]:
        """The labelled frames of ``split``; None takes the test split's labelled frames
        when there are any (the paper's hand-labelled evaluation set is from the test
        set), else all of them. The frames of :meth:`labelled_crops`."""
        frames = self.frames(split, labelled=True)
        if split is None:
            frames = [f for f in frames if f.split == "test"] or frames
        return frames

    def labelled_crops(self, split: str | None = None, *, progress=None, cancel=None):
        """``(frames, depth (N,S,S) float32, labels (N,S,S) uint8)`` of the labelled
        frames :meth:`evaluation_frames` picks (their transforms: :meth:`crops`)."""
        frames = self.evaluation_frames(split)
        if not frames:
            s = self.crop_size
            return [], np.zeros((0, s, s), np.float32), np.zeros((0, s, s), np.uint8)
        depth, _, labels = self.crops(frames, progress=progress, cancel=cancel)
        return frames, depth, labels

    def invalidate_crop(self, f: Frame) -> None:
        """Forget a cached crop (after the frame's labels changed)."""
        cache = CropCache(self.path("cache"), len(self._all_ids()), self.crop_size, self.cube_mm)
        cache.forget(self._row_index([f.id])[0])

    def _all_ids(self) -> list[int]:
        if not hasattr(self, "_ids"):
            with self._lock:
                self._ids = [r[0] for r in self._conn.execute("SELECT id FROM frames ORDER BY id")]
            self._pos = {fid: i for i, fid in enumerate(self._ids)}
        return self._ids

    def _row_index(self, ids: list[int]) -> list[int]:
        self._all_ids()
        return [self._pos[i] for i in ids]

    # ------------------------------------------------------------------ hand labels
    def save_hand_labels(self, f: Frame, labels: np.ndarray, *, strokes: int = 0,
                         complete: bool = False, seconds: float = 0.0,
                         author: str = "") -> Path:
        """Save a hand-painted full-frame label map and its store row as one action: the PNG
        is written to a temporary beside its place (fsynced), the row (with the map's
        digest) is committed, then the PNG is moved into place. A process killed before the
        commit leaves the old map and row; one killed after it leaves the new row and its
        PNG under the temporary name, which the next :meth:`open` moves into place
        (:meth:`_finish_label_writes`)."""
        p = self.path("labels") / f"{f.key}.png"
        tmp = stage_label_png(p, labels)
        try:
            with self._lock, self._conn:
                self._conn.execute(
                    "INSERT OR REPLACE INTO hand_labels (frame_id, path, strokes, complete, "
                    "updated, seconds, author, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (f.id, str(p.relative_to(self.root)), int(strokes), int(complete), now(),
                     float(seconds), str(author), label_digest(labels)))
                change = self._log_change(ChangeKind.LABELS, [f.id])
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, p)
        self.invalidate_crop(f)
        self._announce(change)
        return p

    def _finish_label_writes(self) -> dict[str, list[Path]]:
        """Settle the saves of processes killed mid-write (called by :meth:`open`): a label
        map (hand labels, a restoration's raw or restored map) left under its temporary
        name whose pixels are what its committed row's digest says is moved into place
        (the save had committed); any other temporary of a dead process in ``labels/``,
        ``restoration/`` (its folders) or the project folder is deleted (that save had not
        committed, or it was no store write). Returns ``{"finished": [...],
        "removed": [...]}``."""
        done: dict[str, list[Path]] = {"finished": [], "removed": []}
        key = "f.split || '_' || f.kinect || '_' || substr('0000000' || f.frame, -7)"
        rest = self.root / "restoration"
        # folder -> where its maps' digests are: table, column, method (or None)
        folders = {self.root / "labels": ("hand_labels", "digest", None),
                   rest / "raw": ("restorations", "raw_digest", None),
                   rest / "restored": ("restorations", "restored_digest", None)}
        if rest.is_dir():
            for m in rest.iterdir():
                if m.is_dir() and m.name not in ("raw", "restored"):
                    for which in ("raw", "restored"):
                        folders[m / which] = ("method_restorations", f"{which}_digest", m.name)
        for folder, (table, column, method) in folders.items():
            stale = stale_temporaries(folder) if folder.is_dir() else []
            if not stale:
                continue
            sql = (f"SELECT {key}, t.{column} FROM {table} t JOIN frames f ON f.id = t.frame_id"
                   + (" WHERE t.method = ?" if method else ""))
            with self._lock:
                digests = dict(self._conn.execute(sql, (method,) if method else ()).fetchall())
            for tmp in stale:
                name = tmp.name.split(".png.")[0]
                want = digests.get(name)
                try:
                    ok = want is not None and label_digest(read_label_png(tmp)) == want
                except (ValueError, OSError):  # cut short: its save never committed
                    ok = False
                try:
                    if ok:
                        os.replace(tmp, folder / f"{name}.png")
                        done["finished"].append(folder / f"{name}.png")
                    else:
                        tmp.unlink()
                        done["removed"].append(tmp)
                except FileNotFoundError:  # another process opening the project settled it
                    pass
        # the folders above the map folders (not every folder below: restoration/raw holds a
        # file per restored frame, and every worker opens the project)
        methods = [m for m in rest.iterdir() if m.is_dir() and m.name not in ("raw", "restored")
                   ] if rest.is_dir() else []
        for folder in [self.root, rest, *methods]:
            done["removed"] += remove_stale_temporaries(folder)
        return done

    def hand_label_record(self, frame_id: int) -> HandLabelRecord | None:
        with self._lock:
            r = self._conn.execute(
                "SELECT frame_id, path, strokes, complete, updated, seconds, author "
                "FROM hand_labels WHERE frame_id = ?", (frame_id,)).fetchone()
        if r is None:
            return None
        return HandLabelRecord(r[0], r[1], int(r[2]), bool(r[3]), r[4], float(r[5]), r[6])

    # ------------------------------------------------------------------ evaluation set
    def eval_set(self) -> list[int]:
        """Frame ids of the hand-labelled evaluation set, in their chosen order."""
        with self._lock:
            return [r[0] for r in self._conn.execute(
                "SELECT frame_id FROM eval_set ORDER BY position")]

    def set_eval_set(self, frame_ids: list[int]) -> None:
        """Replace the evaluation set (one transaction); unknown frame ids are refused."""
        ids = [int(i) for i in frame_ids]
        if len(set(ids)) != len(ids):
            raise ProjectError("the evaluation set lists a frame twice")
        known = set(self._all_ids())
        bad = [i for i in ids if i not in known]
        if bad:
            raise ProjectError(f"{self.root}: no frames with ids {bad[:5]}")
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM eval_set")
            self._conn.executemany("INSERT INTO eval_set VALUES (?, ?)",
                                   [(i, k) for k, i in enumerate(ids)])
            change = self._log_change(ChangeKind.EVAL_SET)
        self._announce(change)
