"""handpose_core: everything of handpose-studio that is not Qt.

Data layer (NYU layout, synthetic store), the synthetic hand renderer, networks,
patchwise restoration, training stages, evaluation and the project store. Importing
this package never loads PySide6 or pyqtgraph.
"""

from __future__ import annotations

import os
from pathlib import Path

__version__ = "0.1.0"


def resources_dir() -> Path:
    """The project's ``resources/`` folder (bundled model, palette, default configs).

    ``HANDPOSE_RESOURCES`` overrides it; otherwise it is the folder next to the package
    (the checkout, with an editable install).
    """
    env = os.environ.get("HANDPOSE_RESOURCES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "resources"
