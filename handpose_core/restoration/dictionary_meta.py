"""A patch dictionary's ``meta.json``: format marker, version and the checks on load."""

from __future__ import annotations

from pathlib import Path

from ..fileio import read_format_meta

FORMAT = "handpose-patch-dictionary"
VERSION = 2  # 2: patches may be stored as their source maps (maps.npy)


def read_meta(mp: Path) -> dict:
    """A dictionary's ``meta.json`` as a dict of this format and a version this code reads;
    ``FileNotFoundError`` / ``ValueError`` naming the file otherwise."""
    if not mp.exists():
        raise FileNotFoundError(f"{mp}: not a patch dictionary, or its build did not "
                                "finish (meta.json missing)")
    meta = read_format_meta(mp, fmt=FORMAT, version=VERSION, what="patch dictionary")
    if "index_bytes" in meta and not isinstance(meta["index_bytes"], int):
        raise ValueError(f"{mp}: corrupt dictionary metadata (index_bytes="
                         f"{meta['index_bytes']!r})")
    return meta
