"""Why a verify run was slow or failed: the variables that force the backend's choices.

`check`'s environment rules (rules/envvars.py) know which variables exist and which values
their consumer accepts. This module adds, for the variables that *steer* a collective, what
they force (channels, algorithm, protocol, transport, P2P level) and how the ranks' own logs
show that they took effect, so that a degraded or failed measurement names its likely cause.

Sources of the effects:
  NCCL   docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html; log lines from NVIDIA/nccl
         v2.28.9-1: misc/param.cc ("%s set by environment to %lld."), graph/tuning.cc
         ("NCCL_ALGO set by environment to %s"), init.cc ("%d coll channels, ..."),
         enqueue.cc:1859 (the forced-algorithm failure, FORCED_ALGO below).
  RCCL   reads the NCCL_* names (rocm.docs.amd.com/projects/rccl, "RCCL environment variables":
         NCCL_ALGO, NCCL_PROTO, NCCL_MIN_CTAS/NCCL_MAX_CTAS ...), plus RCCL_MSCCL_ENABLE and
         RCCL_MSCCLPP_ENABLE ("RCCL usage tips", MSCCL/MSCCL++).
  oneCCL oneapi-src.github.io/oneCCL/env-variables.html, "Collective Algorithms Selection": for
         GPU buffers the default algorithm is topo; any other CCL_<COLL> choice runs a
         non-hierarchical algorithm that copies the GPU buffers to the host.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from tpdoctor.rules.envvars import KNOWN
from tpdoctor.units import parse_small_int
from tpdoctor.verify.results import EnvCause, TransportInfo


def _any(value: str) -> bool:
    return value.strip() != ""


def _truthy(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def _zero(value: str) -> bool:
    return value.strip() == "0"


@dataclass(frozen=True)
class Forcing:
    forces: str  # channels | algorithm | protocol | transport | p2p-level | buffers
    effect: str
    backends: tuple[str, ...] = ("nccl",)  # verify backends that read it (nccl = NCCL and RCCL)
    active: Callable[[str], bool] = _any


_ONECCL = ("xccl", "ccl")
_ONECCL_ALGO = (
    "selects oneCCL's algorithm for this collective; for GPU buffers anything but topo runs a "
    "non-hierarchical algorithm that copies the buffers to host memory"
)
FORCING: dict[str, Forcing] = {
    "NCCL_MAX_NCHANNELS": Forcing(
        "channels",
        "caps the channels (parallel rings/trees) NCCL may use: at bandwidth-bound sizes busbw falls "
        "roughly with the channel count",
    ),
    "NCCL_MAX_CTAS": Forcing("channels", "caps the CTAs (channels) per collective, as NCCL_MAX_NCHANNELS"),
    "NCCL_MIN_NCHANNELS": Forcing(
        "channels", "forces at least this many channels: small messages pay for CTAs they do not need"
    ),
    "NCCL_MIN_CTAS": Forcing(
        "channels", "forces at least this many CTAs per collective, as NCCL_MIN_NCHANNELS"
    ),
    "NCCL_NTHREADS": Forcing("channels", "sets the threads per CTA: fewer threads move less data per step"),
    "NCCL_ALGO": Forcing(
        "algorithm",
        "limits NCCL to the listed algorithms (Ring, Tree, NVLS, CollNet*, PAT): a collective none of "
        "them implements fails with 'no algorithm/protocol available'; one that runs can be slower than "
        "NCCL's own choice",
    ),
    "NCCL_PROTO": Forcing(
        "protocol",
        "limits the protocols (LL, LL128, Simple): without LL small messages pay Simple's latency; "
        "LL alone halves the bandwidth of large ones",
    ),
    "NCCL_P2P_LEVEL": Forcing(
        "p2p-level",
        "sets how far apart (topology distance) two GPUs may be for NCCL to use P2P; LOC or PIX keeps "
        "NVLink-connected GPUs off P2P, through host memory (SHM)",
    ),
    "NCCL_P2P_DISABLE": Forcing(
        "transport",
        "switches off P2P (NVLink/PCIe peer access): ranks of one host go through host memory (SHM), "
        "about 10x lower bandwidth on H200",
        active=_truthy,
    ),
    "NCCL_SHM_DISABLE": Forcing(
        "transport",
        "switches off the SHM transport: where P2P is also off, ranks of one host talk over sockets",
        active=_truthy,
    ),
    "NCCL_NET": Forcing("transport", "forces one network transport (e.g. Socket) between nodes"),
    "NCCL_IB_DISABLE": Forcing(
        "transport",
        "switches off InfiniBand/RoCE: across nodes NCCL falls back to TCP sockets",
        active=_truthy,
    ),
    "NCCL_NET_GDR_LEVEL": Forcing(
        "transport", "limits GPUDirect RDMA by topology distance: network traffic is staged in host memory"
    ),
    "NCCL_BUFFSIZE": Forcing(
        "buffers", "sets the per-channel buffer: a small one splits each message into more steps"
    ),
    "RCCL_MSCCL_ENABLE": Forcing(
        "algorithm", "switches RCCL's MSCCL algorithms on or off for the sizes they cover"
    ),
    "RCCL_MSCCLPP_ENABLE": Forcing(
        "algorithm", "switches RCCL's MSCCL++ kernels on or off for small messages"
    ),
    "CCL_ALLREDUCE": Forcing("algorithm", _ONECCL_ALGO, _ONECCL, lambda v: v.strip().lower() != "topo"),
    "CCL_ALLGATHERV": Forcing("algorithm", _ONECCL_ALGO, _ONECCL, lambda v: v.strip().lower() != "topo"),
    "CCL_REDUCE_SCATTER": Forcing("algorithm", _ONECCL_ALGO, _ONECCL, lambda v: v.strip().lower() != "topo"),
    "CCL_ALLREDUCE_SCALEOUT": Forcing(
        "algorithm", "selects oneCCL's all-reduce algorithm between nodes", _ONECCL
    ),
    "CCL_REDUCE_SCATTER_MONOLITHIC_KERNEL": Forcing(
        "transport", "copy engines (0) or compute kernels (1) move reduce data between GPUs", _ONECCL
    ),
    "CCL_ALLGATHERV_MONOLITHIC_PIPELINE_KERNEL": Forcing(
        "transport", "copy engines (0) or compute kernels (1) move all-gather data between GPUs", _ONECCL
    ),
    "CCL_ATL_TRANSPORT": Forcing(
        "transport",
        "mpi routes oneCCL's transport through MPI instead of libfabric (ofi)",
        _ONECCL,
        lambda v: v.strip().lower() == "mpi",
    ),
    "CCL_ZE_IPC_EXCHANGE": Forcing(
        "transport",
        "sets how GPU IPC handles are exchanged (pidfd, drmfd, sockets); oneCCL >= 2021.14 may replace it",
        _ONECCL,
    ),
    "CCL_TOPO_P2P_ACCESS": Forcing(
        "p2p-level",
        "0 tells oneCCL that the GPUs have no peer access: copies go through the host",
        _ONECCL,
        _zero,
    ),
    "CCL_WORKER_COUNT": Forcing("channels", "sets oneCCL's progress workers per rank", _ONECCL),
    "FI_PROVIDER": Forcing(
        "transport", "forces one libfabric provider (shm, tcp, ...) under oneCCL", _ONECCL
    ),
}

# NVIDIA/nccl v2.28.9-1 src/enqueue.cc:1859:
#   WARN("Error : no algorithm/protocol available for function %s with datatype %s.%s%s", ...)
#   with " NCCL_ALGO was set to %s." / " NCCL_PROTO was set to %s." appended when set, and
#   ncclInvalidUsage returned (ncclInternalError when neither is set). NCCL <= 2.2x printed
#   "Error : no algorithm/protocol available" alone (enqueue.cc, topoGetAlgoInfo); RCCL prints the
#   same text. torch puts ncclGetLastError() after "Last error:" in its DistBackendError.
FORCED_ALGO = re.compile(
    r"[Nn]o algorithm/protocol available"
    r"(?: for function (?P<func>\w+) with datatype (?P<dtype>\w+)\.)?"
    r"(?: NCCL_ALGO was set to (?P<algo>[^.\n]*)\.)?"
    r"(?: NCCL_PROTO was set to (?P<proto>[^.\n]*)\.)?"
)


@dataclass(frozen=True)
class ForcedAlgoFailure:
    line: str
    function: str | None
    datatype: str | None
    algo: str | None
    proto: str | None


def forced_algo_failure(texts: Iterable[str], env: Mapping[str, str]) -> ForcedAlgoFailure | None:
    """NCCL's 'no algorithm/protocol available' in an error or log line, with the forcing values
    (from the message itself, else from the ranks' environment)."""
    for text in texts:
        m = FORCED_ALGO.search(text)
        if not m:
            continue
        return ForcedAlgoFailure(
            line=text.strip()[:300],
            function=m.group("func"),
            datatype=m.group("dtype"),
            algo=m.group("algo") or env.get("NCCL_ALGO"),
            proto=m.group("proto") or env.get("NCCL_PROTO"),
        )
    return None


def _seen(name: str, value: str, f: Forcing, tinfo: TransportInfo | None, fallback: bool) -> str | None:
    """A log line showing that the variable took effect, where the log says so."""
    if tinfo is None:
        return None
    # The channel count NCCL settled on equals the bound: the bound is what decided it.
    if name in ("NCCL_MAX_NCHANNELS", "NCCL_MAX_CTAS", "NCCL_MIN_NCHANNELS", "NCCL_MIN_CTAS"):
        # at most 18 digits: a 5000-digit value made int() raise after the sweep (gsafe45)
        if tinfo.coll_channels and tinfo.coll_channels == parse_small_int(value):
            bound = "capped at" if "_MAX_" in name else "raised to"
            return f"NCCL INFO {tinfo.coll_channels} coll channels ({bound} {value.strip()})"
    if f.forces in ("transport", "p2p-level") and fallback:
        fb = ", ".join(f"{t} x{c}" for t, c in sorted(tinfo.transports.items()) if t != "P2P")
        return f"channels connected via {fb}"
    if name in tinfo.env_lines:
        return tinfo.env_lines[name]
    return None


def env_causes(
    env: Mapping[str, str],
    backend: str,
    tinfo: TransportInfo | None = None,
    *,
    fallback: bool = False,
) -> list[EnvCause]:
    """Every steering variable set for this backend, with what it forces and, where the log
    shows it, the evidence that it took effect. An invalid value says so (rules/envvars.py)."""
    out: list[EnvCause] = []
    for name in sorted(env):
        f = FORCING.get(name)
        value = env[name]
        if f is None or backend not in f.backends or not f.active(value):
            continue
        effect = f.effect
        spec = KNOWN.get(name)
        problem = spec.problem(value) if spec else None
        if problem:
            effect += f" (value not accepted by {spec.consumer if spec else 'its consumer'}: {problem})"
        out.append(
            EnvCause(
                name=name,
                value=value,
                forces=f.forces,
                backend="oneCCL" if backend in _ONECCL else "NCCL/RCCL",
                effect=effect,
                seen=_seen(name, value, f, tinfo, fallback),
            )
        )
    return out
