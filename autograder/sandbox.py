"""Kernel launcher that runs a student's kernel in a sandbox: ``python -m autograder.sandbox [options] -- CMD``.

The grader's kernel manager (:class:`autograder.guard.SandboxedKernelManager`) prefixes the kernel's
command line with this module. What the kernel gets, on Linux:

* Namespaces (when the OS allows them: root, or unprivileged user namespaces): its own network
  namespace (no network at all, not even the host's loopback: the grader talks to it through Unix
  sockets), its own process namespace (it cannot see or signal the grader, other students' kernels
  or anything else on the machine), and its own mount namespace in which the whole file system is
  read-only, the paths given with ``--hide`` (solutions, the gradebook, the grading workspace, the
  other submissions) are replaced by empty folders, and the only writable places are a size-limited
  scratch folder (its working directory and ``TMPDIR``) and a private ``/dev/shm``.
* Limits, watched from outside by this launcher: resident memory of the kernel and all its child
  processes (``--memory-mb``), number of processes (``--max-procs``), wall-clock time of the whole
  notebook (``--wall``), size of any file it writes (``--max-file-mb``).

When a limit is hit the launcher kills the kernel and writes the reason to ``<dir>/status.json``,
which the grader reads to tell the student why the remaining cells did not run. Without namespaces
(an unprivileged user where user namespaces are disabled) the limits still apply and
``status.json`` says ``"isolation": "limits only"``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import signal
import sys
import time
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
_KEEP_WRITABLE = ("/proc", "/sys", "/dev")     # pseudo file systems: left as they are (or remounted)


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    if _libc().mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _unshare(flags: int) -> None:
    if _libc().unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _enter_namespaces() -> str:
    """Create the namespaces; return the isolation level reached (in words)."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.geteuid(), os.getegid()
    try:
        if uid == 0:
            _unshare(flags)
        else:
            _unshare(flags | CLONE_NEWUSER)
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
            Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
        return "namespaces"
    except OSError:
        return "limits only"


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point not in points:
            points.append(point)
    return points


def _build_file_system(own: Path, hide: list[str], scratch_mb: int) -> None:
    """Inside the new mount namespace: hide, make read-only, give a scratch folder (see module doc)."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # Hide the siblings of this kernel's folder (other students' kernels) but keep this one.
    keep = os.open(own, os.O_PATH | os.O_DIRECTORY)
    _mount("tmpfs", str(own.parent), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    own.mkdir()
    _mount(f"/proc/self/fd/{keep}", str(own), None, MS_BIND)
    os.close(keep)
    for path in hide:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
        elif os.path.exists(path):
            _mount("/dev/null", path, None, MS_BIND)
    writable = {str(own), str(own / "scratch"), "/dev/shm"}
    for point in _mount_points():
        if point in writable or point.startswith(_KEEP_WRITABLE) or point.startswith(str(own) + "/"):
            continue
        try:
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        except OSError:
            pass   # mounts we may not touch (locked in a user namespace) are not ours to protect
    _mount("tmpfs", str(own / "scratch"), "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_mb}m,mode=777")
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_mb}m,mode=1777")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _kernel_process(args: argparse.Namespace, own: Path, isolation: str, inline: bool = False) -> None:
    """The process that becomes the kernel (pid 1 of its namespace when isolated). Never returns.

    ``inline``: run ipykernel in this (forked, modules already imported) process instead of
    executing a new interpreter."""
    try:
        if isolation == "namespaces":
            _build_file_system(own, args.hide, args.scratch_mb)
        scratch = own / "scratch"
        scratch.mkdir(exist_ok=True)
        os.chdir(scratch)
        for name in ("TMPDIR", "TEMP", "TMP"):
            os.environ[name] = str(scratch)
        os.environ["MPLCONFIGDIR"] = str(scratch / ".matplotlib")
        os.environ["IPYTHONDIR"] = str(scratch / ".ipython")
        if args.mpl_cache and os.path.isdir(args.mpl_cache):
            shutil.copytree(args.mpl_cache, scratch / ".matplotlib", dirs_exist_ok=True)
        size = args.max_file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if inline and args.command[1:3] == ["-m", "ipykernel_launcher"]:
            import tempfile

            tempfile.tempdir = None                      # re-read TMPDIR
            sys.argv = ["ipykernel_launcher"] + args.command[3:]
            sys.path[0] = str(scratch)
            from ipykernel import kernelapp

            kernelapp.launch_new_instance()
            os._exit(0)
        os.execv(args.command[0], args.command)
    except BaseException as err:  # noqa: BLE001 - report any set-up failure, then die
        (own / "setup-error.txt").write_text(f"{type(err).__name__}: {err}")
        os._exit(70)


def _start_kernel(args: argparse.Namespace, own: Path) -> int:
    """Fork the process that enters the namespaces and starts the kernel; return its pid."""
    pid = os.fork()
    if pid == 0:
        _kernel_parent(args, own)
    return pid


def _kernel_parent(args: argparse.Namespace, own: Path, inline: bool = False) -> None:
    """Enter the namespaces and start the kernel below; exit with its status. Never returns."""
    if inline:
        os.setsid()                      # its own process group: the launcher signals it as a group
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    isolation = "limits only" if args.no_namespaces else _enter_namespaces()
    (own / "isolation.txt").write_text(isolation)
    if isolation == "namespaces":
        inner = os.fork()           # the first process of a new pid namespace is its pid 1
        if inner == 0:
            _kernel_process(args, own, isolation, inline)
        _, status = os.waitpid(inner, 0)
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
    _kernel_process(args, own, isolation, inline)


def _tree(pid: int):
    import psutil

    try:
        root = psutil.Process(pid)
        return [root] + root.children(recursive=True)
    except psutil.Error:
        return []


def _memory_and_count(pid: int) -> tuple[int, int]:
    import psutil

    total, count = 0, 0
    for proc in _tree(pid):
        try:
            total += proc.memory_info().rss
            count += 1
        except psutil.Error:
            pass
    return total, count


def _kill_tree(pid: int) -> None:
    import psutil

    for proc in reversed(_tree(pid)):
        try:
            proc.kill()
        except psutil.Error:
            pass


# --------------------------------------------------------------------------- fork server
#: Modules a fork server imports once, so that every kernel forked from it starts with them loaded
#: (importing torch costs about 3 s of CPU per kernel otherwise).
PRELOAD = ("numpy", "torch", "torch.nn.functional", "ipykernel.kernelapp", "ipykernel.ipkernel")


def serve(path: str) -> None:
    """Fork server: preload :data:`PRELOAD`, then fork one kernel per request on the Unix socket
    ``path``, after fetching the exercises' data (problems written to ``path.data.json``). Each
    request is one JSON line ``{"argv": [...], "env": {...}}`` (this module's
    options and the kernel's environment); the answer is ``{"pid": N}``, later ``{"exit": code}``.
    A kernel whose requester disconnects is killed; the server exits with its parent."""
    import importlib
    import select
    import socket

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module only costs its import later
            pass
    # Kernels see the data directory read-only: fetch what the exercises read before serving any.
    # In a child process: loading data runs torch operations, which start OpenMP threads, and a
    # process forked after that from this one would hang in its first parallel operation.
    helper = os.fork()
    if helper == 0:
        try:
            from coursekit.data import prefetch_exercise_data

            problems = prefetch_exercise_data()
        except Exception as err:  # report, and let the kernels say what they miss
            problems = [f"{type(err).__name__}: {err}"]
        Path(path + ".data.json").write_text(json.dumps(problems))
        os._exit(0)
    os.waitpid(helper, 0)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    os.replace(path + ".tmp", path)              # the socket appears only once it is ready
    listener.listen(64)
    parent = os.getppid()
    buffers: dict[socket.socket, bytes] = {}
    kernel_of: dict[socket.socket, int] = {}
    while os.getppid() == parent and os.path.exists(path):    # the grader removes the socket when done
        readable, _, _ = select.select([listener, *buffers], [], [], 0.2)
        for conn in readable:
            if conn is listener:
                client, _ = listener.accept()
                buffers[client] = b""
                continue
            data = conn.recv(65536)
            if not data:                        # requester gone: its kernel goes too
                if conn in kernel_of:
                    _killpg(kernel_of.pop(conn))
                buffers.pop(conn, None)
                conn.close()
                continue
            buffers[conn] += data
            if b"\n" in buffers[conn] and conn not in kernel_of:
                request = json.loads(buffers[conn].split(b"\n", 1)[0])
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    for other in buffers:
                        other.close()
                    os.environ.clear()
                    os.environ.update(request["env"])
                    args = _parser().parse_args(request["argv"])
                    if args.command[:1] == ["--"]:
                        args.command = args.command[1:]
                    _kernel_parent(args, args.dir.resolve(), inline=True)
                kernel_of[conn] = pid
                conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            for conn, kernel in list(kernel_of.items()):
                if kernel == pid:
                    try:
                        conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                    except OSError:
                        pass
    for pid in kernel_of.values():
        _killpg(pid)


def _killpg(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder.sandbox")
    parser.add_argument("--dir", type=Path, help="this kernel's folder (status.json, scratch/)")
    parser.add_argument("--hide", action="append", default=[], help="path replaced by an empty folder")
    parser.add_argument("--memory-mb", type=int, default=4096)
    parser.add_argument("--max-procs", type=int, default=64)
    parser.add_argument("--wall", type=float, default=0, help="seconds for the whole notebook (0: none)")
    parser.add_argument("--max-file-mb", type=int, default=512)
    parser.add_argument("--scratch-mb", type=int, default=512)
    parser.add_argument("--mpl-cache", default="", help="matplotlib cache copied into the scratch folder")
    parser.add_argument("--no-namespaces", action="store_true")
    parser.add_argument("--server", default="", help="fork server socket (see serve); falls back to exec")
    parser.add_argument("--serve", default="", help="run a fork server on this socket")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser


def _via_server(args: argparse.Namespace, argv: list[str]):
    """Ask the fork server for the kernel; return (pid, connection) or None when it cannot."""
    import socket

    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(args.server)
        options = [a for i, a in enumerate(argv) if a != "--server" and (i == 0 or argv[i - 1] != "--server")]
        conn.sendall(json.dumps({"argv": options, "env": dict(os.environ)}).encode() + b"\n")
        answer = b""
        while b"\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                return None
            answer += chunk
        return json.loads(answer.split(b"\n", 1)[0])["pid"], conn
    except (OSError, ValueError, KeyError):
        return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.serve:
        try:
            serve(args.serve)
        except BaseException as err:  # tell the grader at once, so it starts kernels the slow way
            Path(args.serve + ".failed").write_text(f"{type(err).__name__}: {err}")
            raise
        return 0
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    own = args.dir.resolve()
    (own / "scratch").mkdir(parents=True, exist_ok=True)
    # Interrupts reach the kernel through the process group; this launcher must survive them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    served = _via_server(args, argv) if args.server else None
    if served:
        pid, conn = served
        conn.setblocking(False)
        # The forked kernel has its own process group: pass interrupts on, and take it down with us.
        signal.signal(signal.SIGINT, lambda *_: _killpg(pid, signal.SIGINT))
        signal.signal(signal.SIGTERM, lambda *_: (_killpg(pid), os._exit(143)))
    else:
        pid, conn = _start_kernel(args, own), None

    reason, start, exit_code, parent = None, time.monotonic(), None, os.getppid()
    while exit_code is None:
        exit_code = _finished(pid, conn)
        if exit_code is not None:
            break
        memory, count = _memory_and_count(pid)
        if args.memory_mb and memory > args.memory_mb * 2**20:
            reason = f"memory limit exceeded ({memory / 2**20:.0f} MB used, limit {args.memory_mb} MB)"
        elif args.max_procs and count > args.max_procs:
            reason = f"too many processes ({count}, limit {args.max_procs})"
        elif args.wall and time.monotonic() - start > args.wall:
            reason = f"notebook time limit exceeded ({args.wall:g} s)"
        elif os.getppid() != parent:
            reason = "the grader stopped"       # no orphaned kernels after a killed batch
        if reason:
            if conn is not None:
                _killpg(pid)
            else:
                _kill_tree(pid)
            while exit_code is None:
                exit_code = _finished(pid, conn, block=True)
            break
        time.sleep(0.2)
    setup = own / "setup-error.txt"
    status = {"reason": reason, "exit_code": exit_code, "seconds": round(time.monotonic() - start, 2),
              "isolation": (own / "isolation.txt").read_text() if (own / "isolation.txt").exists() else "unknown",
              "setup_error": setup.read_text() if setup.exists() else None, "forked": conn is not None}
    tmp = own / "status.json.tmp"
    tmp.write_text(json.dumps(status))
    tmp.replace(own / "status.json")
    if args.no_namespaces:
        shutil.rmtree(own / "scratch", ignore_errors=True)
    return exit_code if exit_code >= 0 else 128 - exit_code


def _finished(pid: int, conn, block: bool = False) -> int | None:
    """The kernel's exit code once it has ended (from waitpid, or from the fork server), else None."""
    if conn is None:
        done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        return os.waitstatus_to_exitcode(status) if done else None
    import select

    readable, _, _ = select.select([conn], [], [], 5.0 if block else 0)
    if not readable:
        return None
    try:
        data = conn.recv(4096)
    except BlockingIOError:
        return None
    if not data:
        return -9                              # the server went away: so did the kernel
    for line in data.decode().splitlines():
        if '"exit"' in line:
            return json.loads(line)["exit"]
    return None


if __name__ == "__main__":
    sys.exit(main())


def default_allow_list() -> list[str]:   # TEMPORARY shim until the allow-list file system lands
    return []


def launcher_options(*, memory_mb: int, max_procs: int, wall_seconds: int, max_file_mb: int, allow: list[str],
                     namespaces: bool, mpl_cache: str) -> list[str]:   # TEMPORARY shim
    from autograder.course import REPO, SOLUTIONS

    options = ["--memory-mb", str(memory_mb), "--max-procs", str(max_procs), "--wall", str(wall_seconds),
               "--max-file-mb", str(max_file_mb), "--hide", str(SOLUTIONS), "--hide", str(REPO / ".git")]
    if mpl_cache:
        options += ["--mpl-cache", mpl_cache]
    if not namespaces:
        options.append("--no-namespaces")
    return options
