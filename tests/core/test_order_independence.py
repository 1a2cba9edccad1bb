"""Process-wide state a test or a command may change and the next test would inherit
(CI runs the suite in random order, docs/testing.md "Flakiness measured"): signal
handlers of a command-line stage, torch's global generator, the streams a command
prints to."""

from __future__ import annotations

import io
import signal
import sys

import pytest
import torch

from handpose_core.cli.main import main
from handpose_core.cli.stage_runner import cancel_on_signals


def test_each_test_starts_with_torch_seeded_as_pytest_randomly_seeds_numpy(request):
    """tests/conftest.py seeds torch per test; numpy is seeded by pytest-randomly."""
    try:
        seed = request.config.getoption("randomly_seed")
    except ValueError:
        seed = 0
    want = torch.Generator().manual_seed(seed)
    assert torch.equal(torch.rand(5), torch.rand(5, generator=want))
    torch.rand(100)  # what this test draws is no other test's concern


@pytest.mark.parametrize("raises", [False, True])
def test_a_stage_command_puts_the_signal_handlers_back(raises):
    """A stage run from the command line handles SIGINT / SIGTERM as cancel only while it
    runs; after it (also after an error inside) the process's own handlers are back, so
    the next test's Ctrl-C or a runner's SIGTERM is not swallowed into a dead event."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(RuntimeError) if raises else _nothing():
        with cancel_on_signals("test") as cancel:
            assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
            signal.raise_signal(signal.SIGTERM)  # cancels, does not end the process
            assert cancel.is_set()
            if raises:
                raise RuntimeError("inside the stage")
    assert {s: signal.getsignal(s) for s in before} == before


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_commands_print_to_the_streams_of_the_moment(tmp_path, monkeypatch):
    """A command looks sys.stderr up when it prints: after an earlier test (capsys) closed
    the stream it had, the next command still reports (the CI failure of
    test_realism_command, fixed in ae566d9, had bound sys.stdout at import)."""
    for _ in range(2):  # the second round runs with the first round's streams closed
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        assert main(["train", "pretrain-seg", "--project", str(tmp_path / "none")]) == 2
        assert str(tmp_path / "none") in err.getvalue()
        out.close()
        err.close()
