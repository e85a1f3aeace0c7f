"""Issue 13, explain's known leftovers (gfix44).

Lines are written from the code that prints them:
- Triton's libcuda_dirs (python/triton/backends/nvidia/driver.py v3.x, python/triton/common/build.py v2.1-v2.3):
  `msg = 'libcuda.so cannot found!\\n'` then `'Please make sure GPU is set up and then run "/sbin/ldconfig"'` and
  `' (requires sudo) to refresh the linker cache.'`, raised by `assert any(...)` (AssertionError); glearn43b read it as
  nvidia.driver-libs-off-library-path first. The contexts that decide nvidia.libcuda-not-loadable (GKE, WSL, a
  container without the compute capability, Jetson) decide it too.
- libX11's default error handler (src/XlibInt.c _XPrintDefaultError: "X Error of failed request:  %s", "  Major
  opcode of failed request:  %d (%s)", "  Minor opcode of failed request:  %d (%s)", "  Segment id in failed
  request:  0x%lx") for MIT-SHM (XErrorDB XRequest.MIT-SHM.1 X_ShmAttach, .3 X_ShmPutImage); the display around it:
  sshd's forwarded display (session.c "localhost:%u.%u"), OpenSSH's clientloop.c "Warning: No xauth data; using fake
  authentication data for X11 forwarding.", TigerVNC's Xvnc banner ("Xvnc %s - built %s", XVNCVERSION "TigerVNC
  1.12.0"). xserver Xext/shm.c shm_access reads a client's credentials only on a local connection.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from explain_helpers import causes, findings
from tpdoctor.explain import explain, scan_inputs

# --- 1. Triton's ld-cache lookup reaches the libcuda contexts ------------------------------------------------------

TRITON = (
    "AssertionError: libcuda.so cannot found!\n"
    'Please make sure GPU is set up and then run "/sbin/ldconfig" (requires sudo) to refresh the linker cache.\n'
)


def _first(tmp_path: Path, text: str) -> tuple[str, str]:
    log = tmp_path / "f.log"
    log.write_text(text, encoding="utf-8")
    f = explain([str(log)]).findings[0]
    return f.cause, f.message


@pytest.mark.parametrize(
    ("context", "cause"),
    [
        # nvidia-container-toolkit's NVIDIA_DRIVER_CAPABILITIES without compute: no libcuda injected
        ("docker run --rm -e NVIDIA_DRIVER_CAPABILITIES=utility --gpus all vllm/vllm-openai:v0.6.3\n",
         "nvidia.driver-capabilities-missing"),
        ("docker run --rm --gpus 'all,capabilities=utility' my/trainer:latest\n", "nvidia.driver-capabilities-missing"),
        # nvidia-smi works (NVML injected) and shows no CUDA version: libcuda (compute) missing
        ("|-----------------------------------------+------------------------+----------------------+\n"
         "| NVIDIA-SMI 550.54.14              Driver Version: 550.54.14      CUDA Version: N/A      |\n",
         "nvidia.driver-capabilities-missing"),
        # Jetson / L4T: libcuda comes only through the NVIDIA runtime's csv mode
        ("Running on a Jetson AGX Orin, JetPack 6.0, in the l4t-pytorch container.\n", "runtime.jetson-gpus-flag"),
    ],
)
def test_triton_libcuda_lookup_takes_the_context_cause(tmp_path: Path, context: str, cause: str) -> None:
    assert causes(tmp_path, context + TRITON)[0] == cause
    assert causes(tmp_path, TRITON + context)[0] == cause


@pytest.mark.parametrize(
    ("context", "words"),
    [
        ("The pod runs on GKE Autopilot with one L4 per pod.\n", "GKE's device plugin"),
        ("  Mounts: /usr/local/nvidia from nvidia-install-dir-host (ro) (/home/kubernetes/bin/nvidia)\n",
         "GKE mounts the host driver"),
        ("I run this under WSL2 on Windows 11, no container.\n", "/usr/lib/wsl/lib"),
    ],
)
def test_triton_libcuda_lookup_on_gke_and_wsl_names_the_platform(tmp_path: Path, context: str, words: str) -> None:
    cause, message = _first(tmp_path, context + TRITON)
    assert cause == "nvidia.driver-libs-off-library-path"
    assert words in message


def test_triton_libcuda_lookup_alone_keeps_glearn43b_reading(tmp_path: Path) -> None:
    assert causes(tmp_path, TRITON)[0] == "nvidia.driver-libs-off-library-path"
    # a container with compute asked for is no capability problem
    text = "docker run --rm -e NVIDIA_DRIVER_CAPABILITIES=compute,utility --gpus all my/img\n" + TRITON
    assert "nvidia.driver-capabilities-missing" not in causes(tmp_path, text)
    # the dlopen form keeps its own reading
    dl = "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory\n"
    assert findings(tmp_path, dl)[0][0] == "runtime.nvidia-toolkit-missing"


# --- 2. MIT-SHM on a remote X server (ssh -X, DISPLAY=host:N, VNC) is not the container's IPC namespace ------------

SHM_PUT = (
    "X Error of failed request:  BadShmSeg (invalid shared segment parameter)\n"
    "  Major opcode of failed request:  130 (MIT-SHM)\n"
    "  Minor opcode of failed request:  3 (X_ShmPutImage)\n"
    "  Segment id in failed request:  0x2a\n"
)
SHM_ATTACH = (
    "X Error of failed request:  BadAccess (attempt to access private resource denied)\n"
    "  Major opcode of failed request:  130 (MIT-SHM)\n"
    "  Minor opcode of failed request:  1 (X_ShmAttach)\n"
)
MITSHM = "display.x11-mitshm-ipc-isolated"


@pytest.mark.parametrize("error", [SHM_PUT, SHM_ATTACH])
@pytest.mark.parametrize(
    "context",
    [
        "$ env | grep DISPLAY\nDISPLAY=localhost:10.0\n",
        "$ ssh -X ana@gpu-box\n",
        "Warning: No xauth data; using fake authentication data for X11 forwarding.\n",
        "docker run --rm -e DISPLAY=host.docker.internal:0 my/slicer:2.1\n",
        "\nXvnc TigerVNC 1.12.0 - built Feb  2 2022 10:23:11\n",
        "Xlib:  extension \"MIT-SHM\" missing on display \"192.168.1.20:0.0\".\n",
    ],
)
def test_mitshm_on_a_remote_or_vnc_display_is_not_the_ipc_namespace(tmp_path: Path, context: str, error: str) -> None:
    assert MITSHM not in causes(tmp_path, context + error)
    log = tmp_path / "x.log"
    log.write_text(context + error, encoding="utf-8")
    notes = explain([str(log)]).notes
    assert not any("--ipc=host (compose" in n for n in notes)
    assert any("QT_X11_NO_MITSHM=1" in n for n in notes)


@pytest.mark.parametrize("error", [SHM_PUT, SHM_ATTACH])
@pytest.mark.parametrize(
    "context",
    [
        "",
        "docker run -it --rm -e DISPLAY=$DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix osrf/ros:humble-desktop rviz2\n",
        "export DISPLAY=:0\n",
        # a VNC server on the host whose socket the container gets is the host's X server: the IPC reading stays
        "Xvnc TigerVNC 1.12.0 - built\ndocker run -e DISPLAY=:1 -v /tmp/.X11-unix:/tmp/.X11-unix img\n",
        "$ ssh -X ana@gpu-box\n$ docker run -e DISPLAY=:0 -v /tmp/.X11-unix:/tmp/.X11-unix img\n",
    ],
)
def test_mitshm_on_a_local_display_stays_the_ipc_namespace(tmp_path: Path, context: str, error: str) -> None:
    assert causes(tmp_path, context + error)[0] == MITSHM


# --- 3. a CDI error beside Podman's compat API: the request reached CDI, the spec is the story ----------------------

# podman's compose provider banner (cmd/podman/compose.go) and a Docker client on Podman's socket
PODMAN_COMPOSE = (
    '>>>> Executing external compose provider "/usr/local/bin/docker-compose". Please see podman-compose(1) for how '
    "to disable this message. <<<<\n"
)
DOCKER_HOST_PODMAN = "export DOCKER_HOST=unix:///run/user/1000/podman/podman.sock\n"
NO_GPU = "RuntimeError: No CUDA GPUs are available\n"
# cncf-tags/container-device-interface pkg/cdi/cache.go InjectDevices ("unresolvable CDI devices %s"), Podman's
# "setting up CDI devices: %w" (libpod/container_internal_linux.go), nvidia-ctk cdi list ("Found %d CDI devices")
CDI_LIST = "$ nvidia-ctk cdi list\nINFO[0000] Found 3 CDI devices\nnvidia.com/gpu=0\nnvidia.com/gpu=1\nnvidia.com/gpu=all\n"
UNRESOLVABLE_3 = "Error response from daemon: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=3\n"
SPEC_ELSEWHERE = "sudo nvidia-ctk cdi generate --output=/home/ana/cdi/nvidia.yaml\n"
# pkg/cdi/spec.go validateVersion wrapped by ReadSpec ("invalid CDI Spec: %w") and the cache's "failed to load CDI Spec"
SPEC_VERSION = (
    'Error: setting up CDI devices: failed to refresh CDI cache: failed to load CDI Spec "/etc/cdi/nvidia.yaml": '
    'invalid CDI Spec: invalid version "0.8.0"\n'
)
# crun src/libcrun/linux.c do_mounts "cannot stat `%s`" for a spec's versioned driver library
SPEC_STALE = "Error: crun: cannot stat `/usr/lib64/libEGL_nvidia.so.550.54.14`: No such file or directory: OCI runtime error\n"


@pytest.mark.parametrize("client", [PODMAN_COMPOSE, DOCKER_HOST_PODMAN])
@pytest.mark.parametrize(
    ("cdi", "cause"),
    [
        (CDI_LIST + UNRESOLVABLE_3, "runtime.cdi-spec-version-unsupported"),
        (SPEC_ELSEWHERE + UNRESOLVABLE_3, "runtime.cdi-spec-unresolved"),
        (SPEC_VERSION, "runtime.cdi-spec-version-unsupported"),
        (UNRESOLVABLE_3, "runtime.nvidia-toolkit-missing"),
    ],
)
def test_cdi_error_outranks_podman_compat_drop(tmp_path: Path, client: str, cdi: str, cause: str) -> None:
    got = causes(tmp_path, client + cdi + NO_GPU)
    assert "runtime.podman-compat-gpu-request-dropped" not in got
    assert got[0] == cause


@pytest.mark.parametrize("client", [PODMAN_COMPOSE, DOCKER_HOST_PODMAN])
def test_stale_cdi_spec_beside_podman_compat_is_not_a_dropped_request(tmp_path: Path, client: str) -> None:
    got = causes(tmp_path, client + SPEC_STALE + NO_GPU)
    assert "runtime.podman-compat-gpu-request-dropped" not in got
    assert "runtime.cdi-spec-stale" in got


@pytest.mark.parametrize("client", [PODMAN_COMPOSE, DOCKER_HOST_PODMAN])
def test_podman_compat_without_a_cdi_error_keeps_gnew43(tmp_path: Path, client: str) -> None:
    assert causes(tmp_path, client + NO_GPU)[0] == "runtime.podman-compat-gpu-request-dropped"


# --- 5. a compose service pasted without `services:` feeds the facts a whole file does ------------------------------

SERVICE = """  vllm:
    image: vllm/vllm-openai:v0.6.3
    runtime: nvidia
    shm_size: 16g
    ipc: host
    devices:
      - /dev/nvidia0:/dev/nvidia0
    command: --model meta-llama/Llama-3.1-70B-Instruct --tensor-parallel-size 2
    deploy:
      resources:
        reservations:
          devices:
            - driver: nvidia
              count: 2
              capabilities: [gpu]
"""
CMD_KEYS = ("cmd_engine", "cmd_gpu_request", "cmd_gpu_count", "cmd_shm", "cmd_devices", "cmd_tp_size", "cmd_image")


def _cmd_facts(tmp_path: Path, text: str) -> dict[str, str]:
    log = tmp_path / "q.log"
    log.write_text(text, encoding="utf-8")
    first = scan_inputs([str(log)]).facts.first
    return {k: first[k][0] for k in CMD_KEYS if k in first}


def _body(service: str) -> str:
    return "".join(line[2:] + "\n" for line in service.splitlines()[1:])


@pytest.mark.parametrize(
    "pasted",
    [
        "My docker-compose.yml has this service:\n" + SERVICE,  # the service with its name, indented as in the file
        "```yaml\n" + SERVICE.replace("\n  ", "\n")[2:] + "```\n",  # dedented, in a Markdown fence
        "the service:\n" + _body(SERVICE),  # the body alone
    ],
)
def test_compose_service_fragment_gives_the_whole_files_facts(tmp_path: Path, pasted: str) -> None:
    whole = _cmd_facts(tmp_path, "services:\n" + SERVICE + "RuntimeError: NCCL error\n")
    assert whole["cmd_gpu_request"] == "nvidia" and whole["cmd_shm"] == "ipc=host"
    got = _cmd_facts(tmp_path, pasted + "RuntimeError: NCCL error\n")
    assert got == whole


def test_deploy_block_alone_is_a_part_of_a_service(tmp_path: Path) -> None:
    text = (
        "I added this under my service:\n"
        "    deploy:\n      resources:\n        reservations:\n          devices:\n"
        "            - driver: nvidia\n              capabilities: [gpu]\n"
        "RuntimeError: No CUDA GPUs are available\n"
    )
    got = _cmd_facts(tmp_path, text)
    assert got["cmd_gpu_request"] == "nvidia"
    assert got["cmd_shm"] == "unknown"  # the rest of the service is not shown: never "default"
    assert causes(tmp_path, text)[0] == "compose.gpu-reservation-incomplete"  # no count/device_ids, as a whole file


@pytest.mark.parametrize(
    "yaml_text",
    [
        # a pod spec fragment: containers, resources at the container's level, an extended resource
        "containers:\n  - name: vllm\n    image: vllm/vllm-openai\n    resources:\n      limits:\n"
        "        nvidia.com/gpu: 2\n    volumeMounts:\n      - name: shm\n        mountPath: /dev/shm\n",
        # a Kubernetes manifest's spec without apiVersion (a DRA claim's devices)
        "spec:\n  devices:\n    requests:\n    - name: gpu\n      deviceClassName: gpu.nvidia.com\n",
        "devices:\n  requests:\n  - name: gpu\n    deviceClassName: gpu.nvidia.com\n",
        # a Helm values file: image as repository/tag, resources and runtimeClassName at the top
        "image:\n  repository: vllm/vllm-openai\n  tag: latest\nshm_size: 16Gi\nresources:\n  limits:\n"
        "    nvidia.com/gpu: 1\nruntimeClassName: nvidia\n",
        "deploy:\n  enabled: true\n  replicaCount: 2\nimagePullPolicy: IfNotPresent\n",
    ],
)
def test_kubernetes_and_helm_yaml_is_not_read_as_compose(tmp_path: Path, yaml_text: str) -> None:
    assert _cmd_facts(tmp_path, "values:\n" + yaml_text + "RuntimeError: No CUDA GPUs are available\n") == {}
    assert _cmd_facts(tmp_path, yaml_text + "RuntimeError: No CUDA GPUs are available\n") == {}


def test_fragment_keys_in_prose_capture_nothing(tmp_path: Path) -> None:
    text = (
        "Available devices: ['cuda:0', 'cuda:1']\n"
        "INFO deploy: starting rollout of vllm\n"
        "[W] runtime: nvidia not found, falling back to runc\n"
    )
    log = tmp_path / "p.log"
    log.write_text(text, encoding="utf-8")
    assert scan_inputs([str(log)]).quoted == []


# --- 6. the two slow patterns gperf43 left: linear on the lines that made them slow -------------------------------


def _pattern(entry_id: str) -> re.Pattern[str]:
    from tpdoctor.explain.signatures import knowledge_base

    kb = knowledge_base()
    return next(e.regex for e in [*kb.signatures, *kb.facts] if e.id == entry_id)


HOSTILE = 65536


@pytest.mark.parametrize(
    ("entry_id", "line"),
    [
        # every `TRES=cpu=N` looked to the line's end for a gres/gpu (gperf43's note): quadratic in the TRES fields
        ("slurm-tres-no-gpu", ("TRES=cpu=1 " * (HOSTILE // 11))[: HOSTILE - 9] + " gres/gpu"),
        # the flag/value repetition (up to 30 pairs) tried from every `unknown flag: --` of the line
        ("cli.flag-value-one-argument", ("unknown flag: --aaaaaaaaa" * (HOSTILE // 25))[:HOSTILE]),
    ],
    ids=["slurm-tres-no-gpu", "cli.flag-value-one-argument"],
)
def test_gperf43_leftovers_are_fast_on_a_64k_line(entry_id: str, line: str) -> None:
    rx = _pattern(entry_id)
    start = time.perf_counter()
    rx.search(line)
    assert time.perf_counter() - start < 0.5  # 1.05 s and 2.1 s before (idle); ~0.1 ms and 2 ms now


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("JobId=1 ReqTRES=cpu=4,mem=16G,node=1,billing=4 AllocTRES=cpu=4,mem=16G,node=1", "cpu=4,mem=16G,node=1,billing=4"),
        ("ReqTRES=cpu=4,mem=16G,gres/gpu=2 AllocTRES=cpu=4,mem=16G", "cpu=4,mem=16G"),
        ("ReqTRES=cpu=4,mem=16G AllocTRES=cpu=4,mem=16G,gres/gpu=2", None),  # a later gres/gpu vetoes the ReqTRES
        ("TRES=cpu=x TRES=cpu=3,mem=1", "cpu=3,mem=1"),
    ],
)
def test_slurm_tres_no_gpu_reads_as_before(line: str, want: str | None) -> None:
    m = _pattern("slurm-tres-no-gpu").search(line)
    assert (m.group("slurm_tres_no_gpu") if m else None) == want
