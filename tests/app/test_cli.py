"""The console script: routing of gui / bench gui / core commands, and the display check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import app.main
from app import cli
from handpose_core.cli.main import COMMANDS

REPO = Path(__file__).resolve().parents[2]


def _env(**changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(changes)
    env["PYTHONPATH"] = str(REPO)
    return env


def test_help_lists_gui_and_every_core_command(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("    ") and line.split()]
    assert listed[0] == "gui"
    assert set(listed) >= {"gui"} | {name for name, _, _ in COMMANDS}
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "gui " in out and "render" in out and "restore" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == "handpose-studio 0.1.0"


def test_gui_and_default_route_to_run_studio(monkeypatch, tmp_path):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    calls = []
    monkeypatch.setattr(app.main, "run_studio", lambda d=None: calls.append(d) or 7)
    assert cli.main(["gui", "--project", str(tmp_path)]) == 7
    assert cli.main([]) == 7
    assert calls == [str(tmp_path), None]


def test_core_commands_go_to_the_core(tmp_path, capsys):
    """A core command run through the console script behaves as through the core."""
    gt, pred = tmp_path / "gt.txt", tmp_path / "pred.txt"
    gt.write_text(" ".join(["320 240 500"] * 14) + "\n")
    pred.write_text(" ".join(["320 240 510"] * 14) + "\n")  # 10 mm deeper on the optical axis
    assert cli.main(["compare", str(gt), str(pred), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["name"] == "pred" and report[0]["mean_mm"] == pytest.approx(10.0)


def test_bench_gui_routes_to_app_bench_gui_with_its_options(monkeypatch):
    seen = []
    mod = types.ModuleType("app.bench.gui")
    mod.add_arguments = lambda p: p.add_argument("--frames", type=int, default=200)
    mod.run = lambda args: seen.append((args.frames, args._argv)) or 0
    monkeypatch.setitem(sys.modules, "app.bench.gui", mod)
    # `import app.bench.gui as mod` reads the package attribute once the real module was
    # imported (by an earlier test), so replace that too
    import app.bench

    monkeypatch.setattr(app.bench, "gui", mod, raising=False)
    assert cli.main(["bench", "gui", "--frames", "3"]) == 0
    assert seen == [(3, ["bench", "gui", "--frames", "3"])]


def test_bench_gui_missing_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "app.bench.gui", None)  # import fails as if absent
    assert cli.main(["bench", "gui"]) == 2
    assert "app/bench/gui.py is missing" in capsys.readouterr().err


def test_core_alone_has_no_gui_command():
    r = subprocess.run([sys.executable, "-m", "handpose_core.cli.main", "gui"],
                       capture_output=True, text=True, env=_env(), cwd=REPO)
    assert r.returncode == 2 and "invalid choice: 'gui'" in r.stderr


@pytest.mark.parametrize("env, expect", [
    ({}, "no display: neither DISPLAY nor WAYLAND_DISPLAY is set"),
    ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "w"}, "QT_QPA_PLATFORM=xcb but DISPLAY is not set"),
    ({"QT_QPA_PLATFORM": "offscreen"}, None),
    ({"WAYLAND_DISPLAY": "wayland-0"}, None),
])
def test_display_problem_from_environment(env, expect):
    got = cli.display_problem(env, platform="linux")
    assert got == expect if expect is None else expect in got
    assert cli.display_problem({}, platform="win32") is None


def test_debian_package_names():
    assert cli._debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert cli._debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert cli._debian_package("libxcb-render-util.so.0.0.0") == "libxcb-render-util0"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is Linux-only")
def test_gui_without_display_exits_2_with_a_message():
    r = subprocess.run([sys.executable, "-m", "app.cli", "gui"], capture_output=True, text=True,
                       env=_env(), cwd=REPO, timeout=60)
    assert r.returncode == 2
    assert "no display" in r.stderr and "QT_QPA_PLATFORM=offscreen or xvfb-run" in r.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is Linux-only")
def test_gui_with_unreachable_x_display_exits_2_instead_of_aborting():
    """DISPLAY names an X server that does not exist: Qt would abort (SIGABRT); the check
    says which libraries are missing or that the server cannot be reached."""
    free = next(n for n in range(99, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    r = subprocess.run([sys.executable, "-m", "app.cli", "gui"], capture_output=True, text=True,
                       env=_env(DISPLAY=f":{free}"), cwd=REPO, timeout=60)
    assert r.returncode == 2, r.stderr
    assert (f"cannot connect to the X server at DISPLAY=:{free}" in r.stderr
            or "xcb) platform plugin cannot load: missing" in r.stderr), r.stderr
