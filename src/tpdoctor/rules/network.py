"""Network rules: the interface and address every rank binds to exist here.
Sources: research/failures.md #37; NCCL docs (NCCL_SOCKET_IFNAME); PyTorch distributed docs
(GLOO_SOCKET_IFNAME); oneCCL `internal_kvs.cpp` (CCL_KVS_IFACE); libfabric fi_tcp(7)
(FI_TCP_IFACE); vLLM troubleshooting "Incorrect network setup" (VLLM_HOST_IP)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.rules.gpus import in_container
from tpdoctor.rules.registry import fact_rule

# Variables naming interfaces: NCCL matches prefixes (`=` for exact names, `^` to exclude);
# the others take exact names.
PREFIX_VARS = ("NCCL_SOCKET_IFNAME",)
EXACT_VARS = ("GLOO_SOCKET_IFNAME", "CCL_KVS_IFACE", "FI_TCP_IFACE")
# Where ranks on other machines are named: rendezvous address and Ray head.
PEER_VARS = ("MASTER_ADDR", "RAY_ADDRESS", "VLLM_HOST_IP")
# Default bridge networks: Docker's 172.17.0.0/16 and user networks (172.18-31), Podman's 10.88.0.0/16.
BRIDGE_NETS = (ipaddress.ip_network("172.16.0.0/12"), ipaddress.ip_network("10.88.0.0/16"))


def nccl_ifname_matches(value: str, names: list[str]) -> list[str] | None:
    """Interfaces NCCL_SOCKET_IFNAME selects; None for an exclusion list (`^docker,lo`)."""
    value = value.strip()
    if value.startswith("^"):
        return None
    exact = value.startswith("=")
    wanted = [w.strip() for w in value.lstrip("=").split(",") if w.strip()]
    return [n for n in names if any(n == w if exact else n.startswith(w) for w in wanted)]


def _missing_interfaces(facts: Facts) -> list[tuple[str, str, str]]:
    """(variable, value, what is missing) for every interface variable that names nothing here."""
    names = facts.network.names()
    out: list[tuple[str, str, str]] = []
    for var in PREFIX_VARS:
        value = facts.env.get(var, "")
        if value.strip():
            matched = nccl_ifname_matches(value, names)
            if matched == []:
                out.append((var, value, "no interface here matches it"))
    for var in EXACT_VARS:
        value = facts.env.get(var, "")
        wanted = [w.strip() for w in value.split(",") if w.strip()]
        missing = [w for w in wanted if w not in names]
        if missing:
            out.append((var, value, f"no interface named {', '.join(missing)}"))
    return out


def _host_ip_missing(facts: Facts) -> tuple[str, str] | None:
    value = facts.env.get("VLLM_HOST_IP", "").strip()
    if not value:
        return None
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None  # a host name: resolved at run time
    local = {ipaddress.ip_address(a) for a in facts.network.addresses() if _is_ip(a)}
    return None if ip in local else ("VLLM_HOST_IP", value)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _addresses_text(facts: Facts) -> str:
    parts = [f"{i.name} {' '.join(i.addresses) or '(no address)'}" for i in facts.network.interfaces]
    return "; ".join(parts) or "none"


def _remote_peers(facts: Facts) -> list[tuple[str, str]]:
    """Variables naming a peer address that is not one of this machine's (multi-node hints)."""
    local = set(facts.network.addresses())
    out = []
    for var in PEER_VARS:
        value = facts.env.get(var, "").strip()
        host = value.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]") if value else ""
        if not host or host in local or host in ("localhost", "auto", "local") or var == "VLLM_HOST_IP":
            continue
        try:
            if ipaddress.ip_address(host).is_loopback:
                continue
        except ValueError:
            pass
        out.append((var, value))
    return out


def _bridge_only(facts: Facts) -> list[str]:
    """This container's non-loopback IPv4 addresses when every one is on a default bridge network."""
    addrs = []
    for a in facts.network.addresses():
        if not _is_ip(a):
            continue
        ip = ipaddress.ip_address(a)
        if ip.version == 4 and not ip.is_loopback:
            addrs.append(ip)
    if addrs and all(any(ip in net for net in BRIDGE_NETS) for ip in addrs):
        return [str(ip) for ip in addrs]
    return []


@fact_rule("network.wrong-interface")
def socket_interfaces(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The interfaces and address the ranks are told to use exist here.

    **What it checks.** Against the interfaces of this network namespace (live `ip -o addr`,
    else `/sys/class/net/*`, `/proc/net/fib_trie`, `/proc/net/if_inet6`): `NCCL_SOCKET_IFNAME`
    (prefixes, `=` exact, `^` exclusions are not checked) must match at least one interface;
    `GLOO_SOCKET_IFNAME`, `CCL_KVS_IFACE` and `FI_TCP_IFACE` must name existing interfaces;
    `VLLM_HOST_IP`, when an address, must be one of this machine's. Any of these is a blocker.
    A multi-node hint (`MASTER_ADDR` or `RAY_ADDRESS` naming another machine) while this
    container has only default-bridge addresses (Docker 172.16.0.0/12, Podman 10.88.0.0/16), or
    while an interface variable pins loopback, is a notice: peers on other hosts usually cannot
    reach those addresses. Nothing is said when the interfaces were not collected.

    **Why it matters.** NCCL's bootstrap fails with `Bootstrap : no socket interface found`
    (NCCL `src/bootstrap.cc`), Gloo cannot create its device or binds loopback ("Unable to
    resolve hostname to a (local) address"), oneCCL's KVS and libfabric's tcp provider find no
    interface; a `VLLM_HOST_IP` that is not local is advertised to peers that then connect
    nowhere (`distributed_init_method=tcp://<wrong IP>`): failures.md #37, vllm#5094, #7074.

    **How to fix.** Set the variables to an interface that exists in the container (compare with
    `ip -o addr` inside it) and that peers can reach, in every rank's and Ray worker's
    environment; for multi-node runs use the host network (`network_mode: host`).
    """
    if not facts.network.interfaces:
        return
    evidence: list[tuple[str, str]] = []
    for var, value, why in _missing_interfaces(facts):
        evidence.append((var, f"{value}: {why}"))
    missing_ip = _host_ip_missing(facts)
    if missing_ip:
        evidence.append((missing_ip[0], f"{missing_ip[1]}: not an address of this machine"))
    here = ("interfaces here", _addresses_text(facts))
    if evidence:
        names = ", ".join(e[0] for e in evidence)
        yield make_finding(
            "network.wrong-interface",
            f"{names} name(s) an interface or address that does not exist here; the ranks cannot bind it.",
            [*evidence, here],
        )
        return
    peers = _remote_peers(facts)
    if not peers:
        return
    loopback = [
        (var, facts.env[var])
        for var in (*PREFIX_VARS, *EXACT_VARS)
        if facts.env.get(var, "").strip().lstrip("=") in ("lo", "lo0")
    ]
    bridge = _bridge_only(facts) if in_container(facts) and facts.container.runtime != "kubernetes" else []
    if loopback:
        reason = f"{loopback[0][0]}={loopback[0][1]} pins loopback"
    elif bridge:
        reason = f"this container's only addresses ({', '.join(bridge)}) are on a default bridge network"
    else:
        return
    yield make_finding(
        "network.wrong-interface",
        f"Ranks on other machines ({', '.join(f'{k}={v}' for k, v in peers)}) but {reason}; "
        "peers usually cannot reach it.",
        [*peers, *loopback, here],
        severity="notice",
        confidence="suggests",
    )
