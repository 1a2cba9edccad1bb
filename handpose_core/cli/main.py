"""The command line of the core: one subcommand per job.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; heavy imports (torch, numba) happen inside ``run``, so
``handpose-studio compare`` never loads torch. Qt is never loaded here: the console
script ``handpose-studio`` is ``app.cli:main``, which adds the studio's commands
(``gui``, ``bench gui``) through ``extra_commands`` / ``extra_targets`` and hands the rest
to :func:`main`. ``python -m handpose_core.cli.main COMMAND`` runs every core command
without the studio installed.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import BadInput
from ..progress import Cancelled
from ._dispatch import add_module_parsers, resolve

# Subcommands with nested targets (train STAGE, bench TARGET, evaluate --what) dispatch
# inside their own module.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("init", "handpose_core.cli.init", "create a project from the demo set or an NYU root"),
    ("synth", "handpose_core.cli.synth", "render synthetic hands: store, NYU layout, preview"),
    ("train", "handpose_core.cli.train",
     "run a stage of the pipeline (synthetic, pretrain-seg, build-dictionary, restore, "
     "finetune-seg, train-reg, evaluate)"),
    ("evaluate", "handpose_core.cli.evaluate", "measure segmentation / restoration / joints on a project"),
    ("predict", "handpose_core.cli.predict",
     "predict joints of a split, a depth PNG or a folder of them (community format)"),
    ("compare", "handpose_core.cli.compare", "compare prediction files against NYU ground truth"),
    ("realism", "handpose_core.cli.realism",
     "how NYU-like a project's frames are: the same statistics on the real sample frame"),
    ("bench", "handpose_core.cli.bench", "measure speed: render, segnet, restore, pipeline, guidance"),
)


def build_parser(extra_commands=(), extra_targets=None,
                 description: str = "", only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command in :data:`COMMANDS`, after ``extra_commands``.

    ``extra_commands`` are ``(name, target, help)`` entries listed first; ``extra_targets``
    maps a command with targets (``bench``, ``train``) to entries appended to its targets.
    A target is a module path or an object with ``add_arguments`` and ``run``. With
    ``only``, only that command's arguments are built (the others keep their help line).
    """
    p = argparse.ArgumentParser(
        prog="handpose-studio",
        description=description or "Hand pose estimation on depth images through semi- and "
        "weakly-supervised learning (Neverova et al.): the command line of the core.",
    )
    p.add_argument("--version", action="version", version=f"handpose-studio {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    add_module_parsers(sub, tuple(extra_commands) + COMMANDS, "_module", "_missing", extra_targets,
                       only)
    return p


def main(argv: list[str] | None = None, *, extra_commands=(), extra_targets=None,
         description: str = "") -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the command; returns the exit code:
    0 success, 2 bad input (:class:`~handpose_core.errors.BadInput` or a missing file: a
    message on stderr naming the file and the problem), 130 interrupted (Ctrl-C or
    cancelled), 1 any other failure (a bug, an internal ``ValueError`` included: its
    traceback is printed). Without a command it prints the help on stderr and returns 2; argparse's
    own usage errors and ``--version`` exit through ``SystemExit`` (2 and 0).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    names = {e[0] for e in tuple(extra_commands) + COMMANDS}
    only = argv[0] if argv and argv[0] in names else None
    parser = build_parser(extra_commands, extra_targets, description,
                          only=only if only is not None else ("" if argv else None))
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    args._argv = argv  # the command as typed, for manifests and run records
    if getattr(args, "_missing", False):
        parser.error(f"'{args.command}' is not available in this build yet")
    mod = resolve(args._module)

    try:
        return int(mod.run(args) or 0)
    except (KeyboardInterrupt, Cancelled):
        print("interrupted", file=sys.stderr)
        return 130
    except (BadInput, FileNotFoundError) as e:  # bad input a command did not catch itself
        print(f"handpose-studio {args.command}: {e}", file=sys.stderr)
        return 2
    except ValueError:  # any other: the program's own mistake, not the user's input
        import traceback

        traceback.print_exc()
        print(f"handpose-studio {args.command}: internal error (a bug, not bad input): "
              "the traceback above says where", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
