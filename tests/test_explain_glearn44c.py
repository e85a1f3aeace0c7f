"""Issue 13, heldout44 lessons (glearn44c): proxied local endpoints, kubelet admission on a fresh node, DCGM and MIG
monitoring in containers, one HF datasets cache built by parallel jobs, framework-chosen device indexes.

Lines are written from the format strings that print them (not copied from the heldout44 logs): httpx's request log
('HTTP Request: %s %s "%s %d %s"') and aiohttp's ClientResponseError ('{status}, message={message!r}, url={url!r}')
for a gateway error from a local URL (a cause only beside a proxy variable); the kubelet's admission reason
'OutOf%s' (predicate.go); DCGM_ST_REQUIRES_ROOT as dcgmi, go-dcgm (both casings) and the bare status string with
dcgm-exporter named; the MIG monitor permission told in words; the datasets builder's '.incomplete' shard missing;
PyTorch Lightning 0.7's own 'VISIBLE GPUS:' mask and nvdiffrast's EGL rasterizer next to 'invalid device ordinal'.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings

PROXY = "export http_proxy=http://10.1.2.3:3128\nexport https_proxy=http://10.1.2.3:3128\n"


@pytest.mark.parametrize(
    "line",
    [
        # httpx (the OpenAI client's transport), each gateway status and local host form
        'HTTP Request: POST http://127.0.0.1:8000/v1/chat/completions "HTTP/1.1 502 Bad Gateway"\n',
        'HTTP Request: GET http://localhost:11434/api/tags "HTTP/1.1 503 Service Unavailable"\n',
        'HTTP Request: POST http://0.0.0.0:30000/generate "HTTP/1.1 504 Gateway Timeout"\n',
        # aiohttp's ClientResponseError: URL('...') before 3.9, the str after
        "aiohttp.client_exceptions.ClientResponseError: 502, message='Bad Gateway', "
        "url=URL('http://localhost:8000/v1/completions')\n",
        "aiohttp.client_exceptions.ClientResponseError: 502, message='Bad Gateway', url='http://127.0.0.1:8000/health'\n",
    ],
)
def test_local_gateway_error_with_proxy_env(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, PROXY + line)[:1] == [("network.proxy-intercepts-local", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # no proxy variable: a local reverse proxy or router answers the same (a record, no cause)
        'HTTP Request: POST http://127.0.0.1:8000/v1/chat/completions "HTTP/1.1 502 Bad Gateway"\n',
        # a public host behind the proxy is no local call
        PROXY + 'HTTP Request: POST https://api.openai.com/v1/chat/completions "HTTP/1.1 502 Bad Gateway"\n',
        # no_proxy covers loopback
        PROXY + "export no_proxy=localhost,127.0.0.1\n"
        'HTTP Request: POST http://127.0.0.1:8000/v1/chat/completions "HTTP/1.1 502 Bad Gateway"\n',
        # a healthy answer
        PROXY + 'HTTP Request: POST http://127.0.0.1:8000/v1/chat/completions "HTTP/1.1 200 OK"\n',
    ],
)
def test_local_gateway_error_neighbours_clean(tmp_path: Path, text: str) -> None:
    assert "network.proxy-intercepts-local" not in causes(tmp_path, text)


@pytest.mark.parametrize(
    "line",
    [
        # kubectl get pods' STATUS column, describe's Reason, the event's reason
        "vllm-7d9f8c6b5-x2k4p   0/1   OutOfnvidia.com/gpu   0   41s   <none>   ip-10-0-3-17.ec2.internal   <none>\n",
        "Reason:       OutOfnvidia.com/gpu\n",
        "Warning  OutOfamd.com/gpu  12s  kubelet  Pod was rejected by the kubelet's admission\n",
        "Status: Failed  Reason: OutOfgpu.intel.com/i915\n",
        "Warning  OutOfnvidia.com/mig-1g.10gb  3s  kubelet  Pod was rejected by the kubelet\n",
    ],
)
def test_kubelet_outof_gpu_resource(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line)[:1] == [("k8s.gpu-resource-unavailable", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        "web-5c9d   0/1   OutOfcpu   0   10s\n",
        "Reason:  OutOfmemory\n",
        "Warning  OutOfpods  2s  kubelet  Node didn't have enough resource: pods\n",
    ],
)
def test_kubelet_outof_other_resources_clean(tmp_path: Path, line: str) -> None:
    assert "k8s.gpu-resource-unavailable" not in causes(tmp_path, line)


@pytest.mark.parametrize(
    "text",
    [
        # dcgmi's own wording of DCGM_ST_REQUIRES_ROOT
        "Error setting watches. Result: -29: Unable to watch one or more of the requested fields because doing so "
        "requires the host engine to be running as root.\n",
        # go-dcgm's lower-case wrap (newer), through dcgm-exporter 4's slog line
        'level=ERROR msg="Failed to watch DCGM fields" field_ids="[100 101 1001]" '
        'error="error watching fields: Host engine is running as non-root"\n',
        # the bare status string, in a report that names the exporter
        "Deploying dcgm-exporter.yaml, the pod does not start: host engine is running as non-root\n",
        "image: nvcr.io/nvidia/k8s/dcgm-exporter:3.3.8-3.6.0-ubuntu22.04\nError: Host engine is running as non-root\n",
    ],
)
def test_dcgm_non_root(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [("nvidia.profiling-restricted", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # the status without the exporter named: no cause
        "host engine is running as non-root\n",
        # the embedded engine refusing to start (sdk samples): glearn24a's neighbour
        "dcgm-exporter test harness\nError starting embedded DCGM engine. Return: Host engine is running as non-root\n",
        # a healthy exporter
        'time="2024-09-26T04:12:34Z" level=info msg="Starting dcgm-exporter"\n',
    ],
)
def test_dcgm_non_root_neighbours_clean(tmp_path: Path, text: str) -> None:
    assert "nvidia.profiling-restricted" not in causes(tmp_path, text)


@pytest.mark.parametrize(
    "line",
    [
        "The device plugin pod crashes: the log says it doesn't have sufficient permissions to call the MIG devices.\n",
        "gpu-feature-discovery has insufficient permissions to query the MIG devices\n",
        "It seems the plugin does not have enough permissions to list MIG instances.\n",
        "Insufficient Permissions while reading the MIG devices of GPU 0\n",
    ],
)
def test_mig_devices_permission_prose(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line)[:1] == [("nvidia.mig-monitor-denied", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        # enabling or creating MIG is an admin operation, not the monitor capability
        "I don't have sufficient permissions to enable MIG mode on the GPU.\n",
        "The user has insufficient permissions to create MIG devices without root.\n",
        # permissions without MIG
        "The container doesn't have sufficient permissions to write the log file.\n",
    ],
)
def test_mig_devices_permission_neighbours_clean(tmp_path: Path, line: str) -> None:
    assert "nvidia.mig-monitor-denied" not in causes(tmp_path, line)


@pytest.mark.parametrize(
    "text",
    [
        # ENOENT on a shard inside the builder's .incomplete directory, on one line
        "FileNotFoundError: [Errno 2] No such file or directory: '/home/u/.cache/huggingface/datasets/json/"
        "default-9f8e/0.0.0/7a6b.incomplete/json-train-00000-00000-of-00004.arrow'\n",
        # the builder's OSError with its original error and the path wrapped onto the next line
        "OSError: Cannot find data file.\nOriginal error: [Errno 2] No such file or directory:\n"
        "'/scratch/hf/datasets/parquet/default-1c2d/0.0.0/5e6f.incomplete/parquet-validation-00001-00000-of-00002.arrow'\n",
        # pyarrow's ENOENT, the path on the next line
        "FileNotFoundError: [Errno 2] Failed to open local file\n"
        "'/home/u/.cache/huggingface/datasets/csv/default-aa11/0.0.0/bb22.incomplete/csv-train-00000-of-00001.arrow'\n",
    ],
)
def test_hf_datasets_incomplete_shard_missing(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [("fs.data-cache-shared-fs", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # a healthy build prints the finished cache, and the .incomplete path alone is no failure
        "Generating train split: 100%|##########| 1000/1000\n"
        "'/home/u/.cache/huggingface/datasets/json/default-9f8e/0.0.0/7a6b.incomplete/json-train.arrow'\n",
        # a missing user file that is no cache shard
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/train.jsonl'\n",
        # the builder's OSError without a .incomplete path (a missing manual download)
        "OSError: Cannot find data file. Please download the data manually.\nOriginal error:\n[Errno 2] No such file\n",
    ],
)
def test_hf_datasets_neighbours_clean(tmp_path: Path, text: str) -> None:
    assert "fs.data-cache-shared-fs" not in causes(tmp_path, text)


TRACE = (
    "Traceback (most recent call last):\n"
    '  File "train.py", line 12, in <module>\n'
    "RuntimeError: CUDA error: invalid device ordinal\n"
)


@pytest.mark.parametrize(
    "text",
    [
        # Lightning 0.7's own mask of host ids above 0, then the host id used
        "INFO:lightning:GPU available: True, used: True\nINFO:lightning:VISIBLE GPUS: 2,3\n" + TRACE,
        "INFO:lightning:VISIBLE GPUS: 4\n"
        "THCudaCheck FAIL file=/pytorch/torch/csrc/cuda/Module.cpp line=59 error=101 : invalid device ordinal\n",
        # nvdiffrast's GL rasterizer under a mask
        "CUDA_VISIBLE_DEVICES=2 python render.py\n"
        '  File "/opt/nvdiffrast/nvdiffrast/torch/ops.py", line 246, in rasterize\n' + TRACE,
        "glctx = dr.RasterizeGLContext()\nCUDA_VISIBLE_DEVICES=1\n" + TRACE,
    ],
)
def test_framework_chosen_index_not_visible_devices_mismatch(tmp_path: Path, text: str) -> None:
    assert "cuda.visible-devices-mismatch" not in causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # the mask starts at 0: Lightning's ids are the process's own, a mismatch stays named
        "INFO:lightning:VISIBLE GPUS: 0,1\n" + TRACE,
        # no framework record
        "CUDA_VISIBLE_DEVICES=1\n" + TRACE,
    ],
)
def test_invalid_ordinal_without_framework_still_named(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text)[:1] == ["cuda.visible-devices-mismatch"]
