"""heldout18 lessons (glearn18b): Slurm GPU-partition submit filters and CUDA peer access told outside NCCL.

Families:
- CUDA error 217 (cudaErrorPeerAccessUnsupported "peer access is not supported between these two devices", the
  driver API's CUDA_ERROR_PEER_ACCESS_UNSUPPORTED "... across the given devices", HIP's hipErrorPeerAccessUnsupported)
  quoted in a RuntimeError, a title or a sentence, often clipped ("...two device"); told in words ("3090 does not
  support peer access"). Questions and conditionals stay clean.
- a site job_submit filter refusing a job sent to a GPU partition without a GPU request ("Cannot find GPU
  specification, you may not submit a job not requesting GPUs in a GPU partition", "You must request at least one
  GPU ... partition", signac-flow's "Requesting GPU partition, but no GPUs requested!"). A job that does request
  GPUs and a CPU-partition note stay clean.
- a typed Slurm GPU request (--gres=gpu:<type>:N, --gpus-per-node=<type>:N) for a type that the gres.conf
  (Name=gpu Type=...) or slurm.conf node Gres=gpu:<type>:N shown in the same log does not configure. A request for a
  configured type, or an untyped one, stays clean.
Lines are written from the upstream source, not copied from the dev logs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes
from explain_helpers import findings as _findings


@pytest.mark.parametrize(
    "text",
    [
        "RuntimeError: CUDA error: peer access is not supported between these two devices\n",
        "torch.cuda.can_device_access_peer fails later with: peer access is not supported between these two device\n",
        "cuCtxEnablePeerAccess failed: CUDA_ERROR_PEER_ACCESS_UNSUPPORTED: peer access is not supported across the "
        "given devices\n",
        "hipDeviceEnablePeerAccess returned hipErrorPeerAccessUnsupported\n",
        "error: cudaErrorPeerAccessUnsupported (217)\n",
    ],
)
def test_peer_access_unsupported_quoted(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0][0] == "nccl.p2p-unsupported", found


@pytest.mark.parametrize(
    "text",
    [
        "The 3090 does not support peer access, only workstation cards and A100/H100 do.\n",
        "GeForce cards don't support peer access, so the custom all-reduce kernel cannot run.\n",
    ],
)
def test_no_peer_access_in_words(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("nccl.p2p-unsupported", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        "sbatch: error: Cannot find GPU specification, you may not submit a job not requesting GPUs in a GPU "
        "partition, partition: gpu\nsbatch: error: Batch job submission failed: Unspecified error\n",
        "sbatch: error: You must request at least one GPU when submitting to the gpu partition\n"
        "sbatch: error: Batch job submission failed: Access/permission denied\n",
        "srun: error: jobs may not be submitted without requesting a GPU in partition gpu-a100\n",
        "jinja2.exceptions.TemplateError: Requesting GPU partition, but no GPUs requested!\n",
        "Requesting gpu partition without GPUs!\n",
    ],
)
def test_gpu_partition_without_gpu_request(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("slurm.job-without-gpu", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # healthy NCCL P2P lines and questions
        "node1:12:34 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/IPC\n",
        "node1:12:34 [0] NCCL INFO Connected all rings\n",
        "Does the 3090 support peer access at all?\n",
        "If these GPUs do not support peer access, will NCCL fall back to SHM?\n",
        "cudaDeviceCanAccessPeer(0, 1) = 1, peer access enabled\n",
        # Slurm jobs that do request GPUs, and plain submissions
        "#SBATCH --partition=gpu\n#SBATCH --gres=gpu:4\nSubmitted batch job 123456\n",
        "sbatch: Submitted batch job 998877 to partition gpu with --gpus-per-node=8\n",
        "Please request GPUs with --gres=gpu:N in the gpu partition.\n",
    ],
)
def test_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text) == [], text


GRES_CONF = "NodeName=gpu-st-g4dn-[1-8] Name=gpu Type=t4 File=/dev/nvidia0\n"
NODE_CONF = "NodeName=node[01-04] CPUs=64 RealMemory=512000 Gres=gpu:v100:8 State=UNKNOWN\n"


@pytest.mark.parametrize(
    "text",
    [
        "$ srun -p gpu --gpus-per-node=a10g:1 --pty bash\n$ cat /etc/slurm/gres.conf\n" + GRES_CONF,
        GRES_CONF + "sbatch --gres=gpu:a100:2 train.sh\n",
        NODE_CONF + "#SBATCH --gres=gpu:A100:4\n",
        NODE_CONF + "salloc --gpus=h100:8 -N 1\n",
    ],
)
def test_gres_type_not_configured(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("slurm.gres-unavailable", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        GRES_CONF + "srun --gpus-per-node=t4:1 nvidia-smi\n",
        NODE_CONF + "#SBATCH --gres=gpu:V100:2\n",
        NODE_CONF + "#SBATCH --gres=gpu:8\n",
        "srun --gres=gpu:a100:2 python train.py\n",  # no configuration shown: nothing to compare
        "docker run --gpus=all --rm nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n" + GRES_CONF,
    ],
)
def test_gres_type_configured_stays_clean(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text) == [], text
