"""Issue 13, gnew54: host.kho-scratch-rdma-enomem (the host kernel's Kexec HandOver scratch memory is typed CMA, and an
RDMA registration's long-term pin fails with ENOMEM although memlock is unlimited), and three covered leads read
wider: Docker Desktop's VM and WSL2 without GPU paravirtualization under runtime.nvidia-toolkit-missing (a Desktop CLI
prefix, the hook's NVML load failure, two remedies), a container with no usable interface under network.wrong-interface
(its summary), and an image's compute-runtime older than the host kernel under xpu.runtime-too-old-for-gpu (its summary
and NEO's OverrideGpuAddressSpace remedy).

Lines are written from the format strings of the code that prints them (never copied from a collected log):

- NVIDIA/nccl src/misc/ibvwrap.cc IBV_PTR_CHECK_ERRNO: WARN("Call to " name " failed with error %s", strerror(errno))
  (v2.18.3-1, v2.23.4-1, v2.30.7-1), under NCCL's WARN prefix "<host>:<pid>:<tid> [<dev>] <file>:<line> NCCL WARN ".
- linux fs/proc/meminfo.c show_val_kb: the label, the value in kB right-aligned in 8 columns, " kB" ("CmaTotal:",
  "CmaFree:" under CONFIG_CMA); bash's `ulimit -a` row "max locked memory           (kbytes, -l) unlimited".
- linux kernel/kexec_handover.c: early_param("kho", ...) read with kstrtobool (kho=on / kho=off on the command line).
- NVIDIA/libnvidia-container src/nvc.c nvc_init and src/driver.c driver_init: "load library failed: %s" with dlerror's
  "<lib>: cannot open shared object file: No such file or directory", printed by the hook as "nvidia-container-cli:
  initialization error: ..."; runc's "error running hook #0: error running hook: exit status 1, stdout: , stderr: ".
- Docker Desktop's classic CLI /usr/local/bin/com.docker.cli (docker/compose-cli cli/mobycli/exec.go ComDockerCli),
  whose errors carry that path as their prefix; docker/cli's `docker info` " Kernel Version: %s".
- NVIDIA/nccl src/misc/socket.cc: WARN("Net : Socket creation failed : %s", strerror(errno)).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_KHO = "host.kho-scratch-rdma-enomem"
_MEMLOCK = "rdma.memlock-too-low"
_TOOLKIT = "runtime.nvidia-toolkit-missing"


def _guarded(entry: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew54)."""
    assert entry in _ids(), entry


def test_the_new_readings_are_loaded_with_remedies() -> None:
    from tpdoctor.docs import EXPLAIN_ONLY
    from tpdoctor.explain.signatures import knowledge_base
    from tpdoctor.model.catalog import catalog
    from tpdoctor.model.fixes import remedies

    got = _ids()
    for sid in (
        "cma-free-nonzero",
        "kho-boot-option",
        "kho-scratch-cma-reg-mr-enomem",
        "kho-cma-zero-memlock-unlimited-reg-mr-enomem",
        "kho-option-reg-mr-enomem",
        "reg-mr-enomem-kho-option",
        "wsl-no-dxcore-nvml-load-failed",
    ):
        assert sid in got, sid
    kb = knowledge_base()
    emitted = {c.emit for c in kb.correlations if c.emit}
    assert _KHO in catalog()
    assert catalog()[_KHO].severity == "blocker"
    assert _KHO in emitted
    assert _KHO in EXPLAIN_ONLY
    ids = {r["id"] for r in remedies(_KHO)}
    assert {"kho-off-kernel-cmdline", "previous-kernel"} <= ids, ids
    assert "kho=off" in str(remedies(_KHO))


def test_the_remedies_and_texts_added_to_covered_ids() -> None:
    from tpdoctor.model.catalog import catalog
    from tpdoctor.model.fixes import remedies

    toolkit = {r["id"]: r for r in remedies(_TOOLKIT)}
    assert "docker-engine-not-desktop" in toolkit
    assert "desktop-linux" in str(toolkit["docker-engine-not-desktop"])
    assert "wsl-gpu-paravirtualization" in toolkit
    assert "21H2" in str(toolkit["wsl-gpu-paravirtualization"])
    assert "Docker Desktop" in catalog()[_TOOLKIT].summary
    # network.wrong-interface is a shared id whose summary stays the shared catalogue's (tests/test_catalog.py): the
    # no-usable-interface reading is told by the signature that sees NCCL's socket error
    from tpdoctor.explain.signatures import knowledge_base

    sock = next(s for s in knowledge_base().signatures if s.id == "nccl.socket-create-failed")
    assert "--network none" in sock.explain and "--network none" in (sock.hint or "")
    xpu = {r["id"]: r for r in remedies("xpu.runtime-too-old-for-gpu")}
    assert "neo-gpu-address-space-override" in xpu
    assert "OverrideGpuAddressSpace=48" in str(xpu["neo-gpu-address-space-override"])
    assert "6.8" in catalog()["xpu.runtime-too-old-for-gpu"].summary


# --- host.kho-scratch-rdma-enomem ---------------------------------------------------------------------------------------

_ENOMEM = "spark-b:2281:2410 [0] misc/ibvwrap.cc:190 NCCL WARN Call to ibv_reg_mr_iova2 failed with error Cannot allocate memory"


def _meminfo(total: int, free: int) -> str:
    return f"CmaTotal:       {total:>8} kB\nCmaFree:        {free:>8} kB\n"


@pytest.mark.parametrize(
    "text",
    [
        # /proc/meminfo's CMA-typed memory with no CMA area, beside the registration failure
        "$ grep Cma /proc/meminfo\n" + _meminfo(0, 940604) + _ENOMEM + "\n",
        # the same with the unlimited memlock the job set
        "max locked memory           (kbytes, -l) unlimited\n" + _meminfo(0, 524288) + _ENOMEM + "\n",
        # CmaTotal 0 and memlock unlimited, CmaFree not shown
        "max locked memory           (kbytes, -l) unlimited\n" + "CmaTotal:              0 kB\n" + _ENOMEM + "\n",
        # the kernel command line with KHO on
        "BOOT_IMAGE=/boot/vmlinuz-7.0.0-1019-nvidia root=UUID=5c0e7f0e ro quiet splash kho=on\n" + _ENOMEM + "\n",
    ],
)
def test_kho_scratch_enomem_is_named_not_memlock(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_KHO, "suggests"), got
    assert _MEMLOCK not in [c for c, _ in got], got


def test_another_verbs_enomem_beside_kho_scratch_is_named(tmp_path: Path) -> None:
    text = _meminfo(0, 81920) + (
        "node1:77:90 [1] misc/ibvwrap.cc:212 NCCL WARN Call to ibv_reg_mr failed with error Cannot allocate memory\n"
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_KHO, "suggests"), got


@pytest.mark.parametrize(
    ("guard", "text"),
    [
        # a host with CONFIG_CMA and no CMA area at all (CmaFree 0 too): the existing note, no KHO reading
        ("kho-scratch-cma-reg-mr-enomem", _meminfo(0, 0) + _ENOMEM + "\n"),
        # a real CMA area (Jetson, cma= on the command line): CmaFree within CmaTotal
        ("kho-scratch-cma-reg-mr-enomem", _meminfo(262144, 131072) + _ENOMEM + "\n"),
        # the reporter's own prose of the tell, without NCCL's failure line
        (
            "kho-scratch-cma-reg-mr-enomem",
            "`ibv_reg_mr_iova2` ENOMEM on kernel 7.0.0-31\n\n" + _meminfo(0, 940604) + "MemFree:      88 GiB\n",
        ),
        # the boot option mentioned with no failure
        ("kho-boot-option", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash kho=off\"\n"),
    ],
)
def test_kho_look_alikes_stay_clean(tmp_path: Path, guard: str, text: str) -> None:
    _guarded(guard)
    assert _KHO not in _all(tmp_path, text)


def test_a_small_memlock_limit_keeps_the_memlock_reading(tmp_path: Path) -> None:
    _guarded("kho-scratch-cma-reg-mr-enomem")
    text = "max locked memory           (kbytes, -l) 64\n" + _meminfo(0, 940604) + _ENOMEM + "\n"
    causes = _all(tmp_path, text)
    assert _MEMLOCK in causes and _KHO not in causes, causes


# --- Docker Desktop's VM and WSL2 without GPU paravirtualization (runtime.nvidia-toolkit-missing) ------------------------

_HOOK = (
    "Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create "
    "failed: runc create failed: unable to start container process: error during container init: error running hook #0: "
    "error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
    "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: cannot open shared object "
    "file: no such file or directory: unknown.\n"
)


def test_desktop_cli_prefix_with_the_hook_failure_names_desktops_vm(tmp_path: Path) -> None:
    _guarded("wsl-no-dxcore-nvml-load-failed")
    from tpdoctor.explain import explain

    log = tmp_path / "d.log"
    log.write_text("/usr/local/bin/com.docker.cli: " + _HOOK, encoding="utf-8")
    got = [f for f in explain([str(log)]).findings if f.severity.value != "notice"]
    assert got and got[0].cause == _TOOLKIT, got
    assert "Docker Desktop" in got[0].message, got[0].message


def test_wsl2_with_the_hook_failure_names_the_windows_build(tmp_path: Path) -> None:
    _guarded("wsl-no-dxcore-nvml-load-failed")
    from tpdoctor.explain import explain

    log = tmp_path / "w.log"
    log.write_text(" Kernel Version: 5.10.16.3-microsoft-standard-WSL2\ndocker: " + _HOOK, encoding="utf-8")
    got = [f for f in explain([str(log)]).findings if f.severity.value != "notice"]
    assert got and got[0].cause == _TOOLKIT, got
    assert "21H2" in got[0].message, got[0].message


@pytest.mark.parametrize(
    "text",
    [
        # the ordinary docker CLI prefix on a host engine: no Desktop reading
        "docker: " + _HOOK,
        # a Desktop path quoted in prose, not an error's prefix
        "which docker -> /usr/local/bin/com.docker.cli: the binary Docker Desktop installs\n",
    ],
)
def test_desktop_look_alikes_get_no_desktop_message(tmp_path: Path, text: str) -> None:
    _guarded("wsl-no-dxcore-nvml-load-failed")
    from tpdoctor.explain import explain

    log = tmp_path / "n.log"
    log.write_text(text, encoding="utf-8")
    for f in explain([str(log)]).findings:
        assert "Docker Desktop's VM" not in f.message, f.message
