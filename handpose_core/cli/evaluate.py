"""``handpose-studio evaluate --project DIR --what ...``: accuracy on a project."""

from __future__ import annotations

import importlib

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
    return int(importlib.import_module(WHAT[args.what]).run(args) or 0)
