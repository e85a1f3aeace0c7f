"""Issue 13, heldout36 lessons (glearn36a): GPU requests the engine refuses or reads as a count, Ray work that
requested no GPU.

Lines are written from the code that prints them (not copied from the heldout36 logs):
- libnvidia-container src/cli/common.c select_devices: every entry of the request is tried as a GPU UUID ('GPU-'),
  a PCI bus id, a decimal index, a MIG UUID ('MIG-') or '<gpu>:<mig>'; otherwise error_setx("%s: %s", dev,
  "unknown device"), printed by nvidia-container-cli as 'nvidia-container-cli: device error: <dev>: unknown device'
  and wrapped by runc/containerd/dockerd ('...: unknown.'). A word that is none of those shapes is a malformed
  request (an empty shell variable shifting the next word into its place, a name, kept quotes);
- NVFlare nvflare/tool/poc/poc_commands.py prepare_env: GPU2USE=--gpus=<ids> (docker's count, not a device);
- Flower flwr/simulation/app.py (v0.17-v1.5 'Ray initialized with resources: %s' under the 'flower'/'flwr' logger,
  v1.6+ and legacy_app.py 'Flower VCE: Ray initialized with resources: %s', 'Flower VCE: Resources for each Virtual
  Client: %s', 'No `client_resources` specified. Using minimal resources for clients.') and
  server/superlink/fleet/vce/backend/raybackend.py ('`%s` not specified in backend config. Applying default
  setting: %s');
- Ray Tune's status block: 'Resources requested: {}/{} CPUs, {}/{} GPUs[, {}/{} GiB heap, {}/{} GiB objects]'
  (trial_runner.py / ray_trial_executor.py debug_string, Ray 0.4-2.4) and 'Logical resource usage: {}/{} CPUs,
  {}/{} GPUs' (Ray 2.5+).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings

# --- nvidia-container-cli: a device word that is no device id --------------------------------------------------
CLI = "nvidia-container-cli: device error: {dev}: unknown device: unknown."
WRAPPERS = [
    # docker 19.03/20.10 with runc 1.0-rc
    "docker: Error response from daemon: OCI runtime create failed: container_linux.go:349: starting container process "
    "caused \"process_linux.go:449: container init caused \\\"process_linux.go:432: running prestart hook 0 caused "
    "\\\\\\\"error running hook: exit status 1, stdout: , stderr: {cli}\\\\\\\"\\\"\": unknown.",
    # docker 20.10+/containerd shim, the hook's mode line before it
    "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: "
    "unable to start container process: error during container init: error running hook #0: error running hook: "
    "exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n{cli}",
    # distros that ship the binary as nvidia-container-cli.real
    "stderr: " + CLI.replace("nvidia-container-cli:", "nvidia-container-cli.real:"),
]


@pytest.mark.parametrize(
    "dev",
    [
        "python3",  # run.sh $GPU python3 ... with GPU empty: the program took the GPU's place
        "main.py",
        "bash",
        "gpu0",  # a name, not an index
        "cuda:0",  # torch's device string
        "'0'",  # quotes kept in NVIDIA_VISIBLE_DEVICES='0' from an env file
        '"1"',
        "false",  # a UI template's boolean (nvidia-container-toolkit#29)
    ],
)
@pytest.mark.parametrize("wrap", WRAPPERS)
def test_cli_unknown_device_word_is_a_malformed_request(tmp_path: Path, dev: str, wrap: str) -> None:
    line = wrap.format(cli=CLI.format(dev=dev)) if "{cli}" in wrap else wrap.format(dev=dev)
    assert causes(tmp_path, line + "\n")[:1] == ["runtime.gpu-request-invalid"]


@pytest.mark.parametrize(
    "dev",
    [
        "2",  # an index the host does not have
        "7",
        "GPU-6e1f0d2c-7b3a-4f7e-9d21-0c5a8e4b1f33",  # a UUID of another host
        "MIG-2f5d9b1e-8c4a-5e3b-a7d6-1b9c0e2f4a85",
        "1:0",  # a MIG index pair
        "00000000:3B:00.0",  # a PCI bus id
    ],
)
def test_cli_unknown_device_id_stays_the_mask(tmp_path: Path, dev: str) -> None:
    text = WRAPPERS[1].format(cli=CLI.format(dev=dev)) + "\n"
    found = causes(tmp_path, text)
    assert found[:1] == ["cuda.visible-devices-mismatch"]
    assert "runtime.gpu-request-invalid" not in found


@pytest.mark.parametrize(
    "dev",
    [
        "/var/run/nvidia-container-devices",  # the k8s device plugin's volume-mounts root
        "tegra",  # Jetson
        "no-gpu-has-1GiB-to-run",  # gpushare's placeholder
        "nvidia.com/gpu=all",  # a CDI name in legacy mode
    ],
)
def test_cli_unknown_device_of_other_readers_is_not_a_malformed_request(tmp_path: Path, dev: str) -> None:
    text = WRAPPERS[1].format(cli=CLI.format(dev=dev)) + "\n"
    assert "runtime.gpu-request-invalid" not in causes(tmp_path, text)


def test_cli_listing_devices_stays_clean(tmp_path: Path) -> None:
    text = (
        "I0318 10:12:53.220512 11514 nvc_info.c:560] listing device /dev/nvidiactl\n"
        "I0318 10:12:53.220661 11514 nvc_info.c:853] requesting device information with ''\n"
        "I0318 10:12:53.226723 11514 nvc.c:452] shutting down library context\n"
    )
    assert causes(tmp_path, text) == []


# --- NVFlare POC in Docker: GPU2USE holds docker's --gpus flag -------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        "GPU2USE=--gpus=0",
        "export GPU2USE='--gpus=0' before nvflare poc start",
        'GPU2USE="--gpus 0"',
    ],
)
def test_nvflare_gpu2use_count_zero(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [("runtime.gpu-request-invalid", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        'GPU2USE=--gpus="device=0"',  # NVFlare's fix (PR #4513)
        "GPU2USE='--gpus \"device=0,1\"'",
        "GPU2USE=--gpus=1",  # a count of one GPU: a GPU comes
        "MY_DATA_DIR=/tmp/nvflare/poc/data SVR_NAME=site-1",
    ],
)
def test_nvflare_gpu2use_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "runtime.gpu-request-invalid" not in causes(tmp_path, line + "\n")


# --- Flower simulation: virtual clients are Ray actors ---------------------------------------------------------
NO_GPU = (
    "Traceback (most recent call last):\n"
    '  File "/app/client.py", line 57, in fit\n'
    "    net.to(DEVICE)\n"
    "RuntimeError: No CUDA GPUs are available\n"
)
OLD_RAY = "INFO flower 2022-03-14 09:41:07,312 | app.py:143 | Ray initialized with resources: {res}\n"
FLWR_RAY = "INFO flwr 2023-07-02 18:12:55,004 | app.py:179 | Ray initialized with resources: {res}\n"
VCE_RAY = "INFO :      Flower VCE: Ray initialized with resources: {res}\n"
VCE_CLIENT = "INFO :      Flower VCE: Resources for each Virtual Client: {res}\n"
RES_GPU = "{'CPU': 16.0, 'object_store_memory': 9876543210.0, 'accelerator_type:T4': 1.0, 'GPU': 2.0, 'memory': 1.9e10}"
RES_CPU = "{'CPU': 16.0, 'object_store_memory': 9876543210.0, 'memory': 1.9e10}"


@pytest.mark.parametrize(
    "text",
    [
        # v0.17-v1.5: only the cluster's resources, the clients' default is no GPU
        OLD_RAY.format(res=RES_GPU) + "INFO flower 2022-03-14 09:41:07,320 | app.py:152 | Starting Flower simulation "
        "running: {'num_rounds': 3}\n" + NO_GPU,
        FLWR_RAY.format(res=RES_GPU) + NO_GPU,
        # a mask set in the notebook does not reach the client actor: Ray sets its own
        "%env CUDA_VISIBLE_DEVICES=0\n" + OLD_RAY.format(res=RES_GPU) + NO_GPU,
        # v1.6+: the clients' resources printed
        VCE_RAY.format(res=RES_GPU) + VCE_CLIENT.format(res="{'num_cpus': 2, 'num_gpus': 0.0}") + NO_GPU,
        "INFO :      No `client_resources` specified. Using minimal resources for clients.\n" + NO_GPU,
        # flwr run: the Ray backend's default
        "WARNING :   `client_resources` not specified in backend config. Applying default setting: "
        "{'num_cpus': 2, 'num_gpus': 0.0}\n" + NO_GPU,
        # the count read in the client
        VCE_CLIENT.format(res="{'num_cpus': 1}") + "torch.cuda.device_count() inside the client returns 0\n",
    ],
)
def test_flower_client_without_gpu_is_the_ray_request(tmp_path: Path, text: str) -> None:
    found = causes(tmp_path, text)
    assert found[:1] == ["ray.task-without-gpu"]


@pytest.mark.parametrize(
    "text",
    [
        # Ray found no GPU at all: the machine or container has none for the clients
        VCE_RAY.format(res=RES_CPU) + VCE_CLIENT.format(res="{'num_cpus': 2, 'num_gpus': 0.0}") + NO_GPU,
        OLD_RAY.format(res=RES_CPU) + NO_GPU,
        OLD_RAY.format(res=RES_CPU.replace("'CPU': 16.0", "'CPU': 16.0, 'GPU': 0.0")) + NO_GPU,
        # the clients did request a GPU (a fraction): the request is not why
        VCE_RAY.format(res=RES_GPU) + VCE_CLIENT.format(res="{'num_cpus': 2, 'num_gpus': 0.5}") + NO_GPU,
        VCE_RAY.format(res=RES_GPU) + VCE_CLIENT.format(res="{'num_cpus': 1, 'num_gpus': 1}") + NO_GPU,
        # some other program's resource print
        "Ray initialized with resources: " + RES_GPU + "\n" + NO_GPU,
    ],
)
def test_flower_neighbours_do_not_name_the_ray_request(tmp_path: Path, text: str) -> None:
    assert "ray.task-without-gpu" not in causes(tmp_path, text)


def test_healthy_flower_simulation_stays_clean(tmp_path: Path) -> None:
    text = (
        VCE_RAY.format(res=RES_GPU)
        + "INFO :      Optimize your simulation with Flower VCE: https://flower.ai/docs/framework/how-to-run-simulations.html\n"
        + VCE_CLIENT.format(res="{'num_cpus': 2, 'num_gpus': 0.0}")
        + "INFO :      Flower VCE: Creating VirtualClientEngineActorPool with 8 actors\n"
        + "INFO :      [ROUND 1]\n"
        + "INFO :      configure_fit: strategy sampled 10 clients (out of 100)\n"
        + "WARNING :   `client_resources` not specified in backend config. Applying default setting: "
        "{'num_cpus': 2, 'num_gpus': 0.0}\n"
    )
    assert causes(tmp_path, text) == []


# --- Ray Tune's status: running trials on CPUs while the cluster has GPUs ---------------------------------------
@pytest.mark.parametrize(
    "status",
    [
        "== Status ==\nUsing FIFO scheduling algorithm.\nResources requested: 4/8 CPUs, 0/1 GPUs\n",  # Ray 0.4-0.8
        "Resources requested: 1/12 CPUs, 0/2 GPUs, 0.0/15.87 GiB heap, 0.0/5.47 GiB objects\n",  # Ray 0.8-2.4
        "Trial status: 1 RUNNING | 7 PENDING\nLogical resource usage: 2.0/16 CPUs, 0/1 GPUs (0.0/1.0 accelerator_type:A10G)\n",
    ],
)
@pytest.mark.parametrize("mask", ["", "export CUDA_VISIBLE_DEVICES=0\n"])
def test_tune_trials_without_gpu_is_the_ray_request(tmp_path: Path, status: str, mask: str) -> None:
    text = mask + status + NO_GPU
    found = causes(tmp_path, text)
    assert found[:1] == ["ray.task-without-gpu"]
    assert "cuda.visible-devices-mismatch" not in found


def test_tune_warning_with_a_mask_is_still_the_ray_request(tmp_path: Path) -> None:
    text = "export CUDA_VISIBLE_DEVICES=0\nTune detects GPUs, but no trials are using GPUs.\n" + NO_GPU
    assert causes(tmp_path, text)[:1] == ["ray.task-without-gpu"]


@pytest.mark.parametrize(
    "status",
    [
        "Logical resource usage: 2.0/16 CPUs, 0/0 GPUs\n",  # no GPU in the cluster
        "Logical resource usage: 2.0/16 CPUs, 1.0/1 GPUs (0.0/1.0 accelerator_type:T4)\n",  # the trial has it
        "Resources requested: 0/8 CPUs, 0/1 GPUs\n",  # nothing running
        "Logical resource usage: 4.0/32 CPUs, 0.25/1 GPUs\n",
    ],
)
def test_tune_status_neighbours_do_not_name_the_ray_request(tmp_path: Path, status: str) -> None:
    assert "ray.task-without-gpu" not in causes(tmp_path, status + NO_GPU)


def test_healthy_tune_status_stays_clean(tmp_path: Path) -> None:
    text = (
        "Trial status: 3 RUNNING | 5 PENDING\n"
        "Current time: 2025-03-02 11:20:41. Total running time: 1min 3s\n"
        "Logical resource usage: 6.0/16 CPUs, 0/1 GPUs (0.0/1.0 accelerator_type:T4)\n"
        "== Status ==\nResources requested: 3/8 CPUs, 0/1 GPUs, 0.0/15.87 GiB heap, 0.0/5.47 GiB objects\n"
    )
    assert causes(tmp_path, text) == []


# --- JAX/XLA's no-device line in a Ray worker (ray-project/ray#49147: JAX in an actor without num_gpus) ------------
# jax/_src/xla_bridge.py backends(): f"Unable to initialize backend '{platform}': {err}"; xla gpu_helpers.cc:
# FailedPrecondition("No visible GPU devices.")
JAX = (
    "RuntimeError: Unable to initialize backend 'cuda': FAILED_PRECONDITION: No visible GPU devices. "
    "(set JAX_PLATFORMS='' to automatically choose an available backend)"
)


@pytest.mark.parametrize(
    "text",
    [
        "(MockActor pid=4242) " + JAX,
        "(Learner pid=918, ip=10.0.3.4) " + JAX.replace("'cuda'", "'gpu'"),
        "ray.exceptions.RayActorError(RuntimeError): ray::MockActor.__call__() (pid=4242, ip=10.0.0.3) " + JAX,
        "ray.exceptions.RayTaskError(RuntimeError): ray::score() (pid=4242, ip=10.0.0.3)\n"
        '  File "/app/score.py", line 12, in score\n' + JAX,
    ],
)
def test_jax_no_visible_gpu_in_ray_worker_is_the_ray_request(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text + "\n")[:1] == ["ray.task-without-gpu"]


@pytest.mark.parametrize("text", [JAX, "(EngineCore_DP0 pid=311) " + JAX])
def test_jax_no_visible_gpu_outside_ray_is_not_the_ray_request(tmp_path: Path, text: str) -> None:
    assert "ray.task-without-gpu" not in causes(tmp_path, text + "\n")
