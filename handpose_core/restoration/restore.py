"""Patchwise restoration of a predicted label map (the paper's f_nn, section 3.2).

For each queried pixel k (a hand pixel of the predicted map), the nearest dictionary
patch n(k) is found. With integration (equation 2), every queried neighbour k within a
``W x W`` window around pixel j votes for the label its patch holds at j's position,
``n(k)[c + (j - k)]``, and j takes the majority. Without integration, j takes the
centre label of its own patch (the paper's weak baseline). Voting is one ``bincount``
over (pixel, label) pairs.

By default the silhouette of the prediction is kept: inside the predicted hand,
background votes are not counted and only parts are relabelled (the depth crop, not the
label noise, decides what is hand); ``keep_silhouette=False`` lets background win too.
Queries can be subsampled on a grid (``stride``); the default queries every hand pixel,
as the paper does. How each variant scores on rendered crops with network-like noise:
docs/restoration.md. The search (annoy candidates, pooled over
neighbouring pixels, re-ranked, propagated) is described in :mod:`.dictionary`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numba
import numpy as np

from ..errors import BadInput
from ..parts import NUM_CLASSES, validate_labels
from ..progress import ProgressFn, check_cancel
from . import joint_prior
from .dictionary import Dictionary, SearchParams
from .patches import extract_patches, hand_pixels

DEFAULT_WINDOW = 17
DEFAULT_RAW_WEIGHT = 0.75
"""Prior of the integration vote for the raw label, as a share of the pixel's counted
votes (0: the paper's plain majority). Chosen on the demo's labelled train frames
(docs/restoration.md): with an f_s close to the dictionary's ceiling the plain vote
relabels more right pixels than wrong ones."""
DEFAULT_STRIDE = 1  # every hand pixel, as the paper (a 48x48 crop holds ~200)
DEFAULT_SCALE = "none"
"""``"none"``: the paper's restoration at the crop's own scale (the default);
``"hand"``: each map is zoomed about its hand's centroid so that its hand area matches
the median hand area of the dictionary's source maps before the search, and the votes
are mapped back (:func:`hand_zoom`). The crop cube is fixed in mm, so a person whose
hand is larger than the synthetic hand model's shows larger parts than the dictionary's
patches; on the new demo "hand" nevertheless lost to "none" (docs/restoration.md), so
it is an option, not the default."""
SCALE_LIMITS = (0.5, 2.0)  # zoom factors beyond these are clipped (a half-hidden hand)
DEFAULT_SEARCH = SearchParams()


@dataclass(frozen=True)
class Restoration:
    """A restored map.

    ``labels`` (S, S) uint8 restored part ids; ``confidence`` (S, S) float32 in [0, 1]:
    the winning label's share of the counted votes (background votes are not counted
    when the silhouette is kept; 0 where a pixel got no vote and kept its raw label);
    ``votes`` (S, S) int32 number of counted votes; ``centers`` (K, 2) the queried
    pixels (row, col), ``neighbours`` (K,) their dictionary patch ids, ``distances``
    (K,) match distance to them (label Hamming distance plus the search's ``centre``
    times the central distance); ``seconds`` wall time; ``settings`` what made it
    (``method`` and ``crf_weight`` for a CRF restoration, :mod:`.crf`); ``info``
    per-map details of a CRF (energy, iterations; empty for integration); ``zoom``
    ``(factor, row, col)`` when the search ran on the map zoomed by ``factor`` about
    (row, col) (:func:`hand_zoom`): ``centers`` are then pixels of the zoomed map.
    """

    labels: np.ndarray
    confidence: np.ndarray
    votes: np.ndarray
    centers: np.ndarray
    neighbours: np.ndarray
    distances: np.ndarray
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    zoom: tuple[float, float, float] | None = None

    @property
    def n_queries(self) -> int:
        return int(self.centers.shape[0])


def dictionary_hand_area(dictionary: Dictionary) -> float | None:
    """Median hand area (pixels with label > 0) of the dictionary's source maps (its
    first ``n_images`` maps); None for a dictionary stored as patches (no maps). Computed
    once per loaded dictionary."""
    cached = getattr(dictionary, "_hand_area", False)
    if cached is not False:
        return cached
    maps = getattr(dictionary.patches, "maps", None)
    area = None
    if maps is not None and len(maps):
        n = int(dictionary.meta.get("n_images", len(maps)) or len(maps))
        areas = np.concatenate([(np.asarray(maps[s:s + 4096]) > 0).sum(axis=(1, 2))
                                for s in range(0, min(n, len(maps)), 4096)])
        areas = areas[areas > 0]
        area = float(np.median(areas)) if len(areas) else None
    dictionary._hand_area = area
    return area


def hand_zoom(labels: np.ndarray, ref_area: float | None,
              limits: tuple[float, float] = SCALE_LIMITS) -> tuple[float, float, float] | None:
    """``(factor, row, col)``: the zoom about the hand's centroid (row, col) that gives
    the map's hand (label > 0) the area ``ref_area``, ``factor = sqrt(ref_area / area)``
    clipped to ``limits``; None without a hand, without ``ref_area``, or for a factor
    within 2 % of 1."""
    rr, cc = np.nonzero(np.asarray(labels) > 0)
    if ref_area is None or len(rr) == 0:
        return None
    f = float(np.clip(np.sqrt(ref_area / len(rr)), *limits))
    if abs(f - 1.0) < 0.02:
        return None
    return f, float(rr.mean()), float(cc.mean())


def _zoom_rows_cols(shape, zoom, forward: bool):
    f, r0, c0 = zoom
    k = 1.0 / f if forward else f
    r = np.rint(r0 + (np.arange(shape[0]) - r0) * k).astype(np.int64)
    c = np.rint(c0 + (np.arange(shape[1]) - c0) * k).astype(np.int64)
    return r, c


def zoom_map(labels: np.ndarray, zoom: tuple[float, float, float]) -> np.ndarray:
    """The map seen ``factor`` times larger about (row, col) (nearest neighbour): pixel
    x of the result shows ``labels`` at ``centre + (x - centre) / factor``; outside the
    map is background."""
    labels = np.asarray(labels)
    r, c = _zoom_rows_cols(labels.shape, zoom, True)
    ok = (r[:, None] >= 0) & (r[:, None] < labels.shape[0]) & (c[None] >= 0) & (c[None] < labels.shape[1])
    out = labels[np.clip(r, 0, labels.shape[0] - 1)[:, None], np.clip(c, 0, labels.shape[1] - 1)[None]]
    return np.where(ok, out, 0).astype(labels.dtype)


def unzoom(values: np.ndarray, zoom: tuple[float, float, float]) -> np.ndarray:
    """Per-pixel ``values`` ``(S, S, ...)`` of a zoomed map read back at the original
    map's pixels (pixel x reads ``centre + (x - centre) * factor``, clipped to the map)."""
    r, c = _zoom_rows_cols(values.shape[:2], zoom, False)
    return values[np.clip(r, 0, values.shape[0] - 1)[:, None], np.clip(c, 0, values.shape[1] - 1)[None]]


def vote(shape: tuple[int, int], centers: np.ndarray, patches: np.ndarray,
         window: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Integration votes: ``(S, S, 21)`` int32 counts (float32 sums with ``weights``).

    ``centers`` (K, 2) queried pixels, ``patches`` (K, P, P) their retrieved patches;
    neighbour k votes for pixel ``k + (dy, dx)``, ``|dy|, |dx| <= W // 2``, with
    ``patches[k][c + dy, c + dx]``; ``weights`` (K,) scales neighbour k's votes.
    """
    h, w = shape
    p = patches.shape[1]
    if window % 2 == 0 or window < 1 or window > p:
        raise BadInput(f"window must be odd and <= the patch size {p}, got {window}")
    r, c = window // 2, p // 2
    sub = patches[:, c - r:c + r + 1, c - r:c + r + 1]  # (K, W, W)
    off = np.arange(-r, r + 1)
    rows = centers[:, 0, None, None] + off[None, :, None]
    cols = centers[:, 1, None, None] + off[None, None, :]
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    flat = (rows * w + cols) * NUM_CLASSES + sub
    if weights is not None:
        wk = np.broadcast_to(np.asarray(weights, np.float64)[:, None, None], flat.shape)
        counts = np.bincount(flat[inside].ravel(), wk[inside].ravel(),
                             minlength=h * w * NUM_CLASSES)
        return counts.reshape(h, w, NUM_CLASSES).astype(np.float32)
    counts = np.bincount(flat[inside].ravel(), minlength=h * w * NUM_CLASSES)
    return counts.reshape(h, w, NUM_CLASSES).astype(np.int32)


def decide(raw: np.ndarray, counts: np.ndarray, mask: np.ndarray, *,
           keep_silhouette: bool = True, raw_weight: float = 0.0
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Majority label per pixel of ``mask``; ties go to the raw label, then the lowest id.
    ``raw_weight``: the raw label counts ``raw_weight`` times the pixel's counted votes
    more (0: the plain majority; >= 1: the raw label always stays).

    ``keep_silhouette``: background votes are not counted, so a hand pixel stays a hand
    pixel and only its part can change. Returns ``(labels uint8, confidence float32,
    votes int32)``: confidence is the winner's share of the counted votes.
    """
    if keep_silhouette:
        counts = counts.copy()
        counts[..., 0] = 0
    total = counts.sum(axis=2)
    # half a vote for the raw label breaks ties towards it and never beats a majority
    # (weighted votes: a tiny bonus, below any weight's difference that matters)
    bonus = 0.5 if np.issubdtype(counts.dtype, np.integer) else 1e-6
    score = counts.astype(np.float32)
    prior = bonus + raw_weight * total.astype(np.float32)
    np.put_along_axis(score, raw[..., None].astype(np.int64),
                      np.take_along_axis(score, raw[..., None].astype(np.int64), 2)
                      + prior[..., None], 2)
    win = np.argmax(score, axis=2).astype(np.uint8)
    change = mask & (total > 0)
    labels = np.where(change, win, raw).astype(np.uint8)
    conf = np.zeros(raw.shape, np.float32)
    best = np.take_along_axis(counts, win[..., None].astype(np.int64), 2)[..., 0]
    conf[change] = best[change] / total[change]
    return labels, conf, total.astype(np.int32)


@numba.njit(cache=True)
def _pool_kernel(cand, frame, centers, qmap, where, sources, radius, stride, out):
    """out[j] = the candidates of j's queried grid neighbours k (offsets up to
    ``radius`` grid steps, k = j included), each shifted in its source map by j - k."""
    n_q, n_c = cand.shape
    size = qmap.shape[1]
    src_size = where.shape[1]
    for j in range(n_q):
        col = 0
        for gr in range(-radius, radius + 1):
            for gc in range(-radius, radius + 1):
                dr = gr * stride
                dc = gc * stride
                kr = centers[j, 0] - dr
                kc = centers[j, 1] - dc
                k = -1
                if kr >= 0 and kr < size and kc >= 0 and kc < size:
                    k = qmap[frame[j], kr, kc]
                for t in range(n_c):
                    v = -1
                    if k >= 0:
                        i = cand[k, t]
                        if i >= 0:
                            sr = sources[i, 1] + dr
                            sc = sources[i, 2] + dc
                            if sr >= 0 and sr < src_size and sc >= 0 and sc < src_size:
                                v = where[sources[i, 0], sr, sc]
                    out[j, col] = v
                    col += 1


def pool_candidates(dictionary: Dictionary, cand: np.ndarray, frame: np.ndarray,
                    centers: np.ndarray, size: int, stride: int, radius: int) -> np.ndarray:
    """Each query's candidates plus its neighbours', shifted (PatchMatch-style).

    If queried pixel k has candidate patch i, centred on pixel x of source map I, the
    patch centred on ``x + (j - k)`` of I (when the dictionary holds it) is a candidate
    for pixel j: the same piece of hand seen one step over. ``cand`` ``(Q, C)`` ids
    (-1: none), ``frame`` (Q,) the map each query belongs to, ``centers`` (Q, 2) its
    pixel in an ``size x size`` map, ``stride`` the query grid step, ``radius`` the
    neighbourhood in grid steps. Returns ``(Q, (2 radius + 1)^2 * C)`` ids (-1: none;
    duplicates kept), the query's own candidates among them; ``cand`` itself if the
    dictionary has no source maps (``where.npy``) or ``radius`` is 0.
    """
    where, sources = dictionary.where, dictionary.sources
    if where is None or sources is None or radius <= 0 or len(cand) == 0:
        return cand
    frame = np.ascontiguousarray(frame, dtype=np.int64)
    centers = np.ascontiguousarray(centers, dtype=np.int64)
    qmap = np.full((int(frame.max()) + 1, size, size), -1, dtype=np.int64)
    qmap[frame, centers[:, 0], centers[:, 1]] = np.arange(len(cand))
    out = np.empty((len(cand), (2 * radius + 1) ** 2 * cand.shape[1]), dtype=np.int64)
    _pool_kernel(np.ascontiguousarray(cand, dtype=np.int64), frame, centers, qmap,
                 np.asarray(where), np.asarray(sources), int(radius), int(stride), out)
    return out


def annoy_rows(frame: np.ndarray, centers: np.ndarray, size: int, stride: int, every: int,
               radius: int) -> np.ndarray:
    """Which queries annoy is asked for (bool ``(Q,)``): those on every ``every``-th
    row and column of the query grid (step ``stride``), plus any query with none of
    those within ``radius`` grid steps, so that pooling reaches every query.
    ``every`` 1 or ``radius`` 0: all of them."""
    n = len(centers)
    if every <= 1 or radius <= 0 or n == 0:
        return np.ones(n, dtype=bool)
    g = np.asarray(centers, dtype=np.int64) // max(1, stride)
    ask = (g[:, 0] % every == 0) & (g[:, 1] % every == 0)
    frame = np.asarray(frame, dtype=np.int64)
    # covered[f, r, c]: an asked query lies within radius grid steps of pixel (r, c)
    seeds = np.zeros((int(frame.max()) + 1, size, size), dtype=bool)
    seeds[frame[ask], centers[ask, 0], centers[ask, 1]] = True
    covered = np.zeros_like(seeds)
    span = radius * stride
    for dr in range(-span, span + 1, stride):
        for dc in range(-span, span + 1, stride):
            src = seeds[:, max(0, -dr):size - max(0, dr), max(0, -dc):size - max(0, dc)]
            covered[:, max(0, dr):size - max(0, -dr), max(0, dc):size - max(0, -dc)] |= src
    return ask | ~covered[frame, centers[:, 0], centers[:, 1]]


def search_candidates(dictionary: Dictionary, queries: np.ndarray, frame: np.ndarray,
                      centers: np.ndarray, size: int, stride: int, search: SearchParams
                      ) -> np.ndarray:
    """The pooled annoy candidates of every query ``(Q, P, P)``: annoy is asked for the
    queries :func:`annoy_rows` picks (``search.annoy_stride``), then
    :func:`pool_candidates` spreads them to their neighbours within ``search.pool``
    grid steps; a query that pooling leaves without any candidate is asked too. Returns
    ``(Q, C')`` ids, -1 for none."""
    pooling = dictionary.where is not None and dictionary.sources is not None \
        and search.pool > 0
    ask = annoy_rows(frame, centers, size, stride,
                     search.annoy_stride if pooling else 1, search.pool)
    if ask.all():
        cand = dictionary.candidates(queries, search)
        return pool_candidates(dictionary, cand, frame, centers, size, stride, search.pool)
    cand = np.full((len(queries), search.n_candidates), -1, dtype=np.int64)
    cand[ask] = dictionary.candidates(queries[ask], search)
    pooled = pool_candidates(dictionary, cand, frame, centers, size, stride, search.pool)
    # a neighbour's candidates shifted onto a pixel exist only where the dictionary kept
    # the shifted patch (it samples): a query left with none asks annoy itself
    empty = (pooled < 0).all(axis=1)
    if empty.any():
        pooled[empty, :search.n_candidates] = dictionary.candidates(queries[empty], search)
    return pooled


def propagate(dictionary: Dictionary, queries: np.ndarray, frame: np.ndarray,
              centers: np.ndarray, ids: np.ndarray, dist: np.ndarray, stride: int,
              rounds: int, size: int, centre: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Refine matches with their neighbours' (PatchMatch-style propagation).

    Each round re-ranks every query's match against its 8 grid neighbours' current
    matches, shifted as in :func:`pool_candidates`, by :func:`.patches.match_key`, so
    distances never grow. ``frame`` (Q,) says which map each query belongs to,
    ``centers`` (Q, 2) its pixel, ``size`` the map side.
    """
    if dictionary.where is None or dictionary.sources is None or rounds <= 0 \
            or len(ids) == 0:
        return ids, dist
    for _ in range(rounds):
        cand = pool_candidates(dictionary, ids[:, None], frame, centers, size, stride, 1)
        new_ids, dist = dictionary.rerank(queries, cand, centre=centre)
        if np.array_equal(new_ids, ids):
            break
        ids = new_ids
    return ids, dist


def apply_matches(raw: np.ndarray, centers: np.ndarray, neighbour_patches: np.ndarray, *,
                  window: int = DEFAULT_WINDOW, integrate: bool = True,
                  mask: np.ndarray | None = None, keep_silhouette: bool = True,
                  vote_weights: np.ndarray | None = None, raw_weight: float = 0.0,
                  zoom: tuple[float, float, float] | None = None,
                  log_prior: np.ndarray | None = None, prior_weight: float = 0.0,
                  prior_eps: float = 0.5, silhouette: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Restore ``raw`` (S, S) from the patches ``(K, P, P)`` matched at ``centers``.

    With integration, the W x W vote of :func:`vote` and the majority of :func:`decide`;
    without, each queried pixel takes its patch's centre label (with
    ``keep_silhouette``, a background centre leaves the raw label). Only pixels of
    ``mask`` (default ``raw > 0``) change. ``vote_weights`` (K,): each match's vote
    weight (default 1); ``raw_weight`` the raw label's prior (:func:`decide`). ``zoom``
    (:func:`hand_zoom`): ``centers`` are pixels of the zoomed map; the votes (or centre
    labels) are cast there and read back at ``raw``'s pixels (:func:`unzoom`).
    ``log_prior`` ``(S, S, 21)`` with integration: the votes are combined with this
    per-(pixel, part) log-prior (the joint prior, :func:`.joint_prior.combine`, weight
    ``prior_weight``, floor ``prior_eps``) instead of the majority; the silhouette is
    kept unless ``silhouette`` ``(S, S)`` bool gives the hand mask
    (:func:`.joint_prior.joint_silhouette`). Returns ``(labels, confidence, votes)``.
    """
    raw = np.asarray(raw, dtype=np.uint8)
    mask = raw > 0 if mask is None else np.asarray(mask, dtype=bool)
    if log_prior is not None and integrate:
        counts = vote(raw.shape, centers, neighbour_patches, window, vote_weights) \
            if len(centers) else np.zeros((*raw.shape, NUM_CLASSES), np.int32)
        if zoom is not None and len(centers):
            counts = unzoom(counts, zoom)
        return joint_prior.combine(raw, counts, log_prior, mask, raw_weight=raw_weight,
                                   weight=prior_weight, eps=prior_eps, silhouette=silhouette)
    if len(centers) == 0:
        return raw.copy(), np.zeros(raw.shape, np.float32), np.zeros(raw.shape, np.int32)
    if integrate:
        counts = vote(raw.shape, centers, neighbour_patches, window, vote_weights)
        if zoom is not None:
            counts = unzoom(counts, zoom)
        return decide(raw, counts, mask, keep_silhouette=keep_silhouette,
                      raw_weight=raw_weight)
    c = neighbour_patches.shape[1] // 2
    if zoom is not None:
        centre_lab = np.zeros(raw.shape, np.int16)  # -1 background centre, 0 no query
        centre_lab[centers[:, 0], centers[:, 1]] = np.where(
            neighbour_patches[:, c, c] > 0, neighbour_patches[:, c, c], -1)
        back = unzoom(centre_lab, zoom)
        ok = mask & (back != 0)
        if keep_silhouette:
            ok &= back > 0
        lab = raw.copy()
        lab[ok] = np.maximum(back[ok], 0).astype(np.uint8)
        conf = ok.astype(np.float32)
        return lab, conf, ok.astype(np.int32)
    lab = raw.copy()
    ok = mask[centers[:, 0], centers[:, 1]]
    if keep_silhouette:
        ok &= neighbour_patches[:, c, c] > 0
    lab[centers[ok, 0], centers[ok, 1]] = neighbour_patches[ok, c, c]
    conf = np.zeros(raw.shape, np.float32)
    conf[centers[ok, 0], centers[ok, 1]] = 1.0
    return lab, conf, (conf > 0).astype(np.int32)


def restore(labels: np.ndarray, dictionary: Dictionary, *, window: int = DEFAULT_WINDOW,
            integrate: bool = True, backend: str = "annoy", stride: int = DEFAULT_STRIDE,
            mask: np.ndarray | None = None, keep_silhouette: bool = True,
            search: SearchParams = DEFAULT_SEARCH, device: str | None = None,
            raw_weight: float = DEFAULT_RAW_WEIGHT, scale: str = DEFAULT_SCALE) -> Restoration:
    """Restore one predicted label map ``(S, S)`` uint8 with ``dictionary``.

    ``backend``: ``"annoy"`` (approximate, re-ranked) or ``"exact"`` (brute force,
    ``device`` as in :func:`.exact.exact_nearest`). ``stride``: query every stride-th
    hand pixel on a grid (integration only; without integration every hand pixel is
    queried). ``mask`` (S, S) bool: pixels that may change (default: the predicted hand,
    ``labels > 0``); outside it nothing changes. ``keep_silhouette`` (default): hand
    pixels keep being hand and only their part changes (background votes are ignored);
    False lets background win the vote too. ``raw_weight``: the raw label's prior in
    the vote (:func:`decide`; 0 is the paper's plain majority). ``scale``
    (:data:`DEFAULT_SCALE`): ``"hand"`` searches the map zoomed to the dictionary's hand
    size, ``"none"`` at its own scale. A map without hand pixels is returned unchanged.
    """
    return restore_many(np.asarray(labels)[None], dictionary, window=window,
                        integrate=integrate, backend=backend, stride=stride,
                        masks=None if mask is None else np.asarray(mask)[None],
                        keep_silhouette=keep_silhouette, search=search, device=device,
                        raw_weight=raw_weight, scale=scale)[0]


def restore_many(label_maps: np.ndarray, dictionary: Dictionary, *,
                 window: int = DEFAULT_WINDOW, integrate: bool = True, backend: str = "annoy",
                 stride: int = DEFAULT_STRIDE, masks: np.ndarray | None = None,
                 keep_silhouette: bool = True, search: SearchParams = DEFAULT_SEARCH,
                 device: str | None = None, raw_weight: float = DEFAULT_RAW_WEIGHT,
                 scale: str = DEFAULT_SCALE, batch: int = 16, progress: ProgressFn | None = None, cancel=None,
                 log_priors: np.ndarray | None = None,
                 prior_weight: float = joint_prior.DEFAULT_WEIGHT,
                 prior_eps: float = joint_prior.DEFAULT_EPS,
                 silhouettes: np.ndarray | None = None
                 ) -> list[Restoration]:
    """:func:`restore` for ``(N, S, S)`` maps; queries of ``batch`` maps go to the
    search together. Raises ``Cancelled`` between batches when ``cancel`` is set.
    ``log_priors`` ``(N, S, S, 21)``: each map's joint log-prior, combined with its
    integration votes (:func:`apply_matches`; the ``joint-prior`` restoration), and
    ``silhouettes`` ``(N, S, S)`` bool, with them, each map's hand mask."""
    maps = np.asarray(label_maps)
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"label maps must be (N, S, S), got {maps.shape}")
    maps = validate_labels(maps, "predicted label map")
    if scale not in ("hand", "none"):
        raise ValueError(f"unknown restoration scale {scale!r} (hand, none)")
    if backend not in ("annoy", "exact"):
        raise BadInput(f"unknown restoration backend {backend!r} (annoy, exact)")
    if integrate and (window % 2 == 0 or window > dictionary.patch):
        raise BadInput(f"window must be odd and <= the patch size {dictionary.patch}, "
                       f"got {window}")
    if masks is not None and masks.shape != maps.shape:
        raise ValueError(f"masks {masks.shape} do not match label maps {maps.shape}")
    if log_priors is not None and np.shape(log_priors) != (*maps.shape, NUM_CLASSES):
        raise ValueError(f"log priors {np.shape(log_priors)} do not match label maps "
                         f"{maps.shape} (N, S, S, {NUM_CLASSES} expected)")
    q_stride = stride if integrate else 1
    settings = {"window": window, "integrate": integrate, "backend": backend,
                "stride": q_stride, "n_candidates": search.n_candidates,
                "search_k": search.search_k, "propagate": search.propagate,
                "pool": search.pool, "centre": search.centre,
                "annoy_stride": search.annoy_stride,
                "keep_silhouette": keep_silhouette, "raw_weight": raw_weight,
                "scale": scale}
    if silhouettes is not None and (log_priors is None or np.shape(silhouettes) != maps.shape):
        raise ValueError(f"silhouettes {np.shape(silhouettes)} need log priors and the label "
                         f"maps' shape {maps.shape}")
    if log_priors is not None:
        settings.update(prior_weight=prior_weight, prior_eps=prior_eps,
                        joint_silhouette=silhouettes is not None)
    ref_area = dictionary_hand_area(dictionary) if scale == "hand" else None
    out: list[Restoration] = []
    n = maps.shape[0]
    for s in range(0, n, batch):
        check_cancel(cancel)
        t0 = time.perf_counter()
        block = maps[s:s + batch]
        zooms = [hand_zoom(m, ref_area) for m in block]
        qblock = np.stack([m if z is None else zoom_map(m, z) for m, z in zip(block, zooms)])
        centers = [hand_pixels(m, q_stride) for m in qblock]
        counts = np.array([len(c) for c in centers])
        img = np.repeat(np.arange(len(block)), counts)
        allc = np.concatenate(centers) if counts.sum() else np.zeros((0, 2), np.int64)
        queries = extract_patches(qblock, allc, dictionary.patch, img)
        if backend == "annoy":
            cand = search_candidates(dictionary, queries, img, allc, maps.shape[1],
                                     q_stride, search)
            ids, dist = dictionary.rerank(queries, cand, centre=search.centre)
            ids, dist = propagate(dictionary, queries, img, allc, ids, dist, q_stride,
                                  search.propagate, maps.shape[1], search.centre)
        else:
            ids, dist = dictionary.search_exact(queries, device=device, centre=search.centre,
                                                cancel=cancel)
        uids = np.unique(ids)  # sorted: one ordered gather from the memmap
        found = np.asarray(dictionary.patches[uids])
        per_map = (time.perf_counter() - t0) / len(block)
        starts = np.concatenate([[0], np.cumsum(counts)])
        for b, raw in enumerate(block):
            t1 = time.perf_counter()
            sl = slice(starts[b], starts[b + 1])
            c, i_, d_ = centers[b], ids[sl], dist[sl]
            mask = raw > 0 if masks is None else np.asarray(masks[s + b], dtype=bool)
            nb = found[np.searchsorted(uids, i_)] if len(c) else \
                np.zeros((0, dictionary.patch, dictionary.patch), np.uint8)
            lab, conf, votes = apply_matches(raw, c, nb, window=window, integrate=integrate,
                                             mask=mask, keep_silhouette=keep_silhouette,
                                             raw_weight=raw_weight, zoom=zooms[b],
                                             log_prior=None if log_priors is None
                                             else log_priors[s + b],
                                             prior_weight=prior_weight, prior_eps=prior_eps,
                                             silhouette=None if silhouettes is None
                                             else silhouettes[s + b])
            out.append(Restoration(lab, conf, votes, c, i_, d_,
                                   per_map + time.perf_counter() - t1, settings,
                                   zoom=zooms[b]))
        if progress is not None:
            progress(min(n, s + batch), n, "restoring")
    return out
