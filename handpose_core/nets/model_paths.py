"""Which checkpoint a project uses for a network: a path kept in the project's metadata.

A path inside the project folder is stored relative to it (the project can move); one
outside is stored absolute. ``project`` is anything with ``root`` (a Path),
``get_meta(key)`` and ``set_meta(key, value)`` (:class:`handpose_core.project.Project`).
"""

from __future__ import annotations

import os
from pathlib import Path


def model_path(project, key: str) -> Path | None:
    """The checkpoint stored under metadata ``key`` (made absolute), or None when unset."""
    rel = project.get_meta(key)
    if not rel:
        return None
    p = Path(rel)
    return p if p.is_absolute() else Path(project.root) / p


def set_model_path(project, key: str, path: str | os.PathLike) -> None:
    """Store ``path`` under metadata ``key``: relative to the project when inside it,
    else absolute."""
    p = Path(path)
    try:
        rel = os.path.relpath(p, project.root)
    except ValueError:  # another drive (Windows)
        rel = None
    inside = rel is not None and rel != ".." and not rel.startswith(".." + os.sep) \
        and not os.path.isabs(rel)
    project.set_meta(key, rel if inside else str(p.resolve()))
