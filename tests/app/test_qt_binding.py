"""The Qt binding the studio runs on keeps Python's reference counts intact.

PySide6-Essentials 6.12.0 lost one reference to ``True`` per ``Signal.emit()``; the
studio emits thousands of signals in a session, so the interpreter aborted
(``bool_dealloc``). pyproject.toml excludes that release; this test catches any other.
"""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    fired = Signal()
    valued = Signal(int, str)


def test_emitting_signals_does_not_leak_or_drop_references(qapp):
    e = _Emitter()
    got = []
    e.fired.connect(lambda: got.append(1))
    e.valued.connect(lambda i, s: got.append(i))
    before = sys.getrefcount(True), sys.getrefcount(None)
    for i in range(2000):
        e.fired.emit()
        e.valued.emit(i, "x")
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert len(got) == 4000
    assert abs(after[0] - before[0]) < 50 and abs(after[1] - before[1]) < 50, (before, after)
