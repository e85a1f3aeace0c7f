"""Issue 13, heldout48 lessons (glearn48a): profilers and debuggers refused in containers.

Lines are written from the code that prints them (not copied from the heldout48 logs):
- gdb's trace_start_error (gdb/nat/fork-inferior.c): 'Could not trace the inferior process.' then
  trace_start_error_with_name ("ptrace") -> 'ptrace: <strerror>', both through warning(): the program's
  PTRACE_TRACEME refused by the container's seccomp profile (no CAP_SYS_PTRACE);
- py-spy's main() (src/main.rs): as root, outside a cgroup path with '/docker/', a permission error falls through to
  'Error: {:?}' -> 'Error: Permission denied (os error 13)' / 'Error: Operation not permitted (os error 1)';
- likwid's GPU backend (nvmon_perfworks.h) printing CUPTI's result as a bare number in three macro generations;
  35 is CUPTI_ERROR_INSUFFICIENT_PRIVILEGES;
- rocprofiler's MetricsDict::Translate + AQL_EXC_RAISING: "ImportMetrics: bad block name '<blk>', <aqlprofile error>"
  with aqlprofile's 'GFXIP is not supported(<gfx>)' for an APU target;
- dcgm-exporter's privileges warning (entrypoint 'Warning #1/#2:', 4.x slog) as the log's only trouble.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

PTRACE = "capability.sys-ptrace-missing"
PROF = "nvidia.profiling-restricted"
IGPU = "rocm.igpu-visible"

# --- gdb: the program's PTRACE_TRACEME refused ---


@pytest.mark.parametrize(
    "text",
    [
        # trace_start_error: warning ("Could not trace the inferior process."); vwarning ("%s: %s", "ptrace", strerror)
        "Starting program: /opt/app/bin/solver\n"
        "warning: Could not trace the inferior process.\n"
        "warning: ptrace: Operation not permitted\n"
        "During startup program exited with code 127.\n",
        # with gdb's personality() warning first (Docker's seccomp refuses ADDR_NO_RANDOMIZE too)
        "(gdb) run\n"
        "Starting program: /build/tests/unit_tests\n"
        "warning: Error disabling address space randomization: Operation not permitted\n"
        "warning: Could not trace the inferior process.\n"
        "warning: ptrace: Operation not permitted\n",
        # both warnings pasted on one line
        "warning: Could not trace the inferior process. ptrace: Operation not permitted\n",
    ],
)
def test_gdb_trace_inferior_eperm_names_sys_ptrace(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text) == [(PTRACE, "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # ENOSYS: no ptrace at all (qemu-user emulation of another architecture), not a capability
        "warning: Could not trace the inferior process.\nwarning: ptrace: Function not implemented\n"
        "During startup program exited with code 127.\n",
        # the address-space-randomization warning alone: gdb runs the program anyway
        "warning: Error disabling address space randomization: Operation not permitted\n"
        "[Inferior 1 (process 4242) exited normally]\n",
        # prose about the capability without a refusal
        "Note: the image runs gdb with ptrace: Operation not permitted errors fixed long ago in the docs.\n",
    ],
)
def test_gdb_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert PTRACE not in causes(tmp_path, text)
    # ... while the startup refusal in gdb's words is named
    assert causes(tmp_path, "warning: Could not trace the inferior process.\nwarning: ptrace: Operation not permitted\n") == [PTRACE]


# --- py-spy as root refused ---


@pytest.mark.parametrize(
    "text",
    [
        # eprintln!("Error: {:?}", err) under the command (a Kubernetes pod: no '/docker/' in its cgroup path)
        "$ kubectl exec -it trainer-0 -- py-spy dump --pid 1\nError: Permission denied (os error 13)\n",
        # process_vm_readv / ptrace refused: EPERM
        "root@trainer-0:/# py-spy record -o profile.svg --pid 57\nError: Operation not permitted (os error 1)\n",
        # a wrapper quoting py-spy's error on its own line
        "RuntimeError: py-spy dump failed: Error: Permission denied (os error 13)\n",
        "py-spy top --pid 12 exited 1: Error: Operation not permitted (os error 1)\n",
    ],
)
def test_py_spy_root_permission_error_names_sys_ptrace(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text) == [(PTRACE, "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # py-spy's own setns bug (benfred/py-spy#199): ENOENT, not a permission
        "py-spy record -o profile.svg -p 24\nError: No such file or directory (os error 2)\n",
        # another Rust tool's EACCES (amdgpu_top on a render node): not py-spy
        "$ amdgpu_top\nthread 'main' panicked: called `Result::unwrap()` on an `Err` value: Permission denied (os error 13)\n",
        # the bare Rust error with no py-spy command near it
        "$ cargo run --release -- --input /data/x\nError: Permission denied (os error 13)\n",
    ],
)
def test_py_spy_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert PTRACE not in causes(tmp_path, text)
    # ... while the same error under a py-spy command is named
    assert causes(tmp_path, "$ py-spy dump --pid 24\nError: Permission denied (os error 13)\n") == [PTRACE]


# --- likwid: CUPTI's bare 35 ---


@pytest.mark.parametrize(
    "line",
    [
        # v5.0.x CUPTI_API_CALL: "%s:%d: error: function %s failed with error %d.\n"
        "nvmon_perfworks.h:1708: error: function cuptiProfilerInitialize(&profilerInitializeParams) failed with error 35.",
        # v5.1.0-v5.2.0 LIKWID_CUPTI_API_CALL: "Error: function %s failed with error %d.\n" (#call through a pointer)
        "Error: function (*cuptiProfilerBeginSessionPtr)(&beginSessionParams) failed with error 35.",
        "Error: function (*cuptiDeviceGetChipNamePtr)(&getChipNameParams) failed with error 35.",
        # v5.2.1 ERROR_PRINT(Function %s failed with error %d, ...) on the line after "ERROR - [file:func:line] strerror."
        "Function (*cuptiProfilerGetCounterAvailabilityPtr)(&getCounterAvailabilityParams) failed with error 35",
        # current CUPTI_CALL: "... failed with error: '%s' (CUptiResult=%d)" with an unusable string
        "Error: function cuptiProfilerBeginSession failed with error: '(null)' (CUptiResult=35)",
    ],
)
def test_cupti_code_35_names_profiling_restricted(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n") == [(PROF, "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        # CUresult 35 (CUDA_ERROR_INSUFFICIENT_DRIVER) through likwid's LIKWID_CU_CALL: not CUPTI
        "Error: function (*cuCtxCreatePtr)(&context, 0, device) failed with error 35.",
        # a CUDA call whose argument merely names a CUPTI variable
        "Error: function cuDevicePrimaryCtxRetain(&cuptiContext, dev) failed with error 35.",
        # NVPW status through LIKWID_NVPW_API_CALL: its own numbering
        "Error: function (*NVPW_InitializeHostPtr)(&initializeHostParams) failed with error 35.",
        # CUPTI 40: a vGPU whose hypervisor forbids profiling, not the host's counter restriction
        "Error: function (*cuptiProfilerBeginSessionPtr)(&beginSessionParams) failed with error 40.",
        "Error: function (*cuptiProfilerBeginSessionPtr)(&beginSessionParams) failed with error 350.",
    ],
)
def test_cupti_neighbours_do_not_name_profiling(tmp_path: Path, line: str) -> None:
    assert PROF not in causes(tmp_path, line + "\n")
    # ... while CUPTI's own call failing with 35 is named
    assert causes(tmp_path, "Error: function (*cuptiProfilerInitializePtr)(&profilerInitializeParams) failed with error 35.\n") == [PROF]


# --- rocprofiler on an APU target ---

ROCPROF = "[omnitrace][{pid}][0][fatal] ERROR :: rocprofiler_iterate_info(), Translate(), ImportMetrics: bad block name '{blk}', GFXIP is not supported({gfx})"


@pytest.mark.parametrize(
    "dgpu",
    [
        "I have a Radeon RX 6800 XT and the CPU's graphics.",
        "The discrete card (Navi 21) is the one I want to profile.",
        "  Device 1: AMD Radeon RX 7900 XTX, gfx1100 (0x1100), VMM: no, Wave Size: 32",
    ],
)
@pytest.mark.parametrize(("blk", "gfx"), [("GRBM", "gfx90c"), ("SQ", "gfx1036"), ("TCC", "gfx1103")])
def test_rocprofiler_apu_target_beside_a_dgpu_names_igpu(tmp_path: Path, dgpu: str, blk: str, gfx: str) -> None:
    text = dgpu + "\n$ omnitrace-avail\n" + ROCPROF.format(pid=812, blk=blk, gfx=gfx) + "\n"
    assert findings(tmp_path, text) == [(IGPU, "suggests")]


def test_rocprof_v1_form_beside_a_dgpu_names_igpu(tmp_path: Path) -> None:
    text = (
        "GPU: Radeon RX 6700 XT\n"
        "ROCProfiler: fatal error: Translate(), ImportMetrics: bad block name 'SQ', GFXIP is not supported(gfx1036)\n"
    )
    assert causes(tmp_path, text) == [IGPU]


def test_rocprofiler_apu_alone_is_a_note(tmp_path: Path) -> None:
    # a laptop with only its APU: the profiler does not support the hardware, nothing to hide
    text = "$ omnitrace-avail\n" + ROCPROF.format(pid=99, blk="GRBM", gfx="gfx90c") + "\n"
    assert causes(tmp_path, text) == []
    assert any("does not support this hardware" in n for n in notes(tmp_path, text))


def test_rocprofiler_discrete_target_unsupported_stays_clean(tmp_path: Path) -> None:
    # a discrete target the profiler lacks: not an iGPU
    text = "GPU: Radeon RX 7900 XTX\n" + ROCPROF.format(pid=7, blk="SQ", gfx="gfx1201") + "\n"
    assert IGPU not in causes(tmp_path, text)
    # ... while the APU's target beside the same card is named
    assert causes(tmp_path, text.replace("gfx1201", "gfx1036")) == [IGPU]


# --- dcgm-exporter's privileges warning ---

WARN1 = "Warning #1: dcgm-exporter doesn't have sufficient privileges to expose profiling metrics. To get profiling metrics with dcgm-exporter, use --cap-add SYS_ADMIN"
WARN_SLOG = 'time=2025-06-02T10:00:01.123Z level=WARN msg="dcgm-exporter doesn\'t have sufficient privileges to expose profiling metrics. To get profiling metrics with dcgm-exporter, use --cap-add SYS_ADMIN"'


@pytest.mark.parametrize("warn", [WARN1, WARN_SLOG])
def test_dcgm_exporter_warning_alone_suggests_profiling_restricted(tmp_path: Path, warn: str) -> None:
    text = (
        "$ docker run --gpus all -d -p 9400:9400 nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04\n"
        + warn
        + '\ntime="2025-06-02T10:00:01Z" level=info msg="Starting dcgm-exporter"\n'
        'time="2025-06-02T10:00:02Z" level=info msg="Pipeline starting"\n'
    )
    assert findings(tmp_path, text) == [(PROF, "suggests")]


@pytest.mark.parametrize(
    "failure",
    [
        # the exporter died of something else (a MIG crash, an NVML error): the warning is a note
        "SIGABRT: abort\nPC=0x7f00 m=0 sigcode=18446744073709551610",
        "terminate called after throwing an instance of 'std::logic_error'",
        'time="2025-06-02T10:00:02Z" level=fatal msg="Error starting nv-hostengine: DCGM initialization error"',
        'time=2025-06-02T10:00:02Z level=ERROR msg="Failed to create collector" error="unsupported GPU"',
    ],
)
def test_dcgm_exporter_warning_beside_another_failure_is_a_note(tmp_path: Path, failure: str) -> None:
    text = WARN1 + '\ntime="2025-06-02T10:00:01Z" level=info msg="Starting dcgm-exporter"\n' + failure + "\n"
    assert PROF not in causes(tmp_path, text)
    assert any("the failure in this log is another one" in n for n in notes(tmp_path, text))


def test_dcgm_exporter_warning_with_non_root_engine_still_names_it(tmp_path: Path) -> None:
    # a fatal line that is DCGM refusing the profiling watch is this cause, not another failure
    fatal = 'time="2025-06-02T10:00:02Z" level=fatal msg="Failed to watch metrics: Error watching fields: Host engine is running as non-root"\n'
    assert causes(tmp_path, WARN1 + "\n" + fatal)[:1] == [PROF]
    # ... and with no failure at all the warning itself names it
    assert causes(tmp_path, WARN1 + "\n") == [PROF]


# --- gdbserver / gdb attaching: linux_ptrace_attach_fail_reason_string ('%s (%d)' or '%s (%d), %s') ---


@pytest.mark.parametrize(
    "line",
    [
        # gdbserver linux_process_target::attach: error ("Cannot attach to process %ld: %s", pid, reason)
        "Cannot attach to process 4711: Operation not permitted (1)",
        # gdb linux-nat attach_proc_task_lwp_callback: warning (_("Cannot attach to lwp %d: %s"), lwpid, reason)
        "warning: Cannot attach to lwp 4712: Operation not permitted (1)",
    ],
)
def test_gdbserver_attach_eperm_names_sys_ptrace(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n") == [(PTRACE, "suggests")]


def test_gdbserver_attach_with_a_reason_stays_out(tmp_path: Path) -> None:
    # '%s (%d), %s': another tracer holds the process (or it is a zombie): not a capability
    traced = "Cannot attach to process 4711: Operation not permitted (1), process 4711 is already traced by process 4700\n"
    assert PTRACE not in causes(tmp_path, traced)
    assert causes(tmp_path, "Cannot attach to process 4711: Operation not permitted (1)\n") == [PTRACE]
