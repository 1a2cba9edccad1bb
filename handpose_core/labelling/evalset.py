"""The evaluation set: the frames a person labels by hand (the paper's 100 NYU test frames).

:func:`choose_eval_set` draws a reproducible sample spread over the whole sequence;
:func:`parse_frame_list` reads a list the user gives. Both return project frame ids; the
project stores the set (``Project.set_eval_set``).
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import BadInput
from .editor import label_record

DEFAULT_SIZE = 100
DEFAULT_SEED = 0

_NAME = re.compile(r"^(?:depth|rgb|synthdepth|labels)_(\d)_(\d{7})\.png$")


def choose_eval_set(frames, n: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED,
                    split: str = "test") -> list[int]:
    """Ids of ``n`` frames of ``split`` spread evenly over the sequence, reproducibly.

    The split's frames (kinect order, then frame number) are cut into ``n`` consecutive
    strata of (nearly) equal length and one frame is drawn from each with a seeded
    generator, so every part of the sequence (both NYU test subjects, every gesture) is
    represented and the same seed gives the same set. With fewer than ``n`` frames,
    all of them. Raises ``ValueError`` when the split has no frames.
    """
    pool = sorted((f for f in frames if f.split == split), key=lambda f: (f.kinect, f.frame))
    if not pool:
        raise BadInput(f"the project has no {split!r} frames to choose an evaluation set from")
    if n <= 0:
        raise BadInput(f"the evaluation set needs at least one frame, got n={n}")
    if len(pool) <= n:
        return [f.id for f in pool]
    rng = np.random.default_rng(seed)
    edges = np.linspace(0, len(pool), n + 1).round().astype(int)
    return [pool[int(rng.integers(a, b))].id for a, b in zip(edges[:-1], edges[1:])]


def parse_frame_list(text: str, frames, *, source: str = "frame list",
                     split: str = "test", kinect: int = 1) -> list[int]:
    """Project frame ids of a user's list: one frame per line, as an NYU frame number
    (``123``) or a file name (``depth_1_0000123.png``); ``#`` starts a comment.

    Raises ``ValueError`` naming ``source`` and the line for anything else, a frame the
    project does not have, or a repeated frame.
    """
    by_num = {(f.kinect, f.frame): f.id for f in frames if f.split == split}
    out: list[int] = []
    seen: set[int] = set()
    for i, line in enumerate(text.splitlines(), start=1):
        tok = line.split("#", 1)[0].strip()
        if not tok:
            continue
        m = _NAME.match(tok)
        if m:
            key = (int(m.group(1)), int(m.group(2)))
        elif tok.isdigit():
            key = (kinect, int(tok))
        else:
            raise BadInput(f"{source}:{i}: {tok!r} is neither a frame number nor a file name "
                           "like depth_1_0000123.png")
        fid = by_num.get(key)
        if fid is None:
            raise BadInput(f"{source}:{i}: the project has no {split} frame {key[1]} "
                           f"(kinect {key[0]})")
        if fid in seen:
            raise BadInput(f"{source}:{i}: frame {key[1]} is listed twice")
        seen.add(fid)
        out.append(fid)
    if not out:
        raise BadInput(f"{source}: no frames listed")
    return out


def get_eval_set(project) -> list[int]:
    """The project's evaluation set (frame ids, in order); empty when none was chosen."""
    return list(project.eval_set())


def store_eval_set(project, frame_ids) -> None:
    """Replace the project's evaluation set (one committed transaction)."""
    project.set_eval_set([int(i) for i in frame_ids])


def labelling_progress(project, eval_ids: list[int] | None = None) -> tuple[int, int]:
    """``(done, total)``: evaluation-set frames whose hand labels are marked done."""
    ids = get_eval_set(project) if eval_ids is None else eval_ids
    done = 0
    for i in ids:
        rec = label_record(project, i)
        done += bool(rec and rec[1])
    return done, len(ids)
