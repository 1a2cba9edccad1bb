"""Write an annoy ``hamming`` index file directly from packed bit vectors.

Why not ``AnnoyIndex.add_item`` + ``build``: ``add_item`` converts one Python list per
item (minutes per million patches), and annoy's hamming trees split on a *random* bit,
which for sparse bits (a one-hot code) often splits a node so unevenly that annoy falls
back to random halves. Here the items are written from numpy and every split uses the
bit, among a random sample of candidate bits, that divides a sample of the node's items
most evenly (a bit-sampling forest). Build times and search quality against annoy's own
build: docs/restoration.md. The file is a plain annoy index (annoy >= 1.17 layout) that ``AnnoyIndex(n_bits,
"hamming").load()`` memory-maps and searches with its own C++ code; :func:`check_index`
verifies it after every build.

Node layout (annoy's ``Hamming::Node<int32, uint64>``): ``int32 n_descendants``,
``int32 children[2]``, 4 bytes padding, ``uint64 v[n_words]``; every node has the same
size ``16 + 8 * n_words``. Items are nodes ``0..M-1`` (``n_descendants = 1``, ``v`` =
bits); a leaf lists up to ``K = (size - 4) / 4`` item ids from ``children[0]`` on; a
split node stores its bit in ``v[0]``, counted from the most significant bit of each
word (annoy's ``margin``), with the items that have the bit set under ``children[1]``.
Each tree's root is its last node and all roots are copied once more at the end of the
file (``n_descendants = M`` marks them), as annoy itself writes them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numba
import numpy as np

from ..progress import ProgressFn, check_cancel
from .dictionary_meta import annoy_index

HEADER = 16  # bytes before v[] in a hamming node


def node_size(n_words: int) -> int:
    return HEADER + 8 * int(n_words)


def leaf_capacity(n_words: int) -> int:
    """annoy's ``_K``: item ids that fit in a node after ``n_descendants``."""
    return (node_size(n_words) - 4) // 4


@numba.njit(cache=True)
def _bit(words, item, b):
    return (words[item, b >> 6] >> np.uint64(b & 63)) & np.uint64(1)


@numba.njit(cache=True)
def _build_tree(words, n_bits, idx, k_leaf, sample, n_cand, first_id, seed,
                nd, ch, v0, is_split):
    """One tree over ``idx`` (permuted in place). Node ``j`` of the output arrays is
    annoy node ``first_id + j``. Returns the number of nodes, or -1 if the arrays are
    too small."""
    np.random.seed(seed)
    m = idx.shape[0]
    cap = nd.shape[0]
    n_nodes = 0
    # explicit stack of (lo, hi, parent node, side); the root is written last
    st_lo = np.empty(128, np.int64)
    st_hi = np.empty(128, np.int64)
    st_par = np.empty(128, np.int64)
    st_side = np.empty(128, np.int64)
    root_split = m > k_leaf
    if not root_split:
        if cap < 1:
            return -1
        nd[0] = m
        for i in range(m):
            ch[0, i] = idx[i]
        is_split[0] = False
        return 1
    # the root's slot is the last one: reserve it after building its subtrees
    root_children = np.zeros(2, np.int64)
    root_bit = np.int64(0)
    st_lo[0] = 0
    st_hi[0] = m
    st_par[0] = -1
    st_side[0] = 0
    top = 1
    counts = np.zeros(n_cand, np.int64)
    cand = np.zeros(n_cand, np.int64)
    while top > 0:
        top -= 1
        lo, hi, par, side = st_lo[top], st_hi[top], st_par[top], st_side[top]
        n = hi - lo
        # --- choose the split bit: the most balanced of n_cand random bits on a sample
        ns = min(n, sample)
        best_bit = -1
        best_gap = n + 1
        for _attempt in range(4):
            for c in range(n_cand):
                cand[c] = np.random.randint(0, n_bits)
                counts[c] = 0
            for s in range(ns):
                it = idx[lo + (s if n <= sample else np.random.randint(0, n))]
                for c in range(n_cand):
                    counts[c] += _bit(words, it, cand[c])
            for c in range(n_cand):
                gap = abs(2 * counts[c] - ns)
                if counts[c] > 0 and counts[c] < ns and gap < best_gap:
                    best_gap = gap
                    best_bit = cand[c]
            if best_bit >= 0:
                break
        # --- partition idx[lo:hi]: bit set -> right (children[1])
        n_left = 0
        if best_bit >= 0:
            i, j = lo, hi - 1
            while i <= j:
                if _bit(words, idx[i], best_bit) == 0:
                    i += 1
                else:
                    t = idx[i]
                    idx[i] = idx[j]
                    idx[j] = t
                    j -= 1
            n_left = i - lo
        if n_left == 0 or n_left == n:
            # no bit separates these items (duplicates): random halves, as annoy does
            for i in range(lo, hi):
                r = np.random.randint(i, hi)
                t = idx[i]
                idx[i] = idx[r]
                idx[r] = t
            n_left = n // 2
            best_bit = 0
        # annoy tests bit (63 - b % 64) of word b // 64
        vbit = (best_bit // 64) * 64 + 63 - (best_bit % 64)
        if par == -1:
            me = -2  # the root: placed at the end
            root_bit = vbit
        else:
            if n_nodes >= cap:
                return -1
            me = n_nodes
            n_nodes += 1
            nd[me] = n
            v0[me] = vbit
            is_split[me] = True
        for sd in range(2):
            clo = lo if sd == 0 else lo + n_left
            chi = lo + n_left if sd == 0 else hi
            cn = chi - clo
            if cn == 1:
                ref = idx[clo]
            elif cn <= k_leaf:
                if n_nodes >= cap:
                    return -1
                ref = first_id + n_nodes
                nd[n_nodes] = cn
                for q in range(cn):
                    ch[n_nodes, q] = idx[clo + q]
                is_split[n_nodes] = False
                n_nodes += 1
            else:
                ref = -1  # filled when the child is processed
                if top >= st_lo.shape[0]:
                    return -1
                st_lo[top] = clo
                st_hi[top] = chi
                st_par[top] = me
                st_side[top] = sd
                top += 1
            if me == -2:
                root_children[sd] = ref
            else:
                ch[me, sd] = ref
        # link this split node into its parent
        if par == -2:
            root_children[side] = first_id + me
        elif par >= 0:
            ch[par, side] = first_id + me
    if n_nodes >= cap:
        return -1
    nd[n_nodes] = m
    ch[n_nodes, 0] = root_children[0]
    ch[n_nodes, 1] = root_children[1]
    v0[n_nodes] = root_bit
    is_split[n_nodes] = True
    return n_nodes + 1


def _tree_bytes(nd, ch, v0, is_split, n, size) -> np.ndarray:
    out = np.zeros((n, size), dtype=np.uint8)
    out[:, 0:4] = nd[:n].astype("<i4").view(np.uint8).reshape(n, 4)
    k = ch.shape[1]
    out[:, 4:4 + 4 * k] = ch[:n].astype("<i4").view(np.uint8).reshape(n, 4 * k)
    sp = np.flatnonzero(is_split[:n])
    out[sp, 12:16] = 0
    out[sp, 16:24] = v0[sp].astype("<u8").view(np.uint8).reshape(-1, 8)
    return out


def write_index(words: np.ndarray, n_bits: int, path: str | os.PathLike, *, n_trees: int = 10,
                seed: int = 0, sample: int = 256, n_candidates: int = 48,
                progress: ProgressFn | None = None, cancel=None) -> None:
    """Write an annoy hamming index of ``words`` ``(M, n_words)`` uint64 to ``path``
    (atomically). ``n_bits`` is the external dimension to load it with."""
    words = np.ascontiguousarray(words, dtype=np.uint64)
    m, n_words = words.shape
    if m < 1:
        raise ValueError("cannot index an empty dictionary")
    if m >= 2**31 - 1:
        raise ValueError(f"annoy indexes at most 2^31 items, got {m}")
    size = node_size(n_words)
    k_leaf = leaf_capacity(n_words)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    rng = np.random.default_rng(seed)
    roots = []
    with open(tmp, "wb") as f:
        step = 1 << 16  # item nodes in chunks: no second copy of the whole dictionary
        for s in range(0, m, step):
            w = words[s:s + step]
            items = np.zeros((len(w), size), dtype=np.uint8)
            items[:, 0] = 1  # n_descendants = 1 (little-endian int32)
            items[:, HEADER:] = w.view(np.uint8).reshape(len(w), 8 * n_words)
            f.write(items.tobytes())
        next_id = m
        cap = 4 * m // max(k_leaf, 1) + 1024
        for t in range(n_trees):
            check_cancel(cancel)
            idx = rng.permutation(m).astype(np.int64)
            while True:
                nd = np.zeros(cap, np.int32)
                ch = np.zeros((cap, k_leaf), np.int32)
                v0 = np.zeros(cap, np.int64)
                is_split = np.zeros(cap, np.bool_)
                n = _build_tree(words, int(n_bits), idx, k_leaf, sample, n_candidates, next_id,
                                int(rng.integers(2**31)), nd, ch, v0, is_split)
                if n >= 0:
                    break
                cap *= 2
            block = _tree_bytes(nd, ch, v0, is_split, n, size)
            f.write(block.tobytes())
            roots.append(block[n - 1].copy())
            next_id += n
            if next_id + n_trees >= 2**31 - 1:
                raise ValueError("annoy index too large (node ids overflow int32)")
            if progress is not None:
                progress(t + 1, n_trees, f"tree {t + 1}/{n_trees}")
        for r in roots:
            f.write(r.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def check_index(index, words: np.ndarray, n_trees: int, probe: int = 8) -> None:
    """Raise ``ValueError`` unless a loaded annoy ``index`` holds ``words`` and
    ``n_trees`` trees (guards against an annoy build with another file layout)."""
    m = words.shape[0]
    if index.get_n_items() != m or index.get_n_trees() != n_trees:
        raise ValueError(f"annoy index has {index.get_n_items()} items / "
                         f"{index.get_n_trees()} trees, expected {m} / {n_trees}")
    for i in np.linspace(0, m - 1, min(probe, m)).astype(int):
        bits = np.asarray(index.get_item_vector(int(i)), dtype=np.uint8)
        packed = np.zeros(words.shape[1] * 8, dtype=np.uint8)
        pb = np.packbits(bits, bitorder="little")
        packed[:pb.size] = pb
        if not np.array_equal(packed.view("<u8"), words[i]):
            raise ValueError(f"annoy index item {i} does not match the dictionary")


def build_with_annoy(words: np.ndarray, n_bits: int, path: str | os.PathLike, n_trees: int,
                     seed: int, report: ProgressFn, cancel=None) -> None:
    """annoy's own build (``add_item`` per item, random-bit trees), for comparison."""
    index = annoy_index(n_bits)
    index.set_seed(int(seed))
    m = words.shape[0]
    bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")[:, :n_bits]
    for i in range(m):
        if i % 4096 == 0:
            check_cancel(cancel)
            report(i, m, "annoy add_item")
        index.add_item(i, bits[i].tolist())
    index.build(int(n_trees), n_jobs=1)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    index.save(str(tmp))
    index.unload()
    os.replace(tmp, path)
