"""Patchwise restoration of predicted part-label maps (seed paper, sections 3.1-3.2).

- :mod:`.patches`: P x P label patches, their compact one-hot encoding for annoy
- :mod:`.dictionary`: the dictionary of synthetic patches, its annoy index, mmap load
- :mod:`.forest`: writes the annoy hamming index with bit-balanced trees
- :mod:`.exact`: exact brute-force search (numba on CPU, torch on CUDA)
- :mod:`.restore`: nearest patch per pixel and the W x W integration vote
- :mod:`.quality`: the barycenter quality score and the accept rule
"""

from __future__ import annotations

from .dictionary import DEFAULT_ENCODING, PAPER_SCALE, Dictionary, SearchParams
from .patches import ENCODINGS, PatchEncoding, extract_patches, hand_pixels, label_hamming
from .quality import (
    MISPLACED_MM,
    PENALTY_MM,
    PENALTY_PX,
    QualityScore,
    accept_restoration,
    quality_score,
    restoration_scores,
)
from .restore import Restoration, restore, restore_many

__all__ = [
    "DEFAULT_ENCODING", "ENCODINGS", "PAPER_SCALE", "PENALTY_MM", "PENALTY_PX", "Dictionary",
    "MISPLACED_MM", "PatchEncoding", "QualityScore", "Restoration", "SearchParams", "accept_restoration",
    "extract_patches", "hand_pixels", "label_hamming", "quality_score", "restoration_scores",
    "restore",
    "restore_many",
]
