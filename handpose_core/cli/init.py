"""``handpose-studio init DIR (--demo | --nyu ROOT)``: create a project."""

from __future__ import annotations

import sys

from ..datasets.crop import DEFAULT_CUBE_MM
from ..errors import BadInput
from ..progress import TerminalProgress


def add_arguments(parser) -> None:
    parser.add_argument("dir", help="project directory to create")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--demo", action="store_true",
                     help="generate the bundled demo dataset (NYU layout, rendered) inside DIR")
    src.add_argument("--nyu", metavar="ROOT", help="an NYU Hand Pose root (train/, test/)")
    parser.add_argument("--cube", type=float, default=DEFAULT_CUBE_MM,
                        help=f"crop cube in mm ({DEFAULT_CUBE_MM:g})")


def run(args) -> int:
    from ..datasets.crop import CropSpec
    from ..project import create_demo_project, create_nyu_project

    try:
        if args.demo:
            p = create_demo_project(args.dir, progress=TerminalProgress("demo dataset"),
                                    crop=CropSpec(cube_mm=args.cube))
        else:
            p = create_nyu_project(args.dir, args.nyu, crop=CropSpec(cube_mm=args.cube))
    except (BadInput, FileNotFoundError) as e:  # a bug (ValueError) is exit 1
        print(f"handpose-studio init: {e}", file=sys.stderr)
        return 2
    n = {s: len(p.frames(s)) for s in p.dataset.splits}
    lab = len(p.frames(labelled=True))
    print(f"created {p.kind} project {p.root} over {p.dataset_root}: "
          + ", ".join(f"{k} {v} frames" for k, v in n.items()) + f", {lab} with part labels")
    p.close()
    return 0
