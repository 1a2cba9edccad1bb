"""``handpose-studio train pretrain-seg``: stage 1, f_s on synthetic renders."""

from __future__ import annotations

import json
import sys


def add_arguments(parser) -> None:
    parser.add_argument("--project", required=True, help="project directory")
    parser.add_argument("--preset", choices=("fast", "paper"), default="fast",
                        help="f_s architecture (fast: the CPU default; paper: Table 1)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs")
    parser.add_argument("--samples", type=int, default=None,
                        help="synthetic training crops to render or reuse (default 40000)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a TrainConfig field (lr, batch_size, seed, ...) or a "
                        "stage setting (test_samples, store_seed, run_name, ...)")
    parser.add_argument("--restart", action="store_true",
                        help="start over instead of resuming an interrupted run")
    parser.add_argument("--export-bundle", metavar="PATH.pt",
                        help="also copy the best checkpoint to PATH.pt with a manifest PATH.json "
                        "(command, seeds, data sizes, accuracies): how resources/models/"
                        "segnet_fast.pt is made")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    from ..progress import Cancelled, TerminalProgress
    from ..project import Project, ProjectError
    from ..training.config import TrainConfig
    from ..training.pretrain_seg import PretrainSegSettings, pretrain_seg, with_overrides
    from .tables import print_pretrain_report

    try:
        project = Project.open(args.project)
        settings = PretrainSegSettings(preset=args.preset)
        config = TrainConfig()
        if args.epochs is not None:
            args.overrides.insert(0, f"epochs={args.epochs}")
        if args.samples is not None:
            args.overrides.insert(0, f"samples={args.samples}")
        config, settings = with_overrides(config, settings, args.overrides)
        report = pretrain_seg(project, settings, config, progress=TerminalProgress("pretrain-seg"),
                              resume=not args.restart)
    except Cancelled:
        print("cancelled; the last checkpoint is kept and the run resumes next time",
              file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, ProjectError) as e:
        print(f"handpose-studio train pretrain-seg: {e}", file=sys.stderr)
        return 2
    if args.export_bundle:
        from ..training.pretrain_seg import export_bundle

        export_bundle(report, args.export_bundle, command=" ".join(["handpose-studio", *args._argv]))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_pretrain_report(report)
    return 0
