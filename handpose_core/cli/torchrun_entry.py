"""One process of ``train STAGE --nproc N``, started by torchrun: runs the command that
:func:`handpose_core.training.distributed.launch` put in the environment."""

from __future__ import annotations

import faulthandler
import json
import os
import sys

from ..training.distributed import ARGV_ENV
from .main import main

if __name__ == "__main__":
    # a process killed by a signal (an abort in a library's teardown) prints where its
    # Python threads were, so that torchrun's report is not the only trace
    faulthandler.enable()
    sys.exit(main(json.loads(os.environ[ARGV_ENV])))
