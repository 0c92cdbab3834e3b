"""Kernel launcher that runs a student's kernel in a sandbox: ``python -m autograder.sandbox [options] -- CMD``.

The grader's kernel manager (:class:`autograder.execution.SandboxedKernelManager`) prefixes the kernel's
command line with this module; :func:`launcher_options` builds its options and
:func:`default_allow_list` the paths a kernel may read. What the kernel gets, on Linux:

* Namespaces (when the OS allows them: root, or unprivileged user namespaces): its own network
  namespace (no network at all, not even the host's loopback: the grader talks to it through Unix
  sockets in the kernel's folder ``--dir``), its own process namespace (it cannot see or signal the
  grader, other students' kernels or anything else on the machine), its own IPC namespace, and its
  own mount namespace whose root is a fresh, read-only tmpfs holding only

  - the paths given with ``--allow`` (read-only bind mounts, symbolic links along them recreated):
    by default the Python environment, the course package ``coursekit/`` (not the rest of its
    repository), the data directories and the system files Python, torch, matplotlib and
    ipykernel need (see :func:`default_allow_list`);
  - the kernel's folder (writable: its sockets), with a size-limited tmpfs ``scratch/`` in it that
    is its working directory, ``TMPDIR`` and ``HOME`` (the matplotlib cache ``--mpl-cache`` copied
    in);
  - a fresh ``/proc``, a minimal ``/dev`` (null, zero, full, random, urandom; a size-limited
    ``/dev/shm``), a synthetic ``/etc/passwd``, ``/etc/group`` and ``/etc/hosts``.

  Nothing else of the machine exists there, wherever the instructor keeps the course (an allow
  list, not a list of paths to hide: a copy of the solutions in /tmp or a home folder stays
  invisible). ``--hide`` still replaces paths *inside* the allowed ones by empty folders. Once the
  file system is built (``pivot_root``) the kernel drops every privilege: as root it becomes user
  ``nobody`` (65534) with no capabilities and ``no_new_privs``.
* Limits, watched from outside by this launcher every 0.2 s: memory (``--memory-mb``), number of
  processes (``--max-procs``), wall-clock time of the whole notebook (``--wall``), size of any file
  it writes (``--max-file-mb``, an rlimit) and of what it leaves in its folder. Memory counts
  everything the kernel can hold: anonymous memory of its processes, the tmpfs usage of its
  scratch folder and ``/dev/shm``, memfd files, System V and shared anonymous memory (see
  :func:`memory_usage`). Where a memory cgroup can be created (cgroup v2, or v1's memory
  controller, as root) the kernel also runs in one limited to ``--memory-mb``: the OS then charges
  every page and stops a spike between two polls.

When a limit is hit the launcher kills the kernel and writes to ``<dir>/status.json`` why:
``{"kind": "memory", "reason": "memory limit of 4096 MB exceeded (anonymous 1.20 GB, shared memory
3.10 GB, memfd 0.00 GB)", ...}``; ``kind`` is one of ``memory``, ``time``, ``processes``, ``file``
(a limit: ``reason`` is set), ``exit`` or ``crash`` (no limit: ``reason`` is null, ``detail`` says
what happened). Without namespaces (an unprivileged user where user namespaces are disabled, or
``--no-namespaces``) the limits still apply and ``status.json`` says ``"isolation": "limits only"``.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import platform
import re
import resource
import shutil
import signal
import sys
import sysconfig
import time
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 24, 38, 47, 4
#: The user a kernel started by root runs as once its file system is built (``nobody``).
KERNEL_UID = KERNEL_GID = 65534
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
#: Device nodes a kernel gets in its /dev (bound from the host's).
_DEVICES = ("null", "zero", "full", "random", "urandom")
#: System paths Python, torch, matplotlib and ipykernel read (those missing here are skipped).
SYSTEM_PATHS = (
    "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib32",
    "/usr/lib64", "/usr/libx32", "/usr/libexec", "/usr/local/lib", "/usr/share/fonts", "/usr/local/share/fonts",
    "/usr/share/fontconfig", "/usr/share/zoneinfo", "/usr/share/locale", "/etc/ld.so.cache", "/etc/ld.so.conf",
    "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/fonts", "/etc/localtime", "/etc/timezone",
    "/etc/nsswitch.conf", "/etc/mime.types", "/etc/os-release", "/etc/protocols", "/etc/services",
    "/etc/matplotlibrc", "/sys/devices/system/cpu", "/sys/devices/system/node",
)


# --------------------------------------------------------------------------- interface
def data_directories() -> list[str]:
    """The course's data directories (``$COURSE_DATA_DIR``, default ``~/.cache/dgm-course``, and
    ``$COURSE_DATA_MIRROR``), as :mod:`coursekit.data` finds them (not imported: it imports torch)."""
    found = [os.environ.get("COURSE_DATA_DIR") or str(Path.home() / ".cache" / "dgm-course")]
    if os.environ.get("COURSE_DATA_MIRROR"):
        found.append(os.environ["COURSE_DATA_MIRROR"])
    return [str(Path(p).expanduser().absolute()) for p in found]


def default_allow_list() -> list[str]:
    """What a kernel may read (read-only): this Python environment, the course package, the data
    directories and the system files in :data:`SYSTEM_PATHS` that exist here. Nothing else of the
    repository (its solutions, ``.git``, grading folders) nor of the machine."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths: list[str] = []
    for prefix in sorted(prefixes):
        if os.path.realpath(prefix) in ("/", "/usr", "/usr/local"):
            # A system Python: its own folders, not all of /usr (the stdlib paths follow).
            paths += [os.path.join(prefix, name) for name in ("bin", "lib", "lib64", "include", "share/jupyter")]
        else:
            paths.append(prefix)
    for scheme_path in sysconfig.get_paths().values():
        paths.append(scheme_path)
    # Folders on sys.path inside the environment (a .pth may add others: those stay out, since an
    # editable install of the course would otherwise bring in the whole repository).
    for entry in sys.path:
        if entry and os.path.isabs(entry) and any(_inside(entry, p) for p in prefixes):
            paths.append(entry)
    paths.append(str(Path(__file__).resolve().parent.parent / "coursekit"))
    paths += data_directories()
    paths += SYSTEM_PATHS
    unique: list[str] = []
    for path in paths:
        path = os.path.normpath(path)
        if os.path.lexists(path) and path not in unique:
            unique.append(path)
    return unique


def launcher_options(*, memory_mb: int, max_procs: int, wall_seconds: int, max_file_mb: int, allow: list[str],
                     namespaces: bool, mpl_cache: str, substitute: dict[str, str] | None = None) -> list[str]:
    """Options of ``python -m autograder.sandbox`` for these limits (0: no limit), the paths a kernel
    may read (``allow``; usually :func:`default_allow_list`, to which an empty list also falls
    back), whether to isolate it in namespaces, and matplotlib's cache folder ('' for none).
    ``substitute`` maps allowed files to the files the kernel sees in their place (namespaces only)."""
    options = ["--memory-mb", str(memory_mb), "--max-procs", str(max_procs), "--wall", str(wall_seconds),
               "--max-file-mb", str(max_file_mb)]
    options += [arg for path in allow for arg in ("--allow", str(path))]
    options += [arg for shown, source in sorted((substitute or {}).items())
                for arg in ("--substitute", f"{source}={shown}")]
    if mpl_cache:
        options += ["--mpl-cache", mpl_cache]
    if not namespaces:
        options.append("--no-namespaces")
    return options


# --------------------------------------------------------------------------- system calls
def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc().mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _unshare(flags: int) -> None:
    _check(_libc().unshare(flags), "unshare")


def _pivot_root(new_root: str, put_old: str) -> None:
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, f"pivot_root: unknown system call number on {platform.machine()}")
    _check(_libc().syscall(number, new_root.encode(), put_old.encode()), "pivot_root")


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


def _drop_privileges(switch_user: bool) -> None:
    """No capability, no way to gain one (setuid programs, file capabilities) and, when started by
    the real root, user ``nobody``: the kernel cannot undo its mounts nor write root's files (/proc)."""
    libc = _libc()
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == errno.EINVAL:
            break                                   # past the last capability this kernel knows
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if switch_user:
        os.setgroups([])
        os.setresgid(KERNEL_GID, KERNEL_GID, KERNEL_GID)
        os.setresuid(KERNEL_UID, KERNEL_UID, KERNEL_UID)     # clears every capability
    else:
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)         # _LINUX_CAPABILITY_VERSION_3, this thread
        data = (ctypes.c_uint32 * 6)()
        _check(libc.capset(header, data), "capset")


# --------------------------------------------------------------------------- file system
def _inside(path: str, folder: str) -> bool:
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder if folder == "/" else folder + "/")


def _resolve(path: str) -> tuple[list[tuple[str, str]], str]:
    """Resolve ``path`` (absolute) as the host sees it: the symbolic links met on the way, each as
    (where, link text), and the real path."""
    links: list[tuple[str, str]] = []
    pending, current = list(Path(path).parts[1:]), "/"
    while pending:
        name = pending.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        if os.path.islink(candidate):
            if len(links) > 40:
                raise OSError(errno.ELOOP, f"too many symbolic links in {path}")
            text = os.readlink(candidate)
            links.append((candidate, text))
            if text.startswith("/"):
                current = "/"
            pending[:0] = list(Path(text).parts[1:] if text.startswith("/") else Path(text).parts)
        else:
            current = candidate
    return links, current


def _plan(allow: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The symbolic links to recreate and the real paths to bind (none inside another) for ``allow``."""
    links: list[tuple[str, str]] = []
    reals: list[str] = []
    for path in allow:
        path = os.path.abspath(path)
        if not os.path.lexists(path):
            continue
        found, real = _resolve(path)
        if not os.path.exists(real):
            continue
        links += [link for link in found if link not in links]
        reals.append(real)
    binds = sorted({r for r in reals if not any(o != r and _inside(r, o) for o in reals)})
    links = [(where, text) for where, text in links if not any(_inside(where, b) for b in binds)]
    return links, binds


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])   # \040: space
        if point not in points:
            points.append(point)
    return points


def _remount(point: str, read_only: bool = True) -> None:
    """Make the bind mount ``point`` nosuid, nodev and read-only (unless not ``read_only``), keeping
    the flags a user namespace may have locked."""
    have = os.statvfs(point).f_flag
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (MS_RDONLY if read_only else 0)
    flags |= (MS_NOEXEC if have & os.ST_NOEXEC else 0) | (MS_NODIRATIME if have & os.ST_NODIRATIME else 0)
    flags |= MS_NOATIME if have & os.ST_NOATIME else MS_RELATIME if have & os.ST_RELATIME else MS_STRICTATIME
    _mount(None, point, None, flags)


def _safe_target(root: str, path: str) -> str:
    """``root + path``, refusing one that symbolic links would lead out of ``root`` (into the host)."""
    target = root + path
    if not _inside(os.path.realpath(target), root):
        raise OSError(errno.EXDEV, f"{path} leads out of the kernel's root")
    return target


def _build_file_system(own: Path, allow: list[str], hide: list[str], scratch_mb: int, mpl_cache: str,
                       switch_user: bool, substitute: list[str] = ()) -> None:
    """Inside the new mount namespace: build the kernel's root (see the module doc) and enter it."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    links, binds = _plan(allow)
    root = str(own / ".root")
    os.makedirs(root, exist_ok=True)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    own_s, scratch = str(own), str(own / "scratch")
    for where, text in links:
        target = _safe_target(root, where)
        if not os.path.lexists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(text, target)
    for real in binds:
        target = _safe_target(root, real)
        if os.path.isdir(real):
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            Path(target).touch()
        _mount(real, target, None, MS_BIND | MS_REC)
    # The kernel's own folder (its sockets), with the scratch tmpfs in it.
    os.makedirs(_safe_target(root, own_s), exist_ok=True)
    _mount(own_s, root + own_s, None, MS_BIND)
    _remount(root + own_s, read_only=False)
    os.makedirs(root + scratch, exist_ok=True)
    _mount("tmpfs", root + scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_mb}m,mode=1777")
    # /dev: a few device nodes, /dev/shm; /proc of the new process namespace.
    dev = root + "/dev"
    os.makedirs(dev, exist_ok=True)
    _mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for name in _DEVICES:
        Path(dev, name).touch()
        _mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
    for name, text in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                       ("stderr", "/proc/self/fd/2")):
        os.symlink(text, f"{dev}/{name}")
    os.mkdir(f"{dev}/shm")
    _mount("tmpfs", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_mb}m,mode=1777")
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)   # before the host's goes
    etc = root + "/etc"
    if not any(_inside("/etc", b) for b in binds):
        os.makedirs(etc, exist_ok=True)
        files = {"passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                           f"nobody:x:{KERNEL_UID}:{KERNEL_GID}:nobody:{scratch}:/usr/sbin/nologin\n",
                 "group": f"root:x:0:\nnogroup:x:{KERNEL_GID}:\n", "hosts": "127.0.0.1 localhost\n::1 localhost\n"}
        for name, text in files.items():
            if not os.path.lexists(f"{etc}/{name}"):
                Path(etc, name).write_text(text)
    # Paths to hide inside the allowed ones (never one holding an allowed path or this kernel's folder).
    for path in hide:
        real = os.path.realpath(path)
        if not any(_inside(real, b) for b in binds) or any(_inside(p, real) for p in binds + [own_s]):
            continue
        target = _safe_target(root, real)
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
        elif os.path.lexists(target):
            _mount("/dev/null", target, None, MS_BIND)
    # Files shown in place of others (a data file without the grader's held-out part); like hidden
    # paths, only inside the allowed ones, and made read-only below with everything else.
    for pair in substitute:
        source, _, shown = pair.partition("=")
        real = os.path.realpath(shown)
        if not any(_inside(real, b) for b in binds) or not os.path.isfile(source):
            continue
        target = _safe_target(root, real)
        if os.path.isfile(target):
            _mount(os.path.realpath(source), target, None, MS_BIND)
    if mpl_cache and os.path.isdir(mpl_cache):
        shutil.copytree(mpl_cache, root + scratch + "/.matplotlib", symlinks=True, dirs_exist_ok=True)
    if switch_user:
        # The kernel, as nobody, reads its connection file and creates its sockets here; the sticky
        # bit keeps it from replacing what the launcher writes (isolation.txt).
        for entry in os.scandir(own_s):
            if entry.is_file(follow_symlinks=False):
                os.chown(entry.path, -1, KERNEL_GID)
                os.chmod(entry.path, (entry.stat(follow_symlinks=False).st_mode & 0o7777) | 0o040)
        os.chown(own_s, -1, KERNEL_GID)
        os.chmod(own_s, 0o3770)
        for folder, dirs, names in os.walk(root + scratch):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + names)]:
                os.lchown(name, KERNEL_UID, KERNEL_GID)
    writable = {root + own_s, root + scratch, f"{dev}/shm", root + "/proc"}
    for point in _mount_points():
        if not _inside(point, root) or point == root or point in writable or _inside(point, root + "/proc") \
                or point.startswith(f"{dev}/") and os.path.basename(point) in _DEVICES:
            continue
        try:
            _remount(point)
        except OSError:
            if point in {root + b for b in binds} or point == dev:
                raise                  # an allowed path left writable: do not start the kernel
            # a mount below an allowed path that a user namespace keeps locked: not ours to change
    _remount(root)
    os.chdir(root)
    _pivot_root(".", ".")                   # the old root ends up stacked on the new one...
    _check(_libc().umount2(b".", MNT_DETACH), "umount old root")     # ...and goes
    os.chdir("/")


# --------------------------------------------------------------------------- the kernel's side
def _kernel_process(args: argparse.Namespace, own: Path, isolation: str, inline: bool = False) -> None:
    """The process that becomes the kernel (pid 1 of its namespace when isolated). Never returns.

    ``inline``: run ipykernel in this (forked, modules already imported) process instead of
    executing a new interpreter."""
    try:
        scratch = own / "scratch"
        os.environ.setdefault("COURSE_DATA_DIR", data_directories()[0])     # before HOME moves
        if isolation == "namespaces":
            switch_user = os.getuid() == 0 and _uid_map_is_identity()
            _build_file_system(own, args.allow or default_allow_list(), args.hide, args.scratch_mb,
                               args.mpl_cache, switch_user, args.substitute)
        else:
            switch_user = False
            scratch.mkdir(exist_ok=True)
            if args.mpl_cache and os.path.isdir(args.mpl_cache):
                shutil.copytree(args.mpl_cache, scratch / ".matplotlib", dirs_exist_ok=True)
        os.chdir(scratch)
        for name in ("TMPDIR", "TEMP", "TMP", "HOME"):
            os.environ[name] = str(scratch)
        os.environ["MPLCONFIGDIR"] = str(scratch / ".matplotlib")
        # Caches a parent may have pointed elsewhere (torch sets TORCHINDUCTOR_CACHE_DIR in its own
        # environment the first time torch._dynamo is imported, and children inherit it).
        for name, folder in (("TORCHINDUCTOR_CACHE_DIR", "torchinductor"), ("TRITON_CACHE_DIR", "triton"),
                             ("XDG_CACHE_HOME", ".cache"), ("TORCH_HOME", ".cache/torch")):
            os.environ[name] = str(scratch / folder)
        os.environ["IPYTHONDIR"] = str(scratch / ".ipython")
        size = args.max_file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if isolation == "namespaces":
            _drop_privileges(switch_user)
            _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)   # after setuid, which clears it
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
        try:
            (own / "setup-error.txt").write_text(f"{type(err).__name__}: {err}")
        finally:
            os._exit(70)


def _uid_map_is_identity() -> bool:
    """Whether this process is the real root (not root of a user namespace mapped to a user)."""
    try:
        first = Path("/proc/self/uid_map").read_text().split()
        return first[:3] == ["0", "0", "4294967295"]
    except OSError:
        return True


def _start_kernel(args: argparse.Namespace, own: Path) -> int:
    """Fork the process that enters the namespaces and starts the kernel; return its pid."""
    pid = os.fork()
    if pid == 0:
        _kernel_parent(args, own)
    return pid


def _kernel_parent(args: argparse.Namespace, own: Path, inline: bool = False) -> None:
    """Join the memory cgroup, enter the namespaces and start the kernel below; exit with its
    status. Never returns."""
    if inline:
        os.setsid()                      # its own process group: the launcher signals it as a group
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if args.cgroup:
        try:
            Path(args.cgroup, "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            pass                         # the launcher's polling still counts the memory
    isolation = "limits only" if args.no_namespaces else _enter_namespaces()
    (own / "isolation.txt").write_text(isolation)
    if isolation == "namespaces":
        # A pid 1 ignores signals it has no handler for (SIGTERM included): this process outlives
        # the grader's SIGTERM, so that the launcher's SIGKILL finds the whole tree.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        inner = os.fork()           # the first process of a new pid namespace is its pid 1
        if inner == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _kernel_process(args, own, isolation, inline)
        _, status = os.waitpid(inner, 0)
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
    _kernel_process(args, own, isolation, inline)


# --------------------------------------------------------------------------- watching it
class MemoryCgroup:
    """A memory cgroup for one kernel, limited to its memory limit (no swap): cgroup v2, or the
    memory controller of cgroup v1; made by :meth:`create` when this machine lets us."""

    def __init__(self, path: Path, version: int):
        self.path, self.version = path, version

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> MemoryCgroup | None:
        """A new cgroup below this process's own (or, for v2 when that one holds processes, below
        the root), or None where cgroups cannot be made (no permission, read-only, no controller)."""
        for version, base in cls._bases():
            cls._sweep(base)
            try:
                return cls._make(base / name, version, limit_bytes)
            except OSError:
                continue
        return None

    @classmethod
    def sweep(cls) -> None:
        """Remove the empty cgroups of launchers that were killed before they could (SIGKILL)."""
        for _, base in cls._bases():
            cls._sweep(base)

    @staticmethod
    def _sweep(base: Path) -> None:
        for path in base.glob("autograder-*-*"):
            try:
                os.kill(int(path.name.split("-")[1]), 0)
            except ProcessLookupError:
                try:
                    path.rmdir()
                except OSError:
                    pass
            except (ValueError, OSError):
                pass

    @staticmethod
    def _bases() -> list[tuple[int, Path]]:
        """(version, folder) where this process may make a kernel's cgroup, best first."""
        mounts = {}
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            dash = fields.index("-")
            fstype, options = fields[dash + 1], fields[dash + 3].split(",") + fields[5].split(",")
            if fstype == "cgroup2":
                mounts.setdefault(2, fields[4])
            elif fstype == "cgroup" and "memory" in options:
                mounts.setdefault(1, fields[4])
        mine = {}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            number, controllers, path = line.split(":", 2)
            if number == "0":
                mine[2] = path
            elif "memory" in controllers.split(","):
                mine[1] = path
        bases = []
        for version in (2, 1):
            if version in mounts and version in mine:
                bases.append((version, Path(mounts[version] + mine[version])))
                if version == 2 and mine[2] != "/":
                    bases.append((2, Path(mounts[2])))
        return [(version, base) for version, base in bases if os.access(base, os.W_OK)]

    @classmethod
    def _make(cls, path: Path, version: int, limit_bytes: int) -> MemoryCgroup:
        if version == 2:
            control = path.parent / "cgroup.subtree_control"
            if "memory" not in control.read_text().split():
                control.write_text("+memory")
        path.mkdir()
        group = cls(path, version)
        try:
            if version == 2:
                (path / "memory.max").write_text(str(limit_bytes))
                for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                    if (path / name).exists():
                        (path / name).write_text(value)
            else:
                (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
                if (path / "memory.memsw.limit_in_bytes").exists():
                    (path / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
        except OSError:
            group.remove()
            raise
        return group

    def oom_kills(self) -> int:
        """How many processes the OS killed in this cgroup for its memory limit."""
        try:
            text = (self.path / ("memory.events" if self.version == 2 else "memory.oom_control")).read_text()
        except OSError:
            return 0
        counts = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
        return int(counts.get("oom_kill", 0)) + int(counts.get("oom_group_kill", 0))

    def remove(self) -> None:
        """Remove it once its processes are gone (waits up to 2 s for them)."""
        deadline = time.monotonic() + 2
        while True:
            try:
                self.path.rmdir()
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.02)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc/PID/task/TID/children (a scan of every process of the
    machine, as psutil does, costs more than the rest of a poll), else from psutil."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue                               # ended meanwhile
        found.append(current)
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    pending += [int(child) for child in handle.read().split()]
            except FileNotFoundError:
                if not os.path.exists(f"/proc/{current}/task/{task}"):
                    continue                       # a thread that ended
                return _tree_psutil(pid)           # a kernel built without CONFIG_PROC_CHILDREN
            except OSError:
                continue
    return found


def _tree_psutil(pid: int) -> list[int]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [pid] + [child.pid for child in root.children(recursive=True)]
    except psutil.Error:
        return []


def read_owned(path: Path) -> str | None:
    """A file the launcher wrote in a kernel's folder, or None when it is missing or not the launcher's
    (the kernel, a different user in the sandbox, can replace files in its folder but not own them)."""
    try:
        if path.is_symlink() or path.stat().st_uid != os.getuid():
            return None
        return path.read_text()
    except (OSError, ValueError):
        return None


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants, read from /proc outside
    the kernel, so that nothing the notebook does to its own clocks changes it. Descendants that ended
    count through their waiting parent's ``cutime``/``cstime``; in the sandbox's pid namespace orphans
    are reaped by its first process, which is in the tree."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in _tree(pid):
        try:
            with open(f"/proc/{member}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue                               # ended meanwhile: its time is in its parent's cutime
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime (fields 14-17)
    return total / ticks


def _status_fields(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("RssAnon", "RssShmem"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def _tmpfs_used(path: str, host_path: str) -> int:
    """Bytes used on the tmpfs mounted at ``path`` (seen through /proc/PID/root), unless it is
    still the host's file system at ``host_path`` (the sandbox is not built yet)."""
    try:
        if os.stat(path).st_dev == os.stat(host_path).st_dev:
            return 0
        info = os.statvfs(path)
        return (info.f_blocks - info.f_bfree) * info.f_frsize
    except OSError:
        return 0


def memory_usage(pids: list[int], own: Path) -> dict[str, int]:
    """Bytes held by the kernel whose processes are ``pids``, by kind:

    * ``anonymous``: anonymous resident memory of every process (RssAnon);
    * ``shared``: the tmpfs usage of its scratch folder and ``/dev/shm`` (files written there,
      mapped or not, deleted but open), System V segments and shared anonymous mappings;
    * ``memfd``: memfd files, open or mapped (allocated blocks, each file once).

    Shared objects are found through ``/proc/PID/fd`` and ``/proc/PID/map_files`` (root only; else
    the processes' resident shared memory, RssShmem, is counted instead)."""
    usage = {"anonymous": 0, "shared": 0, "memfd": 0}
    objects: dict[tuple[int, int], tuple[str, int]] = {}
    sandbox_root = None
    for pid in pids:
        try:
            fields = _status_fields(pid)
            usage["anonymous"] += fields.get("RssAnon", 0)
            if sandbox_root is None and os.stat(f"/proc/{pid}/root/").st_dev != os.stat("/").st_dev:
                sandbox_root = f"/proc/{pid}/root"
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:"):
                        info = os.stat(f"/proc/{pid}/fd/{fd}")
                        objects[(info.st_dev, info.st_ino)] = ("memfd", info.st_blocks * 512)
                except OSError:
                    continue
            denied = False
            with open(f"/proc/{pid}/maps") as maps:
                for line in maps:
                    parts = line.split(None, 5)
                    if len(parts) < 6:
                        continue
                    name = parts[5].rstrip("\n")
                    if not (name.startswith(("/memfd:", "/SYSV")) or name == "/dev/zero (deleted)"):
                        continue
                    try:
                        info = os.stat(f"/proc/{pid}/map_files/{parts[0]}")
                    except PermissionError:
                        denied = True
                        break
                    except OSError:
                        continue
                    kind = "memfd" if name.startswith("/memfd:") else "shared"
                    objects[(info.st_dev, info.st_ino)] = (kind, info.st_blocks * 512)
            if denied:
                usage["shared"] += fields.get("RssShmem", 0)
        except OSError:
            continue                       # the process ended meanwhile
    for kind, size in objects.values():
        usage[kind] += size
    if sandbox_root is not None:
        usage["shared"] += _tmpfs_used(f"{sandbox_root}{own}/scratch", str(own / "scratch"))
        usage["shared"] += _tmpfs_used(f"{sandbox_root}/dev/shm", "/dev/shm")
    return usage


def _folder_bytes(own: Path, cap: int = 10_000) -> tuple[int, int]:
    """Bytes of the files in the kernel's folder on the host (its scratch tmpfs is counted as memory),
    and how many entries (the walk stops at ``cap``)."""
    total, count, stack = 0, 0, [str(own)]
    while stack and count < cap:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    count += 1
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != ".root":
                            stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
        except OSError:
            continue
    return total, count


def _kill_tree(pid: int) -> None:
    for member in reversed(_tree(pid)):
        try:
            os.kill(member, signal.SIGKILL)
        except OSError:
            pass


def _gb(size: int) -> str:
    return f"{size / 2**30:.2f} GB"


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
    MemoryCgroup.sweep()


def _killpg(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder.sandbox")
    parser.add_argument("--dir", type=Path, help="this kernel's folder (status.json, scratch/)")
    parser.add_argument("--allow", action="append", default=[],
                        help="path the kernel may read (repeatable; none given: default_allow_list())")
    parser.add_argument("--hide", action="append", default=[], help="path inside an allowed one to empty")
    parser.add_argument("--substitute", action="append", default=[], metavar="FILE=SHOWN",
                        help="show FILE (read-only) in place of the allowed file SHOWN (repeatable)")
    parser.add_argument("--memory-mb", type=int, default=4096)
    parser.add_argument("--max-procs", type=int, default=64)
    parser.add_argument("--wall", type=float, default=0, help="seconds for the whole notebook (0: none)")
    parser.add_argument("--max-file-mb", type=int, default=512)
    parser.add_argument("--scratch-mb", type=int, default=512,
                        help="size of the scratch folder and of /dev/shm (each), and of the kernel's folder")
    parser.add_argument("--mpl-cache", default="", help="matplotlib cache copied into the scratch folder")
    parser.add_argument("--no-namespaces", action="store_true")
    parser.add_argument("--no-cgroup", action="store_true", help="count memory by polling only")
    parser.add_argument("--cgroup", default="", help=argparse.SUPPRESS)     # set by the launcher
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
        options = (["--cgroup", args.cgroup] if args.cgroup else []) + options
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


def _read_small(path: Path, limit: int = 4096) -> str | None:
    """A file the kernel could have replaced: not followed if a link, at most ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit).decode(errors="replace")
    finally:
        os.close(fd)


def _write_status(own: Path, status: dict) -> None:
    """``status.json``, written so that nothing the kernel left in its folder (a link) redirects it."""
    _write_owned(own / "status.json", json.dumps(status))


def _write_owned(target: Path, text: str) -> None:
    """Write ``target`` in the kernel's folder so that nothing the kernel left there (a link) redirects
    it; readers believe it only when it belongs to the launcher's user (see read_owned)."""
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)        # a folder the kernel made in its place
    tmp.replace(target)


def _ending(exit_code: int, args: argparse.Namespace, setup_error: str | None) -> tuple[str, str | None, str]:
    """(kind, reason, detail) of a kernel that ended without the launcher stopping it."""
    signum = -exit_code if exit_code < 0 else exit_code - 128 if exit_code > 128 else 0
    if signum == signal.SIGXFSZ:
        reason = f"file size limit exceeded (a file written by the notebook reached {args.max_file_mb} MB)"
        return "file", reason, reason
    if setup_error:
        return "crash", None, f"the sandbox could not start the kernel: {setup_error}"
    if signum:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = "unknown"
        return "crash", None, f"the kernel crashed (signal {signum}, {name})"
    return "exit", None, f"the kernel exited (exit code {exit_code})"


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
    limit = args.memory_mb * 2**20
    cgroup = None
    if limit and not args.no_cgroup:
        cgroup = MemoryCgroup.create(f"autograder-{os.getpid()}-{own.name}", limit)
        args.cgroup = str(cgroup.path) if cgroup else ""

    served = _via_server(args, argv) if args.server else None
    if served:
        pid, conn = served
        conn.setblocking(False)
        # The forked kernel has its own process group: pass interrupts on, and take it down with us.
        signal.signal(signal.SIGINT, lambda *_: _killpg(pid, signal.SIGINT))
    else:
        pid, conn = _start_kernel(args, own), None
    _write_owned(own / "kernel.pid", str(pid))      # for the grader's outside measures (cpu_seconds)
    stopping = []                                   # SIGTERM (the grader shutting the kernel down)
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))

    reason, kind, detail, start, exit_code, parent = None, None, None, time.monotonic(), None, os.getppid()
    peak = {"anonymous": 0, "shared": 0, "memfd": 0}
    while exit_code is None:
        exit_code = _finished(pid, conn)
        if exit_code is not None:
            break
        tree = _tree(pid)
        usage = memory_usage(tree, own)
        if sum(usage.values()) >= sum(peak.values()):
            peak = usage
        folder, entries = _folder_bytes(own)
        if (limit and sum(usage.values()) > limit) or (cgroup is not None and cgroup.oom_kills()):
            kind, reason = "memory", _memory_reason(args.memory_mb, peak)
        elif args.max_procs and len(tree) > args.max_procs:
            kind, reason = "processes", f"too many processes ({len(tree)}, limit {args.max_procs})"
        elif folder > args.scratch_mb * 2**20 or entries >= 10_000:
            kind = "file"
            reason = (f"the notebook wrote more than {args.scratch_mb} MB or 10000 files into its folder")
        elif args.wall and time.monotonic() - start > args.wall:
            kind, reason = "time", f"notebook time limit exceeded ({args.wall:g} s)"
        elif os.getppid() != parent or stopping:
            # no orphaned kernels after a killed batch (not a limit: no reason)
            kind, detail = "exit", "the grader stopped" if os.getppid() != parent else "stopped by the grader"
            break
        if reason:
            detail = reason
            break
        time.sleep(0.2)
    if exit_code is None:                           # stop it (a limit, or the grader)
        if conn is not None:
            _killpg(pid)
        else:
            _kill_tree(pid)
        while exit_code is None:
            exit_code = _finished(pid, conn, block=True)
    setup_error = _read_small(own / "setup-error.txt")
    if reason is None and cgroup is not None and cgroup.oom_kills():
        kind, reason = "memory", _memory_reason(args.memory_mb, peak)     # the OS stopped it at the limit
        detail = reason
    elif kind is None:
        kind, reason, detail = _ending(exit_code, args, setup_error)
    status = {"kind": kind, "reason": reason, "detail": detail, "exit_code": exit_code,
              "seconds": round(time.monotonic() - start, 2),
              "isolation": _read_small(own / "isolation.txt") or "unknown", "setup_error": setup_error,
              "forked": conn is not None, "memory_accounting": f"cgroup v{cgroup.version}" if cgroup else "polling",
              "memory_peak_mb": {k: round(v / 2**20, 1) for k, v in peak.items()}}
    if cgroup is not None:
        cgroup.remove()
    _write_status(own, status)
    if args.no_namespaces:
        shutil.rmtree(own / "scratch", ignore_errors=True)
    try:
        (own / ".root").rmdir()
    except OSError:
        pass
    return exit_code if exit_code >= 0 else 128 - exit_code


def _memory_reason(limit_mb: int, usage: dict[str, int]) -> str:
    return (f"memory limit of {limit_mb} MB exceeded (anonymous {_gb(usage['anonymous'])}, "
            f"shared memory {_gb(usage['shared'])}, memfd {_gb(usage['memfd'])})")


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

