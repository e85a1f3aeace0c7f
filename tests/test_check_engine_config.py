"""The container engines' daemon configuration on a host (facts/engine_config.py) and what it proves before a
container is created (rules/engine_config.py): Docker's daemon.json, containerd's config.toml with its imports,
the kubelet's cgroupDriver.

The files are written as the engines' packages and `nvidia-ctk runtime configure` write them (moby daemon.json keys;
Docker's containerd.io config.toml with `disabled_plugins = ["cri"]`; containerd's version 1/2/3 CRI tables); each
key at its default and its failing value, and the files check must not read (malformed, binary, oversized, a FIFO,
a link out of the root).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.snapshot import dump_facts, parse_snapshot
from tpdoctor.model import CheckOptions, Facts, Finding
from tpdoctor.rules.dockerd_options import KEYS, TAGS
from tpdoctor.rules.registry import run_fact_rules

DAEMON = "etc/docker/daemon.json"
CTRD = "etc/containerd/config.toml"
KUBELET = "var/lib/kubelet/config.yaml"
IDS = (
    "runtime.docker-daemon-config-invalid",
    "runtime.cdi-feature-disabled",
    "runtime.nvidia-toolkit-missing",
    "runtime.containerd-cri-disabled",
    "runtime.cgroup-driver-mismatch",
    "runtime.containerd-cdi-disabled",
    "shm.too-small",
    "rdma.memlock-too-low",
)
CDI_SPEC = "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: all\n  containerEdits:\n    deviceNodes:\n    - path: /dev/nvidia0\n"
V2_NVIDIA = (
    'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]\n'
    'runtime_type = "io.containerd.runc.v2"\n'
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]\n'
    'BinaryName = "/usr/bin/nvidia-container-runtime"\n'
)


def _host(tmp_path: Path, *, docker: bool = True, containerd: bool = True, kubelet: bool = False) -> FakeRoot:
    """A booted host's root (/ on a disk, /dev a devtmpfs, a 16 GiB /dev/shm) with the engines' binaries."""
    fr = FakeRoot(tmp_path)
    fr.mounts = [
        "/dev/sda1 / ext4 rw,relatime 0 0",
        "devtmpfs /dev devtmpfs rw,nosuid 0 0",
        "tmpfs /dev/shm tmpfs rw,nosuid,nodev,size=16777216k 0 0",
    ]
    if docker:
        fr.write("usr/bin/dockerd", "")
    if containerd:
        fr.write("usr/bin/containerd", "")
    if kubelet:
        fr.write("usr/bin/kubelet", "")
    fr.write("usr/bin/nvidia-container-runtime", "")
    return fr.flush()


def _facts(fr: FakeRoot) -> Facts:
    fr.flush()
    return collect_facts(fr.root, dict(fr.env), live=False)


def _found(facts: Facts) -> dict[str, Finding]:
    return {f.cause: f for f in run_fact_rules(facts, CheckOptions()) if f.cause in IDS}


def _all(facts: Facts, cause: str) -> list[Finding]:
    return [f for f in run_fact_rules(facts, CheckOptions()) if f.cause == cause]


def _docker(fr: FakeRoot, config: object | str) -> dict[str, Finding]:
    fr.write(DAEMON, config if isinstance(config, str) else json.dumps(config))
    return _found(_facts(fr))


# --- clean defaults ------------------------------------------------------------------------------------------


def test_no_engine_config_at_all_is_unknown_and_quiet(tmp_path: Path) -> None:
    facts = _facts(_host(tmp_path, docker=False, containerd=False))
    eng = facts.engines
    assert (eng.docker_state, eng.containerd_state, eng.dockerd, eng.containerd) == (None, None, [], [])
    assert not _found(facts)


def test_engines_installed_without_files_are_their_defaults_and_quiet(tmp_path: Path) -> None:
    facts = _facts(_host(tmp_path, kubelet=True))
    eng = facts.engines
    assert (eng.docker_state, eng.containerd_state) == ("absent", "absent")
    assert eng.dockerd == ["/usr/bin/dockerd"] and eng.kubelet == ["/usr/bin/kubelet"]
    assert not _found(facts)


def test_nvidia_ctk_daemon_json_is_clean(tmp_path: Path) -> None:
    # what `nvidia-ctk runtime configure --runtime=docker` writes, plus common keys
    config = {
        "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}},
        "log-driver": "json-file", "log-opts": {"max-size": "10m"}, "data-root": "/data/docker",
        "registry-mirrors": ["https://mirror.example"], "default-address-pools": [{"base": "10.10.0.0/16", "size": 24}],
        "features": {"cdi": True}, "exec-opts": ["native.cgroupdriver=systemd"], "live-restore": True,
    }
    fr = _host(tmp_path)
    found = _docker(fr, config)
    assert not found
    eng = _facts(fr).engines
    (rt,) = eng.docker_runtimes
    assert (rt.name, rt.path, rt.resolved, rt.exists) == (
        "nvidia", "nvidia-container-runtime", "/usr/bin/nvidia-container-runtime", True)
    assert eng.docker_features_cdi is True and "log-opts" in eng.docker_keys


def test_an_empty_daemon_json_is_the_defaults(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    facts = _facts(fr.write(DAEMON, "  \n"))
    assert facts.engines.docker_state == "read" and not facts.engines.docker_refused
    assert not _found(facts)


def test_containerd_default_config_is_clean(tmp_path: Path) -> None:
    fr = _host(tmp_path, kubelet=True)
    fr.write(CTRD, V2_NVIDIA.replace("BinaryName", "SystemdCgroup = true\nBinaryName"))
    fr.write(KUBELET, "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n")
    facts = _facts(fr)
    eng = facts.engines
    assert (eng.containerd_version, eng.containerd_cri_table) == (2, "plugins.io.containerd.grpc.v1.cri")
    (rt,) = eng.containerd_runtimes
    assert (rt.name, rt.runtime_type, rt.systemd_cgroup, rt.exists) == ("nvidia", "io.containerd.runc.v2", True, True)
    assert eng.kubelet_cgroup_driver == "systemd"
    assert not _found(facts)


# --- runtime.docker-daemon-config-invalid ------------------------------------------------------------------------


def test_daemon_json_that_is_not_json_proves_dockerd_does_not_start(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    facts = _facts(fr.write(DAEMON, '{"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}},}\n'))
    assert facts.engines.docker_state == "read" and facts.engines.docker_refused
    (line,) = [e for e in facts.errors if "daemon.json" in e]
    assert "not valid JSON" in line and "\n" not in line
    found = _found(facts)
    assert list(found) == ["runtime.docker-daemon-config-invalid"]
    f = found["runtime.docker-daemon-config-invalid"]
    assert f.severity.value == "blocker" and f.confidence == "proves"
    assert f.evidence[0].source == "/etc/docker/daemon.json"
    r = run_cli("check", "--root", str(fr.root))
    assert "Traceback" not in r.stderr and r.returncode == 3
    assert "runtime.docker-daemon-config-invalid" in r.stdout


@pytest.mark.parametrize("text", ["[1, 2]", '"nvidia"', "{\"a\": NaN}"])
def test_json_that_dockerd_refuses_in_other_ways(tmp_path: Path, text: str) -> None:
    f = _docker(_host(tmp_path), text)["runtime.docker-daemon-config-invalid"]
    assert f.confidence == "proves"


def test_a_key_no_dockerd_knows_suggests_it_refuses_the_file(tmp_path: Path) -> None:
    f = _docker(_host(tmp_path), {"log-driver": "json-file", "default-gpus": "all"})[
        "runtime.docker-daemon-config-invalid"]
    assert f.confidence == "suggests"
    assert f.evidence[0].text == f'no dockerd option from {TAGS[0]} to {TAGS[-1]}: "default-gpus"'
    assert "don't match any configuration option" in f.message and "no dockerd release from" in f.message


def test_nested_objects_are_flattened_as_dockerd_does(tmp_path: Path) -> None:
    # {"proxies": {...}} is the keys http-proxy/no-proxy (configValuesSet), known since v23; the URL's password is
    # never in the facts
    fr = _host(tmp_path)
    found = _docker(fr, {"proxies": {"http-proxy": "http://user:hunter2@proxy:3128", "no-proxy": "localhost"}})
    assert "runtime.docker-daemon-config-invalid" not in found
    facts = _facts(fr)
    assert facts.engines.docker_keys == ["http-proxy", "no-proxy"]
    assert "hunter2" not in dump_facts(facts)
    f = _docker(fr, {"proxies": {"http-proxy": "http://p", "bogus-proxy": "x"}})["runtime.docker-daemon-config-invalid"]
    assert "bogus-proxy" in f.message


def test_a_retired_key_is_named_with_the_last_release_that_knew_it(tmp_path: Path) -> None:
    assert KEYS["graph"][-1] != TAGS[-1]  # --graph was removed (v23 was the last harvested release with it)
    f = _docker(_host(tmp_path), {"graph": "/data/docker"})["runtime.docker-daemon-config-invalid"]
    assert f.confidence == "suggests" and f"up to {KEYS['graph'][-1]}" in f.evidence[0].text

    # the text output keeps a key name that looks like a secret's (the redactor sees no value after it)
    fr = _host(tmp_path / "b")
    r = run_cli("check", "--root", str(fr.write(DAEMON, '{"registry-api-key": "x"}').root), "--verbose")
    assert 'docker-v29.7.2: "registry-api-key"' in r.stdout
    assert f"releases after {KEYS['graph'][-1]} no longer accept" in f.message


def test_the_harvested_key_list_holds_the_common_keys() -> None:
    for key in ("default-runtime", "runtimes", "features", "default-shm-size", "default-ulimits", "log-opts",
                "registry-mirrors", "insecure-registries", "default-address-pools", "data-root", "tls", "hosts"):
        assert TAGS[-1] in KEYS[key], key


def test_a_default_runtime_that_is_not_registered_stops_dockerd(tmp_path: Path) -> None:
    f = _docker(_host(tmp_path), {"default-runtime": "nvidia"})["runtime.docker-daemon-config-invalid"]
    assert f.confidence == "proves" and "does not exist" in f.message
    assert not _docker(_host(tmp_path / "b"), {"default-runtime": "runc"})
    assert not _docker(_host(tmp_path / "c"), {"default-runtime": "io.containerd.runc.v2"})  # a c8d name (v25+)


def test_a_wrong_type_is_one_line_and_suggests(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    facts = _facts(fr.write(DAEMON, json.dumps({"features": {"cdi": "true"}})))
    assert any("features.cdi is not a boolean" in e for e in facts.errors)
    found = _found(facts)
    assert list(found) == ["runtime.docker-daemon-config-invalid"]
    assert found["runtime.docker-daemon-config-invalid"].confidence == "suggests"


def test_utf8_and_utf16_byte_order_marks_are_read(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    text = json.dumps({"default-runtime": "nvidia"})
    fr.path(DAEMON).parent.mkdir(parents=True, exist_ok=True)
    fr.path(DAEMON).write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert _facts(fr).engines.docker_default_runtime == "nvidia"
    fr.path(DAEMON).write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    assert _facts(fr).engines.docker_default_runtime == "nvidia"


# --- files check must not read ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [DAEMON, CTRD])
def test_binary_file_is_one_error_line_not_judged(tmp_path: Path, target: str) -> None:
    fr = _host(tmp_path, kubelet=True)
    fr.path(target).parent.mkdir(parents=True, exist_ok=True)
    fr.path(target).write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\xff" * 40)
    facts = _facts(fr)
    state = facts.engines.docker_state if target == DAEMON else facts.engines.containerd_state
    assert state == "invalid"
    assert len([e for e in facts.errors if e.startswith("/" + target)]) == 1
    assert not _found(facts)


@pytest.mark.parametrize("target", [DAEMON, CTRD])
def test_a_100_mb_file_is_refused_not_read(tmp_path: Path, target: str) -> None:
    fr = _host(tmp_path)
    fr.write(target, "")
    with open(fr.path(target), "r+b") as fh:
        fh.truncate(100 << 20)
    facts = _facts(fr)
    (line,) = [e for e in facts.errors if e.startswith("/" + target)]
    assert "limit" in line
    assert not _found(facts)


@pytest.mark.parametrize("target", [DAEMON, CTRD])
def test_a_fifo_is_never_opened_for_reading(tmp_path: Path, target: str) -> None:
    fr = _host(tmp_path)
    fr.path(target).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fr.path(target))
    facts = _facts(fr)  # would hang on open() of a FIFO without a writer
    assert any(e.startswith("/" + target) for e in facts.errors)
    assert not _found(facts)


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_a_daemon_json_linked_out_of_the_root_is_never_read(tmp_path: Path, how: str) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"default-runtime": "nvidia", "MARKER-OUTSIDE": 1}')
    fr = _host(tmp_path)
    target = str(outside) if how == "absolute" else "../" * 8 + str(outside).lstrip("/")
    fr.symlink(DAEMON, target)
    facts = _facts(fr)
    assert facts.engines.docker_state == "invalid" and facts.engines.docker_keys == []
    assert "MARKER-OUTSIDE" not in dump_facts(facts)
    assert not _found(facts)


def test_containerd_import_linked_out_of_the_root_is_never_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text('disabled_plugins = ["cri"]\n# MARKER-OUTSIDE\n')
    fr = _host(tmp_path, kubelet=True)
    fr.write(CTRD, 'imports = ["/etc/containerd/conf.d/*.toml"]\n')
    fr.symlink("etc/containerd/conf.d/99-evil.toml", str(outside))
    facts = _facts(fr)
    assert facts.engines.containerd_disabled_plugins == [] and facts.engines.containerd_imports == []
    assert "runtime.containerd-cri-disabled" not in _found(facts)


def test_nothing_fires_inside_a_container(tmp_path: Path) -> None:
    fr = _host(tmp_path, kubelet=True)
    fr.write(DAEMON, "{not json")
    fr.write(CTRD, 'disabled_plugins = ["cri"]\n')
    fr.mounts = FakeRoot(tmp_path / "c").mounts  # overlay / and a tmpfs /dev: a container
    fr.dockerenv()
    facts = _facts(fr)
    assert facts.engines.docker_refused and facts.engines.containerd_disabled_plugins == ["cri"]
    assert not _found(facts)


# --- runtime.cdi-feature-disabled --------------------------------------------------------------------------------


def test_cdi_feature_false_on_a_cdi_host(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.write("etc/cdi/nvidia.yaml", CDI_SPEC)
    f = _docker(fr, {"features": {"cdi": False}})["runtime.cdi-feature-disabled"]
    assert f.severity.value == "blocker" and f.confidence == "suggests"
    assert f.evidence[0].text == '"features": {"cdi": false}' and f.evidence[1].source == "/etc/cdi/nvidia.yaml"
    assert f.fixes[0].id == "enable-docker-cdi"


def test_cdi_feature_not_set_on_a_cdi_host_is_a_notice(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.write("etc/cdi/nvidia.yaml", CDI_SPEC)
    f = _docker(fr, {"log-driver": "json-file"})["runtime.cdi-feature-disabled"]
    assert f.severity.value == "notice" and "28.2" in f.message


def test_cdi_feature_false_without_a_cdi_setup_or_set_true_is_quiet(tmp_path: Path) -> None:
    assert "runtime.cdi-feature-disabled" not in _docker(_host(tmp_path), {"features": {"cdi": False}})
    fr = _host(tmp_path / "b")
    fr.write("etc/cdi/nvidia.yaml", CDI_SPEC)
    assert "runtime.cdi-feature-disabled" not in _docker(fr, {"features": {"cdi": True}})


def test_cdi_feature_false_with_the_toolkit_in_cdi_mode(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.write("etc/nvidia-container-runtime/config.toml", '[nvidia-container-runtime]\nmode = "cdi"\n')
    f = _docker(fr, {"features": {"cdi": False}})["runtime.cdi-feature-disabled"]
    assert 'mode = "cdi"' in f.evidence[1].text


# --- runtime.nvidia-toolkit-missing ------------------------------------------------------------------------------


def test_a_registered_nvidia_runtime_without_its_binary(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.path("usr/bin/nvidia-container-runtime").unlink()
    runtimes = {"nvidia": {"path": "nvidia-container-runtime", "args": []}}
    f = _docker(fr, {"runtimes": runtimes})["runtime.nvidia-toolkit-missing"]
    assert f.confidence == "suggests" and "--runtime=nvidia" in f.message
    assert f.evidence[1].text == "not on the engines' PATH"
    f = _docker(fr, {"runtimes": runtimes, "default-runtime": "nvidia"})["runtime.nvidia-toolkit-missing"]
    assert f.confidence == "proves" and "every container" in f.message


def test_an_absolute_runtime_path_is_tested_in_the_root(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    assert not _docker(fr, {"runtimes": {"nvidia": {"path": "/usr/bin/nvidia-container-runtime"}}})
    f = _docker(fr, {"runtimes": {"nvidia": {"path": "/opt/nvidia/nvidia-container-runtime"}}})[
        "runtime.nvidia-toolkit-missing"]
    assert f.evidence[1].source == "/opt/nvidia/nvidia-container-runtime" and f.evidence[1].text == "absent"


def test_a_path_name_found_in_usr_local_bin(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.path("usr/bin/nvidia-container-runtime").unlink()
    fr.write("usr/local/bin/nvidia-container-runtime", "")
    assert not _docker(fr, {"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}})


def test_a_containerd_nvidia_runtime_without_its_binary(tmp_path: Path) -> None:
    fr = _host(tmp_path, kubelet=True)
    fr.path("usr/bin/nvidia-container-runtime").unlink()
    fr.write(CTRD, V2_NVIDIA)
    f = _found(_facts(fr))["runtime.nvidia-toolkit-missing"]
    assert f.confidence == "suggests" and "RuntimeClass" in f.message
    fr.write(CTRD, V2_NVIDIA + '[plugins."io.containerd.grpc.v1.cri".containerd]\ndefault_runtime_name = "nvidia"\n')
    f = _found(_facts(fr))["runtime.nvidia-toolkit-missing"]
    assert f.confidence == "proves" and "every pod" in f.message
    assert f.evidence[0].source == "/etc/containerd/config.toml"


def test_a_containerd_nvidia_runtime_without_a_kubelet_is_not_judged(tmp_path: Path) -> None:
    # Docker keeps its own runtimes: containerd's CRI entries serve the kubelet
    fr = _host(tmp_path)
    fr.path("usr/bin/nvidia-container-runtime").unlink()
    assert "runtime.nvidia-toolkit-missing" not in _found(_facts(fr.write(CTRD, V2_NVIDIA)))


# --- shm.too-small / rdma.memlock-too-low: the daemon's defaults ----------------------------------------------


def test_default_shm_size_below_a_gib_is_a_notice(tmp_path: Path) -> None:
    (f,) = [x for x in _all(_facts(_host(tmp_path).write(DAEMON, '{"default-shm-size": "64M"}')), "shm.too-small")]
    assert f.severity.value == "notice" and f.confidence == "suggests" and "64 MiB" in f.message
    assert f.evidence[0].source == "/etc/docker/daemon.json"


def test_default_shm_size_large_or_unset_is_quiet(tmp_path: Path) -> None:
    assert not _all(_facts(_host(tmp_path).write(DAEMON, '{"default-shm-size": "16g"}')), "shm.too-small")
    assert not _all(_facts(_host(tmp_path / "b").write(DAEMON, "{}")), "shm.too-small")


def test_default_memlock_low_on_an_rdma_host_is_a_notice(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.mknod("dev/infiniband/uverbs0", 231, 192)
    config = {"default-ulimits": {"memlock": {"Name": "memlock", "Soft": 65536, "Hard": 65536}}}
    (f,) = _all(_facts(fr.write(DAEMON, json.dumps(config))), "rdma.memlock-too-low")
    assert f.severity.value == "notice" and "65536" in f.message
    unlimited = {"default-ulimits": {"memlock": {"Name": "memlock", "Soft": -1, "Hard": -1}}}
    assert not _all(_facts(fr.write(DAEMON, json.dumps(unlimited))), "rdma.memlock-too-low")


def test_default_memlock_low_without_rdma_is_quiet(tmp_path: Path) -> None:
    config = {"default-ulimits": {"memlock": {"Name": "memlock", "Soft": 65536, "Hard": 65536}}}
    assert not _all(_facts(_host(tmp_path).write(DAEMON, json.dumps(config))), "rdma.memlock-too-low")


# --- runtime.containerd-cri-disabled -----------------------------------------------------------------------------


def test_docker_containerd_io_config_on_a_kubelet_node(tmp_path: Path) -> None:
    fr = _host(tmp_path, kubelet=True)
    f = _found(_facts(fr.write(CTRD, 'disabled_plugins = ["cri"]\n')))["runtime.containerd-cri-disabled"]
    assert f.confidence == "proves" and f.evidence[1].source == "/usr/bin/kubelet"


def test_a_uri_in_a_version_1_file_disables_the_cri_only_on_containerd_2(tmp_path: Path) -> None:
    fr = _host(tmp_path, kubelet=True)
    f = _found(_facts(fr.write(CTRD, 'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n')))[
        "runtime.containerd-cri-disabled"]
    assert f.confidence == "suggests"


def test_cri_disabled_without_a_kubelet_is_docker_only_and_quiet(tmp_path: Path) -> None:
    assert "runtime.containerd-cri-disabled" not in _found(_facts(_host(tmp_path).write(CTRD, 'disabled_plugins = ["cri"]\n')))


def test_cri_disabled_by_uri_in_version_2_and_3(tmp_path: Path) -> None:
    for v in (2, 3):
        fr = _host(tmp_path / str(v), kubelet=True)
        fr.write(CTRD, f'version = {v}\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
        assert "runtime.containerd-cri-disabled" in _found(_facts(fr))


def test_a_version_2_file_with_a_bare_plugin_id_does_not_load(tmp_path: Path) -> None:
    # containerd 1.7 ValidateV2 / 2.0 ValidateVersion: 'invalid disabled plugin URI "cri"'; another failure
    facts = _facts(_host(tmp_path, kubelet=True).write(CTRD, 'version = 2\ndisabled_plugins = ["cri"]\n'))
    assert facts.engines.containerd_refused and "cri" in facts.engines.containerd_refused
    assert not _found(facts)


def test_cri_disabled_in_an_import(tmp_path: Path) -> None:
    fr = _host(tmp_path, kubelet=True)
    fr.write(CTRD, 'imports = ["conf.d/*.toml"]\n')  # relative to the importing file's directory
    fr.write("etc/containerd/conf.d/10-docker.toml", 'disabled_plugins = ["cri"]\n')
    facts = _facts(fr)
    assert facts.engines.containerd_imports == ["/etc/containerd/conf.d/10-docker.toml"]
    assert "runtime.containerd-cri-disabled" in _found(facts)


def test_malformed_containerd_toml_is_an_error_line_not_judged(tmp_path: Path) -> None:
    facts = _facts(_host(tmp_path, kubelet=True).write(CTRD, 'disabled_plugins = ["cri"\n'))
    assert facts.engines.containerd_state == "invalid"
    (line,) = [e for e in facts.errors if "config.toml" in e]
    assert "not valid TOML" in line
    assert not _found(facts)


# --- runtime.cgroup-driver-mismatch ------------------------------------------------------------------------------


def test_systemd_nvidia_entry_under_a_cgroupfs_kubelet(tmp_path: Path) -> None:
    fr = _host(tmp_path, kubelet=True)
    fr.write(CTRD, V2_NVIDIA + "SystemdCgroup = true\n")
    fr.write(KUBELET, "kind: KubeletConfiguration\ncgroupDriver: cgroupfs\n")
    f = _found(_facts(fr))["runtime.cgroup-driver-mismatch"]
    assert f.confidence == "suggests" and "nvidia" in f.message
    assert f.evidence[0].text == "cgroupDriver: cgroupfs" and f.evidence[1].text == "runtime nvidia: SystemdCgroup = true"


def test_nvidia_entry_without_systemd_cgroup_under_a_systemd_kubelet(tmp_path: Path) -> None:
    fr = _host(tmp_path, kubelet=True)
    fr.write(CTRD, V2_NVIDIA)
    fr.write(KUBELET, 'cgroupDriver: "systemd"  # kubeadm\n')
    f = _found(_facts(fr))["runtime.cgroup-driver-mismatch"]
    assert "not set (false)" in f.evidence[1].text


def test_no_explicit_kubelet_driver_is_quiet(tmp_path: Path) -> None:
    fr = _host(tmp_path, kubelet=True)
    fr.write(CTRD, V2_NVIDIA + "SystemdCgroup = true\n")
    fr.write(KUBELET, "kind: KubeletConfiguration\n  cgroupDriver: cgroupfs\n")  # indented: not the top-level key
    assert "runtime.cgroup-driver-mismatch" not in _found(_facts(fr))


# --- runtime.containerd-cdi-disabled -----------------------------------------------------------------------------


def _dra(fr: FakeRoot) -> FakeRoot:
    fr.write("var/lib/kubelet/plugins_registry/gpu.nvidia.com-reg.sock", "")
    return fr


def test_enable_cdi_false_on_a_dra_node_proves(tmp_path: Path) -> None:
    fr = _dra(_host(tmp_path, kubelet=True))
    fr.write(CTRD, 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nenable_cdi = false\n')
    f = _found(_facts(fr))["runtime.containerd-cdi-disabled"]
    assert f.severity.value == "blocker" and f.confidence == "proves"
    assert f.evidence[0].text == "[plugins.io.containerd.grpc.v1.cri] enable_cdi = false"
    assert f.evidence[1].text == "gpu.nvidia.com-reg.sock (DRA driver)"
    assert f.fixes[0].id == "enable-containerd-cdi"


def test_enable_cdi_unset_in_a_version_2_file_suggests(tmp_path: Path) -> None:
    fr = _dra(_host(tmp_path, kubelet=True))
    f = _found(_facts(fr.write(CTRD, V2_NVIDIA)))["runtime.containerd-cdi-disabled"]
    assert f.confidence == "suggests" and "2.0" in f.message


def test_enable_cdi_unset_in_a_version_3_file_is_containerd_2_and_on(tmp_path: Path) -> None:
    fr = _dra(_host(tmp_path, kubelet=True))
    fr.write(CTRD, 'version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd]\ndefault_runtime_name = "runc"\n')
    facts = _facts(fr)
    assert facts.engines.containerd_cri_table == "plugins.io.containerd.cri.v1.runtime"
    assert "runtime.containerd-cdi-disabled" not in _found(facts)
    fr.write(CTRD, 'version = 3\n[plugins."io.containerd.cri.v1.runtime"]\nenable_cdi = false\n')
    assert "runtime.containerd-cdi-disabled" in _found(_facts(fr))


def test_enable_cdi_true_in_a_version_1_file(tmp_path: Path) -> None:
    fr = _dra(_host(tmp_path, kubelet=True))
    fr.write(CTRD, "[plugins.cri]\nenable_cdi = true\n")
    assert "runtime.containerd-cdi-disabled" not in _found(_facts(fr))
    fr.write(CTRD, "[plugins.cri]\nenable_cdi = false\n")
    assert _found(_facts(fr))["runtime.containerd-cdi-disabled"].confidence == "proves"


def test_enable_cdi_set_by_the_toolkit_drop_in(tmp_path: Path) -> None:
    fr = _dra(_host(tmp_path, kubelet=True))
    fr.write(CTRD, 'version = 2\nimports = ["/etc/containerd/conf.d/*.toml"]\n'
                   '[plugins."io.containerd.grpc.v1.cri"]\nenable_cdi = false\n')
    fr.write("etc/containerd/conf.d/99-nvidia.toml", 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nenable_cdi = true\n')
    assert "runtime.containerd-cdi-disabled" not in _found(_facts(fr))


def test_a_k8s_cdi_spec_without_a_dra_socket_is_a_cdi_node_too(tmp_path: Path) -> None:
    fr = _host(tmp_path, kubelet=True)
    fr.write("var/run/cdi/k8s.gpu.nvidia.com-claim_1.yaml", CDI_SPEC.replace("nvidia.com/gpu", "k8s.gpu.nvidia.com/claim"))
    f = _found(_facts(fr.write(CTRD, "[plugins.cri]\nenable_cdi = false\n")))["runtime.containerd-cdi-disabled"]
    assert "k8s.gpu.nvidia.com/claim" in f.evidence[1].text


def test_enable_cdi_false_without_cdi_allocation_is_quiet(tmp_path: Path) -> None:
    fr = _host(tmp_path, kubelet=True)
    assert "runtime.containerd-cdi-disabled" not in _found(_facts(fr.write(CTRD, "[plugins.cri]\nenable_cdi = false\n")))


def _go_elf(main_path: str) -> bytes:
    """A minimal ELF64 whose .go.buildinfo section holds Go 1.18+'s inline build info for `main_path`
    (go/src/debug/buildinfo/buildinfo.go: magic, pointer size, flags 2, then varint-prefixed version and modinfo)."""
    sentinel = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
    info = sentinel + f"path\t{main_path}\nbuild\t-compiler=gc\n".encode() + bytes.fromhex("f932433186182072008242104116d8f2")

    def varint(n: int) -> bytes:
        out = b""
        while n >= 0x80:
            out, n = out + bytes([n & 0x7F | 0x80]), n >> 7
        return out + bytes([n])

    bi = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16) + varint(8) + b"go1.22.5" + varint(len(info)) + info
    names = b"\0.shstrtab\0.go.buildinfo\0"
    names_off, bi_off = 64, 64 + len(names)
    shoff = bi_off + len(bi)
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 1)
    sh = bytes(64)  # SHN_UNDEF
    sh += struct.pack("<IIQQQQIIQQ", 1, 3, 0, 0, names_off, len(names), 0, 0, 1, 0)
    sh += struct.pack("<IIQQQQIIQQ", 11, 1, 3, 0, bi_off, len(bi), 0, 0, 16, 0)
    return header + names + bi + sh


@pytest.mark.parametrize(("main", "release"), [
    ("github.com/containerd/containerd/cmd/containerd", 1),  # 1.x (Debian's GOPATH build prints no mod line)
    ("github.com/containerd/containerd/v2/cmd/containerd", 2),  # go.mod @v2.0.0: module .../containerd/v2
    ("github.com/k3s-io/k3s/cmd/server", None),  # not containerd's own binary
])
def test_containerd_release_is_read_from_the_binary_go_build_info(tmp_path: Path, main: str, release: int | None) -> None:
    fr = _dra(_host(tmp_path, kubelet=True))
    fr.path("usr/bin/containerd").write_bytes(_go_elf(main))
    facts = _facts(fr.write(CTRD, V2_NVIDIA))
    assert facts.engines.containerd_release == release
    got = _found(facts).get("runtime.containerd-cdi-disabled")
    if release == 2:  # enable_cdi defaults to true on 2.x, whatever the file's version
        assert got is None
    elif release == 1:
        assert got is not None and got.confidence == "proves" and "1.x" in got.message
        assert any("Go build info" in e.text for e in got.evidence)
    else:
        assert got is not None and got.confidence == "suggests"


def test_containerd_binaries_that_disagree_leave_the_release_unknown(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.path("usr/bin/containerd").write_bytes(_go_elf("github.com/containerd/containerd/cmd/containerd"))
    fr.path("usr/local/bin").mkdir(parents=True, exist_ok=True)
    fr.path("usr/local/bin/containerd").write_bytes(_go_elf("github.com/containerd/containerd/v2/cmd/containerd"))
    assert _facts(fr).engines.containerd_release is None
    fr.path("usr/local/bin/containerd").write_bytes(b"\x7fELF" + bytes(60))  # truncated/garbage: skipped, no error
    assert _facts(fr).engines.containerd_release == 1


def test_a_containerd_binary_linked_out_of_the_root_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside-containerd"
    outside.write_bytes(_go_elf("github.com/containerd/containerd/v2/cmd/containerd"))
    fr = _host(tmp_path / "root", containerd=False)
    fr.symlink("usr/bin/containerd", str(outside))
    assert _facts(fr).engines.containerd_release is None


@pytest.mark.skipif(not shutil.which("containerd"), reason="no containerd binary on this machine")
def test_the_release_of_a_real_containerd_binary(tmp_path: Path) -> None:
    real = shutil.which("containerd")
    assert real
    version = subprocess.run([real, "--version"], capture_output=True, text=True, timeout=30).stdout
    fr = _host(tmp_path)
    shutil.copyfile(real, fr.path("usr/bin/containerd"))
    want = 2 if "github.com/containerd/containerd/v2 " in version else 1
    assert _facts(fr).engines.containerd_release == want, version


# --- snapshots and the CLI ----------------------------------------------------------------------------------------


def test_snapshot_round_trip_gives_the_same_findings(tmp_path: Path) -> None:
    fr = _dra(_host(tmp_path, kubelet=True))
    fr.write(CTRD, "[plugins.cri]\nenable_cdi = false\n")
    fr.write(DAEMON, '{"default-runtime": "nvidia"}')
    facts = _facts(fr)
    again = parse_snapshot(dump_facts(facts), "snap.json")
    assert sorted(_found(again)) == sorted(_found(facts)) == [
        "runtime.containerd-cdi-disabled", "runtime.docker-daemon-config-invalid"]
    snap = json.loads(dump_facts(facts))
    snap_file = tmp_path / "snap.json"
    r = run_cli("check", "--root", str(fr.root), "--snapshot", str(snap_file), "--format", "json")
    again_cli = run_cli("check", "--from-snapshot", str(snap_file), "--format", "json")
    assert r.returncode == again_cli.returncode == 3, (r.stderr, again_cli.stderr)
    assert {f["cause"] for f in json.loads(r.stdout)["findings"]} == {
        f["cause"] for f in json.loads(again_cli.stdout)["findings"]}
    assert snap["engines"]["containerd_enable_cdi"] is False and snap["engines"]["kubelet_plugins"] == ["gpu.nvidia.com"]


@pytest.mark.parametrize("value", ["9" * 400 + "g", "1e400", "99999999999p", " 64m", "64  m", "1.5.2g", "64mm", "64m\n"])
def test_default_shm_size_dockerd_would_refuse_is_an_invalid_file_not_a_crash(tmp_path: Path, value: str) -> None:
    # opts.MemBytes -> go-units RAMInBytes: a size it cannot read (or one too large to be real) makes dockerd refuse
    # the file; check says so in one line instead of a traceback (an OverflowError before the shared reader)
    facts = _facts(_host(tmp_path).write(DAEMON, json.dumps({"default-shm-size": value})))
    assert facts.engines.docker_default_shm_size is None
    assert facts.engines.docker_refused == "default-shm-size is not a size string"
    assert not _all(facts, "shm.too-small")


@pytest.mark.parametrize(("value", "size"), [("64M", 64 << 20), ("1.5g", 3 << 29), ("2 GiB", 2 << 30), ("512kb", 512 << 10)])
def test_default_shm_size_in_every_go_units_form(tmp_path: Path, value: str, size: int) -> None:
    facts = _facts(_host(tmp_path).write(DAEMON, json.dumps({"default-shm-size": value})))
    assert facts.engines.docker_default_shm_size == size and not facts.engines.docker_refused
