"""The direction of dependency (pyproject.toml ``[tool.importlinter]``), checked by
import-linter: the core never imports the studio, Qt or pyqtgraph; the core's packages
import only those on lower layers (the stage layer down to the leaf modules, every
package placed); no siblings, at any depth, import each other in a cycle; and the
studio's layers hold (window, panel list, views, commands, models, workers)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

QT = "The core never imports the studio, Qt or pyqtgraph"
LAYERS = "The core's layers: benchmarks > command line > stages > ... > leaf modules"
ACYCLIC = "No import cycle among the core's siblings, at any depth"
STUDIO = "Studio layers: cli > window > panels > views > commands > models > workers"


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    exe = (shutil.which("lint-imports", path=str(Path(sys.executable).parent))
           or shutil.which("lint-imports"))
    assert exe, "lint-imports not found: pip install -e '.[test]' installs import-linter"
    return subprocess.run([exe, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)


def _flat(text: str) -> str:
    """lint-imports' report with its line wrapping undone (it wraps long contract names)."""
    return " ".join(text.split())


def test_import_contracts_are_kept():
    r = _lint_imports(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ", 0 broken" in r.stdout
    for name in (QT, LAYERS, ACYCLIC, STUDIO):
        assert f"{name} KEPT" in _flat(r.stdout), name


def _insert_import(path: Path, line: str) -> None:
    text = path.read_text()
    assert "from __future__ import annotations\n" in text, path
    path.write_text(text.replace("from __future__ import annotations\n",
                                 f"from __future__ import annotations\n{line}\n", 1))


def test_a_violation_of_each_contract_is_reported(tmp_path):
    """On a copy of the packages, one violation per contract, each reported with the
    offending import: ``import app`` in camera.py (Qt-free core); the command line
    imported by evaluation.py and the networks by the datasets (an import upwards); a
    package missing from the layer list; and a cycle inside restoration (patches.py
    importing restore.py, which imports it), which no layer contract sees."""
    for name in ("handpose_core", "app"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    core = tmp_path / "handpose_core"
    _insert_import(core / "camera.py", "import app")
    _insert_import(core / "evaluation.py", "from handpose_core.cli import main as _cli")
    _insert_import(core / "datasets" / "crop.py", "from ..nets import segnet as _segnet")
    _insert_import(core / "restoration" / "patches.py", "from . import restore as _restore")
    (core / "unplaced").mkdir()
    (core / "unplaced" / "__init__.py").write_text('"""A package with no layer."""\n')
    r = _lint_imports(tmp_path)
    out = _flat(r.stdout + r.stderr)
    assert r.returncode == 1, out
    for name in (QT, LAYERS, ACYCLIC):
        assert f"{name} BROKEN" in out, name
    assert "handpose_core.camera -> app" in out
    assert "handpose_core.evaluation -> handpose_core.cli.main" in out
    assert "handpose_core.datasets.crop -> handpose_core.nets.segnet" in out
    assert "handpose_core.unplaced" in out
    assert "No cycles are allowed in handpose_core.restoration" in out
    assert ".patches -> .restore" in out or ".restore -> .patches" in out


def test_the_structure_drawing_shows_no_cycle_and_no_upward_import():
    """docs/import_graph.py (the drawing in docs/architecture.md) reads the same layers and
    finds every package placed, no cycle and no import upwards."""
    r = subprocess.run([sys.executable, str(REPO / "docs" / "import_graph.py")], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No cycle, no upward import." in r.stdout
    assert " 1. bench" in r.stdout and "stages       -> " in r.stdout


def test_a_studio_layer_importing_one_above_breaks_the_studio_contract(tmp_path):
    """A worker importing a model, a command importing a view and a view importing the
    window: each is reported by the studio's layers contract, and only by it."""
    for name in ("handpose_core", "app"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    _insert_import(tmp_path / "app" / "workers" / "restore_frame.py", "import app.models.session")
    _insert_import(tmp_path / "app" / "commands" / "paint.py", "import app.views.quality")
    _insert_import(tmp_path / "app" / "views" / "browser.py", "import app.main_window")
    r = _lint_imports(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    out = _flat(r.stdout)
    assert f"{STUDIO} BROKEN" in out
    for name in (QT, LAYERS, ACYCLIC):
        assert f"{name} KEPT" in out, name
    for arrow in ("app.workers.restore_frame -> app.models.session",
                  "app.commands.paint -> app.views.quality",
                  "app.views.browser -> app.main_window"):
        assert arrow in out
