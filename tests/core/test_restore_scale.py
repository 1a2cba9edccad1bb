"""Restoration past one process: a pool of worker processes and a Dask cluster, each
with a worker killed mid-run. Every frame is stored exactly once, by the one writer
(this process), and equals the in-process restoration."""

from __future__ import annotations

import os
import signal
import sys
import threading

import numpy as np
import pytest

from handpose_core.progress import Cancelled
from handpose_core.render import render_crops
from handpose_core.restoration import Dictionary
from handpose_core.stages import restore as restore_stage
from handpose_core.stages.restore import RestoreSettings

N = 10

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def restored_once(make_nyu_project):
    """A project restored in this process: ``(project, {frame id: (raw, restored)})``."""
    project = make_nyu_project(N, seed=31)
    Dictionary.build(render_crops(80, seed=5)["labels"], project.path("dictionary"),
                     max_patches=20000, n_trees=4)
    res = restore_stage.run(project, RestoreSettings(workers=1))
    assert res.restored == N
    # the CPU a frame took is what projects a run to other machines (it once came out NaN:
    # positional fields shifted when the method fields were added)
    assert 0 < res.cpu_s_per_frame < 60 and res.method == "joint-prior"
    return project, maps_of(project)


def maps_of(project) -> dict:
    return {fid: project.restored_maps(rec) for fid, rec in project.restorations().items()}


def assert_same_maps(project, ref: dict, stored: list[int]) -> None:
    assert sorted(stored) == sorted(ref), "every frame stored exactly once"
    got = maps_of(project)
    for fid, (raw, res) in ref.items():
        np.testing.assert_array_equal(got[fid][0], raw, err_msg=f"raw map of frame {fid}")
        np.testing.assert_array_equal(got[fid][1], res, err_msg=f"restored map of frame {fid}")
    keys = {r.run_key for r in project.restorations().values()}
    assert len(keys) == 1


def test_pool_worker_killed_midway(restored_once):
    project, ref = restored_once
    stored, killed, pids_seen = [], [], []

    def on_item(rec):
        stored.append(rec.frame_id)
        # the writer stores in frame order
        assert rec.frame_id == max(stored)

    def on_pids(pids):
        pids_seen.append(list(pids))
        if stored and not killed and pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    res = restore_stage.run(project, RestoreSettings(workers=2, chunk=1, restart=True),
                            on_item=on_item, on_pids=on_pids)
    assert killed, "no worker was killed: the run ended before a frame was stored"
    assert res.restored == N
    assert 0 < res.cpu_s_per_frame < 60 and 0 < res.write_s_per_frame < 60
    assert_same_maps(project, ref, stored)
    # the broken pool was replaced by a new one (other process ids)
    assert any(killed[0] not in p for p in pids_seen[pids_seen.index(
        next(p for p in pids_seen if killed[0] in p)):])
    assert project.last_run("restore").config["workers_used"] == 2


def test_dask_local_cluster_worker_killed_midway(restored_once):
    distributed = pytest.importorskip("distributed")
    project, ref = restored_once
    stored, killed = [], []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = client.run(os.getpid)

        def on_item(rec):
            stored.append(rec.frame_id)
            assert rec.frame_id == max(stored)
            if not killed:
                pid = next(iter(pids.values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        # by address, as `train restore --scheduler tcp://HOST:8786` does
        res = restore_stage.run(project, RestoreSettings(
            chunk=1, restart=True, scheduler=cluster.scheduler_address), on_item=on_item)
        assert killed and res.restored == N
        assert_same_maps(project, ref, stored)
        assert project.last_run("restore").config["workers_used"] == "dask"

        # cancelled (Ctrl-C, SIGTERM): the finished frames are stored, in order, the
        # rest of the tasks are cancelled and the run is recorded as cancelled
        cancel, again = threading.Event(), []

        def stop_after_3(rec):
            again.append(rec.frame_id)
            if len(again) == 3:
                cancel.set()

        with pytest.raises(Cancelled):
            restore_stage.run(project, RestoreSettings(chunk=1, restart=True), client=client,
                              on_item=stop_after_3, cancel=cancel)
    assert 3 <= len(again) <= N and again == sorted(again)  # N: all had finished
    run = project.last_run("restore")
    assert run.status == "cancelled" and run.metrics["restored"] == len(again)


def test_bench_restore_workers_speedups_compare_each_path_with_its_one_process_run():
    from handpose_core.bench.restore_workers import speedups

    runs = {"workers=1": {"frames_per_s": 2.0}, "workers=2": {"frames_per_s": 3.0},
            "workers=1p": {"frames_per_s": 1.6},
            "dask-localcluster=1": {"frames_per_s": 1.0},
            "dask-localcluster=2": {"frames_per_s": 1.9}}
    assert speedups(runs) == {"workers=2 / workers=1": 1.5, "workers=2 / workers=1p": 1.875,
                              "dask-localcluster=2 / dask-localcluster=1": 1.9}
    # a path without its one-process run has no speed-up (not one against another path)
    assert speedups({"workers=2": {"frames_per_s": 3.0},
                     "dask-localcluster=2": {"frames_per_s": 1.9}}) == {}


@pytest.mark.slow
def test_bench_restore_workers_runs_every_path_on_the_same_frames(restored_once, tmp_path,
                                                                   capsys):
    import argparse
    import json

    from handpose_core.bench import restore_workers

    project, ref = restored_once
    args = argparse.Namespace(project=str(project.root), split="train", frames=4,
                              workers="1,1p,2", local_cluster="1,2", chunk=2,
                              json=str(tmp_path / "b.json"))
    assert restore_workers.run(args) == 0
    out = json.loads((tmp_path / "b.json").read_text())
    assert set(out["runs"]) == {"workers=1", "workers=1p", "workers=2",
                                "dask-localcluster=1", "dask-localcluster=2"}
    assert all(r["frames"] == 4 and r["maps_equal_to_first"] for r in out["runs"].values())
    assert set(out["speedups"]) == {"workers=2 / workers=1", "workers=2 / workers=1p",
                                    "dask-localcluster=2 / dask-localcluster=1"}
    # the one-process pool ran in a worker process, not in the bench's process
    assert out["runs"]["workers=1p"]["first_chunk_s"] is not None
    assert out["runs"]["workers=1"]["first_chunk_s"] is None
    assert "restored maps identical on every path" in capsys.readouterr().out


def test_a_worker_reads_joints_from_the_projects_memory_mapped_copies(restored_once):
    # a worker process must not decompress joint_data.mat itself (126 MB at NYU's train
    # split, once per worker): it maps the project's cached copies, as the stage does
    from handpose_core.stages import restore_work as work

    project, _ = restored_once
    job = work.make_job(project, restore_stage.segnet_path(project), project.path("dictionary"),
                        RestoreSettings())
    work._STATE.clear()
    try:
        ds, _, _ = work._worker_state(job)
        assert ds.cache_dir == project.root.resolve() / "cache"
        f = project.frames()[0]
        assert isinstance(ds.joints(f.split).uvd, np.memmap)
        np.testing.assert_array_equal(ds.joints_uvd(f.split, f.frame, f.kinect),
                                      project.joints_uvd(f))
    finally:
        work._STATE.clear()
