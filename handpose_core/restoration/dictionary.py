"""The patch dictionary: synthetic label patches, their annoy index, saved and mmapped.

A dictionary folder holds::

    maps.npy      (N, S, S) uint8   the source label maps (``storage: "maps"``, the
                                    default since version 2): patch i is cut on demand
                                    around sources.npy[i] (:class:`.patch_maps.MapPatches`)
    patches.npy   (M, P, P) uint8   or the label patches themselves (``storage:
                                    "patches"``, version 1 and :meth:`Dictionary.from_patches`);
                                    annoy item i is patch i
    index.ann     annoy "hamming" index of the patches' PatchEncoding (memory-mapped)
    meta.json     P, encoding, n_images, n_patches, n_trees, seed, source, build time ...

``meta.json`` is written last and removed first when a folder is rebuilt, so a folder
with a meta.json is complete. Patches are centred on hand pixels (label > 0) of the
first ``n_images`` maps, exact duplicates removed (a palm interior repeats thousands of
times and adds nothing to a nearest-neighbour search), then sampled uniformly down to
``max_patches``.

Search: annoy returns ``n_candidates`` neighbours per query under the compact encoding
(queries run on a thread pool; annoy releases the GIL while it searches). A
restoration then pools, for each queried pixel, its 5x5 grid neighbours' candidates
shifted by the offset between the two pixels, re-ranks them all by the exact label
Hamming distance on the full patch (:func:`.exact.rerank_candidates`, compiled, reading
only the candidates' rows of the memory-mapped patches), and propagates the winners
between neighbouring pixels for a few rounds (PatchMatch). ``where.npy`` /
``sources.npy`` map dictionary patches to their source pixels, which is what makes the
shifts possible.

Under the paper's distance alone the nearest patch is often tied, and tied patches vote
differently. Both searches therefore order candidates by :func:`.patches.match_key`
(ties broken by a centre-weighted distance, then the index), so the exact restoration
is unique and the annoy one differs from it only where the exact answer is missing from
the candidates.

``handpose-studio bench restore`` measures build time, sizes, load time, time per frame
and agreement with exact search; the figures behind the defaults (at 1 M patches) and
the speed / agreement trade-off of the search settings are in docs/restoration.md.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..fileio import write_json_atomic as _write_json_atomic
from ..progress import ProgressFn, check_cancel
from .dictionary_meta import FORMAT, VERSION, open_dictionary_files
from .exact import exact_nearest, rerank_candidates
from .forest import build_with_annoy, check_index, write_index
from .patch_maps import MAPS_FILE, write_maps
from .patches import DEFAULT_PATCH, ENCODINGS, PatchEncoding, extract_patches

DEFAULT_ENCODING = "cw6-s2"
DEFAULT_N_TREES = 16
DEFAULT_N_IMAGES = 5400
DEFAULT_MAX_PATCHES = 1_000_000
"""Machine-sized default: 1 M patches (729 MB of patches.npy at P = 27) from
5,400 48x48 label maps."""

PAPER_SCALE = {"n_images": 56_991, "max_patches": 36_000_000}
"""The paper's dictionary (36 M 27x27 patches from 56,991 images): patches.npy alone is
26 GB (36 M x 729 bytes); index size and memory estimates are in docs/restoration.md."""


@dataclass(frozen=True)
class SearchParams:
    """Approximate search settings.

    ``n_candidates``: annoy neighbours per query; ``search_k``: items annoy inspects
    per query; ``threads``: parallel annoy queries; ``pool``: radius of the
    neighbourhood whose candidates each queried pixel also considers, shifted by the
    offset to it (``(2 pool + 1)^2`` pixels; 0: its own only); ``propagate``: rounds in
    which each queried pixel tries its 8 grid neighbours' current matches, shifted.
    Pooling and propagation need a dictionary built from label maps (PatchMatch-style:
    if pixel k matched the patch at x of a source map, the patch at ``x + (j - k)`` is a
    natural candidate for pixel j). All candidates are ranked by
    :func:`.patches.match_key`. ``centre``: the match distance is the label Hamming
    distance plus ``centre`` times the centre-weighted tie distance (0: the paper's
    distance alone; 1, the default, lets a difference near the patch centre count up to
    10 times one at its border, which keeps thin parts: docs/restoration.md).
    ``annoy_stride``: annoy is asked only for the queried pixels on every
    ``annoy_stride``-th row and column of the query grid, plus any queried pixel with
    none of those within ``pool`` grid steps; every other pixel gets its candidates by
    pooling alone (1: annoy is asked for every queried pixel). Without pooling (``pool``
    0 or no source maps) every pixel is asked.
    The defaults (32 candidates, search_k 1000, pool 4; 64, 8000 and 2 until issue 25,
    then 32, 2000 and 3) cost about a quarter of the oldest search's CPU time and keep
    >= 97 % pixel agreement with the exact restoration on the default dictionary:
    annoy's time grows with ``search_k`` per query, and the wider pool finds what the
    narrower annoy search misses.
    Figures: ``bench restore``, docs/restoration.md and docs/measurements.md.
    """

    n_candidates: int = 32
    search_k: int = 1000
    threads: int = 2
    propagate: int = 8
    pool: int = 4
    centre: int = 1
    annoy_stride: int = 1


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _row_hash(patches: np.ndarray) -> np.ndarray:
    """64-bit hash of each ``(P, P)`` patch (duplicate detection)."""
    k = patches.shape[0]
    flat = patches.reshape(k, -1)
    pad = (-flat.shape[1]) % 8
    if pad:
        flat = np.concatenate([flat, np.zeros((k, pad), np.uint8)], axis=1)
    words = np.ascontiguousarray(flat).view("<u8")
    rng = np.random.default_rng(0x5EED)
    mult = rng.integers(1, 2**63, size=words.shape[1], dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        h = np.zeros(k, np.uint64)
        for j in range(words.shape[1]):
            h = (h ^ (words[:, j] * mult[j])) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
    return h


def _part_even(part: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of ``k`` items of ``part`` (each item's centre label), the same
    number from every label where there are enough (water-filling), random within one."""
    labels, counts = np.unique(part, return_counts=True)
    quota = np.zeros_like(counts)
    left = k
    order_small = np.argsort(counts, kind="stable")  # small parts first take all they have
    for r, i in zip(range(len(counts), 0, -1), order_small):
        quota[i] = min(counts[i], -(-left // r))
        left -= quota[i]
    order = rng.permutation(len(part))
    picked = []
    for lab, q in zip(labels, quota):
        picked.append(order[part[order] == lab][:q])
    return np.sort(np.concatenate(picked))


class Dictionary:
    """A loaded dictionary: ``patches`` (M, P, P) uint8 (a memmap, or a
    :class:`.patch_maps.MapPatches` cutting them from the source maps), ``index`` (annoy)."""

    def __init__(self, path: Path, patches: np.ndarray, index, encoding: PatchEncoding,
                 meta: dict, where: np.ndarray | None = None,
                 sources: np.ndarray | None = None):
        self.path = path
        self.patches = patches
        self.index = index
        self.encoding = encoding
        self.meta = meta
        self.where = where  # (N, S, S) int32 patch id at each source pixel, or None
        self.sources = sources  # (M, 3) int32 source (map, row, col) of each patch, or None
        # experimental re-ranking distance (finger, centre) weights: see patch_maps
        self.weighted_distance: tuple[int, int] | None = None

    def __len__(self) -> int:
        return int(self.patches.shape[0])

    @property
    def patch(self) -> int:
        return int(self.patches.shape[1])

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, label_maps: np.ndarray, out_dir: str | os.PathLike, *, patch: int = DEFAULT_PATCH,
              encoding: PatchEncoding | str = DEFAULT_ENCODING,
              n_trees: int = DEFAULT_N_TREES, n_images: int | None = None,
              max_patches: int | None = DEFAULT_MAX_PATCHES, dedupe: bool = True,
              seed: int = 0, builder: str = "forest", source: str | None = None,
              storage: str = "maps", sample: str = "uniform",
              progress: ProgressFn | None = None, cancel=None) -> Dictionary:
        """Build a dictionary from ``label_maps`` ``(N, S, S)`` uint8 (a store's memmap
        is fine) into ``out_dir`` and return it loaded.

        ``n_images``: use the first n maps (None: all). ``max_patches``: sample this
        many patches (None: all). ``builder``: ``"forest"`` (bit-balanced trees written
        directly, :mod:`.forest`) or ``"annoy"`` (``add_item`` + ``build``, annoy's own
        random-bit trees; slow and much less accurate, kept for comparison).
        ``storage``: ``"maps"`` keeps the source maps and cuts patches on demand
        (N x S x S bytes on disk), ``"patches"`` writes every patch (M x P x P bytes).
        ``sample``: how ``max_patches`` are drawn from the unique patches, ``"uniform"``
        or ``"part"`` (the same number per centre-pixel part where there are enough,
        so thin finger parts are not outnumbered by palm-centred patches).
        Raises :class:`~handpose_core.progress.Cancelled` when ``cancel`` is set.
        """
        t0 = time.perf_counter()
        if sample not in ("uniform", "part"):
            raise BadInput(f"unknown dictionary sampling {sample!r} (uniform, part)")
        if storage not in ("maps", "patches"):
            raise BadInput(f"unknown dictionary storage {storage!r} (maps, patches)")
        enc = ENCODINGS[encoding] if isinstance(encoding, str) else encoding
        if enc.patch != patch:
            enc = PatchEncoding(patch, enc.stride, min(enc.core, patch), enc.code)
        maps = label_maps if n_images is None else label_maps[:n_images]
        if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
            raise ValueError(f"label maps must be (N, S, S), got {maps.shape}")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "meta.json").unlink(missing_ok=True)  # incomplete until rewritten
        report = progress or (lambda d, t, m: None)

        # 1. every hand pixel, in chunks of maps: hash its patch for de-duplication
        img_ids, centers, hashes, parts = [], [], [], []
        step = 256
        n = maps.shape[0]
        for s in range(0, n, step):
            check_cancel(cancel)
            block = np.asarray(maps[s:s + step], dtype=np.uint8)
            ii, rr, cc = np.nonzero(block > 0)
            c = np.stack([rr, cc], axis=1)
            img_ids.append(ii + s)
            centers.append(c)
            parts.append(block[ii, rr, cc])
            if dedupe:
                hashes.append(_row_hash(extract_patches(block, c, patch, ii)))
            report(min(n, s + step), n, "scanning label maps")
        img_ids = np.concatenate(img_ids) if img_ids else np.zeros(0, np.int64)
        centers = np.concatenate(centers) if centers else np.zeros((0, 2), np.int64)
        n_extracted = int(img_ids.size)
        if dedupe and n_extracted:
            _, first, group = np.unique(np.concatenate(hashes), return_index=True,
                                        return_inverse=True)
        else:
            first = group = np.arange(n_extracted)
        n_unique = int(first.size)
        rng = np.random.default_rng(seed)
        kept = np.argsort(first, kind="stable")  # groups in the order of their first pixel
        if max_patches is not None and n_unique > max_patches:
            if sample == "part":
                kept = kept[_part_even(np.concatenate(parts)[first[kept]], int(max_patches), rng)]
            else:
                kept = kept[np.sort(rng.choice(n_unique, size=int(max_patches), replace=False))]
        m = int(kept.size)
        if m == 0:
            raise ValueError("no hand pixels in the label maps: cannot build a dictionary")
        keep = first[kept]  # pixel index of each dictionary patch
        # where[i, r, c]: the dictionary patch equal to the patch at pixel (r, c) of map i
        # (-1: background, or sampled out); lets a restoration propagate matches
        new_id = np.full(n_unique, -1, dtype=np.int32)
        new_id[kept] = np.arange(m, dtype=np.int32)
        where = np.full(maps.shape, -1, dtype=np.int32)
        where[img_ids, centers[:, 0], centers[:, 1]] = new_id[group]
        sources = np.stack([img_ids[keep], centers[keep, 0], centers[keep, 1]],
                           axis=1).astype(np.int32)
        _save_atomic(out / "where.npy", where)
        _save_atomic(out / "sources.npy", sources)
        del where, group, hashes

        # 2. the source maps (or patches.npy, in chunks through a temporary memmap)
        for stale in ("patches.npy", "maps.npy"):
            (out / stale).unlink(missing_ok=True)
        if storage == "maps":
            write_maps(out / MAPS_FILE, maps)
            arr = None
        else:
            arr = np.lib.format.open_memmap(out / "patches.npy.tmp", mode="w+", dtype=np.uint8,
                                            shape=(m, patch, patch))
        words = np.zeros((m, enc.n_words), dtype=np.uint64)
        step = 65536
        for s in range(0, m, step):
            check_cancel(cancel)
            sel = keep[s:s + step]
            lo, hi = int(img_ids[sel[0]]), int(img_ids[sel[-1]]) + 1
            block = np.asarray(maps[lo:hi], dtype=np.uint8)
            p = extract_patches(block, centers[sel], patch, img_ids[sel] - lo)
            if arr is not None:
                arr[s:s + len(sel)] = p
            words[s:s + len(sel)] = enc.pack(p)
            report(min(m, s + step), m, "extracting patches")
        if arr is not None:
            arr.flush()
            del arr
            os.replace(out / "patches.npy.tmp", out / "patches.npy")

        meta = {"n_images": int(n), "n_extracted": n_extracted, "n_unique": n_unique,
                "dedupe": bool(dedupe), "source": source, "map_size": int(maps.shape[1]),
                "storage": storage, "sample": sample}
        return cls._finish(out, words, enc, n_trees, seed, builder, meta, t0, report, cancel)

    @classmethod
    def from_patches(cls, patches: np.ndarray, out_dir: str | os.PathLike, *,
                     encoding: PatchEncoding | str = DEFAULT_ENCODING,
                     n_trees: int = DEFAULT_N_TREES, seed: int = 0, builder: str = "forest",
                     source: str | None = None, progress: ProgressFn | None = None,
                     cancel=None) -> Dictionary:
        """A dictionary of exactly these ``(M, P, P)`` uint8 patches (kept in order)."""
        t0 = time.perf_counter()
        patches = np.ascontiguousarray(patches, dtype=np.uint8)
        if patches.ndim != 3 or patches.shape[1] != patches.shape[2] or not len(patches):
            raise ValueError(f"patches must be a non-empty (M, P, P) array, got {patches.shape}")
        enc = ENCODINGS[encoding] if isinstance(encoding, str) else encoding
        p = patches.shape[1]
        if enc.patch != p:
            enc = PatchEncoding(p, enc.stride, min(enc.core, p), enc.code)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "meta.json").unlink(missing_ok=True)
        for stale in ("where.npy", "sources.npy", "maps.npy"):  # no source maps: no propagation
            (out / stale).unlink(missing_ok=True)
        _save_atomic(out / "patches.npy", patches)
        meta = {"n_images": None, "n_extracted": len(patches), "n_unique": None,
                "dedupe": False, "source": source, "map_size": None, "storage": "patches"}
        report = progress or (lambda d, t, m: None)
        return cls._finish(out, enc.pack(patches), enc, n_trees, seed, builder, meta, t0,
                           report, cancel)

    @classmethod
    def _finish(cls, out: Path, words: np.ndarray, enc: PatchEncoding, n_trees: int,
                seed: int, builder: str, meta: dict, t0: float, report, cancel
                ) -> Dictionary:
        """Write index.ann for ``words``, then meta.json, and load the result."""
        t_index = time.perf_counter()
        index_path = out / "index.ann"
        if builder == "forest":
            write_index(words, enc.n_bits, index_path, n_trees=n_trees, seed=seed,
                        progress=lambda d, t, msg: report(d, t, "building trees"),
                        cancel=cancel)
        elif builder == "annoy":
            build_with_annoy(words, enc.n_bits, index_path, n_trees, seed, report, cancel)
        else:
            raise BadInput(f"unknown dictionary builder {builder!r} (forest, annoy)")
        meta = {
            "format": FORMAT, "version": VERSION, "patch": enc.patch,
            "index_bytes": index_path.stat().st_size,
            "encoding": enc.to_dict(), "n_patches": int(words.shape[0]), **meta,
            "n_trees": int(n_trees), "seed": int(seed), "builder": builder,
            "build_seconds": round(time.perf_counter() - t0, 3),
            "index_seconds": round(time.perf_counter() - t_index, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        _write_json_atomic(out / "meta.json", meta)
        d = cls.load(out)
        if builder == "forest":
            check_index(d.index, words, n_trees)
        return d

    # ------------------------------------------------------------------ load
    @classmethod
    def load(cls, path: str | os.PathLike) -> Dictionary:
        """Open a dictionary folder: patches memory-mapped, the annoy index mmapped
        without prefaulting (load time does not grow with the dictionary)."""
        path = Path(path)
        meta, enc, patches, index, where, sources = open_dictionary_files(path)
        return cls(path, patches, index, enc, meta, where, sources)

    # ------------------------------------------------------------------ search
    def candidates(self, queries: np.ndarray, params: SearchParams | None = None
                   ) -> np.ndarray:
        """annoy's ``params.n_candidates`` neighbours of each query ``(Q, P, P)`` uint8
        under the compact encoding: ``(Q, n_candidates)`` int64 ids, ``-1`` padded."""
        params = params or SearchParams()
        queries = np.asarray(queries, dtype=np.uint8)
        q = queries.shape[0]
        cand = np.full((q, params.n_candidates), -1, dtype=np.int64)
        if q == 0:
            return cand
        bits = self.encoding.bits(queries)
        index, k, sk = self.index, params.n_candidates, params.search_k

        def work(rows: range) -> None:
            for i in rows:
                ids = index.get_nns_by_vector(bits[i].tolist(), k, search_k=sk)
                cand[i, :len(ids)] = ids

        threads = max(1, min(params.threads, q))
        if threads == 1:
            work(range(q))
        else:
            bounds = np.linspace(0, q, threads + 1).astype(int)
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(work, [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]))
        return cand

    def rerank(self, queries: np.ndarray, cand: np.ndarray, *, centre: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
        """Best of ``cand`` ``(Q, C)`` (-1 = none) by :func:`.patches.match_key` (label
        Hamming distance plus ``centre`` times the central distance, then the central
        distance, then the lowest index), as the exact search orders them. Returns
        ``(ids, distances)``."""
        return rerank_candidates(queries, self.patches, cand, centre=centre,
                                 distance=self.weighted_distance)

    def search_exact(self, queries: np.ndarray, *, device: str | None = None,
                     bound: np.ndarray | None = None, centre: int = 0,
                     progress: ProgressFn | None = None, cancel=None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Exact nearest patch by label Hamming distance (plus ``centre`` times the
        central distance; see :mod:`.exact`)."""
        return exact_nearest(queries, self.patches, device=device, bound=bound, centre=centre,
                             progress=progress, cancel=cancel)

    def disk_bytes(self) -> dict:
        return {name: (self.path / name).stat().st_size
                for name in ("patches.npy", "maps.npy", "index.ann", "where.npy",
                             "sources.npy", "meta.json") if (self.path / name).exists()}
