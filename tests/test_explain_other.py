"""Issue 13, explain-other pass: AMD/Intel/Ray/launcher forms read from upstream code, the ATL shm
case measured with the real oneCCL, and the HIP/HSA/Level Zero/UR tables' gaps.

Logs are built from the upstream text each signature cites (repository, file, version in its
`source`), or are the real oneCCL's own output (tests/data/oneccl-real, recorded by
tests/oneccl_real scenarios atl-shm-64m and atl-shm-64m-fi-log).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes
from tpdoctor.explain import explain
from tpdoctor.explain.error_codes import by_name, lookup_number

REAL = Path(__file__).parent / "data" / "oneccl-real" / "2021.14.0"


# ------------------------------------------------------------------ CCL_ATL_SHM=1 under a 64 MiB /dev/shm


@pytest.mark.parametrize("name", ["atl-shm-64m.log", "atl-shm-64m-fi-log.log"])
def test_real_atl_shm_refusal_is_dev_shm_not_a_missing_provider(name: str) -> None:
    """The real oneCCL 2021.14.0 under Docker's 64 MiB /dev/shm: fi_getinfo -61 and 'can't create
    providers for name shm' are libfabric's shm space check, so the provider guess is dropped."""
    found = [f.cause for f in explain([str(REAL / name)]).findings if f.severity.value != "notice"]
    assert found == ["shm.too-small"], found


def test_libfabric_space_check_proves_it(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_text((REAL / "atl-shm-64m-fi-log.log").read_text())
    shm = [f for f in explain([str(log)]).findings if f.cause == "shm.too-small"]
    assert shm and shm[0].confidence == "proves"


def test_another_provider_name_is_still_a_missing_provider(tmp_path: Path) -> None:
    text = (
        "2024:08:21-10:24:26:( 4456) |CCL_ERROR| atl_ofi_helper.cpp:867 atl_ofi_get_prov_list: fi_getinfo error: ret -61, providers 0\n"
        "2024:08:21-10:24:26:( 4456) |CCL_ERROR| atl_ofi_helper.cpp:907 atl_ofi_get_prov_list: can't create providers for name tcp\n"
        "oneCCL: atl_ofi_comm.cpp:278 init_transport: EXCEPTION: failed to initialize ATL\n"
    )
    found = causes(tmp_path, text)
    assert found[0] == "oneccl.ofi-provider-missing" and "shm.too-small" not in found


# ------------------------------------------------------------------ ROCm: ROCR then HIP masks


@pytest.mark.parametrize(
    ("env", "mismatch"),
    [
        ("export ROCR_VISIBLE_DEVICES=1\nexport HIP_VISIBLE_DEVICES=1\n", True),  # HIP index 1 of a 1-GPU list
        ("export ROCR_VISIBLE_DEVICES=2,3\nexport HIP_VISIBLE_DEVICES=2\n", True),
        ("export ROCR_VISIBLE_DEVICES=2,3\nexport HIP_VISIBLE_DEVICES=1\n", False),  # renumbered 0..1: fine
        ("export HIP_VISIBLE_DEVICES=1\n", False),  # one mask alone says nothing
        ("export ROCR_VISIBLE_DEVICES=1\n", False),
    ],
)
def test_hip_mask_indexes_what_rocr_left(tmp_path: Path, env: str, mismatch: bool) -> None:
    found = causes(tmp_path, env + ">>> torch.cuda.is_available()\nFalse\n")
    assert ("rocm.visible-devices-mismatch" in found) is mismatch, found


# ------------------------------------------------------------------ forms read from upstream code


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        # oneCCL 2021.8-2021.14 spell the fd-exchange connect failure this way (never "sock_err")
        (
            "oneCCL: ze_fd_manager.cpp:538 exchange_device_fds: EXCEPTION: connect failed: error: -1, errno: "
            "Permission denied, sock_name: /tmp/ccl-ipc-fd-sock-88:1-0-2",
            "oneccl.ipc-socket-exchange-failed",
        ),
        ("{\"error\": \"Level Zero Initialization Error\", \"errno\": 40}", "device.render-node-missing"),
        (
            "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed to allocate the necessary resources.",
            "device.kfd-missing",
        ),
        (
            "amdsmi.amdsmi_exception.AmdSmiLibraryException: An error occured with code: 10(AMDSMI_STATUS_NO_PERM - Permission Denied)",
            "device.group-denied",
        ),
        ("\t34 | AMDSMI_STATUS_DRIVER_NOT_LOADED - Driver not loaded", "device.no-driver"),
        (
            "This node has an IP address of 172.17.0.2, and Ray expects this IP address to be either the GCS "
            "address or one of the Raylet addresses. Connected to GCS at 10.0.0.1 and found raylets at 10.0.0.2",
            "network.wrong-interface",
        ),
        (
            "RuntimeError: [../third_party/gloo/gloo/transport/tcp/pair.cc:799] connect [127.0.1.1]:28429: Connection refused",
            "network.wrong-interface",
        ),
        ("  traceback : Signal 7 (SIGBUS) received by PID 1234", "shm.too-small"),
    ],
)
def test_upstream_form_names_its_cause(tmp_path: Path, line: str, cause: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == [cause]


def test_read_only_tmp_bind_stays_with_tmp_unwritable(tmp_path: Path) -> None:
    """A bind refused by a read-only /tmp is oneccl.ipc-socket-rofs's, not the generic socket set-up."""
    line = "oneCCL: ze_fd_manager.cpp:557 exchange_device_fds: EXCEPTION: bind failed: sock_err: -1, errno: Read-only file system\n"
    assert causes(tmp_path, line)[:1] == ["oneccl.tmp-unwritable"]


@pytest.mark.parametrize(
    "line",
    [
        # rpc_client's retry warning: healthy starts print it while the head comes up
        "[2026-03-01 22:48:01,851 W 6578 6578] rpc_client.h:153: Failed to connect to GCS at address 10.1.1.1:6379 within 5 seconds.",
        "ZE_RESULT_NOT_READY",  # not an error
        "HSA_STATUS_CU_MASK_REDUCED",
    ],
)
def test_benign_forms_name_no_cause(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n") == []


def test_ray_memory_monitor_oom_drops_downstream_guesses(tmp_path: Path) -> None:
    text = (
        "(raylet) node_manager.cc:3064: 1 Workers (tasks / actors) killed due to memory pressure (OOM), 0 Workers "
        "crashed due to other reasons at node (ID: abc, IP: 172.17.0.2) over the last time period.\n"
        "Fatal Python error: Bus error\n"
    )
    assert "shm.too-small" not in causes(tmp_path, text)


# ------------------------------------------------------------------ the tables' gaps


def test_hip_implicit_enumerator_and_ur_deprecated_codes_are_classified() -> None:
    tbd = by_name("hipErrorTbd")
    assert tbd is not None and tbd.code == 1054  # hipErrorRuntimeOther (1053) + 1, no "= N" in the header
    args = by_name("UR_RESULT_ERROR_INVALID_KERNEL_ARGS")  # [[deprecated]] = 27
    assert args is not None and args.code == 27
    old = by_name("UR_RESULT_ERROR_INVALID_FUNCTION_NAME")  # only in UR v0.6
    assert old is not None and old.klass == "not-container"


def test_current_ur_number_wins_over_a_renumbered_one() -> None:
    lost = lookup_number("ur_code", "20")
    assert lost is not None and lost.name == "UR_RESULT_ERROR_DEVICE_LOST"
    assert lookup_number("ur_code", "36") is not None
    assert lookup_number("ur_code", "36").name == "UR_RESULT_ERROR_INVALID_PROGRAM_EXECUTABLE"  # type: ignore[union-attr]


def test_hip_ipc_attach_failure_points_at_ipc_not_the_program() -> None:
    for name in ("hipErrorMapFailed", "hipErrorMapBufferObjectFailed"):
        code = by_name(name)
        assert code is not None and "rocm.ipc-ptrace-missing" in code.causes


SOCKETS_FORCED = (
    "(RayWorkerVllm pid=7746) 2024:08:21-10:24:26:( 7746) |CCL_WARN| fallback to 'sockets' mode of ze exchange "
    "mechanism, to use CCL_ZE_IPC_EXHANGE=drmfd, set CCL_LOCAL_RANK/SIZE explicitly  or use process launcher\n"
)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("args: Namespace(pipeline_parallel_size=1, tensor_parallel_size=2)\n", []),
        ("args: Namespace(pipeline_parallel_size=2, tensor_parallel_size=2)\n", ["oneccl.sockets-pt2pt"]),
    ],
)
def test_forced_sockets_exchange_matters_only_for_pipeline_parallel(
    tmp_path: Path, args: str, expected: list[str]
) -> None:
    """oneCCL 2021.12 forces sockets without a local rank/size: TP is fine, PP's send/recv is not."""
    assert causes(tmp_path, SOCKETS_FORCED + args) == expected


def test_rccl_host_advice_is_not_the_first_error(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    log.write_text(
        'node:1:1 [0] init.cc:160 NCCL WARN Missing "iommu=pt" from kernel command line which can lead to system instablity or hang!\n'
        "RuntimeError: some model error\n"
    )
    res = explain([str(log)])
    assert not [f for f in res.findings if f.severity.value != "notice"]
    assert res.facts["first_error"]["line"] == 2  # the RuntimeError, not RCCL's advice


def test_sycl_pi_codes_are_classified() -> None:
    """DPC++ before Unified Runtime printed OpenCL-numbered PI codes (intel/llvm pi_error.def)."""
    lost = by_name("PI_ERROR_COMMAND_EXECUTION_FAILURE")
    assert lost is not None and lost.code == -997 and lost.api == "pi" and "xpu.device-lost" in lost.causes
    nodev = by_name("PI_ERROR_DEVICE_NOT_FOUND")
    assert nodev is not None and nodev.code == -1 and "device.render-node-missing" in nodev.causes
    kernel = by_name("PI_ERROR_INVALID_KERNEL_NAME")
    assert kernel is not None and kernel.klass == "not-container"


def test_pi_code_line_is_explained_as_a_note(tmp_path: Path) -> None:
    log = tmp_path / "pi.log"
    log.write_text("RuntimeError: Native API failed. Native API returns: -5 (PI_ERROR_OUT_OF_RESOURCES) -5 (PI_ERROR_OUT_OF_RESOURCES)\n")
    res = explain([str(log)])
    assert not [f for f in res.findings if f.severity.value != "notice"]
    assert any("PI_ERROR_OUT_OF_RESOURCES (-5)" in n for n in res.notes), res.notes


@pytest.mark.parametrize(
    ("env", "mismatch"),
    [
        ("ZE_AFFINITY_MASK=1\nONEAPI_DEVICE_SELECTOR=level_zero:1\n", True),  # the mask leaves one GPU: index 0
        ("ZE_AFFINITY_MASK=2,3\nONEAPI_DEVICE_SELECTOR=level_zero:3\n", True),
        ("ZE_AFFINITY_MASK=0.0,0.1\nONEAPI_DEVICE_SELECTOR=level_zero:1\n", True),  # two tiles of one root device
        ("ZE_AFFINITY_MASK=2,3\nONEAPI_DEVICE_SELECTOR=level_zero:1\n", False),
        ("ONEAPI_DEVICE_SELECTOR=level_zero:1\n", False),  # one selection alone says nothing
        ("ZE_AFFINITY_MASK=1\n", False),
    ],
)
def test_selector_indexes_what_the_affinity_mask_left(tmp_path: Path, env: str, mismatch: bool) -> None:
    found = causes(tmp_path, env + "RuntimeError: No XPU devices are available.\n")
    assert ("xpu.visible-devices-mismatch" in found) is mismatch, found
    if mismatch:
        assert found[0] == "xpu.visible-devices-mismatch"
