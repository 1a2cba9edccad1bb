"""A handpose-studio project: a folder with a SQLite store and the stages' outputs.

::

    DIR/project.sqlite       frames, restoration results with the automatic decision and the
                             human override, hand labels, training runs and their metrics
    DIR/dataset/             the demo dataset in the NYU layout (demo projects only)
    DIR/labels/              hand-painted label maps (palette PNGs, index = part id)
    DIR/models/<run>/        checkpoints, config.toml, metrics.jsonl of training runs
    DIR/dictionary/          the patch dictionary and its annoy index
    DIR/restoration/         raw/ and restored/ label maps of the restore stage (palette PNGs)
    DIR/synthetic/           synthetic training stores
    DIR/cache/               crops cached as memory-mapped arrays

SQLite runs in WAL mode and every user action is one committed transaction, so a crash
loses at most the action in flight. The schema has a version (``PRAGMA user_version``)
and forward migrations.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets.crop import CropTransform, crop_depth, crop_labels, crop_transform
from .datasets.labelio import read_label_png, write_label_png
from .datasets.nyu import NYUDataset
from .progress import check_cancel

DB_NAME = "project.sqlite"
PALM_CENTRE = 32  # PALM_3 in the 36-joint table

_MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
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
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass(frozen=True)
class Frame:
    """One dataset frame known to the project."""

    id: int
    split: str
    kinect: int
    frame: int
    has_labels: bool

    @property
    def key(self) -> str:
        return f"{self.split}_{self.kinect}_{self.frame:07d}"


@dataclass(frozen=True)
class RestorationRecord:
    frame_id: int
    model: str
    raw_path: str
    restored_path: str
    score_raw_mm: float
    score_restored_mm: float
    score_raw_px: float
    score_restored_px: float
    details: dict
    auto_accept: bool
    override: bool | None
    override_time: str | None
    updated: str

    @property
    def accepted(self) -> bool:
        """The decision in force: the human override when there is one, else automatic."""
        return self.auto_accept if self.override is None else self.override


class ProjectError(ValueError):
    pass


class Project:
    """An open project. Thread-safe: one SQLite connection guarded by a lock."""

    def __init__(self, root: Path, conn: sqlite3.Connection):
        self.root = root
        self._conn = conn
        self._lock = threading.RLock()
        self.meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        self.dataset = NYUDataset(self.dataset_root)

    # ------------------------------------------------------------------ create / open
    @classmethod
    def create(cls, root: str | os.PathLike, dataset_root: str | os.PathLike, *, kind: str,
               cube_mm: float = 300.0, crop_size: int = 48, kinect: int = 1) -> Project:
        """Create a project over an NYU-layout dataset root (``kind``: demo or nyu)."""
        root = Path(root)
        if (root / DB_NAME).exists():
            raise ProjectError(f"{root}: a project already exists here")
        ds = NYUDataset(dataset_root)  # validates the root
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("labels", "models", "dictionary", "restoration", "synthetic", "cache"):
            (root / sub).mkdir(exist_ok=True)
        tmp_db = root / (DB_NAME + ".creating")
        tmp_db.unlink(missing_ok=True)
        conn = _connect(tmp_db)
        _migrate(conn, tmp_db)
        ds_root = Path(dataset_root).resolve()
        try:
            rel = os.path.relpath(ds_root, root.resolve())
        except ValueError:
            rel = str(ds_root)
        meta = {"kind": kind, "dataset_root": rel if not rel.startswith("..") else str(ds_root),
                "created": _now(), "cube_mm": str(cube_mm), "crop_size": str(crop_size),
                "kinect": str(kinect)}
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
        return cls.open(root)

    @classmethod
    def open(cls, root: str | os.PathLike) -> Project:
        root = Path(root)
        db = root / DB_NAME
        if not db.exists():
            raise ProjectError(f"{root}: not a handpose-studio project ({DB_NAME} missing)")
        try:
            conn = _connect(db)
            _migrate(conn, db)
            return cls(root, conn)
        except sqlite3.DatabaseError as e:
            raise ProjectError(f"{db}: not a readable project store ({e})") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ properties
    @property
    def dataset_root(self) -> Path:
        p = Path(self.meta["dataset_root"])
        return p if p.is_absolute() else (self.root / p)

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def cube_mm(self) -> float:
        return float(self.meta["cube_mm"])

    @property
    def crop_size(self) -> int:
        return int(self.meta["crop_size"])

    def path(self, sub: str) -> Path:
        p = self.root / sub
        p.mkdir(parents=True, exist_ok=True)
        return p

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        return self.meta.get(key, default)

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))
        self.meta[key] = str(value)

    # ------------------------------------------------------------------ frames
    def frames(self, split: str | None = None, *, labelled: bool | None = None) -> list[Frame]:
        q, args = "SELECT f.id, f.split, f.kinect, f.frame, " \
                  "(f.has_labels OR h.complete IS NOT NULL AND h.complete) " \
                  "FROM frames f LEFT JOIN hand_labels h ON h.frame_id = f.id WHERE 1", []
        if split is not None:
            q += " AND f.split = ?"
            args.append(split)
        q += " ORDER BY f.id"
        with self._lock:
            rows = self._conn.execute(q, args).fetchall()
        out = [Frame(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]
        if labelled is not None:
            out = [f for f in out if f.has_labels == labelled]
        return out

    def frame(self, frame_id: int) -> Frame:
        with self._lock:
            r = self._conn.execute(
                "SELECT f.id, f.split, f.kinect, f.frame, "
                "(f.has_labels OR h.complete IS NOT NULL AND h.complete) FROM frames f "
                "LEFT JOIN hand_labels h ON h.frame_id = f.id WHERE f.id = ?",
                (frame_id,)).fetchone()
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
        cache = _CropCache(self.path("cache"), len(self._all_ids()), size, self.cube_mm)
        idx = self._row_index([f.id for f in frames])
        missing = [i for i, f in zip(idx, frames) if not cache.done[i]]
        todo = [f for i, f in zip(idx, frames) if not cache.done[i]]
        for k, (i, f) in enumerate(zip(missing, todo)):
            check_cancel(cancel)
            d, tf, lab = self.crop(f, size)
            cache.put(i, d, tf.to_array(), lab)
            if progress and (k % 16 == 0 or k + 1 == len(todo)):
                progress(k + 1, len(todo), f"cropping {f.key}")
        cache.flush()
        return (np.asarray(cache.depth[idx]), np.asarray(cache.tf[idx]),
                np.asarray(cache.labels[idx]))

    def invalidate_crop(self, f: Frame) -> None:
        """Forget a cached crop (after the frame's labels changed)."""
        cache = _CropCache(self.path("cache"), len(self._all_ids()), self.crop_size, self.cube_mm)
        cache.done[self._row_index([f.id])[0]] = 0
        cache.flush()

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
                         complete: bool = False) -> Path:
        """Save a hand-painted full-frame label map: PNG first, then the store row."""
        p = self.path("labels") / f"{f.key}.png"
        write_label_png(p, labels)
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO hand_labels VALUES (?, ?, ?, ?, ?)",
                (f.id, str(p.relative_to(self.root)), strokes, int(complete), _now()))
        self.invalidate_crop(f)
        return p

    # ------------------------------------------------------------------ restoration
    def save_restoration(self, f: Frame, *, model: str, raw: np.ndarray, restored: np.ndarray,
                         score_raw_mm: float, score_restored_mm: float, score_raw_px: float,
                         score_restored_px: float, auto_accept: bool,
                         details: dict | None = None) -> RestorationRecord:
        """Store raw and restored crops (palette PNGs) and the scores; keeps any override."""
        raw_p = self.path("restoration/raw") / f"{f.key}.png"
        res_p = self.path("restoration/restored") / f"{f.key}.png"
        write_label_png(raw_p, raw)
        write_label_png(res_p, restored)
        with self._lock, self._conn:
            self._conn.execute(
                """INSERT INTO restorations (frame_id, model, raw_path, restored_path,
                       score_raw_mm, score_restored_mm, score_raw_px, score_restored_px,
                       details, auto_accept, updated)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(frame_id) DO UPDATE SET model=excluded.model,
                       raw_path=excluded.raw_path, restored_path=excluded.restored_path,
                       score_raw_mm=excluded.score_raw_mm,
                       score_restored_mm=excluded.score_restored_mm,
                       score_raw_px=excluded.score_raw_px,
                       score_restored_px=excluded.score_restored_px,
                       details=excluded.details, auto_accept=excluded.auto_accept,
                       updated=excluded.updated""",
                (f.id, model, str(raw_p.relative_to(self.root)),
                 str(res_p.relative_to(self.root)), _f(score_raw_mm), _f(score_restored_mm),
                 _f(score_raw_px), _f(score_restored_px), json.dumps(details or {}),
                 int(bool(auto_accept)), _now()))
        return self.restoration(f.id)

    def restoration(self, frame_id: int) -> RestorationRecord | None:
        with self._lock:
            r = self._conn.execute(
                "SELECT frame_id, model, raw_path, restored_path, score_raw_mm, "
                "score_restored_mm, score_raw_px, score_restored_px, details, auto_accept, "
                "override, override_time, updated FROM restorations WHERE frame_id = ?",
                (frame_id,)).fetchone()
        if r is None:
            return None
        return RestorationRecord(r[0], r[1], r[2], r[3], _nan(r[4]), _nan(r[5]), _nan(r[6]),
                                 _nan(r[7]), json.loads(r[8]), bool(r[9]),
                                 None if r[10] is None else bool(r[10]), r[11], r[12])

    def restorations(self) -> dict[int, RestorationRecord]:
        with self._lock:
            ids = [r[0] for r in self._conn.execute("SELECT frame_id FROM restorations")]
        return {i: self.restoration(i) for i in ids}

    def restored_maps(self, rec: RestorationRecord) -> tuple[np.ndarray, np.ndarray]:
        return (read_label_png(self.root / rec.raw_path),
                read_label_png(self.root / rec.restored_path))

    def set_override(self, frame_id: int, accept: bool | None) -> RestorationRecord:
        """Record the human decision (None clears it), committed before returning."""
        with self._lock, self._conn:
            cur = self._conn.execute(
                "UPDATE restorations SET override = ?, override_time = ? WHERE frame_id = ?",
                (None if accept is None else int(bool(accept)),
                 None if accept is None else _now(), frame_id))
            if cur.rowcount == 0:
                raise ProjectError(f"frame {frame_id} has no restoration to override")
        return self.restoration(frame_id)

    # ------------------------------------------------------------------ runs
    def start_run(self, stage: str, config: dict, run_dir: str | os.PathLike | None = None) -> int:
        with self._lock, self._conn:
            cur = self._conn.execute(
                "INSERT INTO runs (stage, config, started, outcome, run_dir) "
                "VALUES (?, ?, ?, 'running', ?)",
                (stage, json.dumps(config, default=str), _now(),
                 None if run_dir is None else str(run_dir)))
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, outcome: str, metrics: dict | None = None,
                   checkpoint: str | os.PathLike | None = None) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE runs SET ended = ?, outcome = ?, metrics = ?, checkpoint = ? WHERE id = ?",
                (_now(), outcome, json.dumps(metrics or {}, default=_jsonable),
                 None if checkpoint is None else str(checkpoint), run_id))

    def runs(self, stage: str | None = None) -> list[dict]:
        q = "SELECT id, stage, config, started, ended, outcome, metrics, checkpoint, run_dir " \
            "FROM runs"
        args: list = []
        if stage:
            q += " WHERE stage = ?"
            args.append(stage)
        with self._lock:
            rows = self._conn.execute(q + " ORDER BY id", args).fetchall()
        return [{"id": r[0], "stage": r[1], "config": json.loads(r[2]), "started": r[3],
                 "ended": r[4], "outcome": r[5], "metrics": json.loads(r[6]),
                 "checkpoint": r[7], "run_dir": r[8]} for r in rows]


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _f(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _nan(x) -> float:
    return float("nan") if x is None else float(x)


def _connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(db), check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _migrate(conn: sqlite3.Connection, db: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ProjectError(f"{db}: made by a newer handpose-studio (schema {version} > "
                           f"{SCHEMA_VERSION})")
    for v in range(version, SCHEMA_VERSION):
        with conn:
            conn.executescript("BEGIN;" + _MIGRATIONS[v] + f"PRAGMA user_version = {v + 1};"
                               "COMMIT;")


class _CropCache:
    """Per-project crop cache: memory-mapped arrays over all frames, with a done flag."""

    def __init__(self, folder: Path, n: int, size: int, cube: float):
        stem = folder / f"crops_{size}_{int(cube)}"
        self.depth = _open_mm(Path(f"{stem}_depth.npy"), np.float32, (n, size, size))
        self.tf = _open_mm(Path(f"{stem}_tf.npy"), np.float64, (n, 11))
        self.labels = _open_mm(Path(f"{stem}_labels.npy"), np.uint8, (n, size, size))
        self.done = _open_mm(Path(f"{stem}_done.npy"), np.uint8, (n,))

    def put(self, i: int, depth, tf, labels) -> None:
        self.depth[i] = depth
        self.tf[i] = tf
        self.labels[i] = 0 if labels is None else labels
        self.done[i] = 1

    def flush(self) -> None:
        # data first, then the flags that say it is there
        for a in (self.depth, self.tf, self.labels, self.done):
            a.flush()


def _open_mm(p: Path, dtype, shape) -> np.ndarray:
    if p.exists():
        try:
            a = np.load(p, mmap_mode="r+")
            if a.shape == shape and a.dtype == dtype:
                return a
        except (OSError, ValueError):
            pass
    return np.lib.format.open_memmap(p, mode="w+", dtype=dtype, shape=shape)
