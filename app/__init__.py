"""The handpose-studio Qt application (PySide6 + pyqtgraph) over handpose_core."""

from __future__ import annotations

import sys


def _pin_singletons() -> None:
    """Work around reference-count bugs of PySide6 6.12 on Python < 3.12.

    Every ``SignalInstance.emit()`` there releases one reference to ``True`` that it never
    took (measured: 100 emits lower ``sys.getrefcount(True)`` by exactly 100), and some
    virtual-method calls from C++ into Python do the same to ``None``; after a few thousand
    signals — a minute of browsing frames — the interpreter aborts with "Fatal Python
    error: bool_dealloc" (or none_dealloc). From Python 3.12 on these singletons are
    immortal and the bugs are harmless; before that we give them a reference count no
    session can exhaust. They are never freed anyway, so this changes nothing else.
    """
    if sys.version_info >= (3, 12):
        return
    import ctypes

    for obj in (True, False, None):
        count = ctypes.c_ssize_t.from_address(id(obj))
        if count.value < 1 << 40:
            count.value += 1 << 48


_pin_singletons()
