"""Table 2 of the seed paper: nearest-neighbour restoration without and with integration.

Both rows come from the same matches: :func:`restore_many` restores each map (the
W x W integration vote), and the same matched patches give the "no integration" maps
(each queried pixel takes its patch's centre label, :func:`apply_matches` with
``integrate=False``). ``handpose-studio evaluate --what restoration`` and the studio's
evaluation dashboard (:mod:`handpose_core.labelling.accuracy`) both measure Table 2
through :func:`nn_restorations`, so their numbers agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..progress import ProgressFn
from .dictionary import Dictionary
from .restore import Restoration, apply_matches, restore_many


@dataclass(frozen=True)
class NNRestorations:
    """``restorations`` one per map; ``integrated`` ``(N, S, S)`` uint8 their maps (the
    paper's "NN, integration" row); ``plain`` ``(N, S, S)`` uint8 the same matches'
    centre labels ("NN, no integration")."""

    restorations: list[Restoration]
    integrated: np.ndarray
    plain: np.ndarray

    def revote(self, raw: np.ndarray, dictionary: Dictionary, **apply_kwargs) -> np.ndarray:
        """``(N, S, S)`` maps voted again from the same matches with other
        :func:`apply_matches` settings (e.g. ``raw_weight=0.0``: the paper's plain
        majority)."""
        return revote(raw, self.restorations, dictionary, **apply_kwargs)


def revote(raw: np.ndarray, restorations: list[Restoration], dictionary: Dictionary,
           **apply_kwargs) -> np.ndarray:
    """The maps ``raw`` ``(N, S, S)`` restored again from ``restorations``' matches (into
    ``dictionary``) by :func:`apply_matches` with ``apply_kwargs``."""
    return np.stack([apply_matches(raw[i], r.centers, dictionary.patches[r.neighbours],
                                   zoom=r.zoom, **apply_kwargs)[0] for i, r in enumerate(restorations)])


def nn_restorations(raw: np.ndarray, dictionary: Dictionary, *, backend: str = "annoy",
                    progress: ProgressFn | None = None, cancel=None) -> NNRestorations:
    """Restore the predicted maps ``raw`` ``(N, S, S)`` uint8 with ``dictionary`` (default
    restoration settings, ``backend`` "annoy" or "exact") -> both Table 2 rows. Raises
    ``Cancelled`` between batches when ``cancel`` is set."""
    rest = restore_many(raw, dictionary, backend=backend, progress=progress, cancel=cancel)
    return NNRestorations(rest, np.stack([r.labels for r in rest]),
                          revote(raw, rest, dictionary, integrate=False))
