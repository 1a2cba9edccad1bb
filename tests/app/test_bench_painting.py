"""``bench gui --painting`` measures real brush steps in the studio window."""

import pytest

from app.bench.painting import measure_painting


@pytest.mark.slow  # opens the studio window and loads f_s (~12 s)
def test_measure_painting_paints_and_saves(qtbot):
    r = measure_painting(30, n_strokes=3)
    assert r["steps"] == 30 and len(r["steps_ms"]) == 30
    assert r["strokes_saved"] == 4  # the long stroke and three short ones, each saved
    assert r["pixels_painted"] > 7 * 40  # a 7 px brush dragged ~60 px (~2 px a step)
    assert 0 < r["median_ms"] <= r["p95_ms"] <= r["max_ms"]
    assert r["region_px"][0] > 100 and r["canvas_px"][0] > 300
