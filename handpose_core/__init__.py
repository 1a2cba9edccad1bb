"""handpose_core: everything of handpose-studio that is not Qt.

Data layer (NYU layout, synthetic store), the synthetic hand renderer, networks,
patchwise restoration, training stages, evaluation and the project store. Importing
this package never loads PySide6 or pyqtgraph.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

__version__ = "0.1.0"


def resources_dir() -> Path:
    """The folder of bundled resources (``models/segnet_fast.pt`` and its manifest).

    ``HANDPOSE_RESOURCES`` overrides it. A regular install carries it as package data
    (``handpose_core/resources``, copied there by setup.py's build hook); in a checkout
    or an editable install it is the top-level ``resources/`` beside the package.
    """
    env = os.environ.get("HANDPOSE_RESOURCES")
    if env:
        return Path(env)
    installed = Path(str(files(__name__).joinpath("resources")))
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "resources"
