"""``handpose-studio evaluate --project DIR --what ...``: accuracy on a project."""

from __future__ import annotations

import json
import sys

from ..errors import BadInput
from ..progress import TerminalProgress


def add_arguments(parser) -> None:
    parser.add_argument("--project", required=True, help="project directory")
    parser.add_argument("--what", required=True,
                        choices=("segmentation", "restoration", "joints", "detection"),
                        help="segmentation: per-pixel / per-class accuracy of raw, restored and "
                        "fine-tuned maps (Table 3); restoration: the Table 2 ablation and the "
                        "quality check (restores the labelled frames afresh, with and without "
                        "integration and with the two CRFs); joints: every trained f_r "
                        "variant's 3D / 2D joint errors (Table 4); detection: the hand centre "
                        "found from depth alone against the ground-truth palm centre")
    parser.add_argument("--split", default=None,
                        help="restrict to a split (train/test; joints: default test)")
    parser.add_argument("--centre", default="gt", choices=("gt", "detect", "refine"),
                        help="joints: crop around the ground-truth palm centre, the hand "
                        "centre detected from depth, or that centre moved to the palm variant "
                        "a predicts there")
    parser.add_argument("--runs", action="store_true",
                        help="joints: one row per finished train-reg run folder under "
                        "PROJECT/models (e.g. an ablation's runs, named by --run-name) instead of "
                        "one per variant (the project's current f_r)")
    parser.add_argument("--dictionary", default=None,
                        help="restoration: the dictionary folder (default PROJECT/dictionary)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run(args) -> int:
    """Open the project, measure, print JSON or tables."""
    from ..project import Project
    from ..stages.evaluate import restoration_report, segmentation_report

    try:
        with Project.open(args.project) as project:
            if args.what == "segmentation":
                rep = segmentation_report(project, args.split)
            elif args.what == "detection":
                from ..stages.evaluate import detection_report

                rep = detection_report(project, args.split or "test",
                                       progress=TerminalProgress("detecting"))
            elif args.what == "joints":
                from ..stages.evaluate import joints_report

                rep = joints_report(project, args.split or "test", centre=args.centre,
                                    runs=args.runs, progress=TerminalProgress("predicting"))
            else:
                n = len(project.labelled_crops(args.split)[0])
                print(f"restoring the {n} labelled frames with and without integration "
                      "for Table 2 ...", file=sys.stderr)
                rep = restoration_report(project, args.split, dictionary_dir=args.dictionary,
                                         progress=TerminalProgress("restoring"))
    except (BadInput, FileNotFoundError) as e:  # a bug (ValueError) is exit 1
        print(f"handpose-studio evaluate: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print_report({args.what: rep})
    return 0


def print_report(rep: dict) -> None:
    """Tables of a report with ``segmentation`` and/or ``restoration`` sections."""
    from .tables import print_seg_table

    seg = rep.get("segmentation")
    if seg:
        print_seg_table(seg["results"], f"segmentation accuracy on {seg['frames']} labelled "
                        f"frames ({', '.join(seg['splits'])}), ground-truth hand pixels:")
        if not seg.get("restored_frames"):
            print("(no restored maps for these frames yet: run 'handpose-studio train restore "
                  f"--split {seg['splits'][0]}')")
    if rep.get("detection"):
        d = rep["detection"]
        print(f"hand centre from depth alone vs ground-truth palm centre, {d['frames']} frames "
              f"of split {d['split']!r} (3D error):")
        print(f"  mean {d['mean_mm']:.1f} mm, median {d['median_mm']:.1f} mm, 90th percentile "
              f"{d['p90_mm']:.1f} mm, max {d['max_mm']:.1f} mm")
        print(f"  within 20 mm {100 * d['within_20mm']:.1f} %, within 40 mm "
              f"{100 * d['within_40mm']:.1f} %; crop holds all 14 joints "
              f"{100 * d['crop_holds_all_joints']:.1f} %; mean offset x, y, z "
              + ", ".join(f"{v:+.1f}" for v in d["mean_offset_xyz_mm"]) + " mm (y up)")
        if d["no_hand"]:
            print(f"  no hand found in {len(d['no_hand'])} frames: {', '.join(d['no_hand'][:5])}")
    if rep.get("joints"):
        print_joints(rep["joints"])
    r = rep.get("restoration")
    if not r:
        return
    cols = {k: {"frames": r["frames"], **v} for k, v in r["table2"].items()}
    if "ceiling" in r:
        cols["ceiling (ground truth restored)"] = {"frames": r["frames"], **r["ceiling"]}
    print_seg_table(cols, f"Table 2 on {r['frames']} labelled frames "
                    f"({', '.join(r['splits'])}); dictionary of {r['dictionary_patches']:,} "
                    f"patches, {r['backend']} search:")
    for m, c in r.get("crf", {}).items():
        print(f"  {m}: " + (c if isinstance(c, str) else
                            f"pairwise weight {c['weight']:g} (tuned on held-out synthetic "
                            f"maps), {c['ms_per_frame']:.0f} ms/frame with its search"))
    for key, what in (("quality_check", "NN, integration (the paper's)"),
                      ("quality_check_joint_prior", "joint-prior (the restore default)")):
        if key in r:
            print_quality_check(r[key], what)


def print_quality_check(q: dict, what: str) -> None:
    from .tables import pct

    s = q["separation"]
    print(f"\nquality check of {what}: {q['accepted']} accepted, {q['rejected']} rejected "
          f"(rejection rate {100 * q['rejection_rate']:.1f} %); barycenter score (mean per "
          f"scored joint) raw {q['mean_score_raw_mm']:.1f} mm, restored "
          f"{q['mean_score_restored_mm']:.1f} mm")
    print(f"  restoration helped / hurt per-pixel accuracy: accepted {s['accepted_helped']} / "
          f"{s['accepted_hurt']}, rejected {s['rejected_helped']} / {s['rejected_hurt']} frames")
    for name in ("accepted", "rejected"):
        sec = q.get(name + "_frames")
        if sec:
            print(f"  {name:<9} frames: per-pixel raw {pct(sec['raw']['per_pixel'])} -> restored "
                  f"{pct(sec['restored']['per_pixel'])} %, per-class raw "
                  f"{pct(sec['raw']['per_class'])} -> restored {pct(sec['restored']['per_class'])} %")


def print_joints(rep: dict) -> None:
    """Table 4: one row per trained variant, then per-joint mean errors."""
    from ..skeleton import EVAL_SHORT

    vs = rep["variants"]
    n = next(iter(vs.values()))["frames"] if vs else 0
    print(f"joint errors on {n} frames of split {rep['split']!r}, {rep['centre']} hand centres:")
    runs = bool(rep.get("runs"))
    w = max([46, *(len(v) + len(r["title"]) + 3 for v, r in vs.items())])
    print(f"{'run' if runs else 'variant':<{w}} {'3D mm':>7} {'median':>7} {'2D px':>6} "
          f"{'<=20mm':>7} {'<=30mm':>7} {'<=40mm':>7}")
    for v, r in vs.items():
        s = r["success_max_frame"]
        name = f"{v} ({r['title']})" if runs else f"{v} {r['title']}"
        print(f"{name:<{w}} {r['mean_mm']:7.2f} {r['median_mm']:7.2f} "
              f"{r['mean_px']:6.2f} {100 * s['20']:6.1f}% {100 * s['30']:6.1f}% "
              f"{100 * s['40']:6.1f}%")
    k = max([8, *(len(v) + 1 for v in vs)])
    print("\nper-joint mean 3D error (mm):")
    print(f"{'':{k}}" + "".join(f"{n:>7}" for n in EVAL_SHORT))
    for v, r in vs.items():
        print(f"{v:<{k}}" + "".join(f"{e:7.1f}" for e in r["per_joint_mm"]))
