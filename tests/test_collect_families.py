"""The family collectors on fake roots and on real reference readings (research/gpu)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeroot import mknod, nvidia_root, write
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.nvidia import (
    nvlinks_from_topo,
    parse_driver_version,
    parse_gpu_matrix,
    parse_nvlink_speed,
    parse_smi_query,
)
from tpdoctor.facts.resources import parse_memlock, parse_mounts, parse_tmpfs_size


def test_nvidia_root_collects_nodes_driver_and_gpus(tmp_path: Path) -> None:
    facts = collect_facts(nvidia_root(tmp_path, gpus=2), {}, live=False)
    assert facts.node("/dev/nvidia-uvm") is not None and facts.node("/dev/nvidia-uvm").major == 238  # type: ignore[union-attr]
    assert facts.nvidia.driver_version == "580.159"
    assert [g.minor for g in facts.nvidia.gpus] == [0, 1]
    assert facts.nvidia.gpus[1].bdf == "0000:19:00.0"
    assert facts.nvidia.source == "proc"


def test_caps_imex_and_infiniband_nodes_are_listed(tmp_path: Path) -> None:
    root = nvidia_root(tmp_path, gpus=1)
    mknod(root, "/dev/nvidia-caps/nvidia-cap1", 511, 1)
    mknod(root, "/dev/nvidia-caps-imex-channels/channel0", 510, 0)
    mknod(root, "/dev/infiniband/uverbs0", 231, 192)
    (root / "dev/infiniband/by-ib").mkdir()
    facts = collect_facts(root, {}, live=False)
    kinds = {n.path: n.kind for n in facts.dev}
    assert kinds["/dev/nvidia-caps"] == "dir" and kinds["/dev/infiniband"] == "dir"
    for path in (
        "/dev/nvidia-caps/nvidia-cap1",
        "/dev/nvidia-caps-imex-channels/channel0",
        "/dev/infiniband/uverbs0",
    ):
        assert kinds[path] == "char", path
    assert kinds["/dev/infiniband/by-ib"] == "dir"
    assert [n.path for n in facts.dev] == sorted(kinds)  # one listing, no node twice


def test_shm_size_comes_from_the_last_mount_entry(tmp_path: Path) -> None:
    root = nvidia_root(tmp_path, shm="size=65536k")
    write(
        root,
        "/proc/self/mounts",
        (root / "proc/self/mounts").read_text() + "tmpfs /dev/shm tmpfs rw,size=16g 0 0\n",
    )
    facts = collect_facts(root, {}, live=False)
    assert facts.shm.size_bytes == 16 << 30
    assert facts.shm.source == "mounts size=16g"


def test_shm_without_size_is_half_of_ram(tmp_path: Path) -> None:
    root = nvidia_root(tmp_path, shm="mode=1777")
    facts = collect_facts(root, {}, live=False)
    assert facts.shm.size_bytes == 1056462440 * 1024 // 2


def test_a_read_only_shm_mount_is_not_writable_and_the_copy_mode_is_not_read(tmp_path: Path) -> None:
    root = nvidia_root(tmp_path, shm="size=16g")
    (root / "dev/shm").mkdir(parents=True, exist_ok=True)
    (root / "dev/shm").chmod(0o755)  # a copy's mode: says nothing about the container's tmpfs
    facts = collect_facts(root, {}, live=False)
    assert facts.shm.writable is None and facts.shm.mode is None and facts.shm.readonly_mount is False
    mounts = (root / "proc/self/mounts").read_text().replace("shm /dev/shm tmpfs rw,", "shm /dev/shm tmpfs ro,")
    write(root, "/proc/self/mounts", mounts)
    facts = collect_facts(root, {}, live=False)
    assert facts.shm.readonly_mount is True and facts.shm.writable is False


def test_memlock_namespaces_lsm_and_userns(tmp_path: Path) -> None:
    root = nvidia_root(tmp_path)
    (root / "proc/self/ns").mkdir(parents=True)
    (root / "proc/self/ns/ipc").symlink_to("ipc:[4026532001]")
    write(root, "/proc/sys/kernel/hostname", "rank0\n")
    write(root, "/proc/sys/kernel/random/boot_id", "b1\n")
    write(root, "/sys/fs/selinux/enforce", "1")
    write(root, "/proc/self/attr/current", "system_u:system_r:container_t:s0:c1,c2\x00")
    write(root, "/proc/self/uid_map", "0 100000 65536\n")
    facts = collect_facts(root, {}, live=False)
    assert facts.limits.memlock_soft == 8388608
    assert facts.namespaces.ipc == "ipc:[4026532001]" and facts.namespaces.hostname == "rank0"
    assert facts.namespaces.boot_id == "b1"
    assert (
        facts.lsm.selinux_enforce == 1 and facts.lsm.selinux_label == "system_u:system_r:container_t:s0:c1,c2"
    )
    assert facts.userns.is_initial is False
    assert facts.process.seccomp == 2


def test_apparmor_profile_is_read(tmp_path: Path) -> None:
    root = nvidia_root(tmp_path)
    write(root, "/proc/self/attr/current", "docker-default (enforce)\n")
    assert collect_facts(root, {}, live=False).lsm.apparmor_profile == "docker-default (enforce)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("65536k", 64 << 20),
        ("64m", 64 << 20),
        ("16g", 16 << 30),
        ("67108864", 67108864),
        ("50%", 500),
        ("x", None),
    ],
)
def test_tmpfs_sizes(value: str, expected: int | None) -> None:
    assert parse_tmpfs_size(value, mem_total=1000) == expected


def test_memlock_unlimited() -> None:
    assert parse_memlock("Max locked memory         unlimited            unlimited            bytes\n") == (
        -1,
        -1,
    )


def test_h200_reference_topology_and_mounts(shared_dir: Path) -> None:
    probe = json.loads((shared_dir / "research/gpu/h200x4-probe.json").read_text())
    cells = parse_gpu_matrix(probe["topo"])
    assert len(cells) == 6 and set(nvlinks_from_topo(cells).values()) == {18}
    assert parse_nvlink_speed(probe["nvlink"]) == pytest.approx(26.562)
    shm = [m for m in parse_mounts(probe["mounts"]) if m.target == "/dev/shm"]
    assert parse_tmpfs_size(shm[-1].options[-1].split("=")[1]) == 536870912 * 1024


def test_p2p_matrix_and_smi_query() -> None:
    p2p = parse_gpu_matrix(
        " \tGPU0\tGPU1\tGPU2\t\n GPU0\tX\tOK\tCNS\t\n GPU1\tOK\tX\tNS\t\n GPU2\tCNS\tNS\tX\t\n\nLegend:\n"
    )
    assert p2p == {"0-1": "OK", "0-2": "CNS", "1-2": "NS"}
    gpus, driver = parse_smi_query("0, NVIDIA H200, GPU-abc, 00000000:18:00.0, 580.159\n")
    assert gpus[0].bdf == "0000:18:00.0" and driver == "580.159"
    assert (
        parse_driver_version("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159  Release")
        == "580.159"
    )
