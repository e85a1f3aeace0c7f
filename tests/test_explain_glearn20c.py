"""Issue 13, heldout20 lessons (glearn20c): drivers, devices and the environment.

Lines are written from the code that prints them (not copied from the heldout20 logs): CUDA error 222's string after a
prefix that names no CUDA (Triton server's model repository, a backend), a Rust tool's io::Error on a DRM node in its
Display and Debug forms (amdgpu_top v0.9.0 unwrap and v0.9.1+ get_fd), CUDAdrv.jl's build.jl finding no libcuda or
only the stub in a Pkg build (and the later CUDAapi wording outside a build), XLA-ROCm's device-memory query failing
with InvalidValue, and NCCL_/CUDA_ variables misspelt in the command that starts the process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

_AMDGPU_TOP_NEW = (
    "Permission denied (os error 13)\n"
    "DevicePath {\n"
    '    render: "/dev/dri/renderD129",\n'
    '    card: "/dev/dri/card2",\n'
    '    pci: "0000:c3:00.0",\n'
    "}\n"
    "thread 'main' panicked at crates/libamdgpu_top/src/device_path.rs:71:21:\n"
    "explicit panic\n"
)
_AMDGPU_TOP_090 = (
    '#0 DevicePath { render: "/dev/dri/renderD130", card: "/dev/dri/card0", pci: "0000:0a:00.0" }\n'
    "thread 'main' panicked at src/dump_info.rs:122:41:\n"
    "called `Result::unwrap()` on an `Err` value: Permission denied (os error 13)\n"
)
_RUST_DEBUG_FORM = (
    "opening /dev/dri/renderD128\n"
    "thread 'main' panicked at src/main.rs:40:10:\n"
    'called `Result::unwrap()` on an `Err` value: Os { code: 13, kind: PermissionDenied, message: "Permission denied" }\n'
)
_CUDADRV_STUBS = (
    "┌ Error: Error building `CUDAdrv`: \n"
    "│ ERROR: LoadError: Building against CUDA driver stubs, which is not supported.\n"
    "│ in expression starting at /root/.julia/packages/CUDAdrv/Xy12Z/deps/build.jl:111\n"
)
_CUDADRV_NO_LIB = (
    "  Building CUDAdrv → `~/.julia/packages/CUDAdrv/Ab3Cd/deps/build.log`\n"
    "┌ Error: Error building `CUDAdrv`: \n"
    "│ ERROR: LoadError: Could not find CUDA driver library\n"
    "│  [2] main() at /opt/julia/packages/CUDAdrv/Ab3Cd/deps/build.jl:78\n"
)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # CUDA error 222's string after a prefix that names no CUDA
        ("E0412 08:10:11.123456 1 model_repository_manager.cc:1186] failed to load 'bert' version 3: Internal: "
         "unable to create stream: the provided PTX was compiled with an unsupported toolchain.\n",
         "cuda.driver-too-old"),
        ("E0412 08:10:11.123456 1 backend_model.cc:303] failed to load model 'yolo': the provided PTX was compiled "
         "with an unsupported toolchain.\n", "cuda.driver-too-old"),
        ("The provided PTX was compiled with an unsupported toolchain.\n", "cuda.driver-too-old"),
        # a Rust tool's EACCES on the DRM node, in each form amdgpu_top prints it
        (_AMDGPU_TOP_NEW, "device.group-denied"),
        (_AMDGPU_TOP_090, "device.group-denied"),
        (_RUST_DEBUG_FORM, "device.group-denied"),
        # CUDAdrv.jl's build step without a driver library: the stub, none at all
        (_CUDADRV_STUBS, "runtime.build-without-gpu"),
        (_CUDADRV_NO_LIB, "runtime.build-without-gpu"),
        # the later wording, in a docker build step
        ("Step 6/11 : RUN julia -e 'using Pkg; Pkg.add(\"CUDAdrv\"); using CUDAdrv'\n"
         "ERROR: LoadError: Could not find the CUDA driver library (specify the path to libcuda using the "
         "CUDA_DRIVER environment variable).\n", "runtime.build-without-gpu"),
        # ... and in a container that was started without the NVIDIA runtime
        ("ERROR: LoadError: Could not find the CUDA driver library (specify the path to libcuda using the "
         "CUDA_DRIVER environment variable).\n", "runtime.nvidia-toolkit-missing"),
        # XLA-ROCm's memory query refused: HIP's two spellings of InvalidValue
        ("2024-03-02 11:12:13.141516: E tensorflow/compiler/xla/stream_executor/rocm/rocm_driver.cc:1290] failed to "
         "query device memory info: HIP_ERROR_InvalidValue\n", "rocm.driver-too-old"),
        ("E0000 00:00:1712345678.901234 4711 rocm_context.cc:112] failed to query device memory info: "
         "hipErrorInvalidValue\n", "rocm.driver-too-old"),
    ],
)
def test_a_heldout20c_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "typo", "real"),
    [
        # docker run -e, --env=, export, a Dockerfile ENV, compose and Kubernetes env entries
        ("$ docker run --gpus all -e NCCL_DEBUG=INFO -e NCCL_P2P_DISBALE=1 vllm/vllm-openai:latest\n",
         "NCCL_P2P_DISBALE", "NCCL_P2P_DISABLE"),
        ("podman run --device nvidia.com/gpu=all --env=NCCL_SOCKET_IFNAM=eth0 img\n",
         "NCCL_SOCKET_IFNAM", "NCCL_SOCKET_IFNAME"),
        ("export NCCL_IB_DISALBE=1\n", "NCCL_IB_DISALBE", "NCCL_IB_DISABLE"),
        ("ENV NCCL_P2PDISABLE=1\n", "NCCL_P2PDISABLE", "NCCL_P2P_DISABLE"),
        ("    environment:\n      - CUDA_VISIBLE_DEVICE=0,1\n", "CUDA_VISIBLE_DEVICE", "CUDA_VISIBLE_DEVICES"),
        ("        env:\n        - name: NCCL_SOCKET_IF_NAME\n          value: eth0\n",
         "NCCL_SOCKET_IF_NAME", "NCCL_SOCKET_IFNAME"),
        ("docker run --rm -e CUDA_DEVICE_ODER=PCI_BUS_ID img\n", "CUDA_DEVICE_ODER", "CUDA_DEVICE_ORDER"),
    ],
)
def test_a_misspelt_variable_in_the_command_is_named(tmp_path: Path, text: str, typo: str, real: str) -> None:
    assert findings(tmp_path, text)[:1] == [("env.unknown-variable", "suggests")]
    from tpdoctor.explain import explain

    log = tmp_path / "m.log"
    log.write_text(text, encoding="utf-8")
    messages = " ".join(f.message for f in explain([str(log)]).findings)
    assert typo in messages and real in messages, messages


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # ptxas refusing a newer PTX is the image's own toolkit, not the host driver
        ("ptxas fatal   : Unsupported .version 7.8; current version is '7.4'\n", "cuda.driver-too-old"),
        ("PTX JIT compiler library not found\n", "cuda.driver-too-old"),
        # a Rust EACCES with no GPU node near it
        ("   Compiling serde v1.0.193\n"
         "error: failed to write /usr/local/cargo/registry/cache: Permission denied (os error 13)\n",
         "device.group-denied"),
        ("Error: Permission denied (os error 13)\n", "device.group-denied"),
        # a driver library that was found
        ("CUDA driver library: /usr/lib/x86_64-linux-gnu/libcuda.so.1\n", "runtime.build-without-gpu"),
        ("CUDA driver library: /usr/lib/x86_64-linux-gnu/libcuda.so.1\n", "runtime.nvidia-toolkit-missing"),
        # the CUDA side of the same query, and a HIP InvalidValue elsewhere
        ("E tensorflow/stream_executor/cuda/cuda_driver.cc:1001] failed to query device memory info: "
         "CUDA_ERROR_INVALID_VALUE\n", "rocm.driver-too-old"),
        ("hipMemcpy failed: hipErrorInvalidValue\n", "rocm.driver-too-old"),
        # real names, NCCL's own echo, names said in prose, and vLLM names (vLLM warns about those itself)
        ("docker run --gpus all -e NCCL_SHM_DISABLE=1 -e NCCL_P2P_DISABLE=1 -e NCCL_IB_QPS_PER_CONNECTION=4 img\n",
         "env.unknown-variable"),
        ("export NCCL_GIN_ENABLE=1\nexport NCCL_NVLS_ENABLE=0\nexport CUDA_DEVICE_MAX_CONNECTIONS=1\n",
         "env.unknown-variable"),
        ("host:1:1 [0] NCCL INFO NCCL_SOCKET_IFNAME set by environment to eth0\n", "env.unknown-variable"),
        ("The variable NCCL_SHM_DISBLAE does not exist; the right name is NCCL_SHM_DISABLE.\n", "env.unknown-variable"),
        ("export NCCL_TESTS_SPLIT_MASK=0x7\nexport CUDA_DEVICE=0\nexport NCCL_FOO=1\n", "env.unknown-variable"),
        ("docker run -e VLLM_USE_V2=1 img\n", "env.unknown-variable"),
    ],
)
def test_a_heldout20c_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in causes(tmp_path, text), notes(tmp_path, text)


def test_the_evidence_of_a_misspelt_variable_is_its_own_line(tmp_path: Path) -> None:
    # the first quoted assignment is spelt right; the typo is on line 3, and the evidence must say so
    from tpdoctor.explain import explain

    log = tmp_path / "typo.log"
    log.write_text(
        "docker run -e NCCL_DEBUG=INFO --gpus all img\n"
        "starting\n"
        "docker run -e NCCL_P2P_DISBALE=1 --gpus all img\n",
        encoding="utf-8",
    )
    found = [f for f in explain([str(log)]).findings if f.cause == "env.unknown-variable"]
    assert found, "the misspelt NCCL_P2P_DISBALE is not named"
    assert [e.line for e in found[0].evidence] == [3], found[0].evidence


def test_amdgpu_top_eacces_on_debugfs_is_not_the_render_group(tmp_path: Path) -> None:
    # root-only debugfs files (amdgpu_top's GPU-recover / PM info), not a DRM node: no group would let a user in
    text = (
        "amdgpu_top v0.9.0\n"
        "thread 'main' panicked at src/app.rs:88:14:\n"
        "called `Result::unwrap()` on an `Err` value: Permission denied (os error 13) "
        "/sys/kernel/debug/dri/0/amdgpu_pm_info\n"
    )
    assert "device.group-denied" not in causes(tmp_path, text)
