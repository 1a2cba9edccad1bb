"""``handpose-studio predict``: joints of a split, a depth PNG or a folder of them, written
in the community format (one line per frame, 14 joints x u v d).

From a project's split (its frames in order; ``--centre gt`` cuts crops around the
ground-truth palm centre, ``--centre detect`` finds the hand from depth alone), or from
``--input`` -- one NYU depth PNG or a folder of them (``depth_*.png`` in name order, no
``joint_data.mat`` needed) -- with ``--centre detect`` (or ``refine``: the detected centre
moved to the palm that the project's variant a predicts there). The project supplies the
trained networks of ``--variant``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import BadInput
from ..progress import TerminalProgress


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
    parser.add_argument("--draw", default=None, metavar="DIR",
                        help="--input only: also write DIR/<name>_joints.png, the predicted "
                        "skeleton over each depth frame")
    parser.add_argument("--centre", default=None, choices=("gt", "detect", "refine"),
                        help="hand centre: ground-truth palm (project splits only), detected "
                        "from depth, or detected and moved to the palm that variant a predicts "
                        "there (default: gt for a split, detect for --input)")


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
        raise BadInput(f"{p}: no depth_*.png files in this folder")
    return files


def _grey(d, ok, lo: float, span: float):
    import cv2
    import numpy as np

    img = np.zeros(d.shape, np.uint8)
    img[ok] = np.clip(255 - (d[ok] - lo) / span * 215, 40, 255).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def _annotate(img, pts, centre, width: int) -> None:
    import cv2

    from ..skeleton import EDGES_14, FINGER_COLOURS, JOINT_FINGER_14, edge_colours_14

    def bgr(hex_):
        h = hex_.lstrip("#")
        return int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16)

    pts = [(int(round(u)), int(round(v))) for u, v in pts]
    for a, b in EDGES_14:  # a dark outline keeps the grey palm edges visible on grey depth
        cv2.line(img, pts[a], pts[b], (0, 0, 0), width + 2, cv2.LINE_AA)
    for (a, b), col in zip(EDGES_14, edge_colours_14()):
        cv2.line(img, pts[a], pts[b], bgr(col), width, cv2.LINE_AA)
    for k, p in enumerate(pts):
        cv2.circle(img, p, 2 * width, bgr(FINGER_COLOURS[JOINT_FINGER_14[k]]), -1, cv2.LINE_AA)
        cv2.circle(img, p, 2 * width, (0, 0, 0), 1, cv2.LINE_AA)
    if centre is not None:
        cv2.drawMarker(img, (int(centre[0]), int(centre[1])), (255, 255, 255),
                       cv2.MARKER_CROSS, 8 * width, 1)


def draw_skeleton(depth_mm, uvd, path, *, centre=None, cube_mm: float = 300.0) -> Path:
    """Write ``path``: the depth frame ``(480, 640)`` mm in grey (near = bright), the 14
    joints ``(14, 3)`` (u, v, d) and the skeleton's edges coloured by finger, the hand
    centre used (a white cross) when given; beside it a 480x480 zoom on the hand cube
    (``cube_mm`` around the centre, else around the joints' mean)."""
    import cv2
    import numpy as np

    from ..camera import NYU_CAMERA
    from ..datasets.crop import valid_mask
    from ..fileio import atomic_write

    d = np.asarray(depth_mm, np.float64)
    uvd = np.asarray(uvd, np.float64)
    ok = valid_mask(d)
    lo = float(np.percentile(d[ok], 1)) if ok.any() else 0.0
    full = _grey(d, ok, lo, 1000.0)
    _annotate(full, uvd[:, :2], centre, 2)
    c = np.asarray(centre if centre is not None else uvd.mean(0), np.float64)
    half = cube_mm / 2 * NYU_CAMERA.fx / max(c[2], 1.0)
    x0, y0, scale = c[0] - half, c[1] - half, 480.0 / (2 * half)
    m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
    zd = cv2.warpAffine(d.astype(np.float32), m, (480, 480), flags=cv2.INTER_NEAREST)
    zok = valid_mask(zd)
    zoom = _grey(zd, zok, c[2] - cube_mm / 2, cube_mm)
    _annotate(zoom, (uvd[:, :2] - [x0, y0]) * scale,
              None if centre is None else (c[:2] - [x0, y0]) * scale, 3)
    _, buf = cv2.imencode(".png", np.concatenate([full, zoom], axis=1))
    return atomic_write(Path(path), lambda f: f.write(buf.tobytes()), binary=True)


def predict_files(project, files: list[Path], variant: str, *, progress=None,
                  cancel=None, draw: str | None = None, refine: bool = False):
    """``(N, 14, 3)`` u, v, d of depth PNGs with detected hand centres; errors name the
    file (not an NYU depth image, no valid depth, no hand). ``draw``: a folder for
    :func:`draw_skeleton` pictures."""
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
    names = [str(f) for f in files]
    centres = np.stack(centres)
    if refine:
        from ..nets.joints import refine_centres

        centres = refine_centres(project, depths, centres, names=names, cancel=cancel)
    uvd = pred.predict_frames(depths, centres, progress=progress, cancel=cancel, names=names)
    if draw:
        Path(draw).mkdir(parents=True, exist_ok=True)
        for f, d, u, c in zip(files, depths, uvd, centres):
            draw_skeleton(d, u, Path(draw) / f"{f.stem}_joints.png", centre=c)
    return uvd


def run(args) -> int:
    from ..evaluation import write_predictions
    from ..project import Project

    label = "handpose-studio predict"
    try:
        with Project.open(args.project) as project:
            if args.input:
                if args.centre == "gt":
                    raise BadInput(f"{args.input}: --centre gt needs ground truth; PNGs given "
                                   "with --input are predicted with --centre detect")
                files = input_files(args.input)
                uvd = predict_files(project, files, args.variant,
                                    progress=TerminalProgress("predict"), draw=args.draw,
                                    refine=args.centre == "refine")
                what = f"{len(files)} depth PNG(s) from {args.input} (name order)"
            else:
                from ..stages.evaluate import predict_split

                split = args.split or "test"
                uvd = predict_split(project, args.variant, split, centre=args.centre or "gt",
                                    progress=TerminalProgress("predict"))
                what = f"{len(uvd)} frames of split {split!r} (frame order)"
    except (BadInput, FileNotFoundError) as e:  # a bug (ValueError) is exit 1
        print(f"{label}: {e}", file=sys.stderr)
        return 2
    write_predictions(args.out, uvd)
    print(f"wrote {args.out}: {what}, variant {args.variant}")
    return 0
