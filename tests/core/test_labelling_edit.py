"""Label-map editing: brush geometry, flood fill, picker, undo patches (no project)."""

from __future__ import annotations

import numpy as np
import pytest

from handpose_core.labelling.edit import StrokeRecorder, brush_radius, flood_fill, pick, stamp_segment


def test_dab_of_size_5_is_the_21_pixel_disc_around_the_pixel():
    lab = np.zeros((20, 20), np.uint8)
    box = stamp_segment(lab, (10.5, 10.5), (10.5, 10.5), 3, 5)
    assert lab.sum() == 3 * 21  # offsets with dx^2 + dy^2 <= 2.5^2
    assert lab[10, 8] == lab[8, 10] == lab[12, 10] == 3 and lab[8, 8] == 0
    rows, cols = np.nonzero(lab)
    assert box[0] <= rows.min() and box[2] > rows.max() and box[1] <= cols.min()
    assert box[3] > cols.max()


def test_size_1_line_is_one_pixel_wide_and_8_connected():
    lab = np.zeros((20, 20), np.uint8)
    stamp_segment(lab, (2.5, 2.5), (12.5, 12.5), 7, 1)
    assert brush_radius(1) == 0.5
    assert [tuple(p) for p in np.argwhere(lab)] == [(i, i) for i in range(2, 13)]


def test_brush_respects_allowed_mask_and_region():
    lab = np.zeros((30, 30), np.uint8)
    allowed = np.zeros((30, 30), bool)
    allowed[:, :15] = True
    stamp_segment(lab, (5.5, 10.5), (25.5, 10.5), 2, 5, allowed=allowed, region=(0, 0, 30, 20))
    assert lab[:, 15:].sum() == 0 and lab[10, 5:15].tolist() == [2] * 10
    assert stamp_segment(lab, (25.5, 10.5), (26.5, 10.5), 2, 3, region=(0, 0, 30, 20)) is None


def test_out_of_range_part_id_is_refused():
    with pytest.raises(ValueError, match="part id must be in 0..20"):
        stamp_segment(np.zeros((4, 4), np.uint8), (1, 1), (1, 1), 21, 1)


def test_flood_fill_is_4_connected_and_stops_at_mask_and_region():
    lab = np.zeros((10, 10), np.uint8)
    lab[0:4, 0:4] = 5
    lab[4, 4] = 5  # touches the square only diagonally
    box = flood_fill(lab, 1.5, 1.5, 9)
    assert box == (0, 0, 4, 4) and (lab[0:4, 0:4] == 9).all() and lab[4, 4] == 5
    # background fill limited to the region and to allowed pixels
    allowed = np.ones((10, 10), bool)
    allowed[:, 7] = False
    flood_fill(lab, 8.5, 8.5, 1, allowed=allowed, region=(0, 0, 10, 10))
    assert (lab[:, 8:] == 1).all() and lab[9, 6] == 0 and (lab[:, 7] == 0).all()
    assert flood_fill(lab, 8.5, 8.5, 1) is None  # already that part
    lab2 = np.zeros((10, 10), np.uint8)
    flood_fill(lab2, 1.5, 1.5, 3, region=(0, 0, 5, 5))
    assert lab2.sum() == 3 * 25


def test_pick_reads_the_part_under_the_cursor():
    lab = np.zeros((5, 5), np.uint8)
    lab[2, 3] = 14
    assert pick(lab, 3.9, 2.1) == 14 and pick(lab, 0.5, 0.5) == 0 and pick(lab, 7, 1) is None


def test_stroke_patch_holds_only_its_box_and_undoes_exactly():
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 21, (60, 80)).astype(np.uint8)
    start = lab.copy()
    rec = StrokeRecorder(lab)
    for a, b in (((10, 10), (20, 14)), ((20, 14), (30, 12))):
        rec.touch(stamp_segment(lab, a, b, 4, 3))
    patch = rec.finish(lab)
    after = lab.copy()
    y0, x0, y1, x1 = patch.bbox
    assert (y1 - y0) * (x1 - x0) < 20 * 30  # a box, not the whole map
    patch.apply(lab, undo=True)
    assert np.array_equal(lab, start)
    patch.apply(lab)
    assert np.array_equal(lab, after)
    assert StrokeRecorder(lab).finish(lab) is None
