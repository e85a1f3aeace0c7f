"""Issue 13, heldout19 lessons (glearn19a).

Lines are written from the code that prints them (not copied from the heldout19 logs):
- Ray's autoscaler infeasible-demand event (python/ray/autoscaler/_private/autoscaler.py "Error: No available node
  types can fulfill resource request {}. Add suitable node types ...", v2 event_logger.py "... resource requests
  {..}*N" / "... placement group requests (detail=..)"): a scheduling/config outcome (node types that do not declare
  the resource, a node:<ip> nobody registered), a container cause only with a line that shows no GPU;
- vLLM's ray_utils.initialize_ray_cluster "Current node has no GPU available. current_node_resource=..." reads Ray's
  *available* resources: GPUs held by placement groups or by the Ray task the engine runs in read as none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import notes as _notes

ADD = ". Add suitable node types to this cluster to resolve this issue."


@pytest.mark.parametrize(
    "line",
    [
        "(autoscaler +9s) Error: No available node types can fulfill resource request {'CPU': 8.0, 'GPU': 1.0, 'accelerator_type_l4': 0.01}" + ADD,
        "Error: No available node types can fulfill resource request defaultdict(<class 'float'>, {'GPU': 4.0})" + ADD,
        "(autoscaler +31s) No available node types can fulfill resource requests {'CPU': 1.0, 'GPU': 1.0}*8" + ADD,
        "No available node types can fulfill placement group requests (detail=pg 9a1f): {'GPU': 2.0}*1" + ADD,
    ],
)
def test_autoscaler_infeasible_alone_is_a_note(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == []
    assert any("autoscaler found no node type" in n for n in _notes(tmp_path, line + "\n"))


def test_autoscaler_infeasible_for_a_node_ip_bundle_suggests_the_ip_vllm_detected(tmp_path: Path) -> None:
    # a node:<ip> bundle nobody registered is vLLM pinning the driver's get_ip() (heldout34, glearn34b): the address
    # Ray uses differs, network.wrong-interface (suggests); the other infeasible requests above stay notes
    line = "(autoscaler +7s) Error: No available node types can fulfill resource request {'node:10.2.0.7': 0.001, 'GPU': 1.0}" + ADD
    assert _causes(tmp_path, line + "\n") == ["network.wrong-interface"]


def test_autoscaler_infeasible_with_no_gpu_in_the_container_still_names_it(tmp_path: Path) -> None:
    text = (
        "Error: No available node types can fulfill resource request {'GPU': 1.0}" + ADD + "\n"
        "RuntimeError: No CUDA GPUs are available\n"
    )
    assert _causes(tmp_path, text)


NO_GPU = (
    "ValueError: Current node has no GPU available. current_node_resource={res}. vLLM engine cannot start without GPU. "
    "Make sure you have at least 1 GPU available in a node current_node_id='9f2c' current_ip='10.0.0.4'."
)


@pytest.mark.parametrize(
    "text",
    [
        # Ray detected GPUs on the node (accelerator_type) and placement groups hold them
        NO_GPU.format(res="{'accelerator_type:A10G': 1.0, 'CPU': 12.0, 'GPU_group_0_7c1e': 0.5, 'node:10.0.0.4': 1.0}"),
        NO_GPU.format(res="{'CPU': 30.0, 'GPU': 0.3, 'node:10.0.0.4': 1.0, 'bundle_group_7c1e': 999.999}"),
        # the engine runs inside the program's own Ray task
        "(evaluate_shard pid=90211) " + NO_GPU.format(res="{'CPU': 64.0, 'node:10.0.0.4': 1.0}"),
        "ray.exceptions.RayTaskError(ValueError): ray::run_replica() (pid=77, ip=10.0.0.4) "
        + NO_GPU.format(res="{'CPU': 64.0}"),
        # the RayTaskError text with the traceback between the task line and the error
        "ray.exceptions.RayTaskError(ValueError): ray::run_replica() (pid=77, ip=10.0.0.4)\n"
        '  File "/usr/lib/python3/site-packages/vllm/executor/ray_utils.py", line 368, in initialize_ray_cluster\n'
        "    raise ValueError(\n" + NO_GPU.format(res="{'CPU': 64.0}"),
        # data-parallel replicas claim the node's GPUs
        "python run.py --data-parallel-size 4 --tensor-parallel-size 2 --distributed-executor-backend ray\n"
        + NO_GPU.format(res="{'CPU': 96.0, 'node:10.0.0.4': 1.0}"),
    ],
)
def test_current_node_no_gpu_with_gpus_held_is_not_a_container_cause(tmp_path: Path, text: str) -> None:
    assert "vllm.tp-exceeds-visible-gpus" not in _causes(tmp_path, text + "\n")
    assert "device.nvidia-node-missing" not in _causes(tmp_path, text + "\n")


@pytest.mark.parametrize(
    "text",
    [
        NO_GPU.format(res="{'CPU': 8.0, 'node:172.17.0.2': 1.0, 'memory': 2147483648.0}"),
        # vLLM's own engine process under Ray is not the user's task
        "(EngineCore_DP0 pid=311) " + NO_GPU.format(res="{'CPU': 16.0, 'node:172.17.0.2': 1.0}"),
    ],
)
def test_current_node_no_gpu_alone_still_suggests_the_count(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text + "\n")[:1] == ["vllm.tp-exceeds-visible-gpus"]


def test_healthy_ray_autoscaler_lines_stay_clean(tmp_path: Path) -> None:
    text = (
        "(autoscaler +7s) Tip: use `ray status` to view detailed cluster status. To disable these messages, set RAY_SCHEDULER_EVENTS=0.\n"
        "(autoscaler +7s) Adding 2 node(s) of type gpu-group.\n"
        "(autoscaler +7s) Resized to 64 CPUs, 8 GPUs.\n"
        "INFO 05-02 10:11:12 config.py:1021 Defaulting to use ray for distributed inference, data_parallel_size=1\n"
    )
    assert _causes(tmp_path, text) == []


# --- the CUDA mask narrowing the GPUs the container was given (ollama docs/gpu.md "GPU Selection") ---
ENV = "NVIDIA_VISIBLE_DEVICES=all\nNVIDIA_DRIVER_CAPABILITIES=compute,utility\nCUDA_VISIBLE_DEVICES={mask}\nOLLAMA_HOST=0.0.0.0\n"


@pytest.mark.parametrize(
    "words",
    [
        "We have 8 GPUs but ollama only detects one of them.",
        "the box has 4 RTX 3090 GPUs, but only 1 is visible to the server",
        "There are 6 gpus and only a single one gets used.",
    ],
)
def test_one_gpu_found_with_single_index_mask_is_the_mask(tmp_path: Path, words: str) -> None:
    text = words + "\n" + ENV.format(mask="5") + "ggml_cuda_init: found 1 CUDA devices:\n"
    assert _causes(tmp_path, text)[:1] == ["cuda.visible-devices-mismatch"]


@pytest.mark.parametrize(
    "text",
    [
        # the mask lists them all: it is not why only one is found
        "We have 4 GPUs but ollama only detects one.\n" + ENV.format(mask="0,1,2,3"),
        # a single-index mask and no complaint: a deliberate choice
        ENV.format(mask="2") + "ggml_cuda_init: found 1 CUDA devices:\n",
        # the complaint without any mask
        "I have 2 GPUs but it only finds 1\nNVIDIA_VISIBLE_DEVICES=all\n",
    ],
)
def test_one_gpu_found_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "cuda.visible-devices-mismatch" not in _causes(tmp_path, text)


# --- GKE: the driver mounted at /usr/local/nvidia by the device plugin, off the loader path ---
LIBCUDA = "engine: error while loading shared libraries: libcuda.so.1: cannot open shared object file: No such file or directory\n"


@pytest.mark.parametrize(
    "where",
    [
        "Deployed on GKE with an L4 node pool.\n",
        "The pod runs in a GKE Autopilot cluster.\n",
        "nodes: Container-Optimized OS with containerd (cos_containerd)\n",
    ],
)
def test_gke_named_libcuda_missing_is_library_path(tmp_path: Path, where: str) -> None:
    assert _causes(tmp_path, where + LIBCUDA)[:1] == ["nvidia.driver-libs-off-library-path"]
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, where + LIBCUDA)


def test_gke_named_nvml_missing_is_library_path(tmp_path: Path) -> None:
    text = "Running on GKE cluster gpu-pool\npynvml.NVMLError_LibraryNotFound: NVML Shared Library Not Found\n"
    assert "nvidia.driver-libs-off-library-path" in _causes(tmp_path, text)


def test_libcuda_missing_without_gke_is_not_library_path(tmp_path: Path) -> None:
    assert "nvidia.driver-libs-off-library-path" not in _causes(tmp_path, "docker run --rm myimage\n" + LIBCUDA)


def test_gke_with_the_driver_dir_on_the_path_is_not_library_path(tmp_path: Path) -> None:
    text = "on GKE\nLD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib\n" + LIBCUDA
    assert "nvidia.driver-libs-off-library-path" not in _causes(tmp_path, text)
