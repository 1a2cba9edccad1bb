"""Hand labelling on a tiny NYU-layout project: the editor saves every stroke, reopening
restores the labels exactly, "start from" keeps to the hand's depth range, export /
import round-trips and refuses bad files without changing anything, the evaluation set."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from handpose_core.datasets.labelio import read_label_png, write_label_png
from handpose_core.labelling import LabelEditor, apply_patch, choose_eval_set, parse_frame_list
from handpose_core.labelling.editor import label_record
from handpose_core.labelling.files import LabelFileError, export_labels, import_labels
from handpose_core.project import Project
from handpose_core.render import write_nyu_layout


@pytest.fixture(scope="module")
def nyu_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("nyu")
    write_nyu_layout(root, 6, split="test", seed=5)
    return root


@pytest.fixture
def project(nyu_root, tmp_path):
    p = Project.create(tmp_path / "proj", nyu_root, kind="nyu")
    yield p
    p.close()


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_every_stroke_is_saved_and_reopening_restores_it(project):
    clock = Clock()
    ed = LabelEditor(project, 1, author="tester", clock=clock)
    y0, x0, y1, x1 = ed.region
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ed.begin_stroke(cx, cy, tool="brush", value=6, size=7)
    ed.continue_stroke(cx + 20, cy)
    clock.t = 4.0
    patch = ed.end_stroke()
    assert patch is not None and patch.changed_pixels > 100
    on_disk = read_label_png(project.root / "labels" / f"{ed.frame.key}.png")
    assert np.array_equal(on_disk, ed.labels) and (on_disk == 6).sum() == patch.changed_pixels
    rec = label_record(project, 1)
    assert rec[0] == 1 and rec[1] is False
    assert rec[2] == pytest.approx(4.0) and rec[3] == "tester"
    # eraser: removes labels, one more stroke on disk
    ed.begin_stroke(cx + 10, cy, tool="eraser", value=6, size=3)
    ed.end_stroke()
    assert label_record(project, 1)[0] == 2
    saved = ed.labels.copy()
    again = LabelEditor(project, 1)
    assert np.array_equal(again.labels, saved) and again.strokes == 2


def test_depth_limit_keeps_brush_and_fill_on_the_hand_but_not_the_eraser(project):
    ed = LabelEditor(project, 2)
    ed.limit_to_depth = True
    y0, x0, y1, x1 = ed.region
    ed.begin_stroke(x0 + 0.5, y0 + 0.5, tool="brush", value=3, size=64)
    ed.continue_stroke(x1 - 0.5, y1 - 0.5)
    ed.end_stroke()
    painted = ed.labels > 0
    assert painted.any() and not (painted & ~ed.in_range).any()
    # the hand's pixels are in range, the background behind it is not
    gt = project.labels(ed.frame)
    assert ed.in_range[gt > 0].mean() > 0.97 and not ed.in_range[y0:y1, x0:x1].all()
    ed.labels[:] = 0
    ed.labels[y0 + 2, x0 + 2] = 9  # a stray label off the hand
    ed.limit_to_depth = True
    ed.begin_stroke(x0 + 2.5, y0 + 2.5, tool="eraser", value=0, size=3)
    ed.end_stroke()
    assert ed.labels[y0 + 2, x0 + 2] == 0


def test_fill_and_undo_patches_on_a_frame_that_is_not_open(project):
    ed = LabelEditor(project, 3)
    ed.limit_to_depth = True
    gt = project.labels(ed.frame)
    v, u = np.argwhere(gt == 1)[len(np.argwhere(gt == 1)) // 2]
    patch = ed.fill(u + 0.5, v + 0.5, 1)  # the whole hand silhouette, connected
    assert patch is not None
    assert ((ed.labels == 1) & ~ed.in_range).sum() == 0 and (ed.labels == 1).sum() > 300
    before = np.zeros_like(ed.labels)
    # undo from elsewhere (another frame is open): read, patch, save
    apply_patch(project, 3, patch, undo=True)
    assert np.array_equal(read_label_png(project.root / "labels" / f"{ed.frame.key}.png"), before)
    apply_patch(project, 3, patch, undo=False)
    assert np.array_equal(LabelEditor(project, 3).labels, ed.labels)


def test_start_from_prediction_is_upsampled_inside_the_depth_range(project):
    ed = LabelEditor(project, 4)
    _, tf, crop_gt = project.crop(ed.frame)
    patch = ed.replace_with_crop_labels(crop_gt)
    assert patch is not None
    full = project.labels(ed.frame)
    hand = full > 0
    agree = (ed.labels[hand] == full[hand]).mean()
    assert agree > 0.6  # nearest-neighbour 48 -> ~200 px loses the thin edges only
    assert not (ed.labels > 0)[~ed.in_range].any()


def test_mark_done_is_saved(project):
    ed = LabelEditor(project, 5)
    ed.set_complete(True)
    assert label_record(project, 5)[1] is True
    assert project.frame(5).has_labels


def test_export_import_round_trip_and_bad_files_change_nothing(project, tmp_path):
    ed = LabelEditor(project, 1)
    ed.begin_stroke(ed.region[1] + 30.5, ed.region[0] + 30.5, tool="brush", value=12, size=9)
    ed.end_stroke()
    out = export_labels(project, [1, 2], tmp_path / "export")
    assert [p.name for p in out] == ["test_1_0000001.png"]
    assert (tmp_path / "export" / "parts.json").exists()
    with Image.open(out[0]) as im:
        assert im.mode == "P" and im.size == (640, 480)
        assert tuple(im.getpalette()[12 * 3:13 * 3]) == (0xdc, 0xed, 0xc8)  # middle distal
    # a changed copy under frame 2's name imports
    lab = read_label_png(out[0])
    lab[0:5, 0:5] = 20
    good = tmp_path / "in" / "test_1_0000002.png"
    good.parent.mkdir()
    write_label_png(good, lab)
    assert import_labels(project, [good]) == [2]
    assert np.array_equal(LabelEditor(project, 2).labels, lab)
    saved = LabelEditor(project, 1).labels.copy()
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    cases = {}
    small = bad_dir / "test_1_0000001.png"
    write_label_png(small, np.zeros((48, 48), np.uint8))
    cases["small"] = (small, "48 x 48 pixels")
    rgb = bad_dir / "rgb" / "test_1_0000001.png"
    rgb.parent.mkdir()
    Image.fromarray(np.zeros((480, 640, 3), np.uint8)).save(rgb)
    cases["rgb"] = (rgb, "not a palette PNG")
    pal = bad_dir / "pal" / "test_1_0000001.png"
    pal.parent.mkdir()
    img = Image.fromarray(lab, mode="P")
    img.putpalette([255, 255, 255] * 256)
    img.save(pal)
    cases["palette"] = (pal, "palette entry 0 is #ffffff")
    idx = bad_dir / "idx" / "test_1_0000001.png"
    idx.parent.mkdir()
    a = lab.copy()
    a[0, 0] = 33
    img = Image.fromarray(a, mode="P")
    img.putpalette(list(Image.open(out[0]).getpalette()))
    img.save(idx)
    cases["index"] = (idx, "index 33 is no part id")
    name = bad_dir / "frame_one.png"
    write_label_png(name, lab)
    cases["name"] = (name, "does not say which frame")
    # a good file first, with labels frame 2 does not hold yet: a partial import (the good
    # file saved before the bad one is checked) would change frame 2
    other = lab.copy()
    other[100:140, 200:260] = 7
    newer = tmp_path / "in2" / "test_1_0000002.png"
    newer.parent.mkdir()
    write_label_png(newer, other)
    for what, (path, msg) in cases.items():
        with pytest.raises(LabelFileError, match=msg) as e:
            import_labels(project, [newer, path])  # a good file first: still nothing saved
        assert str(path) in str(e.value), what
        assert np.array_equal(LabelEditor(project, 1).labels, saved), what
        assert np.array_equal(LabelEditor(project, 2).labels, lab), what
    assert import_labels(project, [newer]) == [2]  # the good file alone does import
    assert np.array_equal(LabelEditor(project, 2).labels, other)


def test_choose_eval_set_is_reproducible_and_spread(project):
    frames = project.frames()
    a = choose_eval_set(frames, n=3, seed=1)
    assert a == choose_eval_set(frames, n=3, seed=1) and len(set(a)) == 3
    nums = sorted(project.frame(i).frame for i in a)
    assert nums[0] <= 2 and 3 <= nums[1] <= 4 and nums[2] >= 5  # one per third
    assert choose_eval_set(frames, n=100) == [f.id for f in frames]
    with pytest.raises(ValueError, match="no 'train' frames"):
        choose_eval_set(frames, split="train")


def test_parse_frame_list_names_the_bad_line(project):
    frames = project.frames()
    ids = parse_frame_list("# chosen by hand\n3\ndepth_1_0000005.png\n", frames)
    assert [project.frame(i).frame for i in ids] == [3, 5]
    for text, msg in (("3\nthree\n", "list:2: 'three' is neither"),
                      ("1\n99\n", "list:2: the project has no test frame 99"),
                      ("4\n4\n", "list:2: frame 4 is listed twice"), ("\n#\n", "no frames")):
        with pytest.raises(ValueError, match=msg):
            parse_frame_list(text, frames, source="list")


def test_a_stroke_finished_without_saving_is_saved_by_commit(project):
    """``end_stroke(save=False)`` leaves disk and store as they were (the studio's undo
    command saves it); ``commit`` then saves it as one more stroke."""
    ed = LabelEditor(project, 1, author="tester", clock=Clock())
    y0, x0, y1, x1 = ed.region
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    path = project.root / "labels" / f"{ed.frame.key}.png"
    ed.begin_stroke(cx, cy, tool="brush", value=6, size=7)
    patch = ed.end_stroke(save=False)
    assert patch is not None and (ed.labels == 6).sum() == patch.changed_pixels
    assert not path.exists() and label_record(project, 1) is None
    ed.commit()
    assert np.array_equal(read_label_png(path), ed.labels)
    assert label_record(project, 1)[0] == 1
