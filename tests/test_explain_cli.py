"""`tpdoctor explain` end to end: diagnosis, formats, exit codes, runtime filter, bad input."""

from __future__ import annotations

import json

from conftest import run_cli

ARTICLE = (
    "RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: "
    "could not open device directory"
)
FALLBACK = "2025:03:01-10:00:00:(  532) |CCL_WARN| pidfd is not supported, fallbacks to drmfd exchange mode"


def _json(*args: str, input: str) -> tuple[int, dict]:
    proc = run_cli("explain", "--format", "json", *args, input=input)
    return proc.returncode, json.loads(proc.stdout)


def test_article_line_alone_names_bypath_with_least_privilege_fixes_first() -> None:
    rc, data = _json("-", input=ARTICLE + "\n")
    assert rc == 3
    cause = data["causes"][0]
    assert cause["cause"] == "oneccl.bypath-missing"
    assert cause["confidence"] == "proves"
    assert cause["evidence"][0]["line"] == 1 and "opendir failed" in cause["evidence"][0]["text"]
    ids = [f["id"] for f in cause["fixes"]]
    assert ids.index("bypath-mount") < ids.index("pidfd-sys-ptrace") < ids.index("privileged")
    assert cause["fixes"][-1]["privilege"] == "privileged" and cause["fixes"][-1]["risk"]


def test_fallback_then_opendir_gives_primary_and_reason_with_both_fixes() -> None:
    log = f"{FALLBACK}\nINFO something\n(RayWorkerWrapper pid=4242) {ARTICLE}\n"
    rc, data = _json("-", input=log)
    assert rc == 3
    causes = [c["cause"] for c in data["causes"]]
    assert causes[:2] == ["oneccl.bypath-missing", "oneccl.pidfd-unsupported"]
    primary = data["causes"][0]
    assert "oneccl.pidfd-unsupported" in primary["related"]
    assert "line 1" in primary["message"]
    assert primary["evidence"][0]["line"] == 3
    assert data["causes"][1]["fixes"][0]["id"] in ("pidfd-sys-ptrace", "writable-tmp")
    assert data["facts"]["implied"]["oneccl_ipc_exchange"] == "drmfd"


def test_text_output_starts_with_the_verdict_and_shows_one_fix() -> None:
    proc = run_cli("explain", "-", input=ARTICLE + "\n")
    assert proc.returncode == 3
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("The log shows why it failed: ")
    out = proc.stdout
    assert "oneccl.bypath-missing" in out and "<stdin>:1" in out
    assert "/dev/dri/by-path:/dev/dri/by-path:ro" in out  # the least-privilege fix, for docker
    assert "UNSAFE" not in out  # the privileged last resort is shown with --verbose


def test_verbose_text_output_shows_every_fix_privileged_last() -> None:
    proc = run_cli("explain", "--verbose", "-", input=ARTICLE + "\n")
    assert proc.returncode == 3
    out = proc.stdout
    assert "oneccl.bypath-missing" in out and "<stdin>:1" in out
    assert (
        out.index("/dev/dri/by-path:/dev/dri/by-path:ro")
        < out.index("SYS_PTRACE")
        < out.index("privileged: true")
    )


def test_runtime_filter_narrows_fixes() -> None:
    _rc, data = _json("--runtime", "kubernetes", "-", input=ARTICLE + "\n")
    runtimes = {f["runtime"] for c in data["causes"] for f in c["fixes"]}
    assert runtimes <= {"kubernetes", "env", "host"} and "kubernetes" in runtimes


def test_log_without_known_cause_says_so_and_exits_0() -> None:
    log = (
        "INFO loading model\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 19.63 GiB.\n"
    )
    proc = run_cli("explain", "-", input=log)
    assert proc.returncode == 0
    assert "No known container/IPC cause found" in proc.stdout
    assert "<stdin>:4" in proc.stdout and "CUDA out of memory" in proc.stdout
    rc, data = _json("-", input=log)
    assert rc == 0 and data["causes"] == []
    assert data["facts"]["error_lines"][-1]["line"] == 4


def test_generic_nccl_error_is_only_a_suggestion_with_a_hint() -> None:
    log = "RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1275, unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5\n"
    _rc, data = _json("-", input=log)
    assert [(c["cause"], c["confidence"]) for c in data["causes"]] == [("shm.too-small", "suggests")]
    assert any("NCCL_DEBUG=INFO" in n for n in data["notes"])
    assert data["facts"]["nccl_version"] == "2.21.5"


def test_concrete_nccl_warn_turns_the_generic_error_into_proof() -> None:
    log = (
        "h:1:2 [0] NCCL WARN Error: failed to extend /dev/shm/nccl-Ab12 to 9637892 bytes\n"
        "RuntimeError: NCCL error: unhandled system error (run with NCCL_DEBUG=INFO for details)\n"
    )
    _rc, data = _json("-", input=log)
    assert data["causes"][0]["cause"] == "shm.too-small"
    assert data["causes"][0]["confidence"] == "proves"
    assert not any("NCCL_DEBUG=INFO" in n for n in data["notes"])


def test_notice_only_exits_0_and_degraded_only_exits_4() -> None:
    notice = "|CCL_WARN| topology recognition shows PCIe connection between devices.\n"
    assert run_cli("explain", "-", input=notice).returncode == 0
    # the pidfd->drmfd fallback alone is a note (drmfd then worked); so is vLLM's custom all-reduce turned off on
    # its own (every working start on a PCIe pair prints it, vllm#3786); after a cached P2P verdict it is degraded
    assert run_cli("explain", "-", input=FALLBACK + "\n").returncode == 0
    warning = (
        "WARNING custom_all_reduce.py:134] Custom allreduce is disabled because your platform lacks GPU P2P "
        "capability or P2P test failed. To silence this warning, specify disable_custom_all_reduce=True explicitly.\n"
    )
    assert run_cli("explain", "-", input=warning).returncode == 0
    cached = (
        "INFO custom_all_reduce_utils.py:232] reading GPU P2P access cache from "
        "/root/.cache/vllm/gpu_p2p_access_cache_for_0,1.json\n"
    )
    assert run_cli("explain", "-", input=cached + warning).returncode == 4


def test_split_containers_are_inferred_from_net_socket_between_container_hosts() -> None:
    log = (
        "5135fc87695d:10:20 [0] NCCL INFO NET/Socket : Using [0]eth0:172.17.0.2<0>\n"
        "9ab1cc22de0f:11:21 [0] NCCL INFO NET/Socket : Using [0]eth0:172.17.0.3<0>\n"
        "5135fc87695d:10:20 [0] NCCL INFO comm 0x1 rank 0 nRanks 2 nNodes 2 localRanks 1 localRank 0 MNNVL 0\n"
        "5135fc87695d:10:20 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[0] [send] via NET/Socket/0\n"
    )
    _rc, data = _json("-", input=log)
    assert data["causes"][0]["cause"] == "topology.ranks-split-across-containers"
    assert data["causes"][0]["confidence"] == "suggests"
    assert "NET/Socket/0" in data["facts"]["transport"]


def test_p2p_transport_on_one_host_is_not_blamed() -> None:
    log = "h:1:2 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read\n"
    proc = run_cli("explain", "-", input=log)
    assert proc.returncode == 0


def test_sarif_names_the_cause_as_rule() -> None:
    proc = run_cli("explain", "--format", "sarif", "-", input=ARTICLE + "\n")
    sarif = json.loads(proc.stdout)
    result = sarif["runs"][0]["results"][0]
    assert result["ruleId"] == "oneccl.bypath-missing"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 1


def test_missing_file_is_a_one_line_usage_error(tmp_path) -> None:
    proc = run_cli("explain", str(tmp_path / "missing.log"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr
    proc = run_cli("explain", str(tmp_path))
    assert proc.returncode == 2 and "directory" in proc.stderr


def test_binary_garbage_exits_cleanly(tmp_path) -> None:
    path = tmp_path / "core"
    path.write_bytes(bytes(range(256)) * 64)
    proc = run_cli("explain", str(path))
    assert proc.returncode == 0, proc.stderr
