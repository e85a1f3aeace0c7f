"""Issue 13, heldout50 lessons (glearn50c): a firewall that opens only the rendezvous port, and NCCL's / Gloo's
connect failures in every printed form.

Lines are written from the code that prints them (not copied from the heldout50 logs):

- NCCL's failed socket connect, with the peer printed by ncclSocketToString as "IP<port>": "Connect to %s failed :
  %s" (src/include/socket.h connectAddress, v2.4-v2.11), "Net : Connect to %s failed : %s" (src/misc/socket.cc,
  v2.12), "socketStartConnect: Connect to %s failed : %s" and "socketPollConnect: Connect to %s returned %d(%s) errno
  %d(%s)" (v2.13-v2.23), "%s: connect to %s returned %s, exceeded error retry count after %d attempts" and "%s:
  connect to %s failed : %s" (socketConnectCheck, src/misc/socket.cc v2.27-v2.28, src/os/linux.cc v2.29-v2.30);
- Gloo's pair connect: "connect [IP]:port: <strerror>" (gloo/transport/tcp/pair.cc, up to 2023) and "SO_ERROR:
  <strerror>, remote=[IP]:port" (helpers.h / error.cc, "timed out connecting: " before it since 2025-03);
- the rendezvous address as jobs state it: init_process_group(init_method='tcp://IP:PORT'), --dist-url,
  MASTER_ADDR (env dump, export, os.environ), torchrun --master_addr / --rdzv-endpoint, SGLang --dist-init-addr.

A rank whose NCCL/Gloo socket to the rendezvous host itself is rejected ('No route to host': firewalld's default
icmp-host-prohibited) or dropped (a timeout) on another port reached that host through the store already: the route
and the interface work, only the other ports are filtered (wenet-e2e/wenet#1490: "It's because of port range").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from tpdoctor.explain import explain

_HEAD = "node2:5120:5188 [0] NCCL INFO Bootstrap : Using eno1:10.20.0.12<0>\n"
_TAIL = (
    "RuntimeError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1269, unhandled system error, "
    "NCCL version 2.14.3\n"
)

# the rendezvous host 10.20.0.11, as each launcher or script states it
RDZV = {
    "init_method": "dist.init_process_group(backend='nccl', init_method='tcp://10.20.0.11:23456', world_size=2, rank=1)\n",
    "init_method_bare": "args.init_method='10.20.0.11:23456'\n",
    "dist_url": "python train.py --dist-url tcp://10.20.0.11:23456 --world-size 2 --rank 1\n",
    "master_addr_env": "+ export MASTER_ADDR=10.20.0.11 MASTER_PORT=29500\n",
    "master_addr_environ": "os.environ['MASTER_ADDR'] = '10.20.0.11'\n",
    "master_addr_torchrun": "torchrun --nnodes 2 --node_rank 1 --master_addr 10.20.0.11 --master_port 29500 train.py\n",
    "master_addr_dash": "torchrun --nnodes=2 --master-addr=10.20.0.11 --master-port=29500 train.py\n",
    "rdzv_endpoint": "torchrun --nnodes 2 --rdzv-backend c10d --rdzv-endpoint 10.20.0.11:29400 train.py\n",
    "dist_init_addr": "python -m sglang.launch_server --tp 16 --nnodes 2 --node-rank 1 --dist-init-addr 10.20.0.11:5000\n",
}

# a peer socket on 10.20.0.11 that the far host rejects or drops, in each NCCL / Gloo form
REFUSED = {
    "nccl_2.8_socket_h": "node2:5120:5188 [0] include/socket.h:403 NCCL WARN Connect to 10.20.0.11<41235> failed : No route to host\n",
    "nccl_2.12_net": "node2:5120:5188 [0] misc/socket.cc:450 NCCL WARN Net : Connect to 10.20.0.11<41235> failed : No route to host\n",
    "nccl_2.18_start": "node2:5120:5188 [0] misc/socket.cc:483 NCCL WARN socketStartConnect: Connect to 10.20.0.11<41235> failed : No route to host\n",
    "nccl_2.18_start_pasted": "socketStartConnect: Connect to 10.20.0.11<41235> failed : No route to host\n",
    "nccl_2.8_timeout": "node2:5120:5188 [0] include/socket.h:403 NCCL WARN Connect to 10.20.0.11<41235> failed : Connection timed out\n",
    "nccl_2.23_poll": (
        "node2:5120:5188 [0] misc/socket.cc:535 NCCL WARN socketPollConnect: Connect to 10.20.0.11<41235> returned "
        "113(No route to host) errno 115(Operation now in progress)\n"
    ),
    "nccl_2.27_retry": (
        "node2:5120:5188 [0] misc/socket.cc:577 NCCL WARN socketPollConnect: connect to 10.20.0.11<41235> returned No "
        "route to host, exceeded error retry count after 35 attempts\n"
    ),
    "nccl_2.30_retry_timeout": (
        "node2:5120:5188 [0] os/linux.cc:280 NCCL WARN ncclOsSocketPollConnect: connect to 10.20.0.11<41235> returned "
        "Connection timed out, exceeded error retry count after 35 attempts\n"
    ),
    "gloo_2022": "RuntimeError: [../third_party/gloo/gloo/transport/tcp/pair.cc:799] connect [10.20.0.11]:41235: No route to host\n",
    "gloo_2025": (
        "RuntimeError: [../third_party/gloo/gloo/transport/tcp/pair.cc:154] timed out connecting: SO_ERROR: "
        "Connection timed out, remote=[10.20.0.11]:41235\n"
    ),
}


@pytest.mark.parametrize("rdzv", sorted(RDZV))
def test_rendezvous_host_port_filtered_every_rendezvous_form(tmp_path: Path, rdzv: str) -> None:
    got = _causes(tmp_path, RDZV[rdzv] + _HEAD + REFUSED["nccl_2.18_start"] + _TAIL)
    assert got[0] == "network.port-blocked"
    assert "network.wrong-interface" not in got


@pytest.mark.parametrize("form", sorted(REFUSED))
def test_rendezvous_host_port_filtered_every_connect_form(tmp_path: Path, form: str) -> None:
    got = _causes(tmp_path, RDZV["master_addr_env"] + _HEAD + REFUSED[form] + _TAIL)
    assert got[0] == "network.port-blocked"
    assert "network.wrong-interface" not in got


def test_port_blocked_names_the_wrong_interface_as_related(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    log.write_text(RDZV["init_method"] + _HEAD + REFUSED["nccl_2.27_retry"] + _TAIL, encoding="utf-8")
    report = explain([str(log)])
    first = report.findings[0]
    assert first.cause == "network.port-blocked" and first.confidence == "suggests"
    assert "network.wrong-interface" in first.related
    assert "rendezvous" in first.message and "10.20.0.11" in first.message


def _facts_and_causes(tmp_path: Path, text: str) -> tuple[dict[str, object], list[str]]:
    log = tmp_path / "n.log"
    log.write_text(text, encoding="utf-8")
    report = explain([str(log)])
    return report.facts, [f.cause for f in report.findings if f.severity.value != "notice"]


@pytest.mark.parametrize(
    ("text", "expected_first"),
    [
        # another host than the rendezvous: its interface may be the wrong one (a bridge, another NIC)
        (RDZV["master_addr_env"] + REFUSED["nccl_2.18_start"].replace("10.20.0.11<", "10.20.0.13<") + _TAIL,
         "network.wrong-interface"),
        # the rendezvous port itself: the store never connected, not a filter of the other ports
        (RDZV["init_method"] + REFUSED["nccl_2.18_start"].replace("<41235>", "<23456>") + _TAIL,
         "network.wrong-interface"),
        # a loopback rendezvous (one node): no firewall between a host and itself
        (RDZV["master_addr_env"].replace("10.20.0.11", "127.0.0.1")
         + REFUSED["nccl_2.18_start"].replace("10.20.0.11", "127.0.0.1") + _TAIL,
         "network.wrong-interface"),
    ],
)
def test_connect_failure_that_does_not_show_a_filtered_port(tmp_path: Path, text: str, expected_first: str) -> None:
    facts, got = _facts_and_causes(tmp_path, text)
    assert "rdzv_ipv4" in facts  # the rendezvous was read ...
    assert got[0] == expected_first  # ... and does not select the firewall
    assert "network.port-blocked" not in got


def test_connection_refused_on_the_rendezvous_host_is_not_a_filter(tmp_path: Path) -> None:
    # ECONNREFUSED: nothing listens there (the peer died first, or a REJECT with a reset): not told apart
    text = RDZV["master_addr_env"] + REFUSED["gloo_2022"].replace("No route to host", "Connection refused")
    facts, got = _facts_and_causes(tmp_path, text)
    assert "rdzv_ipv4" in facts
    assert "network.port-blocked" not in got[:1]


def test_healthy_run_with_a_rendezvous_stays_clean(tmp_path: Path) -> None:
    text = (
        RDZV["master_addr_torchrun"]
        + _HEAD
        + "node2:5120:5188 [0] NCCL INFO NET/Socket : Using [0]eno1:10.20.0.12<0>\n"
        + "node2:5120:5190 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[0] [receive] via NET/Socket/0\n"
        + "node2:5120:5190 [0] NCCL INFO Connected all rings\n"
        + "node2:5120:5120 [0] NCCL INFO comm 0x55d0 rank 1 nranks 2 cudaDev 0 busId 1000 - Init COMPLETE\n"
    )
    facts, got = _facts_and_causes(tmp_path, text)
    assert facts.get("rdzv_ipv4") == "10.20.0.11"
    assert got == []


@pytest.mark.parametrize(
    "line",
    [
        # NCCL's own prefix pasted without its WARN header
        "socketStartConnect: Connect to 192.168.7.21<52011> failed : No route to host\n",
        "Net : Connect to 192.168.7.21<52011> failed : Network is unreachable\n",
        # socketPollConnect's errno form (v2.12-v2.23)
        "node1:311:402 [0] misc/socket.cc:535 NCCL WARN socketPollConnect: Connect to 10.3.0.7<48211> returned "
        "113(No route to host) errno 115(Operation now in progress)\n",
        # v2.27+ errors it does not retry
        "node1:311:402 [0] os/linux.cc:289 NCCL WARN ncclOsSocketStartConnect: connect to 10.3.0.7<48211> failed : "
        "Network is unreachable\n",
        # Gloo since 2023
        "RuntimeError: [../third_party/gloo/gloo/transport/tcp/pair.cc:154] timed out connecting: SO_ERROR: No route "
        "to host, remote=[10.8.0.3]:41877\n",
        "RuntimeError: [/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:152] SO_ERROR: Connection refused, "
        "remote=[127.0.1.1]:28429\n",
    ],
)
def test_connect_failure_forms_without_a_rendezvous_name_the_interface(tmp_path: Path, line: str) -> None:
    log = tmp_path / "f.log"
    log.write_text(line, encoding="utf-8")
    first = explain([str(log)]).findings[0]
    assert first.cause == "network.wrong-interface"
    assert "does not spell out" not in first.message  # read by the signature itself, not as a loose twin


@pytest.mark.parametrize(
    "line",
    [
        # NCCL's retry notices are not the failure (v2.27+ INFO; v2.4-v2.23 'Call to connect returned ..., retrying')
        "node1:311:402 [0] NCCL INFO socketPollConnect: connect to 10.3.0.7<48211> returned Connection refused, "
        "retrying (1/34) after sleep for 100 msec\n",
        "node1:311:402 [0] NCCL INFO Call to connect returned Connection refused, retrying\n",
        # socketPollConnect's own errno form with a refusal is retried in those versions, never printed so
        "socketPollConnect: Connect to 10.3.0.7<48211> returned 115(Operation now in progress) errno 115(Operation now in progress)\n",
        # prose about connecting
        "Make sure every worker can connect to the master on its port range.\n",
        "SO_ERROR: 0 on the listening socket is fine\n",
    ],
)
def test_connect_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    facts, got = _facts_and_causes(tmp_path, RDZV["master_addr_env"] + line)
    assert "rdzv_ipv4" in facts and not any(k.startswith("peer_unreach") for k in facts)
    assert got == []
