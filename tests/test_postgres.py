"""The gradebook in a real PostgreSQL server: started here from Debian's postgresql package
(scripts/test.sh installs it), graded into by two grader processes at once, compared with the
SQLite gradebook of the same batch; a server that is down or refuses the login stops the grader
with one message before anything is graded."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.synthetic import solution_code, submission, write_submission
from tests.attacks import GAN, _cells_by_id
from tests.conftest import REPO
from tests.mutants import MUTANTS

pytestmark = pytest.mark.slow
PASSWORD = "grader-secret"
LIMITS = ["--cell-timeout", "8", "--notebook-timeout", "120", "--memory-mb", "1024"]


def _server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of its own (password login, TCP on 127.0.0.1), stopped at the end;
    yields a function ``url(password=PASSWORD, port=None)``."""
    binaries = _server_binaries()
    if binaries is None:
        message = "PostgreSQL is not installed (scripts/test.sh installs Debian's postgresql as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    pytest.importorskip("psycopg2")
    base = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    data, password_file = base / "data", base / "password"
    password_file.write_text(PASSWORD + "\n")
    run_as: list[str] = []
    if os.getuid() == 0:   # the server refuses to run as root: run it as the package's user
        user = next((u for u in ("postgres", "nobody") if _user_exists(u)), None)
        record = pwd.getpwnam(user)
        for path in (base, password_file):
            os.chown(path, record.pw_uid, record.pw_gid)
        os.chmod(base, 0o700)
        run_as = ["setpriv", f"--reuid={record.pw_uid}", f"--regid={record.pw_gid}", "--clear-groups"]
    subprocess.run([*run_as, str(binaries / "initdb"), "-D", str(data), "-U", "grader", "--auth=scram-sha-256",
                    f"--pwfile={password_file}", "-E", "UTF8"], check=True, capture_output=True)
    port = _free_port()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c max_connections=100"
    subprocess.run([*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"),
                    "-w", "start"], check=True, capture_output=True)
    try:
        subprocess.run([*run_as, str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "grader",
                        "course"], check=True, capture_output=True, env={**os.environ, "PGPASSWORD": PASSWORD})

        def url(password: str = PASSWORD, port_: int | None = None, database: str = "course") -> str:
            return f"postgresql://grader:{password}@127.0.0.1:{port_ or port}/{database}"

        yield url
    finally:
        subprocess.run([*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _class(folder: Path) -> list[str]:
    names = {"honest-a": submission(GAN), "honest-b": submission(GAN), "blank-a": submission(GAN, answers={}),
             "mistake-b": submission(GAN, {**solution_code(GAN), **MUTANTS[GAN][0].answers()})}
    nb = submission(GAN)
    nb.cells[_cells_by_id(nb)["test_js_divergence"]].source = "pass\n"
    names["edit-a"] = nb
    for name, nb in names.items():
        write_submission(nb, folder / name[-1], name, GAN)
    return sorted(names)


def _grade(folder: Path, workdir: Path, db: str | None, *extra: str, wait: bool = True):
    command = [sys.executable, "-m", "autograder", "grade", GAN, str(folder), "--workdir", str(workdir), "--no-feedback",
               *(["--db", db] if db else []), *LIMITS, *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO), "COURSE_NO_PROGRESS": "1"}
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


def _gradebook(db_url: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        out = {}
        for student in gb.students:
            try:
                sub = gb.find_submission(GAN, student.id)
            except Exception:
                continue
            out[student.id] = {g.cell.name: g.score for nb in sub.notebooks for g in nb.grades}
        return out


def test_two_graders_at_once_fill_postgresql_like_sqlite(postgres, tmp_path):
    from autograder.__main__ import database_url

    folder = tmp_path / "class"
    students = _class(folder)
    # SQLite, one grader, the whole class (both halves in one folder)
    both = tmp_path / "both"
    for half in ("a", "b"):
        shutil.copytree(folder / half, both, dirs_exist_ok=True)
    sqlite_run = _grade(both, tmp_path / "sqlite", None, "--workers", "1")
    assert sqlite_run.returncode == 0, sqlite_run.stderr[-3000:]
    # PostgreSQL, empty: two grader processes started at once, one per half of the class, each with
    # its own workspace, one gradebook
    runs = [_grade(folder / half, tmp_path / f"pg-{half}", postgres(), "--workers", "1", wait=False) for half in "ab"]
    for run in runs:
        out, err = run.communicate(timeout=900)
        assert run.returncode == 0, err[:4000] + err[-3000:]
    sqlite_book = _gradebook(f"sqlite:///{tmp_path / 'sqlite' / 'gradebook.db'}")
    pg_book = _gradebook(database_url(postgres()))
    assert sorted(pg_book) == students == sorted(sqlite_book)
    assert pg_book == sqlite_book
    assert pg_book["honest-a"]["test_js_divergence"] > 0 and pg_book["edit-a"]["test_js_divergence"] == 0
    # Re-running against PostgreSQL grades nothing again (the submissions are found there).
    again = _grade(folder / "a", tmp_path / "pg-a", postgres())
    assert again.returncode == 0 and "0 this run" in again.stdout, again.stdout[-2000:]


@pytest.mark.parametrize("case", ["wrong password", "server down", "no such database"])
def test_a_database_that_refuses_stops_before_grading(postgres, tmp_path, case):
    folder = tmp_path / "class"
    write_submission(submission(GAN), folder, "honest", GAN)
    url = {"wrong password": postgres(password="not-the-password"), "server down": postgres(port_=_free_port()),
           "no such database": postgres(database="nowhere")}[case]
    run = _grade(folder, tmp_path / "work", url)
    assert run.returncode == 2
    message = run.stderr.strip()
    assert len(message.splitlines()) == 1 and "cannot be used" in message, message
    assert {"wrong password": "password authentication failed", "server down": "Connection refused",
            "no such database": "does not exist"}[case] in message
    assert "not-the-password" not in message
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir()), "something was graded"
