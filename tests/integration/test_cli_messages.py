"""What a user sees: progress on stderr, and every error they can cause as one sentence and an exit code.

``zhili`` runs as a subprocess, as a user runs it (stdout and stderr are pipes, so progress comes
as plain lines). Exit codes: 2 usage (flag, path, key), 3 busy (another process holds a DuckDB lock).
None of these needs a pipeline run: each error is caught before Dagster starts.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ingestion.generator import generate
from ingestion.pseudonym import load_or_create_key
from orchestration.errors import lock_sentence
from orchestration.progress import Progress
from orchestration.settings import Settings, SettingsError
from tests.runs import ROOT, ZHILI


def zhili(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ZHILI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env if env is not None else os.environ.copy(),
    )


def assert_one_sentence(proc: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """Exit ``code``, no traceback, and a ``zhili <command>: ...`` line on stderr holding every one of ``words``."""
    err = proc.stderr
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}:\n{err[-3000:]}"
    assert "Traceback" not in err and "Traceback" not in proc.stdout, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("zhili ")]
    assert lines, err
    for word in words:
        assert word in lines[-1], f"{word!r} not in {lines[-1]!r}"
    return lines[-1]


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, ZHILI_SECRET_FILE=str(tmp_path / "secret.key"))


@pytest.fixture
def landing(tmp_path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


# --------------------------------------------------------------------------
# Flags and paths
# --------------------------------------------------------------------------


def test_unknown_flag_and_bad_values_are_usage_errors(landing, tmp_path, env):
    line = assert_one_sentence(zhili("run", "--bogus", env=env), 2, "unrecognized arguments: --bogus")
    assert line.startswith("zhili run: ") and "zhili run --help" in line
    assert_one_sentence(
        zhili("generate", "--out", str(tmp_path / "g"), "--residents", "many", env=env),
        2,
        "--residents: invalid int value: 'many'",
    )
    assert_one_sentence(
        zhili("generate", "--out", str(tmp_path / "g"), "--start", "2024-13-01", env=env), 2, "--start", "'2024-13-01'"
    )
    assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(tmp_path / "h"), "--feed", "police", env=env),
        2,
        "'police'",
        "police_incidents",
    )
    assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(tmp_path / "h"), "--as-of", "soon", env=env),
        2,
        "'soon'",
        "--as-of",
    )
    assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(tmp_path / "h"), env={**env, "ZHILI_ENGINE": "flink"}),
        2,
        "'flink'",
        "ZHILI_ENGINE",
    )


def test_landing_that_is_missing_or_a_file(tmp_path, env):
    missing = tmp_path / "no-such-landing"
    assert_one_sentence(
        zhili("run", "--landing", str(missing), "--home", str(tmp_path / "h"), env=env),
        2,
        str(missing),
        "does not exist",
    )
    a_file = tmp_path / "landing.txt"
    a_file.write_text("not a folder")
    assert_one_sentence(
        zhili("run", "--landing", str(a_file), "--home", str(tmp_path / "h"), env=env), 2, str(a_file), "is a file"
    )
    assert not (tmp_path / "h").exists(), "nothing is created when the command is refused"


def test_home_that_cannot_be_created_or_written(landing, tmp_path, env):
    a_file = tmp_path / "home.txt"
    a_file.write_text("")
    assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(a_file), env=env), 2, str(a_file), "is a file"
    )
    assert_one_sentence(zhili("status", "--home", str(a_file), env=env), 2, str(a_file), "is a file")
    under_file = a_file / "home"
    assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(under_file), env=env),
        2,
        str(under_file),
        "cannot be created",
    )
    if os.geteuid() == 0:
        # root ignores permission bits; the kernel still refuses a folder in /sys
        read_only = Path("/sys/zhili-test-home")
        if not Path("/sys").is_dir():
            pytest.skip("no /sys to stand in for a read-only place")
    else:
        parent = tmp_path / "read-only"
        parent.mkdir(mode=0o500)
        read_only = parent / "home"
    assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(read_only), env=env),
        2,
        str(read_only),
        "cannot be created or written",
    )


def test_generate_out_that_is_a_file(tmp_path, env):
    a_file = tmp_path / "out.txt"
    a_file.write_text("keep me")
    assert_one_sentence(
        zhili("generate", "--out", str(a_file), "--residents", "1000", "--days", "5", env=env),
        2,
        str(a_file),
        "is a file",
    )
    assert a_file.read_text() == "keep me"


# --------------------------------------------------------------------------
# The pseudonym key
# --------------------------------------------------------------------------


def _pseudonymised_home(home: Path) -> None:
    """A state folder that already holds normalised (pseudonymised) rows, as after a run."""
    table = home / "normalised" / "persons"
    table.mkdir(parents=True)
    (table / "_empty.parquet").write_bytes(b"")
    (table / ("0" * 32 + ".parquet")).write_bytes(b"rows written with the old key")


def test_missing_key_next_to_pseudonymised_data_is_refused(landing, tmp_path, env):
    home = tmp_path / "home"
    _pseudonymised_home(home)
    key = Path(env["ZHILI_SECRET_FILE"])
    line = assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(home), env=env),
        2,
        str(key),
        "does not exist",
        "ZHILI_SECRET_FILE",
    )
    assert "person_key" in line
    assert not key.exists(), "a new key must not be made: it would change every person_key"


def test_key_is_created_for_a_new_home_and_refused_once_data_exists(tmp_path):
    settings = Settings.resolve(landing=tmp_path / "landing", home=tmp_path / "home", secret_file=tmp_path / "k")
    assert not settings.holds_pseudonymised_data()
    key = settings.key()
    assert len(key) == 32 and (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    assert settings.key() == key
    _pseudonymised_home(tmp_path / "home")
    assert settings.key() == key  # the key file is there: used as before
    (tmp_path / "k").unlink()
    with pytest.raises(SettingsError, match="does not exist, but .* already holds data"):
        settings.key()


@pytest.mark.parametrize(
    ("content", "mode", "words"),
    [
        (b"not hex at all\n", 0o600, ("should be hex text", "restore it")),
        (b"\xff\xfe\x00garbage", 0o600, ("should be hex text",)),
        (b"abcd\n", 0o600, ("2 bytes", "at least 16")),
        (None, 0o644, ("mode 0600", "chmod 600")),
    ],
    ids=["not-hex", "binary", "too-short", "readable-by-others"],
)
def test_unusable_key_is_one_sentence(landing, tmp_path, env, content, mode, words):
    key = Path(env["ZHILI_SECRET_FILE"])
    if content is None:
        load_or_create_key(key)
    else:
        key.write_bytes(content)
    key.chmod(mode)
    proc = zhili("run", "--landing", str(landing), "--home", str(tmp_path / "home"), env=env)
    assert_one_sentence(proc, 2, str(key), *words)


def test_key_path_that_is_a_folder(landing, tmp_path, env):
    key = Path(env["ZHILI_SECRET_FILE"])
    key.mkdir()
    assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(tmp_path / "home"), env=env), 2, str(key), "pseudonym key"
    )


# --------------------------------------------------------------------------
# A DuckDB file locked by another process
# --------------------------------------------------------------------------


HOLD = "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(120)"


@pytest.fixture
def holder():
    """Start a process holding a DuckDB file open read-write, as a notebook or a second run would."""
    procs: list[subprocess.Popen] = []

    def hold(path: Path) -> subprocess.Popen:
        path.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


def test_locked_warehouse_names_the_file_and_the_holder(landing, tmp_path, env, holder):
    home = tmp_path / "home"
    warehouse = home / "warehouse.duckdb"
    load_or_create_key(Path(env["ZHILI_SECRET_FILE"]))  # the home holds a warehouse, so it has a key
    held = holder(warehouse)
    started = time.monotonic()
    line = assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(home), env=env),
        3,
        str(warehouse),
        f"PID {held.pid}",
        "another process",
    )
    assert time.monotonic() - started < 60, "refused before any loading starts"
    assert line.startswith("zhili run: ")
    # status does not need the warehouse: it still answers
    status = zhili("status", "--home", str(home), env=env)
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr


def test_locked_serving_snapshot_stops_the_briefing(tmp_path, env, holder):
    home = tmp_path / "home"
    snapshot = home / "serving" / "zhili.duckdb"
    held = holder(snapshot)
    assert_one_sentence(
        zhili("briefing", "--home", str(home), "--date", "2024-11-03", env=env), 3, str(snapshot), f"PID {held.pid}"
    )


def test_lock_sentence_reads_duckdbs_own_error(tmp_path, holder):
    # the sentence a failed step gets (errors.py) comes from DuckDB's message: pin its format here
    path = tmp_path / "w.duckdb"
    held = holder(path)
    with pytest.raises(duckdb.IOException) as caught:
        duckdb.connect(str(path))
    sentence = lock_sentence(str(caught.value))
    assert sentence is not None, str(caught.value)
    assert str(path) in sentence and f"PID {held.pid}" in sentence and "\n" not in sentence
    assert lock_sentence("IO Error: Cannot open file: No such file or directory") is None


def test_a_step_that_lost_the_lock_race_is_reported_as_busy(tmp_path):
    # the lock taken after zhili's check, while the run is under way: dbt fails, and says why only in its output
    from types import SimpleNamespace as NS

    from orchestration.errors import EXIT_BUSY, EXIT_FAILED, step_failure

    error = NS(
        message="dagster_dbt.errors.DagsterDbtCliRuntimeError: The dbt CLI process with command dbt build "
        "failed with exit code 2.\n",
        cls_name="DagsterDbtCliRuntimeError",
        cause=None,
        context=None,
    )
    result = NS(
        all_events=[
            NS(event_type_value="STEP_SUCCESS"),
            NS(event_type_value="STEP_FAILURE", step_key="warehouse_dbt", step_failure_data=NS(error=error)),
        ]
    )
    dbt_output = (
        'Runtime Error\n  IO Error: Could not set lock on file "/srv/zhili/warehouse.duckdb": Conflicting lock '
        "is held in /usr/bin/python3.11 (PID 4242) by user root. See also https://duckdb.org/docs\n"
    )
    line, code = step_failure(result, tmp_path, dbt_output)
    assert code == EXIT_BUSY and "/srv/zhili/warehouse.duckdb" in line and "PID 4242" in line, line
    line, code = step_failure(result, tmp_path, "")
    assert code == EXIT_FAILED and line == "step warehouse_dbt failed: " + error.message.strip()


DBT_FAILURE = (
    "dagster_dbt.errors.DagsterDbtCliRuntimeError: The dbt CLI process with command\n\n`dbt build --select fqn:*`\n\n"
    "failed with exit code `1`. Check the stdout in the Dagster compute logs for the full information about the "
    "error.\n\nErrors parsed from dbt logs:\n\n1 of 187 ERROR creating sql table model marts.mart_link_review ...... "
    "[\x1b[31mERROR\x1b[0m in 0.27s]\n\n\x1b[31mFailure in model mart_link_review (models/marts/mart_link_review.sql)"
    "\x1b[0m\n\n  Runtime Error in model mart_link_review (models/marts/mart_link_review.sql)\n  Binder Error: "
    'Referenced column "gamma_phone" not found in FROM clause!\n  Candidate bindings: "gamma_phones"\n  \n'
    "  LINE 23:         cast(gamma_phone as integer) as phone_level,\n                        ^^^^^^^^^^^\n"
)


def test_a_failed_dbt_model_is_named_in_one_line():
    # (seen for real: the last line of dagster-dbt's message is the caret under the SQL)
    from orchestration.errors import one_line

    line = one_line(DBT_FAILURE)
    assert line == (
        "dbt: Failure in model mart_link_review (models/marts/mart_link_review.sql): "
        'Binder Error: Referenced column "gamma_phone" not found in FROM clause!'
    )
    assert (
        one_line("orchestration.settings.SettingsError: the pseudonym key k does not exist\n")
        == "the pseudonym key k does not exist"
    )


# --------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------


def _tree_md5(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_generate_without_a_terminal_prints_progress_lines_and_a_summary(tmp_path, env):
    out = tmp_path / "gen"
    proc = zhili("generate", "--out", str(out), "--residents", "1000", "--days", "5", "--seed", "1", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "\r" not in proc.stderr and "\x1b[" not in proc.stderr, "no bar redraws in captured output"
    progress = [line for line in proc.stderr.splitlines() if line.startswith("zhili generate: ")]
    for feed in ("grid_registry", "police_population", "police_incidents", "civil_affairs", "petitions", "grid_events"):
        assert any(line.startswith(f"zhili generate: {feed} 5/5 delivery days") for line in progress), proc.stderr
    assert proc.stderr.strip().splitlines() == progress, "stderr holds progress lines only"
    assert proc.stdout.strip().splitlines()[-1].startswith(f"generated into {out}")
    assert "police_incidents:" in proc.stdout and "files," in proc.stdout


def test_progress_callback_does_not_change_the_generated_bytes(tmp_path):
    seen: list[tuple[str, int, int]] = []
    generate(tmp_path / "plain", residents=1000, days=5, seed=2)
    generate(tmp_path / "watched", residents=1000, days=5, seed=2, progress=lambda *a: seen.append(a))
    assert _tree_md5(tmp_path / "plain") == _tree_md5(tmp_path / "watched")
    assert ("police_incidents", 5, 5) in seen and seen[-1] == ("truth", 1, 1)
    days = [done for stage, done, _ in seen if stage == "petitions"]
    assert days == sorted(days), "a feed's progress never goes back"


def test_plain_progress_is_occasional_lines():
    stream = io.StringIO()
    progress = Progress("run", stream=stream, every=0.2, mode="plain")
    progress.stage("police_incidents", 4, "files loaded")
    for done in range(1, 4):
        progress.update(done, note=f"{done} staged")
    assert stream.getvalue() == "", "updates within `every` seconds print nothing"
    time.sleep(1.3)  # nothing moves: the ticker still says where it is
    progress.update(4)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("zhili run: police_incidents ") for line in lines)
    assert "so far" in lines[0] and lines[-1].startswith("zhili run: police_incidents 4/4 files loaded, 3 staged (")


# --------------------------------------------------------------------------
# The wrong folder is not a silent success
# --------------------------------------------------------------------------


def test_a_landing_without_feed_folders_is_refused(tmp_path, env):
    landing = tmp_path / "downloads"
    (landing / "photos").mkdir(parents=True)
    (landing / "notes.txt").write_text("not a delivery")
    home = tmp_path / "home"
    assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(home), env=env),
        2,
        str(landing),
        "holds no feed folder",
        "police_incidents",
    )
    assert not home.exists(), "nothing is created when the command is refused"


def test_landing_and_home_must_be_apart(tmp_path, env):
    landing = tmp_path / "landing"
    (landing / "police_incidents").mkdir(parents=True)
    assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(landing), env=env), 2, "the same folder", str(landing)
    )
    assert_one_sentence(
        zhili("run", "--landing", str(landing), "--home", str(landing / "state"), env=env),
        2,
        "inside the landing folder",
    )
    home = tmp_path / "home"
    (home / "raw" / "police_incidents").mkdir(parents=True)
    assert_one_sentence(
        zhili("run", "--landing", str(home / "raw"), "--home", str(home), env=env), 2, "inside the state folder"
    )
    assert not (landing / "state").exists() and not (landing / "dagster").exists()


def test_an_empty_landing_is_a_warning_not_an_error(landing, tmp_path, env):
    # a first day: nothing delivered yet. Warned, nothing built (linkage and dbt on no data at all), exit 0
    home = tmp_path / "home"
    proc = zhili("run", "--landing", str(landing), "--home", str(home), env=env, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    warning = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warning == [
        f"zhili run: warning: landing folder {landing} is empty; nothing is delivered yet "
        f"(deliveries arrive in feed folders such as {landing / 'police_incidents'}/<date>/)"
    ]
    assert "warehouse: nothing loaded yet" in proc.stdout, proc.stdout
    assert not (home / "serving" / "zhili.duckdb").exists()


def test_status_on_a_home_that_does_not_exist(tmp_path, env):
    missing = tmp_path / "no-such-home"
    assert_one_sentence(
        zhili("status", "--home", str(missing), env=env), 2, str(missing), "does not exist", "zhili run creates it"
    )
    assert not missing.exists()


def test_unknown_progress_style_is_a_usage_error(landing, tmp_path, env):
    proc = zhili(
        "run", "--landing", str(landing), "--home", str(tmp_path / "h"), env={**env, "ZHILI_PROGRESS": "fancy"}
    )
    assert_one_sentence(proc, 2, "ZHILI_PROGRESS='fancy'", "bar, plain or off")
    assert not (tmp_path / "h").exists()
    proc = zhili("generate", "--out", str(tmp_path / "g"), env={**env, "ZHILI_PROGRESS": "fancy"})
    assert_one_sentence(proc, 2, "ZHILI_PROGRESS='fancy'")


# --------------------------------------------------------------------------
# Ctrl-C
# --------------------------------------------------------------------------


def test_ctrl_c_during_ingestion_exits_130_with_one_line(tmp_path, env):
    import signal

    generate(tmp_path / "gen", residents=300, days=3, seed=5)
    home, log = tmp_path / "home", tmp_path / "run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*ZHILI, "run", "--landing", str(tmp_path / "gen" / "landing"), "--home", str(home)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            start_new_session=True,
            env={**env, "PYTHONUNBUFFERED": "1", "ZHILI_PROGRESS": "plain"},
        )
    try:
        deadline = time.monotonic() + 180
        # the first feed is done: the second is loading now, inside a Dagster step
        while "grid_registry " not in log.read_text() or "new files" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C on a terminal sends: the whole foreground group
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert code == 130, text[-3000:]
    assert "Traceback" not in text and "DagsterExecutionInterruptedError" not in text, text[-3000:]
    assert text.rstrip().splitlines()[-1] == "zhili run: interrupted; the next run finishes the job", text[-3000:]
    assert "done in" not in text and "failed" not in text.lower(), text[-3000:]
    # the UI lists zhili run's runs under named jobs, not __ephemeral_asset_job__
    from orchestration.instance import open_instance

    jobs = {run.job_name for run in open_instance(home).get_runs()}
    assert "zhili_run_grid_registry" in jobs and not [j for j in jobs if not j.startswith("zhili_run_")], jobs
