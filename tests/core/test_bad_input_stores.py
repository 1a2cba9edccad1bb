"""The project's own files tried with bad input: the synthetic store, the patch
dictionary (meta.json, index.ann, patches.npy), model checkpoints and the project store.

Each corruption must end in a clear error naming the file, with nothing on disk changed
(see ``_badinput.py``); a store whose meta.json is damaged must still render again.
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pytest
import torch
from _badinput import check, flips, truncations

from handpose_core.datasets.synthetic import SyntheticStore, SyntheticStoreWriter
from handpose_core.nets import SegNetConfig, build_segnet
from handpose_core.nets.checkpoint import load_segnet, save_checkpoint
from handpose_core.restoration import Dictionary
from handpose_core.restoration.patches import PatchEncoding

SIZE = 16


def _write_store(root, n=6, complete=True):
    rng = np.random.default_rng(0)
    w = SyntheticStoreWriter(root, n, SIZE, style="clean", seed=0)
    w.write(0, depth=rng.uniform(-1, 1, (n, SIZE, SIZE)).astype(np.float32),
            labels=rng.integers(0, 21, (n, SIZE, SIZE)).astype(np.uint8),
            joints_uvd=np.zeros((n, 36, 3), np.float32), joints_xyz=np.zeros((n, 36, 3), np.float32),
            crop=np.zeros((n, 11)))
    if complete:
        w.close()
    return root


@pytest.fixture
def store(tmp_path):
    return _write_store(tmp_path / "store")


def _store_ok(s):
    return len(s) == 6 and s.depth.shape == (6, SIZE, SIZE)


def test_store_meta_cut_or_flipped_is_a_clear_error(store):
    mp = store / "meta.json"
    good = mp.read_bytes()
    rng = np.random.default_rng(10)
    for kind, gen in (("meta.json truncated", truncations(good, rng, 120)),
                      ("meta.json byte flip", flips(good, rng, 200))):
        for data in gen:
            mp.write_bytes(data)
            check("synthetic store", kind, lambda: SyntheticStore.open(store), mp, watch=[store],
                  valid=_store_ok)


@pytest.mark.parametrize("kind, edit, match", [
    ("meta.json wrong format", lambda m: [m], "a JSON list, not an object"),
    ("meta.json wrong format", lambda m: 7, "a JSON int, not an object"),
    ("meta.json wrong format", lambda m: {**m, "format": "handpose-patch-dictionary"},
     "not a synthetic store"),
    ("meta.json missing key", lambda m: {k: v for k, v in m.items() if k != "count"},
     r"count=None, expected an integer"),
    ("meta.json missing key", lambda m: {k: v for k, v in m.items() if k != "size"}, r"size=None"),
    ("meta.json missing key", lambda m: {k: v for k, v in m.items() if k != "written"},
     r"written=None"),
    ("meta.json wrong type", lambda m: {**m, "count": "6"}, r"count='6'"),
    ("meta.json wrong type", lambda m: {**m, "size": -16}, r"size=-16"),
    ("meta.json wrong type", lambda m: {**m, "version": "1"}, r"version='1'"),
    ("meta.json wrong shape", lambda m: {**m, "size": 8}, r"depth.npy: expected \(6, 8, 8\)"),
    ("meta.json wrong shape", lambda m: {**m, "count": 60}, r"expected \(60, 16, 16\)"),
    ("newer version", lambda m: {**m, "version": 9}, "version 9 is newer than this program"),
])
def test_store_meta_wrong_content_is_a_clear_error(store, kind, edit, match):
    mp = store / "meta.json"
    mp.write_text(json.dumps(edit(json.loads(mp.read_text()))))
    check("synthetic store", kind, lambda: SyntheticStore.open(store), mp, watch=[store],
          match=match)


def test_store_arrays_missing_or_cut(store):
    (store / "crop.npy").unlink()
    check("synthetic store", "array missing", lambda: SyntheticStore.open(store),
          store / "crop.npy", watch=[store], match="store array missing", error=FileNotFoundError)
    (store / "meta.json").unlink()
    check("synthetic store", "meta.json missing", lambda: SyntheticStore.open(store),
          store / "meta.json", watch=[store], match="meta.json missing", error=FileNotFoundError)


def test_store_array_cut_is_a_clear_error(tmp_path, store):
    p = store / "labels.npy"
    good = p.read_bytes()
    for data in truncations(good, np.random.default_rng(11), 60):
        p.write_bytes(data)
        check("synthetic store", "array truncated", lambda: SyntheticStore.open(store), p,
              watch=[store])


def test_incomplete_store_says_so(tmp_path):
    root = _write_store(tmp_path / "s", complete=False)
    check("synthetic store", "incomplete", lambda: SyntheticStore.open(root), root / "meta.json",
          watch=[root], match="incomplete .*6/6.*re-run synth")


@pytest.mark.parametrize("damage", ["garbage", "list", "cut", "arrays gone"])
def test_store_with_damaged_meta_renders_again(tmp_path, damage):
    """A store whose meta.json (or arrays) cannot be read is rendered again from scratch."""
    from handpose_core.render import write_synthetic_store

    out = tmp_path / "s"
    write_synthetic_store(out, 4, size=SIZE, seed=3, chunk=2)
    ref = {k: np.array(getattr(SyntheticStore.open(out), k)) for k in ("depth", "labels")}
    mp = out / "meta.json"
    if damage == "garbage":
        mp.write_bytes(b"\xff\xfe{{{")
    elif damage == "list":
        mp.write_text("[1, 2]")
    elif damage == "cut":
        mp.write_bytes(mp.read_bytes()[:40])
    else:
        meta = json.loads(mp.read_text())
        meta.update(complete=False, written=2)
        mp.write_text(json.dumps(meta))
        (out / "labels.npy").write_bytes(b"junk")
    write_synthetic_store(out, 4, size=SIZE, seed=3, chunk=2)
    s = SyntheticStore.open(out)
    assert s.meta["complete"] and len(s) == 4
    for k, v in ref.items():
        assert np.array_equal(np.asarray(getattr(s, k)), v), k


# ------------------------------------------------------------------ patch dictionary
@pytest.fixture
def dictionary(tmp_path):
    rng = np.random.default_rng(12)
    patches = rng.integers(0, 21, size=(300, 9, 9)).astype(np.uint8)
    Dictionary.from_patches(patches, tmp_path / "dict", encoding=PatchEncoding(9, 2, 3), n_trees=3)
    return tmp_path / "dict"


def test_dictionary_meta_cut_or_flipped_is_a_clear_error(dictionary):
    mp = dictionary / "meta.json"
    good = mp.read_bytes()
    rng = np.random.default_rng(13)
    for kind, gen in (("meta.json truncated", truncations(good, rng, 120)),
                      ("meta.json byte flip", flips(good, rng, 200))):
        for data in gen:
            mp.write_bytes(data)
            check("dictionary", kind, lambda: Dictionary.load(dictionary), mp, watch=[dictionary],
                  valid=lambda d: len(d) == 300 and d.patch == 9)


@pytest.mark.parametrize("kind, edit, match", [
    ("meta.json wrong format", lambda m: [m], "a JSON list, not an object"),
    ("meta.json wrong format", lambda m: {**m, "format": "handpose-synthetic"},
     "not a patch dictionary"),
    ("meta.json missing key", lambda m: {k: v for k, v in m.items() if k != "encoding"},
     "encoding / n_patches: KeyError"),
    ("meta.json missing key", lambda m: {k: v for k, v in m.items() if k != "n_patches"},
     "encoding / n_patches: KeyError"),
    ("meta.json wrong type", lambda m: {**m, "encoding": "cw6"}, "encoding / n_patches"),
    ("meta.json wrong type", lambda m: {**m, "encoding": {**m["encoding"], "code": "zz"}},
     "unknown patch code 'zz'"),
    ("meta.json wrong type", lambda m: {**m, "encoding": {**m["encoding"], "stride": 0}},
     "stride must be >= 1"),
    ("meta.json wrong type", lambda m: {**m, "index_bytes": "big"}, "index_bytes='big'"),
    ("meta.json wrong shape", lambda m: {**m, "n_patches": 299}, r"expected \(299, 9, 9\)"),
    ("meta.json wrong shape", lambda m: {**m, "encoding": {**m["encoding"], "patch": 11}},
     r"expected \(300, 11, 11\)"),
    ("newer version", lambda m: {**m, "version": 99}, "version 99 is newer than this program"),
])
def test_dictionary_meta_wrong_content_is_a_clear_error(dictionary, kind, edit, match):
    mp = dictionary / "meta.json"
    mp.write_text(json.dumps(edit(json.loads(mp.read_text()))))
    check("dictionary", kind, lambda: Dictionary.load(dictionary), mp, watch=[dictionary],
          match=match)


def test_dictionary_index_cut_or_missing_is_a_clear_error(dictionary):
    ip = dictionary / "index.ann"
    good = ip.read_bytes()
    for data in truncations(good, np.random.default_rng(14), 120):
        ip.write_bytes(data)
        check("dictionary", "index.ann truncated", lambda: Dictionary.load(dictionary), ip,
              watch=[dictionary], match="truncated or replaced annoy index")
    ip.write_bytes(good + b"\0" * 64)
    check("dictionary", "index.ann replaced", lambda: Dictionary.load(dictionary), ip,
          watch=[dictionary], match="truncated or replaced")
    ip.unlink()
    check("dictionary", "index.ann missing", lambda: Dictionary.load(dictionary), ip,
          watch=[dictionary], match="dictionary index missing", error=FileNotFoundError)


def test_dictionary_index_of_an_old_build_cut_is_a_clear_error(dictionary):
    """Without the recorded size (a dictionary built before it was recorded), annoy's own
    load and the item count still catch a cut index."""
    mp, ip = dictionary / "meta.json", dictionary / "index.ann"
    meta = json.loads(mp.read_text())
    del meta["index_bytes"]
    mp.write_text(json.dumps(meta))
    good = ip.read_bytes()
    for data in truncations(good, np.random.default_rng(15), 60):
        ip.write_bytes(data)
        check("dictionary", "index.ann truncated (no recorded size)",
              lambda: Dictionary.load(dictionary), ip, watch=[dictionary],
              valid=lambda d: len(d) == 300)


def test_dictionary_patches_cut_or_missing(dictionary):
    pp = dictionary / "patches.npy"
    good = pp.read_bytes()
    for data in truncations(good, np.random.default_rng(16), 60):
        pp.write_bytes(data)
        check("dictionary", "patches.npy truncated", lambda: Dictionary.load(dictionary), pp,
              watch=[dictionary])
    pp.unlink()
    check("dictionary", "patches.npy missing", lambda: Dictionary.load(dictionary), pp,
          watch=[dictionary], error=FileNotFoundError, match="patches missing")
    (dictionary / "meta.json").unlink()
    check("dictionary", "meta.json missing", lambda: Dictionary.load(dictionary),
          dictionary / "meta.json", watch=[dictionary], error=FileNotFoundError,
          match="build did not finish")


# ------------------------------------------------------------------ checkpoints
TINY = SegNetConfig("fast", 16, channels=(2, 4, 4), hidden=4, full_depth=1)


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "best.pt", build_segnet(TINY), TINY, {"val_acc": 0.5})


def test_checkpoint_cut_or_flipped_is_a_clear_error(checkpoint):
    good = checkpoint.read_bytes()
    weights = torch.load(checkpoint, weights_only=True)["model"]

    def same_network(result):  # a flip the reader does not notice must not change a weight
        model, config, _ = result
        state = model.state_dict()
        return config == TINY and all(torch.equal(state[k], v) for k, v in weights.items())

    rng = np.random.default_rng(17)
    for kind, gen in (("truncated", truncations(good, rng, 150)),
                      ("byte flip", flips(good, rng, 150))):
        for data in gen:
            checkpoint.write_bytes(data)
            check("checkpoint", kind, lambda: load_segnet(checkpoint), checkpoint,
                  valid=same_network)


def test_checkpoint_of_another_kind_is_a_clear_error(tmp_path, checkpoint):
    p = tmp_path / "other.pt"
    model = build_segnet(TINY)
    save_checkpoint(p, model, TINY, architecture="joint-regressor")
    check("checkpoint", "another architecture", lambda: load_segnet(p), p,
          match="holds a 'joint-regressor' network, expected 'segnet'")
    bigger = SegNetConfig("fast", 16, channels=(4, 4, 4), hidden=4, full_depth=1)
    ck = torch.load(checkpoint, weights_only=True)
    ck["config"] = bigger.to_dict()
    torch.save(ck, p)
    check("checkpoint", "weights of another shape", lambda: load_segnet(p), p,
          match="weights do not fit the architecture")
    ck["config"] = {**TINY.to_dict(), "preset": "huge"}
    torch.save(ck, p)
    check("checkpoint", "invalid config", lambda: load_segnet(p), p, match="unknown segnet preset")
    torch.save(model.state_dict(), p)
    check("checkpoint", "bare state_dict", lambda: load_segnet(p), p,
          match="not a handpose-studio checkpoint")
    ck = torch.load(checkpoint, weights_only=True)
    ck["version"] = 5
    torch.save(ck, p)
    check("checkpoint", "newer version", lambda: load_segnet(p), p, match="version 5 is newer")
    torch.save({"format": "handpose-checkpoint", "run": print}, p)
    check("checkpoint", "python objects", lambda: load_segnet(p), p, match="could run code")
    p.write_bytes(b"")
    check("checkpoint", "empty / not a checkpoint", lambda: load_segnet(p), p, match="empty")
    p.write_text("hello")
    check("checkpoint", "empty / not a checkpoint", lambda: load_segnet(p), p,
          match="not a model checkpoint")
    p.unlink()
    check("checkpoint", "missing", lambda: load_segnet(p), p, error=FileNotFoundError,
          match="checkpoint file not found")


# ------------------------------------------------------------------ project store
@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    from handpose_core.datasets.nyu import write_nyu_split
    from handpose_core.project import Project

    root = tmp_path_factory.mktemp("proj")
    uvd = np.tile(np.array([320.0, 240.0, 700.0]), (2, 36, 1))
    write_nyu_split(root / "data", "train", [np.full((480, 640), 700, np.uint16)] * 2, uvd, uvd)
    Project.create(root / "p", root / "data", kind="nyu").close()
    return root / "p"


def test_project_store_newer_schema_or_damaged(tmp_path, project_dir):
    from handpose_core.project import DB_NAME, Project

    p = tmp_path / "p"
    shutil.copytree(project_dir, p)
    db = p / DB_NAME
    good = db.read_bytes()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    check("project store", "schema newer than the code", lambda: Project.open(p), db,
          watch=[db], match="newer handpose-studio .schema 99")
    # each case gets a folder of its own (no connection of one case can touch the next)
    for i, data in enumerate(truncations(good, np.random.default_rng(18), 40)):
        if len(data) < 2:
            continue  # sqlite takes a 0- or 1-byte file for a new one: test_project_store_empty_file
        case = tmp_path / f"case{i}"
        case.mkdir()
        cdb = case / DB_NAME
        cdb.write_bytes(data)
        # a cut that only drops free pages at the end leaves a readable store
        check("project store", "truncated", lambda case=case: Project.open(case), cdb, watch=[cdb],
              valid=lambda proj: len(proj.frames()) == 2 and proj.close() is None)
    db = tmp_path / "text" / DB_NAME
    db.parent.mkdir()
    db.write_text("not a database, just text " * 100)
    check("project store", "not a database", lambda: Project.open(db.parent), db, watch=[db],
          match="not a readable project store")


def test_project_store_empty_file(tmp_path, project_dir):
    from handpose_core.project import DB_NAME, Project

    p = tmp_path / "p"
    shutil.copytree(project_dir, p)
    (p / DB_NAME).write_bytes(b"S")
    check("project store", "empty file", lambda: Project.open(p), p / DB_NAME,
          watch=[p / DB_NAME], match="not a readable project store")
