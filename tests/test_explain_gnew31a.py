"""Issue 13, gnew31a: cause ids for container/host causes heldout28's and heldout30's collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- runtime.bpf-jit-hardened: libnvidia-container's nvcgo (src/nvcgo/internal/cgroup/v2.go AddDeviceRules /
  generateNewProgram: 'unable to generate new device filter program from existing programs: %v' over 'unable to create
  new device filters program: %v'), cilium/ebpf's 'load program: %w' with the kernel verifier's first line
  (kernel/bpf/verifier.c check_subprogs 'last insn is not an exit or jmp', then 'processed %d insns (limit %d) ...'),
  src/nvc_mount.c's 'failed to add device rules: %s' under src/cli/configure.c's 'mount error: %s', and the toolkit's
  'Auto-detected mode as '%v'' (internal/info/auto.go). The kernel dumps no instructions of a constant-blinded
  program (kernel/bpf/syscall.c bpf_prog_get_info_by_fd), so the read-back of runc's filter is zeros on a host with
  net.core.bpf_jit_harden = 2 (bottlerocket-os/bottlerocket#2504).
- nvidia.vgpu-guest-driver-mismatch: open-gpu-kernel-modules osapi.c print_unsupported ('NVRM: The NVIDIA GPU
  %04x:%02x:%02x.%x (PCI ID: %04x:%04x)' / 'installed in this system is not supported by the' / 'NVIDIA %s driver
  release.') and kmod's 'could not insert module %s: %s' (ENODEV), beside a vGPU the log names (NVIDIA/gpu-operator#1371,
  flatcar/Flatcar#1283). Without a vGPU in the log the NVRM line stays nvidia.driver-gpu-unsupported.
- nvidia.host-driver-legacy: libnvidia-container src/driver.c call_nvml (a dlsym miss is NVML_ERROR_FUNCTION_NOT_FOUND,
  error_set_nvml(..., "nvml error") with nvmlErrorString's text) under configure.c's 'detection error: %s'
  (NVIDIA/nvidia-docker#1295: 340.107; NVIDIA/nvidia-container-toolkit#293: 367.134 on a GRID K2).
- amd.kernel-modules-missing: the kernel's module loader ('%s: Unknown symbol %s (err %d)', kernel/module/main.c
  simplify_symbols) for amd_iommu_v2's exports, and kmod's modprobe ('Module %s not found in directory %s' at FATAL)
  (awsdocs/amazon-ec2-user-guide#152: linux-modules-extra not installed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_JIT = "runtime.bpf-jit-hardened"
_CGROUP = "nvidia.hook-cgroup-denied"
_VGPU = "nvidia.vgpu-guest-driver-mismatch"
_BRANCH = "nvidia.driver-gpu-unsupported"
_LEGACY = "nvidia.host-driver-legacy"
_AMD = "amd.kernel-modules-missing"

_HEALTHY_NCCL = (
    "node1:4242:4242 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.1<0>\n"
    "node1:4242:4242 [0] NCCL INFO NET/Plugin: No plugin found (libnccl-net.so), using internal implementation\n"
    "node1:4242:4290 [0] NCCL INFO Channel 00/02 :    0   1\n"
    "node1:4242:4290 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM\n"
    "node1:4242:4290 [0] NCCL INFO Connected all rings\n"
    "node1:4242:4290 [0] NCCL INFO comm 0x55d0 rank 0 nranks 2 cudaDev 0 nvmlDev 0 busId 18000 commId 0x1a2b - Init COMPLETE\n"
)


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "nvcgo.device-filter-verifier-last-insn", "nvcgo.device-filter-from-existing-einval",
        "nvc.nvml-function-not-found", "kmod.amdgpu-iommu-symbol-unknown", "kmod.amdgpu-module-not-found",
        "vgpu-named", "nvidia-insmod-enodev", "vgpu-nvrm-unsupported-named", "vgpu-nvrm-unsupported-guest",
        "vgpu-nvrm-unsupported-named-not-branch", "vgpu-nvrm-unsupported-guest-not-branch",
        "vgpu-insmod-enodev-named", "vgpu-insmod-enodev-named-not-no-driver",
    ):
        assert sid in got, sid


# --- runtime.bpf-jit-hardened -------------------------------------------------------------------------------------

_FILTER = ("nvidia-container-cli: mount error: failed to add device rules: unable to generate new device filter program "
           "from existing programs: unable to create new device filters program: load program: invalid argument: {v}")
_LAST = "last insn is not an exit or jmp"
_PROCESSED = "processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0"
_RUNC = ("docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
         "runtime create failed: runc create failed: unable to start container process: error during container init: "
         "error running hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'")

_JIT_PROVES = {
    # docker 24+ through runc: the hook's stderr, the verifier's log on its next line, then runc's ': unknown.'
    "docker-runc": f"{_RUNC}\n{_FILTER.format(v=_LAST)}\n{_PROCESSED}: unknown.\n",
    # nvidia-container-cli run by hand (nvidia-container-cli -k configure ...): its own line
    "cli-alone": _FILTER.format(v=_LAST) + "\n",
    # a paste that joined the verifier's lines into one
    "joined": f"{_RUNC} {_FILTER.format(v=_LAST)} {_PROCESSED}: unknown.\n",
    # containerd under kubelet: the event's message
    "kubelet-event": ("  Warning  Failed     9s    kubelet  Error: failed to create containerd task: failed to create shim "
                      "task: OCI runtime create failed: runc create failed: unable to start container process: error "
                      "during container init: error running prestart hook #0: exit status 1, stdout: , stderr: "
                      f"Auto-detected mode as 'legacy'\n{_FILTER.format(v=_LAST)}\n{_PROCESSED}: unknown\n"),
    # dockerd's journal (logrus msg=)
    "dockerd-journal": ('Dec 05 01:10:11 gpu-node dockerd[913]: time="2026-12-05T01:10:11.482Z" level=error '
                        'msg="Handler for POST /v1.45/containers/9f2c/start returned error: failed to create task '
                        f'for container: {_FILTER.format(v=_LAST)}"\n'),
}


@pytest.mark.parametrize("form", sorted(_JIT_PROVES))
def test_the_verifier_refusing_the_merged_filter_proves_jit_hardening(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _JIT_PROVES[form])
    assert got and got[0] == (_JIT, "proves"), (form, got)
    assert _CGROUP not in [c for c, _ in got], (form, got)


_JIT_SUGGESTS = {
    # the bare errno (runc's ': unknown.' right after it)
    "bare-einval": _FILTER.format(v="unknown.") + "\n",
    # an issue title's width: 'invalid a'
    "title-cut": _FILTER.format(v="")[: _FILTER.format(v="").index("invalid argument")] + "invalid a\n",
}


@pytest.mark.parametrize("form", sorted(_JIT_SUGGESTS))
def test_an_einval_on_the_merged_filter_suggests_jit_hardening(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _JIT_SUGGESTS[form])
    assert got and got[0] == (_JIT, "suggests"), (form, got)


_JIT_CLEAN = {
    # a BPF tool's own program failing the same verifier check (bcc / libbpf), no GPU hook in sight
    "bcc-own-program": f"bpf: Failed to load program: Invalid argument\n{_LAST}\n{_PROCESSED}\n",
    # a verifier that walked the program: another failure
    "verifier-walk": _FILTER.format(v="0: (69) r2 = *(u16 *)(r1 +0)") + "\n1: (61) r3 = *(u32 *)(r1 +0)\n",
    # the sysctl alone, on a host that works
    "sysctl-alone": "net.core.bpf_jit_harden = 2\nkernel.kptr_restrict = 2\n",
    "healthy-nccl": _HEALTHY_NCCL,
}


@pytest.mark.parametrize("form", sorted(_JIT_CLEAN))
def test_other_bpf_failures_are_not_jit_hardening(tmp_path: Path, form: str) -> None:
    assert _JIT not in _all(tmp_path, _JIT_CLEAN[form]), form
    # the other direction: the hook's own refusal with the same verifier line is it
    assert _findings(tmp_path, _JIT_PROVES["cli-alone"])[0][0] == _JIT


@pytest.mark.parametrize(
    "rest",
    [
        "unable to find any existing device filters attached to the cgroup: bpf_prog_query(BPF_CGROUP_DEVICE) failed: "
        "operation not permitted: unknown.",
        "unable to generate new device filter program with no existing programs: unable to create new device filters "
        "program: load program: operation not permitted",
    ],
)
def test_a_permission_refusal_stays_the_cgroup_denied_hook(tmp_path: Path, rest: str) -> None:
    got = _findings(tmp_path, f"nvidia-container-cli: mount error: failed to add device rules: {rest}\n")
    assert got and got[0][0] == _CGROUP, got
    assert _JIT not in [c for c, _ in got], got
    assert _findings(tmp_path, _JIT_SUGGESTS["bare-einval"])[0][0] == _JIT


# --- nvidia.vgpu-guest-driver-mismatch ----------------------------------------------------------------------------

_NVRM = ("[    6.204117] NVRM: The NVIDIA GPU 0000:00:05.0 (PCI ID: 10de:{dev})\n"
         "[    6.204118] NVRM: installed in this system is not supported by the\n"
         "[    6.204120] NVRM: NVIDIA {ver} driver release.\n")
_NVRM_JOINED = ("NVRM: The NVIDIA GPU 0000:00:05.0 (PCI ID: 10de:{dev}) NVRM: installed in this system is not supported by "
                "the NVRM: NVIDIA {ver} driver release.\n")

_VGPU_FORMS = {
    # an OpenStack VM with a vGPU flavour, the operator's default driver (gpu-operator#1371's story)
    "operator-named": "Worker VM flavour g1.l40s-24q has an NVIDIA vGPU attached.\n" + _NVRM.format(dev="26b9",
                                                                                                    ver="570.86.15"),
    # the lines joined as an issue shows them, the vGPU in words after them
    "joined-words": _NVRM_JOINED.format(dev="1b38", ver="535.104.05") + "The VM runs with a vGPU (grid_p40-8q).\n",
    # nvidia-smi -q from the vGPU guest driver that worked before (vgpu_guest)
    "smi-virtualization-mode": "    Virtualization Mode                   : VGPU\n" + _NVRM.format(dev="20b5",
                                                                                            ver="550.54.15"),
    # the guest's licensing daemon named (nvidia-gridd, gridd.conf)
    "gridd": "systemctl status nvidia-gridd: Unit nvidia-gridd.service could not be found.\n" + _NVRM.format(
        dev="2236", ver="550.54.15"),
}


@pytest.mark.parametrize("form", sorted(_VGPU_FORMS))
def test_the_passthrough_driver_refusing_a_named_vgpu_is_the_guest_driver(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _VGPU_FORMS[form])
    assert got and got[0] == (_VGPU, "suggests"), (form, got)
    assert _BRANCH not in [c for c, _ in got], (form, got)


def test_insmod_enodev_in_a_vgpu_vm_is_the_guest_driver(tmp_path: Path) -> None:
    text = ("Flatcar on vSphere, the VM has a vGPU assigned (grid_p40-8q)\n"
            "insmod: ERROR: could not insert module /opt/nvidia/535.104.05/lib/modules/5.15.142-flatcar/video/nvidia.ko: "
            "No such device\n")
    got = _findings(tmp_path, text)
    assert got and got[0] == (_VGPU, "suggests"), got
    assert "device.no-driver" not in [c for c, _ in got], got


_VGPU_CLEAN = {
    # a GPU newer than the branch, no vGPU anywhere: the branch id
    "plain-new-gpu": _NVRM.format(dev="2330", ver="515.65.01"),
    # a GPU Operator values dump always holds the vGPU keys: they name no vGPU
    "operator-values": "vgpuManager:\n  enabled: false\nvgpuDeviceManager:\n  enabled: true\ndriver:\n  licensingConfig:\n"
                       "    nlsEnabled: true\n" + _NVRM.format(dev="2330", ver="515.65.01"),
}


@pytest.mark.parametrize("form", sorted(_VGPU_CLEAN))
def test_an_unsupported_gpu_without_a_vgpu_stays_the_branch(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _VGPU_CLEAN[form])
    assert got and got[0][0] == _BRANCH, (form, got)
    assert _VGPU not in [c for c, _ in got], (form, got)
    # the same NVRM lines beside a named vGPU are the guest driver
    assert _findings(tmp_path, "The VM has an NVIDIA vGPU attached.\n" + _VGPU_CLEAN[form])[0][0] == _VGPU


def test_insmod_enodev_without_a_vgpu_is_not_the_guest_driver(tmp_path: Path) -> None:
    got = _all(tmp_path, "modprobe: ERROR: could not insert 'nvidia': No such device\n")
    assert _VGPU not in got, got
    vm = "Ubuntu guest using a vGPU (A40-8Q)\nmodprobe: ERROR: could not insert 'nvidia': No such device\n"
    assert _findings(tmp_path, vm)[0][0] == _VGPU


def test_operation_not_supported_in_a_vgpu_guest_stays_uvm(tmp_path: Path) -> None:
    text = ("    Virtualization Mode                   : VGPU\n"
            "RuntimeError: CUDA error: operation not supported\n")
    got = _all(tmp_path, text)
    assert _VGPU not in got, got
    assert "nvidia.vgpu-uvm-disabled" in got, got
    assert _findings(tmp_path, _VGPU_FORMS["smi-virtualization-mode"])[0][0] == _VGPU


# --- nvidia.host-driver-legacy ------------------------------------------------------------------------------------

_LEGACY_FORMS = {
    # docker 19.03 with runc 1.0-rc: the hook's stderr inside escaped quotes
    "docker-19-escaped": ('docker: Error response from daemon: OCI runtime create failed: container_linux.go:349: '
                          'starting container process caused "process_linux.go:449: container init caused \\"'
                          'process_linux.go:432: running prestart hook 0 caused \\\\\\"error running hook: exit status '
                          '1, stdout: , stderr: nvidia-container-cli: detection error: nvml error: function not found'
                          '\\\\\\\\n\\\\\\"\\"": unknown.\n'),
    # docker 20.10 with runc 1.0: 'Running hook #0::'
    "docker-20": ("docker: Error response from daemon: OCI runtime create failed: container_linux.go:367: starting "
                  "container process caused: process_linux.go:495: container init caused: Running hook #0:: error "
                  "running hook: exit status 1, stdout: , stderr: nvidia-container-cli: detection error: nvml error: "
                  "function not found: unknown.\n"),
    # docker 24+ with the toolkit's mode line
    "docker-24": (f"{_RUNC}\nnvidia-container-cli: detection error: nvml error: function not found: unknown.\n"),
    # the CLI by hand
    "cli-info": "nvidia-container-cli: detection error: nvml error: function not found\n",
    # nvmlInit_v2 itself missing: driver_init_1_svc's call_nvml fails under 'initialization error: %s'
    "init": "nvidia-container-cli: initialization error: nvml error: function not found\n",
}


@pytest.mark.parametrize("form", sorted(_LEGACY_FORMS))
def test_an_nvml_function_missing_is_a_legacy_host_driver(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _LEGACY_FORMS[form])
    assert got and got[0] == (_LEGACY, "proves"), (form, got)


@pytest.mark.parametrize(
    "err", ["not found", "unknown error", "driver not loaded", "insufficient permissions",
            "driver/library version mismatch"],
)
def test_other_nvml_errors_are_not_a_legacy_driver(tmp_path: Path, err: str) -> None:
    got = _all(tmp_path, f"nvidia-container-cli: detection error: nvml error: {err}: unknown.\n")
    assert _LEGACY not in got, (err, got)
    assert _findings(tmp_path, _LEGACY_FORMS["cli-info"])[0][0] == _LEGACY


def test_a_healthy_nccl_run_names_none_of_the_new_ids(tmp_path: Path) -> None:
    got = _all(tmp_path, _HEALTHY_NCCL)
    assert not {_JIT, _VGPU, _LEGACY, _AMD} & set(got), got
    for text in (_JIT_PROVES["cli-alone"], _VGPU_FORMS["operator-named"], _LEGACY_FORMS["cli-info"], _AMD_FORMS["dmesg"]):
        assert _findings(tmp_path, _HEALTHY_NCCL + text)[0][0] in (_JIT, _VGPU, _LEGACY, _AMD), text


# --- amd.kernel-modules-missing -----------------------------------------------------------------------------------

_AMD_FORMS = {
    # dmesg with its timestamp, one line per symbol of amd_iommu_v2
    "dmesg": ("[    7.668049] amdgpu: Unknown symbol amd_iommu_bind_pasid (err -2)\n"
              "[    7.668135] amdgpu: Unknown symbol amd_iommu_set_invalidate_ctx_cb (err -2)\n"
              "[    7.668404] amdgpu: Unknown symbol amd_iommu_init_device (err -2)\n"),
    # journalctl -k
    "journal": "Jan 09 10:12:01 ip-172-31-5-20 kernel: amdgpu: Unknown symbol amd_iommu_free_device (err -2)\n",
    # kernels before 4.20: amdkfd was its own module
    "amdkfd": "[    3.120411] amdkfd: Unknown symbol amd_iommu_bind_pasid (err 0)\n",
}


@pytest.mark.parametrize("form", sorted(_AMD_FORMS))
def test_amdgpu_missing_iommu_v2_symbols_proves_missing_modules(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _AMD_FORMS[form])
    assert got and got[0] == (_AMD, "proves"), (form, got)


_AMD_SUGGESTS = {
    "modprobe-amdgpu": "modprobe: FATAL: Module amdgpu not found in directory /lib/modules/5.15.0-1050-aws\n",
    "modprobe-iommu-v2": "modprobe: FATAL: Module amd_iommu_v2 not found in directory /lib/modules/4.15.0-1054-aws\n",
    # module-init-tools' older text
    "module-init-tools": "FATAL: Module amdgpu not found.\n",
}


@pytest.mark.parametrize("form", sorted(_AMD_SUGGESTS))
def test_modprobe_finding_no_amdgpu_suggests_missing_modules(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _AMD_SUGGESTS[form])
    assert got and got[0] == (_AMD, "suggests"), (form, got)


def test_the_module_evidence_leads_over_the_missing_kfd_node(tmp_path: Path) -> None:
    text = ("[    7.668049] amdgpu: Unknown symbol amd_iommu_bind_pasid (err -2)\n"
            "docker: Error response from daemon: error gathering device information while adding custom device "
            '"/dev/kfd": no such file or directory.\n')
    got = _findings(tmp_path, text)
    assert got and got[0] == (_AMD, "proves"), got


_AMD_CLEAN = {
    # another vendor's module missing a symbol
    "other-module": "[  812.554110] apml_sbrmi: Unknown symbol __devm_regmap_init_i3c (err -2)\n",
    # amdgpu missing a DRM symbol: a DKMS module built for another kernel, not read here
    "amdgpu-drm-symbol": "[    5.100200] amdgpu: Unknown symbol drm_sched_job_init (err -2)\n",
    # the NVIDIA module not found
    "nvidia-not-found": "modprobe: FATAL: Module nvidia not found in directory /lib/modules/6.8.0-45-generic\n",
    # amdgpu loading fine
    "healthy": "[    4.171160] [drm] Initialized amdgpu 3.36.0 20150101 for 0000:00:1e.0 on minor 0\n",
}


@pytest.mark.parametrize("form", sorted(_AMD_CLEAN))
def test_other_module_lines_are_not_missing_amd_modules(tmp_path: Path, form: str) -> None:
    assert _AMD not in _all(tmp_path, _AMD_CLEAN[form]), form
    assert _findings(tmp_path, _AMD_FORMS["journal"])[0][0] == _AMD
