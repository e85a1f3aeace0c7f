"""Issue 13, gnew30b: cause ids for container/host causes heldout29's collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- gaudi.device-in-use: habana-container-cli's 'exposing interfaces: %w' around 'failed creating temporary link on
  host: %w' (cmd/habana-container-cli/main.go, netdevices.go exposeInterfaces) with the kernel's EINVAL for a second
  passthru macvlan (drivers/net/macvlan.c), as runc prints a failed prestart hook; the Gaudi PyTorch bridge's
  TORCH_HABANA_CHECK ('synStatus=', status, ' [', brief, '] ', msg) around device::create's 'Device acquire failed.'
  (opea-project/GenAIExamples#739, HabanaAI/vllm-fork#1915).
- gaudi.driver-mismatch: optimum-habana's check_synapse_version warnings (optimum/habana/utils/misc.py:
  'optimum-habana v{} has been validated for SynapseAI v{} but the driver version is v{}, this could lead to
  undefined behavior!' and '... but habana-frameworks v{} was found, ...') in transformers' explicit logging format
  (opea-project/GenAIExamples#366).
- runtime.vfio-iommu-off: bash's '<script>: line N: echo: write error: <strerror>' from the GPU Operator's vfio-manage
  bind (kata-containers/kata-containers#10753), the kernel's call_driver_probe lines before and from v6.9
  ('%s: probe of %s failed with error %d', '<drv> <dev>: probe with driver %s failed with error %d'), QEMU's
  'vfio %s: ' + 'no iommu_group found' + ': ' + strerror, libvirt's VIR_ERR_CONFIG_UNSUPPORTED text as KubeVirt wraps it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_BUSY = "gaudi.device-in-use"
_DRV = "gaudi.driver-mismatch"
_IOMMU = "runtime.vfio-iommu-off"



def test_the_new_signatures_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "habana.expose-interfaces-einval", "habana.device-acquire-failed", "optimum-habana.driver-unvalidated",
        "ohabana-driver-not-image", "vfio.manage-bind-einval", "kernel.vfio-pci-probe-einval",
        "qemu.vfio-no-iommu-group", "libvirt.no-pci-passthrough",
    ):
        assert sid in got, sid


# --- gaudi.device-in-use --------------------------------------------------------------------------------------------

_HOOK = (
    "error during container init: error running hook #0: error running hook: exit status 1, stdout: , stderr: "
)

_BUSY_LINES = {
    # runc >= 1.1 via docker 24+: the prestart hook's stderr, habana-container-cli's two wrappers, the kernel's EINVAL
    "runtime-hook-docker": "docker: Error response from daemon: failed to create task for container: failed to create "
    "shim task: OCI runtime create failed: runc create failed: unable to start container process: " + _HOOK
    + "exposing interfaces: failed creating temporary link on host: invalid argument: unknown.\n",
    # docker compose names the service
    "runtime-hook-compose": "Error response from daemon: failed to create task for container: failed to create shim "
    "task: OCI runtime create failed: runc create failed: unable to start container process: " + _HOOK
    + "exposing interfaces: failed creating temporary link on host: invalid argument: unknown\n",
    # habana-container-cli's own slog line in the hook's log
    "cli-log": 'time=2024-09-05T10:12:01.000Z level=ERROR msg="exposing interfaces: failed creating temporary link '
    'on host: invalid argument"\n',
    # the bridge: TORCH_HABANA_CHECK(status, "Device acquire failed.") with synStatusToStr's brief description
    "bridge-device-not-found": "RuntimeError: synStatus=8 [Device not found] Device acquire failed.\n",
    "bridge-already-acquired": "RuntimeError: synStatus=20 [Device already acquired] Device acquire failed.\n",
    # vLLM's worker wraps it
    "bridge-in-vllm-worker": "(VllmWorkerProcess pid=3121) ERROR 09-12 08:11:02 multiproc_worker_utils.py:233] "
    "RuntimeError: synStatus=8 [Device not found] Device acquire failed.\n",
}


@pytest.mark.parametrize("form", sorted(_BUSY_LINES))
def test_hpu_held_elsewhere_names_it(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _BUSY_LINES[form])
    assert got and got[0] == (_BUSY, "suggests"), (form, got)
    assert _DRV not in [c for c, _ in got]


@pytest.mark.parametrize(
    "line",
    [
        # another errno from the same wrapper is another fault (no macvlan support, no privilege)
        "stderr: exposing interfaces: failed creating temporary link on host: operation not permitted: unknown\n",
        # device::create found no device of an allowed type: nothing in the container, not one held elsewhere
        "RuntimeError: synStatus=8 [Device not found] Device acquire failed. No devices found.\n",
        # the bridge's warning before it retries without HLS_MODULE_ID: the run goes on
        "[PT_SYNHELPER] Device acquire failed for hls_mod_id: 3 with status synStatus 8 [Device not found]. . "
        "Proceeding without moduleid.\n",
        # an invalid module id is the user's value, not a held device (dev negative vllm-gaudi#946)
        "RuntimeError: Invalid HABANA_VISIBLE_MODULES=5. Module IDs should be between 0 and 0.\n",
    ],
)
def test_neighbours_of_the_busy_lines_stay_clean(tmp_path: Path, line: str) -> None:
    assert _BUSY not in _all(tmp_path, line)
    # the EINVAL / counted-device forms beside it still name it
    assert _BUSY in _all(tmp_path, line + _BUSY_LINES["runtime-hook-docker"])


# --- gaudi.driver-mismatch ------------------------------------------------------------------------------------------

_OH_DRIVER = (
    "[WARNING|misc.py:226] 2024-07-04 08:11:14,298 >> optimum-habana v1.11.1 has been validated for SynapseAI v1.15.0 "
    "but the driver version is v1.16.1, this could lead to undefined behavior!\n"
)
_OH_FRAMEWORKS = (
    "[WARNING|misc.py:213] 2024-07-04 08:11:12,577 >> optimum-habana v1.11.1 has been validated for SynapseAI v1.15.0 "
    "but habana-frameworks v1.16.1.7 was found, this could lead to undefined behavior!\n"
)


@pytest.mark.parametrize(
    "line",
    [
        _OH_DRIVER,
        # the same warning under another program's log prefix (a server that imports optimum.habana)
        "2024-07-04T08:11:14.298Z  WARN text_generation_launcher: optimum-habana v1.11.1 has been validated for "
        "SynapseAI v1.15.0 but the driver version is v1.16.1, this could lead to undefined behavior!\n",
    ],
)
def test_driver_release_other_than_the_image_names_it(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (_DRV, "suggests"), got


def test_both_warnings_do_not_tell_image_and_driver_apart(tmp_path: Path) -> None:
    # the image's plugin is also another release than optimum-habana's: it may be the driver's own
    assert _DRV not in _all(tmp_path, _OH_FRAMEWORKS + _OH_DRIVER)
    assert _DRV in _all(tmp_path, _OH_DRIVER)


def test_frameworks_warning_alone_and_acquire_failures_are_not_the_driver(tmp_path: Path) -> None:
    assert _findings(tmp_path, _OH_FRAMEWORKS) == []
    # a generic acquire failure is never read as a version mismatch
    got = _all(tmp_path, _BUSY_LINES["bridge-device-not-found"])
    assert _DRV not in got and _BUSY in got
    assert _DRV in _all(tmp_path, _OH_DRIVER + _BUSY_LINES["bridge-device-not-found"])


# --- runtime.vfio-iommu-off -----------------------------------------------------------------------------------------

_VFIO_LINES = {
    # bash's sh_wrerror under vfio-manage.sh's `set -eu` (GPU Operator's VFIO manager, kata#10753)
    "vfio-manage": "/bin/vfio-manage.sh: line 113: echo: write error: Invalid argument\n",
    "vfio-manage-pod-log": "2025-01-20T09:14:03.118Z nvidia-vfio-manager-7kq2x /usr/bin/vfio-manage: line 121: echo: "
    "write error: Invalid argument\n",
    # the bare bash line beside the vfio-pci bind it answers (a traced script, a pasted session)
    "bash-bind-traced": "+ echo 0000:3b:00.0 > /sys/bus/pci/drivers/vfio-pci/bind\nbash: echo: write error: Invalid "
    "argument\n",
    # the kernel before v6.9 (pr_warn) and from v6.9 (dev_err)
    "kernel-pre-6.9": "[  812.331207] vfio-pci: probe of 0000:3b:00.0 failed with error -22\n",
    "kernel-6.9": "[  812.331207] vfio-pci 0000:3b:00.0: probe with driver vfio-pci failed with error -22\n",
    # QEMU (Kata's hypervisor, KubeVirt's through libvirt)
    "qemu": "qemu-system-x86_64: -device vfio-pci,host=0000:3b:00.0,id=vfio-gpu0: vfio 0000:3b:00.0: no iommu_group "
    "found: No such file or directory\n",
    # libvirt as KubeVirt's virt-launcher reports it
    "libvirt-kubevirt": "server error. command SyncVMI failed: \"LibvirtError(Code=67, Domain=10, Message='unsupported "
    "configuration: host doesn't support passthrough of host PCI devices')\"\n",
}


@pytest.mark.parametrize("form", sorted(_VFIO_LINES))
def test_vfio_without_an_iommu_names_it(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _VFIO_LINES[form])
    assert got and got[0] == (_IOMMU, "suggests"), (form, got)


@pytest.mark.parametrize(
    "line",
    [
        # a write error on anything else, or another errno on the bind
        "bash: echo: write error: Invalid argument\n",
        "/bin/vfio-manage.sh: line 113: echo: write error: Device or resource busy\n",
        # another driver's failed probe, or vfio-pci's with another error
        "[  812.331207] nvidia 0000:3b:00.0: probe with driver nvidia failed with error -22\n",
        "[  812.331207] vfio-pci 0000:3b:00.0: probe with driver vfio-pci failed with error -12\n",
        # the VFIO manager's own commands and normal output
        "vfio-manage bind --all && while true; do sleep 86400; done\n",
        "binding device 0000:3b:00.0\n",
        # the IOMMU on and working (an NCCL peer-to-peer concern, not this)
        "[    0.412345] DMAR: IOMMU enabled\n",
    ],
)
def test_neighbours_of_the_vfio_lines_stay_clean(tmp_path: Path, line: str) -> None:
    assert _IOMMU not in _all(tmp_path, line)
    assert _IOMMU in _all(tmp_path, line + _VFIO_LINES["vfio-manage"])


def test_healthy_nccl_info_run_names_none_of_the_three(tmp_path: Path) -> None:
    text = (
        "node01:4021:4021 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.11<0>\n"
        "node01:4021:4021 [0] NCCL INFO NET/Plugin : No plugin found (libnccl-net.so), using internal implementation\n"
        "node01:4021:4102 [0] NCCL INFO Channel 00/02 :    0   1\n"
        "node01:4021:4102 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/IPC\n"
        "node01:4021:4102 [0] NCCL INFO Connected all rings\n"
        "node01:4021:4102 [0] NCCL INFO comm 0x55d1c3a0 rank 0 nranks 2 cudaDev 0 busId 3b000 - Init COMPLETE\n"
    )
    got = _all(tmp_path, text)
    assert not {_BUSY, _DRV, _IOMMU} & set(got), got
    assert _IOMMU in _all(tmp_path, text + _VFIO_LINES["kernel-6.9"])
