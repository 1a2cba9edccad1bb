"""TerminalProgress: one line that fits the terminal, with elapsed time and an estimate."""

from __future__ import annotations

import io
import os
import select
import sys
import time
import types

import pytest

from handpose_core import progress as progress_mod
from handpose_core.progress import TerminalProgress, format_duration

LONG = "restoring frame with a message far longer than any terminal line " * 3


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(progress_mod, "time", types.SimpleNamespace(perf_counter=c))
    return c


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _segments(text: str) -> list[str]:
    return [s for s in text.replace("\n", "\r").split("\r") if s]


def _drive(p: TerminalProgress, clock: FakeClock, total: int = 1200) -> None:
    """A start-up phase of 30 s at 0, then 2 items per second, with long messages."""
    p(0, total, "compiling the renderer (first run only)")
    clock.t += 30.0
    for done in range(1, total + 1):
        p(done, total, f"frame {done}: {LONG}")
        clock.t += 0.5


def test_fake_tty_of_80_columns_gets_lines_of_at_most_79_with_an_estimate(clock, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # the stream has no fileno: shutil's answer is used
    s = FakeTty()
    p = TerminalProgress("demo dataset", stream=s)
    _drive(p, clock)
    segs = _segments(s.getvalue())
    assert len(segs) > 100
    assert max(len(x) for x in segs) <= 79
    assert s.getvalue().count("\n") == 1 and s.getvalue().endswith("\n")
    assert segs[0] == "demo dataset 0/1200 (0:00 elapsed) compiling the renderer (first run only)"
    # at 101 done, 50 s after the first item: 2 items/s, 1099 left -> 549.5 s
    at_101 = next(x for x in segs if " 101/1200 " in x)
    assert "(1:20 elapsed, ~9:09 left) frame 101: restoring" in at_101 and at_101.endswith("…")
    assert segs[-1].startswith("demo dataset 1200/1200 (10:29 elapsed) frame 1200: restoring")
    assert "left" not in segs[-1]


@pytest.mark.skipif(not hasattr(os, "openpty") or sys.platform == "win32", reason="needs a pty")
@pytest.mark.parametrize("columns", [80, 120])
def test_real_terminal_width_is_respected(clock, columns):
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    stream = os.fdopen(slave, "w", encoding="utf-8")
    try:
        p = TerminalProgress("restore", stream=stream)
        for done in range(0, 41):
            p(done, 40, f"frame {done}: {LONG}")
            clock.t += 0.25
        stream.flush()
        out = b""
        deadline = time.monotonic() + 10
        while len(out) < 20 or not out.endswith(b"\n"):
            left = deadline - time.monotonic()
            # a read that waits at most 10 s in all: a missing newline fails, never hangs
            if left <= 0 or not select.select([master], [], [], left)[0]:
                pytest.fail(f"no complete line from the terminal within 10 s: {out!r}")
            out += os.read(master, 65536)
    finally:
        stream.close()
        os.close(master)
    segs = _segments(out.decode("utf-8").replace("\r\n", "\n"))
    assert max(len(x) for x in segs) == columns - 1  # long messages fill the line, no more
    assert any("left) frame" in x for x in segs)


def test_a_pipe_gets_full_lines_every_5_s_and_at_the_end(clock):
    s = io.StringIO()
    p = TerminalProgress("restore", stream=s)
    for done in range(0, 101):
        p(done, 100, f"frame {done}")
        clock.t += 0.5
    lines = s.getvalue().splitlines()
    assert lines[0] == "restore [------------------------------] 0/100 (0:00 elapsed) frame 0"
    assert len(lines) == 1 + 100 // 11 + 1  # first, one per 5.5 s (11 updates), last
    assert lines[-1] == "restore [##############################] 100/100 (0:50 elapsed) frame 100"
    # 10 items in the 5 s since the first one: 2 per second, 89 left -> 44.5 s
    assert "(0:05 elapsed, ~0:44 left) frame 11" in lines[1]


def test_a_new_phase_gets_its_own_estimate(clock):
    s = FakeTty()
    p = TerminalProgress("pretrain-seg", stream=s, columns=200)
    for done in range(0, 11):
        p(done, 10, "rendering the store")
        clock.t += 1.0  # 1 s per item
    for done in range(0, 3):
        p(done, 1000, "training")
        clock.t += 0.2  # 5 items per second
    last = _segments(s.getvalue())[-1]
    assert "2/1000" in last and "~3:19 left" in last  # 998 left at 5/s, not at 1/s


def test_format_duration():
    assert [format_duration(x) for x in (0, 59.9, 61, 3599, 3600, 7325)] == [
        "0:00", "0:59", "1:01", "59:59", "1:00:00", "2:02:05"]


def test_first_render_without_compiled_kernels_says_it_compiles(tmp_path):
    """With an empty numba cache the demo's first progress message says the renderer is being
    compiled (first run only); the callback stops the run before anything compiles."""
    import subprocess

    code = ("from handpose_core.render.demo import make_demo_dataset\n"
            "class Stop(Exception): pass\n"
            "def progress(done, total, message=''):\n"
            "    print(done, total, message); raise Stop\n"
            "try:\n"
            f"    make_demo_dataset({str(tmp_path / 'demo')!r}, progress=progress)\n"
            "except Stop:\n"
            "    pass\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0 1200 compiling the renderer (first run only)"


def test_phase_progress_prefixes_the_phase():
    from handpose_core.progress import phase_progress

    seen = []
    p = phase_progress(lambda d, t, m: seen.append((d, t, m)), "training")
    p(1, 4, "epoch 1")
    p(2, 4)
    assert seen == [(1, 4, "training: epoch 1"), (2, 4, "training: ")]
    assert phase_progress(None, "training") is None
