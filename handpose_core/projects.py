"""Making projects: the demo project (rendered dataset) and projects over a real NYU root."""

from __future__ import annotations

import os
from pathlib import Path

from .project import DB_NAME, Project, ProjectError


def default_demo_dir() -> Path:
    """Where the studio keeps its demo project (the user's data folder)."""
    from platformdirs import user_data_dir

    return Path(os.environ.get("HANDPOSE_DEMO_DIR") or
                Path(user_data_dir("handpose-studio", appauthor=False)) / "demo-project")


def create_demo_project(root: str | os.PathLike, *, progress=None, cancel=None,
                        cube_mm: float = 300.0, **demo_kwargs) -> Project:
    """Render the deterministic demo dataset into ``root/dataset`` and open a project on it."""
    from .render import make_demo_dataset

    root = Path(root)
    if (root / DB_NAME).exists():
        raise ProjectError(f"{root}: a project already exists here")
    ds = root / "dataset"
    make_demo_dataset(ds, progress=progress, cancel=cancel, **demo_kwargs)
    return Project.create(root, ds, kind="demo", cube_mm=cube_mm)


def create_nyu_project(root: str | os.PathLike, nyu_root: str | os.PathLike, *,
                       cube_mm: float = 300.0) -> Project:
    return Project.create(root, nyu_root, kind="nyu", cube_mm=cube_mm)


def open_or_create_demo(root: str | os.PathLike | None = None, *, progress=None,
                        cancel=None) -> Project:
    root = Path(root) if root else default_demo_dir()
    if (root / DB_NAME).exists():
        return Project.open(root)
    return create_demo_project(root, progress=progress, cancel=cancel)
