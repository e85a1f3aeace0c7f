"""Hangs: a run that stalls (no error) or times out, and the facts that select why.

A hang prints no cause of its own. NCCL init completes and the first collective never returns; what shows is
a watchdog timeout, vLLM's shared-memory broadcast waiting, NCCL's socket timeouts, or the user's own words
("hangs", "stuck", "deadlock"). Those forms are the `hang` / `hang_prose` facts of data/signatures.yaml (each
cited there). The same symptom follows a code bug (mismatched collectives), a slow first compile or a dead
peer, so a hang alone names nothing. It names a cause only with a fact that selects one, and then only
`suggests` (the why says how to confirm it):

A log that ends on a progress bar at 0% (tqdm, e.g. vLLM's "Processed prompts:   0%|") is a stall as well.

- one node whose GPUs reach each other over PCIe only: an `nvidia-smi topo -m` matrix with no NV# cell
  (explain/topology.py), `nvidia-smi topo -p2p` not-supported cells, a GPU model with no NVLink, IOMMU / VT-d /
  ACS named, NCCL's graph search over a PCIe path, vLLM's "more than two PCIe-only GPUs", the user's words that
  the same collective works with gloo (host memory and TCP, no GPU-to-GPU path), or NCCL P2P channels
  when the very first collectives hung -> `nccl.p2p-unsupported`. NCCL docs, Troubleshooting, "PCI Access
  Control Services (ACS)": IO virtualization (VT-d / IOMMU) redirects PCI point-to-point traffic to the root
  complex, "causing a significant performance reduction or even a hang"; NCCL uses P2P between PCIe GPUs by
  default (src/graph/paths.cc ncclTopoCheckP2p: p2pLevel PATH_SYS in v2.12-v2.18 except Intel/ARM CPUs, PATH_PXB
  from v2.19 with AMD CPUs and two GPUs at PATH_SYS). The test is NCCL_P2P_DISABLE=1 (NCCL docs, env.html).
  Left out when NCCL_P2P_DISABLE is already set (P2P is not in use then).
- several nodes whose NCCL bootstrap uses loopback, a Docker bridge (docker0, br-*, veth*, Docker's default
  172.17.0.0/16: moby daemon/config default bip), libvirt's virbr*, or the same address on two hosts (each
  behind its own bridge) -> `network.wrong-interface`. NCCL src/bootstrap.cc bootstrapNetInit picks the first
  interface not docker/lo unless NCCL_SOCKET_IFNAME says otherwise (NCCL docs, env.html NCCL_SOCKET_IFNAME).
- NCCL's bootstrap line (the interface it listens on) and no NCCL line of a later init stage (topology
  search, channels, rings/trees, Init COMPLETE: fact `nccl_past_bootstrap`) -> `network.port-blocked`: the ranks
  never connected to each other's bootstrap sockets. NCCL src/bootstrap.cc bootstrapInit connects every rank to
  the root's listening socket and to its ring neighbour (ephemeral ports on that interface) before any of those
  lines; a firewall dropping them stalls there (NVIDIA/nccl#352, sjeaugey: "firewall rules on your system
  preventing communication through eth0"). Not when the interface itself is unreachable (wrong-interface first).
- ranks on one host in separate containers (Docker's default hostname is the 12-hex container id: moby
  daemon/container.go; distinct bridge addresses of one host) -> `topology.ranks-split-across-containers`:
  NCCL then sees separate hosts and has no P2P/SHM between them.

- a service-mesh sidecar shown in the log (fact `service_mesh_sidecar`: istio-proxy / linkerd-proxy in the pod,
  sidecar.istio.io/status, Envoy's own lines) -> `network.service-mesh-sidecar` (gnew24; kubeflow/trainer#1636, #1637).
- a GPU-sharing interposer in the process (fact `gpu_sharing_interposer`: HAMi-core's `[HAMI-core ...]` lines, libvgpu.so
  preloaded, HAMi's CUDA_DEVICE_MEMORY_* environment) -> `k8s.gpu-sharing-interposer` (gnew28; Project-HAMi/HAMi#2641).
- one node under WSL2 (signatures wsl.detected, prose.wsl-mentioned, prose.wsl-spelled-out) ->
  `host.wsl2-multi-gpu-limited` (gnew28; vllm-project/vllm#3710, #5161: no GPU peer-to-peer or CUDA IPC under WSL2).

A timeout the run got past (a `run_ok` line after every hang line of the same file) is not a hang. A timeout
of a collective far into the run (sequence number above FIRST_COLLECTIVES) means the transport carried the
collectives before it: no transport or interface cause is named then.
"""

from __future__ import annotations

import ipaddress
import re

from tpdoctor.explain.differential import Pick
from tpdoctor.explain.scanner import ScanResult, SigHit

# The collectives a run issues before its transport has carried real traffic (process-group barrier, parameter
# broadcast, vLLM's warm-up all-reduces): a hang among them is a set-up hang, later ones are not.
FIRST_COLLECTIVES = 10
PCIE_PATHS = frozenset({"PIX", "PXB", "PHB", "SYS"})
NVLINK_PATHS = frozenset({"NVL", "NVB", "C2C"})
_CONTAINER_ID = re.compile(r"^[0-9a-f]{12}$")
_VIRTUAL_IF = re.compile(r"^(?:lo|docker\d*|br-[0-9a-f]+|veth\w*|virbr\d*|cni\d*|podman\d*)$")
_DOCKER_DEFAULT = ipaddress.ip_network("172.17.0.0/16")
_LIBVIRT_DEFAULT = ipaddress.ip_network("192.168.122.0/24")
_BOOTSTRAP = re.compile(
    r"^(?:(?P<host>[^\s:]+):\d+:\d+ \[\d+\] NCCL INFO )?(?:Bootstrap ?|NET/Socket ): Using \[?\d*\]?"
    r"(?P<iface>[\w.@-]+):(?P<ip>[0-9a-fA-F.:]+)$"
)
_CONFIRM_P2P = (
    "Confirm: rerun with NCCL_P2P_DISABLE=1 (NCCL then uses shared memory between the GPUs); if the hang is gone, P2P "
    "is the cause. `nvidia-smi topo -p2p r` shows what the driver allows, `sudo lspci -vvv | grep ACSCtl` whether ACS "
    "redirects (SrcValid+), and `tpdoctor verify` runs a real all-reduce on these GPUs."
)


def _symptom(scan: ScanResult) -> tuple[list[SigHit], bool]:
    """The hang lines that still stand (no `run_ok` after the last one of their file), the user's own words, and
    whether the hung collective was among the first ones (unknown counts as first)."""
    facts = scan.facts
    hits: list[SigHit] = []
    first = facts.first.get("hang")
    if first is not None:
        last_ok = {src: line for (key, src), line in facts.last.items() if key == "run_ok"}
        standing = [
            src for (key, src), line in facts.last.items() if key == "hang" and line > last_ok.get(src, 0)
        ]
        if standing:
            value, line, source = first
            if source not in standing:  # the first hang line was got past; show the first file's that was not
                source = standing[0]
                line = facts.last[("hang", source)]
            hits.append(SigHit(line, value, source, {}))
    for (key, source), line in facts.last.items():
        # the log ends on a progress bar at 0% (its file's last line): nothing progressed when it was copied
        if key == "progress_zero" and line >= scan.ends.get(source, 1 << 62):
            hits.append(SigHit(line, "the log ends on a progress bar at 0%", source, {}))
            break
    prose = facts.first.get("hang_prose")
    if prose is not None:
        hits.append(SigHit(prose[1], f'the log says "{prose[0].lower()}"', prose[2], {}))
    seqs = [int(v) for v in facts.values.get("hang_seq", []) if v.isdigit()]
    early = not seqs or min(seqs) <= FIRST_COLLECTIVES
    return hits, early


def _hit(scan: ScanResult, key: str, shown: str) -> list[SigHit]:
    first = scan.facts.first.get(key)
    return [SigHit(first[1], shown.format(first[0]), first[2], {})] if first else []


_WSL_RECORDS = ("wsl.detected", "prose.wsl-mentioned", "prose.wsl-spelled-out")


def _wsl_hit(scan: ScanResult) -> list[SigHit]:
    """The first line that shows the run is under WSL2 (gnew28): the kernel release, /usr/lib/wsl, vLLM's WSL
    warning, or the words."""
    for sig in _WSL_RECORDS:
        rec = scan.signatures.get(sig)
        if rec is not None and rec.evidence:
            return [rec.evidence[0]]
    return []


def _multi_gpu(scan: ScanResult) -> bool:
    """The stalled run is a multi-GPU one (gnew28): a collective timed out (the `hang` fact: torch's NCCL watchdog,
    vLLM's RPC / shared-memory broadcast, NCCL's socket timeouts), or the log sets more than one rank or GPU
    (tensor_parallel_size, world_size, --nproc-per-node above 1, or a GPU count). The user's words alone or a
    progress bar at 0% may be a single-GPU stall."""
    facts = scan.facts
    if facts.first.get("hang") is not None or facts.first.get("tp_size_many") is not None:
        return True
    if facts.first.get("gpu_count") is not None:
        return True
    return any(
        v.isdigit() and int(v) > 1 for k in ("tp_size", "world_size", "nproc_per_node") for v in facts.values.get(k, [])
    )


def _bootstraps(scan: ScanResult) -> list[tuple[str, str, str]]:
    """(host, interface, address) of every NCCL bootstrap / socket-transport line kept."""
    out = []
    for value in scan.facts.values.get("bootstrap", []):
        m = _BOOTSTRAP.match(value)
        if m:
            out.append((m.group("host") or "", m.group("iface"), m.group("ip")))
    return out


def _multi_node(scan: ScanResult, hosts: set[str]) -> bool:
    facts = scan.facts
    counts = [int(v) for k in ("n_nodes", "nnodes") for v in facts.values.get(k, []) if v.isdigit()]
    if any(c > 1 for c in counts):
        return True
    # glearn24b: a launcher's host list (paddle --ips a,b; mpirun -H a:4,b:4) or the reporter's words (多机多卡, "two
    # nodes", "multi-node"), facts multi-node-launch / multi-node-prose of data/signatures.yaml
    if any(k in facts.first for k in ("multi_node_launch", "multi_node_launch2", "multi_node_prose")):
        return True
    named = {h for h in hosts if h and not _CONTAINER_ID.match(h)}
    return len(named) > 1


def _virtual(iface: str, ip: str) -> str | None:
    """Why this bootstrap address cannot be reached from another node, or None."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if addr.is_loopback or iface == "lo":
        return "the loopback interface"
    if _VIRTUAL_IF.match(iface):
        return f"the virtual interface {iface}"
    if addr in _DOCKER_DEFAULT and iface.startswith(("eth", "docker")):  # a host NIC (eno1) on a 172.17 LAN is no bridge
        return "an address of Docker's default bridge (172.17.0.0/16)"
    if addr in _LIBVIRT_DEFAULT:
        return "an address of libvirt's default network (192.168.122.0/24)"
    return None


def _wrong_interface(scan: ScanResult, boots: list[tuple[str, str, str]]) -> str | None:
    by_ip: dict[str, set[str]] = {}
    for host, _iface, ip in boots:
        by_ip.setdefault(ip, set()).add(host)
    same = [ip for ip, hosts in by_ip.items() if len([h for h in hosts if h]) > 1]
    if same:
        return f"two hosts bootstrap from the same address {same[0]}: each sits behind its own bridge or NAT"
    for host, iface, ip in boots:
        why = _virtual(iface, ip)
        if why:
            return f"NCCL's bootstrap{' on ' + host if host else ''} uses {iface}:{ip}, {why}"
    return None


def _split_containers(hosts: set[str], boots: list[tuple[str, str, str]]) -> str | None:
    ids = {h for h in hosts if h}
    if len(ids) < 2 or not all(_CONTAINER_ID.match(h) for h in ids):
        return None
    ips = {ip for _h, _i, ip in boots}
    if len(ips) == 1 and len({h for h, _i, _ip in boots if h}) > 1:
        return None  # one address behind several hosts: separate machines, each behind its own bridge
    return "NCCL runs in hosts " + ", ".join(sorted(ids)[:4]) + ": Docker container ids"


def _pcie_evidence(scan: ScanResult, early: bool) -> tuple[list[SigHit], list[str]]:
    """Lines showing that the node's GPUs reach each other over PCIe only, with the reasons in words."""
    facts = scan.facts
    # NVLink seen: a matrix, NCCL's graph search, or a P2P channel in read mode (src/graph/paths.cc
    # ncclTopoCheckP2p enables P2P read only for PATH_NVL between sm80 GPUs; transport/p2p.cc prints "/read")
    if (
        facts.get("topo_links") in ("nvlink", "xgmi")
        or any(v in NVLINK_PATHS for v in facts.values.get("nccl_path_intra", []))
        or any(t.startswith("P2P") and t.endswith("/read") for t in facts.values.get("transport", []))
    ):
        return [], []
    hits: list[SigHit] = []
    why: list[str] = []
    if facts.get("topo_links") == "pcie":
        tool = "rocm-smi --showtopo" if "PCIE" in (facts.get("topo_cells") or "") else "nvidia-smi topo -m"
        hits += _hit(scan, "topo_links", f"{tool}: GPU-to-GPU links " + (facts.get("topo_cells") or ""))
        why.append(
            f"`{tool}` shows only PCIe paths between the GPUs ({facts.get('topo_cells')}, no NVLink/XGMI)"
        )
    if facts.get("p2p_not_supported"):
        hits += _hit(scan, "p2p_not_supported", "nvidia-smi topo -p2p: {} between GPUs")
        why.append(
            f"`nvidia-smi topo -p2p` reports {facts.get('p2p_not_supported')} (peer access not supported)"
        )
    paths = [v for v in facts.values.get("nccl_path_intra", []) if v in PCIE_PATHS]
    if paths:
        hits += _hit(scan, "nccl_path_intra", "NCCL graph: GPUs connected through {}")
        why.append(f"NCCL's topology search connects the GPUs through {paths[0]} (PCIe)")
    if facts.get("pcie_only"):
        hits += _hit(scan, "pcie_only", "vLLM: custom all-reduce {}")
        why.append("vLLM reports PCIe-only GPUs")
    if facts.get("gpu_pcie_model"):
        hits += _hit(scan, "gpu_pcie_model", "GPU model {}")
        why.append(f"the GPUs are {facts.get('gpu_pcie_model')}, which have no NVLink between them")
    if facts.get("iommu"):
        hits += _hit(scan, "iommu", "{}")
        why.append(f"the log names IOMMU/ACS ({facts.get('iommu')})")
    if facts.get("gloo_works"):
        # the same collective completes over gloo (host memory, TCP): NCCL's GPU-to-GPU path is what hangs (glearn17b)
        hits += _hit(scan, "gloo_works", "{}")
        why.append(f"the same collective completes with the gloo backend ({facts.get('gloo_works')}), not over NCCL")
    transports = facts.values.get("transport", [])
    if not why and early and any(t.startswith("P2P") for t in transports) and "hang_seq" in facts.first:
        hits += _hit(scan, "transport", "NCCL channel via {}")
        why.append(
            f"NCCL connected the GPUs via {next(t for t in transports if t.startswith('P2P'))} and the first "
            "collectives never completed"
        )
    return hits, why


def _stalled_at_bootstrap(scan: ScanResult, boots: list[tuple[str, str, str]]) -> bool:
    """NCCL printed its bootstrap interface and nothing of the init stages after the ranks connected."""
    facts = scan.facts
    return bool(boots) and not any(
        k in facts.first for k in ("nccl_past_bootstrap", "transport", "n_nodes", "nccl_path_intra")
    )


def _port_blocked(scan: ScanResult, symptom: list[SigHit], boots: list[tuple[str, str, str]]) -> Pick:
    first = symptom[0].line
    host, iface, ip = boots[0]
    why = (
        f"The run hangs ({symptom[0].text}, line {first}) during NCCL's initialisation: NCCL printed its bootstrap "
        f"interface ({iface}:{ip}{' on ' + host if host else ''}) and nothing after it, so the ranks never connected "
        "to each other's bootstrap sockets. A firewall (iptables/ufw/firewalld, a security group, a NetworkPolicy) "
        "that drops new TCP connections to the ephemeral ports NCCL listens on stalls exactly there. Open the ports "
        "between the ranks (or NCCL_SOCKET_IFNAME=lo on one node); confirm with `nc -vz <peer> <port>` or "
        "`tpdoctor cluster verify`."
    )
    return Pick("network.port-blocked", why, [*symptom[:2], *_hit(scan, "bootstrap", "{}")], first, generic=True)


def picks(scan: ScanResult) -> list[Pick]:
    symptom, early = _symptom(scan)
    if not symptom or not early:
        return []
    facts = scan.facts
    first = symptom[0].line
    boots = _bootstraps(scan)
    hosts = set(facts.values.get("host", [])) | {h for h, _i, _ip in boots if h}
    shown = symptom[0].text
    out: list[Pick] = []
    mesh = _hit(scan, "service_mesh_sidecar", "a service-mesh sidecar: {}")
    if mesh:
        # gnew24: a hang beside a sidecar of Istio/Linkerd in the job's pods (kubeflow/trainer#1636, #1637: the
        # PyTorchJob hangs at init_process_group; docs/legacy-v1/user-guides/pytorch.md): the sidecar's iptables
        # redirect takes the ranks' rendezvous and bootstrap sockets, which the proxy closes or holds.
        why = (
            f"The run hangs ({shown}, line {first}) and a service-mesh sidecar is in its pods (line {mesh[0].line}): "
            "the sidecar (Istio's Envoy behind istio-init's iptables redirect, or linkerd-proxy) intercepts the ranks' "
            "TCPStore, Gloo and NCCL bootstrap connections, so init_process_group waits. Set sidecar.istio.io/inject: "
            '"false" (linkerd.io/inject: disabled) on every replica\'s pod template and rerun.'
        )
        out.append(Pick("network.service-mesh-sidecar", why, [*symptom[:2], *mesh], first, generic=True))
    shared = _hit(scan, "gpu_sharing_interposer", "a GPU-sharing interposer: {}")
    if shared and _multi_gpu(scan):
        # gnew28: a hang beside HAMi-core's libvgpu.so in the process (Project-HAMi/HAMi#2641: vLLM TP=4 hung at NCCL
        # communicator init; CUDA_DISABLE_CONTROL=true, which keeps HAMi's /etc/ld.so.preload out, fixed it).
        why = (
            f"The run hangs ({shown}, line {first}) and a GPU-sharing interposer runs in the process (line "
            f"{shared[0].line}): HAMi-core's libvgpu.so, preloaded by the HAMi / Volcano vGPU device plugin, wraps the "
            "CUDA driver calls NCCL's multi-GPU set-up makes (cuMemCreate, the cuMem/IPC handle export), and NCCL's "
            "init can wait there. Set CUDA_DISABLE_CONTROL=true in the container (HAMi then mounts no "
            "/etc/ld.so.preload) and rerun; if the hang is gone, the interposer is the cause."
        )
        out.append(Pick("k8s.gpu-sharing-interposer", why, [*symptom[:2], *shared], first, generic=True))
    wsl = _wsl_hit(scan)
    if wsl and _multi_gpu(scan) and not _multi_node(scan, hosts):
        # gnew28: a hang of a multi-GPU run under WSL2 (vllm-project/vllm#3710, #5161): no GPU peer-to-peer or CUDA
        # IPC there (NVIDIA CUDA on WSL User Guide, known limitations).
        why = (
            f"The run hangs ({shown}, line {first}) under WSL2 (line {wsl[0].line}): WSL2 reaches the GPUs through the "
            "Windows driver's paravirtual /dev/dxg, with no GPU peer-to-peer or CUDA IPC between processes, so NCCL's "
            "and vLLM's multi-GPU paths stall or fail there while one GPU works. Rerun with NCCL_P2P_DISABLE=1 (vLLM: "
            "--disable-custom-all-reduce); if that is not enough, run the multi-GPU job on native Linux."
        )
        out.append(Pick("host.wsl2-multi-gpu-limited", why, [*symptom[:2], *wsl], first, generic=True))
    split = _split_containers(hosts, boots)
    if split:
        why = (
            f"The run hangs ({shown}, line {first}) and {split}: the ranks of one node run in separate containers, "
            "so NCCL sees separate hosts and has neither P2P nor shared memory between them. Run the ranks of a node "
            "in one container (or share --ipc=host and --network=host); confirm with NCCL_DEBUG=INFO (transports "
            "via NET between GPUs of one host) and `tpdoctor verify`."
        )
        out.append(
            Pick(
                "topology.ranks-split-across-containers",
                why,
                [*symptom[:2], *_hit(scan, "host", "NCCL host {}")],
                first,
                generic=True,
            )
        )
    if _multi_node(scan, hosts):
        wrong = _wrong_interface(scan, boots)
        if wrong and not split:
            why = (
                f"The run hangs ({shown}, line {first}) across nodes and {wrong}: the other nodes cannot reach it, so "
                "the ranks wait for each other. Set NCCL_SOCKET_IFNAME (and GLOO_SOCKET_IFNAME) to the interface that "
                "routes between the nodes, or run with --network=host; confirm with NCCL_DEBUG=INFO (the Bootstrap / "
                "NET/Socket lines of every rank) and `tpdoctor cluster verify`."
            )
            out.append(
                Pick(
                    "network.wrong-interface",
                    why,
                    [*symptom[:2], *_hit(scan, "bootstrap", "{}")],
                    first,
                    generic=True,
                )
            )
        elif not split and _stalled_at_bootstrap(scan, boots):
            out.append(_port_blocked(scan, symptom, boots))
        return out
    if not split and _stalled_at_bootstrap(scan, boots) and not _wrong_interface(scan, boots):
        return [_port_blocked(scan, symptom, boots)]
    if split or facts.get("nccl_p2p_disable"):
        return out
    hits, reasons = _pcie_evidence(scan, early)
    if reasons == [f"the GPUs are {facts.get('gpu_pcie_model')}, which have no NVLink between them"] and facts.get(
        "cuda_visible_one"
    ):
        # glearn28a: a GPU model is the only reason and the mask names one GPU (ollama#8594: one RTX 3090,
        # CUDA_VISIBLE_DEVICES=0, the stall is the GPU lost to CPU): no peer for P2P to hang on
        return out
    if reasons:
        why = (
            f"The run hangs ({shown}, line {first}) on one node where {'; '.join(reasons)}. GPU peer-to-peer over PCIe "
            "hangs or crawls where the platform does not support it (consumer GPUs, VMs) or where IOMMU/ACS redirect "
            "it through the root complex (NCCL troubleshooting, 'PCI Access Control Services'). "
            + _CONFIRM_P2P
        )
        out.append(Pick("nccl.p2p-unsupported", why, [*symptom[:2], *hits[:3]], first, generic=True))
    return out


def _batch_without_step(scan: ScanResult) -> bool:
    """The log holds a Slurm batch script that runs the program itself (`python train.py`) and launches no job step
    (srun, mpirun, torchrun...): only one task on the first node starts, and the job waits for ranks that were never
    launched - a launcher mistake, not the network (glearn17c; Lightning-AI/pytorch-lightning#8707: fixed by srun)."""
    first = scan.facts.first
    return "slurm_batch" in first and "bare_python_run" in first and "step_launcher" not in first


def bare_multi_node(scan: ScanResult) -> Pick | None:
    """A run across nodes hangs early and the log has nothing else: no NCCL bootstrap or transport line, no error
    that names a cause (correlate.py calls this only when no cause was found). The first cross-node step is the
    rendezvous and NCCL's bootstrap over TCP; with no NCCL_DEBUG output the usual reason is the interface NCCL/Gloo
    picked on a host with several NICs (docker0, a second NIC that does not route), less often a firewall
    (glearn16b; pytorch/pytorch#81313: fixed by NCCL_SOCKET_IFNAME)."""
    symptom, early = _symptom(scan)
    if not symptom or not early:
        return None
    boots = _bootstraps(scan)
    hosts = set(scan.facts.values.get("host", []))
    if boots or hosts or not _multi_node(scan, hosts):
        return None
    if any(k in scan.facts.first for k in ("transport", "nccl_past_bootstrap", "nccl_path_intra", "nccl_socket_ifname")):
        return None
    if _batch_without_step(scan):
        return None
    first = symptom[0].line
    why = (
        f"A run across nodes hangs ({symptom[0].text}, line {first}) and the log shows no error: the first step "
        "between nodes is the rendezvous and NCCL's bootstrap over TCP, which waits forever when NCCL/Gloo picked an "
        "interface that does not route to the other node (docker0, a second NIC) or a firewall drops the ports. Set "
        "NCCL_SOCKET_IFNAME and GLOO_SOCKET_IFNAME to the interface between the nodes; rerun with NCCL_DEBUG=INFO "
        "to see the Bootstrap / NET/Socket lines of every rank."
    )
    return Pick("network.wrong-interface", why, symptom[:2], first, generic=True)


def note(scan: ScanResult) -> str | None:
    """What to say about a hang that no fact explains."""
    symptom, early = _symptom(scan)
    if not symptom:
        return None
    h = symptom[0]
    if not early:
        return (
            f"Line {h.line} shows a collective timing out far into the run ({h.text}): the transport carried the "
            "collectives before it, so this is a rank that fell behind (a code path, data loading, a dead peer), "
            "not the container set-up. TORCH_NCCL_DESYNC_DEBUG=1 / the flight recorder name the late rank."
        )
    return (
        f"Line {h.line} shows a hang or timeout ({h.text}) and nothing in the log selects its cause: mismatched "
        "collectives, a slow first compile or a dead peer time out too. To narrow it: rerun with NCCL_DEBUG=INFO, "
        "try NCCL_P2P_DISABLE=1 (if that fixes it, GPU peer-to-peer is the cause), paste `nvidia-smi topo -m`, "
        "and run `tpdoctor verify` on these GPUs."
    )
