"""The studio's panels, declared in one list: name, class, and where each goes.

The window (:mod:`app.main_window`) builds every entry of :data:`PANELS` in order over
its session, keeps it as ``window.<name>``, and puts it in a centre tab or a dock; a new
panel is one new module under ``app/views/`` plus one line here. A panel is built as
``cls(session)``, with ``frame_actions=`` (the window's shared
:class:`~app.views.frame_actions.FrameActions`) when its entry says so and with its
entry's ``options``. What a panel offers the window, all optional:

- ``status_message``: a ``Signal(str)`` whose lines the status bar shows;
- ``status_widgets()``: widgets for the right end of the status bar;
- ``attach_window(window)``: called once the window holds the panel (the training panel
  asks before the window closes during a run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt

from .views.browser import BrowserPanel
from .views.compare import CompareView
from .views.dashboard import DashboardPanel
from .views.joints_panel import JointsPanel
from .views.labelling import LabellingPanel
from .views.quality import QualityPanel
from .views.training import TrainingPanel

TAB = "tab"
LEFT, RIGHT, BOTTOM = Qt.LeftDockWidgetArea, Qt.RightDockWidgetArea, Qt.BottomDockWidgetArea


@dataclass(frozen=True)
class Panel:
    """One panel of the window: ``window.<name>``, titled ``title``, built from ``cls``,
    in a centre tab (:data:`TAB`) or a dock area (:data:`LEFT`, :data:`RIGHT`,
    :data:`BOTTOM`)."""

    name: str
    title: str
    cls: type
    where: object
    frame_actions: bool = False
    options: dict = field(default_factory=dict)
    width: int = 0  # a dock's width when the window first opens

    def build(self, session, frame_actions):
        extra = {"frame_actions": frame_actions} if self.frame_actions else {}
        return self.cls(session, **extra, **self.options)


PANELS: tuple[Panel, ...] = (
    Panel("compare", "Compare", CompareView, TAB),
    Panel("joints", "Skeleton", JointsPanel, TAB),  # skeleton + guidance maps of a chosen f_r
    Panel("training", "Training", TrainingPanel, TAB),
    # the window owns Ctrl+Z / Ctrl+Shift+Z (Edit menu), so the panel does not bind them
    Panel("labelling", "Labelling", LabellingPanel, TAB, options={"undo_shortcuts": False}),
    Panel("dashboard", "Evaluation", DashboardPanel, TAB),
    Panel("browser", "Frames", BrowserPanel, LEFT, frame_actions=True, width=480),
    Panel("quality", "Quality", QualityPanel, RIGHT, frame_actions=True, width=390),
)
