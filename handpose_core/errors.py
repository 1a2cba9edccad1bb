"""The error type that separates input the user gave from a bug.

The command line's exit codes rest on it (``cli/main.py``): :class:`BadInput` (and a
missing file) is exit 2, "bad input", with the message alone; any other ``ValueError``
is a bug in the program, exit 1, with its traceback.
"""

from __future__ import annotations


class BadInput(ValueError):
    """Input the user gave is wrong: a file (the message starts with its path and says
    what is wrong with it), a setting or an argument (the message names it). A
    ``ValueError``, so callers that catch ``ValueError`` keep working."""
