"""network.wrong-interface and seccomp.numa-syscalls-denied from facts (issue 3 gaps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakeroot import DOCKER_DEFAULT_CAPS, nvidia_nodes, nvidia_root, write
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.network import parse_fib_trie_local, parse_ip_addr, parse_route
from tpdoctor.model import CheckOptions, Facts, Finding
from tpdoctor.model.facts import ContainerFacts, NetInterface, NetworkFacts, ProcessFacts
from tpdoctor.rules import run_fact_rules

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 172.17.0.0/16 2 0 2
        +-- 172.17.0.0/30 2 0 2
           |-- 172.17.0.0
              /16 link UNICAST
           |-- 172.17.0.2
              /32 host LOCAL
        |-- 172.17.255.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
           |-- 172.17.0.2
              /32 host LOCAL
"""
ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
)
IF_INET6 = "00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000042acfffe110002 02 40 20 80     eth0\n"


def net(**addrs: list[str]) -> NetworkFacts:
    return NetworkFacts(interfaces=[NetInterface(name=k, addresses=v) for k, v in addrs.items()])


BRIDGE = net(lo=["127.0.0.1", "::1"], eth0=["172.17.0.2"])
HOSTNET = net(lo=["127.0.0.1"], eth0=["192.0.2.2"], ib0=["10.10.0.2"], docker0=["172.17.0.1"])


def findings(facts: Facts, cause: str, options: CheckOptions | None = None) -> list[Finding]:
    return [f for f in run_fact_rules(facts, options or CheckOptions()) if f.cause == cause]


# --- collection ---------------------------------------------------------------------------------


def test_parsers() -> None:
    assert parse_fib_trie_local(FIB_TRIE) == ["127.0.0.1", "172.17.0.2"]
    assert parse_route(ROUTE) == [("eth0", 0xAC110000, 0xFFFF0000)]
    ip = parse_ip_addr(
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
        "7: eth0@if8    inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0\\ valid_lft forever\n"
    )
    assert [(i.name, i.addresses) for i in ip] == [("lo", ["127.0.0.1"]), ("eth0", ["172.17.0.2"])]


def test_interfaces_are_collected_from_files_under_root(tmp_path: Path) -> None:
    root = nvidia_root(tmp_path)
    for name, state in (("lo", "unknown"), ("eth0", "up"), ("tunl0", "down")):
        write(root, f"/sys/class/net/{name}/operstate", f"{state}\n")
    write(root, "/proc/net/fib_trie", FIB_TRIE)
    write(root, "/proc/net/route", ROUTE)
    write(root, "/proc/net/if_inet6", IF_INET6)
    facts = collect_facts(root, {}, live=False)
    got = {i.name: (i.addresses, i.operstate) for i in facts.network.interfaces}
    assert got == {
        "eth0": (["172.17.0.2", "fe80::42:acff:fe11:2"], "up"),
        "lo": (["127.0.0.1", "::1"], "unknown"),
        "tunl0": ([], "down"),
    }
    assert facts.network.source == "/sys/class/net + /proc/net" and not facts.network.unassigned


def test_no_network_files_means_unknown(tmp_path: Path) -> None:
    facts = collect_facts(nvidia_root(tmp_path), {"NCCL_SOCKET_IFNAME": "ib0"}, live=False)
    assert facts.network.interfaces == []
    assert findings(facts, "network.wrong-interface") == []


# --- network.wrong-interface --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "blamed"),
    [
        ({"NCCL_SOCKET_IFNAME": "ib"}, "NCCL_SOCKET_IFNAME"),
        ({"NCCL_SOCKET_IFNAME": "=eth"}, "NCCL_SOCKET_IFNAME"),  # '=' means the exact name
        ({"GLOO_SOCKET_IFNAME": "eth0,eth1"}, "GLOO_SOCKET_IFNAME"),
        ({"CCL_KVS_IFACE": "ens1f0"}, "CCL_KVS_IFACE"),
        ({"FI_TCP_IFACE": "ib0"}, "FI_TCP_IFACE"),
        ({"VLLM_HOST_IP": "192.0.2.2"}, "VLLM_HOST_IP"),  # the host's address, not the container's
    ],
)
def test_a_named_interface_or_ip_that_does_not_exist_is_a_blocker(env: dict[str, str], blamed: str) -> None:
    (f,) = findings(Facts(network=BRIDGE, env=env), "network.wrong-interface")
    assert f.severity.value == "blocker" and f.confidence == "proves"
    assert f.evidence[0].source == blamed and "eth0 172.17.0.2" in f.evidence[-1].text
    assert f.fixes and f.fixes[0].id == "socket-ifname"


@pytest.mark.parametrize(
    "env",
    [
        {"NCCL_SOCKET_IFNAME": "eth"},  # a prefix of eth0
        {"NCCL_SOCKET_IFNAME": "^docker,lo"},  # exclusions are not checked
        {"GLOO_SOCKET_IFNAME": "eth0", "CCL_KVS_IFACE": "eth0", "FI_TCP_IFACE": "eth0"},
        {"VLLM_HOST_IP": "172.17.0.2"},
        {"VLLM_HOST_IP": "head-node"},  # a host name is resolved at run time
        {},
    ],
)
def test_interfaces_that_exist_are_fine(env: dict[str, str]) -> None:
    assert findings(Facts(network=BRIDGE, env=env), "network.wrong-interface") == []


def test_multi_node_on_a_bridge_network_is_a_notice() -> None:
    facts = Facts(network=BRIDGE, env={"MASTER_ADDR": "10.0.0.5"}, container=ContainerFacts(runtime="docker"))
    (f,) = findings(facts, "network.wrong-interface")
    assert f.severity.value == "notice" and f.confidence == "suggests"
    assert "172.17.0.2" in f.message and ("MASTER_ADDR", "10.0.0.5") == (
        f.evidence[0].source,
        f.evidence[0].text,
    )


def test_multi_node_hints_are_quiet_on_the_host_network_or_single_node() -> None:
    docker = ContainerFacts(runtime="docker")
    assert (
        findings(
            Facts(network=HOSTNET, env={"MASTER_ADDR": "10.0.0.5"}, container=docker),
            "network.wrong-interface",
        )
        == []
    )
    local = {"MASTER_ADDR": "172.17.0.2", "RAY_ADDRESS": "127.0.0.1:6379"}
    assert findings(Facts(network=BRIDGE, env=local, container=docker), "network.wrong-interface") == []


def test_loopback_pinned_with_remote_peers_is_a_notice() -> None:
    facts = Facts(network=HOSTNET, env={"GLOO_SOCKET_IFNAME": "lo", "RAY_ADDRESS": "10.0.0.5:6379"})
    (f,) = findings(facts, "network.wrong-interface")
    assert f.severity.value == "notice" and "pins loopback" in f.message


# --- seccomp.numa-syscalls-denied ---------------------------------------------------------------


def numa_facts(runtime: str, cap_eff: int = DOCKER_DEFAULT_CAPS, seccomp: int = 2) -> Facts:
    return Facts(
        dev=nvidia_nodes(2),
        process=ProcessFacts(cap_eff=cap_eff, seccomp=seccomp, uid=0),
        container=ContainerFacts(runtime=runtime),
    )


@pytest.mark.parametrize("runtime", ["docker", "kubernetes"])
def test_numa_denied_in_docker_and_containerd_is_a_notice(runtime: str) -> None:
    (f,) = findings(numa_facts(runtime), "seccomp.numa-syscalls-denied")
    assert f.severity.value == "notice" and f.confidence == "suggests"
    assert f.related == ["nccl.cumem-host-fallback"] and "NCCL's cuMem" in f.message
    assert {x.id for x in f.fixes} == {"no-numa-binding", "sys-nice"} and f.fixes[0].id == "no-numa-binding"
    # the NCCL half is the same predicate: both rules speak together
    (cumem,) = findings(numa_facts(runtime), "nccl.cumem-host-fallback")
    assert "seccomp.numa-syscalls-denied" in cumem.related


@pytest.mark.parametrize(
    "facts",
    [
        numa_facts("docker", cap_eff=DOCKER_DEFAULT_CAPS | 1 << 23),  # CAP_SYS_NICE
        numa_facts("docker", seccomp=0),
        numa_facts("podman"),  # another profile decides
        numa_facts("unknown"),
        numa_facts("none"),
    ],
)
def test_numa_quiet_otherwise(facts: Facts) -> None:
    assert findings(facts, "seccomp.numa-syscalls-denied") == []
