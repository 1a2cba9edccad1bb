"""``handpose-studio gui [--project DIR]``: open the studio (Qt is imported only here)."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--project", default=None,
                        help="project directory (default: the demo project in the user data "
                        "folder, created on first launch)")


def run(args) -> int:
    from app.main import run_studio

    return run_studio(args.project)
