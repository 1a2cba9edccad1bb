"""``handpose-studio evaluate --project DIR --what ...``: accuracy on a project."""

from __future__ import annotations

import importlib
import json
import sys

WHAT = {
    "segmentation": "handpose_core.cli.evaluate_segmentation",
    "restoration": "handpose_core.cli.evaluate_restoration",
}


def add_arguments(parser) -> None:
    parser.add_argument("--project", required=True, help="project directory")
    parser.add_argument("--what", required=True, choices=sorted(WHAT),
                        help="segmentation: per-pixel / per-class accuracy of raw, restored and "
                        "fine-tuned maps; restoration: the Table 2 ablation and the quality check")
    parser.add_argument("--split", default=None, help="restrict to a split (train/test)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run(args) -> int:
    """Open the project, let the ``--what`` module measure, print JSON or its tables."""
    from ..project import Project, ProjectError

    mod = importlib.import_module(WHAT[args.what])
    try:
        with Project.open(args.project) as project:
            rep = mod.report(project, args)
    except (ValueError, FileNotFoundError, ProjectError) as e:
        print(f"handpose-studio evaluate: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        mod.print_text(rep)
    return 0
