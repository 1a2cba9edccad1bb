"""``handpose-studio bench render``: labelled crops/s and full real-like frames/s (medians)."""

from __future__ import annotations

import json
import os
import time


def add_arguments(parser) -> None:
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions (7)")
    parser.add_argument("--crops", type=int, default=4096, help="crops per repetition (4096)")
    parser.add_argument("--frames", type=int, default=64, help="frames per repetition (64)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _median_rate(fn, n: int, repeats: int) -> tuple[float, list[float]]:
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        fn(r)
        rates.append(n / (time.perf_counter() - t0))
    rates.sort()
    return rates[len(rates) // 2], rates


def run(args) -> int:
    import numba

    from ..render import render_crops, render_frames, sample_scenes

    t0 = time.perf_counter()
    render_crops(8, seed=0)
    render_frames(sample_scenes(2, 0), style="sensor")
    warm = time.perf_counter() - t0
    res = {"threads": numba.get_num_threads(), "cpus": os.cpu_count(),
           "first_call_s": round(warm, 3)}
    res["clean_crops_48_per_s"], all_c = _median_rate(
        lambda r: render_crops(args.crops, seed=1000 + r), args.crops, args.repeats)
    res["sensor_crops_48_per_s"], _ = _median_rate(
        lambda r: render_crops(max(1, args.crops // 16), seed=2000 + r, style="sensor"),
        max(1, args.crops // 16), max(3, args.repeats // 2))
    res["sensor_frames_640x480_per_s"], all_f = _median_rate(
        lambda r: render_frames(sample_scenes(args.frames, 3000 + r), style="sensor"),
        args.frames, args.repeats)
    res["clean_frames_640x480_per_s"], _ = _median_rate(
        lambda r: render_frames(sample_scenes(args.frames, 4000 + r), style="clean"),
        args.frames, args.repeats)
    res["targets"] = {"clean_crops_48_per_s": 5000, "sensor_frames_640x480_per_s": 100}
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"renderer benchmark ({res['threads']} threads, {args.repeats} repetitions, medians; "
          f"first call incl. JIT/cache load {warm:.2f} s)")
    print(f"  labelled 48x48 crops, clean (pose sampling + ray casting): "
          f"{res['clean_crops_48_per_s']:9.0f} /s   target >= 5000")
    print(f"  labelled 48x48 crops, sensor (full frame measured, cropped): "
          f"{res['sensor_crops_48_per_s']:7.0f} /s")
    print(f"  full 640x480 real-like frames (hand, body, wall, sensor):   "
          f"{res['sensor_frames_640x480_per_s']:7.0f} /s   target >= 100")
    print(f"  full 640x480 clean frames (hand and forearm only):          "
          f"{res['clean_frames_640x480_per_s']:7.0f} /s")
    return 0
