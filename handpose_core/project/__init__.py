"""The project folder and its SQLite store.

- :mod:`.schema`: tables, migrations, connection settings, :class:`ProjectError`
- :mod:`.records`: typed records (frame, restoration with its scores, run, hand labels)
- :mod:`.changes`: the typed change events and the feed that delivers them, whoever wrote
- :mod:`.store`: :class:`Project` (frames, crops, labels, evaluation set, subscriptions)
  with :mod:`.restorations`, :mod:`.runs` and :mod:`.frame_rows` (the frame table's rows,
  filters and sort)
- :mod:`.crops`: the memory-mapped crop cache
- :mod:`.create`: the demo project and projects over an NYU root
"""

from __future__ import annotations

from .changes import Change, ChangeFeed, ChangeKind
from .create import create_demo_project, create_nyu_project, default_demo_dir, open_or_create_demo
from .records import (
    Frame,
    HandLabelRecord,
    RestorationRecord,
    RunRecord,
    Score,
)
from .schema import DB_NAME, SCHEMA_VERSION, ProjectError
from .store import Project

__all__ = [
    "DB_NAME", "SCHEMA_VERSION", "Change", "ChangeFeed", "ChangeKind", "Frame",
    "HandLabelRecord", "Project", "ProjectError", "RestorationRecord", "RunRecord", "Score",
    "create_demo_project", "create_nyu_project", "default_demo_dir", "open_or_create_demo",
]
