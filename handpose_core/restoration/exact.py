"""Exact nearest patches by label Hamming distance (brute force over the dictionary).

The reference that annoy is measured against. Two implementations of the same search:

- ``device="cuda"`` (or ``"torch"`` to run the same code on the CPU): torch, the label
  match count as a matrix product of one-hot float16/float32 patches, dictionary in
  chunks. On a GPU this is the fast path.
- ``device="cpu"``: a numba kernel over dictionary tiles in parallel that compares
  label bytes row by row (rows from the centre outwards) and abandons a candidate as
  soon as its partial distance exceeds the best found so far. Still exact, and on a CPU
  much faster than the torch matrix product (a 15,309-dimensional one-hot product per
  pair against at most 729 byte compares with early exit; docs/restoration.md).

Both order candidates by :func:`.patches.match_key`: the label Hamming distance, ties
broken by a centre-weighted distance over the central 17 x 17 square, then by the
lowest index. :func:`rerank_candidates` applies the same order to a given candidate list
(the annoy path's re-ranking), so annoy and exact restorations differ only where the
exact answer is missing from the candidates.
"""

from __future__ import annotations

import numba
import numpy as np

from ..errors import BadInput
from ..parts import NUM_CLASSES
from ..progress import ProgressFn, check_cancel
from .patch_maps import MapPatches
from .patches import TIE_SCALE, TIE_WINDOW, tie_weights

_BIG = np.int32(1 << 30)


@numba.njit(cache=True, inline="always")
def _key(q, j, p, i, row_order, weights, centre, best):
    """(distance, centre-weighted tie distance) of query j to patch i, the distance
    being the label Hamming distance plus ``centre`` times the tie distance (0: the
    paper's); rows from the centre outwards, abandoned (partial sums) once the distance
    exceeds ``best``. The one definition of the candidate order for both kernels."""
    pp = q.shape[1]
    s = 0
    sc = 0
    for rr in range(pp):
        r = row_order[rr]
        for c in range(pp):
            d = q[j, r, c] != p[i, r, c]
            s += d
            sc += d * weights[r, c]
        if s + centre * sc > best:
            break
    return s + centre * sc, sc


@numba.njit(parallel=True, cache=True)
def _tiles_nearest(q, p, bound, tile, row_order, weights, centre, out_d, out_c, out_i):
    """q (Q,P,P), p (M,P,P) uint8; bound (Q,) int64 (prune above it); weights (P,P)
    int64 of the tie distance; writes per tile the best (distance, tie distance,
    index) of each query, (n_tiles, Q) each.

    Candidates are ordered by (label Hamming distance, centre-weighted tie distance,
    index); rows are compared from the centre outwards and a candidate is abandoned as
    soon as its partial distance exceeds the best."""
    n_q = q.shape[0]
    m = p.shape[0]
    n_tiles = (m + tile - 1) // tile
    for t in numba.prange(n_tiles):
        lo = t * tile
        hi = min(m, lo + tile)
        for j in range(n_q):
            best = bound[j]
            best_c = np.int64(1) << 40
            best_i = -1
            for i in range(lo, hi):
                s, sc = _key(q, j, p, i, row_order, weights, centre, best)
                if s < best or (s == best and sc < best_c):
                    best = s
                    best_c = sc
                    best_i = i
            out_d[t, j] = best
            out_c[t, j] = best_c
            out_i[t, j] = best_i


@numba.njit(cache=True, inline="always")
def _window_key(q, j, maps, src, i, row_order, weights, finger, centre, bound):
    """``(distance, tie distance, label distance)`` of query ``j`` to candidate ``i``.

    Candidate ``i`` is ``maps[i]`` ((M,P,P) patches) when ``src`` is empty, else the
    P x P window of ``maps[src[i, 0]]`` centred on ``(src[i, 1], src[i, 2])``, 0 outside
    the map (a source-map dictionary). A differing position costs ``1 + finger`` when
    either label is a finger part (>= 2; ``finger`` 0: the label Hamming distance, the
    third value) and adds its ``weights`` entry to the tie distance; the distance is the
    label distance plus ``centre`` times the tie distance. Rows in ``row_order``; the
    scan stops once the partial distance exceeds ``bound`` (the values are then partial
    and the distance is above ``bound``). The one candidate scan of the re-ranking and
    the K-best lists; inlined only into kernels of this module: numba keys a cached
    kernel on its own source file (see render/jitcache.py), so a kernel in another
    module would keep running an old copy after this one changed."""
    pp = q.shape[1]
    size = maps.shape[1]
    m, r0, c0 = i, 0, 0
    if src.shape[0] != 0:
        h = pp // 2
        m, r0, c0 = src[i, 0], src[i, 1] - h, src[i, 2] - h
    s = np.int64(0)
    sc = np.int64(0)
    for rr in range(pp):
        r = row_order[rr]
        y = r0 + r
        for c in range(pp):
            x = c0 + c
            v = np.uint8(0)
            if y >= 0 and y < size and x >= 0 and x < size:
                v = maps[m, y, x]
            a = q[j, r, c]
            if a != v:
                s += 1
                sc += weights[r, c]
                if finger and (a >= 2 or v >= 2):
                    s += finger
        if s + centre * sc > bound:
            break
    return s + centre * sc, sc, s


@numba.njit(parallel=True, cache=True)
def _rerank_kernel(q, maps, src, cand, weights, row_order, finger, centre, out_i, out_d):
    """Best candidate of each query: q (Q,P,P) uint8, cand (Q,C) int64 ids (-1: none),
    candidates and distance as :func:`_window_key` reads them (``src`` empty: ``maps``
    are the patches); ties to the lower tie distance, then the lowest index. Writes
    out_i, out_d (Q,) (-1 and the largest possible distance + 1 without a candidate)."""
    n_q, n_c = cand.shape
    pp = q.shape[1]
    for j in numba.prange(n_q):
        best = (pp * pp + 1) * (1 + finger) * (1 + centre * (pp // 2 + 1))
        best_c = np.int64(1) << 40
        best_i = np.int64(-1)
        for t in range(n_c):
            i = cand[j, t]
            if i < 0 or i == best_i:  # pooled lists repeat the best: same key, no change
                continue
            s, sc, _ = _window_key(q, j, maps, src, i, row_order, weights, finger, centre,
                                   best)
            if s < best or (s == best and (sc < best_c or (sc == best_c and i < best_i))):
                best = s
                best_c = sc
                best_i = i
        out_i[j] = best_i
        out_d[j] = best


@numba.njit(parallel=True, cache=True)
def kbest_kernel(q, maps, src, cand, weights, row_order, centre, out_i, out_d, out_h):
    """The ``k`` best distinct candidates of each query by (distance, tie distance,
    index), ``k = out_i.shape[1]``; ``cand`` (Q, C) ids sorted per row, -1 first;
    candidates and distance as :func:`_window_key` reads them (the re-ranking's
    scan). Writes ids (-1 pad), distances (Hamming + centre x tie distance) and Hamming
    distances. The CRF's K-best lists (:func:`.crf.kbest`)."""
    n_q, n_c = cand.shape
    k = out_i.shape[1]
    for j in numba.prange(n_q):
        bi = np.full(k, -1, np.int64)
        bd = np.full(k, np.int64(1) << 50, np.int64)
        bc = np.full(k, np.int64(1) << 50, np.int64)
        bh = np.zeros(k, np.int64)
        prev = np.int64(-1)
        for t in range(n_c):
            i = cand[j, t]
            if i < 0 or i == prev:
                continue
            prev = i
            # abandoned above the k-th best: d is then above it and is not inserted
            d, sc, s = _window_key(q, j, maps, src, i, row_order, weights, 0, centre, bd[k - 1])
            # insert (d, sc, i) into the sorted list if it beats the last entry
            pos = k
            while pos > 0 and (d < bd[pos - 1] or (d == bd[pos - 1] and (
                    sc < bc[pos - 1] or (sc == bc[pos - 1] and i < bi[pos - 1])))):
                pos -= 1
            if pos == k:
                continue
            for u in range(k - 1, pos, -1):
                bi[u] = bi[u - 1]
                bd[u] = bd[u - 1]
                bc[u] = bc[u - 1]
                bh[u] = bh[u - 1]
            bi[pos] = i
            bd[pos] = d
            bc[pos] = sc
            bh[pos] = s
        for u in range(k):
            out_i[j, u] = bi[u]
            out_d[j, u] = bd[u] if bi[u] >= 0 else -1
            out_h[j, u] = bh[u] if bi[u] >= 0 else -1


def rerank(queries: np.ndarray, maps: np.ndarray, sources: np.ndarray | None, cand: np.ndarray,
           weights: np.ndarray, row_order: np.ndarray, *, finger: int = 0,
           centre: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Run :func:`_rerank_kernel`: ``maps`` the ``(M, P, P)`` patches with ``sources``
    None, else the ``(N, S, S)`` source maps and ``sources`` ``(M, 3)``."""
    ids = np.empty(queries.shape[0], np.int64)
    dist = np.empty(queries.shape[0], np.int64)
    src = np.zeros((0, 3), np.int64) if sources is None else np.asarray(sources)
    if queries.shape[0]:
        _rerank_kernel(queries, np.asarray(maps), src, cand, weights, row_order, int(finger),
                       int(centre), ids, dist)
    return ids, dist


def rerank_candidates(queries: np.ndarray, patches: np.ndarray, cand: np.ndarray, *,
                      tie_window: int = TIE_WINDOW, distance: tuple[int, int] | None = None,
                      centre: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The best of each query's candidates under :func:`.patches.match_key`, ties to the
    lowest index -- what :func:`exact_nearest` would return if the candidates were the
    whole dictionary.

    ``queries`` ``(Q, P, P)`` uint8, ``patches`` ``(M, P, P)`` uint8 (a memory map is
    read in place, only the candidates' rows), ``cand`` ``(Q, C)`` ids, ``-1`` for none
    (duplicates allowed). Returns ``(ids (Q,) int64, distances (Q,) int64)``; a query
    without any candidate gets id ``-1`` and a distance above any real one (``P * P + 1``
    with the paper's distance). Compiled (numba), parallel over queries. ``patches`` may be
    a :class:`.patch_maps.MapPatches` (read from its source maps in place). ``centre``:
    the distance is the label Hamming distance plus ``centre`` times the tie distance (0:
    the paper's). ``distance`` ``(finger, centre)``: an experimental weighted distance (a
    differing finger label costs ``1 + finger``; replaces ``centre``).
    """
    queries = np.ascontiguousarray(queries, dtype=np.uint8)
    cand = np.ascontiguousarray(cand, dtype=np.int64)
    if cand.ndim != 2 or cand.shape[0] != queries.shape[0]:
        raise ValueError(f"candidates {cand.shape} do not match {queries.shape[0]} queries")
    if cand.size and int(cand.max()) >= patches.shape[0]:
        raise ValueError(f"candidate id {int(cand.max())} out of range for "
                         f"{patches.shape[0]} patches")
    pp = queries.shape[1]

    finger, centre_w = (0, centre) if distance is None or not any(distance) else distance
    maps, sources = (patches.maps, patches.sources) if isinstance(patches, MapPatches) \
        else (patches, None)
    return rerank(queries, maps, sources, cand, tie_weights(pp, tie_window),
                  _row_order(pp), finger=finger, centre=centre_w)


def _row_order(patch: int) -> np.ndarray:
    c = patch // 2
    return np.argsort(np.abs(np.arange(patch) - c), kind="stable").astype(np.int64)


def _exact_numba(queries, patches, bound, chunk, tile, tie_window, centre, progress, cancel):
    n_q, pp = queries.shape[0], queries.shape[1]
    big = np.int64(_BIG)
    best_d = np.full(n_q, big, dtype=np.int64)
    best_c = np.full(n_q, big, dtype=np.int64)
    best_i = np.full(n_q, -1, dtype=np.int64)
    top = pp * pp * (1 + centre * (pp // 2 + 1))  # above any distance
    bound = np.full(n_q, top, dtype=np.int64) if bound is None else \
        np.minimum(np.asarray(bound, dtype=np.int64), top)
    order = _row_order(pp)
    weights = tie_weights(pp, tie_window)
    m = patches.shape[0]
    for s in range(0, m, chunk):
        check_cancel(cancel)
        block = np.ascontiguousarray(patches[s:s + chunk])
        n_t = (block.shape[0] + tile - 1) // tile
        od = np.empty((n_t, n_q), np.int64)
        oc = np.empty((n_t, n_q), np.int64)
        oi = np.empty((n_t, n_q), np.int64)
        # items as close as the best found so far (or the caller's bound) only
        cur = np.minimum(bound, best_d)
        _tiles_nearest(queries, block, cur, tile, order, weights, int(centre), od, oc, oi)
        for t in range(n_t):  # tiles in index order: ties keep the earlier (lower) index
            found = oi[t] >= 0
            better = found & ((od[t] < best_d) | ((od[t] == best_d) & (oc[t] < best_c)))
            best_d[better] = od[t][better]
            best_c[better] = oc[t][better]
            best_i[better] = oi[t][better] + s
        if progress is not None:
            progress(min(m, s + chunk), m, "exact search")
    return best_i, best_d


def _exact_torch(queries, patches, chunk, device, tie_window, centre, progress, cancel):
    # function-local for start-up time: torch loads only for the GPU search
    import torch

    dev = torch.device(device)
    dtype = torch.float16 if dev.type == "cuda" else torch.float32
    n_q, pp = queries.shape[0], queries.shape[1]
    classes = torch.arange(NUM_CLASSES, device=dev, dtype=torch.uint8)
    w = torch.as_tensor(tie_weights(pp, tie_window), device=dev, dtype=torch.float32)
    w_total = int(w.sum())

    def onehot(a, dt=dtype):
        t = torch.as_tensor(np.ascontiguousarray(a), device=dev).reshape(a.shape[0], -1)
        return (t[:, :, None] == classes).reshape(a.shape[0], -1).to(dt)

    qh = onehot(queries)
    # weighted one-hot of the queries: matches weighted by position (float32: exact)
    qw = (onehot(queries, torch.float32).reshape(n_q, pp * pp, NUM_CLASSES)
          * w.reshape(1, -1, 1)).reshape(n_q, -1)
    best_k = torch.full((n_q,), 2**62, dtype=torch.int64, device=dev)
    best_i = torch.full((n_q,), -1, dtype=torch.int64, device=dev)
    m = patches.shape[0]
    for s in range(0, m, chunk):
        check_cancel(cancel)
        block = np.asarray(patches[s:s + chunk])
        # matches per pair; float16 counts are exact up to 2048 > 27 * 27
        d = pp * pp - (qh @ onehot(block).T).round().to(torch.int64)
        dw = w_total - (qw @ onehot(block, torch.float32).T).round().to(torch.int64)
        kmin, imin = ((d + centre * dw) * TIE_SCALE + dw).min(dim=1)  # ties: lowest index
        better = kmin < best_k
        best_k = torch.where(better, kmin, best_k)
        best_i = torch.where(better, imin + s, best_i)
        if progress is not None:
            progress(min(m, s + chunk), m, "exact search")
    return best_i.cpu().numpy(), (best_k // TIE_SCALE).cpu().numpy()


def default_device() -> str:
    """``"cuda"`` when torch sees a GPU, else ``"cpu"`` (the numba kernel)."""
    try:
        import torch  # function-local for start-up time, as in _exact_torch

        if torch.cuda.is_available():
            return "cuda"
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return "cpu"


def exact_nearest(queries: np.ndarray, patches: np.ndarray, *, device: str | None = None,
                  bound: np.ndarray | None = None, chunk: int | None = None,
                  tie_window: int = TIE_WINDOW, centre: int = 0,
                  progress: ProgressFn | None = None, cancel=None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest dictionary patch of each query by label Hamming distance, ties
    broken as in :func:`.patches.match_key` (centre-weighted distance over the central
    ``tie_window`` square, then the lowest index).

    ``queries`` ``(Q, P, P)`` uint8, ``patches`` ``(M, P, P)`` uint8 (a memory map is
    read in chunks). ``device``: ``"cpu"`` (numba), ``"cuda"``, ``"torch"`` (the torch
    code on the CPU) or None (cuda if available, else cpu). ``bound`` ``(Q,)``: a known
    upper bound of each query's distance (e.g. annoy's answer) that lets the CPU
    kernel prune earlier; the result is exact either way.
    Returns ``(ids (Q,) int64, distances (Q,) int64)``.
    """
    queries = np.ascontiguousarray(queries, dtype=np.uint8)
    if queries.ndim != 3 or queries.shape[1:] != patches.shape[1:]:
        raise ValueError(f"queries {queries.shape} and dictionary patches {patches.shape} "
                         "differ in patch size")
    if queries.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    device = device or default_device()
    if device == "cpu":
        return _exact_numba(queries, patches, bound, chunk or 65536, 2048, tie_window,
                            int(centre), progress, cancel)
    if device in ("cuda", "torch"):
        dev = "cpu" if device == "torch" else "cuda"
        return _exact_torch(queries, patches, chunk or (32768 if dev == "cuda" else 4096), dev,
                            tie_window, int(centre), progress, cancel)
    raise BadInput(f"unknown exact-search device {device!r} (cpu, cuda, torch)")
