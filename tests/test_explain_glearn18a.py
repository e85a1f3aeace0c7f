"""Issue 13, heldout18 lessons (glearn18a): precision where the cause's own text appears but the cause is not.

Lines are written from the code that prints them (not copied from the heldout18 logs):
- Open MPI / PRRTE's run-as-root refusal ("%s has detected an attempt to run as root.", orterun.c / prrte
  schizo_base_stubs.c) when the launcher's command line already has --allow-run-as-root (open-mpi/ompi#7704,
  openpmix/prrte#1309): the fix is applied, the option was lost or the launcher has a bug;
- libnvidia-container's device-cgroup errors (nvcgo/internal/cgroup v1.go / v2.go / ebpf.go, "failed to add
  device rules: ...") under enroot's conf/hooks/98-nvidia.sh, which always passes --no-cgroups: the 1.17.7
  regression (NVIDIA/enroot#232), not a rootless setup;
- TGI's weight sharding checks (utils/weights.py "The choosen size %d is not compatible with sharding on %d
  shards", flash_*_modeling.py "`num_heads` must be divisible by `num_shards`"): a model/TP-size limit that
  also keeps the "server on the default /dev/shm" guess away.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

REFUSAL = (
    "--------------------------------------------------------------------------\n"
    "{who} has detected an attempt to run as root.\n\n"
    "Running as root is *strongly* discouraged as any mistake (e.g., in\n"
    "defining TMPDIR) or bug can result in catastrophic damage to the OS\n"
    "file system, leaving your system in an unusable state.\n\n"
    "You can override this protection by adding the --allow-run-as-root\n"
    "option to your command line.  However, we reiterate our strong advice\n"
    "against doing so - please do so at your own risk.\n"
    "--------------------------------------------------------------------------\n"
)

PRRTE_REFUSAL = (
    "{who} has detected an attempt to run as root.\n\n"
    "Running as root is *strongly* discouraged as any mistake (e.g., in\n"
    "defining TMPDIR) or bug can result in catastrophic damage to the OS\n"
    "file system, leaving your system in an unusable state.\n\n"
    "You can override this protection by adding the --allow-run-as-root option\n"
    "to the cmd line or by setting two environment variables in the following way:\n"
)

HOOK = (
    "pyxis: starting container: pyxis_77.0\n"
    "error: pyxis: container start failed with error code: 1\n"
    "error: pyxis: printing enroot log file:\n"
    "error: pyxis:     nvidia-container-cli: mount error: failed to add device rules: {err}\n"
    "error: pyxis:     [ERROR] /etc/enroot/hooks.d/98-nvidia.sh exited with return code 1\n"
    "error: pyxis: couldn't start container\n"
)

BPF = "unable to find any existing device filters attached to the cgroup: bpf_prog_query(BPF_CGROUP_DEVICE) failed: operation not permitted"
V1 = "open /sys/fs/cgroup/devices/slurm/uid_1000/job_12/step_0/task_0/devices.allow: permission denied"
DOCKER_BPF = (
    "docker: Error response from daemon: failed to create task for container: OCI runtime create failed: runc create "
    "failed: unable to start container process: error during container init: error running prestart hook #0: exit "
    "status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
    "nvidia-container-cli: mount error: failed to add device rules: " + BPF + "\n"
)


@pytest.mark.parametrize(
    "text",
    [
        # the flag on the launcher's line, refusal anyway (ompi master / prrte 5.0 rc)
        "$ mpirun -np 2 --map-by node --allow-run-as-root --hostfile hosts ./osu_bw\n" + REFUSAL.format(who="mpirun"),
        "mpirun -np 2 -H n1:1,n2:1 --allow-run-as-root ./hello\n" + PRRTE_REFUSAL.format(who="prted"),
        # a backslash-continued command: the flag on the continuation line
        "# /opt/ompi/bin/mpirun \\\n  -np 4 --allow-run-as-root --mca plm_rsh_no_tree_spawn 1 ./a.out\n"
        + REFUSAL.format(who="mpirun"),
        # an argv list from a wrapper
        "cmd: ['prterun', '--allow-run-as-root', '-n', '2', 'python', 'train.py']\n" + PRRTE_REFUSAL.format(who="prted"),
    ],
)
def test_refusal_with_the_flag_already_given_is_not_the_container_root(tmp_path: Path, text: str) -> None:
    assert "mpi.run-as-root-refused" not in _causes(tmp_path, text)
    assert any("already has --allow-run-as-root" in n for n in _notes(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        # no flag anywhere but the help text: the refusal is the cause
        "root@c0ffee:/work# mpirun -np 2 python train.py\n" + REFUSAL.format(who="mpirun"),
        PRRTE_REFUSAL.format(who="prterun"),
        # the flag only as advice in prose
        "The docs say to run mpirun with --allow-run-as-root inside docker.\n" + REFUSAL.format(who="mpirun"),
        "Try adding --allow-run-as-root next time.\n" + REFUSAL.format(who="mpiexec"),
    ],
)
def test_refusal_without_the_flag_is_still_named(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [("mpi.run-as-root-refused", "proves")]


@pytest.mark.parametrize("err", [BPF, V1, "unable to open the cgroup path: permission denied"])
def test_device_rules_under_enroot_hook_are_the_toolkit_regression(tmp_path: Path, err: str) -> None:
    text = HOOK.format(err=err)
    assert "nvidia.hook-cgroup-denied" not in _causes(tmp_path, text)
    assert any("1.17.7 regression" in n for n in _notes(tmp_path, text))


@pytest.mark.parametrize("text", [DOCKER_BPF, "nvidia-container-cli: mount error: failed to add device rules: " + V1 + "\n"])
def test_device_rules_outside_enroot_still_name_the_hook_cgroup(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text)[:1] == ["nvidia.hook-cgroup-denied"]


TGI_CMD = "docker run --gpus all -v $PWD/data:/data ghcr.io/huggingface/text-generation-inference --model-id {m} --num-shard 3\n"


@pytest.mark.parametrize(
    "err",
    [
        "AssertionError: The choosen size 50432 is not compatible with sharding on 3 shards",
        "AssertionError: The chosen size 14336 is not compatible with sharding on 3 shards",
        "ValueError: `num_heads` must be divisible by `num_shards` (got `num_heads`: 32 and `num_shards`: 3)",
    ],
)
def test_tgi_shard_size_is_a_model_limit_not_shm(tmp_path: Path, err: str) -> None:
    text = (
        TGI_CMD.format(m="bigscience/bloom-560m")
        + "2024-01-01T00:00:00Z  INFO text_generation_launcher: Starting shard 0\n"
        + "Traceback (most recent call last):\n"
        + '  File "/opt/conda/lib/python3.10/site-packages/text_generation_server/utils/weights.py", line 84\n'
        + err
        + "\n"
    )
    assert _causes(tmp_path, text) == []


@pytest.mark.parametrize(
    "err",
    [
        # a CUDA error code classed "not a container cause" (data/error_codes), given by name only
        "RuntimeError: CUDA error: cudaErrorIllegalInstruction",
        # the kernel's OOM killer ended the shard (explain/death.py)
        "[12345.678] Out of memory: Killed process 4242 (python3) total-vm:92000000kB, anon-rss:81000000kB",
    ],
)
def test_server_on_default_shm_not_guessed_beside_a_no_container_code_or_oom_kill(tmp_path: Path, err: str) -> None:
    # The same rule as _drop_guesses_behind_a_known_root: any failure with no container cause, not only a
    # signature marked so, keeps the default-/dev/shm guess away.
    text = (
        TGI_CMD.format(m="meta-llama/Llama-2-70b-hf")
        + "2024-01-01T00:00:00Z ERROR text_generation_launcher: Shard 1 failed to start\n"
        + err
        + "\n"
    )
    assert "shm.too-small" not in _causes(tmp_path, text)


def test_tgi_server_on_default_shm_still_guessed_without_a_model_limit(tmp_path: Path) -> None:
    text = (
        TGI_CMD.format(m="meta-llama/Llama-2-70b-hf")
        + "2024-01-01T00:00:00Z ERROR text_generation_launcher: Shard 1 failed to start\n"
        + "Error: ShardCannotStart\n"
    )
    assert _causes(tmp_path, text)[:1] == ["shm.too-small"]


SBATCH = (
    "#!/bin/bash\n"
    "#SBATCH -J train\n"
    "#SBATCH -C gpu\n"
    "#SBATCH -N 2\n"
    "#SBATCH --ntasks-per-node=4\n"
    "{extra}"
    "srun {srun}python train.py\n"
)
NO_GPU = [
    "lightning_fabric.utilities.exceptions.MisconfigurationException: No supported gpu backend found!",
    "RuntimeError: No CUDA GPUs are available",
    "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx",
]


@pytest.mark.parametrize("err", NO_GPU)
def test_batch_script_without_gpu_request_names_the_job(tmp_path: Path, err: str) -> None:
    text = SBATCH.format(extra="", srun="") + err + "\n"
    assert _findings(tmp_path, text)[:1] == [("slurm.job-without-gpu", "suggests")]


@pytest.mark.parametrize(
    ("extra", "srun"),
    [
        ("#SBATCH --gres=gpu:4\n", ""),
        ("#SBATCH --gpus-per-node=4\n", ""),
        ("#SBATCH -G 8\n", ""),
        ("", "--gpus-per-task=1 "),
        ("#SBATCH --tres-per-task=gres/gpu:1\n", ""),
    ],
)
def test_batch_script_with_a_gpu_request_is_not_the_job(tmp_path: Path, extra: str, srun: str) -> None:
    text = SBATCH.format(extra=extra, srun=srun) + NO_GPU[0] + "\n"
    assert "slurm.job-without-gpu" not in _causes(tmp_path, text)


def test_no_gpu_without_a_batch_script_is_not_slurm(tmp_path: Path) -> None:
    text = "docker run --rm img python train.py\n" + NO_GPU[0] + "\n"
    assert "slurm.job-without-gpu" not in _causes(tmp_path, text)
