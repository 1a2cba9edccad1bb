"""The ``handpose-studio`` console script: the studio's commands plus the core's.

``gui`` (the default without arguments) and ``bench gui`` run here, in the package that
may import Qt; every other command is the core's (:mod:`handpose_core.cli.main`), which
never imports this package. ``--help`` lists all of them.

Before Qt is touched, ``gui`` checks on Linux that a display can be used at all (a
``QT_QPA_PLATFORM``, an X or Wayland display, and for X the libraries of Qt's xcb
plugin and a reachable server) and otherwise exits 2 with a message saying what is
missing, instead of Qt's abort.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

GUI_HELP = "open the studio on a project (the default command: the demo project)"
BENCH_GUI_HELP = "studio responsiveness: time to switch frames (needs the studio)"
DESCRIPTION = ("Hand pose estimation on depth images through semi- and weakly-supervised "
               "learning (Neverova et al.): a studio and its command line. Without a command, "
               "the studio opens on the demo project. Every command but gui works without a "
               "display.")
NO_DISPLAY_HINT = ("every command but gui works without a display; on a server use "
                   "QT_QPA_PLATFORM=offscreen or xvfb-run")


class GuiCommand:
    """``handpose-studio gui [--project DIR]``."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--project", default=None,
                            help="project directory (default: the demo project in the user data "
                            "folder, created on first launch)")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        problem = display_problem()
        if problem:
            print(f"handpose-studio gui: {problem}", file=sys.stderr)
            return 2
        from app.main import run_studio

        return int(run_studio(args.project) or 0)


class BenchGuiCommand:
    """``handpose-studio bench gui ...``: the options and the run come from ``app.bench.gui``,
    imported only when this command is the one being run (so other commands never load Qt)."""

    def __init__(self, load: bool):
        self.load = load

    def _module(self):
        try:
            import app.bench.gui as mod
        except ModuleNotFoundError as e:
            if e.name not in ("app.bench.gui", "app.bench"):
                raise
            return None
        return mod

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        mod = self._module() if self.load else None
        if mod is not None:
            mod.add_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        mod = self._module()
        if mod is None:
            print("handpose-studio bench gui: this build has no studio benchmark "
                  "(app/bench/gui.py is missing)", file=sys.stderr)
            return 2
        return int(mod.run(args) or 0)


def main(argv: list[str] | None = None) -> int:
    """Run ``handpose-studio ARGV`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["gui"]
    if argv[0] == "gui":
        # parsed on its own: building the full command line imports the stage table (torch),
        # and the display check should answer at once
        parser = argparse.ArgumentParser(prog="handpose-studio gui", description=GUI_HELP)
        GuiCommand.add_arguments(parser)
        args = parser.parse_args(argv[1:])
        args._argv = argv
        return GuiCommand.run(args)
    from handpose_core.cli.main import main as core_main

    bench_gui = BenchGuiCommand(load=argv[:2] == ["bench", "gui"])
    return core_main(argv, extra_commands=(("gui", GuiCommand, GUI_HELP),),
                     extra_targets={"bench": (("gui", bench_gui, BENCH_GUI_HELP),)},
                     description=DESCRIPTION)


# --- can Qt open a window here? ------------------------------------------------------


def display_problem(environ=None, platform: str = sys.platform) -> str | None:
    """Why the studio cannot open a window in this environment, or None when it can.

    Only Linux is checked (elsewhere Qt always has its native platform). An explicit
    ``QT_QPA_PLATFORM`` other than xcb is trusted; with an X display (and no Wayland one)
    the xcb plugin's libraries must load and the X server must accept a connection.
    """
    env = os.environ if environ is None else environ
    if not platform.startswith("linux"):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if qpa and qpa != "xcb":
        return None
    display, wayland = env.get("DISPLAY", ""), env.get("WAYLAND_DISPLAY", "")
    if not display and not wayland:
        return f"no display: neither DISPLAY nor WAYLAND_DISPLAY is set; {NO_DISPLAY_HINT}"
    if wayland and not qpa:
        return None  # Qt picks Wayland (falling back to X itself)
    if not display:
        return f"no display: QT_QPA_PLATFORM=xcb but DISPLAY is not set; {NO_DISPLAY_HINT}"
    missing = missing_xcb_libraries()
    if missing:
        return ("Qt's X11 (xcb) platform plugin cannot load: missing " + ", ".join(missing)
                + ". On Debian/Ubuntu: apt-get install " + " ".join(_debian_package(m) for m in missing)
                + f" (see README, 'Running the studio on Linux'); {NO_DISPLAY_HINT}")
    if not _x_server_reachable(display):
        return (f"no display: cannot connect to the X server at DISPLAY={display} (is it running, "
                f"and may this user connect?); {NO_DISPLAY_HINT}")
    return None


def _xcb_plugin() -> Path | None:
    try:
        import PySide6
    except ImportError:
        return None
    p = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return p if p.exists() else None


def missing_xcb_libraries() -> list[str]:
    """Shared libraries (sonames) that Qt's xcb plugin needs and this system lacks."""
    plugin = _xcb_plugin()
    if plugin is None:
        return []
    if shutil.which("ldd"):  # lists every missing library, not only the first
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
        missing = re.findall(r"^\s*(\S+) => not found", out, flags=re.M)
        return sorted(set(missing))
    try:
        ctypes.CDLL(str(plugin))
    except OSError as e:
        m = re.search(r"(\S+\.so[.\d]*): cannot open", str(e))
        return [m.group(1) if m else str(e)]
    return []


def _debian_package(soname: str) -> str:
    """Debian's package name for a shared library: libfoo.so.N -> libfooN, libfoo1.so.N -> libfoo1-N."""
    m = re.fullmatch(r"(lib.+?)\.so\.(\d+)(?:\.\d+)*", soname)
    if not m:
        return soname
    name, major = m.group(1).lower(), m.group(2)
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def _x_server_reachable(display: str) -> bool:
    """Whether libxcb connects to ``display`` (True when libxcb cannot be asked)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return bool(conn) and xcb.xcb_connection_has_error(conn) == 0
    finally:
        if conn:
            xcb.xcb_disconnect(conn)


if __name__ == "__main__":
    sys.exit(main())
