"""Issue 13, heldout47 lessons (glearn47d): hosts without a GPU path, and look-alikes.

Lines are written from the code and docs that print them (not copied from the heldout47 logs):
RamaLama's two macOS warnings about a Podman machine whose provider gives containers no GPU (ramalama/common.py:
v0.0.17's "podman needs to be configured to use krunkit for AI Workloads", v0.6.3+'s confirm_no_gpu prompt, with the
man-page sentence from v0.8.0); torch's TCPStore client whose connect to the advertised address times out
(c10d/socket.cpp "The server socket on {} has timed out, will retry.", vLLM's get_ip() picking a VPN tunnel's
address); nccl-tests' own device index past the GPUs (common.h CUDACHECK "%s: Test CUDA failure %s:%d '%s'"); rootless
Podman leaving the supplementary groups behind, in the reporter's words; and "No CUDA GPUs are available" from a run
meant for the CPU (detectron2's cfg.MODEL.DEVICE), which names no GPU mask. Each case pairs a form with a neighbour
that must keep its old answer, so every case fails without the change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes, causes, findings, notes

# --- RamaLama: the Podman machine's provider gives containers no GPU (device.no-gpu, a notice) ---

RAMALAMA_FORMS = [
    # v0.0.17-v0.0.18 (the warning, wrapped after the comma as printed)
    "Warning: podman needs to be configured to use krunkit for AI Workloads,\nrunning without containers\n",
    # v0.6.3-v0.7.x confirm_no_gpu
    "Warning! Your VM podman-machine-default is using applehv, which does not support GPU. Only the provider libkrun "
    "has GPU support. Do you want to proceed without GPU? (yes/no): yes\n",
    # v0.8.0+ with the man-page sentence, another machine name
    "Warning! Your VM dev-vm is using applehv, which does not support GPU. Only the provider libkrun has GPU support. "
    "See `man ramalama-macos` for more information. Do you want to proceed without GPU? (yes/no): y\n",
]

RAMALAMA_NEIGHBOURS = [
    # the docs' description of the working setup, a krunkit machine's info, an applehv machine with no GPU question
    "- Within a podman container, using krunkit for GPU passthrough\n",
    "podman machine info\nhost:\n    arch: arm64\n    os: darwin\n    vmtype: libkrun\n",
    "    machineconfigdir: /Users/me/.config/containers/podman/machine/applehv\n    vmtype: applehv\n",
    "Running in a container via podman\n",
]


@pytest.mark.parametrize("text", RAMALAMA_FORMS)
def test_ramalama_podman_machine_without_gpu(tmp_path: Path, text: str) -> None:
    assert all_causes(tmp_path, text) == ["device.no-gpu"]
    assert findings(tmp_path, text) == []  # a notice: no GPU to pass, not a failed container setting


@pytest.mark.parametrize("neighbour", RAMALAMA_NEIGHBOURS)
def test_ramalama_neighbours_name_nothing(tmp_path: Path, neighbour: str) -> None:
    assert "device.no-gpu" not in all_causes(tmp_path, neighbour)
    assert all_causes(tmp_path, neighbour + RAMALAMA_FORMS[1]) == ["device.no-gpu"]


# --- torch's store client timing out on the advertised address (network.wrong-interface) ---

C10D_FORMS = [
    # torch < 2.4 prefix, a host name
    "[W socket.cpp:601] [c10d] The server socket on [node-0]:29500 has timed out, will retry.\n",
    # torch 2.4+ glog-style prefix, an IPv4-mapped tunnel address (CGNAT range of a mesh VPN)
    "[W1207 10:11:12.123456789 socket.cpp:752] [c10d] The server socket on [::ffff:100.101.3.4]:53201 has timed out, "
    "will retry.\n",
    # bare, as vLLM's engine core shows it on one host with a VPN up
    "[c10d] The server socket on [10.8.0.6]:41011 has timed out, will retry.\n"
    "[c10d] The server socket on [10.8.0.6]:41011 has timed out, will retry.\n",
]


@pytest.mark.parametrize("text", C10D_FORMS)
def test_store_connect_timeout_is_the_address(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [("network.wrong-interface", "suggests")]


@pytest.mark.parametrize(
    "neighbour",
    [
        # a store not up yet (trace level, a refusal), and a connect that worked
        "[c10d] The server socket on [localhost]:29500 is not yet listening (errno: 111 - Connection refused), will "
        "retry.\n",
        "[I socket.cpp:787] [c10d] The client socket has connected to [localhost]:29500 on [localhost]:45678.\n",
    ],
)
def test_store_connect_neighbours_stay_clean(tmp_path: Path, neighbour: str) -> None:
    assert causes(tmp_path, neighbour) == []
    assert causes(tmp_path, neighbour + C10D_FORMS[0])[:1] == ["network.wrong-interface"]


def test_store_connect_timeout_then_running_is_a_retry(tmp_path: Path) -> None:
    text = C10D_FORMS[0] + "INFO:     Application startup complete.\n"
    assert causes(tmp_path, text) == []
    assert any("retry that succeeded" in n for n in notes(tmp_path, text))
    assert causes(tmp_path, C10D_FORMS[0]) == ["network.wrong-interface"]


# --- nccl-tests: the device index comes from its own arguments (-np per node x -t x -g) ---


@pytest.mark.parametrize(
    "text",
    [
        "node1: Test CUDA failure common.cu:963 'invalid device ordinal'\n .. node1 pid 4711: Test failure common.cu:925\n",
        "# nThread 1 nGpus 4 minBytes 8 maxBytes 134217728 step: 2(factor) warmup iters: 5 iters: 20\n"
        "gpu-node-3: Test CUDA failure src/common.cu:1569 'invalid device ordinal'\n",
    ],
)
def test_nccl_tests_invalid_ordinal_is_the_arguments(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text) == []
    # torch's own invalid ordinal keeps its container reading
    assert causes(tmp_path, "RuntimeError: CUDA error: invalid device ordinal\n")[:1] == ["cuda.visible-devices-mismatch"]


def test_nccl_tests_other_cuda_failure_keeps_its_cause(tmp_path: Path) -> None:
    assert causes(tmp_path, "node1: Test CUDA failure common.cu:963 'invalid device ordinal'\n") == []
    other = "host-a: Test CUDA failure common.cu:941 'system not yet initialized'\n"
    assert causes(tmp_path, other)[:1] == ["nvidia.fabric-manager-not-running"]


# --- rootless Podman leaving the supplementary groups behind, in words ---

PODMAN_GROUP_FORMS = [
    "On my laptop /dev/dri/card1 belongs to the video group and that privilege is given up by podman.\n",
    "The render group is dropped by rootless Podman, so llama.cpp sees no GPU.\n",
    "Rootless podman drops the supplementary groups, so the container cannot open /dev/dri/renderD128.\n",
    "podman doesn't keep the video group, hence the permission error\n",
]


@pytest.mark.parametrize("text", PODMAN_GROUP_FORMS)
def test_podman_dropping_groups_is_the_group(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [("device.group-denied", "suggests")]


@pytest.mark.parametrize(
    "neighbour",
    [
        "The video group is not dropped by podman when --group-add keep-groups is used.\n",
        "The container was stopped by podman after the health check failed.\n",
        "podman drops the connection after a minute\n",
    ],
)
def test_podman_group_neighbours_stay_clean(tmp_path: Path, neighbour: str) -> None:
    assert causes(tmp_path, neighbour) == []
    assert causes(tmp_path, neighbour + PODMAN_GROUP_FORMS[2])[:1] == ["device.group-denied"]


# --- "No CUDA GPUs are available" from a run meant for the CPU: no mask to blame ---

NO_GPUS = "RuntimeError: No CUDA GPUs are available\n"


@pytest.mark.parametrize(
    "intent",
    [
        "I tried to run the getting-started notebook on Colab with CPU mode and it failed:\n",
        "We selected the CPU runtime in Colab.\n",
        "Is it possible to run this model in CPU for inference?\n",
        "I want to run the demo on CPU, my laptop has no NVIDIA card.\n",
        "cfg.MODEL.DEVICE = 'cpu'\n",
    ],
)
def test_no_cuda_gpus_on_a_cpu_run_names_no_mask(tmp_path: Path, intent: str) -> None:
    assert causes(tmp_path, intent + "predictor = DefaultPredictor(cfg)\n" + NO_GPUS) == []
    assert any("meant for the CPU" in n for n in notes(tmp_path, intent + NO_GPUS))


@pytest.mark.parametrize(
    "symptom",
    [
        # the GPU was wanted: these keep the mask reading
        "I tried to run the model on the GPU but it falls back to CPU mode.\n",
        "It runs in CPU mode instead of on the GPU.\n",
        "How to run this on GPU instead of on CPU?\n",
        "I tried to run it, but it runs on CPU only.\n",
    ],
)
def test_no_cuda_gpus_with_a_gpu_wanted_keeps_the_mask(tmp_path: Path, symptom: str) -> None:
    assert causes(tmp_path, symptom + NO_GPUS)[:1] == ["cuda.visible-devices-mismatch"]
    assert causes(tmp_path, "We selected the CPU runtime.\n" + NO_GPUS) == []
