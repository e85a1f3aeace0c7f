"""Issue 13, dev backlog of the heldout54 round (glearn54b): seccomp NUMA and multi-node interfaces.

Lines are written from the sources, not copied from the dev logs:

- the CAP_SYS_NICE fix told as a report (moby profiles/seccomp/default.json allows mbind, set_mempolicy,
  get_mempolicy, migrate_pages and move_pages only with CAP_SYS_NICE; vLLM's CPU install FAQ on
  "get_mempolicy: Operation not permitted" in Docker), in English and Chinese, and the sentences that are no report
  (a bare --cap-add=sys_nice in a command, "did not fix", advice, a condition);
- Gloo's address-family enforce (gloo/transport/tcp/device.cc Device::isInitiator since 31b1f02, torch 2.1+:
  "ss1.ss_family == ss2.ss_family. 2 vs 10"): one rank advertises IPv6, its peer IPv4 (the older pair.cc
  "address family mismatch" was already named);
- Open MPI's verbose TCP BTL accept (opal/mca/btl/tcp/btl_tcp_proc.c mca_btl_tcp_proc_accept, v3.0-v5.0: "btl: tcp:
  Match incoming connection from %s %s with locally known IP %s failed (iface %d/%d)!"): only the last endpoint
  failing means that no advertised address matched; the earlier ones fail in every healthy multi-homed run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

NUMA = "seccomp.numa-syscalls-denied"
IFACE = "network.wrong-interface"


@pytest.mark.parametrize(
    "text",
    [
        # "<fix> fixes this", the capability named alone or with the seccomp option; the next sentence negated
        "Running the container privileged or adding the SYS_NICE capability fixes this. It does not affect the GPU image.\n",
        "Adding SYS_NICE capability with seccomp=unconfined fixes this.\n",
        # the docker run flag and compose's cap_add, past tense
        "Adding --cap-add SYS_NICE to the docker run command fixed the NUMA errors.\n",
        "--cap-add=SYS_NICE solved it for me.\n",
        "Resolved by adding cap_add: [SYS_NICE] to the vllm-cpu service.\n",
        "Fixed after granting CAP_SYS_NICE to the container.\n",
        "With cap_add SYS_NICE it works now.\n",
        # Chinese: "after adding --cap-add=SYS_NICE it was solved / it is fine"
        "加上 --cap-add=SYS_NICE 之后就解决了\n",
        "docker run 加了 --cap-add SYS_NICE 就好了\n",
    ],
)
def test_sys_nice_fix_reported_names_numa_seccomp(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [(NUMA, "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # a command line that passes the capability is no report (Habana's docker run)
        "docker run -it --runtime=habana -e HABANA_VISIBLE_DEVICES=all --cap-add=sys_nice --net=host "
        "vault.habana.ai/gaudi-docker/pytorch:latest\n",
        # negated, advised or conditional
        "Adding --cap-add SYS_NICE did not fix it.\n",
        "Adding SYS_NICE still fails with the same error, nothing fixed it.\n",
        "You should add SYS_NICE, that fixes it.\n",
        "If SYS_NICE is added it is fixed, but we cannot grant capabilities here.\n",
        "加上 SYS_NICE 还是没有解决\n",
        # the capability in a compose file
        "    cap_add:\n      - SYS_NICE\n",
    ],
)
def test_sys_nice_without_a_reported_fix_stays_clean(tmp_path: Path, text: str) -> None:
    assert NUMA not in causes(tmp_path, text)


def test_get_mempolicy_warning_alone_stays_benign(tmp_path: Path) -> None:
    # the earlier decision (numa.bind-warning-eperm): libnuma's perror is a warning the program survives
    text = "get_mempolicy: Operation not permitted\nget_mempolicy: Operation not permitted\n"
    assert causes(tmp_path, text) == []
    assert any("CAP_SYS_NICE" in n for n in notes(tmp_path, text))


def _match(peer_ip: str, known: str, i: int, n: int) -> str:
    return (
        f"[node01:04242] btl: tcp: Match incoming connection from [[51234,1],1] {peer_ip} "
        f"with locally known IP {known} failed (iface {i}/{n})!\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        # every endpoint of the peer compared and none matched: IPv4 with four endpoints, one endpoint, IPv6
        "".join(_match("172.18.0.3", ip, i, 4) for i, ip in enumerate(
            ["10.1.0.7", "10.1.0.7", "192.168.8.7", "192.168.8.7"])),
        _match("10.244.1.9", "10.10.0.21", 0, 1),
        _match("fe80::42:acff:fe12:3", "fe80::1e34:daff:fe5a:10", 1, 2),
    ],
)
def test_ompi_tcp_no_endpoint_matched_names_wrong_interface(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [(IFACE, "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # a healthy multi-homed peer: the earlier endpoints fail, a later one matches (nothing more is printed)
        _match("192.168.8.7", "10.1.0.7", 0, 2),
        _match("192.168.8.7", "10.1.0.7", 0, 4) + _match("192.168.8.7", "10.1.0.8", 1, 4),
        # the connect side of the same verbose output
        "[node01:04242] btl: tcp: attempting to connect() to [[51234,1],1] address 10.1.0.7 on port 1024\n",
    ],
)
def test_ompi_tcp_earlier_endpoint_mismatch_stays_clean(tmp_path: Path, text: str) -> None:
    assert IFACE not in causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # gloo since 31b1f02 (torch 2.1+): GLOO_ENFORCE_EQ in Device::isInitiator, AF_INET vs AF_INET6 either way
        "RuntimeError: [enforce fail at ../third_party/gloo/gloo/transport/tcp/device.cc:276] "
        "ss1.ss_family == ss2.ss_family. 2 vs 10\n",
        "torch.distributed.DistBackendError: [enforce fail at /pytorch/third_party/gloo/gloo/transport/tcp/device.cc:285] "
        "ss1.ss_family == ss2.ss_family. 10 vs 2\n",
    ],
)
def test_gloo_address_family_mismatch_names_wrong_interface(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [(IFACE, "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # the same words from other software, and Gloo's other enforce on the same function
        "sctp_bindx: address family mismatch\n",
        "RuntimeError: [enforce fail at ../third_party/gloo/gloo/transport/tcp/device.cc:311] rv != 0. 0 vs 0. "
        "Cannot connect to self\n",
    ],
)
def test_other_family_mismatch_words_stay_off_wrong_interface(tmp_path: Path, text: str) -> None:
    assert IFACE not in causes(tmp_path, text)
