"""The training panel runs real stages in a worker thread: completion, cancel, resume,
close during a run, failures; driven by real mouse clicks and key presses."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox

from app.models.session import Session
from app.views.training import TrainingPanel
from handpose_core.project import ChangeKind, Project
from handpose_core.stages import STAGES, stage_status

WAIT_MS = 120_000


def small_dictionary(project):
    from handpose_core.render import render_crops
    from handpose_core.restoration import Dictionary

    return Dictionary.build(render_crops(100, seed=3)["labels"], project.path("dictionary"),
                            max_patches=20000, n_trees=4)


@pytest.fixture
def studio(qtbot):
    """``studio(project) -> (window, panel, session)``: a main window with the panel in a
    dock (as the studio has it); sessions are shut down after the test."""
    sessions = []

    def make(project):
        win, panel, session = _studio(qtbot, project)
        sessions.append(session)
        return win, panel, session

    yield make
    for s in sessions:
        s.shutdown()


def _studio(qtbot, project):
    session = Session()
    session.open_project(project)
    win = QMainWindow()
    panel = TrainingPanel(session)
    dock = QDockWidget("Training", win)
    dock.setWidget(panel)
    win.addDockWidget(Qt.BottomDockWidgetArea, dock)
    panel.guard_close(win)
    qtbot.addWidget(win)
    win.resize(1100, 720)
    win.show()
    qtbot.waitUntil(lambda: not session.runner.busy("load f_s"), timeout=WAIT_MS)
    return win, panel, session


def select(qtbot, panel, name):
    item = panel.items[name]
    rect = panel.table.visualItemRect(item)
    qtbot.mouseClick(panel.table.viewport(), Qt.LeftButton, pos=rect.center())
    assert panel.selected_stage() == name


def type_into(qtbot, editor, text):
    editor.setFocus()
    editor.selectAll()
    qtbot.keyClick(editor, Qt.Key_Backspace)
    qtbot.keyClicks(editor, text)


def click(qtbot, button):
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.LeftButton)


def test_panel_lists_the_stage_table_with_forms_from_the_settings(qtbot, make_nyu_project, studio):
    win, panel, _ = studio(make_nyu_project(2))
    assert [panel.items[s.name].text(0) for s in STAGES] == \
        [f"{i + 1}. {s.title}" for i, s in enumerate(STAGES)]
    assert all(panel.state_text(s.name).startswith("not run") for s in STAGES)
    select(qtbot, panel, "pretrain-seg")
    form = panel.forms["pretrain-seg"]
    assert form.isVisible() and form.editor("samples").text() == "40000"
    assert "held-out" in form.editor("test_samples").toolTip()
    assert form.editor("train.epochs").text() == "6"
    assert form.editor("train.num_threads").text() == "1"  # the studio's GUI-friendly default
    select(qtbot, panel, "restore")
    assert "run Build dictionary first" in panel.needs_label.text()


def test_restore_runs_to_completion_and_the_views_reload(qtbot, make_nyu_project, studio):
    project = make_nyu_project(4)
    small_dictionary(project)
    win, panel, session = studio(project)
    changes = []
    session.data_changed.connect(lambda c: changes.extend(
        (c.kind, fid) for fid in (c.frame_ids if c.frame_ids else [None])))
    select(qtbot, panel, "restore")
    assert not panel.needs_label.isVisible()
    type_into(qtbot, panel.forms["restore"].editor("stride"), "2")
    click(qtbot, panel.run_button)
    assert panel.busy() and not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
    assert panel.state_text("restore") == "running"
    qtbot.waitUntil(lambda: not panel.busy(), timeout=WAIT_MS)
    assert panel.state_text("restore").startswith("completed")
    assert "4 frames" in panel.items["restore"].text(2)
    frame_ids = {f.id for f in project.frames("train")}
    # every restored frame reached the views as it was stored (the change feed names each
    # frame exactly, so no reload of the whole set follows), and so did the run's end
    qtbot.waitUntil(lambda: {fid for kind, fid in changes if kind is ChangeKind.RESTORATION}
                    >= frame_ids, timeout=2000)
    assert (ChangeKind.RUN, None) in changes
    fid = min(frame_ids)
    assert session.frame_data(fid).restored_labels is not None
    assert "completed in" in panel.log_view.toPlainText()
    assert stage_status(project, "restore").run.config["stride"] == 2


def test_failing_stage_shows_the_error_and_the_studio_stays_usable(qtbot, make_nyu_project, studio):
    project = make_nyu_project(2)
    win, panel, session = studio(project)
    select(qtbot, panel, "restore")
    assert "run Build dictionary first" in panel.needs_label.text()
    # a setting that does not read: a dialog names it, nothing starts
    type_into(qtbot, panel.forms["restore"].editor("limit"), "abc")
    click(qtbot, panel.run_button)
    assert not panel.busy() and panel.error_dialog.isVisible()
    assert "limit: cannot read 'abc' as int" in panel.error_dialog.text()
    qtbot.mouseClick(panel.error_dialog.button(QMessageBox.Ok), Qt.LeftButton)
    type_into(qtbot, panel.forms["restore"].editor("limit"), "none")
    # no dictionary: the stage raises in the worker
    click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: not panel.busy(), timeout=WAIT_MS)
    box = panel.error_dialog
    assert box.isVisible() and "Restore failed" in box.windowTitle()
    assert "run Build dictionary first" in box.text() and "Traceback" in box.detailedText()
    assert panel.state_text("restore").startswith("failed")
    assert "Traceback (most recent call last)" in panel.log_view.toPlainText()
    qtbot.mouseClick(box.button(QMessageBox.Ok), Qt.LeftButton)
    # still usable: another stage runs to completion after the failure
    small_dictionary(project)
    qtbot.waitUntil(lambda: not panel.needs_label.isVisible(), timeout=5000)
    assert panel.run_button.isEnabled()
    type_into(qtbot, panel.forms["restore"].editor("limit"), "1")
    click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: not panel.busy(), timeout=WAIT_MS)
    assert panel.state_text("restore").startswith("completed")


def _tiny_pretrain(qtbot, panel):
    select(qtbot, panel, "pretrain-seg")
    form = panel.forms["pretrain-seg"]
    for name, text in (("samples", "96"), ("test_samples", "32"), ("run_name", "t"),
                       ("train.batch_size", "32"), ("train.epochs", "3"),
                       ("train.more", "log_every=1")):
        type_into(qtbot, form.editor(name), text)


def test_cancel_close_and_resume_a_training_stage(qtbot, make_nyu_project, studio):
    from handpose_core.nets.checkpoint import load_segnet

    project = make_nyu_project(2)
    root = project.root
    win, panel, session = studio(project)
    _tiny_pretrain(qtbot, panel)
    click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: panel.message_label.text().startswith("training: epoch"), timeout=WAIT_MS)
    click(qtbot, panel.cancel_button)
    assert not panel.cancel_button.isEnabled()  # cancel asked once; the thread is not killed
    qtbot.waitUntil(lambda: not panel.busy(), timeout=WAIT_MS)
    assert panel.state_text("pretrain-seg").startswith("cancelled")
    last = root / "models" / "t" / "last.pt"
    _, _, meta = load_segnet(last)  # loads: the weights after the last completed step
    assert 1 <= meta["step"] < 6
    assert panel.run_button.text() == "Resume"

    # resume; closing the window during the run asks, then cancels and waits
    click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: panel.message_label.text().startswith("training: epoch"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(panel.curves.train_loss) >= 1, timeout=WAIT_MS)
    win.close()
    assert win.isVisible() and panel.close_dialog.isVisible()
    qtbot.mouseClick(panel.close_dialog.button(QMessageBox.Yes), Qt.LeftButton)
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=WAIT_MS)
    assert not panel.busy()
    with Project.open(root) as p:
        assert stage_status(p, "pretrain-seg").state == "cancelled"
    assert load_segnet(last)[2]["step"] >= meta["step"]

    # after a restart the panel shows the cancelled run, and Resume finishes it
    win2, panel2, _ = studio(Project.open(root))
    assert panel2.state_text("pretrain-seg").startswith("cancelled")
    _tiny_pretrain(qtbot, panel2)
    click(qtbot, panel2.run_button)
    qtbot.waitUntil(lambda: not panel2.busy(), timeout=WAIT_MS)
    assert panel2.state_text("pretrain-seg").startswith("completed")
    assert "% synthetic" in panel2.items["pretrain-seg"].text(2)
    runs = [r for r in Project.open(root).runs("pretrain-seg")]
    assert [r.outcome for r in runs][-3:] == ["cancelled", "cancelled", "completed"]
    qtbot.waitUntil(lambda: len(panel2.curves.val_acc) == 3, timeout=5000)


def test_a_run_from_another_connection_shows_up(qtbot, make_nyu_project, studio):
    """A run recorded by another connection (as the command line would) appears within
    a poll, and its end makes the views reload."""
    project = make_nyu_project(2)
    win, panel, session = studio(project)
    changes = []
    session.data_changed.connect(lambda c: changes.append(c.kind))
    other = Project.open(project.root)
    run_id = other.start_run("evaluate", {})
    qtbot.waitUntil(lambda: panel.state_text("evaluate") == "running", timeout=5000)
    assert not panel.run_button.isEnabled() or panel.selected_stage() != "evaluate"
    other.finish_run(run_id, "completed", {"frames": 2})
    qtbot.waitUntil(lambda: panel.state_text("evaluate").startswith("completed"), timeout=5000)
    assert "run from another process" in panel.log_view.toPlainText()
    assert changes
    # a training run of another process: its curves are drawn from its metric log as it grows
    run_dir = project.root / "models" / "cli-run"
    run_dir.mkdir(parents=True)
    log = run_dir / "metrics.jsonl"
    log.write_text('{"kind": "train", "step": 1, "epoch": 0.5, "train_loss": 2.5}\n')
    run_id = other.start_run("pretrain-seg", {}, run_dir=str(run_dir))
    qtbot.waitUntil(lambda: panel.curves.train_loss == [2.5], timeout=5000)
    with open(log, "a") as f:
        f.write('{"kind": "val", "step": 2, "epoch": 1.0, "train_loss": 2.0, "val_acc": 0.4}\n')
    qtbot.waitUntil(lambda: panel.curves.val_acc == [40.0], timeout=5000)
    other.finish_run(run_id, "cancelled")
    qtbot.waitUntil(lambda: panel.state_text("pretrain-seg").startswith("cancelled"), timeout=5000)
    other.close()


def test_the_studio_window_has_the_training_tab_and_asks_before_closing_a_run(
        qtbot, make_nyu_project, tmp_path):
    from PySide6.QtCore import QSettings

    from app.main import build_window
    from app.models.frame_table import COLUMNS

    project = make_nyu_project(2)
    small_dictionary(project)
    win = build_window(project, settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(win)
    win.show()
    panel = win.training
    assert win.tabs.tabText(win.tabs.indexOf(panel)) == "Training"
    win.tabs.setCurrentWidget(panel)
    table = win.browser.model
    col = COLUMNS.index("restored")

    def restored_column():
        return [table.data(table.index(r, col)) for r in range(table.rowCount())]

    assert not any(restored_column())
    select(qtbot, panel, "restore")
    click(qtbot, panel.run_button)
    win.close()  # asks; "Keep running" leaves the window open and the run going
    assert panel.close_dialog.isVisible()
    qtbot.mouseClick(panel.close_dialog.button(QMessageBox.No), Qt.LeftButton)
    assert win.isVisible()
    qtbot.waitUntil(lambda: not panel.busy(), timeout=WAIT_MS)
    assert panel.state_text("restore").startswith("completed")
    # the browser's score column shows the new restorations without a restart
    qtbot.waitUntil(lambda: all(restored_column()), timeout=5000)
    assert all(float(v) >= 0 for v in restored_column())
    win.close()  # nothing runs: closes at once
    assert not win.isVisible()


@pytest.mark.slow
def test_run_all_remaining_runs_the_pipeline_in_order(qtbot, make_nyu_project, studio):
    """Every stage on tiny settings, one after another, from one click."""
    project = make_nyu_project(3, n_test=2)  # train-reg measures on the test split
    win, panel, session = studio(project)
    tiny = {"synthetic": {"samples": "96", "test_samples": "32"},
            "pretrain-seg": {"samples": "96", "test_samples": "32", "train.epochs": "1"},
            "build-dictionary": {"images": "96", "patches": "20000", "trees": "4"},
            "restore": {"stride": "2"},
            "finetune-seg": {"train.epochs": "1"},
            "train-reg": {"train.epochs": "1"}}
    for stage, values in tiny.items():
        select(qtbot, panel, stage)
        for name, text in values.items():
            type_into(qtbot, panel.forms[stage].editor(name), text)
    started = []
    session.runner.started.connect(lambda h: started.append(h.name))
    click(qtbot, panel.run_all_button)
    qtbot.waitUntil(lambda: not panel.busy() and not panel.queue, timeout=600_000)
    titles = [s.title for s in STAGES]
    assert [n for n in started if n in titles] == titles
    assert all(panel.state_text(s.name).startswith("completed") for s in STAGES), \
        [panel.state_text(s.name) for s in STAGES]


def test_a_run_whose_process_died_reads_interrupted_and_offers_resume(qtbot, make_nyu_project,
                                                                      studio):
    import sqlite3

    from handpose_core.project import DB_NAME

    project = make_nyu_project(1)
    rid = project.start_run("pretrain-seg", {})
    with sqlite3.connect(project.root / DB_NAME) as db:  # as if its process had been killed
        db.execute("UPDATE runs SET pid = 999999999, heartbeat = 0 WHERE id = ?", (rid,))
    win, panel, _ = studio(project)
    select(qtbot, panel, "pretrain-seg")
    assert panel.state_text("pretrain-seg") == "interrupted"
    assert panel.run_button.text() == "Resume" and panel.run_button.isEnabled()


def _past_run(project, stage: str, seconds: float, outcome: str) -> None:
    """Record a finished run of ``stage`` that took ``seconds`` (an earlier session's)."""
    import sqlite3
    import time as _time

    run_id = project.start_run(stage, {})
    project.finish_run(run_id, outcome)
    t_end = _time.time() - 3600
    fmt = "%Y-%m-%dT%H:%M:%S%z"
    with sqlite3.connect(project.root / "project.sqlite") as con:
        con.execute("UPDATE runs SET started = ?, ended = ? WHERE id = ?",
                    (_time.strftime(fmt, _time.localtime(t_end - seconds)),
                     _time.strftime(fmt, _time.localtime(t_end)), run_id))


def test_run_all_remaining_shows_the_time_left_for_the_whole_chain(qtbot, make_nyu_project,
                                                                    studio):
    """The chain's estimate: every queued stage's past completed runs (median) plus the
    current stage's rest; a stage without a completed run is named, not guessed."""
    project = make_nyu_project(3)
    names = [s.name for s in STAGES]
    past = {n: 600.0 * (i + 1) for i, n in enumerate(names[:-1])}  # the last: none
    for n, secs in past.items():
        _past_run(project, n, secs / 2, "completed")
        _past_run(project, n, secs, "completed")
        _past_run(project, n, 1.5 * secs, "completed")  # median: secs
    for n in names:
        _past_run(project, n, 5.0, "cancelled")  # so every stage is still to run
    win, panel, session = studio(project)
    assert panel.model.remaining() == names
    assert panel.model.expected_seconds(names[0]) == pytest.approx(past[names[0]], abs=1)
    assert panel.model.expected_seconds(names[-1]) is None
    assert panel.chain_label.text() == ""
    select(qtbot, panel, "synthetic")
    type_into(qtbot, panel.forms["synthetic"].editor("samples"), "96")
    type_into(qtbot, panel.forms["synthetic"].editor("test_samples"), "32")
    click(qtbot, panel.run_all_button)
    assert panel.busy()
    secs, unknown, to_go = panel.chain_seconds_left()
    assert to_go == len(names) and unknown == 1
    total = sum(past.values())
    assert total - 60 <= secs <= total + 1
    text = panel.chain_label.text()
    assert f"{len(names)} stages to go" in text and "1 without a past run" in text
    assert panel.chain_label.isVisible()
    qtbot.wait(100)  # let the layout place the new texts
    assert panel.chain_label.width() >= panel.chain_label.sizeHint().width()
    win.grab().save(str(project.root / "chain.png"))
    click(qtbot, panel.cancel_button)
    qtbot.waitUntil(lambda: not panel.busy(), timeout=WAIT_MS)
    assert panel.chain_label.text() == "" and panel.queue == []
