"""Nested subcommands (``train STAGE``, ``bench TARGET``): one module per target.

A command table entry is ``(name, target, help)``. ``target`` is the import path of a
module exposing ``add_arguments(parser)`` and ``run(args) -> int`` (imported when the
parser is built), or an object with those two methods: that is how the studio's console
script (``app/cli.py``) adds ``gui`` and ``bench gui`` without this package importing it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Attribute of a command's sub-parser holding extra targets for add_targets() to append
# (set by add_module_parsers from its ``extra_targets`` argument).
_EXTRA_ATTR = "_handpose_extra_targets"


def add_module_parsers(sub, entries, module_key: str, missing_key: str,
                       extra_targets=None, only: str | None = None) -> None:
    """One sub-parser per ``(name, target, help)``; the target adds its own arguments.

    A module that does not exist yet (a later issue's command) is marked ``missing_key``
    so running it says so instead of failing with a traceback. ``extra_targets`` maps a
    command name to further ``(name, target, help)`` entries that the command's own
    :func:`add_targets` call appends to its targets. With ``only``, the other entries get
    a sub-parser with their help line but no arguments (their modules, and what those
    import, are not loaded: ``compare`` never imports the stages, and so torch).
    """
    for name, target, help_ in entries:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(**{module_key: target})
        setattr(sp, _EXTRA_ATTR, tuple((extra_targets or {}).get(name, ())))
        if only is not None and name != only:
            continue
        if isinstance(target, str):
            try:
                target = importlib.import_module(target)
            except ModuleNotFoundError as e:
                if e.name != target:
                    raise
                sp.set_defaults(**{missing_key: True})
                continue
        target.add_arguments(sp)


def resolve(target):
    """The module named by ``target``, or ``target`` itself when it is a command object."""
    return importlib.import_module(target) if isinstance(target, str) else target


def add_targets(parser: argparse.ArgumentParser, dest: str, targets) -> None:
    sub = parser.add_subparsers(dest=dest, metavar=dest.upper(), required=True)
    add_module_parsers(sub, tuple(targets) + getattr(parser, _EXTRA_ATTR, ()),
                       "_target_module", "_target_missing")


def run_target(args: argparse.Namespace) -> int:
    if getattr(args, "_target_missing", False):
        raise SystemExit(f"handpose-studio: '{args._target_module}' is not available in this build")
    return int(resolve(args._target_module).run(args) or 0)


def open_project(args: argparse.Namespace, command: str):
    """``Project.open(args.project)``, or None after printing the error as
    ``handpose-studio COMMAND: ...`` on stderr (the caller returns 2)."""
    from ..project import Project, ProjectError

    try:
        return Project.open(args.project)
    except ProjectError as e:
        print(f"handpose-studio {command}: {e}", file=sys.stderr)
        return None


def check_positive(args: argparse.Namespace, command: str, *names: str) -> bool:
    """False (after printing ``handpose-studio COMMAND: --NAME must be >= 1, got N``) when
    one of the integer options ``names`` is below 1; the caller returns 2."""
    for name in names:
        v = getattr(args, name)
        if v is not None and v < 1:
            print(f"handpose-studio {command}: --{name.replace('_', '-')} must be >= 1, got {v}",
                  file=sys.stderr)
            return False
    return True
