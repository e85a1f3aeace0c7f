"""Cross-node rules of `tpdoctor cluster check`: the nodes of one Ray cluster agree.

`cluster/` collects each node's Facts in a Ray task pinned to that node; these functions are pure
(nodes in, findings out), so they run on snapshots too. Sources: vLLM "Distributed inference and
serving" (multi-node with Ray: same environment on every node, VLLM_HOST_IP, NCCL_SOCKET_IFNAME);
research/failures.md #35 (NCCL_CUMEM_ENABLE), #37 (interfaces); Ray `ray start --node-ip-address`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from tpdoctor.model import CheckOptions, ClusterNode, Evidence, Facts, Finding, make_finding
from tpdoctor.rules.gpus import infer_backend, visible_gpu_paths
from tpdoctor.rules.network import BRIDGE_NETS, _addresses_text
from tpdoctor.rules.registry import cluster_rule

# Environment that must be the same on every node for one communicator; per-node values
# (VLLM_HOST_IP, *_VISIBLE_DEVICES, ZE_AFFINITY_MASK) legitimately differ and are left out.
ENV_PREFIXES = ("NCCL_", "TORCH_NCCL_", "CCL_", "FI_", "GLOO_", "UCX_", "RCCL_")
PER_NODE_VARS = frozenset({"VLLM_HOST_IP", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"})
CUMEM = "NCCL_CUMEM_ENABLE"


def node_gpus(facts: Facts, options: CheckOptions) -> tuple[str | None, int]:
    backend = infer_backend(facts, options)
    return backend, len(visible_gpu_paths(facts, backend))


def node_options(facts: Facts, options: CheckOptions, widest: int) -> CheckOptions:
    """The options one node is checked with: --tp as given; without it, the widest node's GPU
    count on every node that has GPUs (a node with fewer is missing some), nothing on CPU-only
    nodes (a Ray head without GPUs is common)."""
    if options.tp is not None:
        return options
    _, gpus = node_gpus(facts, options)
    if gpus == 0 or widest == 0:
        return options
    return CheckOptions(
        tp=widest,
        pp=options.pp,
        backend=options.backend,
        oneccl_version=options.oneccl_version,
        ipc_exchange=options.ipc_exchange,
        extra=options.extra,
    )


def tag_finding(finding: Finding, node: ClusterNode) -> Finding:
    """The same finding, saying which node it is about (message prefix and a first evidence)."""
    return finding.model_copy(
        update={
            "message": f"{node.label}: {finding.message or finding.summary}",
            "evidence": [Evidence(source="ray node", text=f"{node.ip} {node.node_id}"), *finding.evidence],
        }
    )


@cluster_rule("cluster.node-unreachable")
def unreachable_nodes(nodes: Sequence[ClusterNode], options: CheckOptions) -> list[Finding]:
    """A node whose check task returned no facts.

    **What it checks.** `tpdoctor cluster check` runs the fact collection on every alive Ray node
    in a task pinned to it (`NodeAffinitySchedulingStrategy(soft=False)`, `num_cpus=0`). A task
    that does not finish within `--timeout`, whose worker or node dies, or that cannot import
    tpdoctor on its node gives this blocker for that node instead of hanging the check.

    **Why it matters.** A node that cannot run a zero-CPU task is unlikely to start a vLLM or
    ipex-llm worker either (a wedged raylet, a dead node still listed, a full object store); and
    a node that was not checked may hide any of the blockers the other nodes were checked for.

    **How to fix.** Install tpdoctor in every node's image; look at `ray status` and the node's
    raylet log; raise `--timeout` for slow nodes.
    """
    return [unreachable_finding(n) for n in nodes if n.facts is None]


def unreachable_finding(node: ClusterNode) -> Finding:
    """The cluster.node-unreachable finding of one node without facts (see unreachable_nodes)."""
    why = {
        "timeout": "its check task did not finish in time",
        "died": "its check task's worker or the node died",
        "import": "tpdoctor is not importable there (install it on every node)",
    }.get(node.error_kind or "", "its check task failed")
    evidence = [Evidence(source="ray node", text=f"{node.ip} {node.node_id}")]
    if node.error:
        evidence.append(Evidence(source="task", text=node.error[:500]))
    return make_finding("cluster.node-unreachable", f"{node.label}: no facts: {why}.", evidence)


def _env_view(facts: Facts) -> dict[str, str]:
    return {
        k: v
        for k, v in facts.env.items()
        if k.startswith(ENV_PREFIXES) and k not in PER_NODE_VARS and k != CUMEM
    }


def _values_text(values: Mapping[str, str | None]) -> str:
    return ", ".join(f"{label}: {v if v is not None else 'unset'}" for label, v in values.items())


@cluster_rule("cluster.nodes-differ", "nccl.cumem-mismatch", "network.wrong-interface")
def compare_nodes(nodes: Sequence[ClusterNode], options: CheckOptions) -> list[Finding]:
    """Nodes of one Ray cluster are set up alike, and each advertises an address it has.

    **What it checks.** Over the nodes that returned facts: the visible GPU count, the backend
    (`infer_backend`), the driver (NVIDIA driver version, DRM kernel drivers) and the collective
    environment (`NCCL_*`, `TORCH_NCCL_*`, `CCL_*`, `FI_*`, `GLOO_*`, `UCX_*`, `RCCL_*`, except
    per-node values such as `VLLM_HOST_IP` and `*_VISIBLE_DEVICES`) must agree
    (`cluster.nodes-differ`, degraded; a variable set on some nodes only counts).
    `NCCL_CUMEM_ENABLE` differing is `nccl.cumem-mismatch`. The IP Ray advertises for a node
    (`NodeManagerAddress`) must be an address of that node's interfaces as seen inside its
    container (`network.wrong-interface`, blocker); a default-bridge address (Docker
    172.16.0.0/12, Podman 10.88.0.0/16) while a peer is on another subnet is the same blocker,
    marked *suggests*.

    **Why it matters.** vLLM and ipex-llm start one worker per GPU on every node with the
    node's own environment: an interface pinned on one node only, a different NCCL or oneCCL
    setting, or a node with fewer GPUs makes ranks disagree at init (hangs, `NCCL WARN`, "tensor
    parallel size N is not allowed"); a differing `NCCL_CUMEM_ENABLE` hangs or crashes the group
    (failures.md #35). An advertised IP that is a container's bridge address is unreachable
    from the other hosts, so object transfers and the collective's bootstrap connect nowhere.

    **How to fix.** Start every node from the same image with one environment file; set
    `NCCL_SOCKET_IFNAME`/`GLOO_SOCKET_IFNAME` on all nodes; run node containers on the host
    network and `ray start --node-ip-address=<the NIC's address>` (and `VLLM_HOST_IP`) on each.
    """
    checked = [n for n in nodes if n.facts is not None]
    findings: list[Finding] = []
    if len(checked) >= 2:
        findings += _differences(checked, options)
    for node in checked:
        findings += _advertised_ip(node, checked)
    return findings


def _differences(nodes: list[ClusterNode], options: CheckOptions) -> list[Finding]:
    evidence: list[Evidence] = []
    what: list[str] = []
    facts = {n.label: n.facts for n in nodes if n.facts is not None}

    def differ(name: str, values: dict[str, str | None]) -> None:
        if len(set(values.values())) > 1:
            what.append(name)
            evidence.append(Evidence(source=name, text=_values_text(values)))

    gpus = {label: node_gpus(f, options) for label, f in facts.items()}
    differ("GPUs", {label: str(g[1]) for label, g in gpus.items()})
    differ("backend", {label: g[0] for label, g in gpus.items()})
    differ("NVIDIA driver", {label: f.nvidia.driver_version for label, f in facts.items()})
    differ(
        "DRM driver",
        {
            label: ",".join(sorted({g.driver for g in f.drm if g.driver})) or None
            for label, f in facts.items()
        },
    )
    envs = {label: _env_view(f) for label, f in facts.items()}
    for var in sorted({k for e in envs.values() for k in e}):
        differ(var, {label: e.get(var) for label, e in envs.items()})
    out: list[Finding] = []
    if what:
        out.append(
            make_finding(
                "cluster.nodes-differ",
                f"the nodes differ in {', '.join(what)}.",
                evidence,
            )
        )
    cumem = {label: f.env.get(CUMEM) for label, f in facts.items()}
    if len(set(cumem.values())) > 1:
        out.append(
            make_finding(
                "nccl.cumem-mismatch",
                f"NCCL_CUMEM_ENABLE differs between the nodes ({_values_text(cumem)}).",
                [Evidence(source=CUMEM, text=_values_text(cumem))],
                confidence="suggests" if None in cumem.values() else "proves",
            )
        )
    return out


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _advertised_ip(node: ClusterNode, nodes: list[ClusterNode]) -> list[Finding]:
    facts = node.facts
    ip = _ip(node.ip)
    if facts is None or ip is None or not facts.network.interfaces:
        return []
    local = {a for a in (_ip(x) for x in facts.network.addresses()) if a is not None}
    here = Evidence(source="interfaces here", text=_addresses_text(facts))
    advertised = Evidence(source="ray NodeManagerAddress", text=node.ip)
    if ip not in local:
        return [
            tag_finding(
                make_finding(
                    "network.wrong-interface",
                    f"Ray advertises {node.ip} for this node but no interface of its container has that "
                    "address; peers and the object store connect to an address nobody listens on.",
                    [advertised, here],
                ),
                node,
            )
        ]
    bridge = any(ip in net for net in BRIDGE_NETS if net.version == ip.version)
    if not bridge or ip.is_loopback:
        return []
    subnet = ipaddress.ip_network(f"{ip}/16", strict=False)
    others = [
        n
        for n in nodes
        if n is not node and (p := _ip(n.ip)) is not None and p.version == ip.version and p not in subnet
    ]
    if not others:
        return []
    peers = ", ".join(f"{n.label}" for n in others)
    return [
        tag_finding(
            make_finding(
                "network.wrong-interface",
                f"Ray advertises {node.ip}, a container bridge address, while {peers} are on another "
                "subnet: they usually cannot reach it.",
                [advertised, here, Evidence(source="peers", text=peers)],
                confidence="suggests",
            ),
            node,
        )
    ]
