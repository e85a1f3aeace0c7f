"""Issue 13, gnew33b: cause ids for container/host causes earlier collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- runtime.nvidia-docker1-volume-stale: nvidia-docker 1.0 (NVIDIA/nvidia-docker v1.0.1) names the driver volume
  nvidia_driver_<version> (src/nvidia-docker-plugin/plugin_volume.go getVolume '^([a-zA-Z0-9_.-]+)_([0-9.]+)$'); the
  plugin answers ErrVolumeNotFound 'no such volume' / ErrVolumeVersion 'invalid volume version' through fmtError
  '%v: %s', Docker relays 'VolumeDriver.Mount: ...' and its own volume store's 'get <name>: no such volume'.
  The wrapper's assert is log.Panicln("Error:", err) under log.SetPrefix(argv[0] + " | ") (src/nvidia-docker/main.go),
  with src/nvidia/nvidia.go's 'Could not load UVM kernel module. Is nvidia-modprobe installed?' and
  src/nvml/bindings.go's 'nvml: %v'. Docker's volume/drivers lookup: 'Error looking up volume plugin %s: %v'.
- runtime.driver-reloaded-under-daemon: libnvidia-container src/cli/configure.c 'mount error: %s' with
  src/nvc_mount.c mount_procfs (params, version, registry appended to one path buffer; a skipped file's name
  stayed on it before the reset) and xmount's 'mount operation failed: %s'.
- nvidia.mig-monitor-denied: nvidia-container-toolkit cmd/nvidia-container-runtime-hook/container_config.go
  ('cannot set MIG_MONITOR_DEVICES in non privileged container', log.Panicln under the hook's log prefix);
  k8s-device-plugin's wrapped errors ('error getting parent memory info: %v', 'error getting device memory info: %v')
  with NVML's nvmlErrorString 'Insufficient Permissions'; nvidia-smi --query-gpu's '[Insufficient Permissions]'
  field; pynvml's _nvmlCheckReturn raising NVMLError_NoPermission under nvmlDeviceGetMemoryInfo.
- amd.kernel-hsa-disabled: scripts/kconfig's '# CONFIG_%s is not set' and 'CONFIG_%s=%s'; drm_dev_register's
  '[drm] Initialized %s %d.%d.%d %s for %s on minor %d'; amdkfd's dev_info lines 'kfd kfd: amdgpu: ...'; rocminfo's
  'Unable to open /dev/kfd read-write: %s'. And check's kernel_hsa_amd on fake roots.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from explain_helpers import notes as _notes
from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.rules.registry import run_fact_rules

_V1 = "runtime.nvidia-docker1-volume-stale"
_RELOAD = "runtime.driver-reloaded-under-daemon"
_MISMATCH = "nvidia.driver-library-mismatch"
_TOOLKIT = "runtime.nvidia-toolkit-missing"
_MIGMON = "nvidia.mig-monitor-denied"
_ADMIN = "capability.gpu-admin-denied"
_HSA = "amd.kernel-hsa-disabled"
_KFD = "device.kfd-missing"


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "nvidia-docker1.driver-volume-gone", "nvidia-docker1.driver-volume-version",
        "nvidia-docker1.volume-plugin-not-found", "nvidia-docker1.uvm-load-failed",
        "nvidia-docker1.nvml-driver-not-loaded", "nvidia-cli.procfs-params-missing",
        "nvidia-hook.mig-monitor-unprivileged", "nvidia-hook.mig-config-unprivileged",
        "k8s-device-plugin.mig-parent-memory-denied", "k8s-device-plugin.device-memory-denied",
        "nvsmi.query-field-insufficient", "nvml.aggregate-getter-called", "kconfig.hsa-amd-not-set",
        "dmesg.amdgpu-initialized", "kfd-kernel-line", "mig-monitor-query-denied", "mig-monitor-nvml-getter-denied",
        "mig-monitor-getter-not-selinux", "mig-monitor-getter-not-group", "mig-monitor-getter-not-userns",
        "mig-monitor-device-plugin-memory", "amdgpu-up-no-kfd", "nvidia-docker1-volume",
        "nvml-mismatch-nvidia-docker1-volume",
    ):
        assert sid in got, sid


# --- runtime.nvidia-docker1-volume-stale ----------------------------------------------------------------------------

_V1_FORMS = {
    # `docker start` of a container created under 381.22 after the host moved to 384.90 (moby's volume store)
    "docker-start-get": (
        "$ docker start -ai digits\n"
        "Error response from daemon: get nvidia_driver_381.22: no such volume: nvidia_driver_381.22\n"
        "Error: failed to start containers: digits\n"
    ),
    # the same through docker run's client prefix
    "docker-run-get": "docker: Error response from daemon: get nvidia_driver_375.66: no such volume.\n",
}

_V1_SUGGESTS = {
    # the plugin's mount answer: the version directory of that driver does not exist
    "plugin-mount": (
        "docker: Error response from daemon: error while mounting volume '': VolumeDriver.Mount: no such volume: "
        "nvidia_driver_384.90.\n"
    ),
    # the plugin's create answer: the version is not the running driver's
    "plugin-create-version": (
        "docker: Error response from daemon: create nvidia_driver_375.39: VolumeDriver.Create: invalid volume "
        "version: nvidia_driver_375.39.\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_V1_FORMS))
def test_docker_missing_an_old_driver_volume_proves_a_stale_nvidia_docker1_container(
    tmp_path: Path, form: str
) -> None:
    got = _findings(tmp_path, _V1_FORMS[form])
    assert got and got[0] == (_V1, "proves"), (form, got)


@pytest.mark.parametrize("form", sorted(_V1_SUGGESTS))
def test_the_plugin_refusing_a_driver_version_suggests_a_stale_volume(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _V1_SUGGESTS[form])
    assert got and got[0] == (_V1, "suggests"), (form, got)


_V1_CLEAN = {
    # the plugin serving the volume of the running driver
    "plugin-mount-request": "nvidia-docker-plugin | 2017/06/13 09:12:55 Received mount request for volume 'nvidia_driver_384.90'\n",
    # the wrapper's generated arguments and a volume listing
    "wrapper-volume-arg": "docker run --volume-driver=nvidia-docker --volume=nvidia_driver_384.90:/usr/local/nvidia:ro --device=/dev/nvidiactl nvidia/cuda nvidia-smi\n",
    "volume-ls": "DRIVER              VOLUME NAME\nnvidia-docker       nvidia_driver_384.90\n",
    # a user's own volume gone: not nvidia-docker's
    "other-volume": "docker: Error response from daemon: get models_cache: no such volume.\n",
}


@pytest.mark.parametrize("form", sorted(_V1_CLEAN))
def test_the_running_drivers_volume_and_other_volumes_are_not_stale(tmp_path: Path, form: str) -> None:
    assert _V1 not in _all(tmp_path, _V1_CLEAN[form]), form
    assert _findings(tmp_path, _V1_FORMS["docker-run-get"])[0][0] == _V1


_V1_OTHER_IDS = {
    # Docker cannot find the plugin at all: nvidia-docker-plugin is not running
    "plugin-not-found": (
        "docker: Error response from daemon: create nvidia_driver_375.26: create nvidia_driver_375.26: Error looking "
        "up volume plugin nvidia-docker: plugin not found.\n",
        (_TOOLKIT, "proves"),
    ),
    # the wrapper could not load nvidia-uvm through nvidia-modprobe
    "wrapper-uvm": (
        "nvidia-docker | 2017/03/01 10:11:12 Error: Could not load UVM kernel module. Is nvidia-modprobe installed?\n",
        (_TOOLKIT, "suggests"),
    ),
    # NVML's NVML_ERROR_DRIVER_NOT_LOADED under the plugin's prefix
    "plugin-nvml-driver-not-loaded": (
        "/usr/bin/nvidia-docker-plugin | 2017/03/01 10:11:12 Error: nvml: Driver Not Loaded\n",
        ("device.no-driver", "proves"),
    ),
}


@pytest.mark.parametrize("form", sorted(_V1_OTHER_IDS))
def test_nvidia_docker1s_other_failures_name_the_existing_ids(tmp_path: Path, form: str) -> None:
    text, want = _V1_OTHER_IDS[form]
    got = _findings(tmp_path, text)
    assert got and got[0] == want, (form, got)


def test_nvmls_mismatch_beside_an_nvidia_docker1_volume_names_the_old_container_too(tmp_path: Path) -> None:
    # NVIDIA/nvidia-docker#737: the existing container still mounts nvidia_driver_384.81, new containers work
    text = (
        "$ docker volume ls\n"
        "DRIVER              VOLUME NAME\n"
        "nvidia-docker       nvidia_driver_384.81\n"
        "$ docker exec -it trainer nvidia-smi\n"
        "Failed to initialize NVML: Driver/library version mismatch\n"
    )
    got = _findings(tmp_path, text)
    assert got[0] == (_MISMATCH, "proves") and (_V1, "suggests") in got, got
    got = _findings(tmp_path, "Failed to initialize NVML: Driver/library version mismatch\n")
    assert _V1 not in [c for c, _ in got], got


# --- runtime.driver-reloaded-under-daemon ----------------------------------------------------------------------------

_HOOK = (
    "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
    "runtime create failed: runc create failed: unable to start container process: error during container init: "
    "error running hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
)

_RELOAD_FORMS = {
    # the tmpfs path in the rootfs (mount operation failed)
    "mount-operation-failed": _HOOK + (
        "nvidia-container-cli: mount error: mount operation failed: /var/lib/docker/overlay2/"
        "307038625cd5/merged/proc/driver/nvidia/params/version/registry: no such file or directory: unknown\n"
    ),
    # an older wording of the same read
    "open-failed-real": (
        "nvidia-container-cli.real: mount error: open failed: /proc/driver/nvidia/params/version/registry: no such "
        "file or directory\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_RELOAD_FORMS))
def test_the_hook_missing_the_drivers_procfs_names_a_reload_under_the_daemon(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _RELOAD_FORMS[form])
    assert got and got[0] == (_RELOAD, "suggests"), (form, got)
    assert _MISMATCH not in [c for c, _ in got]


_RELOAD_CLEAN = {
    # a GPU's procfs directory of another bus id (nvidia-docker#816), not the driver's params
    "gpus-busid": "nvidia-container-cli: mount error: stat failed: /proc/driver/nvidia/gpus/0000:3b:00.0: no such file or directory\n",
    # nvidia-smi baked into the image (nvidia-docker#825)
    "file-exists": (
        "nvidia-container-cli: mount error: file creation failed: /var/lib/docker/overlay2/bd4f/merged/usr/bin/"
        "nvidia-smi: file exists\n"
    ),
    # the hook's own debug line reading the params
    "debug-mounting-tmpfs": "I0522 08:42:54.185000 101983 nvc_mount.c:369] mounting tmpfs at /var/lib/docker/overlay2/c466/merged/proc/driver/nvidia\n",
}


@pytest.mark.parametrize("form", sorted(_RELOAD_CLEAN))
def test_other_hook_mount_errors_are_not_a_reload(tmp_path: Path, form: str) -> None:
    assert _RELOAD not in _all(tmp_path, _RELOAD_CLEAN[form]), form
    assert _findings(tmp_path, _RELOAD_FORMS["open-failed-real"])[0][0] == _RELOAD


# --- nvidia.mig-monitor-denied -------------------------------------------------------------------------------------

_MIG_LIST = (
    "$ nvidia-smi -L\n"
    "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5f2a0c1e-8d3b-4a6c-9e21-0b7c3d4e5f60)\n"
    "  MIG 3g.20gb     Device  0: (UUID: MIG-1c2d3e4f-5a6b-5c7d-8e9f-0a1b2c3d4e5f)\n"
)
_SMI_QUERY = "$ nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits\n[Insufficient Permissions]\n"
_PYNVML = (
    "Traceback (most recent call last):\n"
    '  File "<stdin>", line 1, in <module>\n'
    '  File "/usr/local/lib/python3.10/dist-packages/pynvml.py", line 2934, in nvmlDeviceGetMemoryInfo\n'
    "    _nvmlCheckReturn(ret)\n"
    '  File "/usr/local/lib/python3.10/dist-packages/pynvml.py", line 979, in _nvmlCheckReturn\n'
    "    raise NVMLError(ret)\n"
    "pynvml.NVMLError_NoPermission: Insufficient Permissions\n"
)

_MIGMON_PROVES = {
    # the hook refuses the monitor request of a container without CAP_SYS_ADMIN
    "hook-monitor-unprivileged": (
        "stderr: nvidia-container-runtime-hook: 2024/05/02 11:20:31 cannot set MIG_MONITOR_DEVICES in non "
        "privileged container\n"
    ),
    # the device plugin naming a MIG device's profile from its parent's memory
    "device-plugin-parent-memory": (
        "E0407 10:11:12.123456       1 main.go:188] error starting plugins: error getting plugins: unable to create "
        "plugins: failed to construct resource managers: error building device map: error building MIG device map: "
        "error visiting MIG device: error getting MIG profile for MIG device at index '(0, 0)': error getting parent "
        "memory info: Insufficient Permissions\n"
    ),
}

_MIGMON_SUGGESTS = {
    "smi-query-field": _MIG_LIST + _SMI_QUERY,
    # sglang's get_nvgpu_memory_capacity parsing the field
    "smi-field-parsed": _MIG_LIST + "ValueError: invalid literal for int() with base 10: '[Insufficient Permissions]'\n",
    "pynvml-memory-info": _MIG_LIST + _PYNVML,
    "pynvml-memory-info-prose": "The pod runs on a MIG instance of an H100.\n" + _PYNVML,
    "device-plugin-device-memory": (
        "CUDA_VISIBLE_DEVICES=MIG-GPU-8a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d/1/0\n"
        "error starting plugins: unable to add default resources to config: error visiting devices: error visiting "
        "device: error visiting device: error getting device memory info: Insufficient Permissions\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_MIGMON_PROVES))
def test_the_hook_and_the_device_plugin_prove_the_mig_monitor_capability_missing(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _MIGMON_PROVES[form])
    assert got and got[0] == (_MIGMON, "proves"), (form, got)


@pytest.mark.parametrize("form", sorted(_MIGMON_SUGGESTS))
def test_a_refused_read_of_the_parent_beside_mig_suggests_the_monitor_capability(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _MIGMON_SUGGESTS[form])
    assert got and got[0] == (_MIGMON, "suggests"), (form, got)
    causes = [c for c, _ in got]
    assert "lsm.selinux-device-denied" not in causes and "device.group-denied" not in causes, got


_MIGMON_CLEAN = {
    # no MIG evidence: the same refusals say nothing of MIG
    "smi-query-no-mig": _SMI_QUERY,
    "pynvml-no-mig": _PYNVML,
    # (the device plugin's "error getting device memory info: Insufficient Permissions" is not here: go-nvlib reads that
    # memory only on a MIG-capable GPU, so glearn42b made it name the monitor capability; test_explain_glearn42b)
    # MIG's NVML init refused (no read of the parent ran): a device node, not the monitor capability
    "mig-nvml-init": _MIG_LIST + "Failed to initialize NVML: Insufficient Permissions\n",
    # MIG administration: the setter, not a read
    "mig-setter": _MIG_LIST + "Unable to enable MIG Mode for GPU 00000000:21:00.0: Insufficient Permissions\n",
}


@pytest.mark.parametrize("form", sorted(_MIGMON_CLEAN))
def test_without_mig_or_a_read_there_is_no_monitor_capability(tmp_path: Path, form: str) -> None:
    assert _MIGMON not in _all(tmp_path, _MIGMON_CLEAN[form]), form
    assert _findings(tmp_path, _MIGMON_SUGGESTS["smi-query-field"])[0][0] == _MIGMON


def test_the_hooks_mig_config_refusal_is_gpu_administration(tmp_path: Path) -> None:
    got = _findings(
        tmp_path,
        "nvidia-container-runtime-hook: 2024/05/02 11:20:31 cannot set MIG_CONFIG_DEVICES in non privileged container\n",
    )
    assert got and got[0] == (_ADMIN, "proves"), got
    assert _MIGMON not in [c for c, _ in got]


# --- amd.kernel-hsa-disabled (explain) ------------------------------------------------------------------------------

_ROCMINFO = "ROCk module is loaded\nUnable to open /dev/kfd read-write: No such file or directory\n"
_DMESG_AMDGPU = (
    "[    3.101877] [drm] amdgpu kernel modesetting enabled.\n"
    "[    3.412006] amdgpu 0000:03:00.0: amdgpu: Fetched VBIOS from VFCT\n"
    "[    4.210312] [drm] Initialized amdgpu 3.54.0 20150101 for 0000:03:00.0 on minor 0\n"
)

_HSA_PROVES = {
    "boot-config-grep": "$ grep HSA_AMD /boot/config-6.12.6-talos\n# CONFIG_HSA_AMD is not set\n",
    "proc-config-gz": (
        "$ zcat /proc/config.gz | grep -E 'CONFIG_DRM_AMDGPU=|CONFIG_HSA_AMD'\n"
        "CONFIG_DRM_AMDGPU=m\n# CONFIG_HSA_AMD is not set\n"
    ),
    "config-with-rocminfo": "CONFIG_DRM_AMDGPU=y\n# CONFIG_HSA_AMD is not set\n" + _ROCMINFO,
}


@pytest.mark.parametrize("form", sorted(_HSA_PROVES))
def test_the_kernel_config_without_hsa_amd_proves_it(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _HSA_PROVES[form])
    assert got and got[0] == (_HSA, "proves"), (form, got)
    assert _KFD not in [c for c, _ in got], got


def test_rocminfos_missing_kfd_beside_the_config_is_a_note(tmp_path: Path) -> None:
    notes = _notes(tmp_path, _HSA_PROVES["config-with-rocminfo"])
    assert any("CONFIG_HSA_AMD" in n and "/dev/kfd" in n for n in notes), notes


def test_amdgpu_initialised_and_no_kfd_line_suggests_it(tmp_path: Path) -> None:
    got = _findings(tmp_path, _DMESG_AMDGPU + _ROCMINFO)
    assert (_HSA, "suggests") in got, got


_HSA_CLEAN = {
    "config-hsa-y": "CONFIG_DRM_AMDGPU=m\nCONFIG_HSA_AMD=y\nCONFIG_HSA_AMD_SVM=y\n",
    "config-hsa-svm-unset": "CONFIG_HSA_AMD=y\n# CONFIG_HSA_AMD_SVM is not set\n",
    # amdkfd is there: it added the device (the container lacks the node)
    "dmesg-with-kfd": _DMESG_AMDGPU + "[    4.312001] kfd kfd: amdgpu: added device 1002:73bf\n" + _ROCMINFO,
    # rocminfo alone: the container lacks the node
    "rocminfo-alone": _ROCMINFO,
}


@pytest.mark.parametrize("form", sorted(_HSA_CLEAN))
def test_a_kernel_with_amdkfd_or_a_bare_missing_node_is_not_it(tmp_path: Path, form: str) -> None:
    assert _HSA not in _all(tmp_path, _HSA_CLEAN[form]), form
    assert _findings(tmp_path, _HSA_PROVES["boot-config-grep"])[0][0] == _HSA


# --- amd.kernel-hsa-disabled (check: kernel_hsa_amd on fake roots) --------------------------------------------------

_RELEASE = "6.12.6-talos"
_UNSET = "CONFIG_DRM_AMDGPU=m\n# CONFIG_HSA_AMD is not set\n"


def _amd_host(tmp_path: Path, *, module: bool = True, kfd: bool = False) -> FakeRoot:
    fr = FakeRoot(tmp_path).set_kernel(_RELEASE).add_sysfs_gpu(128, "0000:03:00.0", vendor="0x1002", device="0x73bf")
    fr.add_render_node(128)
    if module:
        fr.path("sys/module/amdgpu").mkdir(parents=True, exist_ok=True)
    if kfd:
        fr.mknod("dev/kfd", 235, 0)
    return fr


def _facts(fr: FakeRoot) -> Facts:
    fr.flush()
    return collect_facts(fr.root, {}, live=False)


def _causes(facts: Facts) -> list[str]:
    return [f.cause for f in run_fact_rules(facts, CheckOptions(backend="rocm"))]


def test_check_reads_the_boot_config_and_names_the_kernel(tmp_path: Path) -> None:
    fr = _amd_host(tmp_path).write(f"boot/config-{_RELEASE}", _UNSET)
    facts = _facts(fr)
    assert facts.kernel.amdgpu_loaded and facts.kernel.hsa_amd == "unset"
    assert facts.kernel.config_source == f"/boot/config-{_RELEASE}"
    causes = _causes(facts)
    assert _HSA in causes and _KFD not in causes, causes


def test_check_reads_proc_config_gz_when_boot_has_none(tmp_path: Path) -> None:
    fr = _amd_host(tmp_path)
    fr.path("proc").mkdir(parents=True, exist_ok=True)
    fr.path("proc/config.gz").write_bytes(gzip.compress(_UNSET.encode()))
    facts = _facts(fr)
    assert facts.kernel.hsa_amd == "unset" and facts.kernel.config_source == "/proc/config.gz"
    assert _HSA in _causes(facts)


def test_check_is_silent_with_amdkfd_built(tmp_path: Path) -> None:
    fr = _amd_host(tmp_path).write(f"boot/config-{_RELEASE}", "CONFIG_DRM_AMDGPU=m\nCONFIG_HSA_AMD=y\n")
    facts = _facts(fr)
    assert facts.kernel.hsa_amd == "y"
    causes = _causes(facts)
    assert _HSA not in causes and _KFD in causes, causes  # the container lacks the node: map it


def test_check_is_silent_where_kfd_exists(tmp_path: Path) -> None:
    fr = _amd_host(tmp_path, kfd=True).write(f"boot/config-{_RELEASE}", _UNSET)
    facts = _facts(fr)
    assert facts.kernel.hsa_amd == "unset"  # read, but the node is there: amdkfd came from elsewhere (a DKMS module)
    assert _HSA not in _causes(facts)


def test_check_reads_no_config_without_amdgpu(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).set_kernel(_RELEASE).add_gpu(128, "0000:03:00.0").write(f"boot/config-{_RELEASE}", _UNSET)
    facts = _facts(fr)
    assert facts.kernel.amdgpu_loaded is None and facts.kernel.hsa_amd is None
    assert _HSA not in _causes(facts)


def test_an_unreadable_config_is_no_finding(tmp_path: Path) -> None:
    fr = _amd_host(tmp_path)
    fr.path("proc").mkdir(parents=True, exist_ok=True)
    fr.path("proc/config.gz").write_bytes(b"not gzip at all")
    facts = _facts(fr)
    assert facts.kernel.hsa_amd is None and any("/proc/config.gz" in e for e in facts.errors), facts.errors
    assert _HSA not in _causes(facts)


def test_a_gzip_bomb_stops_at_the_cap(tmp_path: Path) -> None:
    fr = _amd_host(tmp_path)
    fr.path("proc").mkdir(parents=True, exist_ok=True)
    # 64 MiB of newlines inflate from ~64 KiB: more than the 4 MiB cap, the answer at its end never read
    fr.path("proc/config.gz").write_bytes(gzip.compress(b"\n" * (64 << 20) + _UNSET.encode(), compresslevel=9))
    facts = _facts(fr)
    assert facts.kernel.hsa_amd is None and any("inflated" in e for e in facts.errors), facts.errors
    assert _HSA not in _causes(facts)


def test_a_config_link_is_judged_inside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside-config"
    outside.write_text(_UNSET)
    fr = _amd_host(tmp_path).symlink(f"boot/config-{_RELEASE}", str(outside))
    facts = _facts(fr)
    # the absolute link target is resolved inside the root, where it does not exist: nothing read from outside
    assert facts.kernel.hsa_amd is None
    assert _HSA not in _causes(facts)


def test_a_config_fragment_of_another_kernel_says_nothing(tmp_path: Path) -> None:
    fr = _amd_host(tmp_path).write(f"boot/config-{_RELEASE}", "CONFIG_SND_HDA=m\n")
    facts = _facts(fr)
    assert facts.kernel.hsa_amd is None
    assert _HSA not in _causes(facts)
