"""Issue 13, gprec48: the leftovers a reviewer named in this session's new knowledge and redactor.

1. intel_gpu_top's "Failed to initialize PMU! (%s)" (igt-gpu-tools tools/intel_gpu_top.c main, strerror(errno) after
   pmu_init): EPERM is a seccomp filter (Docker's default profile gates perf_event_open on CAP_PERFMON/CAP_SYS_ADMIN)
   and proves the capability; EACCES is the paranoid check or an LSM (linux kernel/events/core.c perf_event_open:
   perf_allow_cpu's -EACCES, security_perf_event_open; security/selinux/hooks.c selinux_perf_event_open) and only
   suggests it.
2. pci.gpu-bar-failed-to-assign needs a GPU driver line or an lspci display-class line for the same PCI address.
3. FFmpeg nvenc.c: "Found" is the dlopen()ed libnvidia-encode's version, so the line suggests an old driver.
4. Fabric Manager's NVL5+ precheck names ib_umad only.
5-6. redact: an unclosed list value keeps its CRLF; `not set`/`unset`/`<none>`/`(none)`/`empty` are printed.
7. jit_cache_exec: explicit caches only, always a blocker that proves it.
"""

from __future__ import annotations

from pathlib import Path

from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_PERFMON = "capability.perfmon-missing"


# --- 1: the errno decides the strength of a refused GPU PMU ---------------------------------------------------------


def test_pmu_eacces_alone_only_suggests_the_capability(tmp_path: Path) -> None:
    # root in a container (Beszel's agent): the paranoid check, or an SELinux/AppArmor denial with the same errno
    text = "$ docker exec -it beszel-agent intel_gpu_top -s 3300 -l\nFailed to initialize PMU! (Permission denied)\n"
    got = _findings(tmp_path, text)
    assert got and got[0] == (_PERFMON, "suggests"), got
    assert "intel-gpu-top.pmu-eacces" in _ids()


def test_pmu_eperm_still_proves_the_capability(tmp_path: Path) -> None:
    text = "intel_gpu-exporter  | Error: Failed to initialize PMU! (Operation not permitted)\n"
    got = _findings(tmp_path, text)
    assert got and got[0] == (_PERFMON, "proves"), got


def test_pmu_eacces_with_the_non_root_advice_proves_it(tmp_path: Path) -> None:
    # the tool's own advice for a non-root user after EACCES names the capability
    text = (
        "Failed to initialize PMU! (Permission denied)\n\n"
        "When running as a normal user CAP_PERFMON is required to access performance\n"
        'monitoring. See "man 7 capabilities", "man 8 setcap", or contact your\n'
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_PERFMON, "proves"), got


# --- 3: FFmpeg's NVENC API check reads the libnvidia-encode it loaded, not the kernel driver --------------------------
# FFmpeg libavcodec/nvenc.c nvenc_load_libraries: nvenc_load_functions (dlopen of libnvidia-encode.so.1 by name), then
# NvEncodeAPIGetMaxSupportedVersion(&nvenc_max_ver) of that library, then "Driver does not support the required nvenc
# API version. Required: %d.%d Found: %d.%d": an image's own stale libnvidia-encode prints the same.


def test_nvenc_api_version_suggests_an_old_driver_or_a_stale_image_library(tmp_path: Path) -> None:
    from tpdoctor.explain import explain

    for text in (
        "[h264_nvenc @ 0x5555] Driver does not support the required nvenc API version. Required: 13.0 Found: 11.1\n",
        "[hevc_nvenc @ 0x5555] Driver does not support the required nvenc API version.\n",
    ):
        got = _findings(tmp_path, text)
        assert got and got[0] == ("cuda.driver-too-old", "suggests"), got
        log = tmp_path / "n.log"
        log.write_text(text, encoding="utf-8")
        first = explain([str(log)]).findings[0]
        assert "nvidia.driver-library-mismatch" in first.related, first


# --- 2: a large BAR the kernel could not place is a GPU's only when something names that address as a GPU -----------
# linux drivers/pci/setup-res.c pci_assign_resource ("pci 0000:84:00.0: BAR 1 [mem size ... 64bit pref]: failed to
# assign", 6.8+; "BAR %d: failed to assign %pR" before) names no vendor.

_BAR = "host.gpu-bar-unassigned"
_NIC_BAR = (
    "[    1.402113] pci 0000:41:00.0: BAR 0 [mem size 0x40000000 64bit pref]: can't assign; no space\n"
    "[    1.402120] pci 0000:41:00.0: BAR 0 [mem size 0x40000000 64bit pref]: failed to assign\n"
)


def test_a_large_bar_of_an_unnamed_device_is_only_a_note(tmp_path: Path) -> None:
    for text in (
        _NIC_BAR,
        # a NIC's BAR while the GPU at another address is fine
        _NIC_BAR + "[    1.402300] mlx5_core 0000:41:00.0: firmware version: 22.39.1002\n"
        "[    6.100000] nvidia 0000:01:00.0: enabling device (0000 -> 0003)\n",
        "[    0.701119] pci 0000:01:00.0: BAR 1: failed to assign [mem size 0x10000000 64bit pref]\n"
        "$ lspci\n01:00.0 Ethernet controller: Mellanox Technologies MT2892 Family [ConnectX-6 Dx]\n",
    ):
        assert _BAR not in [c for c, _ in _findings(tmp_path, text)], text


def test_a_large_bar_of_a_device_named_as_a_gpu_suggests_it(tmp_path: Path) -> None:
    for evidence in (
        "[    6.100000] nvidia 0000:41:00.0: enabling device (0000 -> 0003)\n",
        "[    6.100000] amdgpu 0000:41:00.0: amdgpu: Fetched VBIOS from VFCT\n",
        "[    6.100000] NVRM: GPU 0000:41:00.0: RmInitAdapter failed! (0x22:0x56:742)\n",
        "41:00.0 3D controller: NVIDIA Corporation GH100 [H100 PCIe] (rev a1)\n",
        "0000:41:00.0 Display controller: Advanced Micro Devices, Inc. [AMD/ATI] Aqua Vanjaram [Instinct MI300X]\n",
    ):
        got = _findings(tmp_path, _NIC_BAR + evidence)
        assert got and got[0] == (_BAR, "suggests"), (evidence, got)


# --- 4: Fabric Manager's NVL5+ precheck requires ib_umad, not any module ----------------------------------------------
# nvidia-fabricmanager-start.sh --mode precheck (570+, NVL5+ branch): 'Kernel module "ib_umad" has not been loaded,
# fabric manager cannot be started' (spectrocloud/CanvOS#700).

_FM = "nvidia.fabric-manager-not-running"


def test_the_precheck_reading_names_only_ib_umad(tmp_path: Path) -> None:
    good = 'Kernel module "ib_umad" has not been loaded, fabric manager cannot be started\n'
    got = _findings(tmp_path, good)
    assert got and got[0] == (_FM, "suggests"), got
    for other in ("nvidia_peermem", "nvidia", "mlx5_ib", "ib_uverbs"):
        text = f'Kernel module "{other}" is not loaded, fabric manager cannot be started\n'
        assert _FM not in [c for c, _ in _findings(tmp_path, text)], other


# --- 5: an unclosed list value keeps a CRLF line's `\r` ---------------------------------------------------------------


def test_an_unclosed_list_value_keeps_the_crlf() -> None:
    from tpdoctor.redact import REDACTED, redact_line, redact_text

    assert redact_line("api_key=[abc, def\r\n") == f"api_key={REDACTED}\r\n"
    assert redact_text("x: 1\r\napi_key=[abc, def\r\ny: 2\r\n") == f"x: 1\r\napi_key={REDACTED}\r\ny: 2\r\n"
    assert redact_line("api_key=[abc, def\n") == f"api_key={REDACTED}\n"


# --- 6: a value that says there is none is no secret -------------------------------------------------------------------


def test_a_value_saying_there_is_none_is_printed() -> None:
    from tpdoctor.redact import REDACTED, redact_line

    for line in (
        "password: not set",
        "INFO loaded config, password: not set, user: bob",
        "password=not set",
        'api_key = "not set"',
        "HF_TOKEN=unset",
        "token=(none)",
        "api_key: <none>",
        "secret_key: empty",
        "--password unset",
    ):
        assert redact_line(line) == line, line
    # a real value still goes, and so does one that only starts like those words
    for line in ("password: nothing", "password: notset", "password: not settled", "HF_TOKEN=unsettled1"):
        assert REDACTED in redact_line(line), line
    assert redact_line("password=Hunter2 not set") == f"password={REDACTED} not set"


# --- 7: jit_cache_exec judges explicit caches only: always a blocker that proves it ------------------------------------


def _jit_findings(env: dict[str, str]) -> list[tuple[str, str, str]]:
    from tpdoctor.model import CheckOptions, Facts
    from tpdoctor.rules.jit_cache import jit_cache_exec

    facts = Facts.model_validate(
        {
            "container": {"runtime": "docker"},
            "env": env,
            "mounts": [
                {"source": "overlay", "target": "/", "fstype": "overlay", "options": ["rw", "relatime"]},
                {"source": "tmpfs", "target": "/tmp", "fstype": "tmpfs", "options": ["rw", "nosuid", "noexec"]},
            ],
        }
    )
    return [(f.cause, str(f.severity.value), f.confidence) for f in jit_cache_exec(facts, CheckOptions())]


def test_jit_cache_noexec_default_is_unjudged_and_explicit_is_a_blocker() -> None:
    # the default Inductor cache (/tmp/torchinductor_<user>) and Triton's under HOME=/tmp: not judged (the rule's
    # documented decision: a --tmpfs /tmp is noexec by default and a GPU compile survives it)
    assert _jit_findings({"HOME": "/tmp", "USER": "root"}) == []
    got = _jit_findings({"HOME": "/root", "TRITON_CACHE_DIR": "/tmp/triton"})
    assert got == [("fs.jit-cache-noexec", "blocker", "proves")], got


def test_jit_cache_exec_has_no_unreachable_default_branch() -> None:
    import inspect

    from tpdoctor.rules.jit_cache import jit_cache_exec

    src = inspect.getsource(jit_cache_exec)
    assert '"degraded"' not in src and '"suggests"' not in src
