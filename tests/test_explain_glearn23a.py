"""Issue 13, heldout23 lessons (glearn23a).

Lines are written from the code that prints them (not copied from the heldout23 logs):
- NCCL's graph / topology files, which /etc/nccl.conf or ~/.nccl.conf can preset (src/misc/param.cc initEnv):
  src/graph/search.cc "XML Import Channel : dev %d not found." (%ld from v2.21) and "NCCL_GRAPH_FILE set by
  environment to %s"; src/graph/xml.cc "Could not open XML graph file %s : %s", "XML Graph|Topology has wrong version
  %d, %d needed", "Loading topology file %s"; src/graph/topo.cc "NCCL_TOPO_FILE set by environment to %s";
- CMake cmGeneratorTarget: "<LANG>_ARCHITECTURES is set to \"native\", but no GPU was detected." (later "... no NVIDIA
  GPU was detected.") in a docker build;
- llama.cpp's 2023 CUDA_CHECK "CUDA error %d at %s:%d: %s" for the unchecked peer-access enable (#3230, fixed by #3231);
- Ollama < 0.1.29 verifyDriverAccess "Radeon card detected, but permissions not set up properly. ..." (it opens
  /dev/kfd without looking for an AMD GPU);
- prose: a GPU tool that works only with sudo (rocm-examples#172), a link-local bootstrap NIC (uccl#1034), --gpus
  device=N renumbering against a forwarded CUDA_VISIBLE_DEVICES (devito#2710), and a compose reservation without count
  with the container's GPU missing in words (docker/docs#20588).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

H = "gpu-vm-1:4410:4471 [0] "

# --- NCCL graph / topology files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # search.cc ncclTopoGetChannelFromXml, "%d" (v2.7-v2.20) and "%ld" (v2.21+) print alike
        H + "graph/search.cc:703 NCCL WARN XML Import Channel : dev 3 not found.",
        H + "NCCL WARN XML Import Channel : dev 12 not found.",
        # xml.cc ncclTopoGetXmlGraphFromFile: the file named by NCCL_GRAPH_FILE is not there
        H + "graph/xml.cc:982 NCCL WARN Could not open XML graph file /opt/microsoft/ndv4/graph.xml : No such file or directory",
        # xml.cc: graph / topology file of another XML version
        H + "NCCL WARN XML Graph has wrong version 0, 1 needed",
        H + "NCCL WARN XML Topology has wrong version 2, 1 needed",
    ],
)
def test_graph_or_topology_file_that_does_not_fit(tmp_path: Path, line: str) -> None:
    text = H + "NCCL INFO NCCL_GRAPH_FILE set by environment to /opt/microsoft/ndv4/graph.xml\n" + line + "\n"
    assert findings(tmp_path, text)[:1] == [("env.invalid-value", "suggests")]


def test_graph_file_error_then_system_error_is_not_shm(tmp_path: Path) -> None:
    text = (
        H + "NCCL WARN XML Import Channel : dev 2 not found.\n"
        "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1691, unhandled system error "
        "(run with NCCL_DEBUG=INFO for details), NCCL version 2.19.3\n"
    )
    got = causes(tmp_path, text)
    assert got[:1] == ["env.invalid-value"]
    assert "shm.too-small" not in got


@pytest.mark.parametrize(
    "setting",
    [
        H + "NCCL INFO NCCL_GRAPH_FILE set by environment to /opt/microsoft/ncv4/graph.xml",  # search.cc INFO
        "$ cat /etc/nccl.conf\nNCCL_TOPO_FILE=/opt/microsoft/ncv4/topo.xml\nNCCL_GRAPH_FILE=/opt/microsoft/ncv4/graph.xml",
        "export NCCL_GRAPH_FILE=/workspace/graph.xml",
    ],
)
def test_graph_file_in_effect_and_a_system_error(tmp_path: Path, setting: str) -> None:
    text = setting + "\nTest NCCL failure common.cu:953 'unhandled system error'\n"
    got = causes(tmp_path, text)
    assert got[:1] == ["env.invalid-value"]
    assert "shm.too-small" not in got


def test_topology_file_alone_does_not_explain_a_system_error(tmp_path: Path) -> None:
    # a topology file fuses with what NCCL detects; it is preset on healthy cloud images too (NDv4: topology only)
    text = (
        H + "NCCL INFO NCCL_TOPO_FILE set by environment to /opt/microsoft/ndv4-topo.xml\n"
        + H + "NCCL INFO Loading topology file /opt/microsoft/ndv4-topo.xml\n"
        "Test NCCL failure common.cu:953 'unhandled system error'\n"
    )
    assert "env.invalid-value" not in causes(tmp_path, text)
    # ... a graph file in effect does
    graph = H + "NCCL INFO NCCL_GRAPH_FILE set by environment to /opt/microsoft/ncv4/graph.xml\n"
    assert causes(tmp_path, graph + text)[:1] == ["env.invalid-value"]


@pytest.mark.parametrize(
    "topo",
    [
        H + "NCCL INFO Loading topology file /opt/microsoft/ncv4/topo.xml",  # xml.cc ncclTopoGetXmlFromFile
        H + "NCCL INFO NCCL_TOPO_FILE set by environment to /opt/microsoft/ncv4/topo.xml",  # topo.cc
    ],
)
def test_azure_ncv4_nccl_conf_and_a_system_error_is_its_graph_file(tmp_path: Path, topo: str) -> None:
    # Azure/azhpc-images customizations/ncv4.sh writes both files into /etc/nccl.conf; the graph is for 4 GPUs
    text = (
        "$ ./build/all_reduce_perf -b 8 -e 256M -f 2 -g 2\n" + topo + "\n"
        "Test NCCL failure common.cu:953 'unhandled system error'\n"
    )
    got = causes(tmp_path, text)
    assert got[:1] == ["env.invalid-value"]
    assert "shm.too-small" not in got
    # the same image running fine names nothing
    assert causes(tmp_path, topo + "\n" + H + "NCCL INFO comm 0x55d5 rank 0 nranks 4 cudaDev 0 - Init COMPLETE\n") == []


def test_healthy_run_with_preset_graph_and_topology_files_stays_clean(tmp_path: Path) -> None:
    text = (
        H + "NCCL INFO NCCL_TOPO_FILE set by environment to /opt/microsoft/ndv4-topo.xml\n"
        + H + "NCCL INFO Loading topology file /opt/microsoft/ndv4-topo.xml\n"
        + H + "NCCL INFO Loading topology file /var/run/nvidia-topologyd/virtualTopology.xml\n"
        + H + "NCCL INFO NCCL_GRAPH_FILE set by environment to /opt/microsoft/ndv4-graph.xml\n"
        + H + "NCCL INFO Loading graphs for topology ndv4\n"
        + H + "NCCL INFO Search 0 : 8 channels loaded from XML graph\n"
        + H + "NCCL INFO Channel 00/08 :    0   1   2   3   4   5   6   7\n"
        + H + "NCCL INFO comm 0x55d5 rank 0 nranks 8 cudaDev 0 busId 100000 - Init COMPLETE\n"
    )
    assert causes(tmp_path, text) == []
    # the same image on a smaller VM: the graph names a GPU this job lacks
    assert causes(tmp_path, text + H + "NCCL WARN XML Import Channel : dev 5 not found.\n")[:1] == ["env.invalid-value"]


# --- CUDA builds inside docker build --------------------------------------------------------------------------------

DOCKERFILE = (
    "FROM nvidia/cuda:12.4.1-devel-ubuntu22.04\n"
    "RUN CMAKE_ARGS=\"-DGGML_CUDA=on\" pip install llama-cpp-python --no-cache-dir\n"
)
BUILDKIT = "#9 [4/6] RUN pip install -v --no-cache-dir .\n"


@pytest.mark.parametrize(
    "line",
    [
        # CMake 3.24-3.2x
        'CUDA_ARCHITECTURES is set to "native", but no GPU was detected.',
        # later CMake
        '  CUDA_ARCHITECTURES is set to "native", but no NVIDIA GPU was detected.',
        # HIP language, same function
        'HIP_ARCHITECTURES is set to "native", but no GPU was detected.',
    ],
)
@pytest.mark.parametrize("context", [DOCKERFILE, BUILDKIT, "RUN pip3 install llama-cpp-python\n"])
def test_native_cuda_arch_in_a_docker_build(tmp_path: Path, line: str, context: str) -> None:
    text = context + "CMake Error in vendor/llama.cpp/ggml/src/ggml-cuda/CMakeLists.txt:\n" + line + "\n"
    assert findings(tmp_path, text)[:1] == [("runtime.build-without-gpu", "suggests")]


def test_native_cuda_arch_on_a_plain_machine_is_a_note(tmp_path: Path) -> None:
    text = (
        "$ cmake -B build -DGGML_CUDA=ON\n"
        "CMake Error in ggml/src/ggml-cuda/CMakeLists.txt:\n"
        '  CUDA_ARCHITECTURES is set to "native", but no GPU was detected.\n'
    )
    assert causes(tmp_path, text) == []
    assert any("no GPU it can see" in n for n in notes(tmp_path, text))


def test_torch_arch_list_warning_stays_clean(tmp_path: Path) -> None:
    text = (
        BUILDKIT
        + "W0519 06:18:01.130000 274 torch/utils/cpp_extension.py:2425] TORCH_CUDA_ARCH_LIST is not set, all archs "
        "for visible cards are included for compilation.\n"
        "W0519 06:18:01.130000 274 torch/utils/cpp_extension.py:2425] If this is not desired, please set "
        "os.environ['TORCH_CUDA_ARCH_LIST'] to specific architectures.\n"
    )
    assert causes(tmp_path, text) == []
    native = 'CUDA_ARCHITECTURES is set to "native", but no GPU was detected.\n'
    assert causes(tmp_path, text + native)[:1] == ["runtime.build-without-gpu"]


# --- look-alikes: llama.cpp's peer-access bug, Ollama's old render-group hint ------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "CUDA error 217 at ggml-cuda.cu:6105: peer access is not supported between these two devices",
        "CUDA error 217 at /app/llama.cpp/ggml-cuda.cu:5914: peer access is not supported between these two devices",
    ],
)
def test_llamacpp_2023_peer_access_bug_is_not_the_host(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n") == []
    assert any("PR #3231" in n for n in notes(tmp_path, line + "\n"))


def test_peer_access_unsupported_elsewhere_still_names_p2p(tmp_path: Path) -> None:
    text = "RuntimeError: CUDA error: peer access is not supported between these two devices\n"
    assert causes(tmp_path, text)[:1] == ["nccl.p2p-unsupported"]
    old = "CUDA error 217 at ggml-cuda.cu:6105: peer access is not supported between these two devices\n"
    assert causes(tmp_path, old) == []


OLD_OLLAMA = (
    "Error: unable to initialize llm library Radeon card detected, but permissions not set up properly.  Either run "
    "ollama as root, or add you user account to the render group.\n"
)


@pytest.mark.parametrize(
    "words",
    [
        "I took out the Radeon RX 580 last week; the box only has an RTX 4070 now.",
        "I do not have an AMD GPU anymore, only the NVIDIA one.",
        "There is no AMD GPU in this machine.",
        "After `sudo rmmod amdgpu` the error went away.",
    ],
)
def test_old_ollama_hint_with_the_amd_card_gone_is_clean(tmp_path: Path, words: str) -> None:
    assert causes(tmp_path, OLD_OLLAMA + words + "\n") == []


def test_old_ollama_hint_alone_still_names_the_group(tmp_path: Path) -> None:
    assert causes(tmp_path, OLD_OLLAMA)[:1] == ["device.group-denied"]
    assert causes(tmp_path, OLD_OLLAMA + "I removed the old FirePro; the GPU is an RTX 3060 now.\n") == []


def test_new_ollama_hint_is_not_excused_by_a_removed_card(tmp_path: Path) -> None:
    # v0.1.29+ discovers the GPUs in sysfs before it checks /dev/kfd: a card is there
    text = (
        'time=2024-09-10T21:53:24.695Z level=ERROR source=amd_linux.go:364 msg="amdgpu devices detected but '
        'permission problems block access" error="permissions not set up properly.  Either run ollama as root, or '
        'add you user account to the render group. open /dev/kfd: permission denied"\n'
        "I removed the old card and added a new Radeon.\n"
    )
    assert causes(tmp_path, text)[:1] == ["device.group-denied"]
    # the old check's words with the same story are excused
    assert causes(tmp_path, OLD_OLLAMA + "I removed the old card and added a new Radeon.\n") == []


# --- prose: root-only GPU tools, link-local bootstrap, renumbered GPUs, compose without count ---------------------


@pytest.mark.parametrize(
    "line",
    [
        "Running `rocminfo` fails and `sudo rocminfo` executes correctly inside the container.",
        "clinfo shows no platforms for my user, but sudo clinfo lists the GPU.",
        "sudo rocm-smi works, but as a normal user it fails with permission denied.",
    ],
)
def test_gpu_tool_that_works_only_with_sudo(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [("device.group-denied", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        "sudo nvidia-smi works fine here.",
        "$ sudo docker run --rm --gpus all ubuntu nvidia-smi",
        "sudo rocminfo lists two agents: the CPU and gfx90a.",
    ],
)
def test_sudo_without_a_failure_stays_clean(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n") == []
    failing = "rocminfo fails for the container user, sudo rocminfo works.\n"
    assert causes(tmp_path, line + "\n" + failing)[:1] == ["device.group-denied"]


@pytest.mark.parametrize(
    "line",
    [
        "NCCL picked the 169.254.0.2 link-local interface, so the second node's connect was refused.",
        "The bootstrap selected a link-local NIC (169.254.3.1) and rank 1 never connected.",
        "torch.distributed chose the fe80::1 link-local address and the job hung.",
    ],
)
def test_link_local_bootstrap_in_words(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [("network.wrong-interface", "suggests")]


def test_link_local_interface_in_info_lines_stays_clean(tmp_path: Path) -> None:
    text = (
        H + "NCCL INFO Bootstrap : Using eth0:10.0.0.4<0>\n"
        + H + "NCCL INFO NET/Socket : Using [0]eth0:10.0.0.4<0> [1]enP1s1:169.254.3.1<0>\n"
        + H + "NCCL INFO Using network Socket\n"
        + "The metadata service is reachable on 169.254.169.254 as usual.\n"
    )
    assert causes(tmp_path, text) == []
    told = "NCCL bootstrap picked enP1s1 (169.254.3.1) and the second node got Connection refused.\n"
    assert causes(tmp_path, text + told)[:1] == ["network.wrong-interface"]


@pytest.mark.parametrize(
    "line",
    [
        "docker run --gpus device=2 gives the container GPU 2 renumbered as 0, yet the forwarded CUDA_VISIBLE_DEVICES=2 "
        "still points at device 2.",
        "Inside the container the only GPU is renumbered to zero, but CUDA_VISIBLE_DEVICES=1 was passed with -e.",
    ],
)
def test_gpus_device_renumbering_against_the_forwarded_mask(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [("cuda.visible-devices-mismatch", "suggests")]


def test_renumbering_words_without_a_container_stay_clean(tmp_path: Path) -> None:
    text = "With CUDA_VISIBLE_DEVICES=3 the process sees one GPU, renumbered as 0, which is expected.\n"
    assert causes(tmp_path, text) == []
    told = "With --gpus device=3 the container renumbers that GPU to 0, and CUDA_VISIBLE_DEVICES=3 breaks it.\n"
    assert causes(tmp_path, told)[:1] == ["cuda.visible-devices-mismatch"]


COMPOSE = (
    "services:\n  tts:\n    image: ghcr.io/example/tts-server\n    deploy:\n      resources:\n        reservations:\n"
    "          devices:\n"
)
NO_COUNT = "            - driver: nvidia\n              capabilities: [gpu]\n"
WITH_COUNT = "            - driver: nvidia\n              count: 1\n              capabilities: [gpu]\n"


@pytest.mark.parametrize(
    "words",
    [
        "Without the count line the GPU is not available in the container.",
        "Written like this, the container doesn't have access to any GPUs.",
        "No GPU found when the service starts.",
    ],
)
def test_reservation_without_count_and_no_gpu_in_words(tmp_path: Path, words: str) -> None:
    assert causes(tmp_path, COMPOSE + NO_COUNT + words + "\n")[:1] == ["compose.gpu-reservation-incomplete"]


def test_reservation_with_count_and_the_same_words_is_not_the_reservation(tmp_path: Path) -> None:
    text = COMPOSE + WITH_COUNT + "Written like this, the container doesn't have access to any GPUs.\n"
    assert "compose.gpu-reservation-incomplete" not in causes(tmp_path, text)
    text = COMPOSE + NO_COUNT + "Written like this, the container doesn't have access to any GPUs.\n"
    assert causes(tmp_path, text)[:1] == ["compose.gpu-reservation-incomplete"]
