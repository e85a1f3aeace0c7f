"""Issue 13, heldout53 lessons (glearn53a).

Lines are written from the code that prints them (not copied from the heldout53 logs):
- vLLM's data-parallel start-up maps each local DP rank's logical devices [rank x world, (rank + 1) x world) through
  device_id_to_physical_device_id (vllm/platforms/cuda.py: device_ids = CUDA_VISIBLE_DEVICES.split(","),
  device_ids[device_id]); v0.8.x lets the IndexError out (v1/engine/core.py DPEngineCoreProc.__init__), v0.9+ wraps it
  as 'Error setting {var}: local range: [{a}, {b}) base value: "{mask}"' (DPEngineCoreProc._set_cuda_visible_devices,
  v1/engine/utils.py get_device_indices); TRL's vllm_serve runs one llm_worker per DP rank;
- Ray's GCS health check (src/ray/gcs/gcs_health_check_manager.cc: 'Health check failed for node {}, remaining checks
  {}, status {}, response status {}, status message {}, status details {}', 'Node is dead because the health check
  failed.') across Docker's bridge / port mapping (GPUStack's documented 'Port Mapping' install);
- Tabby's serve defaults to --device cpu (crates/tabby/src/serve.rs default_value_t=Device::Cpu): a CPU run whose CUDA
  build still reports CUDA's 35 is the application's build, not a container without its GPU (TabbyML/tabby#711);
- the dev backlog: a quoted `docker run` without any GPU request and libcuda.so.1 not loadable names the missing
  request before the toolkit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

TP = "vllm.tp-exceeds-visible-gpus"

# --- vLLM's data-parallel device range ---


@pytest.mark.parametrize(
    "line",
    [
        # v0.9-v0.10 DPEngineCoreProc._set_cuda_visible_devices, v0.10+ get_device_indices
        'Exception: Error setting CUDA_VISIBLE_DEVICES: local range: [2, 4) base value: "0,1"',
        '(EngineCore_DP3 pid=2211) Exception: Error setting CUDA_VISIBLE_DEVICES: local range: [3, 4) base value: "0,1"',
        # the ROCm and XPU builds name their own variable
        'Exception: Error setting HIP_VISIBLE_DEVICES: local range: [4, 8) base value: "0,1,2,3"',
        'Exception: Error setting ZE_AFFINITY_MASK: local range: [1, 2) base value: "0"',
    ],
)
def test_dp_local_range_past_the_mask_names_the_count(tmp_path: Path, line: str) -> None:
    got = findings(tmp_path, line + "\n")
    assert got[:1] == [(TP, "suggests")]


TRACE_08 = """Process EngineCore_1:
Traceback (most recent call last):
  File "/usr/lib/python3.12/multiprocessing/process.py", line 314, in _bootstrap
    self.run()
  File "/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/core.py", line 373, in run_engine_core
    engine_core = DPEngineCoreProc(*args, **kwargs)
  File "/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/core.py", line 531, in __init__
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(
  File "/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/core.py", line 532, in <genexpr>
    str(device_id_to_physical_device_id(i))
  File "/usr/local/lib/python3.12/dist-packages/vllm/platforms/cuda.py", line 41, in device_id_to_physical_device_id
    physical_device_id = device_ids[device_id]
IndexError: list index out of range
"""

TRACE_TRL = """Process Process-5:
Traceback (most recent call last):
  File "/usr/lib/python3.11/multiprocessing/process.py", line 314, in _bootstrap
    self.run()
  File "/usr/lib/python3.11/multiprocessing/process.py", line 108, in run
    self._target(*self._args, **self._kwargs)
  File "/opt/venv/lib/python3.11/site-packages/trl/scripts/vllm_serve.py", line 263, in llm_worker
    llm = LLM(
{inner}IndexError: list index out of range
"""


@pytest.mark.parametrize(
    "text",
    [
        TRACE_08,
        # TRL's vllm_serve DP worker, with and without vLLM's frames in between
        TRACE_TRL.format(inner=""),
        TRACE_TRL.format(
            inner='  File "/opt/venv/lib/python3.11/site-packages/vllm/platforms/interface.py", line 180, in '
            "device_id_to_physical_device_id\n    physical_device_id = device_ids[device_id]\n"
        ),
    ],
)
def test_bare_index_error_in_the_dp_device_lookup_names_the_count(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text)[:1] == [TP]
    # the same IndexError from other code is no count problem
    other = text.replace("device_id_to_physical_device_id", "pick_bucket").replace("vllm_serve", "my_server")
    assert TP not in causes(tmp_path, other)


def test_index_error_after_the_server_came_up_is_not_the_device_lookup(tmp_path: Path) -> None:
    up = "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)\n"
    assert causes(tmp_path, TRACE_TRL.format(inner=""))[:1] == [TP]
    assert TP not in causes(tmp_path, up + TRACE_TRL.format(inner=""))
    # a different error in the lookup (a MIG UUID in the mask) is not the range overrun
    mig = TRACE_08.replace("IndexError: list index out of range", "ValueError: invalid literal for int() with base 10: 'MIG-4f1c'")
    assert TP not in causes(tmp_path, mig)
    # DCGM's "Error setting watches" shares two words and nothing else
    assert causes(tmp_path, "Error setting watches. Result: -5: Host engine is not loaded\n") == []


def test_trl_dp_size_with_underscores_is_read(tmp_path: Path) -> None:
    # TRL's HfArgumentParser flag: the data-parallel size the Ray-GPU-held rule reads as several replicas
    from tpdoctor.explain import scan_inputs

    log = tmp_path / "dp.log"
    log.write_text("$ trl vllm-serve --model Qwen/Qwen2.5-7B --tensor_parallel_size 1 --data_parallel_size 8\n", encoding="utf-8")
    assert scan_inputs([str(log)], "auto").facts.get("dp_size") == "8"


# --- Ray's GCS health check across Docker's bridge / port mapping ---

HC = (
    "[2025-04-02 10:11:12,345 W 61 61] (gcs_server) gcs_health_check_manager.cc:114: Health check failed for node "
    "7c1e0f2a9b3d, remaining checks {n}, status 14, response status 0, status message failed to connect to all "
    "addresses; last error: UNKNOWN: ipv4:{ip}:40098: Failed to connect to remote host: Connection refused, status details \n"
)
DEAD = "[2025-04-02 10:11:30,001 W 61 61] gcs_health_check_manager.cc:72: Node is dead because the health check failed. node_id=7c1e0f2a9b3d\n"


def test_health_check_to_a_bridge_address_is_the_interface(tmp_path: Path) -> None:
    text = HC.format(n=2, ip="172.17.0.3") + HC.format(n=1, ip="172.17.0.3") + DEAD
    assert findings(tmp_path, text)[:1] == [("network.wrong-interface", "suggests")]
    # host networking shown: the bridge reading does not hold
    assert "network.wrong-interface" not in causes(tmp_path, "$ docker run -d --network=host gpustack/gpustack --enable-ray\n" + text)


@pytest.mark.parametrize(
    "context",
    [
        # GPUStack's documented port-mapping install with Ray enabled
        "$ docker run -d --name gpustack --gpus all -p 10150:10150 -p 40064-40131:40064-40131 --ipc=host gpustack/gpustack --enable-ray\n",
        "We deploy GPUStack v0.6.0 in Docker port mapping mode with Ray enabled on two workers.\n",
        "在GPUStack中采用Docker端口映射模式部署并启用Ray。\n",
    ],
)
def test_health_check_in_port_mapped_containers_is_the_ports(tmp_path: Path, context: str) -> None:
    text = context + HC.format(n=1, ip="10.0.0.12") + DEAD
    assert findings(tmp_path, text)[:1] == [("network.port-blocked", "suggests")]


def test_health_check_without_container_network_stays_a_record(tmp_path: Path) -> None:
    # a raylet that died (OOM, preemption) fails the same check: no network cause without the container network
    text = HC.format(n=1, ip="10.0.0.12") + DEAD
    assert causes(tmp_path, text) == []
    # host networking with a published range in the words: not the NAT
    hostnet = "$ docker run -d --network=host -p 40064-40131:40064-40131 gpustack/gpustack --enable-ray\n"
    assert causes(tmp_path, hostnet + text) == []
    # the positive twin: the same lines with the port-mapped run
    mapped = "$ docker run -d -p 40064-40131:40064-40131 gpustack/gpustack --enable-ray\n"
    assert causes(tmp_path, mapped + text)[:1] == ["network.port-blocked"]


def test_healthy_ray_start_in_docker_stays_clean(tmp_path: Path) -> None:
    text = (
        "$ docker run -d -p 40064-40131:40064-40131 gpustack/gpustack --enable-ray\n"
        "2025-04-02 10:11:12,345 INFO scripts.py:1047 -- Local node IP: 10.0.0.12\n"
        "2025-04-02 10:11:13,001 SUCC scripts.py:1063 -- Ray runtime started.\n"
        "[2025-04-02 10:11:14,000 I 61 61] gcs_health_check_manager.cc:64: Health check status: SERVING\n"
    )
    assert causes(tmp_path, text) == []
    assert causes(tmp_path, text + HC.format(n=0, ip="10.0.0.12"))[:1] == ["network.port-blocked"]


# --- a CPU run whose CUDA build reports CUDA's 35 ---

C35 = "CUDA error 35 at /root/workspace/crates/llama-cpp-bindings/llama.cpp/ggml-cuda.cu:6047: CUDA driver version is insufficient for CUDA runtime version\n"


@pytest.mark.parametrize(
    "cmd",
    [
        # Tabby's documented CPU command: serve with no --device (default cpu)
        "$ docker run -it -p 8080:8080 -v $HOME/.tabby:/data tabbyml/tabby serve --model TabbyML/StarCoder-1B\n",
        "$ docker run -it -p 8080:8080 -v $HOME/.tabby:/data tabbyml/tabby:0.5.0 serve --model TabbyML/SantaCoder-1B\n",
        # the device asked for explicitly
        "$ docker run -it -p 8080:8080 -v $HOME/.tabby:/data tabbyml/tabby serve --model TabbyML/StarCoder-1B --device cpu\n",
    ],
)
def test_cpu_run_with_cuda_35_is_not_a_container_cause(tmp_path: Path, cmd: str) -> None:
    assert causes(tmp_path, cmd + C35) == []
    assert any("asks for the CPU" in n for n in notes(tmp_path, cmd + C35))


def test_gpu_run_with_cuda_35_still_names_the_container(tmp_path: Path) -> None:
    cpu = "$ docker run -it -p 8080:8080 -v $HOME/.tabby:/data tabbyml/tabby serve --model TabbyML/StarCoder-1B\n"
    assert causes(tmp_path, cpu + C35) == []
    # --device cuda without --gpus: the container lacks the GPU it asked for
    cuda = "$ docker run -it -p 8080:8080 -v $HOME/.tabby:/data tabbyml/tabby serve --model TabbyML/StarCoder-1B --device cuda\n"
    assert causes(tmp_path, cuda + C35)[:1] == ["device.nvidia-node-missing"]
    # --device on a continuation line: the serve line alone says nothing about the CPU
    cont = (
        "$ docker run -it -p 8080:8080 -v $HOME/.tabby:/data tabbyml/tabby serve --model TabbyML/StarCoder-1B \\\n"
        "    --device cuda\n"
    )
    assert causes(tmp_path, cont + C35)[:1] == ["device.nvidia-node-missing"]


# --- the dev backlog: no GPU request and libcuda.so.1 missing ---

LIBCUDA = "/app/bin/server: error while loading shared libraries: libcuda.so.1: cannot open shared object file: No such file or directory\n"


@pytest.mark.parametrize(
    "cmd",
    [
        "$ docker run -it --rm ghcr.io/example/imagegen:master-cuda\n",
        "$ docker run --rm -p 8080:8080 -v /models:/models ghcr.io/example/llm-server:cuda12 --model /models/m.gguf\n",
    ],
)
def test_no_gpu_request_and_no_libcuda_names_the_request_first(tmp_path: Path, cmd: str) -> None:
    got = causes(tmp_path, cmd + LIBCUDA)
    assert got[:1] == ["device.nvidia-node-missing"]
    # with a GPU request the container did ask: the toolkit (or its registration) stays the reading
    asked = cmd.replace("docker run", "docker run --gpus all")
    assert causes(tmp_path, asked + LIBCUDA)[:1] != ["device.nvidia-node-missing"]
    # a CPU run asked for stays the wrong build (g38a)
    assert causes(tmp_path, cmd.rstrip("\n") + " --device cpu\n" + LIBCUDA) == []


HEARTBEAT = (
    "2023-03-03 05:15:30,774 WARNING worker.py:1866 -- The node with node id: 9426f44574cce4866be7 and address: {ip} "
    "and node name: {ip} has been marked dead because the detector has missed too many heartbeats from it. This can "
    "happen when a       (1) raylet crashes unexpectedly (OOM, preempted node, etc.)\n"
    "        (2) raylet has lagging heartbeats due to slow network or busy workload.\n"
)


def test_heartbeat_detector_form_reads_the_same(tmp_path: Path) -> None:
    # Ray 1.x-2.3: the node marked dead by the heartbeat detector, with the address it registered
    assert causes(tmp_path, HEARTBEAT.format(ip="172.17.0.4"))[:1] == ["network.wrong-interface"]
    mapped = "$ docker run -d -p 6379:6379 -p 10000-10100:10000-10100 rayproject/ray:2.3.0-gpu ray start --head --block\n"
    assert causes(tmp_path, mapped + HEARTBEAT.format(ip="10.0.0.13"))[:1] == ["network.port-blocked"]
    # a node lost on a routed address with nothing about containers: a raylet crash or preemption as likely
    assert causes(tmp_path, HEARTBEAT.format(ip="10.0.0.13")) == []


UNABLE = (
    "2023-05-22 16:41:02,771 WARNING utils.py:1416 -- Unable to connect to GCS at {addr}. Check that (1) Ray GCS with "
    "matching version started successfully at the specified address, and (2) there is no firewall setting preventing access.\n"
)


def test_ray_unable_to_connect_gcs_names_the_network_unless_it_then_connected(tmp_path: Path) -> None:
    got = causes(tmp_path, UNABLE.format(addr="172.17.0.2:6379"))
    assert got[:1] == ["network.wrong-interface"]
    later = "2023-05-22 16:41:20,001 SUCC scripts.py:1063 -- Ray runtime started.\n"
    assert causes(tmp_path, UNABLE.format(addr="10.0.0.2:6379") + later) == []
