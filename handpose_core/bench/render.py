"""``handpose-studio bench render``: labelled 48x48 crops/s and full real-like frames/s.

Every figure is the median of ``--repeats`` timed runs, each rendering a fresh seeded
batch end to end (pose and scene sampling included). ``--cold`` also measures the JIT
compile time from an empty kernel cache, in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from ..cli._dispatch import check_positive

TARGETS = {"clean_crops_48_per_s": 5000, "sensor_frames_640x480_per_s": 100}


def add_arguments(parser) -> None:
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (5)")
    parser.add_argument("--crops", type=int, default=4096, help="crops per repetition (4096)")
    parser.add_argument("--frames", type=int, default=64, help="frames per repetition (64)")
    parser.add_argument("--cold", action="store_true",
                        help="also measure compiling the kernels from an empty cache")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _median_rate(fn, n: int, repeats: int) -> float:
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        fn(r)
        rates.append(n / (time.perf_counter() - t0))
    return float(sorted(rates)[len(rates) // 2])


def _first_calls() -> float:
    from ..render import render_crops, render_frames, sample_scenes

    t0 = time.perf_counter()
    render_crops(4, seed=0)
    render_crops(4, seed=0, style="sensor")
    render_frames(sample_scenes(2, 0), style="sensor")
    return time.perf_counter() - t0


def _cold_compile_s() -> float:
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d)
        code = ("import time; t=time.perf_counter(); from handpose_core.bench.render import "
                "_first_calls; _first_calls(); print(time.perf_counter()-t)")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])


def run(args) -> int:
    import numba


    if not check_positive(args, "bench render", "repeats", "crops", "frames"):
        return 2

    from ..render import render_crops, render_frames, sample_scenes

    res = {"threads": numba.get_num_threads(), "cpus": os.cpu_count(),
           "repeats": args.repeats}
    if args.cold:
        res["cold_compile_s"] = round(_cold_compile_s(), 2)
    res["first_call_s"] = round(_first_calls(), 3)
    nc, nf, rep = args.crops, args.frames, args.repeats
    res["clean_crops_48_per_s"] = _median_rate(
        lambda r: render_crops(nc, seed=1000 + r), nc, rep)
    res["sensor_crops_48_per_s"] = _median_rate(
        lambda r: render_crops(nc // 4, seed=2000 + r, style="sensor"), nc // 4, rep)
    res["sensor_frames_640x480_per_s"] = _median_rate(
        lambda r: render_frames(sample_scenes(nf, 3000 + r), style="sensor"), nf, rep)
    res["clean_frames_640x480_per_s"] = _median_rate(
        lambda r: render_frames(sample_scenes(nf, 4000 + r), style="clean"), nf, rep)
    res["targets"] = TARGETS
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"renderer benchmark: {res['threads']} threads, medians of {rep} runs "
          f"(pose and scene sampling included)")
    if "cold_compile_s" in res:
        print(f"  JIT compile from an empty cache:        {res['cold_compile_s']:8.1f} s")
    print(f"  first call (kernel cache load):         {res['first_call_s']:8.2f} s")
    print(f"  labelled 48x48 crops, clean:            {res['clean_crops_48_per_s']:8.0f} /s"
          f"   target >= {TARGETS['clean_crops_48_per_s']}")
    print(f"  labelled 48x48 crops, sensor:           {res['sensor_crops_48_per_s']:8.0f} /s")
    print(f"  real-like 640x480 frames (sensor):      {res['sensor_frames_640x480_per_s']:8.0f} /s"
          f"   target >= {TARGETS['sensor_frames_640x480_per_s']}")
    print(f"  clean 640x480 frames (hand only):       {res['clean_frames_640x480_per_s']:8.0f} /s")
    return 0
