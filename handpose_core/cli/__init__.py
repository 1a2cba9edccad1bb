"""The ``handpose-studio`` command line (no Qt unless the studio is launched).

One module per command, each with ``add_arguments(parser)`` and ``run(args) -> int``.
Only the command that runs has its module imported (:mod:`._dispatch`), and a command
module imports the work it runs (the stages, torch, the renderer) inside ``run``: those
function-local imports are for start-up time, so ``--help`` and ``compare`` stay light
(``tests/core/test_tables.py`` checks that they load neither torch, numba nor annoy).
"""
