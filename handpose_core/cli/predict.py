"""``handpose-studio predict``: joints of a split, a depth PNG or a folder of them, written
in the community format (one line per frame, 14 joints x u v d).

From a project's split (its frames in order; ``--centre gt`` cuts crops around the
ground-truth palm centre, ``--centre detect`` finds the hand from depth alone), or from
``--input`` -- one NYU depth PNG or a folder of them (``depth_*.png`` in name order, no
``joint_data.mat`` needed) -- with ``--centre detect``. The project supplies the trained
networks of ``--variant``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("--project", required=True,
                        help="project directory (its trained f_r and f_s are used)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--split", default=None, help="predict the project's frames of this split")
    src.add_argument("--input", default=None, metavar="PNG_OR_DIR",
                     help="an NYU depth PNG or a folder of depth_*.png (needs --centre detect)")
    parser.add_argument("--out", required=True, help="prediction file to write")
    parser.add_argument("--variant", default="d", choices=("a", "b", "c", "d"),
                        help="which trained f_r (Table 4 row)")
    parser.add_argument("--centre", default=None, choices=("gt", "detect"),
                        help="hand centre: ground-truth palm (project splits only) or detected "
                        "from depth (default: gt for a split, detect for --input)")


def input_files(path: str | Path) -> list[Path]:
    """The depth PNGs of ``--input``: the file itself, or a folder's ``depth_*.png``
    (kinect 1's ``depth_1_*`` when there are any) in name order."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"{p}: no such depth PNG or folder")
    files = sorted(p.glob("depth_1_*.png")) or sorted(p.glob("depth_*.png"))
    if not files:
        raise ValueError(f"{p}: no depth_*.png files in this folder")
    return files


def predict_files(project, files: list[Path], variant: str, *, progress=None,
                  cancel=None):
    """``(N, 14, 3)`` u, v, d of depth PNGs with detected hand centres; errors name the
    file (not an NYU depth image, no valid depth, no hand)."""
    import numpy as np

    from ..datasets.nyu import read_depth
    from ..detection import detect_center
    from ..nets.joints import JointPredictor

    pred = JointPredictor.for_project(project, variant)
    depths, centres = [], []
    for f in files:
        d = read_depth(f)
        centres.append(detect_center(d, name=str(f)))
        depths.append(d)
    return pred.predict_frames(depths, np.stack(centres), progress=progress, cancel=cancel)


def run(args) -> int:
    from ..evaluation import write_predictions
    from ..progress import TerminalProgress
    from ..project import Project, ProjectError

    label = "handpose-studio predict"
    try:
        with Project.open(args.project) as project:
            if args.input:
                if args.centre == "gt":
                    raise ValueError(f"{args.input}: --centre gt needs ground truth; PNGs given "
                                     "with --input are predicted with --centre detect")
                files = input_files(args.input)
                uvd = predict_files(project, files, args.variant,
                                    progress=TerminalProgress("predict"))
                what = f"{len(files)} depth PNG(s) from {args.input} (name order)"
            else:
                from ..stages.evaluate import predict_split

                split = args.split or "test"
                uvd = predict_split(project, args.variant, split, centre=args.centre or "gt",
                                    progress=TerminalProgress("predict"))
                what = f"{len(uvd)} frames of split {split!r} (frame order)"
    except (ValueError, FileNotFoundError, ProjectError) as e:
        print(f"{label}: {e}", file=sys.stderr)
        return 2
    write_predictions(args.out, uvd)
    print(f"wrote {args.out}: {what}, variant {args.variant}")
    return 0
