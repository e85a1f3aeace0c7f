"""Issue 13, heldout22 lessons (glearn22b): Intel XPU device discovery, Kubernetes GPU scheduling, EFA in containers.

Lines are written from the code and docs that print them (not copied from the heldout22 logs): DPC++'s architecture
query for a GPU newer than its table (intel/llvm device_info.hpp, "The current device architecture is not supported by
sycl_ext_oneapi_device_architecture."); IPEX 1.x's "Number of dpcpp devices should be greater than zero!", which IPEX's
known issues explain without any container (conda's libstdc++); SYCL's "No device of requested type available" raised
in vLLM's model-inspection subprocess (registry.py _run_in_subprocess), where the parent had already found the GPU;
libfabric's fi_info "fi_getinfo: -61" for the efa / verbs provider (util/info.c, both printf forms), which is the RDMA
device missing from the container, not oneCCL's FI_PROVIDER_PATH; the scheduler's and cluster-autoscaler's
"Insufficient nvidia.com/gpu" pasted through GitHub markdown, which renders the resource name as a link.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

SYCL_ABORT = "terminate called after throwing an instance of 'sycl::_V1::exception'\n"
NO_DEVICE = (
    "  what():  No device of requested type available. Please check https://software.intel.com/content/www/us/en/"
    "develop/articles/intel-oneapi-dpcpp-system-requirements.html -1 (PI_ERROR_DEVICE_NOT_FOUND)\n"
)


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # DPC++ get_device_info_impl<architecture>: the Level Zero / OpenCL GPU's IP version is not in libsycl's table
        (SYCL_ABORT + "  what():  The current device architecture is not supported by "
         "sycl_ext_oneapi_device_architecture.\nAborted (core dumped)\n", "xpu.runtime-too-old-for-gpu", "suggests"),
        ("RuntimeError: The current device architecture is not supported by sycl_ext_oneapi_device_architecture.\n",
         "xpu.runtime-too-old-for-gpu", "suggests"),
        # IPEX 1.x's pool check inside a container: the render node stays the first guess there
        ("docker run --rm intel/intel-extension-for-pytorch:xpu python3 train.py\n"
         "RuntimeError: Number of dpcpp devices should be greater than zero!\n", "device.render-node-missing", "suggests"),
        # fi_info asked for efa / verbs and libfabric answered ENODATA: util/info.c "fi_getinfo: %d (%s)" and the
        # older "fi_getinfo: %d"
        ("$ fi_info -p efa\nfi_getinfo: -61 (No data available)\n", "rdma.ib-device-missing", "suggests"),
        ("root@c0ffee:/workspace# fi_info --provider=efa\nfi_getinfo: -61\n", "rdma.ib-device-missing", "suggests"),
        ("FI_PROVIDER=verbs\nfi_getinfo: -61 (No data available)\n", "rdma.ib-device-missing", "suggests"),
        ("export FI_EFA_USE_DEVICE_RDMA=1\nfi_getinfo: -61 (No data available)\n", "rdma.ib-device-missing", "suggests"),
        # the scheduler's / autoscaler's reason with the resource rendered as a markdown link
        ("Normal  NotTriggerScaleUp  2m  cluster-autoscaler  pod didn't trigger scale-up: 2 node(s) had untolerated "
         "taint(s), 1 Insufficient [nvidia.com/gpu](http://nvidia.com/gpu), 1 max node group size reached\n",
         "k8s.gpu-resource-unavailable", "suggests"),
        ("Warning  FailedScheduling  default-scheduler  0/4 nodes are available: 4 Insufficient "
         "[amd.com/gpu](https://amd.com/gpu).\n", "k8s.gpu-resource-unavailable", "suggests"),
        ("0/2 nodes are available: 2 insufficient [gpu.intel.com/i915](http://gpu.intel.com/i915).\n",
         "k8s.gpu-resource-unavailable", "suggests"),
    ],
)
def test_a_heldout22b_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


def test_ipex_dpcpp_zero_without_a_container_names_no_cause(tmp_path: Path) -> None:
    # IPEX known issues: conda's libstdc++.so shadows the OS one; oneAPI 2023.x on Ubuntu 22.04; no container at all
    text = "RuntimeError: Number of dpcpp devices should be greater than zero!\n"
    assert _causes(tmp_path, text) == []
    assert any("libstdc++" in n for n in _notes(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        # the subprocess's stderr, then its exit (registry.py _run_in_subprocess: check_returncode)
        ("RuntimeError: Error raised in subprocess:\n" + SYCL_ABORT + NO_DEVICE
         + "subprocess.CalledProcessError: Command '['/usr/bin/python3', '-m', "
         "'vllm.model_executor.models.registry']' died with <Signals.SIGABRT: 6>.\n"),
        # the same, ended by inspect_model_cls' ValueError
        (SYCL_ABORT + NO_DEVICE + "ValueError: Model architectures ['Qwen2ForCausalLM'] failed to be inspected. "
         "Please check the logs for more details.\n"),
    ],
)
def test_sycl_no_device_in_vllm_model_inspection_is_not_a_missing_node(tmp_path: Path, text: str) -> None:
    found = _causes(tmp_path, text)
    for cause in ("device.render-node-missing", "device.group-denied", "xpu.visible-devices-mismatch"):
        assert cause not in found, found
    assert any("model-inspection subprocess" in n for n in _notes(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # other failures of the same extension: a backend it does not cover, the matrix extension's own table
        ("sycl_ext_oneapi_device_architecture feature is not supported on accelerator device with "
         "sycl::backend::opencl backend.\n", "xpu.runtime-too-old-for-gpu"),
        ("The current device architecture is not supported by sycl_ext_oneapi_matrix.\n", "xpu.runtime-too-old-for-gpu"),
        # a provider named, nothing failed
        ("FI_PROVIDER=efa\nNCCL INFO NET/OFI Selected Provider is efa (found 4 nics)\n", "rdma.ib-device-missing"),
        # a non-RDMA provider's ENODATA is not a missing RDMA device
        ("$ fi_info -p tcp\nfi_getinfo: -61 (No data available)\n", "rdma.ib-device-missing"),
        ("FI_PROVIDER=psm3\nfi_getinfo: -61 (No data available)\n", "rdma.ib-device-missing"),
        # an autolinked resource that is not short, and other resources short
        ("1 Insufficient memory, 2 Insufficient cpu, 1 max node group size reached\n", "k8s.gpu-resource-unavailable"),
        # the model inspection failed for its own reason, no device line
        ("ValueError: Model architectures ['LlamaForCausalLM'] failed to be inspected. Please check the logs for more "
         "details.\n", "device.render-node-missing"),
    ],
)
def test_a_heldout22b_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _causes(tmp_path, text)


def test_a_non_rdma_provider_enodata_still_names_the_provider(tmp_path: Path) -> None:
    found = _causes(tmp_path, "$ fi_info -p tcp\nfi_getinfo: -61 (No data available)\n")
    assert found[:1] == ["oneccl.ofi-provider-missing"], found


def test_sycl_no_device_outside_model_inspection_still_names_the_node(tmp_path: Path) -> None:
    text = "docker run --rm intel/llm-scaler-vllm:latest vllm serve Qwen/Qwen3-8B\n" + SYCL_ABORT + NO_DEVICE
    found = _findings(tmp_path, text)
    assert found and found[0][0] == "device.render-node-missing", found


def test_autolinked_insufficient_then_scheduled_is_a_wait(tmp_path: Path) -> None:
    text = ("Warning  FailedScheduling  5m  default-scheduler  0/3 nodes are available: 3 Insufficient "
            "[nvidia.com/gpu](http://nvidia.com/gpu).\n"
            "Normal   Scheduled  1m  default-scheduler  Successfully assigned default/trainer-0 to gpu-node-2\n")
    assert "k8s.gpu-resource-unavailable" not in _causes(tmp_path, text)


SCALE_UP_FAILED = (
    "Warning  FailedScaleUp  3m  cluster-autoscaler  Node scale up in zones us-central1-a associated with this pod "
    "failed: {reason}. Pod is at risk of not being scheduled.\n"
)


@pytest.mark.parametrize(
    "text",
    [
        # GKE's cluster-autoscaler (zonalErrorMessageTemplate) for a pod that asks for GPUs
        "Limits:\n  nvidia.com/gpu:  4\nEvents:\n" + SCALE_UP_FAILED.format(reason="GCE out of resources"),
        "    resources:\n      limits:\n        nvidia.com/gpu: 1\n" + SCALE_UP_FAILED.format(reason="GCE quota exceeded"),
        "  nodeSelector:\n    cloud.google.com/gke-accelerator: nvidia-l4\n"
        + SCALE_UP_FAILED.format(reason="GCE out of resources"),
    ],
)
def test_the_cloud_refusing_a_gpu_scale_up_is_named(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("k8s.gpu-resource-unavailable", "suggests"), found


def test_the_cloud_refusing_a_scale_up_without_a_gpu_request_is_a_note(tmp_path: Path) -> None:
    # a CPU pod hits the same event for the vCPU quota
    text = "Limits:\n  cpu:  4\n  memory:  16Gi\n" + SCALE_UP_FAILED.format(reason="GCE quota exceeded")
    assert _causes(tmp_path, text) == []
    assert any("cluster capacity" in n for n in _notes(tmp_path, text))


# glibc elf/dl-version.c: "version `%s' not found (required by %s)", after the library dlopen failed on
LIBSTDCXX = (
    "/usr/lib/x86_64-linux-gnu/{lib}: /opt/conda/envs/xpu/lib/libstdc++.so.6: version `GLIBCXX_3.4.{n}' not found "
    "(required by /usr/lib/x86_64-linux-gnu/{lib})\n"
)


@pytest.mark.parametrize(
    "text",
    [
        LIBSTDCXX.format(lib="libze_intel_gpu.so.1", n=30) + "RuntimeError: No XPU devices are available.\n",
        LIBSTDCXX.format(lib="libigdrcl.so", n=32) + SYCL_ABORT + NO_DEVICE,
        "docker run --device /dev/dri/renderD128 ipex:xpu python3 t.py\n"
        + LIBSTDCXX.format(lib="libigc.so.1", n=31) + "RuntimeError: Number of dpcpp devices should be greater than zero!\n",
    ],
)
def test_a_no_device_line_explained_by_an_older_libstdcxx_is_not_a_missing_node(tmp_path: Path, text: str) -> None:
    found = _causes(tmp_path, text)
    for cause in ("device.render-node-missing", "device.group-denied", "xpu.visible-devices-mismatch"):
        assert cause not in found, found
    assert any("libstdc++" in n for n in _notes(tmp_path, text))


def test_an_older_libstdcxx_of_an_unrelated_library_does_not_clear_the_node(tmp_path: Path) -> None:
    text = ("docker run intel/oneapi-basekit python x.py\n"
            + LIBSTDCXX.format(lib="libicuuc.so.72", n=30)
            + "No device of requested type 'info::device_type::gpu' available.\n")
    found = _findings(tmp_path, text)
    assert found and found[0][0] == "device.render-node-missing", found
