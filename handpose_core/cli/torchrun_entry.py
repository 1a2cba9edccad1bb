"""One process of ``train STAGE --nproc N``, started by torchrun: runs the command that
:func:`handpose_core.training.distributed.launch` put in the environment."""

from __future__ import annotations

import json
import os
import sys

from ..training.distributed import ARGV_ENV
from .main import main

if __name__ == "__main__":
    sys.exit(main(json.loads(os.environ[ARGV_ENV])))
