"""``handpose-studio synth``: render synthetic hands to a store, an NYU-layout set or a preview.

::

    synth --out DIR --count N [--size 48] [--seed S] [--style clean|sensor]
    synth --nyu-layout --out ROOT --count N --split train|test [--seed S]
          [--generator reallike|primitives]    (run again to continue an interrupted write)
    synth --preview OUT.png [--count 64] [--style clean|sensor] [--generator reallike]
"""

from __future__ import annotations

import sys

from ..datasets.crop import DEFAULT_CROP_SIZE, DEFAULT_CUBE_MM
from ..errors import BadInput
from ..progress import TerminalProgress


def add_arguments(parser) -> None:
    parser.add_argument("--out", help="store directory (or NYU root with --nyu-layout)")
    parser.add_argument("--count", type=int, default=None,
                        help="number of crops / frames (preview: 64)")
    parser.add_argument("--size", type=int, default=DEFAULT_CROP_SIZE,
                        help=f"crop side in pixels ({DEFAULT_CROP_SIZE})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--style", choices=("clean", "sensor"), default=None,
                        help="clean renders, or real-like ones through the Kinect-like sensor "
                        "model (store and preview: clean; NYU layout: sensor)")
    parser.add_argument("--cube", type=float, default=DEFAULT_CUBE_MM,
                        help=f"crop cube in mm ({DEFAULT_CUBE_MM:g})")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--nyu-layout", action="store_true",
                      help="write full 640x480 frames in the NYU layout (depth PNGs, "
                      "joint_data.mat) with the part labels as palette PNGs beside them; the "
                      "same command again continues an interrupted write")
    mode.add_argument("--preview", metavar="OUT.png",
                      help="write a contact sheet (depth | labels) instead of a store")
    parser.add_argument("--split", choices=("train", "test"), default="train",
                        help="split folder for --nyu-layout (train)")
    parser.add_argument("--generator", choices=("reallike", "primitives"), default=None,
                        help="the real-like generator (another person's hand, painted labels, "
                        "clutter: the demo's frames; --nyu-layout's default) or the training "
                        "side's primitive hand (--preview's default; stores always use it)")


def run(args) -> int:
    from ..render import render_crops, write_nyu_layout, write_synthetic_store
    from ..render.preview import contact_sheet, write_png

    style = args.style
    try:
        if args.preview:
            n = args.count or 64
            if args.generator == "reallike":
                style = style or "sensor"
                c = _reallike_crops(n, args.size, args.seed, style, args.cube)
            else:
                style = style or "clean"
                c = render_crops(n, size=args.size, seed=args.seed, style=style,
                                 cube_mm=args.cube)
            write_png(args.preview, contact_sheet(c["depth"], c["labels"]))
            print(f"wrote {args.preview}: {n} {style} {args.generator or 'primitives'} "
                  f"{args.size}x{args.size} crops, depth | labels")
            return 0
        if not args.out or not args.count:
            print("handpose-studio synth: --out and --count are required (or --preview OUT.png)",
                  file=sys.stderr)
            return 2
        if args.nyu_layout:
            style = style or "sensor"
            generator = args.generator or "reallike"
            d = write_nyu_layout(args.out, args.count, split=args.split, seed=args.seed,
                                 style=style, generator=generator,
                                 progress=TerminalProgress(f"{args.split} frames"))
            print(f"wrote {args.count} {style} {generator} frames in the NYU layout to {d}")
        else:
            style = style or "clean"
            d = write_synthetic_store(args.out, args.count, size=args.size, seed=args.seed,
                                      style=style, cube_mm=args.cube,
                                      progress=TerminalProgress(f"{style} crops"))
            print(f"wrote a store of {args.count} {style} {args.size}x{args.size} crops to {d}")
    except (BadInput, OSError) as e:  # a bug (ValueError) is exit 1
        print(f"handpose-studio synth: {e}", file=sys.stderr)
        return 2
    return 0


def _reallike_crops(n: int, size: int, seed: int, style: str, cube: float) -> dict:
    """Crops around the palm centre of ``n`` real-like frames (preview only)."""
    import numpy as np

    from ..datasets.crop import crop_depth, crop_labels, crop_transform
    from ..render.reallike import render_reallike_frames, sample_reallike_scenes
    from ..skeleton import PALM_CENTRE

    scenes = sample_reallike_scenes(n, seed)
    depth, labels = render_reallike_frames(scenes, style=style)
    tfs = [crop_transform(scenes.joints_uvd[i, PALM_CENTRE], cube, size) for i in range(n)]
    return {"depth": np.stack([crop_depth(depth[i], tf) for i, tf in enumerate(tfs)]),
            "labels": np.stack([crop_labels(labels[i], tf) for i, tf in enumerate(tfs)])}
