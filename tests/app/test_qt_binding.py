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


def test_cycles_are_collected_on_the_gui_thread_not_by_workers(qtbot):
    import gc
    import threading

    from PySide6.QtWidgets import QWidget

    from app.gui_gc import GuiGarbageCollector

    assert not gc.isenabled()  # the autouse fixture's collector is running
    freed_in = []

    class Cyclic(QWidget):
        def __del__(self):
            freed_in.append(threading.current_thread().name)

    w = Cyclic()
    w.me = w  # a reference cycle only the collector frees
    del w
    # a worker allocating a lot: with automatic collection it would free the cycle
    t = threading.Thread(target=lambda: [[] for _ in range(200_000)], name="worker")
    t.start()
    t.join()
    assert freed_in == []
    keep = [[] for _ in range(2 * gc.get_threshold()[0])]  # a collection is now due
    g = GuiGarbageCollector(interval_ms=60_000)
    assert g.collect_if_due() >= 0 and gc.get_count()[0] < gc.get_threshold()[0]
    g.stop()  # and a full collection, here on the GUI thread
    assert freed_in == [threading.main_thread().name]
    assert not gc.isenabled() and keep  # the fixture's collector still holds it off


def test_a_full_collection_freezes_its_survivors_and_thaw_gives_them_back(qtbot):
    """A full collection walks every object (the studio's ~280,000: 170 ms on the GUI
    thread); its survivors are frozen so the next one walks only newer objects, which
    are still collected, and thaw() hands the frozen ones back."""
    import gc

    from app.gui_gc import GuiGarbageCollector

    g = GuiGarbageCollector(interval_ms=60_000)
    try:
        gc.unfreeze()
        for _ in range(gc.get_threshold()[2] + 1):
            gc.collect(1)  # counts generation-1 collections: a full one is now due
        keep = [[] for _ in range(2 * gc.get_threshold()[0])]
        assert g.collect_if_due() == 2 and keep
        assert gc.get_freeze_count() > 1000

        freed = []

        class Cyclic:
            def __del__(self):
                freed.append(1)

        c = Cyclic()
        c.me = c  # made after the freeze: still collected
        del c
        gc.collect()
        assert freed == [1]
        g.thaw()
        assert gc.get_freeze_count() == 0
    finally:
        g.stop()
    assert gc.get_freeze_count() == 0
