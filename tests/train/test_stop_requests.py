"""Ctrl-C and SIGTERM during training: the first asks for a stop after the step, a second aborts."""

import os
import signal

import pytest

from pairless.errors import StoppedBySignal
from pairless.train.loop import stop_requests


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_is_a_request_and_the_second_aborts_with_its_number(signum):
    before = signal.getsignal(signum)
    with stop_requests() as requested:
        assert requested["signal"] == 0
        os.kill(os.getpid(), signum)
        assert requested["signal"] == signum
        with pytest.raises(StoppedBySignal) as second:
            os.kill(os.getpid(), signum)
        assert second.value.signum == signum
    assert signal.getsignal(signum) is before


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_cli_exits_with_the_shells_code_for_the_signal(monkeypatch, signum, code):
    import pairless.cli as cli

    def stopped(**_kwargs):
        raise StoppedBySignal(signum)

    monkeypatch.setattr(cli, "app", stopped)
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == code
