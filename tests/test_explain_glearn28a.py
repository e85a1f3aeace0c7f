"""Issue 13, heldout28 lessons (glearn28a).

Lines are written from the code that prints them (not copied from the heldout28 logs):
- an integrated AMD GPU enumerated beside a discrete one, then a failure: ggml's older device list
  ("  Device %d: %s, compute capability %d.%d, VMM: %s", prop.name = the marketing name under HIP), rocminfo's agent
  "Name:" lines, the report's own words naming the gfx targets, Unsloth Studio's "GPUs free: [...]" launch line; the
  failure as ggml_cuda_error's "  current device: %d, in function %s at %s:%d" / GGML_ASSERT(!"CUDA error") /
  "ggml-cuda.cu:N: ROCm error", a segmentation fault, or HIP's no-code errors -> rocm.igpu-visible;
- MIG instances (in words, or nvidia-smi -L / MIG UUIDs) and an invalid device ordinal in torch's THC forms
  ("THCudaCheck FAIL file=%s line=%d error=%d : %s", "cuda runtime error (%d) : %s at %s:%d") ->
  nvidia.mig-multi-instance before cuda.visible-devices-mismatch;
- nvidia-smi topo -p2p's "Chipset not supported" in a report of P2P -> nccl.p2p-unsupported, the legend stays clean;
- TCPStore::waitForWorkers "Timed out after %d seconds waiting for clients. %d/%d clients joined." names no interface;
- a bare @ray.remote task whose torch.cuda.device_count() is 0 -> ray.task-without-gpu;
- a single GPU (one-GPU mask) that stalls is not P2P.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import causes as _causes
from explain_helpers import findings as _findings

IGPU = "rocm.igpu-visible"

# ggml's older device list (HIP build: prop.name is the marketing name)
OLD_LIST = (
    "ggml_cuda_init: found 2 ROCm devices:\n"
    "  Device 0: AMD Radeon RX 7900 XTX, compute capability 11.0, VMM: no\n"
    "  Device 1: AMD Radeon {igpu}, compute capability 11.0, VMM: no\n"
)
GGML_ERR = (
    "CUDA error: {msg}\n"
    "  current device: 1, in function ggml_cuda_pool_malloc at /src/llama.cpp/ggml/src/ggml-cuda.cu:373\n"
    "  hipMalloc(&ptr, size)\n"
    'GGML_ASSERT: /src/llama.cpp/ggml/src/ggml-cuda.cu:101: !"CUDA error"\n'
)
ROCMINFO = (
    "*******\nAgent 2\n*******\n"
    "  Name:                    gfx1100\n"
    "  Marketing Name:          Radeon RX 7900 XTX\n"
    "*******\nAgent 3\n*******\n"
    "  Name:                    {igpu}\n"
    "  Marketing Name:          AMD Radeon Graphics\n"
)


@pytest.mark.parametrize("igpu", ["780M", "760M", "890M", "680M", "8060S Graphics"])
@pytest.mark.parametrize("msg", ["out of memory", "invalid device function"])
def test_ggml_old_list_igpu_named_then_abort(tmp_path: Path, igpu: str, msg: str) -> None:
    assert _causes(tmp_path, OLD_LIST.format(igpu=igpu) + GGML_ERR.format(msg=msg))[:1] == [IGPU]


@pytest.mark.parametrize(
    "failure",
    [
        "ROCm error: invalid device function\n  current device: 1, in function ggml_cuda_compute_forward at "
        "/app/ggml/src/ggml-cuda/ggml-cuda.cu:2401\n/app/ggml/src/ggml-cuda/ggml-cuda.cu:88: ROCm error\n",
        "Segmentation fault (core dumped)\n",
        "llama-server exited: SIGSEGV\n",
        "RuntimeError: HIP error: invalid device function\n",
        "hipErrorNoBinaryForGpu: Unable to find code object for all current devices!\n",
    ],
)
@pytest.mark.parametrize("igpu", ["gfx1036", "gfx1103", "gfx1150"])
def test_rocminfo_agents_igpu_beside_dgpu_then_failure(tmp_path: Path, failure: str, igpu: str) -> None:
    assert IGPU in _causes(tmp_path, ROCMINFO.format(igpu=igpu) + failure)


@pytest.mark.parametrize(
    "text",
    [
        "The box has one GPU (RX 7900 XTX, gfx1100) and integrated graphics (Ryzen 9 7950X, gfx1036); llama-server "
        "segfaults with the default options.\n",
        "Hardware: dGPU (Radeon AI PRO R9700, gfx1201) plus the iGPU (gfx1036) of the 9950X3D.\n"
        "It segfaulted while loading the model.\n",
    ],
)
def test_report_names_both_targets_and_a_crash(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text)[:1] == [IGPU]


# Ollama's discovery line per device (discover/types.go; ml/device.go LogDetails with description/type since 0.12)
OLD_OLLAMA = (
    'time=2025-03-01T10:00:00.000Z level=INFO source=types.go:130 msg="inference compute" id={i} library=rocm '
    'variant="" compute={g} driver=6.12 name=1002:{p} total="16.0 GiB" available="15.2 GiB"\n'
)
NEW_OLLAMA = (
    'time=2026-01-01T10:00:00.000Z level=INFO source=types.go:42 msg="inference compute" id={i} library=ROCm '
    'compute={g} name=ROCm{i} description="{d}" libdirs=ollama,rocm driver=60342.13 pci_id=0000:{b}:00.0 type={t} '
    'total="16.0 GiB" available="15.0 GiB"\n'
)
RUNNER_DIED = (
    'time=2026-01-01T10:01:00.000Z level=ERROR source=sched.go:457 msg="error loading llama server" '
    'error="llama runner process has terminated: signal: segmentation fault (core dumped)"\n'
)


@pytest.mark.parametrize(
    "listing",
    [
        OLD_OLLAMA.format(i=0, g="gfx1100", p="744c") + OLD_OLLAMA.format(i=1, g="gfx1103", p="15bf"),
        NEW_OLLAMA.format(i=0, g="gfx1201", d="AMD Radeon AI PRO R9700", b="03", t="discrete")
        + NEW_OLLAMA.format(i=1, g="gfx1036", d="AMD Radeon(TM) Graphics", b="7c", t="iGPU"),
    ],
)
def test_ollama_lists_igpu_beside_dgpu_and_the_runner_crashes(tmp_path: Path, listing: str) -> None:
    assert _causes(tmp_path, listing + RUNNER_DIED)[:1] == [IGPU]
    # the same listing with nothing failing, and one discrete GPU that crashed, stay clean
    assert IGPU not in _all(tmp_path, listing)
    one = NEW_OLLAMA.format(i=0, g="gfx1100", d="AMD Radeon RX 7900 XTX", b="03", t="discrete")
    assert IGPU not in _all(tmp_path, one + RUNNER_DIED)


UNSLOTH = "GGUF size: 4.7 GB, est. KV cache: 1.1 GB, context: 8192, GPUs free: {gpus}, selected: [1], fit: False\n"


def test_unsloth_several_rocm_devices_and_no_code_for_the_chosen_one(tmp_path: Path) -> None:
    text = (
        UNSLOTH.format(gpus="[(0, 15800), (1, 15990)]")
        + "ROCm error: device kernel image is invalid\n  current device: 0, in function ggml_cuda_kernel_launch\n"
    )
    assert _causes(tmp_path, text)[:1] == [IGPU]


@pytest.mark.parametrize(
    "text",
    [
        # a single discrete GPU, healthy or not
        "ggml_cuda_init: found 1 ROCm devices:\n  Device 0: AMD Radeon RX 7900 XTX, compute capability 11.0, VMM: no\n"
        "llama_model_load: loaded\n",
        "ggml_cuda_init: found 1 ROCm devices:\n  Device 0: AMD Radeon RX 7900 XTX, compute capability 11.0, VMM: no\n"
        "Segmentation fault (core dumped)\n",
        # an iGPU beside a dGPU and nothing failed
        OLD_LIST.format(igpu="780M") + "llama_new_context_with_model: n_ctx = 4096\nmain: server is listening\n",
        ROCMINFO.format(igpu="gfx1036") + "*** Done ***\n",
        # the iGPU alone (an APU laptop) that crashed: nothing beside it
        "  Device 0: AMD Radeon 780M, compute capability 11.0, VMM: no\nSegmentation fault (core dumped)\n",
        # rocminfo's ISA line is not an agent
        "  Name:                    gfx1100\n  Name:                    amdgcn-amd-amdhsa--gfx1036\nSegmentation fault\n",
        # NVIDIA ggml list with a CUDA error
        "  Device 0: NVIDIA GeForce RTX 4090, compute capability 8.9, VMM: yes\n"
        "  Device 1: NVIDIA GeForce RTX 3060, compute capability 8.6, VMM: yes\n" + GGML_ERR.format(msg="out of memory"),
        # Unsloth's line with NVIDIA GPUs, or one ROCm device
        UNSLOTH.format(gpus="[(0, 23000), (1, 23100)]") + "CUDA error: no kernel image is available for execution on the device\n",
        UNSLOTH.format(gpus="[(0, 15800)]") + "ROCm error: device kernel image is invalid\n",
        # the words without a gfx target or a crash
        "I have integrated graphics and an RX 7900 XTX; everything works.\n",
    ],
)
def test_igpu_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    # the family is named where both GPUs and a failure show, and only there
    assert IGPU in _causes(tmp_path, OLD_LIST.format(igpu="780M") + GGML_ERR.format(msg="out of memory"))
    assert IGPU not in _all(tmp_path, text)


# torch's THC forms of an invalid ordinal (torch <= 1.x: THCudaCheck, 'cuda runtime error (%d) : %s at %s:%d')
THC = (
    "THCudaCheck FAIL file=/opt/pytorch/torch/csrc/cuda/Module.cpp line=37 error=101 : invalid device ordinal\n"
    "RuntimeError: cuda runtime error (101) : invalid device ordinal at /opt/pytorch/torch/csrc/cuda/Module.cpp:37\n"
)


@pytest.mark.parametrize(
    "mig",
    [
        "The container gets three MIG GPU instances of an A100.\n",
        "We enabled MIG and gave the pod 2 MIG instances.\n",
        "  MIG 3g.20gb     Device  0: (UUID: MIG-4f1c2a3b-9d8e-5a6b-8c7d-1e2f3a4b5c6d)\n"
        "  MIG 3g.20gb     Device  1: (UUID: MIG-7a8b9c0d-1e2f-5a3b-9c4d-5e6f7a8b9c0d)\n",
        "CUDA_VISIBLE_DEVICES=MIG-GPU-5e3a1b2c-4d5e-6f70-8192-a3b4c5d6e7f8/1/0,MIG-GPU-5e3a1b2c-4d5e-6f70-8192-a3b4c5d6e7f8/2/0\n",
    ],
)
def test_mig_instances_and_an_invalid_ordinal(tmp_path: Path, mig: str) -> None:
    got = _causes(tmp_path, mig + THC)
    assert got[:1] == ["nvidia.mig-multi-instance"]
    assert "cuda.visible-devices-mismatch" not in got


def test_invalid_ordinal_without_mig_is_still_the_mask(tmp_path: Path) -> None:
    assert _causes(tmp_path, "We use two MIG instances.\n" + THC)[:1] == ["nvidia.mig-multi-instance"]
    got = _causes(tmp_path, "CUDA_VISIBLE_DEVICES=0\n" + THC)
    assert "nvidia.mig-multi-instance" not in got


@pytest.mark.parametrize(
    "text",
    [
        "In the QEMU guest, P2P between the two GeForce cards is reported as chipset not supported.\n",
        "nvidia-smi topo -p2p r shows Chipset not supported (CNS) for every GPU pair, so peer-to-peer is off.\n",
        "The driver says the chipset is not supported for peer access in the VM.\n",
    ],
)
def test_p2p_chipset_not_supported_in_words(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [("nccl.p2p-unsupported", "suggests")]


def test_topo_p2p_legend_alone_stays_clean(tmp_path: Path) -> None:
    text = (
        " \tGPU0\tGPU1\n GPU0\tX\tOK\n GPU1\tOK\tX\n\nLegend:\n\n  X    = Self\n  OK   = Status Ok\n"
        "  CNS  = Chipset not supported\n  GNS  = GPU not supported\n  TNS  = Topology not supported\n"
        "  NS   = Not supported\n  U    = Unknown\n"
    )
    assert "nccl.p2p-unsupported" not in _all(tmp_path, text)
    said = text + "So P2P is chipset not supported between the GPUs in this VM.\n"
    assert "nccl.p2p-unsupported" in _causes(tmp_path, said)


STORE = "torch.distributed.DistStoreError: Timed out after {s} seconds waiting for clients. {j}/{n} clients joined.\n"


@pytest.mark.parametrize(("s", "j", "n"), [(1801, 1, 3), (901, 1, 2), (300, 7, 8)])
def test_store_clients_never_joined_names_no_interface(tmp_path: Path, s: int, j: int, n: int) -> None:
    assert "network.wrong-interface" not in _causes(tmp_path, STORE.format(s=s, j=j, n=n))


def test_store_clients_never_joined_with_bootstrap_interface_keeps_it(tmp_path: Path) -> None:
    bare = STORE.format(s=1801, j=1, n=2)
    assert "network.wrong-interface" not in _causes(tmp_path, bare)
    text = "node1:33:33 [0] NCCL INFO Bootstrap : Using docker0:172.17.0.1<0>\n" + bare
    assert "network.wrong-interface" in _causes(tmp_path, text)


@pytest.mark.parametrize(
    "deco",
    ["@ray.remote", "@ray.remote(num_cpus=4)"],
)
def test_ray_task_without_num_gpus_sees_no_device(tmp_path: Path, deco: str) -> None:
    text = (
        f"{deco}\ndef compute_reward(batch):\n    ...\n"
        "Inside compute_reward, torch.cuda.device_count() returns 0 although the node has 8 GPUs.\n"
    )
    assert _causes(tmp_path, text)[:1] == ["ray.task-without-gpu"]


@pytest.mark.parametrize(
    "text",
    [
        "@ray.remote(num_gpus=1)\ndef f():\n    ...\ntorch.cuda.device_count() returns 0 inside f.\n",
        "torch.cuda.device_count() returns 0 in my script.\n",
        "@ray.remote\ndef f():\n    ...\ntorch.cuda.device_count() returns 4 inside f.\n",
    ],
)
def test_ray_device_count_neighbours(tmp_path: Path, text: str) -> None:
    named = "@ray.remote\ndef f():\n    ...\ntorch.cuda.device_count() returns 0 inside f.\n"
    assert "ray.task-without-gpu" in _causes(tmp_path, named)
    assert "ray.task-without-gpu" not in _all(tmp_path, text)


def test_one_gpu_that_stalls_is_not_p2p(tmp_path: Path) -> None:
    text = (
        "After about 12 hours ollama stops using the RTX3090 and gets stuck on the CPU.\n"
        "    environment:\n      - CUDA_VISIBLE_DEVICES=0\n"
    )
    assert "nccl.p2p-unsupported" not in _causes(tmp_path, text)
