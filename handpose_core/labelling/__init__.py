"""Hand labelling (no Qt): editing operations on label maps, the per-frame editor that
saves after every stroke, the evaluation set, label PNG export / import, published
prediction files, and the dashboard's per-method accuracy rows."""

from .edit import Patch, flood_fill, pick, stamp_segment
from .editor import BRUSH, ERASER, LabelEditor, apply_patch
from .evalset import choose_eval_set, parse_frame_list

__all__ = ["BRUSH", "ERASER", "LabelEditor", "Patch", "apply_patch", "choose_eval_set",
           "flood_fill", "parse_frame_list", "pick", "stamp_segment"]
