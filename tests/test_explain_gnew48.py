"""Issue 13, gnew48: host.criu-gpu-plugin-unavailable (CRIU cannot checkpoint or restore a CUDA process: its CUDA
plugin is missing or disables itself), capability.perfmon-missing (a GPU monitor refused the GPU's perf-event PMU) and
host.gpu-bar-unassigned (the host left the GPU's large BAR without an address).

Lines are written from the format strings of the code that prints them (never copied from a collected log):

- checkpoint-restore/criu plugins/cuda/cuda_plugin.c cuda_plugin_init (v4.0, v4.1, v4.2, 2cf8f13c):
  pr_warn("check that %s is present in $PATH\\n", CUDA_CHECKPOINT) and pr_warn("cuda-checkpoint --action flag not
  supported, an r555 or higher version driver is required. Disabling CUDA plugin\\n"), behind criu/include/log.h's
  "Warn  (%s:%d): " and the plugin's LOG_PREFIX "cuda_plugin: ", after log.c's "(%02u.%06u) " timestamp;
  pr_info("initialized: %s stage %d\\n") and pr_info("No GPU device found; CUDA plugin is disabled\\n") are healthy.
- criu/proc_parse.c handle_vma_plugin pr_perror("handle_device_vma plugin failed") (": %s" strerror) and
  pr_err("Can't handle non-regular mapping on %d's map %" PRIx64 "\\n"), behind "Error (%s:%d): ".
- criu/image.c check_inventory_plugins pr_err("Missing required plugin: %s\\n") (v4.1+), the plugin names from
  CR_PLUGIN_REGISTER("cuda_plugin", ...) and CR_PLUGIN_REGISTER("amdgpu_plugin", ...).
- NVIDIA/cuda-checkpoint's binary: the string "Insufficient driver" (a40358f, 6ec728a).
- igt-gpu-tools tools/intel_gpu_top.c main: fprintf(stderr, "Failed to initialize PMU! (%s)\n", strerror(errno))
  (63f0bf3d5 .. b3d809d53) and, for EACCES as a non-root user, "When running as a normal user CAP_PERFMON is required
  to access performance\nmonitoring. ..." (e835d0d9b+); glibc's strerror texts for EACCES, EPERM and ENOENT.
- NVIDIA/open-gpu-kernel-modules kernel-open/nvidia/nv-pci.c nv_pci_validate_bars: "NVRM: This PCI I/O region assigned
  to your NVIDIA device is invalid:\n" "NVRM: BAR%d is %lluM @ 0x%llx (PCI:%04x:%02x:%02x.%x)\n" (515.43.04 ..
  595.45.04); torvalds/linux drivers/pci/setup-res.c pci_assign_resource: "BAR %d: no space for %pR\n" / "BAR %d:
  failed to assign %pR\n" (4.x-6.7) and "%s %pR: can't assign; no space\n" / "%s %pR: failed to assign\n" (6.8+), with
  %pR of an unassigned resource "[mem size 0x%0*llx 64bit pref]" behind the device's "pci 0000:84:00.0: " prefix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_CRIU = "host.criu-gpu-plugin-unavailable"
_PERFMON = "capability.perfmon-missing"
_BAR = "host.gpu-bar-unassigned"


def _guarded(entry: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew48)."""
    assert entry in _ids(), entry


def test_the_new_readings_are_loaded_with_remedies() -> None:
    from tpdoctor.explain.signatures import knowledge_base
    from tpdoctor.model.catalog import catalog
    from tpdoctor.model.fixes import remedies

    got = _ids()
    for sid in (
        "criu.cuda-plugin-driver-without-action",
        "criu.cuda-plugin-cuda-checkpoint-not-found",
        "criu.restore-missing-gpu-plugin",
        "criu.device-mapping-without-plugin",
        "cuda-checkpoint.insufficient-driver",
    ):
        assert sid in got, sid
    for sid in (
        "intel-gpu-top.cap-perfmon-required",
        "intel-gpu-top.pmu-absent",
        "perf.observability-access-limited",
        "nvrm.pci-bar-invalid",
        "pci.gpu-bar-failed-to-assign",
    ):
        assert sid in got, sid
    kb_causes = {c for s in knowledge_base().signatures for c in s.causes}
    for cause in (_CRIU, _PERFMON, _BAR):
        assert cause in catalog(), cause
        assert cause in kb_causes, cause
        assert remedies(cause), cause


def _dump_log(*lines: str) -> str:
    """A criu dump.log (log.c's '(%02u.%06u) ' timestamp) around the given lines, as Podman's or containerd's
    checkpoint leaves it under the container's userdata."""
    head = [
        "(00.000000) Unable to get $HOME directory, local configuration file will not be used.",
        "(00.000000) Parsing config file /etc/criu/runc.conf",
        "(00.000041) Version: 4.1 (gitid 0)",
        "(00.000057) Running on gpu-node-3 Linux 6.8.0-49-generic #49-Ubuntu SMP x86_64",
    ]
    tail = ["(00.062113) Error (criu/cr-dump.c:2111): Dumping FAILED."]
    return "\n".join(head + list(lines) + tail) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        # a driver before r555: cuda-checkpoint has no --action, the plugin disables itself, the dump fails after
        _dump_log(
            "(00.003311) Warn  (cuda_plugin.c:595): cuda_plugin: cuda-checkpoint --action flag not supported, "
            "an r555 or higher version driver is required. Disabling CUDA plugin",
            "(00.041182) Error (criu/proc_parse.c:116): handle_device_vma plugin failed: Operation not supported",
            "(00.041190) Error (criu/proc_parse.c:632): Can't handle non-regular mapping on 48211's map 7f3c4a000000",
        ),
        # cuda-checkpoint not on the PATH runc gives criu
        _dump_log(
            "(00.003120) Warn  (cuda_plugin.c:589): cuda_plugin: check that cuda-checkpoint is present in $PATH",
            "(00.040776) Error (criu/proc_parse.c:116): handle_device_vma plugin failed: No such file or directory",
            "(00.040790) Error (criu/proc_parse.c:632): Can't handle non-regular mapping on 1's map 200000000",
        ),
        # the warning alone, in the 4.0 form
        "(00.002901) Warn  (cuda_plugin.c:474): cuda_plugin: check that cuda-checkpoint is present in $PATH\n",
        # a restore node without the plugin
        "(00.000914) Error (criu/image.c:193): Missing required plugin: cuda_plugin\n"
        "(00.000931) Error (criu/cr-restore.c:2397): Restoring FAILED.\n",
        # podman's wrapper with the restore log quoted after it
        "Error: OCI runtime error: runc: criu failed: type RESTORE errno 0\n"
        "log file: /var/lib/containers/storage/overlay-containers/3f9a/userdata/restore.log\n"
        "$ sudo tail -3 /var/lib/containers/storage/overlay-containers/3f9a/userdata/restore.log\n"
        "(00.001207) Error (criu/image.c:198): Missing required plugin: amdgpu_plugin\n",
    ],
)
def test_criu_without_its_gpu_plugin_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_CRIU, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # no cuda_plugin line at all: the plugin is not in CRIU's plugin directory
        _dump_log(
            "(00.040776) Error (criu/proc_parse.c:118): handle_device_vma plugin failed: No such file or directory",
            "(00.040790) Error (criu/proc_parse.c:663): Can't handle non-regular mapping on 153114's map 200000000",
        ),
        # cuda-checkpoint run by hand on a 535 driver
        "$ sudo ./cuda-checkpoint --toggle --pid 9147\nInsufficient driver\n",
    ],
)
def test_the_generic_criu_and_cuda_checkpoint_lines_suggest_it(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_CRIU, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # healthy plugin lines: initialised, or no NVIDIA GPU on this host
        "(00.002815) cuda_plugin: initialized: cuda_plugin stage 1\n"
        "(00.051133) cuda_plugin: Checkpointing CUDA devices on pid 48211 restore_tid 48230\n",
        "(00.002815) cuda_plugin: No GPU device found; CUDA plugin is disabled\n",
        "(00.002815) cuda_plugin: /dev/nvidiactl doesn't exist. The CUDA plugin is disabled.\n",
        # another plugin required and missing (not a GPU plugin)
        "(00.000914) Error (criu/image.c:198): Missing required plugin: inotify_plugin\n",
        # the CUDA runtime's own insufficient-driver messages are cuda.driver-too-old's, and a sentence is no line
        "CUDA driver version is insufficient for CUDA runtime version\n",
        "cudaErrorInsufficientDriver\n",
        "The error says Insufficient driver, but nvidia-smi shows 570.\n",
        # a dump of a process without device mappings that fails elsewhere
        "(00.012001) Error (criu/sk-inet.c:188): inet: Connected TCP socket, consider using --tcp-established option.\n",
    ],
)
def test_criu_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("criu.cuda-plugin-driver-without-action")
    assert _CRIU not in _all(tmp_path, text)


# --- capability.perfmon-missing -------------------------------------------------------------------------------------


_CAP_TEXT = (
    "\n"
    "When running as a normal user CAP_PERFMON is required to access performance\n"
    'monitoring. See "man 7 capabilities", "man 8 setcap", or contact your\n'
    "distribution vendor for assistance.\n"
    "\n"
    "More information can be found at 'Perf events and tool security' document:\n"
    "https://www.kernel.org/doc/html/latest/admin-guide/perf-security.html\n"
)


@pytest.mark.parametrize(
    "text",
    [
        # Docker's default seccomp profile without CAP_PERFMON/CAP_SYS_ADMIN: EPERM, as an exporter's log quotes it
        "intel_gpu-exporter  | Error: Failed to initialize PMU! (Operation not permitted)\n"
        "intel_gpu-exporter exited with code 1\n",
        # the kernel's paranoid check for a non-root user: EACCES and the tool's advice after it
        "$ intel_gpu_top -s 3300 -l\nFailed to initialize PMU! (Permission denied)\n" + _CAP_TEXT,
        # (gprec48: EACCES alone, root in a container, only suggests it: an LSM refuses with the same errno; see
        # tests/test_gprec48.py)
        # the advice alone
        _CAP_TEXT,
    ],
)
def test_a_refused_gpu_pmu_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_PERFMON, "proves"), got


def test_perf_refused_perf_events_suggests_it(tmp_path: Path) -> None:
    # linux tools/perf/util/evsel.c evsel__open_strerror (EPERM/EACCES), after perf's "Error:" line
    text = (
        "$ docker exec -it trainer perf stat -a sleep 1\n"
        "Error:\n"
        "Access to performance monitoring and observability operations is limited.\n"
        "Consider adjusting /proc/sys/kernel/perf_event_paranoid setting to open\n"
        "access to performance monitoring and observability operations for processes\n"
        "without CAP_PERFMON, CAP_SYS_PTRACE or CAP_SYS_ADMIN Linux capability.\n"
        "More information can be found at 'Perf events and tool security' document:\n"
        "https://www.kernel.org/doc/html/latest/admin-guide/perf-security.html\n"
        "perf_event_paranoid setting is 4:\n"
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_PERFMON, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # a GPU without the i915/xe PMU, and the tool's other start failure (no engines)
        "Failed to initialize PMU! (No such file or directory)\n",
        "Failed to detect engines! (No such file or directory)\n(Kernel 4.16 or newer is required for i915 PMU support.)\n",
        # healthy output
        " Freq MHz      IRQ RC6     Power W             RCS             BCS             VCS            VECS\n",
        # perf's own CPU-counter refusal is another tool, and a sentence about the capability is no error
        "perf_event_paranoid setting is 4:\n",
        "Frigate's docs say CAP_PERFMON is needed for GPU stats.\n",
    ],
)
def test_perfmon_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("intel-gpu-top.cap-perfmon-required")
    assert _PERFMON not in _all(tmp_path, text)


# --- host.gpu-bar-unassigned ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # a Thunderbolt eGPU: BAR1 left unplaced, the module refuses the GPU
        "[   85.546912] NVRM: This PCI I/O region assigned to your NVIDIA device is invalid:\n"
        "               NVRM: BAR1 is 0M @ 0x0 (PCI:0000:0a:00.0)\n"
        "[   85.546916] nvidia: probe of 0000:0a:00.0 failed with error -1\n"
        "[   85.546950] NVRM: None of the NVIDIA devices were initialized.\n",
        # journalctl -k, BAR0 of a desktop card
        "Dec 07 09:12:01 rig kernel: NVRM: This PCI I/O region assigned to your NVIDIA device is invalid:\n"
        "Dec 07 09:12:01 rig kernel: NVRM: BAR0 is 0M @ 0x0 (PCI:0000:01:00.0)\n",
    ],
)
def test_nvrm_refusing_an_unassigned_bar_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_BAR, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # 6.8+: the resource name first; a 32 GiB BAR1 with Above 4G Decoding off
        "[    0.912031] pci 0000:84:00.0: BAR 1 [mem size 0x800000000 64bit pref]: can't assign; no space\n"
        "[    0.912044] pci 0000:84:00.0: BAR 1 [mem size 0x800000000 64bit pref]: failed to assign\n"
        "$ nvidia-smi\nNo devices were found\n"
        # gprec48: the kernel's line names no vendor; lspci (pci.ids class 03) says the device is a GPU
        "$ lspci | grep -i nvidia\n84:00.0 VGA compatible controller: NVIDIA Corporation Device 2b85 (rev a1)\n",
        # 4.19-6.7: 'BAR %d: ... %pR', a 256 MiB BAR1, and the driver core's probe failure for the same address
        "[    0.701112] pci 0000:01:00.0: BAR 1: no space for [mem size 0x10000000 64bit pref]\n"
        "[    0.701119] pci 0000:01:00.0: BAR 1: failed to assign [mem size 0x10000000 64bit pref]\n"
        "[    5.310220] nvidia: probe of 0000:01:00.0 failed with error -1\n",
    ],
)
def test_the_kernel_failing_to_place_a_large_bar_suggests_it(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_BAR, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # bridge windows and small BARs without space: printed by healthy hosts
        "[   83.730261] pcieport 0000:7b:02.0: BAR 15: no space for [mem size 0x00200000 64bit pref]\n"
        "[   83.730263] pcieport 0000:7b:02.0: BAR 15: failed to assign [mem size 0x00200000 64bit pref]\n",
        "pci 0000:00:1c.0: BAR 13: failed to assign [io  size 0x1000]\n",
        "pci 0000:00:01.0: bridge window [mem size 0x00200000 64bit pref]: failed to assign\n",
        # an assigned BAR, the first attempt alone, and NVRM's healthy BAR listing
        "[    2.078975] kernel: pci 0000:84:00.0: BAR 1 [mem 0xe05c0000000-0xe05cfffffff 64bit pref]\n",
        "pci 0000:84:00.0: BAR 1 [mem size 0x800000000 64bit pref]: can't assign; no space\n",
        "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  570.86.15  Thu Jan 16 2025\n",
        # another hypervisor's BAR move and Hyper-V's MMIO gap are other readings
        "Failed moving device BAR: failed allocating new MMIO range: 0xe7f00000->0x0(0x80000)\n",
        "hv_pci 7a1c93d2-5b0e-4f61-a2c8-3e9d0b4f6a15: Need 0x1002000000 of high MMIO space. Consider reconfiguring the VM.\n",
    ],
)
def test_bar_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("nvrm.pci-bar-invalid")
    assert _BAR not in _all(tmp_path, text)


# review48: a GPU driver asking for a larger (resizable) BAR makes the kernel release the BAR and try to place the larger
# size; without room it prints the failed assignment, the driver says so and keeps the BAR it had (amdgpu_device.c
# amdgpu_device_resize_fb_bar: "Not enough PCI address space for a large BAR."; i915 intel_region_lmem.c _resize_bar:
# "Failed to resize BAR%d to %dM (%pe)"; xe xe_vram.c: "Failed to resize BAR%d to %dMiB (%pe). Consider enabling
# 'Resizable BAR' support in your BIOS"). The GPU works with the smaller BAR: a healthy host, not an unassigned BAR.
@pytest.mark.parametrize(
    "text",
    [
        # the form of a stored dmesg (Polaris 12 on an arm64 host, 4.19-6.7 kernel)
        "[   10.937573] amdgpu 0001:01:00.0: BAR 0: no space for [mem size 0x80000000 64bit pref]\n"
        "[   10.937580] amdgpu 0001:01:00.0: BAR 0: failed to assign [mem size 0x80000000 64bit pref]\n"
        "[   10.937700] [drm] Not enough PCI address space for a large BAR.\n"
        "[   10.937707] amdgpu 0001:01:00.0: BAR 0: assigned [mem 0xa040000000-0xa04fffffff 64bit pref]\n",
        "[    3.101112] i915 0000:03:00.0: BAR 2 [mem size 0x400000000 64bit pref]: failed to assign\n"
        "[    3.101130] i915 0000:03:00.0: [drm] Failed to resize BAR2 to 16384M (-ENOSPC)\n",
        "[    3.201112] xe 0000:03:00.0: BAR 2 [mem size 0x400000000 64bit pref]: failed to assign\n"
        "[    3.201130] xe 0000:03:00.0: [drm] Failed to resize BAR2 to 16384MiB (-ENOSPC). Consider enabling "
        "'Resizable BAR' support in your BIOS\n",
    ],
)
def test_a_driver_falling_back_from_a_larger_bar_is_not_an_unassigned_bar(tmp_path: Path, text: str) -> None:
    assert _BAR not in _findings_ids(tmp_path, text)


def _findings_ids(tmp_path: Path, text: str) -> list[str]:
    return [cause for cause, _ in _findings(tmp_path, text)]
