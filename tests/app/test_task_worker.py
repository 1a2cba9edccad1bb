"""The one worker: progress, per-item, success, failure and cancel signals, off the GUI thread."""

from __future__ import annotations

import threading
import time

from app.workers.task_worker import TaskRunner


def test_worker_reports_progress_items_and_result_from_its_own_thread(qtbot):
    runner = TaskRunner()
    seen = {"progress": [], "items": [], "threads": set()}

    def work(ctx):
        seen["threads"].add(threading.get_ident())
        for i in range(3):
            ctx.progress(i + 1, 3, f"step {i + 1}")
            ctx.on_item(i * 10)
        return "done"

    h = runner.run(work, name="count", on_progress=lambda d, t, m: seen["progress"].append((d, t, m)))
    h.item_done.connect(seen["items"].append)
    with qtbot.waitSignal(h.succeeded, timeout=5000) as blocker:
        pass
    assert blocker.args == ["done"]
    assert seen["progress"] == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert seen["items"] == [0, 10, 20]
    assert threading.get_ident() not in seen["threads"]
    qtbot.waitUntil(lambda: not runner.busy(), timeout=5000)


def test_cancel_sets_the_event_and_the_worker_stops(qtbot):
    from handpose_core.progress import check_cancel

    runner = TaskRunner()
    started = threading.Event()

    def loop(ctx):
        started.set()
        while True:
            check_cancel(ctx.cancel)
            time.sleep(0.01)

    h = runner.run(loop, name="loop")
    assert started.wait(5)
    with qtbot.waitSignal(h.cancelled, timeout=5000):
        h.cancel()
    qtbot.waitUntil(lambda: not runner.busy(), timeout=5000)


def test_errors_arrive_as_a_message_and_shutdown_waits(qtbot, tmp_path):
    runner = TaskRunner()

    def boom(ctx):
        raise ValueError("corrupt thing.png: bad header")

    h = runner.run(boom, name="read labels")
    with qtbot.waitSignal(h.failed, timeout=5000) as blocker:
        pass
    assert blocker.args == ["read labels: corrupt thing.png: bad header"]
    # a worker that needs the store opens its own connection; a bad root is an error too
    h2 = runner.run(lambda ctx: ctx.project, name="open", project_root=tmp_path)
    with qtbot.waitSignal(h2.failed, timeout=5000) as blocker:
        pass
    assert "not a handpose-studio project" in blocker.args[0]
    gate = threading.Event()
    runner.run(lambda ctx: gate.wait(0.3) or "late", name="slow")
    runner.shutdown()
    assert not runner.busy()


def test_services_run_until_cancelled_and_do_not_count_as_busy(qtbot):
    from handpose_core.progress import check_cancel

    runner = TaskRunner()
    serving = threading.Event()

    def serve(ctx):
        while True:
            check_cancel(ctx.cancel)
            serving.set()
            time.sleep(0.01)

    h = runner.run(serve, name="serve", service=True)
    qtbot.waitUntil(serving.is_set, timeout=5000)
    assert not runner.busy() and runner.busy("serve")
    with qtbot.waitSignal(h.cancelled, timeout=5000):
        runner.shutdown()
    assert not runner.busy("serve")
