"""Issue 13, grecent: the newest NVIDIA serving stack's printed forms of the container/host causes.

Every line below is written from the format string in the code that prints it (cited per case):
nvidia-container-toolkit 1.12-1.20 (legacy hook, CDI and jit-cdi modes), vLLM V1's GPU worker and platform
detection, NCCL 2.18-2.28's NVML wrapper and legacy IPC path, torch 2.4-2.9's TCPStore (libuv and legacy socket
backends) and SGLang's start-up memory checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from explain_helpers import findings as _findings
from explain_helpers import notes as _notes
from tpdoctor.explain import explain

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # toolkit internal/config/image/cuda_image.go:288 @v1.18.0: Warningf("Ignoring devices requested by environment
        # variable(s) in unprivileged container: %v", envVars), logged by the runtime through logrus
        ('time="2025-06-01T10:00:00Z" level=warning msg="Ignoring devices requested by environment variable(s) in '
         'unprivileged container: [NVIDIA_VISIBLE_DEVICES]"\n'
         "RuntimeError: No CUDA GPUs are available\n", "runtime.visible-devices-env-ignored", "suggests"),  # gnew33c
        # internal/modifier/cdi.go:114 @v1.17.8: Warningf("Ignoring devices specified in NVIDIA_VISIBLE_DEVICES: %v")
        ("Ignoring devices specified in NVIDIA_VISIBLE_DEVICES: [nvidia.com/gpu=all]\n",
         "runtime.visible-devices-env-ignored", "suggests"),
        # cmd/nvidia-container-runtime-hook/container_config.go:179 @v1.17.8: log.Printf("Ignoring devices specified in
        # NVIDIA_VISIBLE_DEVICES (privileged=%v, %v=%v) ", ...)
        ("2024/03/01 10:00:00 Ignoring devices specified in NVIDIA_VISIBLE_DEVICES (privileged=false, "
         "accept-nvidia-visible-devices-envvar-when-unprivileged=false) \n", "runtime.visible-devices-env-ignored", "suggests"),
        # cuda_image.go:444 @v1.18.0: the IMEX channel twin
        ('level=warning msg="Ignoring request by environment variable(s) in unprivileged container: '
         '[NVIDIA_IMEX_CHANNELS]"\n', "nccl.imex-channel-missing", "suggests"),
        # hook_config.go:142 assertModeIsLegacy @v1.18.0 (main.go:86 log.Panicln before 1.18), through runc's hook error
        ("docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
         "runtime create failed: runc create failed: unable to start container process: error during container init: "
         "error running hook #0: error running hook: exit status 2, stdout: , stderr: invoking the NVIDIA Container "
         "Runtime Hook directly (e.g. specifying the docker --gpus flag) is not supported. Please use the NVIDIA "
         "Container Runtime (e.g. specify the --runtime=nvidia flag) instead.: unknown\n",
         "runtime.hook-direct-unsupported", "suggests"),  # gnew33a: was runtime.nvidia-toolkit-missing
        # pkg/nvcdi/lib-nvml.go:175 normalizeDeviceID 'failed to get device handle from index: %v' wrapped by
        # internal/modifier/cdi.go:202 'failed to generate CDI spec for mode %q: %w' (nvmlErrorString of 2)
        ("docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
         "runtime create failed: failed to create NVIDIA Container Runtime: failed to construct OCI spec modifier: "
         'failed to generate CDI spec for mode "auto": failed to get device handle from index: Invalid Argument: '
         "unknown\n", "cuda.visible-devices-mismatch", "proves"),
        # lib-nvml.go:84 'failed to get device handle from UUID: %v' (NOT_FOUND), go-nvml default string
        ("failed to get device handle from UUID: ERROR_NOT_FOUND\n", "cuda.visible-devices-mismatch", "proves"),
        # lib-nvml.go:209 'identifier is not a valid UUID or index: %q'
        ('level=error msg="failed to generate CDI spec for mode \\"auto\\": identifier is not a valid UUID or index: '
         '\\"gpu0\\""\n', "cuda.visible-devices-mismatch", "suggests"),
        # vllm/platforms/__init__.py cuda_platform_plugin: 'CUDA platform is not available because: %s' with
        # pynvml's NVMLError_NoPermission text
        ("DEBUG 04-25 06:11:24 [__init__.py:93] CUDA platform is not available because: Insufficient Permissions\n",
         "lsm.selinux-device-denied", "suggests"),
        # NCCL src/misc/nvmlwrap.cc:121 @v2.28.9-1 WARN("nvmlInit%s() failed: %s", "_v2", nvmlErrorString)
        ("node1:123:123 [0] misc/nvmlwrap.cc:121 NCCL WARN nvmlInit_v2() failed: Insufficient Permissions\n",
         "lsm.selinux-device-denied", "suggests"),
        ("node1:123:123 [0] misc/nvmlwrap.cc:121 NCCL WARN nvmlInit_v2() failed: Unknown Error\n",
         "device.nvml-cgroup-lost", "suggests"),
        ("node1:123:123 [0] misc/nvmlwrap.cc:119 NCCL WARN nvmlInit_v2() failed: Driver Not Loaded\n",
         "device.no-driver", "suggests"),
        # vllm/v1/worker/gpu_worker.py init_device: 'DP adjusted local rank {} is out of bounds. ' and
        # 'local_world_size ({}) must be less than or equal to the number of visible devices ({}).'
        ("(EngineCore_DP0 pid=77) ERROR 09-01 10:00:00 [core.py:700] AssertionError: DP adjusted local rank 0 is out "
         "of bounds. \n", "device.nvidia-node-missing", "suggests"),
        ("AssertionError: DP adjusted local rank 3 is out of bounds for 0 devices.\n",
         "device.nvidia-node-missing", "suggests"),
        ("AssertionError: DP adjusted local rank 2 is out of bounds. \n", "vllm.tp-exceeds-visible-gpus", "suggests"),
        ("AssertionError: local_world_size (4) must be less than or equal to the number of visible devices (2).\n",
         "vllm.tp-exceeds-visible-gpus", "suggests"),
        # vllm/device_allocator/cumem.py CuMemAllocator.__init__ assert message
        ("AssertionError: Expandable segments are not compatible with memory pool. Please track "
         "https://github.com/pytorch/pytorch/issues/147851 for the latest updates.\n", "env.invalid-value",
         "suggests"),
        # runc libcontainer/rootfs_linux.go 'error mounting %q to rootfs at %q: %w' for a versioned driver library
        # of a static CDI spec (runc 1.2 mountError text), and crun's 'mount `%s` to `%s`'
        ('docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI '
         'runtime create failed: runc create failed: unable to start container process: error during container init: '
         'error mounting "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15" to rootfs at '
         '"/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15": mount src=/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15, '
         'dst=/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15, dstFd=/proc/thread-self/fd/8, '
         'flags=MS_RDONLY|MS_NOSUID|MS_NODEV|MS_BIND|MS_REC: no such file or directory: unknown\n',
         "runtime.cdi-spec-stale", "suggests"),
        ("Error: crun: mount `/usr/lib64/libnvidia-ml.so.570.86.15` to `/usr/lib64/libnvidia-ml.so.570.86.15`: No such "
         "file or directory: OCI runtime attempted to invoke a command that was not found\n",
         "runtime.cdi-spec-stale", "suggests"),
        # vllm/platforms/cuda.py device_id_to_physical_device_id RuntimeError with the Ray hint (v0.6.3+)
        ("RuntimeError: CUDA_VISIBLE_DEVICES is set to empty string, which means GPU support is disabled. If you are "
         "using ray, please unset the environment variable `CUDA_VISIBLE_DEVICES` inside the worker/actor. Check "
         "https://github.com/vllm-project/vllm/issues/8402 for more information.\n",
         "cuda.visible-devices-mismatch", "proves"),
        # runc Hooks.Run 'error running %s hook #%d: %w' + Go os/exec 'fork/exec %s: %v' for the CDI spec's hook
        # binary (nvidia-cdi-hook since toolkit 1.17, `nvidia-ctk hook` before)
        ("docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
         "runtime create failed: runc create failed: unable to start container process: error during container init: "
         "error running createContainer hook #1: fork/exec /usr/bin/nvidia-cdi-hook: no such file or directory: "
         "unknown\n", "runtime.nvidia-toolkit-missing", "proves"),
        # sglang srt/utils.py get_nvgpu_memory_capacity FileNotFoundError branch
        ("RuntimeError: nvidia-smi not found. Ensure NVIDIA drivers are installed and accessible.\n",
         "runtime.nvidia-toolkit-missing", "suggests"),
        # the k8s device plugin's volume-mounts directory (server.go deviceListAsVolumeMountsContainerPathRoot) read as
        # a device by libnvidia-container (src/cli/common.c select_devices 'unknown device')
        ("nvidia-container-cli: device error: /var/run/nvidia-container-devices: unknown device: unknown\n",
         "k8s.gpu-resource-unavailable", "suggests"),
        # NCCL src/transport/p2p.cc:236 @v2.28.9-1 WARN("cudaIpcGetMemHandle failed : %s", cudaGetErrorString(801))
        ("node1:123:456 [0] transport/p2p.cc:236 NCCL WARN cudaIpcGetMemHandle failed : operation not supported\n",
         "nccl.p2p-unsupported", "suggests"),
    ],
)
def test_a_newest_stack_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    "root_line",
    [
        # torch TCPStoreLibUvBackend.cpp makeWithPort: "...failed to bind. port: {}, useIpv6: {}, code: {}, name: {},
        # message: {}" (uv_err_name/uv_strerror of UV_EADDRINUSE) and the listen form of torch 2.4
        "torch.distributed.DistNetworkError: The server socket has failed to bind. port: 29500, useIpv6: false, "
        "code: -98, name: EADDRINUSE, message: address already in use",
        "torch.distributed.DistNetworkError: The server socket has failed to listen on any local network address. "
        "port: 29500, useIpv6: false, code: -98, name: EADDRINUSE, message: address already in use",
        # legacy socket.cpp (torch <= 2.3): 'failed to listen on any local network address.' + per-address bind errors
        "RuntimeError: The server socket has failed to listen on any local network address. The server socket has "
        "failed to bind to [::]:29500 (errno: 98 - Address already in use).",
    ],
)
def test_a_busy_store_port_is_the_root_not_the_network(tmp_path: Path, root_line: str) -> None:
    # another rank's connect failure alone would suggest network.wrong-interface (dist.store-connect-failed)
    connect = ("torch.distributed.DistNetworkError: The client socket has failed to connect to [localhost]:29500 "
               "(errno: 111 - Connection refused).\n")
    assert _findings(tmp_path, connect) == [("network.wrong-interface", "suggests")]
    assert _findings(tmp_path, root_line + "\n" + connect) == []


@pytest.mark.parametrize(
    "root_line",
    [
        # vllm/v1/worker/gpu_worker.py init_device ValueError, with and without the device name
        "ValueError: Free memory on device (14.2/79.19 GiB) on startup is less than desired GPU memory utilization "
        "(0.9, 71.27 GiB). Decrease GPU memory utilization or reduce GPU memory used by other processes.",
        "ValueError: Free memory on device cuda:0 (5.15/23.52 GiB) on startup is less than desired GPU memory "
        "utilization (0.85, 19.99 GiB).",
        # vllm/v1/core/kv_cache_utils.py check_enough_kv_cache_memory
        "ValueError: To serve at least one request with the models's max seq len (131072), (16.00 GiB KV cache is "
        "needed, which is larger than the available KV cache memory (8.50 GiB). Based on the available memory, the "
        "estimated maximum model length is 69632.",
        "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
        "initializing the engine.",
        # sglang model_runner.py init_torch_distributed / init_memory_pool
        "ValueError: The memory capacity is unbalanced. Some GPUs may be occupied by other processes.",
        "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.",
    ],
)
def test_a_memory_refusal_is_the_root_of_a_failed_start(tmp_path: Path, root_line: str) -> None:
    # NCCL's generic 'unhandled system error' alone points at /dev/shm (downstream); with the memory refusal
    # first it is a failure with no container cause, and the downstream guess is dropped.
    downstream = "RuntimeError: NCCL error: unhandled system error (run with NCCL_DEBUG=INFO for details)\n"
    assert _findings(tmp_path, downstream), "the downstream line must suggest something on its own"
    assert _findings(tmp_path, root_line + "\n" + downstream) == []


@pytest.mark.parametrize(
    "text",
    [
        # torch ProcessGroupNCCL.cpp (2.3+) warning when no device_id is given: healthy runs print it
        "[rank1]:[W1201 10:00:00.000000000 ProcessGroupNCCL.cpp:4843] [PG ID 0 PG GUID 0 Rank 1]  using GPU 1 as "
        "device used by this process is currently unknown. This can potentially cause a hang if this rank to GPU "
        "mapping is incorrect. You can pecify device_id in init_process_group() to force use of a particular device.",
        # torch's deprecation warnings for the old NCCL variable names
        "[W1201 10:00:00.000000000 ProcessGroupNCCL.cpp:1000] Warning: TORCH_NCCL_AVOID_RECORD_STREAMS is the default "
        "now, this environment variable is thus deprecated. (function operator())",
        "Warning: NCCL_ASYNC_ERROR_HANDLING is deprecated, use TORCH_NCCL_ASYNC_ERROR_HANDLING instead (function "
        "getCvarInt)",
        # the toolkit's info lines (internal/info/auto.go ResolveRuntimeMode)
        "time=\"2025-06-01T10:00:00Z\" level=info msg=\"Auto-detected mode as 'jit-cdi'\"",
        "time=\"2025-06-01T10:00:00Z\" level=info msg=\"Using requested mode 'cdi'\"",
        # vLLM start-up with TP 2 on PCIe GPUs
        "INFO 01-01 00:00:00 [__init__.py:235] Automatically detected platform cuda.",
        "WARNING 01-01 00:00:00 [custom_all_reduce.py:137] Custom allreduce is disabled because it's not supported on "
        "more than two PCIe-only GPUs. To silence this warning, specify disable_custom_all_reduce=True explicitly.",
        # SGLang 0.5 only warns about unequal free memory unless SGLANG_ENABLE_TP_MEMORY_INBALANCE_CHECK is set
        "[2025-06-01 10:00:00 TP0] The memory capacity is unbalanced. Some GPUs may be occupied by other processes. "
        "min_per_gpu_memory=18.0, local_gpu_memory=22.5, local_gpu_memory * 0.9=20.2",
        # an unrelated 'ignoring' warning from nvidia-ctk runtime configure
        "WARN[0000] Ignoring unsupported config mode for docker: \"cdi\"",
        # a runc mount failure of a user's volume, not a driver file
        'error mounting "/data/models" to rootfs at "/models": no such file or directory',
    ],
)
def test_healthy_newest_stack_lines_stay_clean(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text + "\n") == []


@pytest.mark.parametrize(
    "name", ["healthy-vllm-v1-tp2.log", "healthy-sglang-0.5-tp2.log", "healthy-toolkit-jit-cdi.log"]
)
def test_healthy_newest_stack_startups_stay_clean(tmp_path: Path, name: str) -> None:
    text = (ROOT / "tests/data/explain-grecent" / name).read_text()
    assert len(text.splitlines()) >= 4
    assert _findings(tmp_path, text) == []
    # the same start-up with a failure appended is still read (the healthy lines do not mask it)
    failed = text + "RuntimeError: CUDA_VISIBLE_DEVICES is set to empty string, which means GPU support is disabled.\n"
    assert _findings(tmp_path, failed)[:1] == [("cuda.visible-devices-mismatch", "proves")]


def test_the_unbalanced_warning_does_not_hide_a_real_cause(tmp_path: Path) -> None:
    # the warning (not raised) must not act as a root that drops a downstream-only cause
    warn = ("[2025-06-01 10:00:00 TP0] The memory capacity is unbalanced. Some GPUs may be occupied by other "
            "processes. min_per_gpu_memory=18.0, local_gpu_memory=22.5, local_gpu_memory * 0.9=20.2\n")
    downstream = "RuntimeError: NCCL error: unhandled system error (run with NCCL_DEBUG=INFO for details)\n"
    assert _findings(tmp_path, warn + downstream) == _findings(tmp_path, downstream) != []
    assert not any("sglang.memory-capacity-unbalanced" in n for n in _notes(tmp_path, warn + downstream))


def _grecent_signatures() -> list[dict[str, object]]:
    text = (ROOT / "src/tpdoctor/data/signatures.yaml").read_text()
    start = text.index("  # --- grecent ---")
    ends = [i for i in (text.find("\n  # --- ", start + 1), text.find("\nfacts:\n", start)) if i != -1]
    block = text[start:min(ends)]
    sigs = yaml.safe_load("signatures:\n" + block)["signatures"]
    assert isinstance(sigs, list)
    return sigs


def test_every_grecent_signature_cites_a_versioned_upstream_source() -> None:
    sigs = _grecent_signatures()
    assert len(sigs) >= 15
    for sig in sigs:
        source = str(sig["source"])
        assert "/" in source and any(ch.isdigit() for ch in source), sig["id"]
        assert sig["examples"], sig["id"]
        assert sig.get("causes") or sig.get("root") == "not-container", sig["id"]


def test_a_quoted_docker_run_without_gpus_selects_the_missing_request(tmp_path: Path) -> None:
    # vLLM V1's zero-device assertion joins the "no GPU" symptoms of explain/differential.py: the quoted command
    # (no --gpus / CDI device) selects the cause
    text = ("$ docker run --rm -p 8000:8000 vllm/vllm-openai:v0.10.1 --model Qwen/Qwen3-8B --tensor-parallel-size 2\n"
            "AssertionError: DP adjusted local rank 0 is out of bounds for 0 devices.\n")
    assert _findings(tmp_path, text)[:1] == [("device.nvidia-node-missing", "suggests")]
    log = tmp_path / "q.log"
    log.write_text(text)
    assert "without any GPU request" in explain([str(log)]).findings[0].message


def test_a_quoted_gpu_count_below_dp_tp_selects_the_size(tmp_path: Path) -> None:
    text = ("$ docker run --rm --gpus '\"device=0\"' vllm/vllm-openai:v0.10.1 --model Qwen/Qwen3-8B "
            "--tensor-parallel-size 2 --data-parallel-size 2\n"
            "AssertionError: DP adjusted local rank 2 is out of bounds. \n")
    assert _findings(tmp_path, text)[:1] == [("vllm.tp-exceeds-visible-gpus", "suggests")]


def test_sglang_set_device_context_line_gives_the_mask_and_tp_size(tmp_path: Path) -> None:
    # sglang model_runner.py init_torch_distributed logs, when set_device fails,
    # f"Context: {self.device=} {self.gpu_id=} {os.environ.get('CUDA_VISIBLE_DEVICES')=} {self.tp_rank=} {self.tp_size=}"
    # before re-raising; the mask and the size are facts the GPU-count differential compares
    text = ("[2025-09-01 10:00:05 TP1] Context: self.device='cuda' self.gpu_id=1 "
            "os.environ.get('CUDA_VISIBLE_DEVICES')='0' self.tp_rank=1 self.tp_size=2\n"
            "[2025-09-01 10:00:05 TP1] Scheduler hit an exception: Traceback (most recent call last):\n"
            "torch.AcceleratorError: CUDA error: invalid device ordinal\n")
    assert _findings(tmp_path, text)[:1] == [("vllm.tp-exceeds-visible-gpus", "suggests")]


def test_the_volume_mounts_directory_is_not_a_wrong_index(tmp_path: Path) -> None:
    # an ordinary unknown index keeps nvidia.cli-unknown-device's reading; the plugin's directory drops it
    index = "nvidia-container-cli: device error: 3: unknown device: unknown\n"
    assert _findings(tmp_path, index)[:1] == [("cuda.visible-devices-mismatch", "proves")]
    directory = "nvidia-container-cli: device error: /var/run/nvidia-container-devices: unknown device: unknown\n"
    assert "cuda.visible-devices-mismatch" not in [c for c, _ in _findings(tmp_path, directory)]
