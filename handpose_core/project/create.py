"""Making projects: the demo project (rendered dataset) and projects over a real NYU root."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

from ..datasets.crop import DEFAULT_CROP, CropSpec
from .schema import DB_NAME, ProjectError
from .store import Project


def default_demo_dir() -> Path:
    """Where the studio keeps its demo project (the user's data folder;
    ``HANDPOSE_DEMO_DIR`` overrides it)."""
    return Path(os.environ.get("HANDPOSE_DEMO_DIR") or
                Path(user_data_dir("handpose-studio", appauthor=False)) / "demo-project")


def create_demo_project(root: str | os.PathLike, *, progress=None, cancel=None,
                        crop: CropSpec = DEFAULT_CROP, **demo_kwargs) -> Project:
    """Render the deterministic demo dataset into ``root/dataset`` and open a project on it.

    ``demo_kwargs`` go to :func:`handpose_core.render.make_demo_dataset` (frame counts)."""
    # function-local for start-up time: opening a project never loads the renderer (numba,
    # OpenCV); rendering the demo does
    from ..render import make_demo_dataset

    root = Path(root)
    if (root / DB_NAME).exists():
        raise ProjectError(f"{root}: a project already exists here")
    from ..render.demo import DEMO_GENERATOR, DEMO_VERSION

    ds = root / "dataset"
    make_demo_dataset(ds, progress=progress, cancel=cancel, **demo_kwargs)
    project = Project.create(root, ds, kind="demo", crop=crop)
    project.set_meta("demo_version", str(DEMO_VERSION))
    project.set_meta("demo_generator", DEMO_GENERATOR)
    return project


def create_nyu_project(root: str | os.PathLike, nyu_root: str | os.PathLike, *,
                       crop: CropSpec = DEFAULT_CROP) -> Project:
    """A project over a real NYU root (nothing is copied; frames are read lazily)."""
    return Project.create(root, nyu_root, kind="nyu", crop=crop)


def open_or_create_demo(root: str | os.PathLike | None = None, *, progress=None,
                        cancel=None) -> Project:
    root = Path(root) if root else default_demo_dir()
    if (root / DB_NAME).exists():
        return Project.open(root)
    return create_demo_project(root, progress=progress, cancel=cancel)
