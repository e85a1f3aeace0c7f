"""Issue 13, heldout32 lessons (glearn32b): ROCm, builds and networking.

Lines are written from the code that prints them (not copied from the heldout32 logs):
- rocminfo (ROCm/rocminfo rocminfo.cc): main() runs CheckInitialState() before hsa_init() and returns when it fails
  (rocm-4.1.0+); CheckInitialState prints "ROCk module is loaded" / "ROCk module version %s is loaded", then opens
  /dev/kfd O_RDWR and prints "Unable to open /dev/kfd read-write: %s" when it cannot. RET_IF_HSA_ERR prints
  "hsa api call failure at: %s:%d" + "Call returned %s". So an hsa_init OUT_OF_RESOURCES after a clean check on a
  host is not a missing or denied /dev/kfd (an unsupported GPU: rocm-arch#901);
- amdkfd's "PCI rejects atomics" (kfd_device.c) retold in a report for a count of GPUs (ROCm#755);
- torchforge's MonarchExecutor "[MonarchExecutor] Head node: {ip}:{port}" and torch c10d's "The {}network addresses
  of ({}, {}) cannot be retrieved (gai error: {} - {})." with a link-local host (torchforge#743, PR #778);
- bindgen_cuda / candle's build scripts: "`nvidia-smi` failed. Ensure that you have CUDA installed and that
  `nvidia-smi` is in your PATH." and cargo's "failed to run custom build command for `candle-kernels ...`" in a
  BuildKit step (ai-dynamo/dynamo#310);
- the shell's "command not found" for nvidia-smi, retold, beside a docker run without a GPU request (Topo-boundary#1).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import causes as _causes
from explain_helpers import findings as _findings

ROCMINFO_FAIL = (
    "hsa api call failure at: {path}/rocminfo.cc:{line}\n"
    "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed to allocate the necessary resources. This "
    "error may also occur when the core runtime library needs to spawn threads or create internal OS-specific events.\n"
)


@pytest.mark.parametrize(
    "text",
    [
        # rocminfo 5.x: the driver check, then hsa_init failing; /dev/kfd was opened read-write
        "$ rocminfo\nROCk module is loaded\n" + ROCMINFO_FAIL.format(path="/usr/src/rocminfo-rocm-5.4.3", line=1148),
        # rocminfo 6.x prints the module version
        "user@box:~$ /opt/rocm/bin/rocminfo\nWSL environment not detected.\nROCk module version 6.7.0 is loaded\n"
        + ROCMINFO_FAIL.format(path="/long_pathname_so_that_rpms_can_package_the_debug_info/src/rocminfo", line=1330),
    ],
)
def test_rocminfo_past_its_kfd_check_on_a_host_is_not_a_kfd_cause(tmp_path: Path, text: str) -> None:
    found = _all(tmp_path, text)
    assert "device.kfd-missing" not in found and "device.group-denied" not in found, found
    assert _causes(tmp_path, text) == []


@pytest.mark.parametrize(
    "text",
    [
        # the kfd check failed: rocminfo says why (old rocminfo went on to hsa_init)
        "ROCk module is loaded\nUnable to open /dev/kfd read-write: No such file or directory\n"
        + ROCMINFO_FAIL.format(path="/src/rocminfo", line=1141),
        # no rocminfo check at all: a bare OUT_OF_RESOURCES still names the kfd family
        "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed to allocate the necessary resources.\n",
        # inside a container the render node may be what is missing: the clean check does not clear it
        "$ docker run -it --device /dev/kfd rocm/dev-ubuntu-22.04 rocminfo\nROCk module is loaded\n"
        + ROCMINFO_FAIL.format(path="/src/rocminfo", line=1148),
    ],
)
def test_rocminfo_out_of_resources_without_the_clean_check_keeps_the_kfd_family(tmp_path: Path, text: str) -> None:
    found = _causes(tmp_path, text)
    assert found and found[0] in ("device.kfd-missing", "device.group-denied", "device.render-node-missing"), found


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # amdkfd's refusal retold for a count of GPUs / a model
        ('After a clean install 5 of my 6 GPUs get "PCI rejects atomics" in dmesg.\n', "rocm.pcie-atomics-unsupported"),
        ("dmesg says PCI rejects atomics for both RX 580 cards on the riser board\n", "rocm.pcie-atomics-unsupported"),
        ("Two of the Vega cards show 'PCI rejects atomics' and rocminfo lists only one agent.\n",
         "rocm.pcie-atomics-unsupported"),
        # a link-local head / rendezvous address
        ("(EngineCore_DP0 pid=311) INFO monarch_executor.py:386: [MonarchExecutor] Head node: fe80::42:acff:fe11:2:42137\n",
         "network.wrong-interface"),
        ("export MASTER_ADDR=169.254.3.1\n", "network.wrong-interface"),
        ("VLLM_HOST_IP: fe80::a00:27ff:fe4e:66a1\n", "network.wrong-interface"),
        # torch's c10d resolver given a link-local literal
        ("[W socket.cpp:697] [c10d] The IPv4 network addresses of (fe80::42:acff:fe11:3, 29500) cannot be retrieved "
         "(gai error: -9 - Address family for hostname not supported).\n", "network.wrong-interface"),
        # bindgen_cuda / candle asking nvidia-smi for the compute capability in a build without a GPU
        ("thread 'main' panicked at /root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/bindgen_cuda-0.1.5/src/"
         "lib.rs:489:18:\n`nvidia-smi` failed. Ensure that you have CUDA installed and that `nvidia-smi` is in your "
         "PATH.: Os { code: 2, kind: NotFound, message: \"No such file or directory\" }\n", "runtime.build-without-gpu"),
        ("  Error: `nvidia-smi` failed. Ensure that you have CUDA installed and that `nvidia-smi` is in your PATH.\n",
         "runtime.build-without-gpu"),
        # only cargo's summary left, in a BuildKit step
        ("#31 212.4 error: failed to run custom build command for `candle-kernels v0.8.4`\n", "runtime.build-without-gpu"),
        ("#18 97.02 error: failed to run custom build command for `candle-flash-attn v0.9.1 "
         "(https://github.com/huggingface/candle?rev=1a2b3c#1a2b3c4d)`\n", "runtime.build-without-gpu"),
    ],
)
def test_a_heldout32b_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        "start it with `docker run -it myimage`, then type `nvidia-smi` but get command not found\n",
        "docker run --rm -it ubuntu-cuda:11.0 bash\nnvidia-smi gives command not found inside the container\n",
    ],
)
def test_nvidia_smi_not_found_retold_after_a_run_without_gpus(tmp_path: Path, text: str) -> None:
    found = _causes(tmp_path, text)
    assert found and found[0] in ("device.nvidia-node-missing", "runtime.nvidia-toolkit-missing"), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # the atomics phrase said not to be there, or the kernel's own line (its own signature names it)
        ("There is no PCI rejects atomics message in dmesg for my GPU.\n", "rocm.pcie-atomics-unsupported"),
        ("The GPUs don't show \"PCI rejects atomics\" any more after the BIOS update.\n",
         "rocm.pcie-atomics-unsupported"),
        # link-local addresses that are not the rendezvous address: NCCL listing interfaces, an ip addr line
        ("host:41:41 [0] NCCL INFO NET/Socket : Using [0]eth0:10.0.0.2<0> [1]eth1:fe80::42:acff:fe11:2%eth1<0>\n",
         "network.wrong-interface"),
        ("    inet6 fe80::42:acff:fe11:2/64 scope link\n", "network.wrong-interface"),
        ("[MonarchExecutor] Head node: 10.0.0.5:42137\n", "network.wrong-interface"),
        # c10d failing to resolve a host name is a resolver problem, not a link-local choice
        ("[W socket.cpp:697] [c10d] The IPv6 network addresses of (node-3, 29500) cannot be retrieved "
         "(gai error: -2 - Name or service not known).\n", "network.wrong-interface"),
        # the build image lacks nvcc: not a GPU missing from the build
        ("#31 88.10 `nvcc` failed. Ensure that you have CUDA installed and that `nvcc` is in your PATH.\n"
         "#31 212.4 error: failed to run custom build command for `candle-kernels v0.8.4`\n", "runtime.build-without-gpu"),
        # a candle build failing on a workstation (no BuildKit step): many other reasons
        ("error: failed to run custom build command for `candle-kernels v0.8.4`\n", "runtime.build-without-gpu"),
        # another crate in a docker build
        ("#12 40.1 error: failed to run custom build command for `openssl-sys v0.9.102`\n", "runtime.build-without-gpu"),
        # nvidia-smi works; another command is not found
        ("nvidia-smi works, but nvcc: command not found\n", "runtime.nvidia-toolkit-missing"),
        ("I ran nvidia-smi and it lists both GPUs, but `conda` gives command not found\n",
         "runtime.nvidia-toolkit-missing"),
    ],
)
def test_a_heldout32b_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    found = _all(tmp_path, text)
    assert not_cause not in found, found


SMI_ROW = "|   {i}  NVIDIA GeForce RTX 4090        Off |   00000000:{bus}:00.0 Off |                  Off |\n"
GGML = (
    "ggml_cuda_init: GGML_CUDA_FORCE_MMQ:    no\n"
    "ggml_cuda_init: found {n} CUDA devices:\n"
    "  Device 0: NVIDIA GeForce RTX 4090, compute capability 8.9, VMM: yes\n"
)
OOM = "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 40960.00 MiB on device 0: cudaMalloc failed: out of memory\n"


@pytest.mark.parametrize(
    "text",
    [
        # nvidia-smi lists two GPUs, llama.cpp (ggml_cuda_init) counts one: a mask (ramalama < 0.9 set it to 0)
        SMI_ROW.format(i=0, bus="01") + SMI_ROW.format(i=1, bus="02") + GGML.format(n=1) + OOM,
        # the host's GPUs told in words
        "On a box with two RTX 4090 cards only one GPU is used by ramalama serve.\n" + GGML.format(n=1) + OOM,
    ],
)
def test_llama_cpp_seeing_one_of_several_gpus_names_the_mask(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("cuda.visible-devices-mismatch", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # llama.cpp saw both GPUs
        SMI_ROW.format(i=0, bus="01") + SMI_ROW.format(i=1, bus="02") + GGML.format(n=2) + OOM,
        # a one-GPU host
        SMI_ROW.format(i=0, bus="01") + GGML.format(n=1) + OOM,
        # several GPUs in words but no count from llama.cpp
        "On a box with two RTX 4090 cards only one GPU is used by the trainer.\n",
        # one GPU of several chosen on purpose, in words that do not say only one is used
        "The machine has 4 GPUs and we pin one GPU per job.\n" + GGML.format(n=1),
    ],
)
def test_llama_cpp_gpu_count_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "cuda.visible-devices-mismatch" not in _all(tmp_path, text)


JULIA_LIBCUDA = (
    "┌ Error: CUDAdrv.jl failed to initialize\n"
    "│   exception =\n"
    '│    could not load library "libcuda"\n'
    "│    libcuda.so: cannot open shared object file: No such file or directory\n"
)


@pytest.mark.parametrize(
    "text",
    [
        # a docker build named in words, at a sentence start as well
        "While building the docker image for our Julia server, CUDA fails.\n" + JULIA_LIBCUDA,
        "The precompile runs during docker build.\n" + JULIA_LIBCUDA,
    ],
)
def test_julia_without_libcuda_in_a_docker_build_is_the_build_step(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("runtime.build-without-gpu", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # a CPU-only machine: the package stays loadable by design
        JULIA_LIBCUDA,
        '[ Info: CUDAdrv.jl failed to initialize, GPU functionality unavailable (set JULIA_CUDA_SILENT or '
        'JULIA_CUDA_VERBOSE to silence or expand this message)\n',
        # a docker image named, but not being built
        "I pulled the docker image and ran it on my laptop.\n" + JULIA_LIBCUDA,
    ],
)
def test_julia_without_libcuda_outside_a_build_is_not_the_build_step(tmp_path: Path, text: str) -> None:
    assert "runtime.build-without-gpu" not in _all(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        "After upgrading Ubuntu to 24.04, Docker Desktop does not start any more.\n",
        "Docker Desktop 4.29 on a fresh Ubuntu 24.04 install fails to start, the whale icon never shows.\n",
        "I moved to Ubuntu 24.10 and now docker-desktop won't open at all.\n",
    ],
)
def test_docker_desktop_not_starting_on_ubuntu_24_names_the_userns_restriction(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("userns.apparmor-restricted", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # an older Ubuntu: no restriction by default
        "After upgrading Ubuntu to 22.04, Docker Desktop does not start any more.\n",
        # it works on 24.04
        "Docker Desktop starts fine on Ubuntu 24.04 after the upgrade, but the container does not start.\n",
        # Docker Engine, not Docker Desktop
        "On Ubuntu 24.04 the docker service does not start after the upgrade.\n",
    ],
)
def test_docker_desktop_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "userns.apparmor-restricted" not in _all(tmp_path, text)
