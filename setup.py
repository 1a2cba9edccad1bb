"""Build hook: the top-level ``resources/`` folder (the bundled model and its manifest) is
installed as package data ``handpose_core/resources/``, so a regular (non-editable)
install finds it through :func:`handpose_core.resources_dir`. Everything else about the
package is declared in pyproject.toml; an editable install reads ``resources/`` in place."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCES = Path(__file__).resolve().parent / "resources"


class BuildPyWithResources(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "handpose_core" / "resources"
        for src in sorted(RESOURCES.rglob("*")):
            if src.is_file() and "__pycache__" not in src.parts:
                dst = target / src.relative_to(RESOURCES)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)


setup(cmdclass={"build_py": BuildPyWithResources})
