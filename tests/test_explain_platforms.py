"""Issue 13, gecoa: platforms, schedulers and orchestrators around GPUs, in their own words.

Each text below is written from the format string that prints it (cited per case), wrapped the way the tool
shows it (kubectl events, `nomad job status`, hclog, klog, slurmd, pct). Sources:
- Nomad: hashicorp/nomad scheduler/feasible/feasible.go FilterConstraintDevices "missing devices", rank.go
  "devices: %s", device.go "no devices available" / "no devices match request", command/monitor.go
  formatAllocMetrics ('* Constraint "%s": %d nodes excluded by filter', '* Dimension "%s" exhausted on %d nodes');
  drivers/docker/driver.go "requested docker runtime %q was not found".
- nomad-device-nvidia device.go "unable to initialize Nvidia driver" reason=..., fingerprint.go "exiting
  fingerprinting due to problems with NVML loading", nvml/driver_linux.go decode("failed to initialize", code).
- HAMi pkg/scheduler/scheduler.go "no available node, %d nodes do not meet" (v2.4: "... all node scores do not
  meet"), score.go recordFilteringFailures "%d nodes %s(%s)", pkg/device/common GenReason "%d/%d %s";
  HAMi-core allocator.c LOG_ERROR "Device %d OOM %lu / %lu" (log_utils.h "[HAMI-core ERROR (pid:%d thread=%ld %s:%d)]: ").
- Volcano pkg/scheduler/api/unschedule_info.go "0/%v nodes are unavailable" + "%v %v" reasons; gpushare/share.go
  "no enough gpu memory on node %s"; vgpu/utils.go "no enough gpu cards on node %s", "not enough gpu fitted on this node".
- KAI-Scheduler maxNodeResources.go buildUnschedulableMessage, predicates.go GPU-memory and non-GPU-node forms.
- SkyPilot sky/provision/kubernetes/utils.py "Could not detect GPU labels in Kubernetes cluster. ...".
- dstack runner/internal/shim/resources.go "%w: %d GPUs requested, %d available" (ErrNoCapacity "no capacity").
- Amazon ECS failure reason RESOURCE:GPU.
- Slurm src/interfaces/gres.c "%s: stat(%s): %m", "... If using AutoDetect the amount of GPUs configured in
  slurm.conf does not match what was detected ...", "%s: Killing job %u: gres/%s count mismatch on node %s (%d != %d)".
- Apptainer launcher_linux.go addGPUBinds "Could not find any %s files on this host!" with "rocm".
- Proxmox pve-container Tools.pm get_device_mode_and_rdev "Device $path does not exist".
- Kubernetes dynamicresources.go "cannot allocate all claims"; NVIDIA k8s-dra-driver-gpu kubelet-plugin-prestart.sh.
- Podman < 4.1 DevicesFromPath os.Stat of a CDI name; KServe InvalidUnknownGPUTypeError.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

K8S = "k8s.gpu-resource-unavailable"


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # `nomad job status` placement failure block (monitor.go prints each metric on its own line)
        ('==> 2024-03-01T10:00:00Z: Evaluation "5ba9c3d2" finished with status "complete" but failed to place all '
         'allocations:\n    Task Group "vllm" (failed to place 1 allocation):\n      * Constraint "missing devices": '
         '3 nodes excluded by filter\n', K8S, "suggests"),
        ('    Task Group "vllm" (failed to place 1 allocation):\n      * Resources exhausted on 1 nodes\n'
         '      * Dimension "devices: no devices available" exhausted on 1 nodes\n', K8S, "suggests"),
        # the docker driver's refusal, as the task event shows it
        ('2024-03-01T10:00:00Z  Driver Failure  Failed to create container configuration for image '
         '"vllm/vllm-openai:v0.6.0": requested docker runtime "nvidia" was not found\n',
         "runtime.nvidia-toolkit-missing", "proves"),
        # hclog line of the Nomad client with the plugin's reason
        ('2024-03-01T10:00:00.000Z [ERROR] agent.plugin_loader.nomad-device-nvidia: unable to initialize Nvidia '
         'driver: reason="failed to initialize: Driver Not Loaded"\n', "device.no-driver", "proves"),
        # HAMi FilteringFailed events (kubectl describe pod)
        ("Events:\n  Type     Reason            Age   From            Message\n  ----     ------            ----  "
         "----            -------\n  Warning  FilteringFailed   12s   hami-scheduler  no available node, 2 nodes do "
         "not meet\n  Warning  FilteringFailed   12s   hami-scheduler  2 nodes CardInsufficientMemory(gpu-a,gpu-b)\n",
         K8S, "suggests"),
        # Volcano: the vGPU resource kube reports missing, and the vGPU plugin's own reason
        ("Warning  FailedScheduling  8s  volcano  0/3 nodes are unavailable: 3 Insufficient volcano.sh/vgpu-memory.\n",
         K8S, "suggests"),
        ("Warning  FailedScheduling  volcano  0/2 nodes are unavailable: 2 no enough gpu cards on node gpu-1.\n",
         K8S, "suggests"),
        # KAI: more GPUs than the largest node has
        ("Warning  Unschedulable  kai-scheduler  The pod ml/train-0 requires GPU: 16, CPU: 2 (cores), memory: 8 (GB). "
         "Max GPU resources available in a single node in the default node-pool is topped at 8\n", K8S, "suggests"),
        # SkyPilot's launch on a cluster whose nodes carry no GPU label
        ("sky.exceptions.ResourcesUnavailableError: Could not detect GPU labels in Kubernetes cluster. If this cluster "
         "has GPUs, please ensure GPU nodes have node labels of either of these formats: skypilot.co/accelerator, "
         "nvidia.com/gpu.product. Please refer to the documentation on how to set up node labels.\n", K8S, "suggests"),
        # SkyPilot's optimizer on Kubernetes (sky/optimizer.py 'No resource satisfying ... on ...' + the error)
        ("No resource satisfying Kubernetes({'H100': 8}) on Kubernetes.\nsky.exceptions.ResourcesUnavailableError: "
         "Kubernetes cluster does not contain any instances satisfying the request: 1x Kubernetes({'H100': 8}).\n",
         K8S, "suggests"),
        # Karpenter's provisioner with a GPU key among the pod's resources (nodeclaim.go Add)
        ('{"level":"ERROR","logger":"controller.provisioner","message":"Could not schedule pod, incompatible with '
         'nodepool \\"gpu\\", no instance type satisfied resources {\\"cpu\\":\\"4\\",\\"nvidia.com/gpu\\":\\"8\\"} and '
         'requirements karpenter.sh/nodepool In [gpu]"}\n', K8S, "suggests"),
        # Kueue's QuotaReserved=False message (flavorassigner.go)
        ("Warning  Pending  kueue-admission  couldn't assign flavors to pod set worker: insufficient unused quota "
         "for nvidia.com/gpu in flavor a100, 4 more needed\n", K8S, "suggests"),
        # Docker Desktop / WSL2 with an image committed from a GPU container: the hook meets the baked-in library
        ("docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
         "runtime create failed: runc create failed: unable to start container process: error during container init: "
         "error running hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
         "nvidia-container-cli: mount error: file creation failed: /var/lib/docker/overlay2/9f3/merged/usr/lib/"
         "x86_64-linux-gnu/libnvidia-ml.so.1: file exists: unknown.\n", "nvidia.driver-library-mismatch", "suggests"),
        ("acquire GPU: no capacity: 4 GPUs requested, 2 available\n", K8S, "suggests"),
        ('{"failures": [{"arn": "arn:aws:ecs:eu-west-1:111122223333:container-instance/x", "reason": "RESOURCE:GPU"}]}\n',
         K8S, "suggests"),
        # slurmd at start with a gres.conf File= range larger than the node's GPUs
        ("[2024-03-01T10:00:00.123] error: _set_gres_device_desc: stat(/dev/nvidia7): No such file or directory\n",
         "slurm.gres-unavailable", "proves"),
        ("[2024-03-01T10:00:00.123] error: _check_core_range_matches_sock: gres/gpu: count changed. If using AutoDetect "
         "the amount of GPUs configured in slurm.conf does not match what was detected. If this is intentional, please "
         "turn off AutoDetect and manually specify them in gres.conf.\n", "slurm.gres-unavailable", "proves"),
        # slurmctld refusing a GPU type it does not track (slurm_errno.c ESLURM_INVALID_TRES)
        ("sbatch: error: Batch job submission failed: Invalid Trackable RESource (TRES) specification\n",
         "slurm.gres-unavailable", "suggests"),
        # pct start of a container whose devN: names a node the host lacks
        ("run_buffer: 571 Script exited with status 255\nDevice /dev/nvidia-uvm does not exist\n"
         "TASK ERROR: startup for container '104' failed\n", "device.host-node-absent", "proves"),
        ("Warning  FailedScheduling  default-scheduler  0/1 nodes are available: 1 cannot allocate all claims. "
         "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.\n", K8S, "suggests"),
        # gnew43: Podman before 4.1 stats the CDI name as a path: the engine predates CDI (the toolkit is there)
        ("Error: stat nvidia.com/gpu=all: no such file or directory\n", "runtime.engine-predates-cdi", "proves"),
        # Apptainer --rocm on a node without ROCm, then torch finds no HIP GPU
        ("WARNING: Could not find any rocm files on this host!\nWARNING: Could not find any rocm libraries on this "
         "host!\nRuntimeError: No HIP GPUs are available\n", "device.kfd-missing", "suggests"),
    ],
)
def test_a_platform_form_names_its_cause_first(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found, text
    assert found[0] == (cause, strength), found


@pytest.mark.parametrize(
    "text",
    [
        # HAMi-core's vGPU memory limit refused an allocation: an OOM inside the pod's own limit
        ("[HAMI-core ERROR (pid:57 thread=140245 allocator.c:52)]: Device 0 OOM 25769803776 / 24696061952\n"
         "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.00 GiB. GPU 0 has a total capacity of "
         "23.00 GiB of which 0 bytes is free.\n"),
        # --rocm on an image that brings its own ROCm: the warning alone is harmless
        "WARNING: Could not find any rocm files on this host!\nINFO: model loaded on 2 GPUs\n",
        # Volcano and Nomad refusing CPU or a constraint that is not about devices
        "Warning  FailedScheduling  volcano  0/2 nodes are unavailable: 2 Insufficient cpu.\n",
        '      * Constraint "${attr.kernel.name} = linux": 2 nodes excluded by filter\n',
        # a non-GPU device the host lacks, and slurmd's healthy gres.conf record (gres.c info "Gres Name=%s ...")
        "Device /dev/ttyUSB0 does not exist\n",
        "slurmd: Gres Name=gpu Type=a100 Count=1 Index=0 ID=7696487 File=/dev/nvidia0 Cores=0-15 CoreCnt=64 Links=-1,0\n",
        # a public-cloud catalog miss is a name/quota question, not the cluster's GPUs
        ("No resource satisfying AWS({'H100': 8}) on AWS.\nsky.exceptions.ResourcesUnavailableError: Catalog does "
         "not contain any instances satisfying the request: 1x AWS({'H100': 8}).\n"),
        # Karpenter refusing a CPU-only pod, and PMIx's task-count check: the same fixed words, no GPU
        ('Could not schedule pod, incompatible with nodepool "default", no instance type satisfied resources '
         '{"cpu":"3310m","memory":"3344Mi","pods":"8"} and requirements karpenter.sh/nodepool In [default]\n'),
        "slurmstepd: error: Task count mismatch on node 0\n",
        # the same libnvidia-container error on a path that is no driver file (utils.c file_create)
        "nvidia-container-cli: mount error: file creation failed: /var/lib/docker/overlay2/9f3/merged/proc/driver/x: read-only file system\n",
        "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor default, 2 more needed\n",
        # HAMi's own success line
        'I0101 00:00:00.000000 1 score.go:340] "NodeFitPod" pod="default/vllm-0" node="gpu-node-1" score=3\n',
    ],
)
def test_a_neighbouring_line_stays_clean(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text) == []


def test_hami_core_oom_is_named_not_a_container_cause(tmp_path: Path) -> None:
    """The OOM line is recognised (root: not-container), so explain says why instead of guessing."""
    from tpdoctor.explain import explain

    log = tmp_path / "oom.log"
    log.write_text("[HAMI-core ERROR (pid:9 thread=1 allocator.c:52)]: Device 1 OOM 2048 / 1024\n")
    report = explain([str(log)])
    assert not [f for f in report.findings if f.severity.value != "notice"]
    assert any("HAMi-core" in n or "HAMI-core" in n for n in report.notes), report.notes
