"""How a child process died, in one fact, whatever launcher printed it.

A rank, worker or container killed by a signal is reported by every launcher in its own words: as
the signal (`SIGBUS`, `signal 7`, `Bus error`, `status=7/BUS`), as a Python return code (`-7`), as
a shell or runtime exit status (`135` = 128 + 7) or as a raw wait status (`135` = 0x80 core flag
| 7). The fact patterns in data/signatures.yaml (`facts:`, ids `death-*`, each citing the source
that prints it) capture one of these groups, and `signal_of` turns them into one value:

- `death_signum`: the signal number itself;
- `death_rc`: a Python return code or an exit status: negative is -signal (subprocess.Popen,
  multiprocessing.Process.exitcode), 129..159 is 128 + signal (POSIX shells, Docker, Kubernetes,
  Slurm, MPICH; runc/containerd report a container killed by a signal the same way);
- `death_wait`: a raw `os.waitpid` status (SGLang's SIGCHLD handler logs it as "exitcode"): the low
  seven bits are the signal, 0x80 the core-dump flag, an exit status sits in the high byte;
- `death_name`: a name (`SIGBUS`, `BUS`), glibc's strsignal text (`Bus error`, `Killed`,
  `Segmentation fault`), Go's (`bus error`, `killed`) or an OOM report (`OOMKilled`, Slurm's
  `Out Of Memory`, the kernel's `Out of memory: Killed process`, systemd's `oom-kill`).

The scanner keeps the first line of each signal (`ScanResult.deaths`) and the fact `child_signal`.
What it means is decided elsewhere: SIGBUS is the /dev/shm symptom (explain/differential.py,
correlate._child_deaths), an OOM kill is a failure with no container cause (a root that explains
the generic errors after it, and a terminal line that is `not-container`), a bare SIGKILL or
SIGSEGV only a note (a launcher kills the other ranks with SIGKILL once one has failed: SGLang's
kill_process_tree, Hydra's cleanup, Open MPI's).
"""

from __future__ import annotations

import re

# Linux signal numbers (x86, ARM, POWER, s390: asm-generic/signal.h); the ones launchers report.
SIGNALS = {
    1: "SIGHUP",
    2: "SIGINT",
    3: "SIGQUIT",
    4: "SIGILL",
    5: "SIGTRAP",
    6: "SIGABRT",
    7: "SIGBUS",
    8: "SIGFPE",
    9: "SIGKILL",
    10: "SIGUSR1",
    11: "SIGSEGV",
    12: "SIGUSR2",
    13: "SIGPIPE",
    14: "SIGALRM",
    15: "SIGTERM",
}
# glibc string/strsignal.c (sys_siglist) as bash, Slurm's srun, Open MPI and MPICH print it; Go's
# syscall.Signal.String() (zerrors_linux_*.go signals table) in lower case; Python's faulthandler
# ("Fatal Python error: Bus error"); absl's failure signal handler prints the SIG name.
_TEXTS = {
    "hangup": "SIGHUP",
    "interrupt": "SIGINT",
    "quit": "SIGQUIT",
    "illegal instruction": "SIGILL",
    "aborted": "SIGABRT",
    "abort": "SIGABRT",
    "bus error": "SIGBUS",
    "floating point exception": "SIGFPE",
    "killed": "SIGKILL",
    "segmentation fault": "SIGSEGV",
    "broken pipe": "SIGPIPE",
    "terminated": "SIGTERM",
}
# Reports that name the OOM killer: Kubernetes' container state reason (kubelet, from the runtime's
# cgroup OOM event), Slurm srun's "Out Of Memory" (SIG_OOM), the kernel's mm/oom_kill.c
# "Out of memory: Killed process" / "Memory cgroup out of memory: Killed process", systemd's
# "Failed with result 'oom-kill'", slurmstepd's "Detected N oom-kill event(s)".
_OOM = re.compile(r"(?i)^(?:oomkilled|out of memory|oom-kill|oom)$")
OOM = "OOM"  # the key under which ScanResult.deaths keeps the first OOM report


# A number a log line gives is at most this many digits where a signature captures it: int() refuses strings over
# 4300 digits (ValueError, an internal error of explain on a line such as `Killed by signal 999…9`, gsafe45), and no
# real count, code, signal or address is longer. Longer runs are cut to it (a huge number stays a huge number).
MAX_GROUP_DIGITS = 40
_LONG_DIGITS = re.compile(rf"\d{{{MAX_GROUP_DIGITS + 1},}}")


def match_groups(m: re.Match[str]) -> dict[str, str]:
    """A match's named groups that matched, each digit run cut to MAX_GROUP_DIGITS."""
    out = {}
    for k, v in m.groupdict().items():
        if v is not None:
            out[k] = _LONG_DIGITS.sub(lambda d: d.group()[:MAX_GROUP_DIGITS], v) if len(v) > MAX_GROUP_DIGITS else v
    return out


def signal_of(groups: dict[str, str]) -> str | None:
    """The signal a fact match names (`SIGBUS`), `OOM` for an OOM-killer report, None when the number is
    an ordinary exit status (`Exit code: 1`) or unknown. Group names may carry a digit suffix
    (`death_rc2`) so one pattern can hold several forms."""
    for key, value in groups.items():
        kind = key.rstrip("0123456789")
        value = value.strip()
        if kind == "death_name":
            name = _by_name(value)
        elif kind == "death_signum":
            name = SIGNALS.get(int(value)) if value.isdigit() else None
        elif kind == "death_rc":
            name = _by_return_code(value)
        elif kind == "death_wait":
            name = _by_wait_status(value)
        else:
            continue
        if name is not None:
            return name
    return None


def _by_name(value: str) -> str | None:
    if _OOM.match(value):
        return OOM
    upper = value.upper()
    if upper.startswith("SIG") and upper in SIGNALS.values():
        return upper
    if "SIG" + upper in SIGNALS.values():  # systemd's status=7/BUS
        return "SIG" + upper
    return _TEXTS.get(value.lower())


def _by_return_code(value: str) -> str | None:
    try:
        n = int(value)
    except ValueError:
        return None
    if n < 0:
        return SIGNALS.get(-n)
    if 128 < n < 160:
        return SIGNALS.get(n - 128)
    return None


def _by_wait_status(value: str) -> str | None:
    if not value.isdigit():
        return None
    status = int(value)
    signum = status & 0x7F
    if signum == 0:  # exited: the status is in the high byte, read it as an exit status
        return _by_return_code(str(status >> 8))
    return SIGNALS.get(signum) if signum != 0x7F else None  # 0x7f: stopped, not dead
