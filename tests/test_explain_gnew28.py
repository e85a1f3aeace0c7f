"""Issue 13, gnew28: cause ids for container/host causes heldout27's collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- network.proxy-intercepts-local: urllib3's ProxyError ('Unable to connect to proxy' 2.x, 'Cannot connect to proxy.'
  1.26, 'Tunnel connection failed: <code> <reason>') inside MaxRetryError ('<Pool>(host=<h!r>, port=<p!r>): Max retries
  exceeded with url: <url> (Caused by <reason!r>)') for a local or private target; requests' raise_for_status
  ('<code> Client Error: <reason> for url: <url>') with a proxy's 407 for a local URL; gRPC's HTTP CONNECT handshaker
  ('HTTP proxy returned response code <code>', 'Connecting to server <target> via HTTP proxy <peer>'); a proxy variable
  in the environment beside TRL's 'The vLLM server can't be reached at ...', a 502 from a local URL or a TCPStore
  timeout (modelscope/ms-swift#5545).
- host.wsl2-multi-gpu-limited: the WSL records (the '-microsoft-standard-WSL2' kernel release, vLLM's WSL warning, the
  words) beside a multi-GPU failure (peer access, vLLM's custom all-reduce, NCCL's P2P/IPC/cuMem set-up, NCCL's
  unhandled CUDA error) or a hang (vllm-project/vllm#3710).
- k8s.gpu-sharing-interposer: HAMi-core's log prefixes (src/include/log_utils.h), libvgpu.so preloaded, HAMi's
  CUDA_DEVICE_MEMORY_* environment beside an NCCL cuMem/IPC failure or a hang (Project-HAMi/HAMi#2641).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from tpdoctor.explain.signatures import knowledge_base

_PROXY = "network.proxy-intercepts-local"
_WSL = "host.wsl2-multi-gpu-limited"
_SHARE = "k8s.gpu-sharing-interposer"


def _correlation_ids() -> set[str]:
    return {c.id for c in knowledge_base().correlations}


# --- network.proxy-intercepts-local -------------------------------------------------------------------------------

_PROXY_ERRORS = [
    # urllib3 2.x through a forwarding proxy: the pool is the proxy's, the url the whole local target
    "requests.exceptions.ProxyError: HTTPConnectionPool(host='proxy.corp.example', port=3128): Max retries exceeded "
    "with url: http://127.0.0.1:8000/init_communicator/ (Caused by ProxyError('Unable to connect to proxy', "
    "NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f11c0a3b2d0>: Failed to establish a new "
    "connection: [Errno 111] Connection refused')))\n",
    # urllib3 2.x through a tunnel (an https target): the pool is the target's, the url its path
    "requests.exceptions.ProxyError: HTTPSConnectionPool(host='localhost', port=8443): Max retries exceeded with url: "
    "/v1/completions (Caused by ProxyError('Unable to connect to proxy', OSError('Tunnel connection failed: 502 Bad "
    "Gateway')))\n",
    # urllib3 1.26
    "urllib3.exceptions.MaxRetryError: HTTPConnectionPool(host='10.8.0.1', port=8080): Max retries exceeded with url: "
    "http://192.168.10.21:30000/health (Caused by ProxyError('Cannot connect to proxy.', NewConnectionError("
    "'<urllib3.connection.HTTPConnection object at 0x7f0e>: Failed to establish a new connection: [Errno 110] "
    "Connection timed out')))\n",
    # a cluster service name
    "requests.exceptions.ProxyError: HTTPConnectionPool(host='squid', port=3128): Max retries exceeded with url: "
    "http://vllm-router.inference.svc.cluster.local:8000/v1/models (Caused by ProxyError('Unable to connect to "
    "proxy', RemoteDisconnected('Remote end closed connection without response')))\n",
    # requests' raise_for_status: only a proxy answers 407
    "requests.exceptions.HTTPError: 407 Client Error: Proxy Authentication Required for url: "
    "http://127.0.0.1:8000/update_named_param/\n",
    # gRPC's HTTP CONNECT handshaker
    "E1204 09:12:44.118203  5521 http_connect_handshaker.cc:112] HTTP proxy handshake with ipv4:10.9.0.4:3128 failed: "
    "UNKNOWN: HTTP proxy returned response code 403\n",
    "I1204 09:12:44.100001  5521 http_connect_handshaker.cc:345] Connecting to server 10.0.0.12:6379 via HTTP proxy "
    "ipv4:10.9.0.4:3128\n",
]


@pytest.mark.parametrize("line", _PROXY_ERRORS)
def test_proxy_error_for_local_target_names_proxy(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (_PROXY, "suggests"), got


_ENV = [
    "export http_proxy=http://proxy.corp.example:3128\nexport https_proxy=http://proxy.corp.example:3128\n",
    "HTTPS_PROXY=http://10.9.0.4:3128\n",
    "docker run --gpus all -e ALL_PROXY=socks5h://127.0.0.1:1080 -p 8000:8000 vllm/vllm-openai\n",
    "{'http_proxy': 'http://proxy.corp.example:3128', 'LOCAL_RANK': '0'}\n",
]

_LOCAL_FAILURES = [
    # TRL / ms-swift VLLMClient.check_server_health
    "ConnectionError: The vLLM server can't be reached at 127.0.0.1:8000 after 240.0 seconds. Make sure the server "
    "is running by running `trl vllm-serve`.\n",
    # a gateway error from a local URL
    "requests.exceptions.HTTPError: 502 Server Error: Bad Gateway for url: http://localhost:8000/health/\n",
    # the rendezvous the proxied call should have started (ms-swift#5545)
    "[rank0]: torch.distributed.DistNetworkError: The client socket has timed out after 300000ms while trying to "
    "connect to (127.0.0.1, 51216).\n",
]


@pytest.mark.parametrize("env", _ENV)
@pytest.mark.parametrize("failure", _LOCAL_FAILURES)
def test_proxy_env_beside_local_failure_names_proxy(tmp_path: Path, env: str, failure: str) -> None:
    got = _causes(tmp_path, env + failure)
    assert got[:1] == [_PROXY], got


@pytest.mark.parametrize(
    "no_proxy",
    [
        "export no_proxy=localhost,127.0.0.1,::1\n",
        "NO_PROXY=127.0.0.1,.svc,.cluster.local\n",
        "export no_proxy='*'\n",
    ],
)
@pytest.mark.parametrize("failure", _LOCAL_FAILURES)
def test_no_proxy_for_loopback_keeps_it_off(tmp_path: Path, no_proxy: str, failure: str) -> None:
    assert "proxy-env-local-server-unreachable" in _correlation_ids()
    text = _ENV[0] + no_proxy + failure
    assert _PROXY not in _all(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # a public host behind the proxy (a download) is no local call
        "requests.exceptions.ProxyError: HTTPSConnectionPool(host='huggingface.co', port=443): Max retries exceeded "
        "with url: /api/models/Qwen/Qwen2-7B (Caused by ProxyError('Unable to connect to proxy', OSError('Tunnel "
        "connection failed: 407 Proxy Authentication Required')))\n",
        # a local proxy (Clash on 127.0.0.1:7890) in front of a public host
        "requests.exceptions.ProxyError: HTTPConnectionPool(host='127.0.0.1', port=7890): Max retries exceeded with "
        "url: http://download.pytorch.org/whl/cu121 (Caused by ProxyError('Unable to connect to proxy', "
        "NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new "
        "connection: [Errno 111] Connection refused')))\n",
        "requests.exceptions.ProxyError: HTTPSConnectionPool(host='huggingface.co', port=443): Max retries exceeded "
        "with url: /api/models (Caused by ProxyError('Cannot connect to proxy.', OSError('Tunnel connection failed: "
        "503 Service Unavailable')))\n",
        # the proxy variables alone, an empty one, and no_proxy
        _ENV[0],
        "export http_proxy=\nexport HTTPS_PROXY=\n",
        # a local failure without a proxy in the log
        _LOCAL_FAILURES[0],
        _LOCAL_FAILURES[1],
        # a 502 from a public URL with the proxy set
        _ENV[0] + "requests.exceptions.HTTPError: 502 Server Error: Bad Gateway for url: https://api.example.com/v1\n",
        # a 404 for a local URL is the server's own answer
        "requests.exceptions.HTTPError: 404 Client Error: Not Found for url: http://127.0.0.1:8000/v1/model\n",
        # http_proxy in a word, not an assignment
        "NCCL_SOCKET_IFNAME=eth0 (no http_proxy configured)\n" + _LOCAL_FAILURES[0],
    ],
)
def test_proxy_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    kb = knowledge_base()
    assert kb.signature("proxy.local-target-proxy-error") and kb.signature("http.local-url-proxy-auth")
    assert _PROXY not in _all(tmp_path, text)


# --- host.wsl2-multi-gpu-limited ------------------------------------------------------------------------------------

_WSL_SHOWN = [
    "Python platform: Linux-5.15.153.1-microsoft-standard-WSL2-x86_64-with-glibc2.35\n",
    "WARNING 11-20 10:01:02 [interface.py:380] Using 'pin_memory=False' as WSL is detected. This may slow down the "
    "performance.\n",
    "I run the vllm/vllm-openai container on Docker Desktop with the WSL2 backend, two RTX 4090.\n",
]

_MULTI_GPU_FAILURES = [
    "(VllmWorker rank=1 pid=311) RuntimeError: CUDA error: peer access is not supported between these two devices\n",
    "host:412:498 [1] transport/p2p.cc:236 NCCL WARN cudaIpcGetMemHandle failed : operation not supported\n",
    "host:412:498 [0] NCCL INFO transport/p2p.cc:352 -> 1\n",
    "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1970, "
    "unhandled cuda error (run with NCCL_DEBUG=INFO for details), NCCL version 2.20.5\n",
    "[rank0]: RuntimeError: Error happened when batch testing peer-to-peer access from (0, 0, 1, 1) to (0, 1, 0, 1):\n",
    # NCCL's topology detection without a PCI path (src/graph/xml.cc getPciPath; NVIDIA/nccl#442)
    "DESKTOP:36629:36635 [0] graph/xml.cc:332 NCCL WARN Could not find real path of "
    "/sys/class/pci_bus/0000:21/../../0000:21:00.0\n",
]


@pytest.mark.parametrize("wsl", _WSL_SHOWN)
@pytest.mark.parametrize("failure", _MULTI_GPU_FAILURES)
def test_wsl_beside_multi_gpu_failure_names_wsl(tmp_path: Path, wsl: str, failure: str) -> None:
    got = _causes(tmp_path, wsl + failure)
    assert got[:1] == [_WSL], got


@pytest.mark.parametrize("wsl", _WSL_SHOWN)
def test_wsl_custom_allreduce_failure_names_wsl_beside_it(tmp_path: Path, wsl: str) -> None:
    # vLLM's custom all-reduce failing is proven by its own line (vllm.custom-allreduce-p2p leads); WSL is why
    text = wsl + (
        "Failed: Cuda error /workspace/csrc/custom_all_reduce.cuh:307 'peer access is not supported between these two "
        "devices'\n"
    )
    got = _causes(tmp_path, text)
    assert got[:2] == ["vllm.custom-allreduce-p2p", _WSL], got


@pytest.mark.parametrize("wsl", _WSL_SHOWN)
def test_wsl_hang_names_wsl(tmp_path: Path, wsl: str) -> None:
    text = wsl + (
        "[rank0]:[E1120 08:11:02.000000 ProcessGroupNCCL.cpp:632] [Rank 0] Watchdog caught collective operation "
        "timeout: WorkNCCL(SeqNum=1, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran for 600010 "
        "milliseconds before timing out.\n"
    )
    assert _causes(tmp_path, text)[:1] == [_WSL]


@pytest.mark.parametrize(
    "text",
    [
        # a single-GPU stall in the user's words under WSL: nothing says the run is multi-GPU
        _WSL_SHOWN[0] + "vLLM hangs while loading the model on my RTX 4090\n",
        # WSL alone: a healthy single-GPU run prints it
        _WSL_SHOWN[1] + "INFO 11-20 10:01:40 [gpu_worker.py:298] Available KV cache memory: 11.02 GiB\n",
        _WSL_SHOWN[0],
        # NCCL's own record of the missing IPC (it then turns P2P off and carries on)
        _WSL_SHOWN[0] + "host:412:498 [0] NCCL INFO Legacy IPC not supported\n",
        # NCCL without a PCI path outside WSL (a container with a masked /sys) is no WSL limitation
        "host:7:9 [0] graph/xml.cc:419 NCCL WARN Could not find real path of /sys/class/pci_bus/0000:21/../../0000:21:00.0\n",
        # WSL with a single-GPU failure that is not the platform's
        _WSL_SHOWN[0] + "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
        "capacity of 23.99 GiB of which 0 bytes is free.\n",
    ],
)
def test_wsl_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert knowledge_base().signature("nccl.legacy-ipc-probe-failed")
    assert _WSL not in _all(tmp_path, text)


def test_multi_gpu_failure_without_wsl_is_not_wsl(tmp_path: Path) -> None:
    assert "wsl-multi-gpu-peer-access" in _correlation_ids()
    got = _all(tmp_path, _MULTI_GPU_FAILURES[0])
    assert got and _WSL not in got


def test_wsl_without_dxg_stays_dxg_missing(tmp_path: Path) -> None:
    # no GPU at all under WSL is the /dev/dxg route not passed, not the multi-GPU limitation
    assert "wsl-multi-gpu-peer-access" in _correlation_ids()
    text = _WSL_SHOWN[0] + "ls: cannot access '/dev/dxg': No such file or directory\n"
    got = _causes(tmp_path, text)
    assert got[:1] == ["device.dxg-missing"] and _WSL not in got


# --- k8s.gpu-sharing-interposer -------------------------------------------------------------------------------------

_INTERPOSER = [
    # HAMi-core log_utils.h LOG_MSG / LOG_WARN / LOG_ERROR
    "[HAMI-core Msg(15:140108131465024:libvgpu.c:871)]: Initializing.....\n",
    "[HAMI-core Warn(15:140108131465024:libvgpu.c:913)]: SET_TASK_PID FAILED - using container PID for accounting\n",
    "[HAMI-core ERROR (pid:15 thread=140108131465024 multiprocess_memory_limit.c:519)]: Process slot not found for "
    "pid 16\n",
    # the preload and HAMi's environment
    "LD_PRELOAD=/usr/local/vgpu/libvgpu.so\n",
    "CUDA_DEVICE_MEMORY_SHARED_CACHE=/usr/local/vgpu/0b7c4b8e-3f0a-4a55-9e61-2c4f1d6a9b10.cache\n",
    "CUDA_DEVICE_MEMORY_LIMIT_0=46068m\n",
]

_NCCL_SETUP_FAILURES = [
    "host:88:120 [1] NCCL WARN Cuda failure 101 'invalid device ordinal' cuMemImportFromShareableHandle() failed\n",
    "host:88:120 [0] NCCL INFO transport/p2p.cc:352 -> 1\n",
    "proxy.cc:1168 NCCL WARN ncclProxyClientGetFd call to tpRank 1 handle 0x7f12 failed : 2\n",
    "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1970, "
    "unhandled cuda error (run with NCCL_DEBUG=INFO for details), NCCL version 2.28.9\n",
]


@pytest.mark.parametrize("shown", _INTERPOSER)
@pytest.mark.parametrize("failure", _NCCL_SETUP_FAILURES)
def test_interposer_beside_nccl_setup_failure(tmp_path: Path, shown: str, failure: str) -> None:
    got = _causes(tmp_path, shown + failure)
    assert got[:1] == [_SHARE], got


def test_interposer_hang_in_words_with_tensor_parallelism(tmp_path: Path) -> None:
    # HAMi#2641's shape: the log stops after vLLM's NCCL line, the words say it hangs, tensor parallelism is 4
    text = (
        _INTERPOSER[0]
        + "vllm serve /models/Qwen3-32B --tensor-parallel-size 4\n"
        + "INFO 11-20 08:01:02 [pynccl.py:70] vLLM is using nccl==2.28.9\n"
        + "The server hangs here forever.\n"
    )
    assert _causes(tmp_path, text)[:1] == [_SHARE]


def test_interposer_single_gpu_stall_in_words_is_not_named(tmp_path: Path) -> None:
    assert "interposer-p2p-transport" in _correlation_ids()
    text = _INTERPOSER[0] + "nvidia-smi hangs in the pod\n"
    assert _SHARE not in _all(tmp_path, text)


def test_interposer_hang_at_nccl_init(tmp_path: Path) -> None:
    text = (
        _INTERPOSER[0]
        + "[HAMI-core Msg(15:140108131465024:libvgpu.c:911)]: Initialized\n"
        + "INFO 11-20 08:01:02 [pynccl.py:70] vLLM is using nccl==2.28.9\n"
        + "[rank0]:[E1120 08:11:02.000000 ProcessGroupNCCL.cpp:632] [Rank 0] Watchdog caught collective operation "
        "timeout: WorkNCCL(SeqNum=1, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran for 600010 "
        "milliseconds before timing out.\n"
    )
    assert _causes(tmp_path, text)[:1] == [_SHARE]


@pytest.mark.parametrize(
    "text",
    [
        # the interposer in a healthy pod
        "".join(_INTERPOSER) + "INFO 11-20 08:03:10 [api_server.py:1880] Starting vLLM API server 0 on "
        "http://0.0.0.0:8000\n",
        # with a failure that is not NCCL's multi-GPU set-up (its own OOM accounting)
        _INTERPOSER[0] + "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.00 GiB.\n",
        # a disabled interposer and words that name the library without loading it
        "CUDA_DISABLE_CONTROL=true\n" + _NCCL_SETUP_FAILURES[1],
        "the libvgpu library from the HAMi image fixed it\n" + _NCCL_SETUP_FAILURES[1],
    ],
)
def test_interposer_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "interposer-p2p-transport" in _correlation_ids()
    assert _SHARE not in _all(tmp_path, text)
