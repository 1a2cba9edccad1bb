"""``handpose-studio train restore``: restore f_s predictions and apply the quality check.

For each frame of the split: predict with the segmentation network, restore with the
project's dictionary, score raw and restored maps against the ground-truth joints and
store both with the automatic decision (human overrides are kept).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("--project", required=True, help="project directory")
    parser.add_argument("--model", default=None,
                        help="f_s checkpoint (default: the project's current f_s, else the bundled one)")
    parser.add_argument("--dictionary", default=None,
                        help="dictionary folder (default PROJECT/dictionary)")
    parser.add_argument("--split", default="train", help="frames to restore (default train)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N frames")
    parser.add_argument("--backend", choices=("annoy", "exact"), default="annoy")
    parser.add_argument("--window", type=int, default=17, help="integration window W (17)")
    parser.add_argument("--stride", type=int, default=1,
                        help="query every stride-th hand pixel on a grid (1: all, as the paper)")
    parser.add_argument("--allow-background", action="store_true",
                        help="let background win the vote inside the predicted hand "
                        "(default: keep the silhouette, relabel parts only)")
    parser.add_argument("--no-integration", action="store_true",
                        help="centre label of each pixel's nearest patch (the paper's baseline)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from ..progress import Cancelled, TerminalProgress
    from ..restoration.dictionary import Dictionary
    from ..restoration.stage import RestoreStageConfig, restore_project
    from ..training.pretrain_seg import current_segnet
    from ._dispatch import open_project

    project = open_project(args, "train restore")
    if project is None:
        return 2
    with project:
        try:
            model = Path(args.model) if args.model else current_segnet(project)
            if not model.exists():
                raise FileNotFoundError(f"{model}: f_s checkpoint not found; run 'train "
                                        "pretrain-seg' first or pass --model")
            dictionary = Dictionary.load(args.dictionary or project.path("dictionary"))
        except (FileNotFoundError, ValueError) as e:
            print(f"handpose-studio train restore: {e}", file=sys.stderr)
            return 2
        config = RestoreStageConfig(split=args.split, limit=args.limit, window=args.window,
                                    stride=args.stride, integrate=not args.no_integration,
                                    backend=args.backend,
                                    keep_silhouette=not args.allow_background)
        run_id = project.start_run("restore", {**config.to_dict(), "model": str(model),
                                               "dictionary": str(dictionary.path)})
        try:
            result = restore_project(project, model, dictionary, config,
                                     progress=TerminalProgress("restore"))
        except (Cancelled, KeyboardInterrupt):
            project.finish_run(run_id, "cancelled")
            print("restore: cancelled (finished frames are kept)", file=sys.stderr)
            return 130
        except (ValueError, OSError) as e:
            project.finish_run(run_id, "failed", {"error": str(e)})
            print(f"handpose-studio train restore: {e}", file=sys.stderr)
            return 2 if isinstance(e, ValueError) else 1  # bad input / the disk failed
        project.finish_run(run_id, "completed", result.to_dict())
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"restored {result.frames} frames in {result.seconds:.1f} s: accepted "
              f"{result.accepted} ({100 * result.acceptance:.1f} %), no hand {result.no_hand}; "
              f"mean score raw {result.mean_raw_mm:.1f} mm, restored "
              f"{result.mean_restored_mm:.1f} mm (sums over 12 joints)")
    return 0
