"""Issue 13, new cause ids from heldout24's uncovered list (gnew24).

Lines are written from the code and docs that print them (not copied from the threads):
- network.service-mesh-sidecar: a sidecar shown in the log (kubectl's "Defaulted container %q out of: %s" listing
  istio-proxy/linkerd-proxy, the injector's sidecar.istio.io/status annotation, Istio's proxyv2 image, Linkerd's
  linkerd.io/proxy-version, injection switched on, Envoy's RBAC "rbac_access_denied_matched_policy[..]" and
  "[C<n>] remote early close") beside a rank that cannot reach the store or whose connection was closed (torch
  Utils.hpp recvBytes "Failed to recv, got 0 bytes. ...", TCPStore "recvValue failed on {}: {}", socket.cpp "The
  client socket has timed out after ...", NCCL socket.cc "socketProgress: Connection closed by remote peer %s" /
  "Net : Connection closed by remote peer %s", NCCL's bootstrap.cc trace); kubeflow/trainer docs/legacy-v1.
- ray.task-without-gpu: a CUDA no-device line in a Ray worker (worker.py print_worker_logs "({name} pid={pid},
  ip={ip})", old "(pid=N)", RayTaskError) or beside Tune's "Tune detects GPUs, but no trials are using GPUs."
  (ray/tune/tune.py); Ray sets CUDA_VISIBLE_DEVICES to "" for a worker that requested none (utils.py
  set_visible_accelerator_ids, nvidia_gpu.py set_current_process_visible_accelerator_ids).
- network.duplicate-hostname: NVSHMEM's perror "IPC failure: Sending data over socket failed" with ENOENT
  (sockets.cpp; host hash = hostname only, util.cpp) and the reporter saying the nodes share a hostname.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

MESH = "network.service-mesh-sidecar"
RAY = "ray.task-without-gpu"
DUP = "network.duplicate-hostname"

# --- rank connection failures (torch c10d, NCCL), written from their format strings ---
RECV = (
    "torch.distributed.DistNetworkError: recvValue failed on SocketImpl(fd=7, addr=[{w}]:40122, remote=[{m}]:23456): "
    "Failed to recv, got 0 bytes. Connection was likely closed. Did the remote server shutdown or crash?"
)
RECV_BARE = "torch.distributed.DistNetworkError: Failed to recv, got 0 bytes. Connection was likely closed. Did the remote server shutdown or crash?"
SEND = "torch.distributed.DistNetworkError: Failed to send, sent 0 bytes. Connection was likely closed. Did the remote server shutdown or crash?"
TIMEOUT = "torch.distributed.DistNetworkError: The client socket has timed out after 1800000ms while trying to connect to (tj-node-0-0.tj, 29500)."
NCCL_CLOSED = "tj-node-1-0:88:120 [0] misc/socket.cc:58 NCCL WARN socketProgress: Connection closed by remote peer tj-node-0-0.tj<51203>"
NCCL_CLOSED_OLD = "pytorch-worker-0:61:93 [0] NCCL WARN Net : Connection closed by remote peer 10.244.1.9<38251>"
NCCL_BOOT = "pytorch-worker-0:61:93 [0] NCCL INFO bootstrap.cc:270 -> 2"

# --- the sidecar as the log shows it ---
SIDECARS = {
    "kubectl-defaulted": 'Defaulted container "pytorch" out of: pytorch, istio-proxy, istio-init (init)',
    "kubectl-defaulted-linkerd": 'Defaulted container "trainer" out of: trainer, linkerd-proxy, linkerd-init (init)',
    "status-annotation": "    sidecar.istio.io/status: '{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"],\"volumes\":[\"istio-envoy\"]}'",
    "describe-container": "  istio-proxy:\n    Container ID:  containerd://9f1c\n    Image:         docker.io/istio/proxyv2:1.17.2",
    "pod-yaml": "  - name: istio-proxy\n    image: gcr.io/istio-release/proxyv2:1.22.1",
    "linkerd-annotation": "    linkerd.io/proxy-version: stable-2.14.10",
    "inject-true": '        sidecar.istio.io/inject: "true"',
    "namespace-label": "kubectl label namespace kubeflow-user-example-com istio-injection=enabled --overwrite",
    "envoy-rbac": '[2024-03-01T10:00:00.123Z] "- - -" 0 - rbac_access_denied_matched_policy[none] - "-" 0 0 0 - "-" "-" "-" "-" "-" inbound|23456|| - 10.244.1.9:23456 10.244.2.4:51878 - -',
    "envoy-early-close": "2024-03-01T10:00:00.123456Z\tdebug\tenvoy connection external/envoy/source/common/network/connection_impl.cc:714\t[C118] remote early close\tthread=21",
}

FAILURES = {
    "recvValue": RECV.format(w="mnist-worker-0", m="mnist-master-0"),
    "recv-bare": RECV_BARE,
    "send": SEND,
    "store-timeout": TIMEOUT,
    "nccl-closed": NCCL_CLOSED,
    "nccl-closed-old": NCCL_CLOSED_OLD,
    "nccl-bootstrap": NCCL_BOOT,
}


@pytest.mark.parametrize("sidecar", sorted(SIDECARS))
def test_sidecar_with_closed_store_connection_is_the_mesh(tmp_path: Path, sidecar: str) -> None:
    text = SIDECARS[sidecar] + "\n" + FAILURES["recvValue"] + "\n"
    assert causes(tmp_path, text)[:1] == [MESH]


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_each_rank_failure_form_with_a_sidecar_is_the_mesh(tmp_path: Path, failure: str) -> None:
    text = SIDECARS["kubectl-defaulted"] + "\n" + FAILURES[failure] + "\n"
    assert causes(tmp_path, text)[:1] == [MESH]
    assert findings(tmp_path, text)[0] == (MESH, "suggests")


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_rank_failure_without_a_sidecar_names_no_mesh(tmp_path: Path, failure: str) -> None:
    assert MESH not in causes(tmp_path, FAILURES[failure] + "\n")
    # the same line with the sidecar beside it does
    assert MESH in causes(tmp_path, SIDECARS["status-annotation"] + "\n" + FAILURES[failure] + "\n")


def test_store_connection_closed_alone_stays_generic(tmp_path: Path) -> None:
    for line in (RECV_BARE, SEND, NCCL_CLOSED):
        assert causes(tmp_path, line + "\n") == []
    assert causes(tmp_path, SIDECARS["envoy-early-close"] + "\n" + NCCL_CLOSED + "\n") == [MESH]


@pytest.mark.parametrize(
    "line",
    [
        # the fix itself: injection switched off
        '        sidecar.istio.io/inject: "false"',
        "    sidecar.istio.io/inject: 'false'",
        "kubectl label namespace team-a istio-injection=disabled",
        # prose about a mesh elsewhere in the cluster
        "Our cluster runs Istio for the inference services only.",
    ],
)
def test_injection_off_is_not_a_sidecar(tmp_path: Path, line: str) -> None:
    text = line + "\n" + FAILURES["recvValue"] + "\n"
    assert MESH not in causes(tmp_path, text)
    assert causes(tmp_path, SIDECARS["inject-true"] + "\n" + FAILURES["recvValue"] + "\n")[:1] == [MESH]


def test_healthy_job_with_a_sidecar_stays_clean(tmp_path: Path) -> None:
    text = (
        SIDECARS["kubectl-defaulted"] + "\n"
        "pytorch-worker-0:61:61 [0] NCCL INFO Bootstrap : Using eth0:10.244.1.9<0>\n"
        "pytorch-worker-0:61:93 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[0] [receive] via NET/Socket/0\n"
        "pytorch-worker-0:61:93 [0] NCCL INFO comm 0x55d1 rank 1 nranks 2 cudaDev 0 busId 100000 - Init COMPLETE\n"
        "Train Epoch: 1 [0/60000 (0%)]\tloss=2.3000\n"
    )
    assert causes(tmp_path, text) == []
    assert MESH in causes(tmp_path, text + TIMEOUT + "\n")


def test_mesh_leads_over_the_store_failures_interface_guess(tmp_path: Path) -> None:
    text = SIDECARS["describe-container"] + "\n" + TIMEOUT + "\n"
    got = causes(tmp_path, text)
    assert got[0] == MESH
    assert causes(tmp_path, TIMEOUT + "\n")[:1] == ["network.wrong-interface"]


# --- Ray: a worker that requested no GPU ---
NO_GPU_FORMS = {
    "torch": "RuntimeError: No CUDA GPUs are available",
    "runtime-string": "RuntimeError: CUDA error: no CUDA-capable device is detected",
    "tf1-cuinit": "2020-03-02 11:14:05.123456: E tensorflow/stream_executor/cuda/cuda_driver.cc:318] failed call to cuInit: CUDA_ERROR_NO_DEVICE",
    "tf2-cuinit": "2023-07-01 09:00:00.000001: E tensorflow/compiler/xla/stream_executor/cuda/cuda_driver.cc:268] failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected",
    "runtime-name": "cudaErrorNoDevice: no CUDA-capable device is detected",
}
RAY_PREFIXES = {
    "old-pid": "(pid=31877) ",
    "task": "(embed_batch pid=2215) ",
    "tune-trial": "(ImplicitFunc pid=2215, ip=10.0.3.4) ",
    "trainable": "(TrainTrainable pid=881, ip=10.0.3.4) ",
    "serve-replica": "(ServeReplica:default:Embedder pid=5120) ",
    "vllm-ray-actor": "(RayWorkerWrapper pid=6031, ip=10.0.3.5) ",
}


@pytest.mark.parametrize("prefix", sorted(RAY_PREFIXES))
@pytest.mark.parametrize("form", sorted(NO_GPU_FORMS))
def test_no_cuda_device_in_a_ray_worker_is_the_task_request(tmp_path: Path, prefix: str, form: str) -> None:
    assert causes(tmp_path, RAY_PREFIXES[prefix] + NO_GPU_FORMS[form] + "\n")[:1] == [RAY]


def test_ray_task_error_with_the_traceback_between(tmp_path: Path) -> None:
    text = (
        "ray.exceptions.RayTaskError(RuntimeError): ray::embed_batch() (pid=918, ip=10.0.3.4)\n"
        '  File "/app/embed.py", line 21, in embed_batch\n'
        "    model.to('cuda')\n"
        '  File "/usr/lib/python3/site-packages/torch/cuda/__init__.py", line 302, in _lazy_init\n'
        "    torch._C._cuda_init()\n"
        "RuntimeError: No CUDA GPUs are available\n"
    )
    assert causes(tmp_path, text)[:1] == [RAY]
    one_line = "ray.exceptions.RayTaskError(RuntimeError): ray::embed_batch() (pid=918, ip=10.0.3.4) RuntimeError: No CUDA GPUs are available\n"
    assert causes(tmp_path, one_line)[:1] == [RAY]


TUNE_WARN = (
    "2024-05-02 10:11:12,345\tWARNING tune.py:886 -- Tune detects GPUs, but no trials are using GPUs. To enable trials "
    "to use GPUs, wrap `train_func` with `tune.with_resources(train_func, resources_per_trial={'gpu': 1})` which "
    "allows Tune to expose 1 GPU to each trial."
)


def test_tune_warning_with_a_bare_no_gpu_line_is_the_trial_request(tmp_path: Path) -> None:
    text = TUNE_WARN + "\n" + NO_GPU_FORMS["torch"] + "\n"
    assert causes(tmp_path, text)[:1] == [RAY]
    # the bare line alone keeps its usual reading (a mask naming no GPU)
    assert causes(tmp_path, NO_GPU_FORMS["torch"] + "\n")[:1] == ["cuda.visible-devices-mismatch"]


def test_tune_warning_alone_is_clean(tmp_path: Path) -> None:
    assert causes(tmp_path, TUNE_WARN + "\n") == []
    assert causes(tmp_path, TUNE_WARN + "\n(pid=77) " + NO_GPU_FORMS["torch"] + "\n")[:1] == [RAY]


@pytest.mark.parametrize(
    "prefix",
    [
        # vLLM's own multiprocessing processes use the same prefix form and are not Ray workers
        "(EngineCore_DP0 pid=311) ",
        "(APIServer pid=1) ",
        "(VllmWorker rank=0 pid=4242) ",
        "(Worker_TP1 pid=4243) ",
        # other tools' brackets
        "[rank0]: ",
    ],
)
def test_non_ray_prefixes_are_not_a_ray_task(tmp_path: Path, prefix: str) -> None:
    assert RAY not in causes(tmp_path, prefix + NO_GPU_FORMS["torch"] + "\n")
    assert causes(tmp_path, "(evaluate pid=311) " + NO_GPU_FORMS["torch"] + "\n")[:1] == [RAY]


def test_other_errors_in_a_ray_worker_are_not_a_missing_gpu_request(tmp_path: Path) -> None:
    for line in (
        "(ImplicitFunc pid=2215) torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB",
        "(RayWorkerWrapper pid=6031) RuntimeError: Found no NVIDIA driver on your system.",
        "(ImplicitFunc pid=2215) 2024-05-02 10:11:12.000: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1886] Created device /job:localhost/replica:0/task:0/device:GPU:0",
    ):
        assert RAY not in causes(tmp_path, line + "\n")
    assert RAY in causes(tmp_path, "(ImplicitFunc pid=2215) " + NO_GPU_FORMS["tf1-cuinit"] + "\n")


# --- two machines with one hostname ---
NVSHMEM_SEND = "IPC failure: Sending data over socket failed: No such file or directory"


@pytest.mark.parametrize(
    "text",
    [
        NVSHMEM_SEND,
        "[rank3]: " + NVSHMEM_SEND,
        "/workspace/nvshmem/src/host/util/sockets.cpp " + NVSHMEM_SEND + "\n"
        "/workspace/nvshmem/src/host/transport/p2p/p2p.cpp:412: non-zero status: 7 Fatal IPC Failure",
    ],
)
def test_nvshmem_ipc_socket_missing_suggests_duplicate_hostname(tmp_path: Path, text: str) -> None:
    got = findings(tmp_path, text + "\n")
    assert got[:1] == [(DUP, "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        "IPC failure: Sending data over socket failed: Connection refused",
        "IPC failure: Receiving data over socket failed: Resource temporarily unavailable",
        "IPC failure: Binding socket failed. If you have any (stale) fileswith names like /tmp/nvshmem-socket-<0-9>*, delete or rename them!: Address already in use",
    ],
)
def test_other_nvshmem_ipc_failures_are_not_a_hostname(tmp_path: Path, line: str) -> None:
    assert DUP not in causes(tmp_path, line + "\n")
    assert DUP in causes(tmp_path, NVSHMEM_SEND + "\n")


@pytest.mark.parametrize(
    "words",
    [
        "Both machines have the same hostname, so NCCL thought they were one node.",
        "I think NCCL is also confused about hostnames being the same on the two servers",
        "after cloning the VM the hostnames are the same on both nodes",
        "The nodes share the same host name after cloning the VM",
        "解决了：两台主机的hostname不能一样",
    ],
)
def test_prose_same_hostname_names_it(tmp_path: Path, words: str) -> None:
    assert causes(tmp_path, words + "\n")[:1] == [DUP]


@pytest.mark.parametrize(
    "words",
    [
        "Set MASTER_ADDR to the same hostname on every worker.",
        "Use the same host name as in the hostfile.",
        "the worker resolves the same hostname to 127.0.1.1",
    ],
)
def test_other_same_hostname_prose_stays_clean(tmp_path: Path, words: str) -> None:
    assert DUP not in causes(tmp_path, words + "\n")
    assert causes(tmp_path, "Both servers have the same hostname.\n")[:1] == [DUP]


def test_mesh_message_names_the_sidecar_line(tmp_path: Path) -> None:
    text = "pod logs:\n" + SIDECARS["kubectl-defaulted"] + "\n" + FAILURES["recvValue"] + "\n"
    log = tmp_path / "m.log"
    log.write_text(text, encoding="utf-8")
    from tpdoctor.explain import explain

    report = explain([str(log)])
    top = report.findings[0]
    assert top.cause == MESH
    assert "line 2" in top.message and "sidecar.istio.io/inject" in top.message
    assert notes(tmp_path, text) is not None


def test_ray_prefix_on_the_line_above_a_wrapped_cuinit_error(tmp_path: Path) -> None:
    # a terminal wrap leaves Ray's worker prefix on the line above the cuInit text
    text = (
        "(pid=31877) 2020-03-02 11:14:05.123456: E tensorflow/stream_executor/cuda/cuda_driver.cc:318] failed call to\n"
        "cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected\n"
    )
    assert causes(tmp_path, text)[:1] == [RAY]
    unwrapped = "2020-03-02 11:14:05.123456: E tensorflow/stream_executor/cuda/cuda_driver.cc:318] failed call to cuInit: CUDA_ERROR_NO_DEVICE\n"
    assert RAY not in causes(tmp_path, unwrapped)


@pytest.mark.parametrize(
    "hang",
    [
        "The PyTorchJob hangs at init_process_group and never starts training.",
        "all the workers are stuck at dist.init_process_group(backend='gloo')",
    ],
)
def test_a_hang_beside_a_sidecar_is_the_mesh(tmp_path: Path, hang: str) -> None:
    text = SIDECARS["kubectl-defaulted"] + "\n" + hang + "\n"
    assert findings(tmp_path, text)[:1] == [(MESH, "suggests")]
    # the same words without a sidecar name nothing, and with injection switched off neither
    assert causes(tmp_path, hang + "\n") == []
    assert causes(tmp_path, '      sidecar.istio.io/inject: "false"\n' + hang + "\n") == []


def test_closed_connection_after_a_crash_is_not_the_mesh(tmp_path: Path) -> None:
    # the master died of CUDA OOM: the workers' closed store connection follows from it, sidecar or not
    oom = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.15 GiB of which 1.20 GiB is free."
    text = SIDECARS["kubectl-defaulted"] + "\n" + oom + "\n" + RECV_BARE + "\n"
    assert MESH not in causes(tmp_path, text)
    assert causes(tmp_path, SIDECARS["kubectl-defaulted"] + "\n" + RECV_BARE + "\n") == [MESH]
