"""A patch dictionary's ``meta.json``: format marker, version and the checks on load."""

from __future__ import annotations

import json
from pathlib import Path

FORMAT = "handpose-patch-dictionary"
VERSION = 1


def read_meta(mp: Path) -> dict:
    """A dictionary's ``meta.json`` as a dict of this format and a version this code reads;
    ``FileNotFoundError`` / ``ValueError`` naming the file otherwise."""
    if not mp.exists():
        raise FileNotFoundError(f"{mp}: not a patch dictionary, or its build did not "
                                "finish (meta.json missing)")
    try:
        meta = json.loads(mp.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{mp}: corrupt dictionary metadata ({e})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{mp}: corrupt dictionary metadata (a JSON {type(meta).__name__}, "
                         "not an object)")
    if meta.get("format") != FORMAT:
        raise ValueError(f"{mp}: not a patch dictionary (format={meta.get('format')!r})")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{mp}: corrupt dictionary metadata (version={version!r})")
    if version > VERSION:
        raise ValueError(f"{mp}: dictionary format version {version} is newer than this "
                         f"program reads ({VERSION}); update handpose-studio")
    if "index_bytes" in meta and not isinstance(meta["index_bytes"], int):
        raise ValueError(f"{mp}: corrupt dictionary metadata (index_bytes="
                         f"{meta['index_bytes']!r})")
    return meta
