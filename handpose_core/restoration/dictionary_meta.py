"""A patch dictionary folder on disk: its ``meta.json`` (format marker, version) and
opening its files with the checks on load (:class:`.dictionary.Dictionary` builds on it)."""

from __future__ import annotations

from pathlib import Path

from ..errors import BadInput
from ..fileio import open_npy, read_format_meta
from .patch_maps import open_map_patches
from .patches import PatchEncoding

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
        raise BadInput(f"{mp}: corrupt dictionary metadata (index_bytes="
                       f"{meta['index_bytes']!r})")
    return meta


def annoy_index(n_bits: int):
    """An empty annoy hamming index over ``n_bits``-bit patch encodings."""
    # function-local for start-up time: importing the restoration package (the stage
    # table, the studio) does not load annoy; building or loading a dictionary does
    from annoy import AnnoyIndex

    return AnnoyIndex(int(n_bits), "hamming")


def open_dictionary_files(path: Path):
    """Open and check a dictionary folder's files: ``(meta, encoding, patches, annoy
    index, where or None, sources or None)``; patches and index are memory-mapped (the
    index without prefaulting). ``FileNotFoundError`` / ``ValueError`` naming the file."""
    mp = path / "meta.json"
    meta = read_meta(mp)
    try:
        enc = PatchEncoding.from_dict(meta["encoding"])
        n_patches = int(meta["n_patches"])
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(f"{mp}: corrupt dictionary metadata (encoding / n_patches: "
                       f"{type(e).__name__} {e})") from None
    want = (n_patches, enc.patch, enc.patch)
    where = sources = None
    if (path / "where.npy").exists() and (path / "sources.npy").exists():
        where = open_npy(path / "where.npy", "dictionary patch map", shape=(None, None, None))
        sources = open_npy(path / "sources.npy", "dictionary patch sources",
                           shape=(want[0], 3))
    if meta.get("storage", "patches") == "maps":
        patches = open_map_patches(path, meta, sources)
    else:
        patches = open_npy(path / "patches.npy", "dictionary patches", shape=want,
                           dtype="uint8")
    ip = path / "index.ann"
    if not ip.exists():
        raise FileNotFoundError(f"{ip}: dictionary index missing")
    size = ip.stat().st_size
    if "index_bytes" in meta and size != meta["index_bytes"]:
        raise BadInput(f"{ip}: truncated or replaced annoy index ({size} bytes, the "
                       f"build wrote {meta['index_bytes']})")
    index = annoy_index(enc.n_bits)
    try:
        index.load(str(ip), prefault=False)
    except OSError as e:
        raise BadInput(f"{ip}: cannot load annoy index ({e})") from None
    if index.get_n_items() != want[0]:
        raise BadInput(f"{ip}: index has {index.get_n_items()} items, "
                       f"patches.npy has {want[0]}")
    return meta, enc, patches, index, where, sources
