"""The evaluation dashboard's placeholders: what each result area shows before there
are results, saying what to do (instead of an empty table and chart axis)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedWidget, QWidget


def placeholder(text: str) -> QLabel:
    """A centred note that fills a result area until there is something to show."""
    note = QLabel(text)
    note.setObjectName("placeholder")
    note.setAlignment(Qt.AlignCenter)
    note.setWordWrap(True)
    note.setTextFormat(Qt.RichText)
    note.setStyleSheet("QLabel#placeholder { color: #5f6368; font-size: 11pt; padding: 24px; }")
    return note


def result_stack(placeholder: QLabel, results: QWidget) -> QStackedWidget:
    """Page 0 the placeholder, page 1 the results."""
    st = QStackedWidget()
    st.addWidget(placeholder)
    st.addWidget(results)
    return st


SEG_PLACEHOLDER = (
    "<p><b>Segmentation accuracy has not been computed yet.</b></p>"
    "<p>Press <b>Compute</b> to measure raw f_s, the stored restorations and the fine-tuned "
    "f_s on the frames chosen under <i>Frames</i>: per-pixel and per-class accuracy against "
    "the ground-truth labels (the paper's Tables 2 and 3), a per-class chart (Figure 6) and "
    "the worst frames of each method.</p>"
    "<p>Tick <i>restoration rows</i> to add nearest-neighbour restoration with and without "
    "integration (it restores the frames afresh: slower).</p>")
JOINT_PLACEHOLDER = (
    "<p><b>No prediction files loaded.</b></p>"
    "<p>Press <b>Load predictions…</b> and pick one or more files of joint predictions on "
    "this project's test frames — the community uvd format (42 numbers a line) or named "
    "xyz — to compare their mean and median errors and their success curves (Figure 8).</p>")


def computing_note(message: str, done: int, total: int) -> str:
    """The segmentation placeholder while Compute runs."""
    step = f" — {done} of {total}" if total > 0 else ""
    return (f"<p><b>Computing segmentation accuracy …</b></p><p>{message}{step}</p>"
            "<p>The table, the chart and the worst frames appear here when it is done.</p>")


def failed_note(message: str) -> str:
    """The segmentation placeholder after Compute failed: why, and what to do."""
    import html

    return (f"<p><b>Could not compute the accuracy.</b></p><p>{html.escape(message)}</p>"
            "<p>Accuracy needs frames with ground-truth part labels: choose an evaluation set "
            "and paint its frames in the <b>Labelling</b> tab (or use a dataset with labels), "
            "then press <b>Compute</b>.</p>")
