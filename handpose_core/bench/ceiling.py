"""``handpose-studio bench ceiling``: how well the dictionary covers held-out hands.

For each number of source maps in ``--images`` (the first N label maps of ``--store``,
a clean synthetic store) a dictionary of ``--patches`` patches is built and two sets of
held-out clean label maps (``--frames`` maps rendered with ``--heldout-seed``, which no
store of the project uses) are restored with the default search:

- the **ceiling**: the clean ground-truth maps themselves restored. A perfect
  dictionary returns them unchanged (100 %); what is lost is what the dictionary
  cannot reproduce.
- the **noisy** maps: the same maps corrupted as ``bench restore`` corrupts them
  (:func:`~handpose_core.restoration.noise.corrupt_labels`), raw and restored with and
  without integration.

Accuracies are per pixel / per class over ground-truth hand pixels
(:func:`~handpose_core.evaluation.segmentation_accuracy`). ``--sample part`` draws the
patches evenly over the centre pixel's part; ``--vote-tau T`` weights each match's
votes by ``exp(-(d - d_min) / T)`` (d its label Hamming distance, d_min the frame's
smallest); both are also reported beside the default when given.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def add_arguments(parser) -> None:
    parser.add_argument("--store", required=True, help="clean synthetic store of source maps")
    parser.add_argument("--images", default="5400,20000,57000",
                        help="comma-separated numbers of source maps (default 5400,20000,57000)")
    parser.add_argument("--patches", type=int, default=1_000_000, help="patches per dictionary")
    parser.add_argument("--frames", type=int, default=40, help="held-out maps")
    parser.add_argument("--heldout-seed", type=int, default=777_001)
    parser.add_argument("--sample", choices=("uniform", "part"), default="uniform")
    parser.add_argument("--vote-tau", type=float, default=0.0,
                        help="also report distance-weighted votes with this temperature")
    parser.add_argument("--distance", default="",
                        help="also report re-ranking under weighted distances 'finger,centre[;...]' "
                        "(a differing position costs 1 + finger if a finger part, + centre x its "
                        "centre weight)")
    parser.add_argument("--no-default", action="store_true",
                        help="skip the default-distance figures (only --distance rows)")
    parser.add_argument("--out", default=None, help="keep the dictionaries under this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _acc(pred, gt) -> dict:
    from handpose_core.evaluation import segmentation_accuracy

    a = segmentation_accuracy(np.stack(pred), gt)
    return {"per_pixel": round(a.per_pixel, 4), "per_class": round(a.per_class, 4)}


def _from_matches(maps, res, d, *, integrate=True, tau=0.0):
    """Maps restored again from the matches of ``res`` (no new search): without
    integration, or with votes weighted by ``exp(-(d - d_min) / tau)``."""
    from handpose_core.restoration.restore import apply_matches

    out = []
    for raw, r in zip(maps, res):
        w = None
        if tau > 0 and len(r.distances):
            w = np.exp(-(r.distances - r.distances.min()) / tau)
        out.append(apply_matches(raw, r.centers, np.asarray(d.patches[r.neighbours]),
                                 window=r.settings["window"], integrate=integrate,
                                 vote_weights=w)[0])
    return out


def measure(d, gt, noisy, tau: float) -> dict:
    """Ceiling and noisy-map figures of dictionary ``d`` (see the module docstring); the
    variants reuse the same matches."""
    from handpose_core.restoration import restore_many

    t = time.perf_counter()
    ceil = restore_many(gt, d, raw_weight=0.0)  # no prior for the "raw" (true) labels
    ms = 1000 * (time.perf_counter() - t) / len(gt)
    rest = restore_many(noisy, d)
    res = {"ms_per_frame": round(ms, 1),
           "mean_hamming_gt": round(float(sum(r.distances.sum() for r in ceil)
                                          / max(1, sum(r.n_queries for r in ceil))), 1),
           "ceiling": _acc([r.labels for r in ceil], gt),
           "ceiling_no_integration": _acc(_from_matches(gt, ceil, d, integrate=False), gt),
           "raw": _acc(list(noisy), gt),
           "restored": _acc([r.labels for r in rest], gt),
           "no_integration": _acc(_from_matches(noisy, rest, d, integrate=False), gt)}
    if tau > 0:
        res["ceiling_weighted_votes"] = _acc(_from_matches(gt, ceil, d, tau=tau), gt)
        res["restored_weighted_votes"] = _acc(_from_matches(noisy, rest, d, tau=tau), gt)
    return res


def _dictionary(store, folder: Path, n: int, args):
    """The dictionary of the first ``n`` maps in ``folder``: reused when one with these
    settings is there (its recorded build time), else built."""
    from handpose_core.restoration import Dictionary

    try:
        d = Dictionary.load(folder)
        m = d.meta
        if (m.get("n_images") == n and m.get("n_patches") == min(args.patches, m["n_unique"])
                and m.get("sample", "uniform") == args.sample and m.get("source") == str(args.store)):
            return d, m["build_seconds"]
    except (FileNotFoundError, ValueError):
        pass
    t = time.perf_counter()
    d = Dictionary.build(store.labels, folder, n_images=n, max_patches=args.patches,
                         sample=args.sample, source=str(args.store))
    return d, time.perf_counter() - t


def run(args) -> int:

    from handpose_core.datasets.synthetic import SyntheticStore
    from handpose_core.render import render_crops
    from handpose_core.restoration.noise import corrupt_labels

    store = SyntheticStore.open(args.store)
    sizes = [int(x) for x in args.images.split(",") if x.strip()]
    if max(sizes) > len(store):
        print(f"{args.store}: {len(store)} maps, asked for {max(sizes)}", file=sys.stderr)
        return 2
    gt = render_crops(args.frames, size=int(store.labels.shape[1]),
                      seed=args.heldout_seed, style="clean")["labels"]
    noisy = corrupt_labels(gt, args.heldout_seed + 7)
    tmp = None if args.out else tempfile.TemporaryDirectory(prefix="hp-ceiling-")
    root = Path(args.out or tmp.name)
    out = {"store": str(args.store), "frames": args.frames, "heldout_seed": args.heldout_seed,
           "patches": args.patches, "sample": args.sample, "vote_tau": args.vote_tau, "rows": []}
    try:
        for n in sizes:
            print(f"{n} source maps: building ...", file=sys.stderr)
            d, build_s = _dictionary(store, root / f"d{n}_{args.sample}", n, args)
            row = {"maps": n, "patches": len(d), "unique": d.meta["n_unique"],
                   "build_s": round(build_s, 1),
                   "disk_mb": round(sum(d.disk_bytes().values()) / 2**20, 1),
                   **({} if args.no_default else measure(d, gt, noisy, args.vote_tau))}
            for spec in [x for x in args.distance.split(";") if x.strip()]:
                d.weighted_distance = tuple(int(v) for v in spec.split(","))
                row[f"distance {spec}"] = measure(d, gt, noisy, 0.0)
                print(f"  distance {spec}: {row[f'distance {spec}']}", file=sys.stderr)
                d.weighted_distance = None
            out["rows"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            if not args.json and "ceiling" in row:
                print(f"{n:>7,} maps, {len(d):,} patches ({row['build_s']} s, "
                      f"{row['disk_mb']} MB): ceiling {100 * row['ceiling']['per_pixel']:.1f} / "
                      f"{100 * row['ceiling']['per_class']:.1f} %, noisy raw "
                      f"{100 * row['raw']['per_pixel']:.1f} / {100 * row['raw']['per_class']:.1f}"
                      f" -> restored {100 * row['restored']['per_pixel']:.1f} / "
                      f"{100 * row['restored']['per_class']:.1f} %", flush=True)
            del d
    finally:
        if tmp is not None:
            tmp.cleanup()
    if args.json:
        print(json.dumps(out, indent=1))
    return 0
