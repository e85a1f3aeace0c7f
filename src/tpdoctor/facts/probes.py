"""Live syscall probes (only with no --root): they ask the kernel what a rank would be told.

- open(O_RDWR) of each GPU node: ENOENT absent, EPERM device cgroup, EACCES DAC/group,
  ENXIO allowed but no driver behind the node.
- opendir of the drmfd directory (oneCCL ze_fd_manager.cpp:158-159 @3afa1bb7).
- oneCCL's own pidfd self-test (is_pidfd_supported, ze_fd_manager.cpp:65-96): mkstemp in /tmp,
  pidfd_open(getpid()), pidfd_getfd(self, fd); syscalls 434/438 as oneCCL hard-codes them (:27-33).
- A sibling test: two forked processes, one pidfd_getfd()s the other's fd. Ranks are siblings,
  so this meets Yama ptrace_scope the way the real exchange does (ze_fd_manager.cpp:388-409);
  the self-test never does because the kernel skips the check within one thread group.
- clone3(NULL, 0) (syscall 435, the same number on every architecture): the kernel refuses the size with EINVAL
  before it makes anything, so the errno says only whether a seccomp profile lets clone3 through (EINVAL), refuses it
  with ENOSYS (glibc falls back to clone) or with EPERM (glibc 2.34+ creates no thread: seccomp.clone3-eperm).

Every probe that could block runs in a forked child with a deadline; none needs privileges.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import select
import signal
import stat
import tempfile
from collections.abc import Callable
from typing import Any

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.model.facts import Facts, LiveProbes, ProbeResult

NR_PIDFD_OPEN = 434  # same number on x86-64 and the asm-generic table (arm64, riscv)
NR_PIDFD_GETFD = 438
NR_CLONE3 = 435  # asm-generic and x86-64 alike (syscalls from 424 on share one number on every architecture)
PROBE_TIMEOUT_S = 2.0
DEFAULT_DRMFD_DIR = "/dev/dri/by-path/"


def errno_name(code: int) -> str:
    return errno.errorcode.get(code, str(code))


def open_errno(path: str) -> str:
    """'ok' or the errno name of open(path, O_RDWR), as oneCCL opens render nodes (:227)."""
    flags = os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        st = os.stat(path)
    except OSError as exc:
        return errno_name(exc.errno or 0)
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        return "ENODEV"  # never open a fifo or file in place of a device: it could block
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return errno_name(exc.errno or 0)
    os.close(fd)
    return "ok"


def opendir_errno(path: str) -> str:
    try:
        with os.scandir(path):
            return "ok"
    except OSError as exc:
        return errno_name(exc.errno or 0)


def _syscall(nr: int, *args: int) -> tuple[int, int]:
    libc = ctypes.CDLL(None, use_errno=True)
    ret = int(libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args)))
    return ret, ctypes.get_errno() if ret < 0 else 0


def _fail(step: str, err: int, detail: str | None = None) -> dict[str, Any]:
    return {"ok": False, "step": step, "errno": errno_name(err), "detail": detail}


def _self_test(tmpdir: str) -> dict[str, Any]:
    try:
        fd, path = tempfile.mkstemp(prefix="oneccl_pidfd_check_get", dir=tmpdir)
    except OSError as exc:
        return _fail("mkstemp", exc.errno or 0, f"{tmpdir}: {exc.strerror}")
    try:
        os.unlink(path)
        pidfd, err = _syscall(NR_PIDFD_OPEN, os.getpid(), 0)
        if pidfd < 0:
            return _fail("pidfd_open", err)
        newfd, err = _syscall(NR_PIDFD_GETFD, pidfd, fd, 0)
        if newfd < 0:
            return _fail("pidfd_getfd", err)
        os.close(newfd)
        os.close(pidfd)
        return {"ok": True}
    finally:
        os.close(fd)


def run_in_child(fn: Callable[[], dict[str, Any]], timeout: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """Run fn in a forked child (a seccomp KILL or a hang cannot take us down) with a deadline."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            out = fn()
        except BaseException as exc:  # the child must always report and exit
            out = {"ok": False, "step": "exception", "detail": repr(exc)}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], timeout)
        data = b""
        if ready:
            while chunk := os.read(r, 65536):
                data += chunk
    finally:
        os.close(r)
        _reap(pid)
    if not data:
        return ProbeResult(ok=False, step="timeout", detail=f"no answer within {timeout}s (killed)")
    return ProbeResult(**json.loads(data))


def _reap(pid: int) -> None:
    done, _ = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


def pidfd_self_test(tmpdir: str = "/tmp", timeout: float = PROBE_TIMEOUT_S) -> ProbeResult:
    return run_in_child(lambda: _self_test(tmpdir), timeout)


def pidfd_sibling_test(timeout: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """Holder and taker are both children of this process, like two local ranks."""
    held_r, held_w = os.pipe()  # the fd the holder owns; a pipe needs no writable /tmp
    stop_r, stop_w = os.pipe()
    expected = os.fstat(held_r).st_ino
    holder = os.fork()
    if holder == 0:
        os.close(stop_w)
        select.select([stop_r], [], [], timeout + 1.0)  # lives until told or timed out
        os._exit(0)
    os.close(stop_r)

    def take() -> dict[str, Any]:
        os.close(held_r)  # the taker must get the fd from the holder, not from its own table
        pidfd, err = _syscall(NR_PIDFD_OPEN, holder, 0)
        if pidfd < 0:
            return _fail("pidfd_open", err)
        newfd, err = _syscall(NR_PIDFD_GETFD, pidfd, held_fd, 0)
        if newfd < 0:
            return _fail("pidfd_getfd", err, "cross-process: Yama ptrace_scope / CAP_SYS_PTRACE")
        if os.fstat(newfd).st_ino != expected:
            return {"ok": False, "step": "verify", "detail": "got a different file"}
        return {"ok": True}

    held_fd = held_r
    try:
        return run_in_child(take, timeout)
    finally:
        os.close(stop_w)
        os.close(held_r)
        os.close(held_w)
        _reap(holder)


def clone3_errno() -> str:
    """The errno name of clone3(NULL, 0): EINVAL when clone3 reaches the kernel (a size below CLONE_ARGS_SIZE_VER0 is
    refused before anything is created: kernel/fork.c copy_clone_args_from_user), else what refused it."""
    ret, err = _syscall(NR_CLONE3, 0, 0)
    if ret >= 0:  # cannot happen with a NULL struct; never leave a child behind
        if ret == 0:
            os._exit(0)
        _reap(ret)
        return "ok"
    return errno_name(err)


def glibc_version() -> str | None:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        return None


def collect_probes(ctx: CollectContext, facts: Facts) -> None:
    if not ctx.live:
        return
    probes = LiveProbes()
    for node in facts.dev:
        name = node.path.rsplit("/", 1)[-1]
        gpu_node = node.kind == "char" or node.resolved is not None
        if gpu_node and (node.path.startswith("/dev/dri/") or name == "kfd"):
            probes.opens[node.path] = open_errno(str(ctx.path(node.path)))
    drmfd_dir = ctx.env.get("CCL_DRMFD_DEV_RENDER_DIR_PATH") or DEFAULT_DRMFD_DIR
    probes.bypath_opendir = opendir_errno(str(ctx.path(drmfd_dir)))
    try:
        fd, path = tempfile.mkstemp(prefix="tpdoctor-", dir=ctx.path("/tmp"))
        os.close(fd)
        os.unlink(path)
        probes.tmp_writable = True
    except OSError:
        probes.tmp_writable = False
    facts.tmp_writable = probes.tmp_writable
    probes.pidfd_self_test = pidfd_self_test(str(ctx.path("/tmp")))
    probes.pidfd_sibling_test = pidfd_sibling_test()
    # in a forked child, as the pidfd probes: a filter that kills or traps clone3 (SCMP_ACT_KILL, systemd's
    # SystemCallFilter= without an errno) must not take this process down
    res = run_in_child(lambda: {"ok": True, "step": "clone3", "detail": clone3_errno()})
    probes.clone3 = res.detail if res.ok else "killed"
    probes.glibc = glibc_version()
    facts.probes = probes


COLLECTORS.append(collect_probes)
