"""NCCL's bootstrap address in 172.17.0.0/16 is Docker's default bridge only on the container's side of the bridge
(ethN) or on docker0; a host NIC on a LAN that happens to use 172.17.x (`--network host`) is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, notes


@pytest.mark.parametrize("iface", ["eth0", "eth1", "eth0@if17", "docker0"])
def test_a_bridge_address_is_read_as_docker_s_bridge(tmp_path: Path, iface: str) -> None:
    text = f"a:1:1 [0] NCCL INFO Bootstrap : Using {iface}:172.17.0.2<0>\n"
    assert [n for n in notes(tmp_path, text) if "Docker's default bridge" in n]


@pytest.mark.parametrize("iface", ["eno1", "ens5", "bond0", "enp65s0f0"])
def test_a_host_nic_on_a_172_17_lan_is_no_bridge(tmp_path: Path, iface: str) -> None:
    text = f"llm207:149:149 [0] NCCL INFO Bootstrap : Using {iface}:172.17.120.207<0>\n"
    assert not [n for n in notes(tmp_path, text) if "Docker's default bridge" in n]
    assert "network.wrong-interface" not in causes(tmp_path, text)
