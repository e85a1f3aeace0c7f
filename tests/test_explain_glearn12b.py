"""Issue 13, heldout12 lessons (glearn12b): the families behind its shm / oneCCL / AMD-plugin misses.

Every line is written from the upstream format string its signature cites (not copied from the heldout12 logs):
PyTorch's DataLoader SIGBUS verdict (torch/csrc/DataLoader.cpp), PaddlePaddle's DataLoader SIGBUS branch
(paddle/fluid/imperative/data_loader.cc), oneCCL's check_impi_env / env.cpp, and ROCm's device plugin restarted
until the amdgpu driver is up (internal/pkg/amdgpu/amdgpu.go, internal/pkg/plugin/plugin.go).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

# torch/csrc/DataLoader.cpp: "DataLoader worker (pid {}) is killed by signal: {}. " + (SIGBUS only)
TORCH_VERDICT = (
    "It is possible that dataloader's workers are out of shared memory. Please try to raise your shared memory limit."
)
# paddle/fluid/imperative/data_loader.cc (v2.1+), SIGBUS branch of _ThrowErrorIfLoadProcessFailed
PADDLE_SIGBUS = (
    "SystemError: (Fatal) DataLoader process (pid {pid}) exited is killed by signal: {sig}.\n"
    "  It may be caused by insufficient shared storage space. This problem usually occurs when using docker as a "
    "development environment.\n"
    "  Please use command `df -h` to check the storage space of `/dev/shm`.\n"
)
# uxlfoundation/oneCCL src/atl/mpi/atl_mpi_ctx.cpp check_impi_env LOG_ERROR ("CCL/MPI uses ", version_prefix_1, ...)
IMPI_NEW = (
    "2025:01:02-03:04:05:(  77) |CCL_ERROR| atl_mpi_ctx.cpp:671 check_impi_env: CCL/MPI uses Intel(R) MPI Library "
    "but neither I_MPI_ROOT nor ONEAPI_ROOT is set. Please source release_mt version of Intel(R) MPI Library "
    "(2019 or higher version).\n"
)
IMPI_OLD = (
    "2022:05:06-07:08:09:(  12) |CCL_ERROR| atl_mpi_ctx.cpp:628 check_impi_env: CCL/MPI uses Intel(R) MPI Library "
    "but I_MPI_ROOT is not set. Please source release_mt version of Intel(R) MPI Library (2019 or higher version).\n"
)
# ROCm/k8s-device-plugin amdgpu.go:159 glog.Fatalf, plugin.go:254 glog.Infof (glog header "F%m%d hh:mm:ss.us pid file:line]")
AMD_FATAL = (
    "F0102 03:04:05.000001   4711 amdgpu.go:159] amdgpu driver unavailable. exiting with exit code 2. error: "
    "stat /sys/module/amdgpu/drivers/: no such file or directory\n"
)
AMD_WATCHING = "I0102 03:04:15.000001   4800 plugin.go:254] Watching GPU with bus ID: 0000:c1:00.0 NUMA Node: [1]\n"


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # the verdict alone (a wrapper kept only the tail) and after its head
        ("Bus error. " + TORCH_VERDICT + "\n", "shm.too-small", "suggests"),
        ("RuntimeError: DataLoader worker (pid 31) is killed by signal: Bus error. " + TORCH_VERDICT + "\n",
         "shm.too-small", "suggests"),
        (PADDLE_SIGBUS.format(pid=812, sig="Bus error"), "shm.too-small", "suggests"),
        # Paddle 2.0: "exited is killed by signal: %s." with strsignal only
        ("SystemError: (Fatal) DataLoader process (pid 812) exited is killed by signal: Bus error.\n",
         "shm.too-small", "suggests"),
        (IMPI_NEW, "oneccl.env-not-sourced", "proves"),
        (IMPI_OLD, "oneccl.env-not-sourced", "proves"),
        # oneCCL src/common/env/env.cpp:612 CCL_THROW_IF_NOT (SYCL build, no CCL_ROOT / ONEAPI_ROOT)
        ("terminate called after throwing an instance of 'ccl::v1::exception'\n  what():  oneCCL: env.cpp:612 parse: "
         "EXCEPTION: incorrect comm kernels path, neither CCL_ROOT nor ONEAPI_ROOT found!\n",
         "oneccl.env-not-sourced", "proves"),
        # oneCCL 2021.1 src/atl/atl.cpp:64 LOG_INFO
        ("2021:01:01-00:00:00:(   9) |CCL_INFO| ATL MPI transport is requested but seems Intel MPI environment is not "
         "set. Please source release_mt version of Intel MPI (2019 or higher version).\n",
         "oneccl.env-not-sourced", "suggests"),
        (AMD_FATAL, "device.no-driver", "suggests"),
        # aten/src/ATen/MapAllocator.cpp: "could not unlink the shared memory file ", handle, " : ", strerror, " (", errno, ")"
        ("RuntimeError: could not unlink the shared memory file /torch_4242_1849_7 : No such file or directory (2)\n",
         "shm.removed-by-logind", "suggests"),
    ],
)
def test_a_heldout12_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    "text",
    [
        # oneCCL's own env dump (env.cpp print: LOG_INFO("I_MPI_ROOT: ", ...)) on a healthy run
        "2025:01:02-03:04:05:(  77) |CCL_INFO| I_MPI_ROOT: /opt/intel/oneapi/mpi/2021.14\n",
        "2025:01:02-03:04:05:(  77) |CCL_INFO| I_MPI_ROOT: <not specified>\n",
        # Paddle 2.0's message for another signal (strsignal "Killed"): not the /dev/shm branch
        "SystemError: (Fatal) DataLoader process (pid 812) exited is killed by signal: Killed.\n",
        # a user's comment quoting PyTorch's advice without the verdict's opening words
        "# workers may run out of shared memory with num_workers=8\n",
        # shm_unlink failing for another reason, or before v1.13 (no errno): nothing says the file was removed
        "RuntimeError: could not unlink the shared memory file /torch_4242_1849_7 : Permission denied (13)\n",
        "  what():  could not unlink the shared memory file /torch_30417_1951398734 (close at THAllocator.cpp:475)\n",
    ],
)
def test_near_forms_name_no_container_cause(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    wrong = ("shm.too-small", "oneccl.env-not-sourced", "shm.removed-by-logind")
    assert not any(c in wrong for c, _ in found), found


def test_an_amd_plugin_that_listed_its_gpus_after_the_driver_wait_recovered(tmp_path: Path) -> None:
    text = AMD_FATAL + AMD_WATCHING
    assert _findings(tmp_path, text) == []
    assert any("recovered" in n for n in _notes(tmp_path, text))


def test_an_amd_plugin_that_never_listed_a_gpu_still_names_the_driver(tmp_path: Path) -> None:
    # the restart printed the same failure again (systemd Restart=): no recovery
    found = _findings(tmp_path, AMD_FATAL + AMD_FATAL.replace("4711", "4800"))
    assert found and found[0][0] == "device.no-driver", found


def _p2p_matrices(disabled: list[list[float]], enabled: list[list[float]], caption: str) -> str:
    """cuda-samples p2pBandwidthLatencyTest.cu outputBandwidthMatrix: "   D\\\\D", "%6d " per column, then per row
    "%6d " and "%6.02f " per cell, under the caption printf'd before it."""

    def matrix(cells: list[list[float]]) -> str:
        head = "   D\\D" + "".join(f"{j:6d} " for j in range(len(cells))) + "\n"
        return head + "".join(f"{i:6d} " + "".join(f"{v:6.02f} " for v in row) + "\n" for i, row in enumerate(cells))

    return (
        "P2P Connectivity Matrix\n     D\\D     0     1\n     0\t     1     1\n     1\t     1     1\n"
        "Unidirectional P2P=Disabled Bandwidth Matrix (GB/s)\n" + matrix(disabled) + caption + "\n" + matrix(enabled)
        + "Bidirectional P2P=Disabled Bandwidth Matrix (GB/s)\n"
    )


NEW_CAPTION = "Unidirectional P2P=Enabled Bandwidth (P2P Writes) Matrix (GB/s)"
OLD_CAPTION = "Unidirectional P2P=Enabled Bandwidth Matrix (GB/s)"


@pytest.mark.parametrize("caption", [NEW_CAPTION, OLD_CAPTION])
def test_peer_writes_far_below_the_staged_copy_suggest_p2p_unsupported(tmp_path: Path, caption: str) -> None:
    text = _p2p_matrices([[670.0, 13.1], [12.9, 671.0]], [[671.0, 2.6], [13.0, 672.0]], caption)
    assert _findings(tmp_path, text) == [("nccl.p2p-unsupported", "suggests")]


@pytest.mark.parametrize(
    "enabled",
    [
        [[670.0, 12.8], [12.7, 671.0]],  # no peer access: the sample falls back to the staged copy (equal)
        [[1581.6, 241.3], [241.4, 1582.3]],  # NVLink: peer writes far faster
        [[670.0, 8.0], [12.0, 671.0]],  # within noise (0.61 of the staged copy)
    ],
)
def test_healthy_or_fallback_p2p_matrices_name_nothing(tmp_path: Path, enabled: list[list[float]]) -> None:
    text = _p2p_matrices([[670.0, 13.1], [12.9, 671.0]], enabled, NEW_CAPTION)
    assert _findings(tmp_path, text) == []


def test_a_lone_disabled_matrix_names_nothing(tmp_path: Path) -> None:
    # the run stopped (a hang) before the P2P=Enabled matrix: nothing to compare
    text = _p2p_matrices([[670.0, 13.1], [12.9, 671.0]], [], NEW_CAPTION).split(NEW_CAPTION)[0]
    assert _findings(tmp_path, text) == []


# python/paddle/distributed/launch/job/container.py Container.__str__ (returncode of subprocess.Popen)
PADDLE_LAUNCH = (
    "LAUNCH ERROR 2024-03-01 10:00:00,000 Container failed !!!\n"
    "Container rank 1 status failed cmd ['/usr/bin/python', '-u', 'train.py'] code {code} log log/workerlog.1\n"
)
# deepspeed/launcher/launch.py sigkill_handler: logger.error(f"{cmd} exits with return code = {returncode}")
DS_LAUNCH = "[ERROR] [launch.py:321:sigkill_handler] ['/usr/bin/python', '-u', 'main.py'] exits with return code = {code}\n"


@pytest.mark.parametrize("template", [PADDLE_LAUNCH, DS_LAUNCH])
def test_a_launcher_reporting_a_sigbus_child_suggests_small_shm(tmp_path: Path, template: str) -> None:
    assert _findings(tmp_path, template.format(code=-7)) == [("shm.too-small", "suggests")]


@pytest.mark.parametrize("template", [PADDLE_LAUNCH, DS_LAUNCH])
def test_a_launcher_reporting_an_ordinary_exit_names_no_cause(tmp_path: Path, template: str) -> None:
    assert _findings(tmp_path, template.format(code=1)) == []
