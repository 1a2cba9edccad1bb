"""``handpose-studio bench segnet``: speed of the f_s presets (medians), or as JSON.

Per preset: inference milliseconds per frame at batch 1 and at batch 64 (forward pass
to logits, ``torch.inference_mode``, BatchNorm folded, channels-last, the batch split
into the preset's cache-friendly chunks as ``SegNet.predict`` does), and training
images per second (one optimiser step -- forward, backward, AdamW -- of the stage's own
``train_step`` on a batch the stage prepared), each the median over repeated runs after
warm-up (batch 1 also reports its 10th percentile, what an otherwise idle machine
does). Shared machines are noisy: compare medians, and mind the load average printed.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np

from ..datasets.crop import DEFAULT_CROP_SIZE

TARGET_MS = {"fast": 5.0, "paper": 25.0}
TARGET_TRAIN = {"fast": 150.0}
TRAIN_BATCH = {"fast": 64, "paper": 16}


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--preset", action="append", choices=("fast", "paper"),
                        help="preset to measure (repeatable; default: both)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--repeats", type=int, default=30,
                        help="timed runs at batch 1 (batch 64 and training use a third)")
    parser.add_argument("--size", type=int, default=DEFAULT_CROP_SIZE, help="crop side in pixels")


def _crops(n: int, size: int, seed: int = 0):
    """Depth-crop-like inputs: a sloped disc on a +1 background, labels by quadrant."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    depth = np.ones((n, size, size), np.float32)
    labels = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cx, cy = rng.uniform(0.35 * size, 0.65 * size, 2)
        r = rng.uniform(0.2, 0.3) * size
        inside = np.hypot(xx - cx, yy - cy) < r
        depth[i][inside] = (-0.3 + 0.2 * (xx - cx) / r)[inside]
        q = ((np.arctan2(yy - cy, xx - cx) + np.pi) // (np.pi / 2)).astype(np.uint8)
        labels[i][inside] = (1 + np.minimum(q, 3))[inside]
    return depth, labels


def _times_s(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)


def _median_s(fn, repeats: int) -> float:
    return statistics.median(_times_s(fn, repeats))


def _macs_per_frame(model, size: int) -> float:
    """Multiply-accumulates of the convolutions for one frame (forward)."""
    import torch

    total = [0]

    def hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
        total[0] += out.numel() * k

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        model(torch.ones(1, 1, size, size))
    for h in hs:
        h.remove()
    return float(total[0])


def measure(preset: str, size: int, repeats: int) -> dict:
    import torch

    from ..nets import SegNetConfig, build_segnet
    from ..training import TrainConfig
    from ..training.segmentation import SegmentationTask

    torch.manual_seed(0)
    config = SegNetConfig(preset, size)
    model = build_segnet(config)
    params = sum(p.numel() for p in model.parameters())
    depth, labels = _crops(64, size)

    # Training: the stage's own step on batches it prepared (TrainConfig's defaults).
    b = TRAIN_BATCH[preset]
    train_cfg = TrainConfig(batch_size=b)
    model = model.to(memory_format=torch.channels_last).train()
    task = SegmentationTask(model, depth, labels, np.arange(64), np.arange(0), train_cfg, {},
                            "bench")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = list(task.batches(0, 0))

    done = 0

    def step():
        nonlocal done
        opt.zero_grad(set_to_none=True)
        task.train_step(model, batches[done % len(batches)], None)
        opt.step()
        done += 1

    n_train = max(3, repeats // 3)
    for _ in range(2):
        step()
    train_ips = b / _median_s(step, n_train)

    model.eval().fuse()
    macs = _macs_per_frame(model, size)
    x1 = torch.from_numpy(depth[:1]).unsqueeze(1).contiguous(memory_format=torch.channels_last)
    x64 = torch.from_numpy(depth).unsqueeze(1).contiguous(memory_format=torch.channels_last)
    chunk = model.infer_chunk

    def infer64():
        for s in range(0, 64, chunk):
            model(x64[s:s + chunk])

    with torch.inference_mode():
        for _ in range(5):
            model(x1)
        t1 = _times_s(lambda: model(x1), repeats)
        b1 = t1[len(t1) // 2]
        # The 10th percentile shows what the machine does when nothing else competes.
        b1_p10 = t1[len(t1) // 10]
        infer64()
        b64 = _median_s(infer64, max(3, repeats // 3)) / 64
    return {"preset": preset, "in_size": size, "params": int(params),
            "mmac_per_frame": round(macs / 1e6, 1), "infer_b1_ms": round(b1 * 1e3, 2),
            "infer_b1_ms_p10": round(b1_p10 * 1e3, 2),
            "infer_b64_ms_per_frame": round(b64 * 1e3, 2), "infer_chunk": int(chunk),
            "train_batch": b, "train_images_per_s": round(train_ips, 1),
            "target_b1_ms": TARGET_MS.get(preset), "target_train_images_per_s":
            TARGET_TRAIN.get(preset)}


def run(args) -> int:
    import torch

    torch.set_num_threads(max(1, args.threads))
    presets = args.preset or ["fast", "paper"]
    load_before = os.getloadavg()[0]
    results = [measure(p, args.size, args.repeats) for p in presets]
    info = {"torch": str(torch.__version__), "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "device": "cpu",
            # A load above the core count means other processes competed for the CPU;
            # with several threads per op, a descheduled thread stalls every op.
            "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "results": results}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    out = sys.stdout
    out.write(f"f_s speed, torch {info['torch']}, {info['threads']} CPU threads, "
              f"{args.size}x{args.size} crops (medians); 1-min load average "
              f"{info['loadavg_1min'][0]} -> {info['loadavg_1min'][1]} on {os.cpu_count()} "
              "cores\n")
    out.write(f"{'preset':8}{'params':>10}{'MMAC/frame':>12}{'b1 ms':>9}{'(p10)':>8}"
              f"{'b64 ms/fr':>11}{'train img/s':>13}  targets (on medians)\n")
    for r in results:
        tgt = [f"b1 <= {r['target_b1_ms']:g} ms: "
               f"{'ok' if r['infer_b1_ms'] <= r['target_b1_ms'] else 'MISSED'}"]
        if r["target_train_images_per_s"]:
            ok = r["train_images_per_s"] >= r["target_train_images_per_s"]
            tgt.append(f"train >= {r['target_train_images_per_s']:g}/s: "
                       f"{'ok' if ok else 'MISSED'}")
        out.write(f"{r['preset']:8}{r['params']:>10,}{r['mmac_per_frame']:>12.1f}"
                  f"{r['infer_b1_ms']:>9.2f}{r['infer_b1_ms_p10']:>8.2f}"
                  f"{r['infer_b64_ms_per_frame']:>11.2f}"
                  f"{r['train_images_per_s']:>13.1f}  {'; '.join(tgt)}\n")
    return 0
