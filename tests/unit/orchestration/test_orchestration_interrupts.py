"""A Ctrl-C during ``zhili run`` stops it even when Dagster's own handler swallowed it (Dagster captures SIGINT
while it writes a run's events and forgets it when that block ends): ``orchestration.errors.interrupts_seen``."""

from __future__ import annotations

import os
import signal

import pytest

from orchestration.errors import interrupts_seen


@pytest.fixture
def swallowing_handler():
    """A SIGINT handler that only records, as Dagster's ``capture_interrupts`` installs."""
    received = []
    previous = signal.signal(signal.SIGINT, lambda signo, frame: received.append(signo))
    yield received
    signal.signal(signal.SIGINT, previous)


def test_a_swallowed_ctrl_c_is_still_seen(swallowing_handler):
    with interrupts_seen() as seen:
        assert not seen()
        os.kill(os.getpid(), signal.SIGINT)
        assert swallowing_handler == [signal.SIGINT]
        assert seen()
    assert seen(), "the answer holds after the block, as zhili run asks it then"


def test_a_ctrl_c_late_in_the_block_is_seen_after_it(swallowing_handler):
    with interrupts_seen() as seen:
        os.kill(os.getpid(), signal.SIGINT)
    assert seen()


def test_other_signals_are_not_a_ctrl_c(swallowing_handler):
    previous = signal.signal(signal.SIGUSR1, lambda signo, frame: None)
    try:
        with interrupts_seen() as seen:
            os.kill(os.getpid(), signal.SIGUSR1)
            assert not seen()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_the_wakeup_fd_is_given_back():
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    with interrupts_seen():
        pass
    assert signal.set_wakeup_fd(before) == before
