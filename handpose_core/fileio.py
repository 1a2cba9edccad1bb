"""Atomic file writes (a temporary file in the same folder, fsync, then ``os.replace``),
format-checked ``meta.json``, checked memory-mapped ``.npy`` arrays and TOML configs.

A reader (or a crash) only ever sees the old file or the complete new one.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tomli_w

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
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


def flush_memmap(arr: np.ndarray, path: str | os.PathLike) -> None:
    """Write a memory-mapped array's changed pages to its file ``path`` and wait for the
    disk, as ``np.memmap.flush`` does, but without holding the GIL meanwhile.

    ``np.memmap.flush`` is ``mmap.flush``, whose ``msync`` keeps the GIL for as long as the
    disk takes: in the studio a worker flushing a crop cache froze the GUI thread with it.
    On Linux ``msync(MS_SYNC)`` of a shared file mapping is an ``fdatasync`` of the file
    (the mapped pages are the page cache's), and ``os.fdatasync`` lets other threads run;
    elsewhere the array's own flush is used."""
    if not sys.platform.startswith("linux") or not isinstance(arr, np.memmap):
        if isinstance(arr, np.memmap):
            arr.flush()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def stale_temporaries(folder: str | os.PathLike, pattern: str = "*.tmp") -> list[Path]:
    """The temporary files in ``folder`` (not its subfolders) that :func:`atomic_write` or
    :func:`~handpose_core.datasets.labelio.stage_label_png` left when their process was
    killed mid-write: ``NAME.PID.XXXX.tmp`` whose PID is no running process here."""
    out = []
    for p in sorted(Path(folder).glob(pattern)):
        parts = p.name.rsplit(".", 3)  # NAME, PID, XXXX, tmp
        if len(parts) == 4 and parts[3] == "tmp" and parts[1].isdigit() \
                and not _alive(int(parts[1])):
            out.append(p)
    return out


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete :func:`stale_temporaries` of ``folder``; returns the paths removed."""
    removed = []
    for p in stale_temporaries(folder):
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def file_identity(path: str | os.PathLike) -> tuple:
    """What tells one version of the file at ``path`` from another, for in-memory caches:
    ``(resolved path, device, inode, size, mtime ns, ctime ns)``. The inode changes with
    every :func:`atomic_write` (a new file replaces the old), so a file replaced within
    the clock's tick by one of the same size is still told apart, which size and mtime
    alone do not (the kernel's file times move in steps of a few milliseconds).
    ``FileNotFoundError`` when it does not exist."""
    p = Path(path)
    st = p.stat()
    return (str(p.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


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


def open_npy(path: str | os.PathLike, what: str, *, shape: tuple | None = None, dtype=None,
             source: str = "meta.json") -> np.ndarray:
    """``path`` (a ``.npy`` file) memory-mapped read-only, checked against what ``source``
    says it holds. ``what`` names the array in errors ("store array", ...).

    ``FileNotFoundError`` "PATH: WHAT missing"; ``BadInput`` "PATH: cannot read WHAT
    (...)" when numpy cannot read it (not a .npy file, a cut header or cut data); with
    ``shape`` (``None`` entries match any length) or ``dtype``, ``BadInput`` "PATH:
    expected SHAPE DTYPE as SOURCE says, got ..." when it differs.
    """
    path = Path(path)
    try:
        a = np.load(path, mmap_mode="r")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} missing") from None
    except (OSError, ValueError, EOFError) as e:  # numpy's errors for a cut or foreign file
        raise BadInput(f"{path}: cannot read {what} ({e})") from None
    if not isinstance(a, np.ndarray):  # an .npz archive
        raise BadInput(f"{path}: cannot read {what} (an .npz archive, not a .npy array)")
    bad_shape = shape is not None and (
        a.ndim != len(shape) or any(w is not None and int(w) != n for w, n in zip(shape, a.shape)))
    if bad_shape or (dtype is not None and a.dtype != np.dtype(dtype)):
        want = []
        if shape is not None:
            dims = ", ".join("*" if w is None else str(int(w)) for w in shape)
            want.append(f"({dims}{',' if len(shape) == 1 else ''})")
        if dtype is not None:
            want.append(str(np.dtype(dtype)))
        raise BadInput(f"{path}: expected {' '.join(want)} as {source} says, got {a.shape} "
                       f"{a.dtype}")
    return a


def _toml_clean(obj):
    """TOML has no null: drop ``None`` values; tuples become arrays."""
    if isinstance(obj, dict):
        return {str(k): _toml_clean(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_toml_clean(v) for v in obj]
    return obj


def write_toml(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` (nested dicts of str/int/float/bool/lists) as TOML, atomically."""
    path = Path(path)
    text = tomli_w.dumps(_toml_clean(data))
    return write_text_atomic(path, text)


def read_toml(path: str | os.PathLike) -> dict:
    """Read a TOML file; ``BadInput`` naming the file when it is not valid TOML (or not
    UTF-8 text)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{path}: not a valid TOML config ({e})") from e
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not a valid TOML config (not UTF-8 text: {e.reason} at "
                       f"byte {e.start})") from None
