"""Corruption harness for the bad-input tests: seeded corruptions, the clear-error check
and a tally of the cases tried (printed at the end of the run by ``tests/conftest.py``).

Every case ends in one of two ways, both checked:

- ``error``: a ``BadInput`` (the command line's exit 2; or ``FileNotFoundError``) whose
  message names the file and says what is wrong (more than the path itself); a plain
  ``ValueError`` is the command line's "bug" (exit 1) and fails the check;
- ``read``: only where a corruption can leave a well-formed file (a byte flip inside a
  number, a cut at a line end), the reader returns a value that ``valid`` accepts.

Either way the files under ``watch`` are byte for byte what they were before the call.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from handpose_core.errors import BadInput

TALLY: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"cases": 0, "error": 0,
                                                                   "read": 0, "unchanged": 0})
"""(reader, corruption kind) -> cases tried, clear errors, well-formed reads, cases whose
watched files were checked unchanged afterwards."""


def digest(paths) -> dict[str, str]:
    """sha256 of every file under ``paths`` (files or folders), keyed by path."""
    out = {}
    for p in paths:
        p = Path(p)
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for q in files:
            if q.exists():
                out[str(q)] = hashlib.sha256(q.read_bytes()).hexdigest()
    return out


def check(reader: str, kind: str, call: Callable, path: Path, *, watch=(),
          valid: Callable | None = None, match: str | None = None,
          error: type[Exception] = BadInput) -> str:
    """Run ``call()`` as described in the module docstring; record the outcome and return
    it ("error" or "read").

    ``path``: the file the error must name (its name must appear in the message).
    ``valid``: None when the corruption must always be an error. ``match``: a pattern
    the message must contain (``re.search``); ``error``: the type it must be an instance
    of (BadInput, or FileNotFoundError for a missing file).
    """
    path = Path(path)
    watch = list(watch) or [path]
    before = digest(watch)
    TALLY[(reader, kind)]["cases"] += 1
    try:
        result = call()
    except (ValueError, FileNotFoundError) as e:
        msg = str(e)
        assert path.name in msg, f"{reader}/{kind}: the error does not name {path.name}: {msg!r}"
        problem = msg.replace(str(path), "").replace(path.name, "").strip(" :'\"")
        assert len(problem) >= 8, f"{reader}/{kind}: the error does not say what is wrong: {msg!r}"
        assert isinstance(e, error), f"{reader}/{kind}: {type(e).__name__}, not {error.__name__}"
        assert match is None or re.search(match, msg), f"{reader}/{kind}: {msg!r} !~ {match!r}"
        TALLY[(reader, kind)]["error"] += 1
        outcome = "error"
    else:
        assert valid is not None, f"{reader}/{kind}: no error for a corrupt {path.name}"
        assert valid(result), f"{reader}/{kind}: read a corrupt {path.name} into a malformed value"
        TALLY[(reader, kind)]["read"] += 1
        outcome = "read"
    assert digest(watch) == before, f"{reader}/{kind}: files changed by a failed read"
    TALLY[(reader, kind)]["unchanged"] += 1
    return outcome


def truncations(data: bytes, rng: np.random.Generator, n: int) -> Iterator[bytes]:
    """``data`` cut at ``n`` offsets: the first 8 bytes one by one, the rest at random."""
    offs = set(range(min(8, len(data))))
    if len(data) > 8:
        offs |= set(rng.integers(8, len(data), size=max(0, n - 8)).tolist())
    offs |= {len(data) - 1}
    for o in sorted(offs):
        yield data[:o]


def flips(data: bytes, rng: np.random.Generator, n: int, *, start: int = 0) -> Iterator[bytes]:
    """``data`` with one byte (at or after ``start``) XORed with a random non-zero mask."""
    for pos, mask in zip(rng.integers(start, len(data), size=n), rng.integers(1, 256, size=n)):
        b = bytearray(data)
        b[int(pos)] ^= int(mask)
        yield bytes(b)


def table_markdown() -> str:
    rows = ["| reader | corruption | cases | clear error | read, well-formed | files unchanged |",
            "|---|---|---:|---:|---:|---:|"]
    total = {"cases": 0, "error": 0, "read": 0, "unchanged": 0}
    for (reader, kind), t in sorted(TALLY.items()):
        rows.append(f"| {reader} | {kind} | {t['cases']} | {t['error']} | {t['read']} | "
                    f"{t['unchanged']} |")
        for k in total:
            total[k] += t[k]
    rows.append(f"| **total** | | **{total['cases']}** | **{total['error']}** | "
                f"**{total['read']}** | **{total['unchanged']}** |")
    return "\n".join(rows)
