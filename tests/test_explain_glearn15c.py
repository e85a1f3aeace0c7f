"""Heldout15 lessons (glearn15c): the families behind its missed container/host logs.

Every line is written from the upstream text its signature cites (not copied from the heldout15 logs): the linkers'
"cannot find -l" messages (GNU ld/gold, LLVM lld, mold) under Triton/Inductor's launcher build, a reload of systemd
on the host retold, vLLM's UnspecifiedPlatform in a Kubernetes pod or on Google Cloud, kubectl's custom-columns
"<none>" for a node without nvidia.com/gpu, NVLink between containers retold, an NVSwitch board (H20) whose nvidia-smi
works while the application finds no GPU, and a preflight script that cites Docker's error words as advice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

# torch/_inductor/exc.py InductorError wrapping subprocess.CalledProcessError of triton/runtime/build.py _build
INDUCTOR = (
    "torch._inductor.exc.InductorError: CalledProcessError: Command '['/usr/bin/gcc', '/tmp/tmpab12/main.c', '-O3', "
    "'-shared', '-fPIC', '-o', '/tmp/tmpab12/main.cpython-311-x86_64-linux-gnu.so', '-lcuda', "
    "'-L/usr/local/lib/python3.11/site-packages/triton/backends/nvidia/lib']' returned non-zero exit status 1.\n"
)
# nvidia-smi's header (the nvidia-smi-driver fact) and its GPU row
SMI = (
    "| NVIDIA-SMI 550.127.08             Driver Version: 550.127.08     CUDA Version: 12.4     |\n"
    "|   0  NVIDIA {gpu}                     On  | 00000000:3B:00.0 Off |                    0 |\n"
)
NO_PLATFORM = "INFO 06-02 11:20:31 [__init__.py:248] No platform detected, vLLM is running on UnspecifiedPlatform\n"
CUSTOM_COLUMNS = (
    "$ kubectl get nodes \"-o=custom-columns=NAME:.metadata.name,GPU:.status.allocatable.nvidia\\.com/gpu\"\n"
    "NAME            GPU\n"
    "{row}\n"
)


def _causes(tmp_path: Path, text: str) -> list[str]:
    return [c for c, _ in _findings(tmp_path, text)]


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # the linkers' "library not found" under Triton's launcher build (the terminal InductorError no longer hides it)
        ("/usr/bin/ld: cannot find -lcuda: No such file or directory\ncollect2: error: ld returned 1 exit status\n" + INDUCTOR,
         "nvidia.driver-libs-off-library-path"),
        ("/usr/bin/ld.gold: error: cannot find -lcuda\n" + INDUCTOR, "nvidia.driver-libs-off-library-path"),
        ("ld.lld: error: unable to find library -l:libcuda.so.1\n" + INDUCTOR, "nvidia.driver-libs-off-library-path"),
        ("mold: fatal: library not found: cuda\n", "nvidia.driver-libs-off-library-path"),
        # a systemd reload on the host retold
        ("3. Run `sudo systemctl daemon-reload` on the host.\n4. Run `nvidia-smi` in the container again.\n",
         "device.nvml-cgroup-lost"),
        ("After running systemctl daemon-reload the containers lose access to the GPUs.\n", "device.nvml-cgroup-lost"),
        ("nvidia-smi in the container fails with Unknown Error after a daemon-reload\n", "device.nvml-cgroup-lost"),
        # vLLM without a platform in a Kubernetes pod: the nvidia runtime class (its own id since gnew38)
        ("$ kubectl logs vllm-decode-7d9f -n llm\n" + NO_PLATFORM, "k8s.nvidia-runtime-class-missing"),
        ("$ kubectl logs vllm-0\nAttributeError: 'UnspecifiedPlatform' object has no attribute 'get_device_capability'\n",
         "k8s.nvidia-runtime-class-missing"),
        # ... and on Google Cloud: the driver directory off the loader path
        ("Deployed vllm/vllm-openai:v0.9.0 on a GCP L4 instance.\n" + NO_PLATFORM, "nvidia.driver-libs-off-library-path"),
        ("On GKE the logs say the platform is \"UnspecifiedPlatform\" and the server exits.\n",
         "nvidia.driver-libs-off-library-path"),
        # a node without the extended resource at all
        (CUSTOM_COLUMNS.format(row="gpu-node-1      <none>"), "k8s.gpu-resource-unavailable"),
        (CUSTOM_COLUMNS.format(row="> minikube   \\<none\\>"), "k8s.gpu-resource-unavailable"),
        # NVLink between containers retold
        ("Can two jobs use NVLink P2P among different containers on the same host?\n", "topology.ranks-split-across-containers"),
        ("The ranks run in two containers and cannot use NVLink, traffic goes over PCIe.\n",
         "topology.ranks-split-across-containers"),
        # an NVSwitch board whose driver works, and the application finds no GPU
        (SMI.format(gpu="H20") + "Deploying the model keeps failing: GPU device not found\n", "nvidia.fabric-manager-not-running"),
        (SMI.format(gpu="H100 80GB HBM3") + "部署模型一直报错，提示GPU设备找不到\n", "nvidia.fabric-manager-not-running"),
    ],
)
def test_family_is_named(tmp_path: Path, text: str, cause: str) -> None:
    causes = _causes(tmp_path, text)
    assert causes and causes[0] == cause, causes


@pytest.mark.parametrize(
    "text",
    [
        # install steps, not a reload that lost the GPUs
        "sudo nvidia-ctk runtime configure --runtime=docker\nsudo systemctl daemon-reload\nsudo systemctl restart docker\n",
        # a platform found
        "INFO 06-02 11:20:31 [__init__.py:239] Automatically detected platform cuda.\n$ kubectl get pods\n",
        # a node that advertises its GPUs; a pod listing with <none> columns
        CUSTOM_COLUMNS.format(row="gpu-node-1      8"),
        "NAME      READY   STATUS    RESTARTS   AGE   IP           NODE     NOMINATED NODE   READINESS GATES\n"
        "vllm-0    1/1     Running   0          5m    10.1.0.12    node-1   <none>           <none>\n",
        # NVLink inside one container, healthy
        "NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM\nNVLink works between GPU 0 and GPU 1 in the container.\n",
        # an H20 whose nvidia-smi works and nothing fails; a PCIe card that finds no GPU is not Fabric Manager
        SMI.format(gpu="H20"),
        # Triton's launcher build failing for another reason (Python headers) stays clean of the driver path
        "/tmp/tmpab12/main.c:5:10: fatal error: Python.h: No such file or directory\n" + INDUCTOR,
        # a preflight script citing Docker's error words as advice (noonghunna/club-3090 scripts/launch.sh style)
        "[preflight] WARN:  Docker doesn't list the 'nvidia' runtime. If 'docker compose up' fails\n"
        "                   with 'unknown runtime' or 'could not select device driver', install:\n"
        "                   https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/\n",
    ],
)
def test_neighbour_stays_clean(tmp_path: Path, text: str) -> None:
    causes = _causes(tmp_path, text)
    assert "nvidia.driver-libs-off-library-path" not in causes
    assert "device.nvml-cgroup-lost" not in causes
    assert "k8s.gpu-resource-unavailable" not in causes
    assert "topology.ranks-split-across-containers" not in causes
    assert "nvidia.fabric-manager-not-running" not in causes
    assert "runtime.nvidia-toolkit-missing" not in causes


def test_pcie_gpu_not_found_is_not_fabric_manager(tmp_path: Path) -> None:
    text = SMI.format(gpu="GeForce RTX 4090") + "Deploying the model keeps failing: GPU device not found\n"
    assert "nvidia.fabric-manager-not-running" not in _causes(tmp_path, text)


def test_gke_no_platform_is_not_runtime_class(tmp_path: Path) -> None:
    text = "$ kubectl logs vllm-0\nnode gke-prod-l4-pool-1a2b3c4d-x9zq\n" + NO_PLATFORM
    causes = _causes(tmp_path, text)
    assert causes[0] == "nvidia.driver-libs-off-library-path", causes
    assert "runtime.nvidia-toolkit-missing" not in causes


def test_ld_library_path_holding_the_driver_dir_drops_the_gcp_reading(tmp_path: Path) -> None:
    text = "GCP L4 VM\nLD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/cuda/lib64\n" + NO_PLATFORM
    assert "nvidia.driver-libs-off-library-path" not in _causes(tmp_path, text)


def test_retold_docker_error_still_counts(tmp_path: Path) -> None:
    # the cited-as-advice rule leaves a user's own report of the message alone
    text = "I get 'could not select device driver' when I start the container with --gpus all\n"
    assert _causes(tmp_path, text)[:1] == ["runtime.nvidia-toolkit-missing"]
