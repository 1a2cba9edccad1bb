"""``handpose-studio bench pipeline``: the whole inference path per frame, at batch 1.

Hand centre from depth alone (:func:`handpose_core.detection.detect_hand` on the full
640x480 frame), crop, f_s, f_r and the mapping back to full-frame u, v, d -- what a
user's recording goes through -- timed stage by stage and as a whole (medians over
repeated frames after warm-up, and the 10th percentile: what an idle machine does).

With ``--project`` the project's test frames and its trained networks of ``--variant``
are used; without, a depth frame built here (a body plane, an arm and a hand-sized blob
in front) and freshly initialised networks of the default sizes (speed does not depend
on the weights). Target: 15 ms per frame (the paper: 31-58 ms on a 2017 GPU).

``--stages``: the whole training pipeline instead, stage by stage (:mod:`.stages`).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from ..errors import BadInput

TARGET_MS = 15.0


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--project", default=None,
                        help="use this project's test frames and trained networks")
    parser.add_argument("--variant", default="d", choices=("a", "b", "c", "d"),
                        help="f_r variant (d: f_s + f_r, the full method)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=50, help="timed frames")
    from .stages import add_arguments as add_stage_arguments

    add_stage_arguments(parser)


def synthetic_frame(seed: int = 0):
    """A ``(480, 640)`` uint16 depth frame: background wall, body, arm and a hand blob."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640]
    d = np.full((480, 640), 2001, np.uint16)
    body = (np.abs(xx - 360) < 110) & (yy > 150)
    d[body] = 1000
    arm = (np.abs((xx - 250) - 0.4 * (yy - 300)) < 22) & (yy > 300)
    d[arm] = 850
    hand = np.hypot(xx - 235, yy - 270) < 45
    for k in range(4):  # fingers
        hand |= (np.abs(xx - (205 + 20 * k)) < 7) & (yy > 180) & (yy < 240)
    d[hand] = (760 + rng.integers(0, 15, hand.sum())).astype(np.uint16)
    return d


def _networks(variant: str):
    import torch

    from ..nets import SegNetConfig, build_segnet
    from ..nets.joints import JointPredictor
    from ..nets.regnet import RegNetConfig, build_regnet

    torch.manual_seed(0)
    seg = build_segnet(SegNetConfig("fast", 48)).eval().fuse() if variant in ("c", "d") else None
    first = build_regnet(RegNetConfig(variant="a")).eval().fuse() if variant == "b" else None
    return JointPredictor(build_regnet(RegNetConfig(variant=variant)).eval().fuse(), 300.0, seg,
                          first, 300.0 if first is not None else 0.0)


def measure(predictor, frames, repeats: int) -> dict:
    """Median / p10 milliseconds of each step and of the whole path, one frame at a time."""
    from ..datasets.crop import crop_depth, crop_transform
    from ..detection import detect_center
    from ..nets.regnet import target_to_uvd

    steps = {"detect": [], "crop": [], "segment": [], "regress": [], "total": []}
    size = predictor.regnet.config.in_size
    for k in range(repeats + 5):
        d = frames[k % len(frames)]
        t0 = time.perf_counter()
        c = detect_center(d)
        t1 = time.perf_counter()
        tf = crop_transform(c, predictor.first_cube_mm if predictor.first is not None
                            else predictor.cube_mm, size)
        crop = crop_depth(d, tf)[None]
        t2 = time.perf_counter()
        labels = None
        if predictor.segnet is not None:
            labels, _ = predictor.segnet.predict(crop, batch=1, probabilities=False)
        t3 = time.perf_counter()
        if predictor.first is not None:
            uvd = predictor._predict_batch([d], c[None])
        else:
            uvd = target_to_uvd(predictor.regnet.predict(crop, labels, batch=1), tf.to_array()[None])
        t4 = time.perf_counter()
        assert np.isfinite(uvd).all()
        if k >= 5:
            for name, a, b in (("detect", t0, t1), ("crop", t1, t2), ("segment", t2, t3),
                               ("regress", t3, t4), ("total", t0, t4)):
                steps[name].append((b - a) * 1e3)
    return {name: {"median_ms": round(float(np.median(v)), 2),
                   "p10_ms": round(float(np.percentile(v, 10)), 2)} for name, v in steps.items()}


def run(args) -> int:
    if getattr(args, "stages", False):
        from .stages import run_stages

        return run_stages(args)
    import torch

    torch.set_num_threads(max(1, args.threads))
    source = "synthetic frame, untrained networks"
    if args.project:
        from ..nets.joints import JointPredictor
        from ..project import Project

        try:
            with Project.open(args.project) as project:
                predictor = JointPredictor.for_project(project, args.variant)
                frames = [project.depth(f) for f in project.frames("test")[:20]]
        except (BadInput, FileNotFoundError) as e:  # a bug (ValueError) is exit 1
            print(f"handpose-studio bench pipeline: {e}", file=sys.stderr)
            return 2
        source = f"{len(frames)} test frames of {args.project}, its trained networks"
    else:
        predictor, frames = _networks(args.variant), [synthetic_frame(s) for s in range(4)]
    load = os.getloadavg()[0]
    res = measure(predictor, frames, args.repeats)
    info = {"variant": args.variant, "source": source, "threads": torch.get_num_threads(),
            "torch": str(torch.__version__), "cpu_count": os.cpu_count(),
            "loadavg_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
            "steps": res, "target_ms": TARGET_MS,
            "meets_target": res["total"]["median_ms"] <= TARGET_MS}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"inference path per frame at batch 1, variant {args.variant} ({source}); "
          f"{info['threads']} torch thread(s), load average {info['loadavg_1min'][0]} -> "
          f"{info['loadavg_1min'][1]} on {os.cpu_count()} cores")
    for name, r in res.items():
        print(f"  {name:<8} median {r['median_ms']:7.2f} ms   p10 {r['p10_ms']:7.2f} ms")
    print(f"target <= {TARGET_MS:g} ms per frame (median): "
          f"{'ok' if info['meets_target'] else 'MISSED'}")
    return 0
