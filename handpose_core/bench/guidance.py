"""``handpose-studio bench guidance``: dense guidance maps (HandMap) per crop and per batch.

Data: ``--crops`` rendered 48x48 crops of the synthetic renderer (``--style``, default
"sensor": the real-like crop with arm, clutter, holes and noise; the hand mask is depth < 1
and part label > 0). Reported:

- ms for the maps of the 14 joints of one crop, per kind (heatmap, euclidean, geodesic
  with uniform speed, geodesic with the EDT as speed): for every crop the best of
  ``--repeats`` calls, then the median over crops (target <= 3 ms for geodesic);
- crops/s of on-the-fly generation as a training loop would do it: ``guidance_maps_batch``
  over batches of ``--batch`` crops, median over batches (target >= 200 /s for geodesic);
- how often each fallback was taken (off-mask joints: snapped / Euclidean);
- the geodesic maps' cache (:mod:`handpose_core.guidance.cache`, in a temporary folder):
  its size per crop, crops/s to build it (compute + write), and crops/s to read a random
  batch from it with a warm page cache (its best case), to compare with the on-the-fly rate.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_GEODESIC_MS = 3.0
TARGET_TRAINING_CROPS_PER_S = 200.0
VARIANTS = (("heatmap", "uniform"), ("euclidean", "uniform"), ("geodesic", "uniform"),
            ("geodesic", "edt"))


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--crops", type=int, default=256, help="rendered crops (256)")
    parser.add_argument("--repeats", type=int, default=5, help="calls per crop, best kept (5)")
    parser.add_argument("--batch", type=int, default=64, help="crops per training batch (64)")
    parser.add_argument("--style", choices=("clean", "sensor"), default="sensor",
                        help="renderer style of the crops (sensor)")
    parser.add_argument("--seed", type=int, default=7, help="renderer seed (7)")


def _name(kind: str, speed: str) -> str:
    return f"{kind}_edt" if speed == "edt" else kind


def _per_crop_ms(fn, n: int, repeats: int) -> float:
    best = []
    for i in range(n):
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(i)
            ts.append(time.perf_counter() - t0)
        best.append(min(ts))
    return 1e3 * statistics.median(best)


def _cache_figures(depth, joints, labels, batch: int, repeats: int) -> dict:
    from ..guidance.cache import cached_guidance_maps

    n = len(depth)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        mm = cached_guidance_maps(d, depth, joints, kind="geodesic", labels=labels)
        build_s = time.perf_counter() - t0
        np.asarray(mm[:]).max()  # warm the page cache: the read figure is a best case
        rng = np.random.default_rng(0)
        rates = []
        for _ in range(max(repeats, 3) * 4):
            idx = np.sort(rng.choice(n, size=min(batch, n), replace=False))
            t0 = time.perf_counter()
            np.asarray(mm[idx], dtype=np.float32)
            rates.append(len(idx) / (time.perf_counter() - t0))
        size = sum(p.stat().st_size for p in Path(d).glob("*.npy"))
    return {"bytes_per_crop": size // n, "build_crops_per_s": round(n / build_s, 1),
            "read_warm_crops_per_s": round(statistics.median(rates), 1)}


def run(args) -> int:
    from ..guidance import crop_joints, guidance_maps, guidance_maps_batch
    from ..render import render_crops

    n = max(int(args.crops), 1)
    d = render_crops(n, seed=args.seed, style=args.style)
    depth, labels = d["depth"], d["labels"]
    joints = crop_joints(d["joints_uvd"], d["crop"])
    guidance_maps(depth[0], joints[0], labels=labels[0])  # imports and first-call costs
    res: dict = {"crops": n, "style": args.style, "size": int(depth.shape[-1]),
                 "joints": int(joints.shape[1]), "repeats": args.repeats, "batch": args.batch,
                 "single_crop_ms": {}, "training_crops_per_s": {}}
    for kind, speed in VARIANTS:
        name = _name(kind, speed)
        res["single_crop_ms"][name] = round(_per_crop_ms(
            lambda i, k=kind, s=speed: guidance_maps(depth[i], joints[i], labels=labels[i],
                                                     kind=k, speed=s), n, args.repeats), 3)
        rates = []
        for i0 in range(0, n, args.batch):
            sl = slice(i0, i0 + args.batch)
            t0 = time.perf_counter()
            maps, codes = guidance_maps_batch(depth[sl], joints[sl], labels=labels[sl],
                                              kind=kind, speed=speed)
            rates.append(len(depth[sl]) / (time.perf_counter() - t0))
        res["training_crops_per_s"][name] = round(statistics.median(rates), 1)
    geo, codes = guidance_maps_batch(depth, joints, labels=labels, kind="geodesic")
    res["fallback_fraction"] = {k: round(float(np.mean(codes == c)), 4) for c, k in
                                enumerate(("on_mask", "snapped", "euclidean", "empty"))}
    res["cache_float16"] = _cache_figures(depth, joints, labels, args.batch, args.repeats)
    res["targets"] = {"geodesic_single_crop_ms": TARGET_GEODESIC_MS,
                      "geodesic_training_crops_per_s": TARGET_TRAINING_CROPS_PER_S}
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"guidance maps: {n} {args.style} crops of {res['size']}x{res['size']}, "
          f"{res['joints']} joints; best of {args.repeats} per crop, median over crops")
    for name, ms in res["single_crop_ms"].items():
        tgt = f"   target <= {TARGET_GEODESIC_MS} ms" if name == "geodesic" else ""
        print(f"  {name:14s} one crop: {ms:7.3f} ms{tgt}")
    print(f"on-the-fly in training (batches of {args.batch}, median):")
    for name, r in res["training_crops_per_s"].items():
        tgt = f"   target >= {TARGET_TRAINING_CROPS_PER_S:.0f} /s" if name == "geodesic" else ""
        print(f"  {name:14s} {r:9.0f} crops/s{tgt}")
    fb = res["fallback_fraction"]
    print(f"joints off the mask: {100 * fb['snapped']:.1f} % snapped, "
          f"{100 * fb['euclidean']:.1f} % Euclidean fallback, {100 * fb['empty']:.1f} % empty mask")
    c = res["cache_float16"]
    print(f"geodesic cache (float16 memmap): {c['bytes_per_crop'] / 1024:.0f} KiB/crop, built at "
          f"{c['build_crops_per_s']:.0f} crops/s, read (warm page cache) at "
          f"{c['read_warm_crops_per_s']:.0f} crops/s")
    return 0
