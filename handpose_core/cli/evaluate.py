"""``handpose-studio evaluate --project DIR --what ...``: accuracy on a project."""

from __future__ import annotations

import json
import sys


def add_arguments(parser) -> None:
    parser.add_argument("--project", required=True, help="project directory")
    parser.add_argument("--what", required=True, choices=("segmentation", "restoration"),
                        help="segmentation: per-pixel / per-class accuracy of raw, restored and "
                        "fine-tuned maps; restoration: the Table 2 ablation and the quality check "
                        "(restores the labelled frames afresh, with and without integration)")
    parser.add_argument("--split", default=None, help="restrict to a split (train/test)")
    parser.add_argument("--dictionary", default=None,
                        help="restoration: the dictionary folder (default PROJECT/dictionary)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run(args) -> int:
    """Open the project, measure, print JSON or tables."""
    from ..progress import TerminalProgress
    from ..project import Project, ProjectError
    from ..stages.evaluate import restoration_report, segmentation_report

    try:
        with Project.open(args.project) as project:
            if args.what == "segmentation":
                rep = segmentation_report(project, args.split)
            else:
                n = len(project.labelled_crops(args.split)[0])
                print(f"restoring the {n} labelled frames with and without integration "
                      "for Table 2 ...", file=sys.stderr)
                rep = restoration_report(project, args.split, dictionary_dir=args.dictionary,
                                         progress=TerminalProgress("restoring"))
    except (ValueError, FileNotFoundError, ProjectError) as e:
        print(f"handpose-studio evaluate: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print_report({args.what: rep})
    return 0


def print_report(rep: dict) -> None:
    """Tables of a report with ``segmentation`` and/or ``restoration`` sections."""
    from .tables import pct, print_seg_table

    seg = rep.get("segmentation")
    if seg:
        print_seg_table(seg["results"], f"segmentation accuracy on {seg['frames']} labelled "
                        f"frames ({', '.join(seg['splits'])}), ground-truth hand pixels:")
        if not seg.get("restored_frames"):
            print("(no restored maps for these frames yet: run 'handpose-studio train restore "
                  f"--split {seg['splits'][0]}')")
    r = rep.get("restoration")
    if not r:
        return
    cols = {k: {"frames": r["frames"], **v} for k, v in r["table2"].items()}
    if "ceiling" in r:
        cols["ceiling (ground truth restored)"] = {"frames": r["frames"], **r["ceiling"]}
    print_seg_table(cols, f"Table 2 on {r['frames']} labelled frames "
                    f"({', '.join(r['splits'])}); dictionary of {r['dictionary_patches']:,} "
                    f"patches, {r['backend']} search:")
    q = r["quality_check"]
    s = q["separation"]
    print(f"\nquality check: {q['accepted']} accepted, {q['rejected']} rejected "
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
