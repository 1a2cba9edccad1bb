"""A patch dictionary's ``meta.json``: format marker, version and the checks on load."""

from __future__ import annotations

from pathlib import Path

from ..errors import BadInput
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
        raise BadInput(f"{mp}: corrupt dictionary metadata (index_bytes="
                       f"{meta['index_bytes']!r})")
    return meta


def open_dictionary_files(path: Path):
    """Open and check a dictionary folder's files: ``(meta, encoding, patches, annoy
    index, where or None, sources or None)``; patches and index are memory-mapped (the
    index without prefaulting). ``FileNotFoundError`` / ``ValueError`` naming the file."""
    import numpy as np

    from .dictionary import _annoy_index
    from .patches import PatchEncoding

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
        try:
            where = np.load(path / "where.npy", mmap_mode="r")
            sources = np.load(path / "sources.npy", mmap_mode="r")
        except (OSError, ValueError, EOFError) as e:
            raise BadInput(f"{path}: cannot read where.npy / sources.npy ({e})") from None
        if sources.shape != (want[0], 3) or where.ndim != 3:
            raise BadInput(f"{path}: where.npy / sources.npy do not match the "
                           f"{want[0]} patches of meta.json")
    if meta.get("storage", "patches") == "maps":
        from .patch_maps import open_map_patches

        patches = open_map_patches(path, meta, sources)
    else:
        pp = path / "patches.npy"
        try:
            patches = np.load(pp, mmap_mode="r")
        except FileNotFoundError:
            raise FileNotFoundError(f"{pp}: dictionary patches missing") from None
        except (OSError, ValueError, EOFError) as e:
            raise BadInput(f"{pp}: cannot read dictionary patches ({e})") from None
        if patches.shape != want or patches.dtype != np.uint8:
            raise BadInput(f"{pp}: expected {want} uint8 as meta.json says, got "
                           f"{patches.shape} {patches.dtype}")
    ip = path / "index.ann"
    if not ip.exists():
        raise FileNotFoundError(f"{ip}: dictionary index missing")
    size = ip.stat().st_size
    if "index_bytes" in meta and size != meta["index_bytes"]:
        raise BadInput(f"{ip}: truncated or replaced annoy index ({size} bytes, the "
                       f"build wrote {meta['index_bytes']})")
    index = _annoy_index(enc.n_bits)
    try:
        index.load(str(ip), prefault=False)
    except OSError as e:
        raise BadInput(f"{ip}: cannot load annoy index ({e})") from None
    if index.get_n_items() != want[0]:
        raise BadInput(f"{ip}: index has {index.get_n_items()} items, "
                       f"patches.npy has {want[0]}")
    return meta, enc, patches, index, where, sources
