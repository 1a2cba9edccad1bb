"""``handpose-studio bench restore``: patchwise restoration speed and annoy-vs-exact.

Data: the dictionary is built from label maps of the synthetic renderer (clean 48x48
crops of a 300 mm cube, one seed); the queries are maps of *another* seed, corrupted
with :func:`~handpose_core.restoration.noise.corrupt_labels` (confusion blobs between
neighbouring parts, a ragged silhouette, 2 % stray pixels) to look like a network's
prediction. ``--store DIR`` takes the maps from a synthetic store instead (dictionary
from the first maps, queries from the last ones).

Reported, with the default restoration (P = 27, W = 17, every hand pixel queried,
silhouette kept): build time, index and patch sizes, load time (median of 5), ms per
frame (median, one frame at a time, after warm-up); on ``--exact-frames`` frames the
pixel agreement of annoy restorations with exact ones (over the predicted hand pixels),
the fraction of queries where annoy found a patch as close as the exact nearest, and
the mean excess label Hamming distance of annoy's patch over the exact one. Then a
search trade-off table against the same exact matches, accuracy against the clean
ground truth (raw / restored / variants), and on a smaller dictionary
(``--sub-patches``) the effect of the encoding, the tree count and the query stride.
The CRF restorations (:mod:`handpose_core.restoration.crf`, ``--no-crf`` skips them):
each method's pairwise weight tuned on held-out maps (clean renders of another seed,
corrupted the same way), then its time per frame (median, one frame at a time: K-best
search and inference) and accuracy on the same query maps beside integration's.
The search before issue 25's defaults (:data:`BEFORE_SEARCH`) and today's are timed
interleaved, frame by frame, on the same query maps (the before / after row).
Targets (this CPU): <= 100 ms per frame, >= 97 % agreement, load <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ..cli._dispatch import check_positive

TARGET_MS = 100.0
TARGET_AGREE = 0.97
TARGET_LOAD_S = 1.0
BEFORE_SEARCH = {"n_candidates": 64, "search_k": 8000, "pool": 2, "annoy_stride": 1}
"""The default search until issue 25 (the before/after row times it against today's)."""
PREVIOUS_SEARCH = {"n_candidates": 32, "search_k": 2000, "pool": 3, "annoy_stride": 1}
"""The default search between issue 25's two steps (timed interleaved too)."""
TRADEOFF_ROWS = ((16, 1000, 8, 2, 1), (16, 1000, 8, 4, 1), (32, 1000, 8, 3, 1),
                 (32, 1000, 8, 4, 1), (32, 2000, 8, 3, 1), (32, 2000, 8, 3, 2),
                 (32, 4000, 8, 3, 1), (64, 8000, 8, 2, 1), (64, 8000, 8, 2, 3),
                 (64, 8000, 0, 0, 1))
"""The search trade-off table's rows: candidates, search_k, propagation rounds, pool
radius, annoy_stride."""


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--images", type=int, default=5400,
                        help="label maps rendered for the dictionary (default 5400: ~1.07 M "
                        "hand pixels)")
    parser.add_argument("--patches", type=int, default=1_000_000,
                        help="dictionary size in patches (default 1,000,000)")
    parser.add_argument("--frames", type=int, default=20, help="timed query frames")
    parser.add_argument("--exact-frames", type=int, default=8,
                        help="frames also restored with exact search (~15-30 s each at 1 M)")
    parser.add_argument("--sub-patches", type=int, default=200_000,
                        help="dictionary size for the encoding / trees / stride comparison "
                        "(0 skips it)")
    parser.add_argument("--store", default=None, help="take label maps from this synthetic store")
    parser.add_argument("--out", default=None,
                        help="keep the dictionary in this folder (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --out: load the dictionary a previous run left there "
                        "(same maps and size) instead of building it again")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoding", default=None,
                        help="patch encoding of the main dictionary (default: the dictionary's)")
    parser.add_argument("--crf", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the CRF restorations (crf-potts, crf-overlap)")
    parser.add_argument("--crf-tune-maps", type=int, default=24,
                        help="held-out maps the CRF weights are tuned on")


def _maps(args, n_dict: int, n_query: int):
    if args.store:
        from handpose_core.datasets.synthetic import SyntheticStore

        st = SyntheticStore.open(args.store)
        if len(st) < n_dict + n_query:
            raise SystemExit(f"{args.store}: {len(st)} maps, need {n_dict + n_query}")
        return (st.labels[:n_dict], np.asarray(st.labels[len(st) - n_query:]),
                f"store {args.store}")
    from handpose_core.render import render_crops

    return (render_crops(n_dict, size=48, style="clean", seed=args.seed + 1)["labels"],
            render_crops(n_query, size=48, style="clean", seed=args.seed + 1000)["labels"],
            f"render_crops(style='clean'), seeds {args.seed + 1} / {args.seed + 1000}")


def _reused(args, folder: Path, n_maps: int, source: str):
    """The dictionary a previous run left in ``folder`` when ``--reuse`` asks for it
    and it was built the way this run would build it; None otherwise."""
    if not (args.reuse and args.out and (folder / "meta.json").exists()):
        return None
    from handpose_core.restoration import Dictionary

    d = Dictionary.load(folder)
    m = d.meta
    same = (m.get("n_images") == n_maps and m.get("source") == source
            and m.get("n_patches") == min(args.patches, m.get("n_unique") or 0)
            and m.get("seed") == args.seed and args.encoding is None)
    if not same:
        print(f"{folder}: built from other maps or settings; building anew", file=sys.stderr)
        return None
    return d


def _rss_mb() -> dict:
    """This process's resident memory now and at its peak (MB, Linux /proc; {} elsewhere)."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out["now" if line.startswith("VmRSS") else "peak"] = round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return out


def _loadavg() -> str:
    """The 1-minute load average (Linux /proc/loadavg; '' elsewhere)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except (OSError, IndexError):
        return ""


def _agreement(a, b, masks) -> list[float]:
    return [float((x == y)[m].mean()) for x, y, m in zip(a, b, masks)]


def _exact_matches(d, noisy, approx) -> list:
    """Exact nearest patches for the queries of each annoy restoration ``approx``; the
    annoy distances bound the search (same result, less work)."""
    from handpose_core.restoration import extract_patches

    out = []
    for raw, r in zip(noisy, approx):
        q = extract_patches(raw, r.centers, d.patch)
        out.append(d.search_exact(q, bound=r.distances, centre=r.settings["centre"]))
    return out


def _maps_from(d, noisy, approx, matches, keep_silhouette=True) -> list:
    from handpose_core.restoration.restore import apply_matches

    return [apply_matches(raw, r.centers, np.asarray(d.patches[ids]),
                          window=r.settings["window"], keep_silhouette=keep_silhouette,
                          raw_weight=r.settings["raw_weight"])[0]
            for raw, r, (ids, _) in zip(noisy, approx, matches)]


def _cpu_s() -> float:
    """This process's CPU time so far (user + system, all threads), seconds."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(d, frames, cpu: list | None = None, **kw):
    """Median wall ms per frame and the restorations; ``cpu`` (a list) receives each
    frame's CPU seconds."""
    from handpose_core.restoration import restore_many

    times, res = [], []
    for raw in frames:
        t, c = time.perf_counter(), _cpu_s()
        res.append(restore_many(raw[None], d, **kw)[0])
        times.append(time.perf_counter() - t)
        if cpu is not None:
            cpu.append(_cpu_s() - c)
    return 1000 * statistics.median(times), res


def _compare(res, exact_maps, matches, masks) -> dict:
    ne = len(exact_maps)
    ad = np.concatenate([r.distances for r in res[:ne]])
    ed = np.concatenate([m[1] for m in matches])
    agree = _agreement([r.labels for r in res[:ne]], exact_maps, masks[:ne])
    return {"agreement": float(np.mean(agree)), "agreement_min": float(np.min(agree)),
            "recall": float(np.mean(ad == ed)), "excess_hamming": float(np.mean(ad - ed)),
            "mean_exact_hamming": float(np.mean(ed))}


def run(args) -> int:

    if not check_positive(args, "bench restore", "images", "patches", "frames"):
        return 2

    from handpose_core.evaluation import segmentation_accuracy
    from handpose_core.restoration import Dictionary, SearchParams, restore_many
    from handpose_core.restoration.dictionary import DEFAULT_ENCODING, DEFAULT_N_TREES
    from handpose_core.restoration.noise import LabelNoise, corrupt_labels
    from handpose_core.restoration.restore import DEFAULT_STRIDE, DEFAULT_WINDOW

    def say(*a):
        if not args.json:
            print(*a, flush=True)

    def err(*a):
        print(*a, file=sys.stderr, flush=True)

    default = SearchParams()
    res: dict = {"window": DEFAULT_WINDOW, "patch": 27, "stride": DEFAULT_STRIDE,
                 "encoding": args.encoding or DEFAULT_ENCODING, "n_trees": DEFAULT_N_TREES,
                 "search": asdict(default), "keep_silhouette": True}
    n_frames = max(args.frames, args.exact_frames, 1)
    t = time.perf_counter()
    dict_maps, gt, source = _maps(args, args.images, n_frames + 2)
    noisy = corrupt_labels(gt, args.seed + 7)
    masks = noisy > 0
    res["data"] = {"source": source, "dictionary_maps": int(len(dict_maps)),
                   "query_maps": int(len(gt)), "noise": asdict(LabelNoise()),
                   "hand_pixels_per_query": float(masks.sum((1, 2)).mean()),
                   "seconds": round(time.perf_counter() - t, 1)}
    say(f"data: {source}; {len(dict_maps)} dictionary maps, {len(gt)} query maps with "
        f"{res['data']['hand_pixels_per_query']:.0f} hand pixels on average, corrupted by "
        f"corrupt_labels ({res['data']['seconds']} s)")

    tmp = None if args.out else tempfile.TemporaryDirectory(prefix="bench-restore-")
    root = Path(args.out or tmp.name)
    try:
        # ---- build, size, load
        d = _reused(args, root / "dictionary", len(dict_maps), source)
        if d is None:
            err("building the dictionary ...")
            t = time.perf_counter()
            d = Dictionary.build(dict_maps, root / "dictionary", max_patches=args.patches,
                                 seed=args.seed, source=source,
                                 encoding=args.encoding or DEFAULT_ENCODING)
            build_s = time.perf_counter() - t
        else:
            build_s = float(d.meta["build_seconds"])
            err(f"reusing the dictionary in {root / 'dictionary'}")
        sizes = d.disk_bytes()
        loads = []
        for _ in range(5):
            t = time.perf_counter()
            d = Dictionary.load(root / "dictionary")
            loads.append(time.perf_counter() - t)
        res["dictionary"] = {"patches": len(d), "extracted": d.meta["n_extracted"],
                             "unique": d.meta["n_unique"], "build_s": round(build_s, 2),
                             "index_s": d.meta["index_seconds"],
                             "maps": d.meta["n_images"], "reused": bool(args.reuse and
                                                                       build_s == d.meta["build_seconds"]),
                             "files_mb": {k: round(v / 2**20, 1) for k, v in sizes.items()},
                             "disk_mb": round(sum(sizes.values()) / 2**20, 1),
                             "load_s": statistics.median(loads)}
        r = res["dictionary"]
        say(f"dictionary: {r['patches']:,} patches ({r['unique']:,} unique of "
            f"{r['extracted']:,} hand pixels of {r['maps']:,} maps), build {r['build_s']} s "
            f"(trees {r['index_s']} s), {r['disk_mb']} MB on disk ("
            + ", ".join(f"{k} {v} MB" for k, v in r["files_mb"].items())
            + f"), load {1000 * r['load_s']:.1f} ms (median of 5)")

        # ---- speed, and agreement with exact search
        restore_many(noisy[-2:], d)  # warm-up: page in the index, compile numba kernels
        query = noisy[:n_frames]
        ne = min(args.exact_frames, n_frames)
        cpu_main: list = []
        ms, approx = _timed(d, query, cpu_main)
        rss_mb = _rss_mb()
        err(f"exact search on {ne} frames ...")
        t = time.perf_counter()
        matches = _exact_matches(d, query[:ne], approx[:ne])
        exact_s = (time.perf_counter() - t) / max(ne, 1)
        exact_maps = _maps_from(d, query[:ne], approx[:ne], matches)
        res["restore"] = {"ms_per_frame": ms, "frames": len(query), "exact_frames": ne,
                          "cpu_ms_per_frame": 1000 * statistics.median(cpu_main),
                          "load_avg": _loadavg(),
                          "queries_per_frame": float(np.mean([a.n_queries for a in approx])),
                          "exact_s_per_frame": round(exact_s, 1), "rss_mb": rss_mb,
                          **_compare(approx, exact_maps, matches, masks)}
        r = res["restore"]
        say(f"restore (annoy; P=27, W=17, stride {DEFAULT_STRIDE}, {default.n_candidates} "
            f"candidates, search_k {default.search_k}, pool {default.pool}, "
            f"propagate {default.propagate}, annoy_stride {default.annoy_stride}, "
            f"{default.threads} threads): {r['ms_per_frame']:.1f} ms/frame (median of "
            f"{len(query)}; CPU {r['cpu_ms_per_frame']:.1f} ms/frame, load {r['load_avg']}), "
            f"{r['queries_per_frame']:.0f} queries/frame, resident memory "
            f"{r['rss_mb']} MB")
        say(f"annoy vs exact on {ne} frames: pixel agreement {100 * r['agreement']:.2f} % "
            f"(min {100 * r['agreement_min']:.2f} %), exact-distance recall "
            f"{100 * r['recall']:.1f} %, excess Hamming {r['excess_hamming']:.2f} "
            f"(exact nearest at {r['mean_exact_hamming']:.1f} of 729); exact search "
            f"{r['exact_s_per_frame']} s/frame")

        # ---- before / after: the default search until issue 25 against today's,
        # interleaved frame by frame on the same frames
        # (and the default between issue 25's two steps), in turns on the same frames
        searches = {"before": replace(default, **BEFORE_SEARCH),
                    "previous": replace(default, **PREVIOUS_SEARCH), "after": default}
        names = list(searches)
        walls: dict = {n: [] for n in names}
        cpus: dict = {n: [] for n in names}
        outs: dict = {n: [] for n in names}
        for i, raw in enumerate(query):
            for n in names[i % len(names):] + names[:i % len(names)]:
                t, c = time.perf_counter(), _cpu_s()
                outs[n].append(restore_many(raw[None], d, search=searches[n])[0])
                walls[n].append(time.perf_counter() - t)
                cpus[n].append(_cpu_s() - c)
        ba = {n: {"search": asdict(searches[n]),
                  "ms_per_frame": 1000 * statistics.median(walls[n]),
                  "cpu_ms_per_frame": 1000 * statistics.median(cpus[n]),
                  **_compare(outs[n], exact_maps, matches, masks)} for n in names}
        ba.update({"frames": len(query), "interleaved": True, "load_avg": _loadavg()})
        ba["speedup"] = ba["before"]["ms_per_frame"] / ba["after"]["ms_per_frame"]
        ba["cpu_speedup_vs_previous"] = (ba["previous"]["cpu_ms_per_frame"]
                                         / ba["after"]["cpu_ms_per_frame"])
        res["before_after"] = ba
        say(f"interleaved on {len(query)} frames (ms/frame wall, CPU; agreement): " + "; ".join(
            f"{n} ({searches[n].n_candidates} candidates, search_k {searches[n].search_k}, "
            f"pool {searches[n].pool}) {ba[n]['ms_per_frame']:.1f}, "
            f"{ba[n]['cpu_ms_per_frame']:.1f}; {100 * ba[n]['agreement']:.2f} %"
            for n in names) + f"; load {ba['load_avg']}")

        # ---- search trade-off against the same exact matches
        rows = []
        sub = query[:max(ne, 8)]
        for k, sk, pr, po, st in TRADEOFF_ROWS:
            cpu_k: list = []
            ms_k, rr = _timed(d, sub, cpu_k, search=SearchParams(
                k, sk, default.threads, pr, po, default.centre, st))
            row = {"n_candidates": k, "search_k": sk, "propagate": pr, "pool": po,
                   "annoy_stride": st, "ms_per_frame": ms_k,
                   "cpu_ms_per_frame": 1000 * statistics.median(cpu_k),
                   **_compare(rr, exact_maps, matches, masks)}
            rows.append(row)
            say(f"  {k:3d} candidates, search_k {sk:5d}, pool {po}, propagate {pr}, "
                f"annoy_stride {st}: {ms_k:6.1f} ms/frame (CPU "
                f"{row['cpu_ms_per_frame']:.1f}), agreement "
                f"{100 * row['agreement']:.2f} %, recall {100 * row['recall']:.1f} %, "
                f"excess {row['excess_hamming']:.2f}")
        # the literal vote over 21 labels (background may win inside the hand)
        free = restore_many(query[:ne], d, keep_silhouette=False)
        free_exact = _maps_from(d, query[:ne], approx[:ne], matches, keep_silhouette=False)
        row = {"keep_silhouette": False, **_compare(free, free_exact, matches, masks)}
        rows.append(row)
        say(f"  default search, background allowed to win the vote: agreement "
            f"{100 * row['agreement']:.2f} %")
        res["search_tradeoff"] = rows

        # ---- accuracy against the clean ground truth (direction of Table 2)
        g = gt[:n_frames]
        res["accuracy_frames"] = int(n_frames)
        variants = {
            "raw": query,
            "restored": [a.labels for a in approx],
            "restored_background_allowed": [a.labels for a in
                                            restore_many(query, d, keep_silhouette=False)],
            "no_integration": [a.labels for a in restore_many(query, d, integrate=False)],
            # the clean maps restored (plain majority: a prior would favour the truth)
            "ceiling": [a.labels for a in restore_many(g, d, raw_weight=0.0)],
        }
        res["accuracy"] = {}
        for k, v in variants.items():
            a = segmentation_accuracy(np.stack(v), g)
            res["accuracy"][k] = {"per_pixel": a.per_pixel, "per_class": a.per_class}
        say(f"accuracy vs clean ground truth on {n_frames} frames (per pixel / per class, %): "
            + "; ".join(
            f"{k} {100 * v['per_pixel']:.1f} / {100 * v['per_class']:.1f}"
            for k, v in res["accuracy"].items()))

        if args.crf:
            res["crf"] = _crf_section(args, d, query, g, res["accuracy"], ms, say, err)
        if args.sub_patches:
            res["sub"] = _sub_section(args, dict_maps, query[:ne], masks[:ne], root, say, err)
    finally:
        if tmp is not None:
            tmp.cleanup()
    r = res["restore"]
    res["targets"] = {
        "ms_per_frame": {"target": TARGET_MS, "ok": r["ms_per_frame"] <= TARGET_MS},
        "agreement": {"target": TARGET_AGREE, "ok": r["agreement"] >= TARGET_AGREE},
        "load_s": {"target": TARGET_LOAD_S,
                   "ok": res["dictionary"]["load_s"] <= TARGET_LOAD_S},
        "patches": {"target": 1_000_000, "ok": res["dictionary"]["patches"] >= 1_000_000}}
    say("targets: " + ", ".join(f"{k} {'ok' if v['ok'] else 'MISSED'}"
                                for k, v in res["targets"].items()))
    if args.json:
        print(json.dumps(res, indent=2, default=float))
    return 0


def _crf_section(args, d, query, gt, accuracy: dict, integ_ms: float, say, err) -> dict:
    """Each CRF method beside integration: weight tuned on held-out maps, ms per frame,
    accuracy on ``query`` against ``gt`` (rows added to ``accuracy``)."""
    import numpy as np

    from handpose_core.evaluation import segmentation_accuracy
    from handpose_core.restoration import crf

    err(f"CRF: K-best lists of {args.crf_tune_maps} held-out maps ...")
    t = time.perf_counter()
    seed = crf.HELDOUT_SEED + args.seed
    clean, noisy = crf.heldout_maps(args.crf_tune_maps, int(query.shape[1]), seed)
    lists = crf.candidate_lists(noisy, d)
    out: dict = {"k": crf.DEFAULT_K, "tune_maps": int(len(noisy)), "tune_seed": seed,
                 "tune_search_s": round(time.perf_counter() - t, 1), "methods": {}}
    for m in crf.CRF_METHODS:
        w, rows = crf.tune_weight(lists, noisy, clean, m)
        times, maps, infos = [], [], []
        for raw in query:
            t = time.perf_counter()
            (r,) = crf.restore_crf_many(raw[None], d, m, w)
            times.append(time.perf_counter() - t)
            maps.append(r.labels)
            infos.append(r.info)
        a = segmentation_accuracy(np.stack(maps), gt)
        accuracy[m] = {"per_pixel": a.per_pixel, "per_class": a.per_class}
        out["methods"][m] = {
            "weight": w, "tuning": rows, "ms_per_frame": 1000 * statistics.median(times),
            "per_pixel": a.per_pixel, "per_class": a.per_class,
            "mean_iterations": float(np.mean([i["iterations"] for i in infos])),
            "moved_share": float(np.mean([i["moved"] / max(len(r0), 1) for i, r0 in
                                          zip(infos, [np.flatnonzero(q > 0) for q in query])]))}
        r = out["methods"][m]
        say(f"{m}: weight {w:g} (tuned on {len(noisy)} held-out maps, seed {seed}), "
            f"{r['ms_per_frame']:.1f} ms/frame (integration {integ_ms:.1f}), accuracy "
            f"{100 * a.per_pixel:.1f} / {100 * a.per_class:.1f} % per pixel / per class "
            f"(integration {100 * accuracy['restored']['per_pixel']:.1f} / "
            f"{100 * accuracy['restored']['per_class']:.1f}, no integration "
            f"{100 * accuracy['no_integration']['per_pixel']:.1f} / "
            f"{100 * accuracy['no_integration']['per_class']:.1f}); "
            f"{100 * r['moved_share']:.1f} % of pixels off their nearest patch")
    return out


def _sub_section(args, dict_maps, query, masks, root, say, err) -> dict:
    """Encoding, tree count and query stride on a smaller dictionary (same patches)."""
    from handpose_core.restoration import ENCODINGS, Dictionary, restore_many
    from handpose_core.restoration.dictionary import DEFAULT_ENCODING, DEFAULT_N_TREES
    from handpose_core.restoration.restore import apply_matches

    # fewer maps rather than sampled patches: propagation needs every patch of a map
    hand = np.cumsum((np.asarray(dict_maps) > 0).sum(axis=(1, 2)))
    n_img = int(min(len(hand), np.searchsorted(hand, args.sub_patches) + 1))
    m = int(min(args.sub_patches, hand[n_img - 1]))
    out: dict = {"patches": m, "images": n_img, "encodings": [], "trees": []}
    say(f"on a {m:,}-patch dictionary from {n_img} maps ({len(query)} frames, agreement "
        "with exact search):")
    base = ref = matches = None
    configs = [(DEFAULT_ENCODING, DEFAULT_N_TREES)] + \
        [(e, DEFAULT_N_TREES) for e in ENCODINGS if e != DEFAULT_ENCODING] + \
        [(DEFAULT_ENCODING, t) for t in (8, 32)]
    for enc, trees in configs:
        t = time.perf_counter()
        d = Dictionary.build(dict_maps, root / f"sub-{enc}-{trees}", encoding=enc,
                             n_trees=trees, n_images=n_img, max_patches=m, seed=args.seed)
        build_s = time.perf_counter() - t
        ms, rr = _timed(d, query)
        if base is None:
            base = d
            err("exact search on the small dictionary ...")
            matches = _exact_matches(d, query, rr)
            ref = _maps_from(d, query, rr, matches)
        row = {"encoding": enc, "n_trees": trees, "bits": d.encoding.n_bits,
               "build_s": round(build_s, 1), "ms_per_frame": ms,
               "index_mb": round(d.disk_bytes()["index.ann"] / 2**20, 1),
               **_compare(rr, ref, matches, masks)}
        (out["encodings"] if trees == DEFAULT_N_TREES else out["trees"]).append(row)
        say(f"  {enc:14s} {row['bits']:5d} bits, {trees:2d} trees: index {row['index_mb']:6.1f} "
            f"MB, build {row['build_s']:5.1f} s, {ms:6.1f} ms/frame, agreement "
            f"{100 * row['agreement']:.2f} %, recall {100 * row['recall']:.1f} %, excess "
            f"{row['excess_hamming']:.2f}")
    # how well defined is "the exact restoration"? Break the ties that match_key leaves
    # (same full and central distance) towards the highest index instead of the lowest
    from handpose_core.restoration import SearchParams, extract_patches, hand_pixels
    from handpose_core.restoration.exact import exact_nearest
    from handpose_core.restoration.restore import DEFAULT_RAW_WEIGHT, DEFAULT_STRIDE

    flipped, flip_maps = [], []
    for raw, (_, dist) in zip(query, matches):
        c = hand_pixels(raw, DEFAULT_STRIDE)  # the queries of the default restoration
        ir, _ = exact_nearest(extract_patches(raw, c, base.patch), base.patches[::-1],
                              bound=dist, centre=SearchParams().centre)
        ids = len(base) - 1 - ir
        flipped.append((ids, dist))
        flip_maps.append(apply_matches(raw, c, np.asarray(base.patches[ids]),
                                       raw_weight=DEFAULT_RAW_WEIGHT)[0])
    ties = _agreement(ref, flip_maps, masks)
    out["exact_tie_agreement"] = float(np.mean(ties))
    out["tied_queries"] = float(np.mean(np.concatenate(
        [a[0] != b[0] for a, b in zip(matches, flipped)])))
    say(f"  exact vs exact with the remaining ties broken the other way: "
        f"{100 * np.mean(ties):.2f} % agreement (min {100 * np.min(ties):.2f} %); "
        f"{100 * out['tied_queries']:.1f} % of queries have a tied nearest patch")
    # query stride: exact restorations on a stride-2 grid vs every pixel
    err("exact search at stride 2 ...")
    s2 = restore_many(query, base, backend="exact", stride=2)
    agree = _agreement(ref, [r.labels for r in s2], masks)
    out["stride"] = {"exact_stride2_vs_stride1": float(np.mean(agree)),
                     "queries_stride2": float(np.mean([r.n_queries for r in s2]))}
    say(f"  exact restoration on a stride-2 grid vs every pixel: {100 * np.mean(agree):.2f} % "
        f"agreement ({out['stride']['queries_stride2']:.0f} queries/frame at stride 2)")
    return out
