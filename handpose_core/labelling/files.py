"""Export and import of hand labels: palette PNGs (index = part id) plus the part table.

An export folder holds ``<split>_<kinect>_<frame>.png`` per labelled frame (the names the
project uses, e.g. ``test_1_0000123.png``), full-frame 640 x 480 palette PNGs whose
palette is the part table's colours, and ``parts.json`` (id, name, colour of the 21
classes). Import checks every file before it writes anything: a wrong size, a palette
that is not the part table's, an index outside 0..20 or a name that is no frame of the
project is a clear error naming the file, and nothing is changed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..datasets.labelio import read_label_png, write_label_png
from ..errors import BadInput
from ..parts import NUM_CLASSES, PARTS, palette_rgb
from .aids import FRAME_SHAPE
from .editor import default_author, label_record, save_labels

PART_TABLE = "parts.json"
_KEY = re.compile(r"^(train|test)_(\d)_(\d{7})\.png$")


class LabelFileError(BadInput):
    """A label image that cannot be imported; the message names the file and the problem."""


def part_table() -> list[dict]:
    return [{"id": p.id, "name": p.name, "colour": p.colour} for p in PARTS]


def write_part_table(folder: str | os.PathLike) -> Path:
    p = Path(folder) / PART_TABLE
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps({"classes": part_table(), "index": "pixel value = part id"},
                              indent=2) + "\n")
    os.replace(tmp, p)
    return p


def export_labels(project, frame_ids, folder: str | os.PathLike) -> list[Path]:
    """Write the hand labels of ``frame_ids`` (those that have any) and the part table.

    Returns the PNGs written. Each is written atomically.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for fid in frame_ids:
        f = project.frame(fid)
        src = project.root / "labels" / f"{f.key}.png"
        if not src.exists():
            continue
        dst = folder / f"{f.key}.png"
        write_label_png(dst, read_label_png(src))
        out.append(dst)
    write_part_table(folder)
    return out


def read_import_png(path: str | os.PathLike, shape: tuple[int, int] = FRAME_SHAPE) -> np.ndarray:
    """Read one label PNG for import -> ``shape`` uint8 part ids, or raise LabelFileError.

    The image must be a palette PNG of ``shape`` (rows, columns) whose palette entries
    for the indices it uses are the part table's colours, with indices 0..20 only.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            mode, size = img.mode, img.size
            if mode != "P":
                raise LabelFileError(f"{path}: not a palette PNG (mode {mode}); label images "
                                     "store the part id as the palette index")
            a = np.array(img, dtype=np.uint8)
            pal = np.array(img.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
    except FileNotFoundError:
        raise LabelFileError(f"{path}: file not found") from None
    except (OSError, SyntaxError) as e:
        raise LabelFileError(f"{path}: cannot read the image ({e})") from None
    if a.shape != tuple(shape):
        raise LabelFileError(f"{path}: the image is {size[0]} x {size[1]} pixels; hand labels "
                             f"are full frames of {shape[1]} x {shape[0]}")
    used = np.unique(a)
    bad = used[used >= NUM_CLASSES]
    if bad.size:
        raise LabelFileError(f"{path}: index {int(bad[0])} is no part id (0..{NUM_CLASSES - 1})")
    want = palette_rgb()
    for i in used:
        have = tuple(int(c) for c in pal[i]) if i < len(pal) else None
        if have != tuple(int(c) for c in want[i]):
            got = "missing" if have is None else "#{:02x}{:02x}{:02x}".format(*have)
            raise LabelFileError(f"{path}: palette entry {int(i)} is {got}, but the part table "
                                 f"gives {PARTS[i].name} {PARTS[i].colour}: not a label image "
                                 "of this part table")
    return a


@dataclass(frozen=True)
class ImportItem:
    frame_id: int
    path: Path
    labels: np.ndarray


def check_import(project, paths) -> list[ImportItem]:
    """Validate label PNGs for import against ``project``; raises on the first bad one.

    A file's name (``test_1_0000123.png``) names its frame.
    """
    frames = {f.key: f.id for f in project.frames()}
    items = []
    for p in sorted(Path(x) for x in paths):
        m = _KEY.match(p.name)
        if not m:
            raise LabelFileError(f"{p}: the name does not say which frame it labels "
                                 "(expected e.g. test_1_0000123.png)")
        fid = frames.get(p.stem)
        if fid is None:
            raise LabelFileError(f"{p}: the project has no frame {p.stem}")
        items.append(ImportItem(fid, p, read_import_png(p)))
    if not items:
        raise LabelFileError("no label images to import")
    return items


def import_labels(project, paths, *, author: str = "") -> list[int]:
    """Check every file (:func:`check_import`), then save each as the frame's hand labels
    (keeping its stroke count, done flag and time). Returns the frame ids; on any error
    nothing is saved."""
    items = check_import(project, paths)
    for it in items:
        strokes, complete, seconds, who = label_record(project, it.frame_id) or \
            (0, False, 0.0, "")
        save_labels(project, project.frame(it.frame_id), it.labels, strokes=strokes,
                    complete=complete, seconds=seconds, author=author or who or default_author())
    return [it.frame_id for it in items]
