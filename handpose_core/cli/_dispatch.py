"""Nested subcommands (``train STAGE``, ``bench TARGET``): one module per target."""

from __future__ import annotations

import argparse
import importlib


def add_module_parsers(sub, entries: tuple[tuple[str, str, str], ...], module_key: str,
                       missing_key: str) -> None:
    """One sub-parser per ``(name, module, help)``; the module adds its own arguments.

    A module that does not exist yet (a later issue's command) is marked ``missing_key``
    so running it says so instead of failing with a traceback.
    """
    for name, module, help_ in entries:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(**{module_key: module})
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            sp.set_defaults(**{missing_key: True})
            continue
        mod.add_arguments(sp)


def add_targets(parser: argparse.ArgumentParser, dest: str,
                targets: tuple[tuple[str, str, str], ...]) -> None:
    sub = parser.add_subparsers(dest=dest, metavar=dest.upper(), required=True)
    add_module_parsers(sub, targets, "_target_module", "_target_missing")


def run_target(args: argparse.Namespace) -> int:
    if getattr(args, "_target_missing", False):
        raise SystemExit(f"handpose-studio: '{args._target_module}' is not available in this build")
    return int(importlib.import_module(args._target_module).run(args) or 0)


def open_project(args: argparse.Namespace, command: str):
    """``Project.open(args.project)``, or None after printing the error as
    ``handpose-studio COMMAND: ...`` on stderr (the caller returns 2)."""
    import sys

    from ..project import Project, ProjectError

    try:
        return Project.open(args.project)
    except ProjectError as e:
        print(f"handpose-studio {command}: {e}", file=sys.stderr)
        return None


def check_positive(args: argparse.Namespace, command: str, *names: str) -> bool:
    """False (after printing ``handpose-studio COMMAND: --NAME must be >= 1, got N``) when
    one of the integer options ``names`` is below 1; the caller returns 2."""
    import sys

    for name in names:
        v = getattr(args, name)
        if v is not None and v < 1:
            print(f"handpose-studio {command}: --{name.replace('_', '-')} must be >= 1, got {v}",
                  file=sys.stderr)
            return False
    return True
