"""The readers of files the project writes for itself, tried with bad input: the metric
log, a run's config.toml, cascade.json and eval.json, the guidance and crop caches, JSON
columns of the store, regressor checkpoints, the label PNGs the store points to.

As in test_bad_input_files.py: seeded cuts and flips plus content cases; each ends in a
clear error naming the file (a ``BadInput``) or a well-formed value, with the files
unchanged. The caches are the exception by design: a cache that does not read is built
again (its outcome counts as "read, well-formed": the maps equal freshly computed ones).
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import torch
from _badinput import check, flips, truncations

from handpose_core.errors import BadInput
from handpose_core.training.engine import MetricLog, read_metrics

# ------------------------------------------------------------------ metrics.jsonl


def _log(path, n=12):
    recs = [{"kind": "train", "step": s, "epoch": s / 4, "train_loss": 1.0 / s}
            for s in range(1, n + 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return recs


def _metrics_ok(recs):
    return isinstance(recs, list) and all(
        isinstance(r, dict) and isinstance(r.get("step", 0), int) for r in recs)


def test_metric_log_cut_or_flipped(tmp_path):
    p = tmp_path / "run" / "metrics.jsonl"
    p.parent.mkdir()
    recs = _log(p)
    good = p.read_bytes()
    rng = np.random.default_rng(3)
    cut_read = flip_error = cuts = 0
    for data in truncations(good, rng, 80):
        cuts += 1
        p.write_bytes(data)
        # a cut leaves whole records and at most a torn last line, which is skipped
        out = check("metrics.jsonl", "truncated", lambda: read_metrics(p), p, valid=_metrics_ok)
        got = read_metrics(p)
        assert got == recs[:len(got)]
        cut_read += out == "read"
    for data in flips(good, rng, 150):
        p.write_bytes(data)
        flip_error += check("metrics.jsonl", "byte flip", lambda: read_metrics(p), p,
                            valid=_metrics_ok) == "error"
    assert cut_read == cuts >= 70 and flip_error >= 50


@pytest.mark.parametrize("kind, line, match", [
    ("not JSON", "{step: 3}", r"metrics.jsonl:3: not a JSON record"),
    ("not an object", "[1, 2]", r"metrics.jsonl:3: a metrics record is a JSON object"),
    ("step not a number", '{"step": "3"}', r"metrics.jsonl:3: 'step' must be a whole number"),
])
def test_metric_log_bad_line_is_named_on_read_and_on_resume(tmp_path, kind, line, match):
    p = tmp_path / "metrics.jsonl"
    _log(p, 2)
    p.write_text(p.read_text() + line + "\n" + '{"step": 4}\n')
    check("metrics.jsonl", kind, lambda: read_metrics(p), p, match=match)
    # resuming a run reads the log the same way (and leaves it as it was)
    check("metrics.jsonl", kind, lambda: MetricLog(p, keep_until_step=3), p, match=match)


def test_metric_log_not_utf8_and_a_torn_line(tmp_path):
    p = tmp_path / "metrics.jsonl"
    recs = _log(p, 3)
    p.write_bytes(p.read_bytes() + b'{"step": 4, "x": "\xff\xfe"}\n')
    check("metrics.jsonl", "not UTF-8", lambda: read_metrics(p), p, match="not UTF-8")
    p.write_text("".join(json.dumps(r) + "\n" for r in recs) + '{"step": 4, "trai')
    assert read_metrics(p) == recs  # a write cut short: the torn line is skipped
    log = MetricLog(p, keep_until_step=2)  # resuming at step 2 drops step 3 and the torn line
    log.close()
    assert read_metrics(p) == recs[:2]


# ------------------------------------------------------------------ a run's config.toml, cascade.json
def _toml(path, segnet):
    from handpose_core.fileio import write_toml

    write_toml(path, {"run": {"stage": "train-reg"}, "data": {"segnet": str(segnet),
                                                             "frames": 8}})


def test_run_config_toml_cut_or_flipped(tmp_path):
    from handpose_core.nets.joints import _trained_with

    seg = tmp_path / "seg.pt"
    seg.write_bytes(b"weights")
    run = tmp_path / "run"
    run.mkdir()
    cfg = run / "config.toml"
    _toml(cfg, seg)
    assert _trained_with(run / "best.pt") == seg
    good = cfg.read_bytes()
    rng = np.random.default_rng(5)

    def ok(result):  # the f_s named there, or none (its path no longer names a file)
        return result is None or result == seg

    errors = 0
    for kind, gen in (("truncated", truncations(good, rng, 60)),
                      ("byte flip", flips(good, rng, 120))):
        for data in gen:
            cfg.write_bytes(data)
            errors += check("run config.toml", kind, lambda: _trained_with(run / "best.pt"),
                            cfg, valid=ok) == "error"
    assert errors >= 40
    for kind, text, match in (
            ("segnet not a path", 'data = {segnet = 3}\n', r"\[data\] segnet must be the path"),
            ("data not a table", 'data = 5\n', r"\[data\] segnet must be the path")):
        cfg.write_text(text)
        check("run config.toml", kind, lambda: _trained_with(run / "best.pt"), cfg, match=match)
    cfg.unlink()
    assert _trained_with(run / "best.pt") is None  # an older run without one


def test_cascade_json_cut_flipped_or_wrong(tmp_path):
    from handpose_core.nets.joints import _read_cascade

    p = tmp_path / "cascade.json"
    want = {"first": "models/train-reg-a/best.pt", "first_cube_mm": 300.0, "cube_mm": 200.0}
    p.write_text(json.dumps(want))
    assert _read_cascade(p) == want
    good = p.read_bytes()
    rng = np.random.default_rng(6)

    def ok(info):
        return set(info) == set(want) and all(isinstance(info[k], float) and info[k] > 0
                                               for k in ("first_cube_mm", "cube_mm"))

    for kind, gen in (("truncated", truncations(good, rng, 40)),
                      ("byte flip", flips(good, rng, 100))):
        for data in gen:
            p.write_bytes(data)
            check("cascade.json", kind, lambda: _read_cascade(p), p, valid=ok)
    for kind, obj, match in (
            ("not an object", [1, 2], "is a JSON object, got list"),
            ("first missing", {"first_cube_mm": 300, "cube_mm": 200}, "'first' must be"),
            ("cube not a number", {**want, "cube_mm": "200"}, "'cube_mm' must be a crop cube"),
            ("cube not positive", {**want, "first_cube_mm": 0}, "'first_cube_mm' must be"),
    ):
        p.write_text(json.dumps(obj))
        check("cascade.json", kind, lambda: _read_cascade(p), p, match=match)
    p.unlink()
    check("cascade.json", "missing", lambda: _read_cascade(p), p, match="missing or unreadable")


# ------------------------------------------------------------------ eval.json of an f_r run
def test_regressor_eval_json_cut_flipped_or_wrong(tmp_path):
    from handpose_core.nets.regressor_runs import RegressorRun, _run_from_folder

    run = tmp_path / "models" / "train-reg-a"
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(b"weights")
    ev = run / "eval.json"
    ev.write_text(json.dumps({"stage": "train-reg", "variant": "a",
                              "checkpoint": "/elsewhere/train-reg-a/best.pt",
                              "settings": {"guidance": "none", "guidance_weight": 1.0},
                              "test": {"mean_mm": 21.5}}))
    first = _run_from_folder(run, {})
    assert first.variant == "a" and first.checkpoint == run / "best.pt"
    good = ev.read_bytes()
    rng = np.random.default_rng(7)

    def ok(r):  # listed as a run of a variant with its checkpoint, or not listed
        return r is None or (isinstance(r, RegressorRun) and r.checkpoint.is_file())

    for kind, gen in (("truncated", truncations(good, rng, 60)),
                      ("byte flip", flips(good, rng, 150))):
        for data in gen:
            ev.write_bytes(data)
            check("eval.json (f_r run)", kind, lambda: _run_from_folder(run, {}), ev, valid=ok)
    for kind, obj, match in (
            ("not an object", ["train-reg"], "is a JSON object, got list"),
            ("unknown variant", {"stage": "train-reg", "variant": "z", "checkpoint": "best.pt"},
             "'variant' must be one of"),
            ("settings not an object", {"stage": "train-reg", "variant": "a",
                                        "checkpoint": "best.pt", "settings": [1]},
             "'settings' an object"),
            ("weight not a number", {"stage": "train-reg", "variant": "a",
                                     "checkpoint": "best.pt",
                                     "settings": {"guidance_weight": "x"}},
             "'guidance_weight' must be a number"),
    ):
        ev.write_text(json.dumps(obj))
        check("eval.json (f_r run)", kind, lambda: _run_from_folder(run, {}), ev, match=match)


def test_a_bad_eval_json_is_told_and_the_other_runs_listed(make_nyu_project):
    from handpose_core.nets.regressor_runs import regressor_runs

    p = make_nyu_project(1)
    for name, text in (("train-reg-a", json.dumps({"stage": "train-reg", "variant": "a",
                                                    "checkpoint": "best.pt"})),
                       ("train-reg-b", '{"stage": "train-re')):
        d = p.path("models") / name
        d.mkdir(parents=True)
        (d / "best.pt").write_bytes(b"w")
        (d / "eval.json").write_text(text)
    bad = p.path("models") / "train-reg-b" / "eval.json"
    check("eval.json (f_r run)", "run list", lambda: regressor_runs(p), bad,
          match="not a run report")
    problems = []
    assert [r.name for r in regressor_runs(p, problems)] == ["train-reg-a"]
    assert len(problems) == 1 and str(bad) in str(problems[0])


# ------------------------------------------------------------------ regressor checkpoints
def test_regressor_checkpoint_cut_or_flipped(tmp_path):
    from handpose_core.nets.checkpoint import load_regnet, save_checkpoint
    from handpose_core.nets.regnet import RegNetConfig, build_regnet
    from handpose_core.training.regression import ARCHITECTURE

    cfg = RegNetConfig("a", in_size=16, hidden=4)
    torch.manual_seed(0)
    p = save_checkpoint(tmp_path / "best.pt", build_regnet(cfg), cfg, {"val_mean_mm": 30.0},
                        architecture=ARCHITECTURE)
    weights = torch.load(p, weights_only=True)["model"]
    load_regnet(p, variant="a")
    good = p.read_bytes()

    def same_network(result):
        model, config, _ = result
        state = model.state_dict()
        return config == cfg and all(torch.equal(state[k], v) for k, v in weights.items())

    rng = np.random.default_rng(8)
    for kind, gen in (("truncated", truncations(good, rng, 100)),
                      ("byte flip", flips(good, rng, 100))):
        for data in gen:
            p.write_bytes(data)
            check("f_r checkpoint", kind, lambda: load_regnet(p, variant="a"), p,
                  valid=same_network)
    p.write_bytes(good)
    check("f_r checkpoint", "another variant", lambda: load_regnet(p, variant="b"), p,
          match="variant 'a', expected variant")


# ------------------------------------------------------------------ the store's JSON columns
@pytest.mark.parametrize("table, column, where, call", [
    ("runs", "config", "stage = 'restore'", lambda p: p.runs("restore")),
    ("runs", "metrics", "stage = 'restore'", lambda p: p.last_run("restore")),
    ("restorations", "details", "1", lambda p: p.restorations()),
])
@pytest.mark.parametrize("kind, text", [("not JSON", '{"a": 1'), ("not an object", "[1]"),
                                        ("empty", "")])
def test_store_json_column_damaged(make_nyu_project, table, column, where, call, kind, text):
    from handpose_core.project import DB_NAME, Project, Score

    p = make_nyu_project(1)
    f = p.frames()[0]
    lab = np.zeros((p.crop_size, p.crop_size), np.uint8)
    lab[10:20, 10:20] = 3
    p.save_restoration(f, model="m", raw=lab, restored=lab, score_raw=Score(10.0, 1.0),
                       score_restored=Score(5.0, 0.5), auto_accept=True, details={"n": 1})
    p.finish_run(p.start_run("restore", {"split": "train"}), "completed", {"restored": 1})
    root = p.root
    p.close()
    with sqlite3.connect(root / DB_NAME) as db:
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (text,))
    db.close()
    with Project.open(root) as q:
        check(f"store {table}.{column}", kind, lambda: call(q), root / DB_NAME,
              match=f"{table} row .*column '{column}'")


# ------------------------------------------------------------------ PNGs the store points to
def test_restoration_and_hand_label_pngs_cut_or_flipped(make_nyu_project):
    from handpose_core.labelling.editor import save_labels
    from handpose_core.project import Score

    p = make_nyu_project(1)
    f = p.frames()[0]
    lab = np.zeros((p.crop_size, p.crop_size), np.uint8)
    lab[10:20, 10:30] = 7
    rec = p.save_restoration(f, model="m", raw=lab, restored=lab, score_raw=Score(10.0, 1.0),
                             score_restored=Score(5.0, 0.5), auto_accept=True)
    png = p.root / rec.restored_path
    full = p.labels(f).copy()
    full[100:120, 200:260] = 9
    save_labels(p, f, full, strokes=1, complete=False, seconds=1.0, author="t")
    hand = p.root / "labels" / f"{f.key}.png"
    assert hand.is_file()
    rng = np.random.default_rng(9)
    cases = ((png, "restored map PNG", lambda: p.restored_maps(p.restoration(f.id)),
              lambda r: np.array_equal(r[1], lab)),
             (hand, "hand label PNG", lambda: p.labels(f), lambda r: np.array_equal(r, full)))
    for path, reader, call, ok in cases:
        good = path.read_bytes()
        for kind, gen in (("truncated", truncations(good, rng, 60)),
                          ("byte flip", flips(good, rng, 100))):
            for data in gen:
                path.write_bytes(data)
                check(reader, kind, call, path, valid=ok)
        path.write_bytes(good)
    png.unlink()
    check("restored map PNG", "missing", cases[0][2], png, error=FileNotFoundError)


# ------------------------------------------------------------------ caches: rebuilt
def test_guidance_cache_with_a_damaged_header_is_built_again(tmp_path):
    from handpose_core.guidance.cache import cached_guidance_maps

    rng = np.random.default_rng(10)
    depth = np.ones((3, 16, 16), np.float32)
    depth[:, 4:12, 4:12] = rng.uniform(-0.3, 0.3, (3, 8, 8))
    joints = rng.uniform(5, 11, (3, 14, 3))
    folder = tmp_path / "cache"
    fresh = np.array(cached_guidance_maps(folder, depth, joints, kind="heatmap"))
    (path,) = folder.glob("guidance_*.npy")
    good = path.read_bytes()
    header = 128  # the .npy header (magic, version, dtype, shape): what a load checks
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("other files stay as they are")

    def same(m):
        return np.array_equal(np.asarray(m), fresh)

    for kind, datas in (("truncated", truncations(good, rng, 40)),
                        ("header byte flip", flips(good[:header], rng, 60))):
        for data in datas:
            path.write_bytes(data + (good[header:] if kind == "header byte flip" else b""))
            check("guidance cache", kind, lambda: cached_guidance_maps(
                folder, depth, joints, kind="heatmap"), path, watch=[sentinel], valid=same)
    assert sorted(q.name for q in folder.iterdir()) == [path.name]  # no temporary left


def test_crop_cache_with_damaged_files_is_built_again(make_nyu_project):
    from handpose_core.project import Project

    p = make_nyu_project(3)
    frames = p.frames()
    fresh = [np.array(a) for a in p.crops(frames)]
    root = p.root
    p.close()
    files = sorted((root / "cache").rglob("*.npy"))
    assert files, "no crop cache written"
    rng = np.random.default_rng(11)
    sentinel = root / "sentinel"
    sentinel.write_text("x")
    for path in files:
        good = path.read_bytes()
        for kind, data in (("truncated", good[:int(rng.integers(1, len(good)))]),
                           ("header byte flip", next(flips(good[:64], rng, 1)) + good[64:])):
            path.write_bytes(data)

            def crops():
                with Project.open(root) as q:
                    return [np.array(a) for a in q.crops(q.frames())]

            check("crop cache", kind, crops, path, watch=[sentinel],
                  valid=lambda got: all(np.array_equal(a, b) for a, b in zip(got, fresh)))


def test_bad_input_is_a_value_error_for_older_callers():
    assert issubclass(BadInput, ValueError)
