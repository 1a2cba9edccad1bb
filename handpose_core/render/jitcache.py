"""Keeping numba's on-disk kernel cache consistent across the render modules.

numba keys a cached kernel on its own source file only (modification time and size), so
when ``sensor.py``, ``raycast.py`` or ``background.py`` change, a kernel in
``renderer.py`` that inlined their functions would still be loaded from the cache,
silently running the old code. :func:`invalidate_if_changed` hashes the sources of the
modules that compile together and drops their cache files when the hash differs from
the one recorded beside them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

MODULES = ("raycast", "sensor", "background", "renderer")
MARKER = "handpose_render_kernels.sha1"


def sources_hash(modules: tuple[str, ...] = MODULES) -> str:
    """SHA-1 of the sources of ``modules`` (paths relative to this folder, no ``.py``)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha1()
    for m in modules:
        h.update((here / f"{m}.py").read_bytes())
    return h.hexdigest()


def invalidate_if_changed(dispatcher, modules: tuple[str, ...] = MODULES) -> None:
    """Delete stale cache files of ``modules`` (default :data:`MODULES`; a kernel in a
    subpackage lists the render modules it calls and its own) in ``dispatcher``'s cache
    folder.

    Call at import, before any kernel runs (numba loads cache files lazily). Any
    failure (read-only folder, numba internals changed) leaves the cache alone.
    """
    try:
        cache_dir = Path(dispatcher._cache._cache_path)
        digest = sources_hash(modules)
        names = {m.rsplit("/", 1)[-1] for m in modules}
        marker = cache_dir / MARKER
        if marker.exists() and marker.read_text().strip() == digest:
            return
        for f in cache_dir.iterdir():
            if f.name.split(".", 1)[0] in names and f.suffix in (".nbi", ".nbc"):
                f.unlink(missing_ok=True)
        tmp = cache_dir / f"{MARKER}.{os.getpid()}.tmp"
        tmp.write_text(digest)
        os.replace(tmp, marker)
    except (AttributeError, OSError):
        pass


def kernel_cached(dispatcher, modules: tuple[str, ...] = MODULES) -> bool:
    """Whether ``dispatcher`` (a ``numba.njit(cache=True)`` kernel) has a cache index on
    disk for the current sources, so its first call loads rather than compiles it. False
    when numba's cache cannot be inspected."""
    try:
        cache = dispatcher._cache
        marker = Path(cache._cache_path) / MARKER
        return (os.path.exists(cache._cache_file._index_path) and marker.exists()
                and marker.read_text().strip() == sources_hash(modules))
    except (AttributeError, OSError):
        return False
