"""Collectors read a fake root like a live /: nodes, sysfs BDFs, links, status, mounts, env."""

from __future__ import annotations

from pathlib import Path

from fakeroot import RENDER_GID, FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.cpu import parse_cpu_list
from tpdoctor.facts.fsutil import resolve_in_root


def test_nodes_sysfs_and_bypath(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, "0000:03:00.0").add_bypath("0000:03:00.0", 128).dockerenv()
    fr.symlink("dev/dri/by-path/pci-0000:09:00.0-render", "../renderD200")
    facts = collect_facts(fr.root, {}, live=False)
    node = facts.node("/dev/dri/renderD128")
    assert node is not None and (node.kind, node.major, node.minor, node.gid, node.mode) == (
        "char",
        226,
        128,
        RENDER_GID,
        0o660,
    )
    link = facts.node("/dev/dri/by-path/pci-0000:03:00.0-render")
    assert link is not None and link.kind == "symlink"
    assert (link.target, link.resolved, link.resolved_exists) == (
        "../renderD128",
        "/dev/dri/renderD128",
        True,
    )
    dangling = facts.node("/dev/dri/by-path/pci-0000:09:00.0-render")
    assert dangling is not None and dangling.resolved_exists is False
    gpu = facts.drm[0]
    assert (gpu.render, gpu.bdf, gpu.vendor, gpu.driver, gpu.card) == (
        "renderD128",
        "0000:03:00.0",
        "0x8086",
        "i915",
        "card0",
    )
    assert facts.container.runtime == "docker"


def test_absolute_links_stay_inside_the_root(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_render_node(128)
    fr.symlink("run/links/pci-0000:03:00.0-render", "/dev/dri/renderD128")
    assert resolve_in_root(fr.root, "/run/links/pci-0000:03:00.0-render") == "/dev/dri/renderD128"
    fr.symlink("loop/a", "/loop/b").symlink("loop/b", "/loop/a")
    assert resolve_in_root(fr.root, "/loop/a") is None


def test_status_mounts_env_and_cpus(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).docker_default().set_status(uid=1000, gid=1000, groups=[44, 992])
    fr.readonly_root().set_ptrace_scope(2).set_cpus("0-63", "0-3,8")
    fr.set_env(HF_TOKEN="secret", AWS_SECRET_ACCESS_KEY="x", CCL_WORKER_COUNT="2")
    facts = collect_facts(fr.root, dict(fr.env), live=False)
    p = facts.process
    assert (p.uid, p.gid, p.groups, p.seccomp, p.no_new_privs) == (1000, 1000, [44, 992], 2, False)
    assert p.cap_eff is not None and not p.cap_eff >> 19 & 1
    assert facts.kernel.ptrace_scope == 2 and facts.kernel.release == "6.8.0-49-generic"
    assert facts.tmp_readonly_mount is True and facts.tmp_writable is False
    assert facts.cpu.online == 64 and facts.cpu.allowed == [0, 1, 2, 3, 8]
    assert facts.env["HF_TOKEN"] == facts.env["AWS_SECRET_ACCESS_KEY"] == "<redacted>"
    assert facts.env["CCL_WORKER_COUNT"] == "2"
    assert facts.groups["render"] == RENDER_GID


def test_missing_files_are_unknown_not_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    facts = collect_facts(empty, {}, live=False)
    assert facts.process.uid is None and facts.kernel.release is None and facts.dev == []
    assert facts.errors == []


def test_parse_cpu_list() -> None:
    assert parse_cpu_list("0-2,5,7-8\n") == [0, 1, 2, 5, 7, 8]


H200_VM_MOUNTS = [  # the device machine's /proc/self/mounts (tests/data/gpu/h200x1-host.json)
    "/dev/vda / ext4 rw,relatime,discard 0 0",
    "devtmpfs /dev devtmpfs rw,relatime,size=65984560k,nr_inodes=16496140,mode=755 0 0",
    "sysfs /sys sysfs rw,relatime 0 0",
]


def test_dockerenv_on_a_booted_root_is_a_host(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).dockerenv().set_mounts(H200_VM_MOUNTS)
    fr.write("proc/self/cgroup", "0::/process_api/1c14436d8e20162da4e333d8c1a7745c\n")
    c = collect_facts(fr.root, {}, live=False).container
    assert c.runtime == "none"
    assert c.evidence == [
        "/.dockerenv exists",
        "/ is ext4 on /dev/vda and /dev is devtmpfs (a booted host or VM)",
    ]


def test_dockerenv_with_overlay_or_a_bind_mounted_dev_is_docker(tmp_path: Path) -> None:
    overlay = FakeRoot(tmp_path / "a").dockerenv()  # overlay / and tmpfs /dev: every Docker container
    assert collect_facts(overlay.root, {}, live=False).container.runtime == "docker"
    # privileged with -v /dev:/dev: /dev is devtmpfs, but / is still the image's overlay
    bind_dev = (
        FakeRoot(tmp_path / "b").dockerenv().set_mounts(["overlay / overlay rw 0 0", *H200_VM_MOUNTS[1:]])
    )
    assert collect_facts(bind_dev.root, {}, live=False).container.runtime == "docker"
    # devicemapper storage: / is a disk, /dev a tmpfs
    dm = FakeRoot(tmp_path / "c").dockerenv()
    dm.set_mounts(["/dev/mapper/docker-253:0-1-abc / xfs rw 0 0", "tmpfs /dev tmpfs rw 0 0"])
    assert collect_facts(dm.root, {}, live=False).container.runtime == "docker"
