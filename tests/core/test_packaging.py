"""The bundled model is package data: a wheel built from the checkout carries
resources/models as ``handpose_core/resources/models``, and ``resources_dir()`` finds it
in that installed layout (not only in the checkout)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLED = ("models/segnet_fast.pt", "models/segnet_fast.json")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_resources_dir_in_the_checkout_holds_the_bundled_model(monkeypatch):
    from handpose_core import resources_dir

    monkeypatch.delenv("HANDPOSE_RESOURCES", raising=False)
    for rel in BUNDLED:
        assert (resources_dir() / rel).is_file(), rel


def test_wheel_carries_the_bundled_model_and_finds_it_installed(tmp_path):
    """Builds a wheel from a copy of the sources (about 4 s), unpacks it as an install would
    and asks the unpacked package, from outside the checkout, where its model is."""
    pytest.importorskip("setuptools", reason="building the wheel offline needs setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(REPO / name, src)
    for name in ("handpose_core", "app", "resources"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(tmp_path / "dist"), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = (tmp_path / "dist").glob("handpose_studio-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for rel in BUNDLED:
            assert f"handpose_core/resources/{rel}" in names
            packed = z.read(f"handpose_core/resources/{rel}")
            assert _sha(packed) == _sha((REPO / "resources" / rel).read_bytes())
        entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "handpose-studio = app.cli:main" in z.read(entry).decode()
        z.extractall(tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if k != "HANDPOSE_RESOURCES"}
    env["PYTHONPATH"] = str(tmp_path / "site")
    code = ("import handpose_core as h; p = h.resources_dir() / 'models' / 'segnet_fast.pt'; "
            "print(h.__file__); print(p); print(p.is_file())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    pkg, model, exists = r.stdout.split("\n")[:3]
    assert Path(pkg).is_relative_to(tmp_path / "site")
    assert model == str(tmp_path / "site" / "handpose_core" / "resources" / "models" / "segnet_fast.pt")
    assert exists == "True"


def test_the_readme_test_command_is_the_one_ci_runs():
    """The README's test command and .ci/run's run the same selection (issue 27: CI
    runs the slow tests too, not the very slow reproduction)."""
    import re
    import shlex

    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text()
    ci = (repo / ".ci" / "run").read_text()
    want = re.search(r'pip install -e "\.\[test\]" && python -m pytest(.*)$', readme, re.M)
    got = [ln for ln in ci.splitlines() if re.match(r"\s*python3? -m pytest", ln)]
    assert want and len(got) == 1, (want, got)
    ci_args = shlex.split(got[0].split("#")[0])[3:]
    assert shlex.split(want.group(1)) == ci_args == ["-m", "not very_slow"]
