"""Issue 13, heldout46 lessons (glearn46c): networks, launchers and caches.

Lines are written from the code and docs that print them (not copied from the heldout46 logs): NCCL said to pick
the wrong interface and its 'NET/Socket : Using [0]rsip' choice on a Cray (determined-ai/determined PR #4297); a
firewall port opened before the nodes found each other (exo-explore/exo#465); GPUStack's UNREACHABLE state message
(gpustack/schemas/workers.py Worker.compute_state); a web proxy's error page for a local URL (Squid's templates, the
Sophos-style page of gpustack/gpustack#373); smdistributed.modelparallel's WorkerSizeError in both spacings
(aws/amazon-sagemaker-examples#2023); CUDA's fastest-first enumeration (CUDA_DEVICE_ORDER); Triton's cache under an
unwritable HOME (triton/runtime/cache.py) and the root-level cache dir in words; "invalid device ordinal" on a
machine whose nvidia-smi lists GPU 0 only, with nothing that selects GPUs (AIGC-Audio/AudioGPT#63).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # NCCL / Gloo said to pick the wrong interface, in several verbs
        ("The NCCL library was picking the wrong interface on our cluster.\n", "network.wrong-interface"),
        ("NCCL is choosing the wrong network interface (rsip instead of ipogif0).\n", "network.wrong-interface"),
        ("It turned out Gloo used the wrong NIC for the rendezvous.\n", "network.wrong-interface"),
        ("the nccl code is picking up the wrong interface\n", "network.wrong-interface"),
        # NCCL's rsip choice on a Cray beside a collective that never finished
        ("nid00153:1234:1234 [0] NCCL INFO NET/Socket : Using [0]rsip:172.30.48.153<0>\n"
         "[rank0]:[E1207 08:01:02.000000 1234 ProcessGroupNCCL.cpp:616] [Rank 0] Watchdog caught collective "
         "operation timeout: WorkNCCL(SeqNum=1, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran "
         "for 600012 milliseconds before timing out.\n", "network.wrong-interface"),
        # a firewall port opened before the nodes found each other
        ("Only after I unblocked it did my two nodes see each other.\n", "network.port-blocked"),
        ("Once we opened the ports 5678 and 52415 in ufw, the nodes discovered each other.\n", "network.port-blocked"),
        ("After I opened port 50052 the rpc workers connected.\n", "network.port-blocked"),
        # GPUStack's UNREACHABLE worker, as the UI and the API show it
        ("Server cannot access the worker's health check endpoint at http://192.168.56.1:10150/healthz. "
         "Please verify the port requirements in the documentation\n", "network.wrong-interface"),
        ('"state": "unreachable", "state_message": "Server cannot access the worker\'s health check endpoint at '
         "http://172.22.96.1:10150/healthz. Please verify the port requirements in the <a href='https://docs."
         "gpustack.ai/latest/installation/requirements/#port-requirements'>documentation</a>\"\n",
         "network.wrong-interface"),
        # a proxy's error page for a local URL: Squid 3+/4+, Squid 2.x, the Sophos-style page
        ('<p>The following error was encountered while trying to retrieve the URL: <a href="http://localhost:8000/'
         'v1/models">http://localhost:8000/v1/models</a></p>\n', "network.proxy-intercepts-local"),
        ("While trying to retrieve the URL: http://127.0.0.1:9997/v1/cluster/auth\n", "network.proxy-intercepts-local"),
        ("b'<html><body><p>The webserver reported that an error occurred while trying to access the website. Please "
         "return to the previous page.</p><table><tr><td>URL</td><td>http://127.0.0.1:80/v1/workers?name=gpu-1"
         "</td></tr></table></body></html>'\n", "network.proxy-intercepts-local"),
        # SageMaker model parallelism: more node-local ranks than GPUs, both spacings
        ("smdistributed.modelparallel.backend.exceptions.WorkerSizeError: The number of node-local MPI processes 8 "
         "cannot be larger than the device count 4\n", "vllm.tp-exceeds-visible-gpus"),
        ("[1,0]<stderr>:RuntimeError: The number of node-local MPI processes 16cannot be larger than the device "
         "count 8\n", "vllm.tp-exceeds-visible-gpus"),
        # CUDA's fastest-first enumeration blamed, or PCI_BUS_ID named as the fix
        ("CUDA enumerates the GPUs fastest-first, which is not the nvidia-smi order on this box.\n",
         "cuda.visible-devices-mismatch"),
        ("CUDA_DEVICE_ORDER defaults to FASTEST_FIRST, so index 0 in torch is GPU 1 in nvidia-smi.\n",
         "cuda.visible-devices-mismatch"),
        ("Setting CUDA_DEVICE_ORDER=PCI_BUS_ID fixed it, the model now loads on the 3090.\n",
         "cuda.visible-devices-mismatch"),
        ("Solved by adding `CUDA_DEVICE_ORDER=PCI_BUS_ID` to the compose environment.\n",
         "cuda.visible-devices-mismatch"),
        # Triton's cache under a HOME the UID cannot write, and the root-level dir in words
        ("PermissionError: [Errno 13] Permission denied: '/opt/app/.triton'\n", "fs.home-unwritable-arbitrary-uid"),
        ("PermissionError: [Errno 13] Permission denied: '/root/.triton/cache/3f1a9c'\n",
         "fs.home-unwritable-arbitrary-uid"),
        ("On OpenShift the trainer crashes because it cannot access `/.triton`\n", "fs.home-unwritable-arbitrary-uid"),
        ("vLLM fails since it can't create /.cache/vllm in the pod\n", "fs.home-unwritable-arbitrary-uid"),
    ],
)
def test_family_named(tmp_path: Path, text: str, cause: str) -> None:
    assert (cause, "suggests") in findings(tmp_path, text)[:1]


@pytest.mark.parametrize(
    "text",
    [
        # advice, negation, another subject
        "To avoid NCCL picking the wrong interface, set NCCL_SOCKET_IFNAME.\n",
        "NCCL is not picking the wrong interface here; both nodes use eth0.\n",
        "The user chose the wrong interface in the dropdown.\n",
        # a healthy rsip choice with no failure
        "nid00153:1234:1234 [0] NCCL INFO NET/Socket : Using [0]rsip:172.30.48.153<0>\n"
        "nid00153:1234:1234 [0] NCCL INFO comm 0x55d0 rank 0 nranks 1 cudaDev 0 busId 3000 - Init COMPLETE\n",
        # the port opened and the nodes still failed
        "Even after I opened the ports the nodes still could not see each other.\n",
        "After we opened port 5678 the nodes still don't find each other.\n",
        # a proxy page for a public host
        '<p>The following error was encountered while trying to retrieve the URL: <a href="http://huggingface.co/">'
        "http://huggingface.co/</a></p>\n",
        "While trying to retrieve the URL: http://pypi.org/simple/vllm/\n",
        # CUDA_DEVICE_ORDER set in an environment dump, or a fix that did not work
        "CUDA_DEVICE_ORDER=PCI_BUS_ID\nCUDA_VISIBLE_DEVICES=0,1\n",
        "export CUDA_DEVICE_ORDER=PCI_BUS_ID didn't fix it.\n",
        # a Triton cache that is only found missing, or a permission error elsewhere
        "ls: cannot access '/.triton': No such file or directory\n",
        "PermissionError: [Errno 13] Permission denied: '/data/models/llama/config.json'\n",
        # a healthy SMP start
        "smdistributed.modelparallel: Initialized SMP with 4 processes on 4 devices\n",
    ],
)
def test_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text) == []


_SMI_ONE = (
    "| NVIDIA-SMI 535.54.03              Driver Version: 535.54.03    CUDA Version: 12.2     |\n"
    "|   0  NVIDIA GeForce RTX 3090        Off | 00000000:01:00.0 Off |                  N/A |\n"
)
_SMI_TWO = _SMI_ONE + "|   1  NVIDIA GeForce RTX 3090        Off | 00000000:02:00.0 Off |                  N/A |\n"
_ORDINAL = "RuntimeError: CUDA error: invalid device ordinal\n"


def test_ordinal_one_gpu_listed_is_the_program(tmp_path: Path) -> None:
    text = _ORDINAL + _SMI_ONE
    assert causes(tmp_path, text) == []
    assert any("program's own index" in n for n in notes(tmp_path, text))


@pytest.mark.parametrize(
    ("extra", "cause"),
    [
        ("CUDA_VISIBLE_DEVICES=1 python app.py\n", "cuda.visible-devices-mismatch"),
        ("$ docker run --gpus '\"device=1\"' -it app:latest\n", "cuda.visible-devices-mismatch"),
        ("torchrun --nproc-per-node 2 train.py\n", "vllm.tp-exceeds-visible-gpus"),
    ],
)
def test_ordinal_one_gpu_listed_with_selection_keeps_cause(tmp_path: Path, extra: str, cause: str) -> None:
    assert cause in causes(tmp_path, extra + _ORDINAL + _SMI_ONE)


def test_ordinal_two_gpus_listed_keeps_cause(tmp_path: Path) -> None:
    assert causes(tmp_path, _ORDINAL + _SMI_TWO) != []
