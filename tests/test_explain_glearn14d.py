"""Issue 13, heldout14 lessons (glearn14d): causes retold in prose, in the languages the posts use.

Every line is written from the upstream text its signature cites (not copied from the heldout14 logs): NCCL's
SYSCHECK(posix_fallocate) warning as users shorten it, Docker's 64 MiB /dev/shm default, NCCL's troubleshooting
paragraph on PCI ACS / IO virtualization, NVIDIA's "Containers losing access to GPUs" notice, and Slurm's per-task
GPU binding next to cudaErrorInvalidDevice's string in forms without torch's prefix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

SHM = "shm.too-small"
P2P = "nccl.p2p-unsupported"
NVML = "device.nvml-cgroup-lost"
ORDINAL = "cuda.visible-devices-mismatch"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # NCCL include/shm.h SYSCHECK(posix_fallocate): "Call to posix_fallocate failed : No space left on device",
        # shortened in a title
        ("DeepSpeed 4 GPU run in docker: NCCL posix_fallocate failed: No space left on device\n", SHM),
        ("多卡训练报错 posix_fallocate failed : No space left on device, 单卡正常\n", SHM),
        # a too-small /dev/shm in words
        ("K8s 的 Pod 没有设置 /dev/shm,共享内存太小,NCCL 无法通过 shm 通信\n", SHM),
        ("The job died because /dev/shm in the container was too small for NCCL.\n", SHM),
        ("Docker コンテナの共有メモリが不足していたので NCCL が落ちた\n", SHM),
        ("컨테이너의 공유 메모리가 부족해서 NCCL 통신이 실패했다\n", SHM),
        ("we were running out of shm inside the pod\n", SHM),
        ("コンテナの /dev/shm の容量が小さいため DataLoader が落ちる\n", SHM),
        ("도커에서 /dev/shm의 크기가 부족해서 학습이 종료되었다\n", SHM),
        ("the --shm-size is too small for vLLM with tensor parallel\n", SHM),
        # Docker's default (moby DefaultShmSize) named as the diagnosis
        ("Docker gives /dev/shm a default size of 64MB, far too little for 8 ranks\n", SHM),
        ("容器的 /dev/shm 默认只有 64M\n", SHM),
        ("/dev/shm のサイズはデフォルトで64MBです\n", SHM),
        # a bigger /dev/shm named as the fix
        ("Setting shm_size: 16gb in docker-compose.yml fixed the vLLM crash\n", SHM),
        ("把 --shm-size 加大到 32g 以后问题解决了\n", SHM),
        ("--shm-size=16g を指定したら解決しました\n", SHM),
        ("--shm-size를 늘려서 해결했습니다\n", SHM),
        # NCCL troubleshooting, PCI ACS: IO virtualization redirects P2P through the root complex
        (
            "IO virtualization (VT-d or IOMMU) interferes with GPU Direct by redirecting all PCI point-to-point "
            "traffic to the CPU root complex; that is why our tp=2 server hangs\n",
            P2P,
        ),
        ("开启 IOMMU 后,GPU 之间的 P2P 点对点流量都被重定向到 CPU 的根复合体\n", P2P),
        ("Disabling ACS on the PLX switch fixed the NCCL hang.\n", P2P),
        ("在 BIOS 中关闭 ACS 以后死锁问题解决了\n", P2P),
        ("ACSを無効にしたらvLLMのハングが解決しました\n", P2P),
        ("ACS를 비활성화하니 해결되었습니다\n", P2P),
        # the user's words for a hang in Chinese / Japanese / Korean on GPUs with no NVLink (explain/hang.py)
        ("两张 RTX 4090 跑 vLLM tp=2,NCCL 初始化完成后进程卡住不动\n", P2P),
        ("GPU: NVIDIA GeForce RTX 3090\nvLLMをtp=2で起動するとハングした\n", P2P),
        ("GPU 0: NVIDIA RTX A6000\nvLLM tp=2 실행 시 초기화 후 멈춤\n", P2P),
        # NVIDIA's notice "Containers losing access to GPUs with error: Failed to initialize NVML: Unknown Error"
        ("Our containers lose access to the GPUs after a few days\n", NVML),
        ("After `systemctl daemon-reload` the pods lost access to their GPUs\n", NVML),
        ("running daemon-reload on the node: Failed to initialize NVML in every container\n", NVML),
        ("执行 systemctl daemon-reload 以后容器里的 GPU 丢失了\n", NVML),
        # Slurm per-task binding + invalid device ordinal without torch's "CUDA error: " prefix
        ("#SBATCH --gpus-per-task=1\nRuntimeError: invalid device ordinal\n", ORDINAL),
        (
            "srun --ntasks-per-node=8 --gpus-per-task=1 python train.py\n"
            "THCudaCheck FAIL file=/pytorch/torch/csrc/cuda/Module.cpp line=59 error=101 : invalid device ordinal\n",
            ORDINAL,
        ),
    ],
)
def test_a_retold_cause_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        # GPU on-chip shared memory, not /dev/shm
        ("triton.runtime.errors.OutOfResources: out of resource: shared memory, Required: 98304, Hardware limit: 65536\n", SHM),
        ("共享内存不足,kernel 的 block size 需要调小\n", SHM),
        ("this kernel needs more shared memory than the GPU has; not enough shared memory per block\n", SHM),
        # a command that sets it, and a healthy NCCL SHM line
        ("docker run --gpus all --shm-size=16g --ipc=host vllm/vllm-openai\n", SHM),
        ("node1:12:40 [0] NCCL INFO Channel 00 : 0[0] -> 1[1] via SHM/direct/direct\n", SHM),
        # the NCCL message with its own prefix is read by nccl.shm-posix-fallocate (proves), not the retelling
        ("[3] include/shm.h:28 NCCL WARN Call to posix_fallocate failed : No space left on device\n", ""),
        # raising it did not help
        ("I tried increasing --shm-size to 16g but it did not fix the hang\n", SHM),
        ("--shm-size を大きくしても解決しなかった\n", SHM),
        # ACS / IOMMU named with no fix and no redirection story
        ("[    0.000000] DMAR: IOMMU enabled\n", P2P),
        ("To disable ACS run: setpci -s 02:00.0 ECAP_ACS+6.w=0000\n", P2P),
        # the toolkit's install steps reload systemd too
        ("sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl daemon-reload && sudo systemctl restart docker\n", NVML),
        # hang words said conditionally or negated
        ("GPU: NVIDIA GeForce RTX 4090\n禁用之后就没有死锁的问题了\n", P2P),
        ("GPU: NVIDIA GeForce RTX 4090\n設定を間違えるとハングするかもしれない\n", P2P),
        # per-task binding in a healthy job
        ("#SBATCH --gpus-per-task=1\nEpoch 1/10 loss=0.31\n", ORDINAL),
    ],
)
def test_near_forms_name_not_that_cause(tmp_path: Path, text: str, wrong: str) -> None:
    found = _findings(tmp_path, text)
    if wrong:
        assert not any(c == wrong for c, _ in found), found
    else:
        assert found and found[0] == (SHM, "proves"), found
