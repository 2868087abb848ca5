"""One zhili run per home: the lock a killed run cannot leave behind."""

from __future__ import annotations

import os

import pytest

from orchestration.runlock import RunInProgress, cli_run_lock


def test_a_second_run_of_the_same_home_is_refused_naming_the_holder(tmp_path):
    with cli_run_lock(tmp_path):
        with pytest.raises(RunInProgress, match=rf"another zhili run \(PID {os.getpid()}\)"):
            with cli_run_lock(tmp_path):
                pass


def test_the_lock_is_free_again_when_its_holder_ends(tmp_path):
    with cli_run_lock(tmp_path):
        pass
    with cli_run_lock(tmp_path):
        pass


def test_other_homes_are_independent(tmp_path):
    with cli_run_lock(tmp_path / "a"), cli_run_lock(tmp_path / "b"):
        pass
