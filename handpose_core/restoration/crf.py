"""Restoration regularised by a CRF over each pixel's K nearest patches (seed paper, 5.1).

The paper compares its local integration (equation 2) with a discrete energy on the
lattice of the predicted hand's pixels::

    E(x) = sum_i u(x_i) + alpha * sum_{i ~ j} b(x_i, x_j)

Pixel i chooses ``x_i`` among its ``K`` nearest dictionary patches (the ranked list of
the search, :func:`candidate_lists`); ``u`` is the match distance between the query
patch and the chosen patch (the label Hamming distance, plus ``centre`` times the
centre-weighted tie distance when the search uses one, so that the unary ranks the
candidates exactly as the search does and rank 1 is the patch integration uses); ``i ~ j``
are 4-neighbouring queried pixels; ``b`` is either

- ``"crf-potts"``: 1 when the centre labels of the two chosen patches differ, else 0;
- ``"crf-overlap"``: the label Hamming distance between the two chosen patches over
  their overlapping area (patches centred one pixel apart overlap on P x (P - 1)).

Inference is sequential tree-reweighted message passing (TRW-S, min-sum, Kolmogorov
2006) compiled with numba, decoded in each forward pass; each decoding is improved by
iterated conditional modes and by exact (Viterbi) moves of whole rows and columns given
the rest, which never raise the energy; the lowest-energy labelling seen is kept. On
tiny lattices it reaches the minimum found by enumeration (tests; how often on hard
random instances: docs/restoration.md). The restored
label of a pixel is the centre label of its chosen patch; with ``keep_silhouette`` a
background centre leaves the raw label, as without integration. With ``alpha = 0`` the
result is the "NN, no integration" row exactly.

``alpha`` is chosen on held-out synthetic maps (:func:`heldout_maps`: clean renders of
a seed no benchmark uses, corrupted by :func:`.noise.corrupt_labels`) by
:func:`tune_weight`; :func:`tuned_weight` caches the choice per dictionary, method and
search in a JSON file (a project's ``cache/crf_weights.json``). Figures:
docs/restoration.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numba
import numpy as np

from ..errors import BadInput
from ..parts import validate_labels
from ..progress import ProgressFn, check_cancel
from .dictionary import Dictionary, SearchParams
from .exact import kbest_kernel
from .patches import TIE_WINDOW, extract_patches, hand_pixels, tie_weights
from .restore import DEFAULT_SEARCH, Restoration, propagate, search_candidates

INTEGRATION = "integration"
JOINT_PRIOR = "joint-prior"
"""Integration votes combined with the frame's joint prior (:mod:`.joint_prior`): the
restore stage's default since the new demo (docs/restoration.md)."""
POTTS, OVERLAP = "crf-potts", "crf-overlap"
CRF_METHODS = (POTTS, OVERLAP)
METHODS = (JOINT_PRIOR, INTEGRATION, *CRF_METHODS)
ROW_NAMES = {POTTS: "CRF, Potts-like", OVERLAP: "CRF, patch-overlap Hamming"}
"""The Table 2 row of each CRF method (``evaluate --what restoration``)."""

DEFAULT_K = 10  # the paper's N
DEFAULT_ITERATIONS = 100
DEFAULT_PATIENCE = 5
WEIGHT_GRID = {
    POTTS: (0.0, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0, 128.0),
    OVERLAP: (0.0, 0.004, 0.008, 0.016, 0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0, 2.0),
}
"""Weights tried by :func:`tune_weight`: the unary is a distance over up to P*P = 729
positions, the Potts term 0 or 1 per edge, the overlap term a distance over up to 702."""
HELDOUT_SEED = 4242  # bench restore renders seeds 1 and 1000 (+ its --seed)
HELDOUT_MAPS = 24
_BIG = 1e7  # unary of a missing candidate


def check_method(method: str) -> str:
    if method not in METHODS:
        raise BadInput(f"unknown restoration method {method!r} ({', '.join(METHODS)})")
    return method


# ---------------------------------------------------------------------- candidates
def kbest(queries: np.ndarray, dictionary: Dictionary, cand: np.ndarray, k: int, *,
          centre: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` best distinct patches among each query's candidates ``(Q, C)`` (-1: none;
    duplicates allowed), ordered as :func:`.exact.rerank_candidates` orders them (its
    answer is the first). Returns ``(ids, distances, hamming)``, each ``(Q, k)`` int64,
    -1 where a query has fewer than ``k`` distinct candidates."""
    from .patch_maps import MapPatches

    queries = np.ascontiguousarray(queries, dtype=np.uint8)
    cand = np.sort(np.asarray(cand, dtype=np.int64), axis=1)
    n = queries.shape[0]
    out_i = np.empty((n, k), np.int64)
    out_d = np.empty((n, k), np.int64)
    out_h = np.empty((n, k), np.int64)
    if n == 0:
        return out_i, out_d, out_h
    pp = queries.shape[1]
    p = dictionary.patches
    maps, src = (p.maps, p.sources) if isinstance(p, MapPatches) else \
        (p, np.zeros((0, 3), np.int64))
    # rows top to bottom, as this scan ran before it was shared with the re-ranking
    # (whose centre-outward order measured no faster here: docs/restoration.md)
    kbest_kernel(queries, np.asarray(maps), np.asarray(src), cand, tie_weights(pp, TIE_WINDOW),
                  np.arange(pp, dtype=np.int64), int(centre), out_i, out_d, out_h)
    return out_i, out_d, out_h


@dataclass(frozen=True)
class CandidateLists:
    """One map's label space: ``centers`` (n, 2) queried pixels; ``ids`` (n, K) their K
    best dictionary patches (-1: none), best first (``ids[:, 0]`` is the search's
    nearest patch, the one integration uses); ``distances`` (n, K) the match distance
    (the unary), ``hamming`` (n, K) the label Hamming distance; ``patches`` (n, K, P, P)
    uint8 (zeros where there is no candidate)."""

    centers: np.ndarray
    ids: np.ndarray
    distances: np.ndarray
    hamming: np.ndarray
    patches: np.ndarray

    @property
    def k(self) -> int:
        return int(self.ids.shape[1])


def candidate_lists(label_maps: np.ndarray, dictionary: Dictionary, *,
                    search: SearchParams = DEFAULT_SEARCH, k: int = DEFAULT_K,
                    batch: int = 16, cancel=None) -> list[CandidateLists]:
    """The K-best lists of every hand pixel of ``label_maps`` ``(N, S, S)``.

    The search of :func:`.restore.restore_many` (annoy candidates, pooled over the
    ``search.pool`` neighbourhood, re-ranked and propagated) with its answer added to the
    pooled candidates, from which the ``k`` best by the same order are kept: rank 1 is
    exactly the patch integration and the no-integration row use."""
    maps = np.asarray(label_maps)
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"label maps must be (N, S, S), got {maps.shape}")
    if k < 1:
        raise BadInput(f"the CRF needs at least one candidate per pixel, got k={k}")
    size = maps.shape[1]
    out: list[CandidateLists] = []
    for s in range(0, len(maps), batch):
        check_cancel(cancel)
        block = maps[s:s + batch]
        centers = [hand_pixels(m, 1) for m in block]
        counts = np.array([len(c) for c in centers])
        img = np.repeat(np.arange(len(block)), counts)
        allc = np.concatenate(centers) if counts.sum() else np.zeros((0, 2), np.int64)
        queries = extract_patches(block, allc, dictionary.patch, img)
        cand = search_candidates(dictionary, queries, img, allc, size, 1, search)
        ids, dist = dictionary.rerank(queries, cand, centre=search.centre)
        ids, _ = propagate(dictionary, queries, img, allc, ids, dist, 1, search.propagate,
                           size, search.centre)
        kid, kd, kh = kbest(queries, dictionary, np.concatenate([cand, ids[:, None]], axis=1),
                            k, centre=search.centre)
        uids = np.unique(kid[kid >= 0])
        found = np.asarray(dictionary.patches[uids]) if len(uids) else \
            np.zeros((0, dictionary.patch, dictionary.patch), np.uint8)
        pat = np.zeros(kid.shape + (dictionary.patch, dictionary.patch), np.uint8)
        ok = kid >= 0
        pat[ok] = found[np.searchsorted(uids, kid[ok])]
        starts = np.concatenate([[0], np.cumsum(counts)])
        for b in range(len(block)):
            sl = slice(starts[b], starts[b + 1])
            out.append(CandidateLists(centers[b], kid[sl], kd[sl], kh[sl], pat[sl]))
    return out


# ---------------------------------------------------------------------- the energy
def lattice_edges(centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4-neighbour edges between queried pixels ``centers`` (n, 2): ``(a, b, vertical)``
    with ``a < b`` node indices, b right of a (``vertical`` 0) or below it (1)."""
    centers = np.asarray(centers, dtype=np.int64).reshape(-1, 2)
    if not len(centers):
        z = np.zeros(0, np.int64)
        return z, z, z
    side = int(centers.max()) + 2
    code = centers[:, 0] * side + centers[:, 1]
    order = np.argsort(code)
    sorted_code = code[order]
    a_all, b_all, v_all = [], [], []
    for vert, step in ((0, 1), (1, side)):
        pos = np.searchsorted(sorted_code, code + step)
        pos = np.minimum(pos, len(code) - 1)
        hit = sorted_code[pos] == code + step
        a = np.flatnonzero(hit)
        b = order[pos[hit]]
        a_all.append(a)
        b_all.append(b)
        v_all.append(np.full(len(a), vert, np.int64))
    a, b, v = (np.concatenate(x).astype(np.int64) for x in (a_all, b_all, v_all))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    swap = a > b  # only when centers are not in raster order; the offset flips sign
    if swap.any():
        raise ValueError("centers must be in raster order (as hand_pixels returns them)")
    return lo, hi, v


@numba.njit(parallel=True, cache=True)
def _overlap_kernel(patches, ea, eb, vert, out):
    """out[e, x, y]: label Hamming distance between patch x of node ea[e] and patch y of
    node eb[e] over their overlap (b one pixel right of, or below, a)."""
    n_e = ea.shape[0]
    k = patches.shape[1]
    pp = patches.shape[2]
    for e in numba.prange(n_e):
        a = ea[e]
        b = eb[e]
        dr = vert[e]
        dc = 1 - vert[e]
        for x in range(k):
            for y in range(k):
                s = 0
                for r in range(dr, pp):
                    for c in range(dc, pp):
                        s += patches[a, x, r, c] != patches[b, y, r - dr, c - dc]
                out[e, x, y] = s


def pairwise_costs(cl: CandidateLists, ea: np.ndarray, eb: np.ndarray, vert: np.ndarray,
                   method: str) -> np.ndarray:
    """``(E, K, K)`` float64 unweighted pairwise term of each edge (row: a's candidate,
    column: b's)."""
    if method == POTTS:
        c = cl.patches.shape[2] // 2
        centre = cl.patches[:, :, c, c]
        return (centre[ea][:, :, None] != centre[eb][:, None, :]).astype(np.float64)
    if method == OVERLAP:
        out = np.empty((len(ea), cl.k, cl.k), np.int64)
        if len(ea):
            _overlap_kernel(np.ascontiguousarray(cl.patches), ea, eb, vert, out)
        return out.astype(np.float64)
    raise ValueError(f"unknown CRF pairwise term {method!r} ({', '.join(CRF_METHODS)})")


def unary_costs(cl: CandidateLists) -> np.ndarray:
    """``(n, K)`` float64: the match distances, a large constant for missing candidates."""
    return np.where(cl.ids >= 0, cl.distances, _BIG).astype(np.float64)


@numba.njit(cache=True)
def _energy(unary, ea, eb, pair, weight, lab):
    e = 0.0
    for i in range(unary.shape[0]):
        e += unary[i, lab[i]]
    for t in range(ea.shape[0]):
        e += weight * pair[t, lab[ea[t]], lab[eb[t]]]
    return e


def energy(unary: np.ndarray, ea: np.ndarray, eb: np.ndarray, pair: np.ndarray,
           weight: float, labels: np.ndarray) -> float:
    """E(x) of a labelling ``labels`` (n,) (candidate indices)."""
    return float(_energy(unary, ea, eb, pair, float(weight), np.asarray(labels, np.int64)))


@numba.njit(cache=True, inline="always")
def _incoming(i, unary, eb, deg, adj, m_ab, m_ba, theta):
    """``theta`` = node ``i``'s unary plus every message into it (``m_ab`` from its lower
    neighbours, ``m_ba`` from its higher ones)."""
    k = unary.shape[1]
    for x in range(k):
        theta[x] = unary[i, x]
    for t in range(deg[i], deg[i + 1]):
        e = adj[t]
        msg = m_ab if eb[e] == i else m_ba
        for x in range(k):
            theta[x] += msg[e, x]


@numba.njit(cache=True, inline="always")
def _send(g, theta, back, table, e, out, h):
    """One min-sum message along edge ``e``, the same in both directions:
    ``out[e, y] = min_x g * theta[x] - back[e, x] + table[e, y, x]``, shifted so that its
    minimum is 0 (``back`` the message coming the other way; ``table`` the weighted
    pairwise term indexed (receiver's label, sender's label); ``h`` scratch)."""
    k = theta.shape[0]
    for x in range(k):
        h[x] = g * theta[x] - back[e, x]
    lo = np.inf
    for y in range(k):
        v = np.inf
        for x in range(k):
            c = h[x] + table[e, y, x]
            if c < v:
                v = c
        out[e, y] = v
        if v < lo:
            lo = v
    for y in range(k):
        out[e, y] -= lo


@numba.njit(cache=True, inline="always")
def _conditional(i, unary, ea, eb, vert, wp, deg, adj, lab, skip, cu):
    """``cu[x]``: node ``i``'s unary of ``x`` plus the weighted pairwise terms of ``x``
    against its neighbours at their labels in ``lab``, edges of direction ``skip`` left
    out (-1: none)."""
    k = unary.shape[1]
    for x in range(k):
        cu[x] = unary[i, x]
    for a in range(deg[i], deg[i + 1]):
        e = adj[a]
        if vert[e] == skip:
            continue
        if eb[e] == i:
            for x in range(k):
                cu[x] += wp[e, lab[ea[e]], x]
        else:
            for x in range(k):
                cu[x] += wp[e, x, lab[eb[e]]]


@numba.njit(cache=True)
def _trws(unary, ea, eb, vert, pair, weight, n_iter, patience, out):
    """TRW-S (min-sum) on nodes in index order, edges ea < eb; decodes in every forward
    pass, polishes with ICM and exact row / column moves (:func:`_chains`), writes the
    lowest-energy labelling to ``out``; returns ``(energy, iterations)``."""
    n, k = unary.shape
    n_e = ea.shape[0]
    # adjacency: for node i, its edges to lower (as eb) and higher (as ea) nodes
    deg = np.zeros(n + 1, np.int64)
    for e in range(n_e):
        deg[ea[e] + 1] += 1
        deg[eb[e] + 1] += 1
    for i in range(n):
        deg[i + 1] += deg[i]
    adj = np.empty(2 * n_e, np.int64)
    fill = deg[:-1].copy()
    for e in range(n_e):
        adj[fill[ea[e]]] = e
        fill[ea[e]] += 1
        adj[fill[eb[e]]] = e
        fill[eb[e]] += 1
    gamma = np.empty(n)
    for i in range(n):
        lo = 0
        hi = 0
        for t in range(deg[i], deg[i + 1]):
            if eb[adj[t]] == i:
                lo += 1
            else:
                hi += 1
        gamma[i] = 1.0 / max(lo, hi, 1)
    wp = weight * pair  # (E, K, K): [e, a's label, b's label]
    wpt = np.empty_like(wp)  # [e, b's label, a's label]: the table of messages a -> b
    for e in range(n_e):
        for x in range(k):
            for y in range(k):
                wpt[e, y, x] = wp[e, x, y]
    m_ab = np.zeros((n_e, k))  # a -> b, over b's labels
    m_ba = np.zeros((n_e, k))  # b -> a, over a's labels
    lab = np.zeros(n, np.int64)
    for i in range(n):
        lab[i] = np.argmin(unary[i])
    best_e = _energy(unary, ea, eb, pair, weight, lab)
    out[:] = lab
    theta = np.empty(k)
    h = np.empty(k)
    score = np.empty(k)
    it = 0
    same = 0
    for _ in range(n_iter):
        it += 1
        # forward pass: decode (lower neighbours at their new labels, higher ones by
        # their messages), then send messages to higher neighbours
        for i in range(n):
            _incoming(i, unary, eb, deg, adj, m_ab, m_ba, theta)
            for x in range(k):
                score[x] = unary[i, x]
            for t in range(deg[i], deg[i + 1]):
                e = adj[t]
                if eb[e] == i:
                    for x in range(k):
                        score[x] += wp[e, lab[ea[e]], x]
                else:
                    for x in range(k):
                        score[x] += m_ba[e, x]
            lab[i] = np.argmin(score)
            for t in range(deg[i], deg[i + 1]):
                e = adj[t]
                if ea[e] == i:
                    _send(gamma[i], theta, m_ba, wpt, e, m_ab, h)
        # backward pass: messages to lower neighbours
        for i in range(n - 1, -1, -1):
            _incoming(i, unary, eb, deg, adj, m_ab, m_ba, theta)
            for t in range(deg[i], deg[i + 1]):
                e = adj[t]
                if eb[e] == i:
                    _send(gamma[i], theta, m_ab, wp, e, m_ba, h)
        _icm(unary, ea, eb, vert, wp, deg, adj, lab)
        cur = _chains(unary, ea, eb, vert, wp, deg, adj, lab)
        if cur < best_e - 1e-9:
            best_e = cur
            out[:] = lab
            same = 0
        else:
            same += 1
            if same >= patience:
                break
    return best_e, it


@numba.njit(cache=True)
def _icm(unary, ea, eb, vert, wp, deg, adj, lab):
    """Iterated conditional modes on ``lab`` in place (never raises the energy)."""
    n, k = unary.shape
    cu = np.empty(k)
    changed = True
    while changed:
        changed = False
        for i in range(n):
            _conditional(i, unary, ea, eb, vert, wp, deg, adj, lab, -1, cu)
            bx = lab[i]
            bv = np.inf
            for x in range(k):
                if cu[x] < bv - 1e-12:
                    bv = cu[x]
                    bx = x
            if bx != lab[i]:
                lab[i] = bx
                changed = True


@numba.njit(cache=True)
def _chains(unary, ea, eb, vert, wp, deg, adj, lab):
    """Exact moves of whole rows, then whole columns (``vert`` 0 / 1 chains), each given
    the rest of the labelling (Viterbi), repeated while the energy drops; ``lab`` in
    place; returns the energy."""
    n, k = unary.shape
    n_e = ea.shape[0]
    nxt = np.full((2, n), -1, np.int64)
    nxe = np.full((2, n), -1, np.int64)
    prv = np.full((2, n), -1, np.int64)
    for e in range(n_e):
        d = vert[e]
        if d > 1:
            continue
        nxt[d, ea[e]] = eb[e]
        nxe[d, ea[e]] = e
        prv[d, eb[e]] = ea[e]
    nodes = np.empty(n, np.int64)
    cost = np.empty((n, k))
    back = np.empty((n, k), np.int64)
    cu = np.empty(k)
    improved = True
    while improved:
        improved = False
        for d in range(2):
            for s in range(n):
                if prv[d, s] != -1 or nxt[d, s] == -1:
                    continue
                m = 0
                i = s
                while i != -1:
                    nodes[m] = i
                    m += 1
                    i = nxt[d, i]
                old = 0.0
                for t in range(m):
                    i = nodes[t]
                    # the chain's own edges are the Viterbi's; the rest is fixed
                    _conditional(i, unary, ea, eb, vert, wp, deg, adj, lab, d, cu)
                    old += cu[lab[i]]
                    if t == 0:
                        for x in range(k):
                            cost[0, x] = cu[x]
                        continue
                    e = nxe[d, nodes[t - 1]]
                    old += wp[e, lab[nodes[t - 1]], lab[i]]
                    for y in range(k):
                        bv = np.inf
                        bx = 0
                        for x in range(k):
                            v = cost[t - 1, x] + wp[e, x, y]
                            if v < bv:
                                bv = v
                                bx = x
                        cost[t, y] = cu[y] + bv
                        back[t, y] = bx
                best = np.inf
                y = 0
                for x in range(k):
                    if cost[m - 1, x] < best:
                        best = cost[m - 1, x]
                        y = x
                if best < old - 1e-9:
                    improved = True
                    for t in range(m - 1, -1, -1):
                        lab[nodes[t]] = y
                        y = back[t, y]
    return _energy(unary, ea, eb, wp, 1.0, lab)


def minimise(unary: np.ndarray, ea: np.ndarray, eb: np.ndarray, pair: np.ndarray,
             weight: float, *, vert: np.ndarray | None = None,
             iterations: int = DEFAULT_ITERATIONS,
             patience: int = DEFAULT_PATIENCE) -> tuple[np.ndarray, float, int]:
    """Minimise ``sum unary[i, x_i] + weight * sum_e pair[e, x_a, x_b]``: ``unary`` (n, K),
    edges ``ea < eb`` (E,), ``pair`` (E, K, K), ``vert`` (E,) the lattice direction of
    each edge (0 horizontal, 1 vertical; None: each edge its own chain). TRW-S, each
    pass decoded and improved by ICM and exact moves of whole rows and columns; stops
    after ``patience`` iterations without a lower energy. Returns ``(labels (n,) int64,
    energy, iterations)``. Ties go to the lower candidate index (with ``weight`` 0 every
    node takes its first minimum)."""
    unary = np.ascontiguousarray(unary, dtype=np.float64)
    n = unary.shape[0]
    lab = np.zeros(n, np.int64)
    if n == 0:
        return lab, 0.0, 0
    if weight < 0:
        raise BadInput(f"the CRF weight must be >= 0, got {weight}")
    ea = np.ascontiguousarray(ea, np.int64)
    vert = np.full(len(ea), 2, np.int64) if vert is None else \
        np.ascontiguousarray(vert, np.int64)
    e, it = _trws(unary, ea, np.ascontiguousarray(eb, np.int64), vert,
                  np.ascontiguousarray(pair, np.float64), float(weight), int(iterations),
                  int(patience), lab)
    return lab, float(e), int(it)


# ---------------------------------------------------------------------- restoring
def solve(cl: CandidateLists, method: str, weight: float, *,
          iterations: int = DEFAULT_ITERATIONS) -> tuple[np.ndarray, dict]:
    """The chosen candidate (index into the K-list) of each queried pixel, and
    ``{"energy", "energy_nearest", "iterations", "edges"}``."""
    ea, eb, vert = lattice_edges(cl.centers)
    unary = unary_costs(cl)
    pair = pairwise_costs(cl, ea, eb, vert, method)
    lab, e, it = minimise(unary, ea, eb, pair, weight, vert=vert, iterations=iterations)
    e0 = energy(unary, ea, eb, pair, weight, np.zeros(len(lab), np.int64))
    return lab, {"energy": e, "energy_nearest": e0, "iterations": it, "edges": int(len(ea))}


def labels_from_choice(raw: np.ndarray, cl: CandidateLists, choice: np.ndarray, *,
                       mask: np.ndarray | None = None, keep_silhouette: bool = True
                       ) -> np.ndarray:
    """``raw`` with each queried pixel of ``mask`` (default ``raw > 0``) set to the centre
    label of its chosen patch (with ``keep_silhouette`` a background centre, or a pixel
    without candidate, keeps the raw label)."""
    raw = np.asarray(raw, dtype=np.uint8)
    lab = raw.copy()
    if not len(cl.centers):
        return lab
    mask = raw > 0 if mask is None else np.asarray(mask, dtype=bool)
    c = cl.patches.shape[2] // 2
    rows = np.arange(len(choice))
    centre = cl.patches[rows, choice, c, c]
    ok = mask[cl.centers[:, 0], cl.centers[:, 1]] & (cl.ids[rows, choice] >= 0)
    if keep_silhouette:
        ok &= centre > 0
    lab[cl.centers[ok, 0], cl.centers[ok, 1]] = centre[ok]
    return lab


def restore_lists(raw: np.ndarray, cl: CandidateLists, method: str, weight: float, *,
                  mask: np.ndarray | None = None, keep_silhouette: bool = True,
                  settings: dict | None = None, seconds: float = 0.0) -> Restoration:
    """One map restored from its K-best lists (:func:`solve`, :func:`labels_from_choice`)."""
    t0 = time.perf_counter()
    choice, info = solve(cl, method, weight)
    labels = labels_from_choice(raw, cl, choice, mask=mask, keep_silhouette=keep_silhouette)
    rows = np.arange(len(choice))
    changed = (labels != raw).astype(np.float32)
    conf = np.zeros(raw.shape, np.float32)
    if len(cl.centers):
        conf[cl.centers[:, 0], cl.centers[:, 1]] = 1.0
    info["moved"] = int((choice > 0).sum())  # pixels not on their nearest patch
    info["changed"] = int(changed.sum())
    return Restoration(labels, conf, (conf > 0).astype(np.int32), cl.centers,
                       cl.ids[rows, choice] if len(rows) else np.zeros(0, np.int64),
                       cl.distances[rows, choice] if len(rows) else np.zeros(0, np.int64),
                       seconds + time.perf_counter() - t0, dict(settings or {}), info)


def crf_settings(method: str, weight: float, k: int, search: SearchParams,
                 keep_silhouette: bool) -> dict:
    return {"method": method, "crf_weight": float(weight), "k": int(k),
            "integrate": False, "backend": "annoy", "stride": 1,
            "n_candidates": search.n_candidates, "search_k": search.search_k,
            "propagate": search.propagate, "pool": search.pool, "centre": search.centre,
            "annoy_stride": search.annoy_stride, "keep_silhouette": keep_silhouette}


def restore_crf_many(label_maps: np.ndarray, dictionary: Dictionary, method: str,
                     weight: float, *, k: int = DEFAULT_K,
                     search: SearchParams = DEFAULT_SEARCH, masks: np.ndarray | None = None,
                     keep_silhouette: bool = True, batch: int = 16,
                     progress: ProgressFn | None = None, cancel=None) -> list[Restoration]:
    """Restore ``(N, S, S)`` predicted maps with the CRF ``method`` (``crf-potts`` or
    ``crf-overlap``) at pairwise ``weight``. Each :class:`.restore.Restoration` has the
    chosen patches as ``neighbours`` / ``distances``, its time (search share included)
    as ``seconds``, the settings (method and weight among them) and ``info`` (energy of
    the solution and of the nearest patches, TRW-S iterations, edges, pixels moved off
    their nearest patch)."""
    if method not in CRF_METHODS:
        raise ValueError(f"unknown CRF method {method!r} ({', '.join(CRF_METHODS)})")
    maps = validate_labels(np.asarray(label_maps), "predicted label map")
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"label maps must be (N, S, S), got {maps.shape}")
    if masks is not None and masks.shape != maps.shape:
        raise ValueError(f"masks {masks.shape} do not match label maps {maps.shape}")
    settings = crf_settings(method, weight, k, search, keep_silhouette)
    out: list[Restoration] = []
    for s in range(0, len(maps), batch):
        check_cancel(cancel)
        t0 = time.perf_counter()
        lists = candidate_lists(maps[s:s + batch], dictionary, search=search, k=k,
                                cancel=cancel)
        per_map = (time.perf_counter() - t0) / len(lists)
        for b, cl in enumerate(lists):
            mask = None if masks is None else masks[s + b]
            out.append(restore_lists(maps[s + b], cl, method, weight, mask=mask,
                                     keep_silhouette=keep_silhouette, settings=settings,
                                     seconds=per_map))
        if progress is not None:
            progress(min(len(maps), s + batch), len(maps), "restoring (CRF)")
    return out


# ---------------------------------------------------------------------- the weight
def heldout_maps(n: int = HELDOUT_MAPS, size: int = 48, seed: int = HELDOUT_SEED
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(clean, corrupted)`` ``(n, size, size)`` uint8: clean renders of ``seed`` and
    their :func:`.noise.corrupt_labels` copies (the kind of maps ``bench restore``
    measures on, from a seed it does not use)."""
    from ..render import render_crops
    from .noise import corrupt_labels

    clean = np.asarray(render_crops(n, size=size, style="clean", seed=seed)["labels"])
    return clean, corrupt_labels(clean, seed + 7)


def tune_weight(lists: list[CandidateLists], noisy: np.ndarray, clean: np.ndarray,
                method: str, grid: tuple[float, ...] | None = None, *,
                keep_silhouette: bool = True, cancel=None) -> tuple[float, list[dict]]:
    """The weight of ``grid`` (default :data:`WEIGHT_GRID`) whose restorations of ``noisy``
    (K-best ``lists`` precomputed) are most accurate against ``clean`` (per-pixel
    accuracy over the clean hand pixels, then per-class; ties to the smaller weight).
    Returns ``(weight, rows)``, one row per weight tried."""
    from ..evaluation import segmentation_accuracy

    grid = WEIGHT_GRID[method] if grid is None else tuple(grid)
    rows = []
    for w in grid:
        check_cancel(cancel)
        t = time.perf_counter()
        pred = np.stack([labels_from_choice(r, cl, solve(cl, method, w)[0],
                                            keep_silhouette=keep_silhouette)
                         for r, cl in zip(noisy, lists)])
        a = segmentation_accuracy(pred, clean)
        rows.append({"weight": float(w), "per_pixel": a.per_pixel, "per_class": a.per_class,
                     "ms_per_map": 1000 * (time.perf_counter() - t) / max(len(noisy), 1)})
    best = max(rows, key=lambda r: (round(r["per_pixel"], 9), round(r["per_class"], 9),
                                    -r["weight"]))
    return best["weight"], rows


def _dictionary_ident(dictionary: Dictionary) -> list:
    return [dictionary.meta.get(k) for k in ("created", "n_patches", "seed", "source")]


def weight_key(dictionary: Dictionary, method: str, k: int, search: SearchParams,
               keep_silhouette: bool, n_maps: int, seed: int) -> str:
    """What a tuned weight depends on (the cache key)."""
    ident = {"dictionary": _dictionary_ident(dictionary), "method": method, "k": k,
             "search": {kk: v for kk, v in asdict(search).items() if kk != "threads"},
             "keep_silhouette": keep_silhouette, "grid": list(WEIGHT_GRID[method]),
             "maps": n_maps, "seed": seed}
    return hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def tuned_weight(dictionary: Dictionary, method: str, cache: str | os.PathLike | None, *,
                 k: int = DEFAULT_K, search: SearchParams = DEFAULT_SEARCH,
                 keep_silhouette: bool = True, n_maps: int = HELDOUT_MAPS,
                 seed: int = HELDOUT_SEED, progress: ProgressFn | None = None,
                 cancel=None) -> tuple[float, dict]:
    """The pairwise weight of ``method`` for this dictionary and search, tuned on
    :func:`heldout_maps` by :func:`tune_weight`; read from the JSON file ``cache`` when
    it holds this key, else tuned and written there (atomically; None: not cached).
    Returns ``(weight, entry)``, the entry recording the rows of the tuning."""
    from ..fileio import write_json_atomic

    check_method(method)
    if method not in CRF_METHODS:
        raise ValueError(f"{method!r} has no pairwise weight")
    key = weight_key(dictionary, method, k, search, keep_silhouette, n_maps, seed)
    path = None if cache is None else Path(cache)
    stored: dict = {}
    if path is not None and path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise BadInput(f"{path}: unreadable CRF weight cache ({e}); delete it to "
                           "tune again") from None
        if key in stored:
            return float(stored[key]["weight"]), stored[key]
    if progress is not None:
        progress(0, 2, f"tuning the {method} weight on {n_maps} held-out synthetic maps")
    t0 = time.perf_counter()
    size = int(dictionary.meta.get("map_size") or 48)
    clean, noisy = heldout_maps(n_maps, size, seed)
    lists = candidate_lists(noisy, dictionary, search=search, k=k, cancel=cancel)
    if progress is not None:
        progress(1, 2, f"tuning the {method} weight")
    w, rows = tune_weight(lists, noisy, clean, method, keep_silhouette=keep_silhouette,
                          cancel=cancel)
    entry = {"weight": w, "method": method, "k": k, "maps": n_maps, "seed": seed,
             "rows": rows, "seconds": round(time.perf_counter() - t0, 1),
             "dictionary": str(dictionary.path), "tuned": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        stored[key] = entry
        write_json_atomic(path, stored)
    if progress is not None:
        progress(2, 2, f"{method} weight {w:g}")
    return w, entry


def project_weight_cache(project) -> Path:
    """Where a project keeps its tuned CRF weights."""
    return project.root / "cache" / "crf_weights.json"


# ---------------------------------------------------------------------- Table 2 rows
@dataclass
class CrfRows:
    """The CRF rows of Table 2 on some maps: ``maps[method]`` (N, S, S) restored maps,
    ``weights[method]``, ``ms_per_frame[method]`` (search and inference)."""

    maps: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    ms_per_frame: dict = field(default_factory=dict)


def crf_rows(raw: np.ndarray, dictionary: Dictionary, *, cache=None,
             methods: tuple[str, ...] = CRF_METHODS, search: SearchParams = DEFAULT_SEARCH,
             k: int = DEFAULT_K, progress: ProgressFn | None = None, cancel=None) -> CrfRows:
    """Restore ``raw`` ``(N, S, S)`` with each CRF method at its tuned weight
    (:func:`tuned_weight`, cached in ``cache``); the K-best search is done once for all
    methods. What ``evaluate --what restoration`` and the Evaluation tab add to Table 2."""
    out = CrfRows()
    for m in methods:
        out.weights[m], _ = tuned_weight(dictionary, m, cache, k=k, search=search,
                                         cancel=cancel)
    t0 = time.perf_counter()
    lists = candidate_lists(raw, dictionary, search=search, k=k, cancel=cancel)
    t_search = time.perf_counter() - t0
    for j, m in enumerate(methods):
        t = time.perf_counter()
        res = []
        for i, (r, cl) in enumerate(zip(raw, lists)):
            check_cancel(cancel)
            res.append(labels_from_choice(r, cl, solve(cl, m, out.weights[m])[0]))
            if progress is not None:
                progress(j * len(raw) + i + 1, len(methods) * len(raw), f"CRF ({m})")
        out.maps[m] = np.stack(res) if res else np.zeros_like(raw)
        out.ms_per_frame[m] = 1000 * (t_search + time.perf_counter() - t) / max(len(raw), 1)
    return out


def table2_rows(raw: np.ndarray, gt: np.ndarray, dictionary: Dictionary, *, cache=None,
                backend: str = "annoy", progress: ProgressFn | None = None,
                cancel=None) -> dict:
    """The CRF rows of Table 2 on predicted maps ``raw`` against ``gt`` (both (N, S, S)):
    ``{"rows": {row name: accuracy dict}, "crf": {method: {"weight", "ms_per_frame"}}}``
    (:func:`crf_rows`, weights tuned and cached in ``cache``). With ``backend`` other
    than annoy there are no K-best lists: no rows, and ``"crf"`` says why."""
    from ..evaluation import segmentation_accuracy

    if backend != "annoy":
        return {"rows": {}, "crf": {"skipped": f"the CRF takes its K nearest patches from the "
                                               f"annoy search, not {backend!r}"}}
    r = crf_rows(raw, dictionary, cache=cache, progress=progress, cancel=cancel)
    return {"rows": {ROW_NAMES[m]: segmentation_accuracy(r.maps[m], gt).to_dict()
                     for m in r.maps},
            "crf": {m: {"weight": r.weights[m], "ms_per_frame": round(r.ms_per_frame[m], 1)}
                    for m in r.maps}}
