"""Speed benchmarks of the core, one module per ``handpose-studio bench TARGET``.

Each module exposes ``add_arguments(parser)`` and ``run(args) -> int`` for
:mod:`handpose_core.cli.bench`, which lists them. Building the ``bench`` parser imports
every target module, so the heavy imports (torch, numba, annoy, the renderer) sit inside
``run`` and its helpers: function-local for start-up time, so that ``bench render`` does
not load torch. Measured figures go to docs/*.md or a bench JSON, not here.
"""
