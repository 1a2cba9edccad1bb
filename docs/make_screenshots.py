"""Screenshots of the studio for the README and docs/studio.md, from a real window.

Run it under a virtual X server, on a project whose stages have run::

    xvfb-run -s "-screen 0 1600x1000x24" python docs/make_screenshots.py --project DIR

It opens the studio on ``DIR`` exactly as ``handpose-studio gui --project DIR`` does,
shows a frame (by default the rejected restoration with the worst restored score, the
frame a person auditing restoration looks at first), and saves the whole window once
per centre tab to ``docs/img/studio-<tab>.png``, except the Compare tab, which is
``docs/img/studio.png``, the README's picture. Regenerate them all after changing a window.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _wait(app, cond, timeout: float) -> bool:
    """Process events until ``cond()`` holds or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def _settle(app, seconds: float) -> None:
    _wait(app, lambda: False, seconds)


def _pick_frame(project) -> int | None:
    """The rejected frame with the worst restored score, else the first test frame."""
    import math

    rows = [r for r in project.restorations().values() if not r.accepted
            and r.restored.total_mm is not None and math.isfinite(r.restored.total_mm)]
    if rows:
        return max(rows, key=lambda r: r.restored.total_mm).frame_id
    frames = project.frames(split="test")
    return frames[0].id if frames else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", required=True, help="a project folder whose stages have run")
    ap.add_argument("--out", default=str(HERE / "img"), help="output folder (docs/img)")
    ap.add_argument("--frame", type=int, default=None, help="frame id to show")
    ap.add_argument("--size", default="1500x920", help="window size WxH")
    ap.add_argument("--compare-as", default="", metavar="FILE",
                    help="save only the Compare tab, as FILE in the output folder")
    args = ap.parse_args(argv)

    import tempfile

    # a settings file of its own: the user's window layout neither shapes nor keeps these
    os.environ.setdefault("HANDPOSE_STUDIO_SETTINGS",
                          str(Path(tempfile.mkdtemp(prefix="hp-shots-")) / "studio.ini"))
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        print("no display: run under xvfb-run (see the module docstring)", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from app.gui_gc import GuiGarbageCollector
    from app.main import start

    app = QApplication.instance() or QApplication(sys.argv[:1])
    collector = GuiGarbageCollector(app)
    win = start(args.project)
    w, h = (int(v) for v in args.size.lower().split("x"))
    win.resize(w, h)
    win.show()
    if not _wait(app, lambda: win.session.project is not None, 120):
        print(f"the studio did not open {args.project}", file=sys.stderr)
        return 1
    project = win.session.project
    fid = args.frame if args.frame is not None else _pick_frame(project)
    # f_s loads in a worker: the raw and fine-tuned panels fill in once it has
    _wait(app, lambda: win.session.predictor is not None, 120)
    if fid is not None:
        win.session.set_frame(fid)
    _settle(app, 4.0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    for i in range(1 if args.compare_as else win.tabs.count()):
        name = win.tabs.tabText(i).replace("&", "").strip().lower().replace(" ", "-")
        win.tabs.setCurrentIndex(i)
        _settle(app, 2.5)
        panel = win.tabs.widget(i)
        if hasattr(panel, "scores"):  # the Evaluation tab computes when shown: its result
            _wait(app, lambda p=panel: p.scores is not None, 600)
            _settle(app, 1.0)
        path = out / (args.compare_as or "studio.png" if i == 0 else f"studio-{name}.png")
        win.grab().save(str(path))
        saved.append(path)
    for p in saved:
        print(p)
    collector.stop()
    win.close()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    raise SystemExit(main())
