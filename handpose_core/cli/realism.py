"""``handpose-studio realism --project DIR`` (or ``--dataset ROOT``): how NYU-like a
project's frames are.

Measures the same statistics (:mod:`handpose_core.realism`: hand pixels in the crop,
finger widths, depth profile across the silhouette and across a finger, no-return
around the hand, quantisation; :mod:`handpose_core.render.reallike.joint_stats`: joint
proportions, finger extension, palm orientation and depth) on the real NYU sample frame
(``../shared/data/nyu-real-sample``, when it is there) and on a split of the project's
frames, next to the shipped NYU test-set numbers. Exit 2 on bad input.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from ..errors import BadInput

DEFAULT_REAL_SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nyu-real-sample"

JOINT_ROWS = (
    ("palm_tip_middle", "palm centre -> middle tip (mm)"),
    ("pip_tip_middle", "middle PIP -> tip (mm)"),
    ("palm_tip_index", "palm centre -> index tip (mm)"),
    ("pip_tip_index", "index PIP -> tip (mm)"),
    ("palm_tip_thumb", "palm centre -> thumb tip (mm)"),
    ("wrist_width", "wrist width (mm)"),
    ("wrist_palm", "wrist -> palm centre (mm)"),
    ("ext_index", "index extension ratio"),
    ("ext_middle", "middle extension ratio"),
    ("ext_pinky", "pinky extension ratio"),
    ("facing_deg", "palm normal vs camera axis (deg)"),
    ("tilt_deg", "wrist->palm axis out of image plane (deg)"),
    ("depth", "palm-centre depth (mm)"),
)
FRAME_ROWS = (
    ("crop_pixels", "in-cube pixels of the 48x48 crop"),
    ("labelled_hand_pixels", "hand-labelled pixels of the crop"),
    ("hand_area_cm2", "hand mask area facing the camera (cm2)"),
    ("finger_width_mm", "finger width (mm)"),
    ("finger_width_px", "finger width (px)"),
    ("finger_sag_mm", "depth sag across a finger (mm)"),
    ("rim_falloff_mm", "depth fall-off 1 px inside the silhouette (mm)"),
    ("edge_no_return", "no-return share of the silhouette edge"),
    ("edge_step_mm", "depth step at the silhouette, valid (mm)"),
    ("ring_no_return", "no-return fraction, ring 2-12 mm around hand"),
    ("hole_fraction", "no-return holes inside the hand"),
    ("quant_step_mm", "depth quantisation step at the hand (mm)"),
    ("quant_k", "quantisation step / z^2 (mm per m^2)"),
)


def add_arguments(parser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--project", help="project directory (its dataset is measured)")
    src.add_argument("--dataset", help="an NYU-layout root instead of a project")
    parser.add_argument("--split", default="test", help="split to measure (default test)")
    parser.add_argument("--max-frames", type=int, default=0,
                        help="measure at most this many frames, evenly spread (0: all)")
    parser.add_argument("--real-sample", default=str(DEFAULT_REAL_SAMPLE),
                        help="folder of the real NYU sample frame (default ../shared/data/"
                        "nyu-real-sample next to the checkout; skipped when absent)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _real_sample(folder: Path):
    """(depth, uvd14) of the real sample frame, or None (with the reason) when absent."""
    import numpy as np

    from ..datasets.nyu import read_depth

    depth_p, gt_p = folder / "depth_1_0000001.png", folder / "test_groundtruth_uvd_frame1.txt"
    if not (depth_p.is_file() and gt_p.is_file()):
        return None, f"{folder}: real NYU sample not available"
    gt = np.loadtxt(gt_p, ndmin=2)
    if gt.shape != (1, 42):
        raise BadInput(f"{gt_p}: expected one line of 42 numbers, got shape {gt.shape}")
    return (read_depth(depth_p), gt.reshape(14, 3)), ""


def measure(dataset, split: str, max_frames: int, real_folder: Path, progress=None) -> dict:
    """The report: ``real`` (frame statistics and joint statistics of the sample frame, or
    ``None``), ``frames`` (summaries over the split), ``joints`` (summaries of the split's
    joints), ``nyu`` (the shipped NYU numbers), ``acceptance`` (issue 22's joint check)."""
    import numpy as np

    from .. import realism as R
    from ..camera import NYU_CAMERA
    from ..render.reallike import joint_stats as js
    from ..render.reallike.nyu_stats import NYU, SOURCE

    frames = dataset.frames(split)
    if len(frames) == 0:
        raise BadInput(f"{dataset.root}/{split}: no frames with depth and joints")
    uvd_all = dataset.joints14_uvd(split)
    if max_frames and len(frames) > max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, max_frames).round().astype(int)]
    rows = []
    for i, f in enumerate(frames):
        rows.append(R.measure_frame(dataset.depth(split, int(f)), uvd_all[f - 1],
                                    dataset.labels(split, int(f))))
        if progress:
            progress(i + 1, len(frames), "measuring frames")
    joints = js.per_hand(NYU_CAMERA.uvd_to_xyz(uvd_all[frames - 1]))
    rep = {"split": split, "frames_measured": int(len(frames)),
           "frames": R.summarise_frames(rows),
           "joints": js.summarise(joints), "open_fraction": js.open_fraction(joints),
           "acceptance": js.nyu_acceptance(joints),
           "nyu": {k: NYU["all"]["stats"][k] for k, _ in JOINT_ROWS},
           "nyu_open_fraction": NYU["all"]["open_fraction"], "nyu_source": SOURCE}
    real, why = _real_sample(real_folder)
    if real is None:
        rep["real"] = None
        rep["real_missing"] = why
    else:
        d, uvd = real
        st = js.per_hand(NYU_CAMERA.uvd_to_xyz(uvd[None]))
        rep["real"] = {"frame": R.measure_frame(d, uvd),
                       "joints": {k: round(float(v[0]), 3) for k, v in st.items()}}
    return rep


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    ax = abs(x)
    return f"{x:.0f}" if ax >= 100 else f"{x:.1f}" if ax >= 10 else f"{x:.2f}" if ax >= 1 else f"{x:.3f}"


def _rng(s) -> str:
    if s is None:
        return "-"
    mid = s["p50"] if "p50" in s else s["median"]
    return f"{_fmt(mid)} [{_fmt(s['p10'])}, {_fmt(s['p90'])}]"


def print_table(rep: dict, out=None) -> None:
    out = sys.stdout if out is None else out  # looked up per call: a default bound at import
    real = rep.get("real")                    # would outlive a redirected / closed stdout
    w = 46
    print(f"{'statistic':<{w}} {'real NYU frame':>15}  {'frames: median [p10, p90]':>28}  "
          f"{'NYU test set':>24}", file=out)
    print("-" * (w + 73), file=out)
    for k, name in FRAME_ROWS:
        rv = real["frame"].get(k) if real else None
        print(f"{name:<{w}} {_fmt(rv):>15}  {_rng(rep['frames'].get(k)):>28}  {'-':>24}", file=out)
    for k, name in JOINT_ROWS:
        rv = real["joints"].get(k) if real else None
        print(f"{name:<{w}} {_fmt(rv):>15}  {_rng(rep['joints'][k]):>28}  {_rng(rep['nyu'][k]):>24}",
              file=out)
    of, nf = rep["open_fraction"], rep["nyu_open_fraction"]
    print(f"{'hands with all four fingers straight (ext>0.9)':<{w}} {'-':>15}  "
          f"{_fmt(of['all_four']):>28}  {_fmt(nf['all_four']):>24}", file=out)
    acc = rep["acceptance"]
    print(f"\n{rep['frames_measured']} frames of split '{rep['split']}'. Issue 22 joint check "
          f"(medians within 10 % of NYU's, p10-p90 overlap): "
          f"{'PASS' if acc['ok'] else 'FAIL'} (palm->middle tip "
          f"{acc['palm_tip_middle']['relative_difference']:+.1%}, middle PIP->tip "
          f"{acc['pip_tip_middle']['relative_difference']:+.1%})", file=out)
    if real is None:
        print(rep.get("real_missing", "real sample not available"), file=out)
    src = rep["nyu_source"]
    print(f"NYU numbers: {src['repository']} {src['path']} @ {src['commit'][:10]}", file=out)


def run(args) -> int:
    from ..datasets.nyu import NYUDataset
    from ..progress import TerminalProgress
    from ..project import Project, ProjectError

    try:
        if args.project:
            with Project.open(args.project) as project:
                rep = measure(project.dataset, args.split, args.max_frames, Path(args.real_sample),
                              TerminalProgress("realism"))
        else:
            rep = measure(NYUDataset(args.dataset), args.split, args.max_frames,
                          Path(args.real_sample), TerminalProgress("realism"))
    except (ValueError, FileNotFoundError, ProjectError) as e:
        print(f"handpose-studio realism: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep, indent=1, default=float))
    else:
        print_table(rep)
    return 0
