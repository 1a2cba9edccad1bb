"""Training engine, checkpoints and the f_s stage core, on tiny seeded stores."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch

from handpose_core.datasets.synthetic import SyntheticStore, SyntheticStoreWriter
from handpose_core.fileio import read_toml, write_toml
from handpose_core.nets import SegNetConfig, build_segnet
from handpose_core.nets.checkpoint import load_checkpoint, load_segnet, save_checkpoint
from handpose_core.nets.inference import predict_labels
from handpose_core.progress import Cancelled
from handpose_core.training import TrainConfig, read_metrics, train_segmentation
from handpose_core.training.augment import augment
from handpose_core.training.config import RUNTIME_FIELDS
from handpose_core.training.segmentation import split_indices

SMALL = SegNetConfig("fast", 48, channels=(4, 8, 16), hidden=8)


def blobs(n, size=48, seed=0):
    """Discs at random places; parts = quadrant x (inner, outer ring): 8 context classes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    depth = np.ones((n, size, size), np.float32)
    labels = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cx, cy = rng.uniform(0.3 * size, 0.7 * size, 2)
        r = rng.uniform(0.17 * size, 0.3 * size)
        d = np.hypot(xx - cx, yy - cy)
        inside = d < r
        depth[i][inside] = (-0.3 + 0.2 * (xx - cx) / r)[inside]
        quadrant = ((np.arctan2(yy - cy, xx - cx) + np.pi) // (np.pi / 2)).astype(np.uint8)
        labels[i][inside] = (1 + np.minimum(quadrant, 3) + 4 * (d > 0.6 * r))[inside]
    return depth, labels


def make_store(root, n=64, size=48, seed=0):
    depth, labels = blobs(n, size, seed)
    w = SyntheticStoreWriter(root, n, size, style="clean", seed=seed)
    z = np.zeros((n, 36, 3), np.float32)
    w.write(0, depth=depth, labels=labels, joints_uvd=z, joints_xyz=z, crop=np.zeros((n, 11)))
    w.close()
    return SyntheticStore.open(root)


def cfg(**kw):
    # One thread: on a shared 2-core machine two threads per op stall on each other.
    base = dict(epochs=2, batch_size=16, lr=3e-3, warmup_steps=2, log_every=1,
                checkpoint_every_s=3600.0, val_batch=64, num_threads=1)
    return TrainConfig(**{**base, **kw})


def _forward_labels(model, depth):
    """argmax of one plain forward pass over all crops (no batching, no predict())."""
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(np.array(depth, np.float32)).unsqueeze(1)
        return model(x).argmax(1).numpy().astype(np.uint8)


def _val_accuracy(checkpoint, store, val_fraction, config=None):
    """Hand-pixel accuracy (correct part / hand pixels) of a checkpoint on the run's
    validation crops, computed without the training code."""
    config = config or cfg()
    model, _, _ = load_segnet(checkpoint)
    _, val = split_indices(len(store.depth), val_fraction, config.seed, config.val_max)
    pred, gt = _forward_labels(model, store.depth[val]), np.asarray(store.labels[val])
    hand = gt > 0
    return float((pred[hand] == gt[hand]).mean())


def weights(path):
    return load_checkpoint(path)["model"]


# --- checkpoints -------------------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_segnet(SMALL)
    p = save_checkpoint(tmp_path / "m.pt", model, SMALL, {"val_acc": 0.5}, None, 3, step=7)
    assert [f.name for f in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind
    loaded, config, meta = load_segnet(p)
    assert config == SMALL and not loaded.training
    assert meta["metrics"] == {"val_acc": 0.5} and meta["epoch"] == 3 and meta["step"] == 7
    x = torch.from_numpy(blobs(2)[0]).unsqueeze(1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x))


def test_checkpoint_errors_name_file_and_problem(tmp_path):
    model = build_segnet(SMALL)
    good = save_checkpoint(tmp_path / "good.pt", model, SMALL)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_segnet(tmp_path / "missing.pt")
    other = save_checkpoint(tmp_path / "reg.pt", model, SMALL, architecture="regnet")
    with pytest.raises(ValueError, match=r"reg\.pt.*'regnet'.*expected 'segnet'"):
        load_segnet(other)
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"trunc\.pt: corrupt or truncated"):
        load_segnet(trunc)
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    with pytest.raises(ValueError, match=r"notes\.pt: not a model checkpoint"):
        load_segnet(text)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.pt: checkpoint is empty"):
        load_segnet(empty)
    bare = tmp_path / "bare.pt"
    torch.save(model.state_dict(), bare)
    with pytest.raises(ValueError, match=r"bare\.pt: not a handpose-studio checkpoint"):
        load_segnet(bare)
    ck = load_checkpoint(good)
    ck["config"]["channels"] = [4, 8, 32]
    torch.save(ck, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match=r"mismatch\.pt: weights do not fit"):
        load_segnet(tmp_path / "mismatch.pt")


# --- config ------------------------------------------------------------------------------

def test_train_config_toml_round_trip_and_schedule(tmp_path):
    c = cfg(schedule="cosine", warmup_steps=10, lr=1e-2, final_lr_fraction=0.1)
    write_toml(tmp_path / "c.toml", {"train": c.to_dict(), "net": SMALL.to_dict()})
    back = read_toml(tmp_path / "c.toml")
    assert TrainConfig.from_dict(back["train"]) == c
    assert SegNetConfig.from_dict(back["net"]) == SMALL
    assert c.lr_at(0, 110) == pytest.approx(1e-3)
    assert c.lr_at(10, 110) == pytest.approx(1e-2)
    assert c.lr_at(110, 110) == pytest.approx(1e-3)
    assert c.lr_at(60, 110) == pytest.approx(0.5 * (1e-2 + 1e-3))
    paper = TrainConfig.paper()
    assert (paper.optimizer, paper.batch_size, paper.lr, paper.epochs) == ("sgd", 1, 0.1, 100)
    assert paper.lr_at(100_000, 1) == pytest.approx(0.1 / 2)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    (tmp_path / "bad.toml").write_text("epochs = = 3")
    with pytest.raises(ValueError, match=r"bad\.toml: not a valid TOML"):
        read_toml(tmp_path / "bad.toml")


# --- data --------------------------------------------------------------------------------

def test_augment_keeps_depth_and_labels_aligned_without_flips():
    depth, labels = blobs(8)
    rng = np.random.default_rng(0)
    x, y, none = augment(depth, labels, rng, cfg(shift_px=0, rotate_deg=0, depth_jitter=0))
    assert none is None  # no joints given, none returned
    assert np.array_equal(x[:, 0].numpy(), depth) and np.array_equal(y.numpy(), labels)
    x, y, _ = augment(depth, labels, rng, cfg(shift_px=4, rotate_deg=20, depth_jitter=0.1))
    assert x.shape == (8, 1, 48, 48) and y.dtype == torch.int64
    # The disc is the only foreground: after moving both, hand pixels still have depth < 1.
    assert torch.equal(y > 0, x[:, 0] < 1)
    assert not torch.equal(y, torch.from_numpy(labels).long())
    assert set(torch.unique(y).tolist()) <= set(range(9))


def test_augment_moves_a_crop_alike_with_and_without_joints():
    """f_s batches (no joints) and f_r batches (joints) of one seed get the same rotation,
    shift and depth offset: the draws do not depend on the joints."""
    depth, labels = blobs(8)
    joints = np.random.default_rng(1).uniform(-0.5, 0.5, (8, 14, 3)).astype(np.float32)
    c = cfg(shift_px=4, rotate_deg=30, depth_jitter=0.1)
    x1, y1, _ = augment(depth, labels, np.random.default_rng(7), c)
    x2, y2, t2 = augment(depth, labels, np.random.default_rng(7), c, joints)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert t2.shape == (8, 14, 3) and not np.allclose(t2.numpy(), joints)
    # a zero configuration leaves the joints as they were
    _, _, t0 = augment(depth, labels, np.random.default_rng(7), cfg(shift_px=0, rotate_deg=0,
                                                                       depth_jitter=0), joints)
    assert np.array_equal(t0.numpy(), joints)


def test_split_is_seeded_disjoint_and_capped():
    tr, va = split_indices(100, 0.1, seed=3, val_max=5)
    assert len(va) == 5 and len(tr) == 95 and not set(tr) & set(va)
    assert np.array_equal(va, split_indices(100, 0.1, seed=3, val_max=5)[1])
    assert len(split_indices(100, 0.0, 0, 100)[1]) == 0


# --- the stage ---------------------------------------------------------------------------

def test_train_writes_run_files(tmp_path):
    store = make_store(tmp_path / "store", 64)
    calls = []
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        res = train_segmentation(store, cfg(num_threads=1), tmp_path / "run", net=SMALL,
                                 val_fraction=0.25,
                                 progress=lambda d, t, m: calls.append((d, t)))
        assert torch.get_num_threads() == 2  # the run's setting does not leak out
    finally:
        torch.set_num_threads(threads)
    run = tmp_path / "run"
    assert res.steps == 2 * (48 // 16) and res.epochs == 2 and not res.resumed
    assert calls[-1] == (res.steps, res.steps)
    recs = read_metrics(run / "metrics.jsonl")
    train = [r for r in recs if r["kind"] == "train"]
    val = [r for r in recs if r["kind"] == "val"]
    assert [r["step"] for r in train] == list(range(1, res.steps + 1))
    assert len(val) == 2
    # the recorded accuracy is what the best checkpoint scores on the held-out crops,
    # recomputed here from a plain forward pass
    assert res.best_metric == pytest.approx(_val_accuracy(res.best_checkpoint, store, 0.25))
    for r in train + val:
        assert {"step", "epoch", "train_loss", "lr", "time"} <= set(r)
    assert res.best_metric == max(r["val_acc"] for r in val)
    model, config, meta = load_segnet(res.best_checkpoint)
    assert config == SMALL and meta["metrics"]["val_acc"] == res.best_metric
    toml = read_toml(run / "config.toml")
    assert toml["run"]["stage"] == "pretrain-seg" and toml["data"]["val"] == 16
    assert TrainConfig.from_dict(toml["train"]) == cfg(num_threads=1)
    assert res.metrics["val_acc"] == val[-1]["val_acc"] and not res.already_done
    seen = []
    labels = predict_labels(model, store.depth[:5], batch=2,
                            progress=lambda d, t, m: seen.append((d, t)))
    assert labels.dtype == np.uint8 and seen == [(2, 5), (4, 5), (5, 5)]
    assert np.array_equal(labels, _forward_labels(model, store.depth[:5]))  # 3 batches = 1 pass


def test_a_run_seeds_torch_for_itself_and_gives_the_callers_rng_back(tmp_path):
    """A run draws its initial weights from ``config.seed`` whatever the caller's random
    state, and leaves that state as it found it (the next stage or test in the process
    draws as if no run had happened; random test order must not change what it draws)."""
    store = make_store(tmp_path / "store", 32)
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    one = train_segmentation(store, cfg(epochs=1), tmp_path / "one", net=SMALL,
                             val_fraction=0.25)
    np.testing.assert_array_equal(torch.rand(4), expected)
    torch.manual_seed(7)  # another caller state: the same weights
    two = train_segmentation(store, cfg(epochs=1), tmp_path / "two", net=SMALL,
                             val_fraction=0.25)
    a, b = weights(one.last_checkpoint), weights(two.last_checkpoint)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cancel_keeps_checkpoint_and_resume_matches_uninterrupted(tmp_path):
    store = make_store(tmp_path / "store", 64)
    full = train_segmentation(store, cfg(), tmp_path / "full", net=SMALL, val_fraction=0.25)

    cancel = threading.Event()

    def stop_after_4(done, total, msg):
        if done == 4:
            cancel.set()

    with pytest.raises(Cancelled):
        train_segmentation(store, cfg(), tmp_path / "cut", net=SMALL, val_fraction=0.25,
                           progress=stop_after_4, cancel=cancel)
    _, _, meta = load_segnet(tmp_path / "cut" / "last.pt")
    assert meta["step"] == 4 and meta["epoch"] == 1  # mid-epoch 2 of 2
    assert max(r["step"] for r in read_metrics(tmp_path / "cut" / "metrics.jsonl")) == 4

    res = train_segmentation(store, cfg(), tmp_path / "cut", net=SMALL, val_fraction=0.25)
    assert res.resumed and res.steps == full.steps and res.resumed_from_step == 4
    a, b = weights(full.last_checkpoint), weights(res.last_checkpoint)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-5)
    steps = [r["step"] for r in read_metrics(tmp_path / "cut" / "metrics.jsonl")
             if r["kind"] == "train"]
    assert steps == list(range(1, full.steps + 1))  # no duplicate records after resuming

    again = train_segmentation(store, cfg(), tmp_path / "cut", net=SMALL, val_fraction=0.25)
    assert again.steps == full.steps and again.already_done  # finished: nothing to do


def test_a_run_reports_the_settings_its_weights_were_trained_under(tmp_path):
    """Runtime settings (threads, device, autocast) may change on resume; the result
    lists each session's, and a run found finished reports the settings it was trained
    under, not those asked for now (a float32 run is not reported as bfloat16)."""
    store = make_store(tmp_path / "store", 64)
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        train_segmentation(store, cfg(num_threads=1), tmp_path / "run", net=SMALL,
                           val_fraction=0.25, cancel=cancel,
                           progress=lambda done, total, msg: done == 4 and cancel.set())
    res = train_segmentation(store, cfg(num_threads=2), tmp_path / "run", net=SMALL,
                             val_fraction=0.25)
    assert res.resumed and res.train == cfg(num_threads=2).to_dict()
    assert [(s["from_step"], s["num_threads"]) for s in res.sessions] == [(0, 1), (4, 2)]
    assert all(s["device_used"] == "cpu" and not s["bfloat16"] for s in res.sessions)

    again = train_segmentation(store, cfg(num_threads=1, cpu_amp=True), tmp_path / "run",
                               net=SMALL, val_fraction=0.25)
    assert again.already_done and again.train == res.train
    assert again.train["cpu_amp"] is False and again.sessions == res.sessions

    # a checkpoint saved before sessions were recorded: only its last one is known
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    del ck["extra"]["loop"]["sessions"]
    torch.save(ck, tmp_path / "run" / "last.pt")
    old = train_segmentation(store, cfg(), tmp_path / "run", net=SMALL, val_fraction=0.25)
    assert old.already_done and old.sessions == [
        {"from_step": None, **{k: res.train[k] for k in RUNTIME_FIELDS}, "recorded": False}]

    ck["extra"]["loop"]["sessions"] = "garbled"
    torch.save(ck, tmp_path / "run" / "last.pt")
    with pytest.raises(ValueError, match=r"last\.pt: the checkpoint's list of training sessions"):
        train_segmentation(store, cfg(), tmp_path / "run", net=SMALL, val_fraction=0.25)


def test_resume_refuses_other_settings_and_restart_starts_over(tmp_path):
    store = make_store(tmp_path / "store", 64)
    train_segmentation(store, cfg(epochs=1), tmp_path / "run", net=SMALL, val_fraction=0.25)
    with pytest.raises(ValueError, match=r"last\.pt: cannot resume.*lr"):
        train_segmentation(store, cfg(epochs=1, lr=1e-2), tmp_path / "run", net=SMALL,
                           val_fraction=0.25)
    with pytest.raises(ValueError, match=r"cannot resume.*net"):
        train_segmentation(store, cfg(epochs=1), tmp_path / "run",
                           net=SegNetConfig("fast", 48, channels=(4, 8, 8), hidden=8),
                           val_fraction=0.25)
    res = train_segmentation(store, cfg(epochs=1, lr=1e-2), tmp_path / "run", net=SMALL,
                             val_fraction=0.25, resume=False)
    assert not res.resumed and res.steps == 3
    assert len([r for r in read_metrics(tmp_path / "run" / "metrics.jsonl")
                if r["kind"] == "train"]) == 3


def test_cancel_from_another_thread_stops_within_a_second(tmp_path):
    store = make_store(tmp_path / "store", 256)
    cancel = threading.Event()
    started = threading.Event()
    box = {}

    def work():
        try:
            train_segmentation(store, cfg(epochs=50), tmp_path / "run", val_fraction=0.1,
                               cancel=cancel, progress=lambda *a: started.set())
        except Cancelled:
            box["stopped"] = time.perf_counter()

    t = threading.Thread(target=work)
    t.start()
    assert started.wait(60)
    t_set = time.perf_counter()
    cancel.set()
    t.join(30)
    assert "stopped" in box and box["stopped"] - t_set < 1.0
    load_segnet(tmp_path / "run" / "last.pt")


@pytest.mark.slow
def test_train_on_arrays_learns_the_blob_parts(tmp_path):
    depth, labels = blobs(384, seed=5)
    res = train_segmentation((depth, labels), cfg(epochs=3, batch_size=32, lr=5e-3),
                             tmp_path / "run", val_fraction=0.1)
    val = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "val"]
    # 8 context-dependent parts: chance is 1/8; an untrained net is not better than that.
    assert res.best_metric > 0.5
    assert val[-1]["train_loss"] < val[0]["train_loss"]
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])


@pytest.mark.parametrize("bf16_cpu", [False, True])
def test_cpu_amp_runs_steps_under_bfloat16_autocast_only_where_the_cpu_has_it(
        tmp_path, monkeypatch, bf16_cpu):
    """cpu_amp: the training steps run under CPU bfloat16 autocast where the CPU computes
    bfloat16 natively (never without cpu_amp); weights stay float32 and the run learns."""
    import handpose_core.training.engine as engine
    from handpose_core.training.config import cpu_bfloat16
    from handpose_core.training.segmentation import SegmentationTask

    assert isinstance(cpu_bfloat16(), bool)
    monkeypatch.setattr(engine, "cpu_bfloat16", lambda: bf16_cpu)
    seen = []
    step = SegmentationTask.train_step

    def spying(self, model, batch, cancel):
        seen.append(torch.is_autocast_enabled("cpu"))
        return step(self, model, batch, cancel)

    monkeypatch.setattr(SegmentationTask, "train_step", spying)
    depth, labels = blobs(192, seed=5)
    train_segmentation((depth, labels), cfg(epochs=1, cpu_amp=False), tmp_path / "off",
                       net=SMALL, val_fraction=0.1)
    assert seen and not any(seen)
    seen.clear()
    res = train_segmentation((depth, labels), cfg(epochs=2, cpu_amp=True), tmp_path / "on",
                             net=SMALL, val_fraction=0.1)
    assert seen and all(s == bf16_cpu for s in seen)
    model, _, _ = load_segnet(res.last_checkpoint)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    losses = [r["train_loss"] for r in read_metrics(tmp_path / "on" / "metrics.jsonl")
              if r["kind"] == "train"]
    assert all(np.isfinite(losses)) and np.mean(losses[-3:]) < np.mean(losses[:3])


def test_bad_inputs_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="meta.json"):
        train_segmentation(tmp_path / "nowhere", cfg(), tmp_path / "run")
    depth, labels = blobs(8, size=32)
    with pytest.raises(ValueError, match="32x32.*48x48"):
        train_segmentation((depth, labels), cfg(), tmp_path / "run", net=SMALL)
    with pytest.raises(ValueError, match="one shape"):
        train_segmentation((depth, labels[:, :16]), cfg(), tmp_path / "run")


def test_paper_chunked_step_equals_whole_batch_step():
    """Per-image normalisation makes gradient accumulation over chunks exact."""
    from handpose_core.training.segmentation import SegmentationTask

    depth, labels = blobs(12, size=16, seed=2)
    torch.manual_seed(0)
    model = build_segnet(SegNetConfig("paper", 16, channels=(4, 4, 8), hidden=8))
    task = SegmentationTask(model, depth, labels, np.arange(12), np.arange(0),
                            cfg(batch_size=12), {}, "test")
    batch = next(task.batches(0, 0))
    grads = []
    for chunk in (0, 5):
        model.train_chunk = chunk
        model.zero_grad()
        loss = task.train_step(model, batch, None)
        grads.append((loss, [p.grad.clone() for p in model.parameters()]))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-5)
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_paper_preset_trains_and_reloads(tmp_path):
    depth, labels = blobs(24, size=16, seed=3)
    net = SegNetConfig("paper", 16, channels=(4, 4, 8), hidden=8)
    res = train_segmentation((depth, labels), cfg(epochs=1, batch_size=8), tmp_path / "run",
                             net=net, val_fraction=0.2)
    model, config, _ = load_segnet(res.best_checkpoint)
    assert config == net and config.inputs == "depth+lcn"
    assert predict_labels(model, depth[:3]).shape == (3, 16, 16)


def test_trains_on_a_rendered_store(tmp_path):
    from handpose_core import render

    render.write_synthetic_store(tmp_path / "store", 64, seed=1)
    store = SyntheticStore.open(tmp_path / "store")
    assert isinstance(store.depth, np.memmap)  # read in batches, never loaded whole
    res = train_segmentation(tmp_path / "store", cfg(epochs=1), tmp_path / "run", net=SMALL,
                             val_fraction=0.25)
    assert res.steps == 3
    assert res.best_metric == pytest.approx(_val_accuracy(res.best_checkpoint, store, 0.25))
    assert read_toml(tmp_path / "run" / "config.toml")["data"]["style"] == "clean"


def test_f_s_learns_hand_parts_in_seconds(tmp_path):
    """A tiny f_s on 320 rendered 48x48 crops (192 steps, ~7 s on one thread) must learn
    the silhouette and more than the commonest part: its loss falls, and on held-out crops
    it beats both chance (1/20 per hand pixel) and labelling every hand pixel palm."""
    from handpose_core.render import render_crops

    c = render_crops(320, size=48, seed=5, style="clean")
    net = SegNetConfig("fast", 48, channels=(8, 16, 32), hidden=16, full_depth=1)
    config = cfg(epochs=6, batch_size=8, lr=4e-3, warmup_steps=5, background_weight=0.05,
                 shift_px=0.0, rotate_deg=0.0, depth_jitter=0.0)
    res = train_segmentation((c["depth"], c["labels"]), config, tmp_path / "run", net=net,
                             val_fraction=0.2)
    recs = read_metrics(tmp_path / "run" / "metrics.jsonl")
    loss = [r["train_loss"] for r in recs if r["kind"] == "train"]
    val = [r for r in recs if r["kind"] == "val"]
    assert len(loss) == res.steps == 192
    assert np.mean(loss[-10:]) < 0.5 * np.mean(loss[:10])  # measured 3.0 -> 1.3
    assert val[-1]["val_loss"] < 0.25 * val[0]["val_loss"]  # measured 2.2 -> 0.28
    _, vi = split_indices(320, 0.2, config.seed, config.val_max)
    gt = c["labels"][vi]
    palm_everywhere = float((gt[gt > 0] == 1).mean())  # 0.385 on these crops
    best = max(r["val_acc"] for r in val)  # measured 0.42
    assert best > palm_everywhere + 0.02 and best > 6 * (1 / 20)
    assert val[-1]["val_bg_acc"] > 0.95  # the silhouette is learnt (0.984: the arm is background)
    assert val[-1]["val_class_acc"] > 1.5 * (1 / 20)  # measured 0.107: more parts than palm
