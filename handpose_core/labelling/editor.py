"""The hand labels of one frame under edit: tools, undo patches, and saving after every stroke.

:class:`LabelEditor` holds a frame's full-frame ``(480, 640)`` uint8 label map, applies
brush / eraser strokes, fills and whole-region replacements ("start from" a prediction),
and writes the map to the project (palette PNG to a temporary, the store row with stroke
count, done flag, seconds spent, author and the map's digest committed, then the PNG moved
into place: :meth:`~handpose_core.project.Project.save_hand_labels`) when each one finishes — before
the next can begin — so a crash loses at most the stroke in progress. Each finished
operation returns a :class:`~.edit.Patch` (its box before and after) for the undo stack;
:func:`apply_patch` replays one on any frame, current or not.
"""

from __future__ import annotations

import getpass
import time

import numpy as np

from ..datasets.labelio import read_label_png
from .aids import FRAME_SHAPE, crop_labels_to_frame, depth_range_mask, hand_depth_range, view_region
from .edit import MAX_BRUSH, MIN_BRUSH, Patch, StrokeRecorder, flood_fill, stamp_segment

IDLE_CAP_S = 30.0
"""Gaps between actions longer than this count as this long (a coffee break is not labelling)."""

BRUSH, ERASER = "brush", "eraser"


def default_author() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return ""


def hand_label_path(project, frame):
    return project.root / "labels" / f"{frame.key}.png"


def load_hand_labels(project, frame) -> np.ndarray | None:
    """The frame's saved hand labels ``(480, 640)`` uint8, or None when it has none."""
    p = hand_label_path(project, frame)
    return read_label_png(p) if p.exists() else None


def save_labels(project, frame, labels, *, strokes: int, complete: bool, seconds: float,
                author: str) -> None:
    """Write a frame's hand labels and its store row (one committed transaction)."""
    project.save_hand_labels(frame, labels, strokes=int(strokes), complete=bool(complete),
                             seconds=float(seconds), author=author)


def label_record(project, frame_id):
    """``(strokes, complete, seconds, author)`` of the store's row, or None."""
    r = project.hand_label_record(frame_id)
    return None if r is None else (r.strokes, bool(r.complete), float(r.seconds), r.author)


class LabelEditor:
    """One frame's hand labels being edited (see the module docstring). Not thread-safe:
    the studio uses it on the GUI thread only."""

    def __init__(self, project, frame_id: int, *, author: str | None = None,
                 margin_mm: float | None = None, clock=time.monotonic):
        self.project = project
        self.frame = project.frame(frame_id)
        self.author = default_author() if author is None else author
        self._clock = clock
        self.depth = project.depth(self.frame)
        self.joints_uvd = project.joints_uvd(self.frame)
        self.transform = project.crop_transform(self.frame)
        self.region = view_region(self.transform, self.depth.shape)
        near_far = hand_depth_range(self.joints_uvd) if margin_mm is None else \
            hand_depth_range(self.joints_uvd, margin_mm)
        self.near, self.far = near_far
        self.in_range = depth_range_mask(self.depth, self.near, self.far)
        saved = load_hand_labels(project, self.frame)
        self.labels = saved if saved is not None else np.zeros(FRAME_SHAPE, np.uint8)
        rec = label_record(project, self.frame.id)
        self.strokes, self.complete, self.seconds, _ = rec if rec else (0, False, 0.0, "")
        self.saved = saved is not None
        self.limit_to_depth = False
        self._stroke: StrokeRecorder | None = None
        self._last_pos: tuple[float, float] | None = None
        self._stroke_args = None
        self._last_activity = clock()

    # ------------------------------------------------------------------ strokes
    @property
    def allowed(self) -> np.ndarray | None:
        return self.in_range if self.limit_to_depth else None

    @property
    def stroke_active(self) -> bool:
        return self._stroke is not None

    def begin_stroke(self, x: float, y: float, *, tool: str, value: int, size: int):
        """Start a brush / eraser stroke at frame position (x, y) and paint the first dab.

        Returns the box changed (or None)."""
        if tool not in (BRUSH, ERASER):
            raise ValueError(f"unknown tool {tool!r}")
        size = int(np.clip(size, MIN_BRUSH, MAX_BRUSH))
        self._tick()
        self._stroke = StrokeRecorder(self.labels)
        # the eraser may remove labels anywhere (also those a prediction put off the hand)
        self._stroke_args = (0 if tool == ERASER else int(value), size,
                             None if tool == ERASER else self.allowed)
        self._last_pos = (x, y)
        return self._step(x, y, x, y)

    def continue_stroke(self, x: float, y: float):
        """Paint from the last position to (x, y); the box changed (or None)."""
        if self._stroke is None:
            return None
        (px, py), self._last_pos = self._last_pos, (x, y)
        return self._step(px, py, x, y)

    def _step(self, ax, ay, bx, by):
        value, size, allowed = self._stroke_args
        box = stamp_segment(self.labels, (ax, ay), (bx, by), value, size, allowed=allowed,
                            region=self.region)
        self._stroke.touch(box)
        return box

    def end_stroke(self, *, save: bool = True) -> Patch | None:
        """Finish the stroke: save the map (when it changed) and return its patch. With
        ``save=False`` the caller saves it with :meth:`commit` (an undo command does)."""
        if self._stroke is None:
            return None
        patch = self._stroke.finish(self.labels)
        self._stroke = None
        if patch is not None and save:
            self.commit()
        return patch

    def cancel_stroke(self) -> None:
        """Drop the stroke in progress (Escape): the map returns to its state before it."""
        if self._stroke is None:
            return
        patch = self._stroke.finish(self.labels)
        self._stroke = None
        if patch is not None:
            patch.apply(self.labels, undo=True)

    # ------------------------------------------------------------------ one-shot edits
    def fill(self, x: float, y: float, value: int, *, save: bool = True) -> Patch | None:
        """Flood-fill the region under (x, y) with ``value``; saved (unless ``save`` is
        False: see :meth:`end_stroke`); its patch."""
        rec = StrokeRecorder(self.labels)
        self._tick()
        rec.touch(flood_fill(self.labels, x, y, value, allowed=self.allowed,
                             region=self.region))
        patch = rec.finish(self.labels)
        if patch is not None and save:
            self.commit()
        return patch

    def replace_with_crop_labels(self, crop_labels: np.ndarray, *, save: bool = True
                                 ) -> Patch | None:
        """"Start from" a prediction: the view region takes ``crop_labels`` (S, S) brought
        to frame resolution, kept to the hand's depth range. Saved (see ``save`` of
        :meth:`end_stroke`); its patch."""
        full = crop_labels_to_frame(crop_labels, self.transform, FRAME_SHAPE, self.in_range)
        return self.replace_with(full, save=save)

    def replace_with(self, full: np.ndarray, *, save: bool = True) -> Patch | None:
        """The view region takes ``full`` ``(480, 640)``'s labels; saved (see ``save`` of
        :meth:`end_stroke`); its patch."""
        rec = StrokeRecorder(self.labels)
        self._tick()
        y0, x0, y1, x1 = self.region
        self.labels[y0:y1, x0:x1] = np.asarray(full, np.uint8)[y0:y1, x0:x1]
        rec.touch(self.region)
        patch = rec.finish(self.labels)
        if patch is not None and save:
            self.commit()
        return patch

    def apply(self, patch: Patch, *, undo: bool = False) -> None:
        """Replay a patch of this frame (undo / redo) and save."""
        patch.apply(self.labels, undo=undo)
        self._tick()
        self.strokes += -1 if undo else 1
        self.strokes = max(self.strokes, 0)
        self._save()

    def set_complete(self, done: bool) -> None:
        """Mark the frame done (or not) and save."""
        self.complete = bool(done)
        self._tick()
        self._save()

    # ------------------------------------------------------------------ saving
    def _tick(self) -> None:
        now = self._clock()
        self.seconds += min(max(now - self._last_activity, 0.0), IDLE_CAP_S)
        self._last_activity = now

    def commit(self) -> None:
        """Count and save one finished action (a stroke, fill or "start from") made with
        ``save=False``."""
        self.strokes += 1
        self._tick()
        self._save()

    def _save(self) -> None:
        save_labels(self.project, self.frame, self.labels, strokes=self.strokes,
                    complete=self.complete, seconds=self.seconds, author=self.author)
        self.saved = True


def apply_patch(project, frame_id: int, patch: Patch, *, undo: bool,
                editor: LabelEditor | None = None) -> None:
    """Replay ``patch`` on ``frame_id``'s saved labels (through ``editor`` when it holds that
    frame, else on the map read from disk) and save."""
    if editor is not None and editor.frame.id == frame_id:
        editor.apply(patch, undo=undo)
        return
    frame = project.frame(frame_id)
    labels = load_hand_labels(project, frame)
    if labels is None:
        labels = np.zeros(FRAME_SHAPE, np.uint8)
    patch.apply(labels, undo=undo)
    rec = label_record(project, frame_id) or (0, False, 0.0, default_author())
    save_labels(project, frame, labels, strokes=max(rec[0] + (-1 if undo else 1), 0),
                complete=rec[1], seconds=rec[2], author=rec[3])
