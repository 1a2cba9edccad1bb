"""The project store's SQLite schema, its forward migrations and the connection settings.

The schema has a version (``PRAGMA user_version``); :func:`migrate` applies every
migration between the file's version and :data:`SCHEMA_VERSION`, each in one
transaction. A file made by a newer handpose-studio is refused, never altered.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ..errors import BadInput

DB_NAME = "project.sqlite"

MIGRATIONS: tuple[str, ...] = (
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
    # version 2: interrupted runs (process, host, heartbeat), resumable restorations (the
    # key of the model, dictionary and settings that made them), labelling effort, and the
    # hand-labelled evaluation set
    """
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN heartbeat REAL;
    ALTER TABLE restorations ADD COLUMN run_key TEXT;
    ALTER TABLE hand_labels ADD COLUMN seconds REAL NOT NULL DEFAULT 0;
    ALTER TABLE hand_labels ADD COLUMN author TEXT NOT NULL DEFAULT '';
    CREATE TABLE eval_set (
        frame_id INTEGER PRIMARY KEY REFERENCES frames(id),
        position INTEGER NOT NULL);
    CREATE INDEX restorations_run_key ON restorations(run_key);
    """,
    # version 3: the change log. Every write adds its rows in its own transaction, so
    # another connection or process learns exactly what changed (project/changes.py)
    """
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL, frame_id INTEGER, run_id INTEGER);
    """,
    # version 4: restorations by other methods (the CRF rows of Table 2) beside the
    # integration one, which stays in ``restorations`` (the one fine-tuning and human
    # overrides use); one row per frame and method
    """
    CREATE TABLE method_restorations (
        frame_id INTEGER NOT NULL REFERENCES frames(id),
        method TEXT NOT NULL,
        model TEXT NOT NULL,
        raw_path TEXT NOT NULL, restored_path TEXT NOT NULL,
        score_raw_mm REAL, score_restored_mm REAL, score_raw_px REAL, score_restored_px REAL,
        details TEXT NOT NULL DEFAULT '{}',
        auto_accept INTEGER NOT NULL,
        updated TEXT NOT NULL, run_key TEXT,
        PRIMARY KEY (frame_id, method));
    CREATE INDEX method_restorations_run_key ON method_restorations(method, run_key);
    """,
    # version 5: the digest of each saved label map (hand labels, restorations' raw and
    # restored maps). The row is committed before its PNGs are moved into place, so a save
    # killed between the two is finished when the project is next opened (Project.open)
    # from the temporaries whose pixels the digests name
    """
    ALTER TABLE hand_labels ADD COLUMN digest TEXT;
    ALTER TABLE restorations ADD COLUMN raw_digest TEXT;
    ALTER TABLE restorations ADD COLUMN restored_digest TEXT;
    ALTER TABLE method_restorations ADD COLUMN raw_digest TEXT;
    ALTER TABLE method_restorations ADD COLUMN restored_digest TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class ProjectError(BadInput):
    """A project folder or its store cannot be used; the message names the path."""


def now() -> str:
    """Local time as ISO 8601 with the UTC offset (what the store records)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


BUSY_TIMEOUT_S = 60.0
"""How long a statement waits for another connection's write lock before SQLite's
"database is locked": the restore writer, the studio and other processes share the
store, and their write transactions are short (one frame, one action), so a wait this
long means something is wrong rather than busy (tests/core/test_store_writers.py)."""


def connect(db: Path) -> sqlite3.Connection:
    """A connection in WAL mode with full sync and foreign keys, usable from any thread
    (callers serialise access). A write waits up to :data:`BUSY_TIMEOUT_S` for another
    connection's; writes start their transaction at the first write statement (the
    module's implicit BEGIN), so a read cannot leave a stale snapshot to upgrade."""
    conn = sqlite3.connect(str(db), check_same_thread=False, timeout=BUSY_TIMEOUT_S)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def migrate(conn: sqlite3.Connection, db: Path) -> None:
    """Bring ``conn`` to :data:`SCHEMA_VERSION`; :class:`ProjectError` if it is newer."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ProjectError(f"{db}: made by a newer handpose-studio (schema {version} > "
                           f"{SCHEMA_VERSION}); update handpose-studio to open it")
    for v in range(version, SCHEMA_VERSION):
        with conn:
            conn.executescript("BEGIN IMMEDIATE;" + MIGRATIONS[v] + f"PRAGMA user_version = {v + 1};"
                               "COMMIT;")


def check_integrity(conn: sqlite3.Connection, db: Path) -> None:
    """:class:`ProjectError` naming ``db`` unless SQLite's quick check passes."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as e:
        raise ProjectError(f"{db}: the project store is damaged ({e}); restore it from a "
                           "backup or create a new project") from None
    if rows != [("ok",)]:
        detail = "; ".join(str(r[0]) for r in rows[:3])
        raise ProjectError(f"{db}: the project store is damaged ({detail}); restore it from "
                           "a backup or create a new project")
