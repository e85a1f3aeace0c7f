"""Issue 13, heldout8 lessons: the families behind its misses, read in the code that prints them.

Every positive line below is written from the upstream format string its signature cites (not copied from
the heldout8 logs): NVML's driver/library mismatch retyped with spaces, glibc's loader error for the NVIDIA
Container Toolkit's own binaries, the device plugins' kubelet registration failure, NCCL's socket connect to a
link-local peer, and CUDA's error 35, which cudart also returns when no driver library is loaded at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings
from tpdoctor.explain import explain


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # NVML nvmlErrorString(NVML_ERROR_LIB_RM_VERSION_MISMATCH) "Driver/library version mismatch", retyped
        ("Failed to initialize NVML: Driver / library version mismatch.\n", "nvidia.driver-library-mismatch"),
        ("nvidia-container-cli: initialization error: nvml error: driver / library version mismatch: unknown\n",
         "nvidia.driver-library-mismatch"),
        # glibc elf/dl-error-skeleton.c "%s: %s: %s%s%s%s%s" with "error while loading shared libraries"
        ("/usr/bin/nvidia-container-cli: error while loading shared libraries: libnvidia-container.so.1: "
         "cannot open shared object file: No such file or directory\n", "runtime.nvidia-toolkit-missing"),
        ("nvidia-container-runtime-hook: error while loading shared libraries: libnvidia-container-go.so.1: "
         "cannot open shared object file: No such file or directory\n", "runtime.nvidia-toolkit-missing"),
        # NVIDIA/k8s-device-plugin log.Printf("Could not register device plugin: %s", err) (v1.8-v0.9) and
        # klog.Infof("Could not start device plugin for '%s': %s", ...) (internal/plugin/server.go v0.10+)
        ("2018/01/02 10:00:00 Could not register device plugin: context deadline exceeded\n",
         "k8s.gpu-resource-unavailable"),
        ("I0102 10:00:00.000000       1 server.go:120] Could not start device plugin for 'nvidia.com/gpu': "
         "listen unix /var/lib/kubelet/device-plugins/nvidia-gpu.sock: bind: no such file or directory\n",
         "k8s.gpu-resource-unavailable"),
        # NVIDIA/nccl src/misc/socket.cc socketStartConnect "Connect to %s failed : %s" and socketPollConnect
        # "Connect to %s returned %d(%s) errno %d(%s)", the peer printed by ncclSocketToString as addr<port>
        ("node-1:41:41 [0] misc/socket.cc:456 NCCL WARN socketStartConnect: Connect to 169.254.3.1<35721> failed : "
         "Connection timed out\n", "network.wrong-interface"),
        ("node-1:41:41 [0] misc/socket.cc:503 NCCL WARN socketPollConnect: Connect to fe80::1%eth1<35721> returned "
         "113(No route to host) errno 115(Operation now in progress)\n", "network.wrong-interface"),
        # docker/cli opts/gpus.go parseCount: a bare number after --gpus is a count (0 = no GPU), in any quoting
        ("$ docker run --rm --gpus 0 nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n", "runtime.gpu-request-invalid"),
        ("nerdctl run -it --gpus='0' myimage python train.py\n", "runtime.gpu-request-invalid"),
        # FFmpeg libavutil/hwcontext_vaapi.c "Failed to open %s as DRM device node." with the node listed by
        # coreutils ls -l (group-only access): the node exists, the group refuses
        ("crw-rw----+ 1 root render 226, 129 Jan  2 10:00 renderD129\n"
         "[AVHWDeviceContext @ 0x55d0c0] Failed to open /dev/dri/renderD129 as DRM device node.\n",
         "device.group-denied"),
        # ... and without a listing the node may simply be absent
        ("[AVHWDeviceContext @ 0x55d0c0] Cannot open DRM render node for device 0.\n", "device.render-node-missing"),
        ("[AVHWDeviceContext @ 0x55d0c0] No available render device for DRM render node.\n",
         "device.render-node-missing"),
        # one node, two group names: coreutils stat "Gid: (%5g/%8G)" on the host and in the container
        ("Access: (0660/crw-rw----)  Uid: (    0/    root)   Gid: (  109/  render)\n"
         "Access: (0660/crw-rw----)  Uid: (    0/    root)   Gid: (  109/     sgx)\n", "device.group-denied"),
        # ... or ls -l of the same major, minor
        ("crw-rw---- 1 root video 226, 1 Jan  2 10:00 /dev/dri/card1\n"
         "crw-rw---- 1 root tss 226, 1 Jan  2 10:00 /dev/dri/card1\n", "device.group-denied"),
        # CUDA cudaGetErrorString(cudaErrorInsufficientDriver): cudart's code also for "no libcuda at all"
        # (pytorch c10/cuda/CUDAFunctions.cpp device_count_impl, driver_version() <= 0)
        ("RuntimeError: CUDA failed with error CUDA driver version is insufficient for CUDA runtime version\n",
         "device.nvidia-node-missing"),
    ],
)
def test_family_form_names_its_cause(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found, text
    assert found[0][0] == cause, found


def test_cuda_35_names_both_readings_and_proves_neither(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    log.write_text("CUDA failure 35: CUDA driver version is insufficient for CUDA runtime version\n")
    top = [f for f in explain([str(log)]).findings if f.severity.value != "notice"]
    assert top and top[0].cause == "device.nvidia-node-missing", top
    assert "cuda.driver-too-old" in top[0].related, top[0].related
    assert {f.confidence for f in top} == {"suggests"}, top


@pytest.mark.parametrize(
    "text",
    [
        # NCCL v2.23+ retry INFO to a routable peer that is still starting: a retry, not a wrong interface
        "node-1:41:41 [0] NCCL INFO socketPollConnect: connect to 10.0.0.7<35721> returned Connection refused, "
        "retrying (1/34) after sleep for 100 msec\n",
        # a count of two and Podman's CDI index are valid requests
        "docker run --rm --gpus 2 nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n",
        "podman run --rm --gpus 0 nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n",
        # two nodes with their own groups, one listing each: nothing renamed
        "crw-rw---- 1 root video 226, 0 Jan  2 10:00 card0\ncrw-rw---- 1 root render 226, 128 Jan  2 10:00 renderD128\n",
        # the plugin that registered is healthy
        "2018/01/02 10:00:00 Registered device plugin with Kubelet\n",
        # another program's missing library is not the toolkit's
        "python3: error while loading shared libraries: libpython3.10.so.1.0: cannot open shared object file: "
        "No such file or directory\n",
        # a healthy NCCL run that lists a link-local interface but connects fine
        "node-1:41:41 [0] NCCL INFO NET/Socket : Using [0]eth0:10.1.2.3<0> [1]pod-id-link0:169.254.170.23<0>\n"
        "node-1:41:41 [0] NCCL INFO comm 0x5 rank 0 nranks 2 cudaDev 0 busId 1000 - Init COMPLETE\n",
    ],
)
def test_near_forms_name_nothing(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert not any(c in {"network.wrong-interface", "k8s.gpu-resource-unavailable", "runtime.nvidia-toolkit-missing",
                         "runtime.gpu-request-invalid", "device.group-denied"} for c, _ in found), found
