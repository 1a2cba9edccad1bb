"""Nested subcommands (``train STAGE``, ``bench TARGET``): one module per target."""

from __future__ import annotations

import argparse
import importlib


def add_targets(parser: argparse.ArgumentParser, dest: str,
                targets: tuple[tuple[str, str, str], ...]) -> None:
    sub = parser.add_subparsers(dest=dest, metavar=dest.upper(), required=True)
    for name, module, help_ in targets:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(_target_module=module)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            sp.set_defaults(_target_missing=True)
            continue
        mod.add_arguments(sp)


def run_target(args: argparse.Namespace) -> int:
    if getattr(args, "_target_missing", False):
        raise SystemExit(f"handpose-studio: '{args._target_module}' is not available in this build")
    return int(importlib.import_module(args._target_module).run(args) or 0)
