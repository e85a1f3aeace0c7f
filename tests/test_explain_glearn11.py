"""Issue 13, heldout11 lessons (glearn11): the families behind its misses, read in the code that prints them.

Every positive line is written from the upstream format string its signature cites (not copied from the
heldout11 logs): libnvidia-container's ldconfig child ending badly, the kubelet's pre-device-plugin GPU manager,
MXNet's DataLoader timeout, the GPU Operator's toolkit validator, hal0's render-gid pre-flight, MIGraphX's
get_device_id, NCCL's bootstrap return trace on an IPoIB interface, and a SIGBUS under ggml's SYCL backend.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

# libnvidia-container src/nvc_ldcache.c nvc_ldcache_update + src/cli/configure.c "ldcache error: %s"
LDCACHE_FAILED = "nvidia-container-cli: ldcache error: process {path} failed with error code: {rc}\n"
LDCACHE_SIGNAL = "nvidia-container-cli: ldcache error: process {path} terminated with signal {sig}\n"


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        (LDCACHE_FAILED.format(path="/usr/sbin/ldconfig", rc=126), "nvidia.toolkit-ldconfig-wrong", "suggests"),
        # the OCI runtime's wrapping (runc "error running hook ... stderr: %s: unknown")
        ("stderr: " + LDCACHE_SIGNAL.format(path="/sbin/ldconfig", sig=11).rstrip() + ": unknown\n",
         "nvidia.toolkit-ldconfig-wrong", "suggests"),
        # kubernetes pkg/kubelet/gpu/nvidia/nvidia_gpu_manager.go AllocateGPU
        ("gpu  0/1  requested number of GPUs unavailable. Requested: 2, Available: 1   0  12s\n",
         "k8s.gpu-resource-unavailable", "proves"),
        # apache/mxnet python/mxnet/gluon/data/dataloader.py _MultiWorkerIter.__next__ (process pool)
        ("Worker timed out after 120 seconds. This might be caused by \n\n"
         "            - Slow transform. Please increase timeout to allow slower data loading in each worker.\n"
         "            - Insufficient shared_memory if `timeout` is large enough.\n"
         "            Please consider reduce `num_workers` or increase shared_memory in system.\n",
         "shm.too-small", "suggests"),
        # Hal0ai/hal0 installer/install.sh and installer/lib/preflight.sh preflight_gpu
        ("GPU passthrough is broken: the render device is visible but its gid does not map to the render group in "
         "this container (no group, or the wrong one).\n", "device.group-denied", "proves"),
        ("gpu: /dev/dri/renderD128 is owned by gid 44, which maps to NO group in this container\n",
         "device.group-denied", "proves"),
        ("gpu: /dev/dri/renderD129 is owned by gid 993, which maps to group 'clock' — NOT 'render'\n",
         "device.group-denied", "proves"),
        ("gpu: hal0 exists but is NOT a member of 'render' — GPU device access will be denied\n",
         "device.group-denied", "proves"),
        ("gpu: AMD GPU visible but /dev/kfd is MISSING — no ROCm compute node\n", "device.kfd-missing", "proves"),
        # a resource name no plugin registers (intel-device-plugins-for-kubernetes gpu_plugin.go namespace
        # "gpu.intel.com"; NVIDIA's and AMD's plugins register nvidia.com/gpu and amd.com/gpu)
        ("          resources:\n            limits:\n              intel.com/i915: 1\n",
         "k8s.gpu-resource-unavailable", "suggests"),
        ('kubectl run t --image=x --overrides=\'{"spec":{"containers":[{"resources":{"limits":{"nvidia.com/gpus": '
         '"2"}}}]}}\'\n', "k8s.gpu-resource-unavailable", "suggests"),
        # ROCm/AMDMIGraphX src/targets/gpu/device_name.cpp get_device_id via MIGRAPHX_THROW ("file:line: func: msg")
        ("what():  /code/AMDMIGraphX/src/targets/gpu/device_name.cpp:41: get_device_id: No device\n",
         "device.group-denied", "suggests"),
    ],
)
def test_a_heldout11_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


def test_the_operator_validator_reads_nvml_missing_as_the_ld_cache(tmp_path: Path) -> None:
    # nvidia-smi's NVML load failure, then NVIDIA/gpu-operator cmd/nvidia-validator/main.go Toolkit.validate
    # ("toolkit is not ready") and validateComponent ("error validating toolkit installation: %w")
    text = (
        "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA Display "
        "Driver is properly installed and present in your system.\n"
        "toolkit is not ready\n"
        'level=info msg="Error: error validating toolkit installation: exit status 12"\n'
    )
    found = _findings(tmp_path, text)
    assert found == [("nvidia.toolkit-ldconfig-wrong", "suggests")], found


def test_nvml_missing_without_the_operator_still_reads_as_no_toolkit(tmp_path: Path) -> None:
    text = (
        "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA Display "
        "Driver is properly installed and present in your system.\n"
    )
    found = _findings(tmp_path, text)
    assert found and found[0][0] == "runtime.nvidia-toolkit-missing", found


# NVIDIA/nccl src/transport/net_ib.cc ncclIbInit "NET/IB : Using%s %s; OOB %s:%s", src/include/checks.h NCCLCHECK
# INFO "%s:%d -> %d"; bootstrap.cc "Bootstrap : Using%s" (v2.4-v2.21)
IB_OOB = "h1:11:22 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB [1]mlx5_1:1/IB ; OOB ib0:10.10.0.5<0>\n"
BOOT_TRACE = "h1:11:22 [0] NCCL INFO misc/socket.cc:567 -> 2\nh1:11:22 [0] NCCL INFO bootstrap.cc:270 -> 2\n"


@pytest.mark.parametrize(
    "text",
    [
        IB_OOB + BOOT_TRACE,
        "h1:11:22 [0] NCCL INFO Bootstrap : Using ibp12s0:192.168.5.1<0>\n" + BOOT_TRACE,
    ],
)
def test_a_bootstrap_socket_error_on_ipoib_suggests_the_interface(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [("network.wrong-interface", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # a healthy IB run: the OOB interface alone is no failure
        IB_OOB + "h1:11:22 [0] NCCL INFO Connected all rings\n",
        # a bootstrap trace on an Ethernet interface this rule does not read
        "h1:11:22 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.5<0>\n" + BOOT_TRACE,
        # a non-system error code through the bootstrap (ncclInvalidUsage = 5)
        IB_OOB + "h1:11:22 [0] NCCL INFO bootstrap.cc:270 -> 5\n",
    ],
)
def test_the_ipoib_rule_needs_both_the_interface_and_the_socket_error(tmp_path: Path, text: str) -> None:
    assert not any(c == "network.wrong-interface" for c, _ in _findings(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        # ggml-org/llama.cpp ggml-backend-reg.cpp "registered device %s", gdb/infrun.c print_signal_received_reason
        "register_device: registered device SYCL0 (Intel(R) Arc(TM) A380 Graphics)\n"
        'Thread 1 "llama-server" received signal SIGBUS, Bus error.\n',
        # ggml-sycl.cpp "ggml_sycl_init: found %d SYCL devices", the shell's "Bus error (core dumped)"
        "ggml_sycl_init: found 1 SYCL devices:\nBus error                  (core dumped) ./bin/llama-bench -m m.gguf\n",
        # llama.cpp's loader "%s buffer size = %.2f MiB" for SYCL0, gdb without threads
        "llm_load_tensors:      SYCL0 buffer size =  7605.33 MiB\nProgram received signal SIGBUS, Bus error.\n",
    ],
)
def test_a_sigbus_under_ggml_sycl_suggests_a_small_bar_not_shm(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found == [("xpu.resizable-bar-disabled", "suggests")], found


def test_ldcache_exit_1_is_only_a_guess(tmp_path: Path) -> None:
    # exit 1 is also the child failing before ldconfig runs (a refused mount, no seccomp), but two resolved dev logs
    # (immich#28184, NeMo Gym#2781) were the ldconfig path: a guess, never proof (glearn41a; exit 127 proves)
    found = _findings(tmp_path, LDCACHE_FAILED.format(path="/usr/sbin/ldconfig.real", rc=1))
    assert ("nvidia.toolkit-ldconfig-wrong", "suggests") in found, found
    assert ("nvidia.toolkit-ldconfig-wrong", "proves") not in found, found


@pytest.mark.parametrize(
    "text",
    [
        # the same function's success path logs only "executing %s at %s"
        "I0101 00:00:00.000000 1 nvc_ldcache.c:100] executing /sbin/ldconfig.real at /var/lib/docker/overlay2/x\n",
        # the device-plugin era message is a different signature; the GPU manager's needs "GPUs"
        "requested number of CPUs unavailable. Requested: 4, Available: 0\n",
        # MXNet with a thread pool prints no shared-memory reason
        "Worker timed out after 120 seconds. This might be caused by \n"
        "            - Slow transform. Please increase timeout to allow slower data loading in each worker.\n",
        # hal0's healthy pre-flight
        "gpu: /dev/dri/renderD128 → group render (gid 992)\ngpu: hal0 is a member of render\n",
        # the right names
        "    limits:\n      gpu.intel.com/i915: 1\n      nvidia.com/gpu: 2\n      amd.com/gpu: 1\n",
        # a MIGraphX failure after a device was found
        "device_name.cpp:52: get_device_name: Failed to get device properties\n",
        # a SIGBUS under gdb with no SYCL backend in sight
        'Thread 1 "python" received signal SIGBUS, Bus error.\n',
    ],
)
def test_the_family_neighbours_stay_out(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert not any(c in {"nvidia.toolkit-ldconfig-wrong", "k8s.gpu-resource-unavailable", "shm.too-small",
                         "device.group-denied", "xpu.resizable-bar-disabled"} for c, _ in found), found
