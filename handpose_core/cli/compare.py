"""``handpose-studio compare GT PRED [PRED ...]``: published-style joint error table."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("gt", help="ground-truth file (one line per frame, 14 x u v d)")
    parser.add_argument("pred", nargs="+", help="prediction files in the same format")
    parser.add_argument("--names", nargs="+", metavar="N",
                        help="a display name per prediction file (default: file stem)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON with per-joint means and the full max-frame curve")


def run(args) -> int:
    from ..evaluation import PredictionFileError, evaluate_joints, read_predictions

    names = args.names or [Path(p).stem for p in args.pred]
    if len(names) != len(args.pred):
        print(f"handpose-studio compare: {len(names)} names for {len(args.pred)} prediction "
              "files", file=sys.stderr)
        return 2
    try:
        gt = read_predictions(args.gt)
        results = []
        for path, name in zip(args.pred, names):
            pred = read_predictions(path)
            if len(pred) != len(gt):
                raise PredictionFileError(
                    f"{path}:{min(len(pred), len(gt)) + 1}: {len(pred)} lines, but the ground "
                    f"truth {args.gt} has {len(gt)}")
            results.append(evaluate_joints(pred, gt, name=name))
    except PredictionFileError as e:
        print(f"handpose-studio compare: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    w = max(12, *(len(r.name) for r in results))
    head = (f"{'method':<{w}}  {'frames':>6}  {'mean mm':>9}  {'median':>8}  {'2D px':>7}"
            f"  {'<=20mm':>7}  {'<=30mm':>7}  {'<=40mm':>7}")
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r.name:<{w}}  {r.frames:>6}  {r.mean_mm:>9.3f}  {r.median_mm:>8.3f}  "
              f"{r.mean_px:>7.2f}  {100 * r.success_at(20):>6.1f}%  {100 * r.success_at(30):>6.1f}%"
              f"  {100 * r.success_at(40):>6.1f}%")
    print("\nsuccess = fraction of frames whose worst joint error is within the threshold "
          "(max-frame); 2D px = mean image-plane error")
    return 0
