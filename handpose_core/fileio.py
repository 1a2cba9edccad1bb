"""Atomic file writes: a temporary file in the same folder, fsync, then ``os.replace``.

A reader (or a crash) only ever sees the old file or the complete new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import BadInput


def atomic_write(path: str | os.PathLike, write: Callable, *, binary: bool = False) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then move it into place."""
    path = Path(path)
    # the writer's pid in the name: a process killed mid-write leaves NAME.PID.XXXX.tmp,
    # which remove_stale_temporaries can tell from one another process is writing now
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary files
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that :func:`atomic_write` left in ``folder`` (not its
    subfolders) when its process was killed mid-write: ``NAME.PID.XXXX.tmp`` whose PID is
    no running process on this machine. Returns the paths removed."""
    removed = []
    for p in Path(folder).glob("*.tmp"):
        parts = p.name.rsplit(".", 3)  # NAME, PID, XXXX, tmp
        if len(parts) == 4 and parts[1].isdigit() and not _alive(int(parts[1])):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text))


def write_json_atomic(path: str | os.PathLike, obj, **dump_kwargs) -> Path:
    dump_kwargs.setdefault("indent", 2)
    return atomic_write(path, lambda f: json.dump(obj, f, **dump_kwargs))


def read_format_meta(mp: Path, *, fmt: str, version: int, what: str) -> dict:
    """Read a ``meta.json`` of format ``fmt`` (a store or dictionary, named ``what``):
    a JSON object with that format and an integer version at most ``version``.
    ``FileNotFoundError`` / ``ValueError`` naming the file and the problem otherwise."""
    if not mp.exists():
        raise FileNotFoundError(f"{mp}: not a {what} (meta.json missing)")
    try:
        meta = json.loads(mp.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"{mp}: corrupt {what} metadata ({e})") from None
    if not isinstance(meta, dict):
        raise BadInput(f"{mp}: corrupt {what} metadata (a JSON {type(meta).__name__}, not "
                       "an object)")
    if meta.get("format") != fmt:
        raise BadInput(f"{mp}: not a {what} (format={meta.get('format')!r})")
    v = meta.get("version")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise BadInput(f"{mp}: corrupt {what} metadata (version={v!r})")
    if v > version:
        raise BadInput(f"{mp}: {what} format version {v} is newer than this program "
                       f"reads ({version}); update handpose-studio")
    return meta
