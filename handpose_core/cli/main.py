"""Entry point of ``handpose-studio``: one subcommand per job.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so
``handpose-studio compare`` never loads torch or Qt.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ._dispatch import add_module_parsers

# Subcommands with nested targets (train STAGE, bench TARGET, evaluate --what) dispatch
# inside their own module.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("gui", "handpose_core.cli.gui",
     "open the studio (default command; for now a placeholder window summarising the project)"),
    ("init", "handpose_core.cli.init", "create a project from the demo set or an NYU root"),
    ("synth", "handpose_core.cli.synth", "render synthetic hands: store, NYU layout, preview"),
    ("train", "handpose_core.cli.train",
     "run a stage of the pipeline (synthetic, pretrain-seg, build-dictionary, restore, evaluate)"),
    ("evaluate", "handpose_core.cli.evaluate", "measure segmentation / restoration / joints on a project"),
    ("compare", "handpose_core.cli.compare", "compare prediction files against NYU ground truth"),
    ("bench", "handpose_core.cli.bench", "measure speed: render, segnet, restore"),
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="handpose-studio",
        description="Hand pose estimation on depth images through semi- and weakly-supervised "
        "learning (Neverova et al.): a studio and its command line. Without a command, the "
        "studio opens on the demo project.",
    )
    p.add_argument("--version", action="version", version=f"handpose-studio {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    add_module_parsers(sub, COMMANDS, "_module", "_missing")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["gui"]
    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = argv  # the command as typed, for manifests and run records
    if getattr(args, "_missing", False):
        parser.error(f"'{args.command}' is not available in this build yet")
    mod = importlib.import_module(args._module)
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
