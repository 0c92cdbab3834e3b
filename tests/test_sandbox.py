"""The kernel sandbox (:mod:`autograder.sandbox`), with real sandboxed processes: what a kernel can
see and write (an allow list, wherever the solutions lie), no network, and memory limits that count
what lies outside the resident set (/dev/shm, memfd, mapped tmpfs files), each kill with its kind."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from autograder.sandbox import MemoryCgroup, default_allow_list, launcher_options

REPO = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), COURSE_DATA_DIR=str(tmp_path / "data"),
               COURSE_DATA_MIRROR=str(tmp_path / "mirror"), COURSE_NO_PROGRESS="1")
    for folder in ("data", "mirror"):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / "images.npz").write_text(f"{folder} content")
    return env


def sandboxed(tmp_path: Path, code: str, *options: str, timeout: float = 60) -> tuple[str, dict]:
    """Run ``python -c code`` in the sandbox with ``options`` (by default, the default allow list and
    limits); return its output and status.json."""
    kernel_dir = Path(tempfile.mkdtemp(prefix="k", dir=tmp_path))
    command = [sys.executable, "-m", "autograder.sandbox", "--dir", str(kernel_dir), *options,
               "--", sys.executable, "-c", textwrap.dedent(code)]
    done = subprocess.run(command, env=_env(tmp_path), capture_output=True, text=True, timeout=timeout)
    status = json.loads((kernel_dir / "status.json").read_text())
    if (kernel_dir / "seen").exists():
        status["_seen"] = (kernel_dir / "seen").read_text()
    return done.stdout + done.stderr, status


@pytest.fixture(scope="module")
def isolated(tmp_path_factory) -> Path:
    """A folder for kernels, skipping the test where this machine gives no namespaces."""
    tmp_path = tmp_path_factory.mktemp("isolation")
    _, status = sandboxed(tmp_path, "pass")
    if status["isolation"] != "namespaces":
        pytest.skip(f"no namespaces here ({status['isolation']}): the sandbox applies limits only")
    return tmp_path


def test_default_allow_list_and_launcher_options():
    allowed = default_allow_list()
    covered = (lambda path: any(path == p or path.startswith(p.rstrip("/") + "/") for p in allowed))
    assert str(REPO / "coursekit") in allowed
    assert covered(sysconfig.get_paths()["stdlib"]) and covered(sysconfig.get_paths()["purelib"])
    assert not any(p in (str(REPO), str(REPO / "solutions"), "/", "/tmp", "/home", "/root") for p in allowed)
    options = launcher_options(memory_mb=300, max_procs=8, wall_seconds=60, max_file_mb=10, allow=["/a", "/b"],
                               namespaces=False, mpl_cache="/m")
    assert options == ["--memory-mb", "300", "--max-procs", "8", "--wall", "60", "--max-file-mb", "10",
                       "--allow", "/a", "--allow", "/b", "--mpl-cache", "/m", "--no-namespaces"]


def test_only_allowed_paths_are_visible_and_only_scratch_is_writable(isolated, monkeypatch):
    secrets = [isolated / "source" / "x" / "x.ipynb", Path(tempfile.mkdtemp(prefix="job-")) / "source" / "x" / "x.ipynb"]
    for secret in secrets:
        secret.parent.mkdir(parents=True)
        secret.write_text('{"cells": ["the solution"]}')
    extra = isolated / "extra"
    extra.mkdir(exist_ok=True)
    (extra / "table.csv").write_text("a,b")
    code = f"""
        import json, os, pathlib
        found = {{}}
        def attempt(name, action):
            try:
                found[name] = action()
            except OSError as err:
                found[name] = type(err).__name__
        for i, path in enumerate({[str(s) for s in secrets]!r}):
            attempt(f"secret{{i}}", lambda: pathlib.Path(path).read_text())
        for name in ("solutions", ".git", "autograder", "exercises", "README.md"):
            attempt(name, lambda: os.path.exists({str(REPO)!r} + "/" + name))
        attempt("repo", lambda: sorted(os.listdir({str(REPO)!r})))
        attempt("root", lambda: sorted(os.listdir("/")))
        attempt("home", lambda: os.path.exists("/root/.bashrc") or os.path.exists("/home"))
        attempt("data", lambda: pathlib.Path(os.environ["COURSE_DATA_DIR"], "images.npz").read_text())
        attempt("mirror", lambda: pathlib.Path(os.environ["COURSE_DATA_MIRROR"], "images.npz").read_text())
        attempt("data_write", lambda: pathlib.Path(os.environ["COURSE_DATA_DIR"], "x").write_text("x"))
        attempt("data_delete", lambda: os.unlink(pathlib.Path(os.environ["COURSE_DATA_DIR"], "images.npz")))
        attempt("extra", lambda: pathlib.Path({str(extra / "table.csv")!r}).read_text())
        attempt("extra_write", lambda: pathlib.Path({str(extra / "table.csv")!r}).write_text("x"))
        attempt("package_write", lambda: pathlib.Path({str(REPO / "coursekit" / "x.py")!r}).write_text("x"))
        attempt("scratch", lambda: (pathlib.Path("notes.txt").write_text("ok"), os.getcwd(),
                                   os.environ["HOME"] == os.environ["TMPDIR"] == os.getcwd())[1:])
        attempt("dev", lambda: sorted(os.listdir("/dev")))
        attempt("uid", lambda: os.getuid())
        attempt("import", lambda: __import__("importlib.util").util.find_spec("coursekit").origin)
        print(json.dumps(found))
    """
    for name, value in _env(isolated).items():
        monkeypatch.setenv(name, value)
    options = launcher_options(memory_mb=300, max_procs=8, wall_seconds=60, max_file_mb=10,
                               allow=default_allow_list() + [str(extra)], namespaces=True, mpl_cache="")
    try:
        output, status = sandboxed(isolated, code, *options)
    finally:
        shutil.rmtree(secrets[1].parents[2])
    found = json.loads(output.strip().splitlines()[-1])
    assert status["kind"] == "exit" and status["isolation"] == "namespaces", status
    assert found["secret0"] in ("FileNotFoundError", "PermissionError")
    assert found["secret1"] in ("FileNotFoundError", "PermissionError")
    assert not any(found[name] for name in ("solutions", ".git", "autograder", "exercises", "README.md")), found
    assert set(found["repo"]) <= {"coursekit", ".venv"}, found["repo"]
    assert "home" not in found["root"] and found["home"] is False, found
    assert found["data"] == "data content" and found["mirror"] == "mirror content"
    assert found["data_write"] == found["data_delete"] == "OSError", found       # read-only file system
    assert found["extra"] == "a,b" and found["extra_write"] == "OSError"
    assert found["package_write"] == "OSError"
    assert found["scratch"][1] is True and found["scratch"][0].endswith("/scratch")
    assert set(found["dev"]) <= {"null", "zero", "full", "random", "urandom", "shm", "fd", "stdin", "stdout",
                                 "stderr"}
    assert found["uid"] != 0 and found["import"] == str(REPO / "coursekit" / "__init__.py")
    assert (extra / "table.csv").read_text() == "a,b"


def test_no_network_not_even_the_hosts_loopback(isolated):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    code = f"""
        import socket
        for address in (("127.0.0.1", {port}), ("1.1.1.1", 53)):
            try:
                socket.create_connection(address, timeout=3).close()
                print("connected", address)
            except OSError as err:
                print("refused", type(err).__name__)
        print("interfaces", [name for _, name in socket.if_nameindex()])
    """
    try:
        output, status = sandboxed(isolated, code)
    finally:
        listener.close()
    assert "connected" not in output and output.count("refused") == 2, output
    assert "interfaces ['lo']" in output


ALLOCATE = {
    "bytes": "held = b'x' * SIZE",
    "shm": """
        with open('/dev/shm/big', 'wb') as handle:
            for _ in range(SIZE // CHUNK):
                handle.write(b'x' * CHUNK)""",
    "memfd": """
        held = os.memfd_create('big')
        for _ in range(SIZE // CHUNK):
            os.write(held, b'x' * CHUNK)""",
    "mmap": """
        handle = open('big', 'w+b')
        handle.truncate(SIZE)
        held = mmap.mmap(handle.fileno(), SIZE)
        for start in range(0, SIZE, CHUNK):
            held[start:start + CHUNK] = b'x' * CHUNK""",
}


def _allocation(how: str, megabytes: int, hold: float) -> str:
    return (f"import mmap, os, time\nSIZE, CHUNK = {megabytes} * 2**20, 2**24\n"
            f"{textwrap.dedent(ALLOCATE[how]).strip()}\nprint('allocated', flush=True)\ntime.sleep({hold})\n"
            f"print('survived')\n")


@pytest.mark.parametrize("accounting", ["polling", "cgroup"])
@pytest.mark.parametrize("how", sorted(ALLOCATE))
def test_memory_outside_the_resident_set_counts(isolated, how, accounting):
    if accounting == "cgroup":
        probe = MemoryCgroup.create(f"autograder-{os.getpid()}-probe", 2**30)
        if probe is None:
            pytest.skip("no memory cgroup can be made here: polling only")
        probe.remove()
    started = time.monotonic()
    output, status = sandboxed(isolated, _allocation(how, 600, hold=30), "--memory-mb", "300", "--scratch-mb",
                               "1024", "--max-file-mb", "1024", *(["--no-cgroup"] if accounting == "polling" else []))
    assert "survived" not in output and time.monotonic() - started < 20, output
    assert status["kind"] == "memory", status
    assert status["reason"].startswith("memory limit of 300 MB exceeded (anonymous "), status
    assert status["memory_accounting"].startswith("cgroup" if accounting == "cgroup" else "polling")
    if accounting == "polling":      # the poll saw the memory where it was
        where = {"bytes": "anonymous", "shm": "shared", "mmap": "shared", "memfd": "memfd"}[how]
        assert status["memory_peak_mb"][where] > 250, status


def test_without_namespaces_the_limits_still_apply(tmp_path):
    output, status = sandboxed(tmp_path, _allocation("memfd", 600, hold=30), "--memory-mb", "300", "--no-namespaces",
                               "--no-cgroup")
    assert status["isolation"] == "limits only" and status["kind"] == "memory", status
    assert status["memory_peak_mb"]["memfd"] > 250, status


def test_memory_below_the_limit_survives(tmp_path):
    code = "\n".join(_allocation(how, 48, hold=0.5).replace("held", f"held_{how}").replace("'big'", f"'{how}'")
                     .replace("/dev/shm/big", f"/dev/shm/{how}") for how in sorted(ALLOCATE))
    output, status = sandboxed(tmp_path, code, "--memory-mb", "300")
    assert output.count("survived") == 4 and status["kind"] == "exit" and status["reason"] is None, (output, status)
    assert 150 < sum(status["memory_peak_mb"].values()) < 300, status


@pytest.mark.parametrize("code, options, kind", [
    ("import os; os._exit(3)", (), "exit"),
    ("import ctypes; ctypes.string_at(0)", (), "crash"),
    ("import time; time.sleep(30)", ("--wall", "1"), "time"),
    ("import subprocess, time; [subprocess.Popen(['sleep', '30']) for _ in range(8)]; time.sleep(30)",
     ("--max-procs", "5"), "processes"),
    ("import time; open('../left-behind', 'wb').write(bytes(2**21)); time.sleep(30)", ("--scratch-mb", "1"), "file"),
])
def test_every_ending_has_a_machine_readable_kind(tmp_path, code, options, kind):
    started = time.monotonic()
    _, status = sandboxed(tmp_path, code, *options)
    assert status["kind"] == kind and time.monotonic() - started < 15, status
    assert (status["reason"] is not None) == (kind not in ("exit", "crash")), status
    assert status["detail"]


def test_kernels_forked_by_the_server_get_the_same_sandbox(isolated):
    from autograder.execution import start_fork_server, wait_for_socket

    folder = Path(tempfile.mkdtemp(prefix="srv", dir=isolated))
    socket_path = folder / "fork.sock"
    server = start_fork_server(socket_path)      # with this environment: it fetches the course's data
    try:
        assert wait_for_socket(str(socket_path), wait=120, process=server)
        # A forked kernel's output goes to the server's: it answers in a file of its folder.
        code = (f"import os; open('../seen', 'w').write(repr((os.getuid(), os.path.exists({str(REPO / 'solutions')!r}),"
                f" os.path.exists({str(socket_path)!r}), os.path.exists({str(REPO / 'coursekit')!r}))))")
        _, status = sandboxed(isolated, code, "--server", str(socket_path))
        assert status["forked"] and status["kind"] == "exit" and status["isolation"] == "namespaces", status
        uid, solutions, server_socket, package = eval(status["_seen"])
        assert uid != 0 and not solutions and not server_socket and package
        _, status = sandboxed(isolated, _allocation("shm", 600, hold=30), "--server", str(socket_path),
                              "--memory-mb", "300", "--scratch-mb", "1024")
        assert status["forked"] and status["kind"] == "memory", status
    finally:
        socket_path.unlink(missing_ok=True)
        server.wait(timeout=10)


def test_caches_a_parent_pointed_elsewhere_move_to_scratch(isolated, monkeypatch):
    """torch writes TORCHINDUCTOR_CACHE_DIR into its own environment on the first ``import torch._dynamo``
    (an optimizer step can do it); a grader started from such a process passed it on, and a correct
    notebook failed with 'Read-only file system' in the sandbox."""
    for name, value in _env(isolated).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(isolated / "host-cache"))
    code = """
        import os, torch._dynamo
        print(os.environ["TORCHINDUCTOR_CACHE_DIR"], os.getcwd())
    """
    output, status = sandboxed(isolated, code, timeout=120)
    assert status["kind"] == "exit", output
    cache, scratch = output.strip().splitlines()[-1].split()
    assert cache.startswith(scratch + "/"), output


def test_the_grader_reads_the_kernels_cpu_time_from_outside(isolated, monkeypatch):
    """``kernel.pid`` (the launcher's) and /proc give the CPU time of the kernel and of the children it
    waited for; a file the kernel writes in its place is not believed."""
    from autograder.sandbox import read_owned, tree_cpu_seconds

    for name, value in _env(isolated).items():
        monkeypatch.setenv(name, value)
    kernel_dir = Path(tempfile.mkdtemp(prefix="k", dir=isolated))
    code = """
        import os, pathlib, time
        def burn(seconds):
            end = time.process_time() + seconds
            while time.process_time() < end:
                pass
        if os.fork() == 0:
            burn(1.0)
            os._exit(0)
        os.wait()
        burn(1.0)
        time.process_time = lambda: 0.0          # the notebook's own clock is not the one read
        try:
            pathlib.Path("../kernel.pid.tmp").write_text("1")          # nor is a pid file of its own
            os.replace("../kernel.pid.tmp", "../kernel.pid")
        except OSError:
            pass
        print("burnt", flush=True)
        time.sleep(30)
    """
    command = [sys.executable, "-m", "autograder.sandbox", "--dir", str(kernel_dir), "--",
               sys.executable, "-c", textwrap.dedent(code)]
    launcher = subprocess.Popen(command, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
    try:
        assert launcher.stdout.readline().strip() == "burnt"
        pid = read_owned(kernel_dir / "kernel.pid")
        if pid is not None:                                       # the kernel could not replace it
            assert pid != "1" and 1.8 <= tree_cpu_seconds(int(pid)) <= 4.0
    finally:
        launcher.kill()
        launcher.wait()


def test_cpu_seconds_of_a_process_tree_counts_ended_children():
    from autograder.sandbox import tree_cpu_seconds

    code = ("import os, time\n"
            "def burn(s):\n    end = time.process_time() + s\n    while time.process_time() < end: pass\n"
            "if os.fork() == 0:\n    burn(0.8)\n    os._exit(0)\n"
            "os.wait()\nburn(0.8)\nprint('done', flush=True)\ntime.sleep(30)\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "done"
        assert 1.5 <= tree_cpu_seconds(process.pid) <= 3.0
    finally:
        process.kill()
        process.wait()


def test_a_substituted_data_file_is_what_the_kernel_reads(isolated, monkeypatch):
    """--substitute: the segmentation kernels' view of the data (training patients only)."""
    for name, value in _env(isolated).items():
        monkeypatch.setenv(name, value)
    view = isolated / "view.npz"
    view.write_text("view content")
    shown = isolated / "data" / "images.npz"
    options = launcher_options(memory_mb=300, max_procs=8, wall_seconds=60, max_file_mb=10,
                               allow=default_allow_list(), namespaces=True, mpl_cache="",
                               substitute={str(shown): str(view)})
    code = f"""
        import os, pathlib
        print(pathlib.Path({str(shown)!r}).read_text(), "|", os.path.exists({str(view)!r}))
        try:
            pathlib.Path({str(shown)!r}).write_text("changed")
        except OSError as err:
            print("read-only")
    """
    output, status = sandboxed(isolated, code, *options)
    assert status["kind"] == "exit", output
    assert "view content | False" in output and "read-only" in output
    assert shown.read_text() == "data content" and view.read_text() == "view content"


def test_the_training_only_sunnybrook_file_holds_the_39_training_patients(tmp_path):
    from coursekit.data import load_sunnybrook, sunnybrook_split, write_sunnybrook_training_only

    try:
        full = load_sunnybrook()
    except Exception as err:  # noqa: BLE001 - no data here
        pytest.skip(f"no Sunnybrook data: {err}")
    import numpy as np

    with np.load(write_sunnybrook_training_only(tmp_path / "scd_lvsegs.npz")) as view:
        assert len(view["caseIndices"]) == len(full["caseIndices"]) - 6
        assert len(view["images"]) == len(sunnybrook_split()["train_images"])
        cut = len(view["images"])
        assert np.array_equal(view["images"], full["images"][:cut]) and np.array_equal(view["segs"], full["segs"][:cut])
        assert set(view.files) == set(full)
