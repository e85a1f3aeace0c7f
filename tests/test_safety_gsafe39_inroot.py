"""gsafe39: check's new host readers (the toolkit's config.toml and low-level runtime lookup with k3s / RKE2's bundled
bin directories, containerd's config.toml with its imports, daemon.json, the kubelet's files) never follow a link out
of `--root`. Each case puts, outside the root, the file that would change the answer if it were read (a runc that
would be found, an import that would set the default runtime, a daemon.json naming another runtime) and links to it
from inside the root (absolute, relative past the root, a `current` link to `/`, loops)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakeroot import FakeRoot
from tpdoctor.facts import fsutil
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.snapshot import dump_facts
from tpdoctor.model import Facts

MARK = "gsafe39OUTSIDE"
K3S = "var/lib/rancher/k3s/data"
RKE2 = "var/lib/rancher/rke2"


def _host(base: Path) -> FakeRoot:
    fr = FakeRoot(base / "root")
    fr.mounts = ["/dev/sda1 / ext4 rw,relatime 0 0", "devtmpfs /dev devtmpfs rw,nosuid 0 0"]
    fr.write("usr/bin/nvidia-container-runtime", "").write("usr/bin/nvidia-container-runtime-hook", "")
    fr.write("usr/bin/containerd", "").write("usr/bin/dockerd", "").write("usr/bin/kubelet", "")
    return fr


def _outside(base: Path) -> Path:
    """A tree outside the root that would change every answer: runc found, nvidia the default, systemd cgroups."""
    out = base / "outside"
    for d in ("bin", "bin/aux", f"{MARK}/bin", "sbin", "lib/x86_64-linux-gnu"):
        (out / d).mkdir(parents=True, exist_ok=True)
    for exe in ("bin/runc", f"{MARK}/bin/runc", "sbin/ldconfig.real", "runc"):
        (out / exe).write_text("#!/bin/sh\n")
        (out / exe).chmod(0o755)
    (out / "lib/x86_64-linux-gnu/libcuda.so.1").write_text("x")
    (out / "99-nvidia.toml").write_text(
        f'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\ndefault_runtime_name = "{MARK}"\n'
    )
    (out / "daemon.json").write_text(f'{{"default-runtime": "{MARK}", "runtimes": {{"{MARK}": {{"path": "runc"}}}}}}')
    (out / "config.yaml").write_text(f"cgroupDriver: {MARK}\n")
    (out / "plugins_registry").mkdir(exist_ok=True)
    (out / f"plugins_registry/{MARK}-reg.sock").write_text("")
    (out / "toolkit.toml").write_text(f'[nvidia-container-runtime]\nmode = "{MARK}"\n')
    return out


def _link(fr: FakeRoot, inroot: str, target: Path | str, style: str) -> None:
    victim = fr.root / inroot
    victim.parent.mkdir(parents=True, exist_ok=True)
    if style == "relative" and isinstance(target, Path):
        victim.symlink_to("../" * 16 + str(target).lstrip("/"))
    else:
        victim.symlink_to(target)


def _collect(fr: FakeRoot) -> list[Facts]:
    fr.flush()
    out = []
    for openat2 in ([], [False]):  # the kernel's RESOLVE_IN_ROOT and the userspace walk
        fsutil._openat2_state[:] = openat2
        try:
            out.append(collect_facts(fr.root, dict(fr.env), live=False))
        finally:
            fsutil._openat2_state[:] = []
    return out


STYLES = ["absolute", "relative"]


@pytest.mark.parametrize("style", STYLES)
def test_k3s_current_link_out_of_the_root_finds_no_runc(tmp_path: Path, style: str) -> None:
    fr = _host(tmp_path)
    out = _outside(tmp_path)
    _link(fr, f"{K3S}/current", out, style)
    for facts in _collect(fr):
        assert facts.nvidia_toolkit.runtime_found == "", facts.nvidia_toolkit.runtime_found


@pytest.mark.parametrize("style", STYLES)
def test_k3s_data_dir_and_version_links_out_of_the_root_find_no_runc(tmp_path: Path, style: str) -> None:
    out = _outside(tmp_path)
    fr = _host(tmp_path / "a")
    _link(fr, K3S, out, style)  # the data directory itself: its MARK/bin/runc is outside
    fr2 = _host(tmp_path / "b")
    _link(fr2, f"{K3S}/{MARK}", out / MARK, style)  # one version's directory
    fr3 = _host(tmp_path / "c")
    _link(fr3, f"{K3S}/{MARK}/bin", out / "bin", style)  # one version's bin
    for root in (fr, fr2, fr3):
        for facts in _collect(root):
            assert facts.nvidia_toolkit.runtime_found == "", (root.root, facts.nvidia_toolkit.runtime_found)


@pytest.mark.parametrize("style", STYLES)
def test_rke2_bin_link_out_of_the_root_finds_no_runc(tmp_path: Path, style: str) -> None:
    out = _outside(tmp_path)
    fr = _host(tmp_path / "a")
    _link(fr, f"{RKE2}/bin", out / "bin", style)
    fr2 = _host(tmp_path / "b")
    _link(fr2, f"{RKE2}/data/{MARK}/bin", out / "bin", style)
    for root in (fr, fr2):
        for facts in _collect(root):
            assert facts.nvidia_toolkit.runtime_found == ""


def test_a_current_link_to_slash_is_the_root_and_loops_end(tmp_path: Path) -> None:
    _outside(tmp_path)
    fr = _host(tmp_path / "slash")
    _link(fr, f"{K3S}/current", "/", "absolute")  # the root's own /bin: no runc there
    for facts in _collect(fr):
        assert facts.nvidia_toolkit.runtime_found == ""
    fr.write("bin/runc", "")
    fr.path("bin/runc").chmod(0o755)
    for facts in _collect(fr):  # the root's /bin/runc, found through the link
        assert facts.nvidia_toolkit.runtime_found == "/var/lib/rancher/k3s/data/current/bin/runc"
    loop = _host(tmp_path / "loop")
    _link(loop, f"{K3S}/current", "current", "absolute")
    _link(loop, f"{RKE2}/bin", "bin2", "absolute")
    _link(loop, f"{RKE2}/bin2", "bin", "absolute")
    _link(loop, f"{K3S}/v1", "../data", "absolute")  # a version that is the data directory again
    for facts in _collect(loop):
        assert facts.nvidia_toolkit.runtime_found == ""


@pytest.mark.parametrize("style", STYLES)
def test_runtimes_candidates_and_host_paths_stay_in_the_root(tmp_path: Path, style: str) -> None:
    out = _outside(tmp_path)
    fr = _host(tmp_path)
    rel = "../" * 16 + str(out / "runc").lstrip("/")
    fr.write(
        "etc/nvidia-container-runtime/config.toml",
        f'[nvidia-container-runtime]\nruntimes = ["{out}/runc", "{out}/bin/runc"]\n'
        f'[nvidia-container-cli]\nldconfig = "@{out}/sbin/ldconfig.real"\nroot = "/run/nvidia/driver"\n',
    )
    _link(fr, "run/nvidia/driver", out, style)  # the driver root a link out: its libcuda is not this root's
    _link(fr, "usr/local/sbin/runc", out / "runc", style)
    for facts in _collect(fr):
        tk = facts.nvidia_toolkit
        assert tk.runtime_found == "" and tk.ldconfig_exists is False
        assert not tk.driver_root_libs and str(out) not in (tk.runtime_found or "")
    fr.write("etc/nvidia-container-runtime/config.toml", f'[nvidia-container-runtime]\nruntimes = ["{rel}"]\n')
    for facts in _collect(fr):
        assert facts.nvidia_toolkit.runtime_found is None  # a relative path: not judged, never looked up


@pytest.mark.parametrize("style", STYLES)
def test_engine_configs_and_imports_through_links_are_not_read(tmp_path: Path, style: str) -> None:
    out = _outside(tmp_path)
    fr = _host(tmp_path)
    fr.write("etc/containerd/config.toml", 'version = 2\nimports = ["/etc/containerd/conf.d/*.toml", '
             f'"{out}/99-nvidia.toml", "{"../" * 16}{str(out).lstrip("/")}/99-nvidia.toml"]\n')
    _link(fr, "etc/containerd/conf.d", out, style)  # the drop-in directory a link out
    _link(fr, "etc/docker/daemon.json", out / "daemon.json", style)
    _link(fr, "var/lib/kubelet/config.yaml", out / "config.yaml", style)
    _link(fr, "var/lib/kubelet/plugins_registry", out / "plugins_registry", style)
    _link(fr, "etc/nvidia-container-runtime/config.toml", out / "toolkit.toml", style)
    for facts in _collect(fr):
        eng = facts.engines
        assert eng.containerd_default_runtime is None and eng.containerd_imports == []
        assert eng.docker_default_runtime is None and eng.kubelet_cgroup_driver is None and eng.kubelet_plugins == []
        assert facts.nvidia_toolkit.mode is None
        assert MARK not in dump_facts(facts)


def test_a_fifo_or_device_as_an_engine_config_does_not_hang(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    for p in ("etc/containerd/config.toml", "etc/docker/daemon.json", "var/lib/kubelet/config.yaml",
              "etc/nvidia-container-runtime/config.toml"):
        fr.path(p).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(fr.path(p))
    fr.write("etc/containerd/conf.d/x.toml", "")
    for facts in _collect(fr):
        assert facts.engines.containerd_state == "invalid" and facts.nvidia_toolkit.config_state == "invalid"
