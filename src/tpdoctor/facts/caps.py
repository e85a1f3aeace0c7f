"""Linux capabilities by name, read from the CapEff mask that facts/process.py collects."""

from __future__ import annotations

from tpdoctor.model.facts import Facts

# Linux capability bit numbers (include/uapi/linux/capability.h).
CAP_BITS = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "IPC_LOCK": 14,
    "SYS_MODULE": 16,
    "SYS_RAWIO": 17,
    "SYS_PTRACE": 19,
    "SYS_ADMIN": 21,
    "SYS_NICE": 23,
    "SYS_RESOURCE": 24,
    "MKNOD": 27,
}
# CAP_CHOWN .. CAP_CHECKPOINT_RESTORE (40): the set a privileged container gets on kernels >= 5.9.
ALL_CAPS_MASK = (1 << 41) - 1


def has_cap(facts: Facts, name: str) -> bool | None:
    """Is capability `name` ("SYS_PTRACE") in the effective set? None when CapEff is unknown."""
    eff = facts.process.cap_eff
    return None if eff is None else bool(eff >> CAP_BITS[name] & 1)
