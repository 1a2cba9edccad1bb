"""The in-memory caches of files (the shared f_s, a restore worker's model and dictionary)
see a file replaced at the same path, even by one of the same size within one tick of the
file clock: a test (or a studio session) that rewrites a checkpoint right after loading it
must not be handed the old network."""

from __future__ import annotations

import os

import numpy as np
import torch

from handpose_core.fileio import file_identity
from handpose_core.nets import SegNetConfig, build_segnet
from handpose_core.nets.checkpoint import save_checkpoint
from handpose_core.nets.inference import load_segnet_model

TINY = SegNetConfig("fast", 16, channels=(2, 4, 4), hidden=4, full_depth=1)


def _weights(model) -> torch.Tensor:
    return next(iter(model.state_dict().values())).detach().clone()


def _replace_keeping_size_and_times(path, seed: int):
    """Write another f_s over ``path`` (atomically, as training does) and give it the old
    file's modification time; asserts that size and mtime alone cannot tell them apart."""
    before = path.stat()
    torch.manual_seed(seed)
    save_checkpoint(path, build_segnet(TINY), TINY, {"val_acc": 0.5})
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_file_identity_changes_with_an_atomic_replacement(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("a")
    first = file_identity(p)
    assert file_identity(p) == first
    tmp = tmp_path / "f.txt.tmp"
    tmp.write_text("b")
    st = p.stat()
    os.replace(tmp, p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_identity(p) != first


def test_a_checkpoint_replaced_by_one_of_the_same_size_and_mtime_is_loaded_again(tmp_path):
    path = tmp_path / "best.pt"
    torch.manual_seed(0)
    save_checkpoint(path, build_segnet(TINY), TINY, {"val_acc": 0.5})
    first = load_segnet_model(path)
    assert load_segnet_model(path) is first  # loaded once while the file stays
    _replace_keeping_size_and_times(path, seed=1)
    second = load_segnet_model(path)
    assert second is not first
    torch.manual_seed(1)
    np.testing.assert_array_equal(_weights(second), _weights(build_segnet(TINY)))
    assert not torch.equal(_weights(second), _weights(first))


def test_a_restore_worker_opens_a_replaced_model_and_dictionary_again(make_nyu_project):
    from handpose_core.render import render_crops
    from handpose_core.restoration import Dictionary
    from handpose_core.stages import restore_work
    from handpose_core.stages.restore import RestoreSettings

    p = make_nyu_project(2)
    model_path = p.root / "models" / "fs.pt"
    torch.manual_seed(0)
    save_checkpoint(model_path, build_segnet(TINY), TINY, {"val_acc": 0.5})
    labels = render_crops(4, size=32, seed=3, style="clean")["labels"]
    dict_path = p.root / "dictionary"
    Dictionary.build(labels, dict_path, max_patches=500, n_trees=2)
    job = restore_work.make_job(p, model_path, dict_path, RestoreSettings(threads=1))
    try:
        _, model, dictionary = restore_work._worker_state(job)
        assert restore_work._worker_state(job)[1] is model  # opened once, reused
        n_before = dictionary.meta["n_patches"]

        _replace_keeping_size_and_times(model_path, seed=1)
        _, model2, _ = restore_work._worker_state(job)
        torch.manual_seed(1)
        np.testing.assert_array_equal(_weights(model2), _weights(build_segnet(TINY)))

        Dictionary.build(labels[:1], dict_path, max_patches=500, n_trees=2)  # rebuilt in place
        _, _, dictionary2 = restore_work._worker_state(job)
        assert dictionary2.meta["n_patches"] != n_before
        assert dictionary2.meta["n_patches"] == Dictionary.load(dict_path).meta["n_patches"]
    finally:
        restore_work._STATE.clear()  # this process is no worker: drop what it opened
