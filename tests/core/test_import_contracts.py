"""The direction of dependency (pyproject.toml ``[tool.importlinter]``), checked by
import-linter: the core never imports the studio, Qt or pyqtgraph, no core package
imports the stages or the command line, and the studio's layers hold (window, panel list,
views, commands, models, workers)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
N_CONTRACTS = (REPO / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    exe = (shutil.which("lint-imports", path=str(Path(sys.executable).parent))
           or shutil.which("lint-imports"))
    assert exe, "lint-imports not found: pip install -e '.[test]' installs import-linter"
    return subprocess.run([exe, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)


def test_import_contracts_are_kept():
    r = _lint_imports(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{N_CONTRACTS} kept, 0 broken" in r.stdout


def _broken_copy(tmp_path, edits) -> subprocess.CompletedProcess:
    """lint-imports on a copy of the packages with ``(file, import line)`` added."""
    for name in ("handpose_core", "app"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    for rel, line in edits:
        f = tmp_path / rel
        f.write_text(f.read_text().replace("from __future__ import annotations\n",
                                           f"from __future__ import annotations\n{line}\n", 1))
    return _lint_imports(tmp_path)


def test_a_core_module_importing_the_studio_or_the_cli_breaks_the_contracts(tmp_path):
    """On a copy of the packages: an ``import app`` in camera.py and an import of the command
    line in evaluation.py are both reported, with the offending line."""
    r = _broken_copy(tmp_path, (("handpose_core/camera.py", "import app"),
                                ("handpose_core/evaluation.py",
                                 "from handpose_core.cli import main as _cli")))
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{N_CONTRACTS - 2} kept, 2 broken" in r.stdout
    assert "handpose_core.camera -> app" in r.stdout
    assert "handpose_core.evaluation -> handpose_core.cli.main" in r.stdout


def test_a_studio_layer_importing_one_above_breaks_the_studio_contract(tmp_path):
    """A worker importing a model, a command importing a view and a view importing the
    window: each is reported by the studio's layers contract."""
    r = _broken_copy(tmp_path, (("app/workers/restore_frame.py", "import app.models.session"),
                                ("app/commands/paint.py", "import app.views.quality"),
                                ("app/views/browser.py", "import app.main_window")))
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{N_CONTRACTS - 1} kept, 1 broken" in r.stdout
    for arrow in ("app.workers.restore_frame -> app.models.session",
                  "app.commands.paint -> app.views.quality",
                  "app.views.browser -> app.main_window"):
        assert arrow in r.stdout
