"""Issue 13, gnew30c: cause ids for container/host causes heldout30's collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- sandbox.cuda-init-denied: CUDA's 304 in its printed forms (cudaGetErrorString 'OS call failed or operation not
  supported on this OS', cudaErrorOperatingSystem, CUDA_ERROR_OPERATING_SYSTEM, a cuInit(0) probe printing 304) beside a
  sandbox that restricts syscalls or files: strace(1)'s 'memfd_create(...) = -1 EPERM (...)', a refused openat of
  /proc/<pid>/task/<tid>/comm, an audit SECCOMP record of syscall 319 (x86_64 memfd_create), a Landlock policy block, a
  custom seccomp profile (--security-opt seccomp=<file>, a Kubernetes localhostProfile), an OpenShell sandbox command
  (NVIDIA/OpenShell#1696, NVIDIA/NemoClaw#4016).
- fs.home-unwritable-arbitrary-uid: Python's PermissionError repr ("[Errno 13] Permission denied: '%s'") on the
  root-level dot directories that Path.home() == '/' gives (triton runtime/cache.py default_cache_dir, vLLM envs.py
  VLLM_CACHE_ROOT / VLLM_CONFIG_ROOT, huggingface_hub HF_HOME) and transformers' 'There was a problem when trying to
  write in your cache folder (%s)' (vllm-project/vllm#10185, llm-d/llm-d#1430).
- network.efa-security-group: libfabric's EFA provider 'err: %d, message: %s (%d)' with 4126's 'Unresponsive receiver
  (reachable by EFA device but handshake failed)' and 15's 'Unreachable remote - never received a response'
  (prov/efa/src/efa_errno.h), libfabric v1.18-v1.20's long 13 text, aws-ofi-nccl's 'Request %p completed with error. RC:
  %d. Error: %s.' and its FI_EHOSTUNREACH banner (src/platform-aws.cpp) (gardener-extension-provider-aws#1832).
- ray.socket-path-too-long: Ray 1.x node.py _prepare_socket_file ('AF_UNIX path length cannot exceed {} bytes: {!r}')
  and Ray 2.x utils.validate_socket_filename ('validate_socket_filename failed: ' prefix).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_SB = "sandbox.cuda-init-denied"
_HOME = "fs.home-unwritable-arbitrary-uid"
_EFA = "network.efa-security-group"
_RAY = "ray.socket-path-too-long"



def test_the_new_signatures_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "cuda.os-call-failed-304", "sandbox.cuda-confinement-named", "sandbox-confined-cuda-304",
        "sandbox-confined-cuda-304-not-ipc", "fs.root-dot-dir-denied", "efa.handshake-unanswered",
        "ray.socket-path-too-long",
    ):
        assert sid in got, sid


# --- sandbox.cuda-init-denied -------------------------------------------------------------------------------------

_E304 = [
    # an application printing cudaGetErrorName / cudaGetErrorString
    "[Error] [omni.rtx] CUDA error 304: cudaErrorOperatingSystem - OS call failed or operation not supported on this OS\n",
    # torch's C10_CUDA_CHECK text
    "RuntimeError: CUDA error: OS call failed or operation not supported on this OS\n",
    # a ctypes probe of the driver API: print(f'cuInit(0)={rc}')
    "cuInit(0)=304\n",
    # cuGetErrorName
    "cuInit failed: CUDA_ERROR_OPERATING_SYSTEM\n",
]

_CONFINED = [
    # strace(1): syscall(args) = -1 ERRNO (strerror)
    'memfd_create("cuda_ipc", MFD_CLOEXEC) = -1 EPERM (Operation not permitted)\n',
    'openat(AT_FDCWD, "/proc/self/task/4123/comm", O_WRONLY|O_CLOEXEC) = -1 EACCES (Permission denied)\n',
    'openat(AT_FDCWD, "/proc/2211/task/2240/comm", O_RDWR) = -1 EROFS (Read-only file system)\n',
    # an audit SECCOMP record of memfd_create on x86_64
    "type=SECCOMP msg=audit(1733390000.123:812): auid=4294967295 uid=1000 gid=1000 ses=4294967295 pid=4123 "
    "comm=\"python3\" exe=\"/usr/bin/python3.12\" sig=0 arch=c000003e syscall=319 compat=0 ip=0x7f2a1c3e1a2d code=0x50000\n",
    # a sandbox policy with a Landlock block, a custom seccomp profile, the OpenShell CLI
    "  landlock:\n",
    "docker run --gpus all --security-opt seccomp=/etc/sandbox/gpu-seccomp.json ovrtx:latest\n",
    "      localhostProfile: profiles/agent-sandbox.json\n",
    "$ openshell sandbox exec drclaw -- python3 probe_cuda.py\n",
]


@pytest.mark.parametrize("ctx", _CONFINED)
@pytest.mark.parametrize("line", _E304)
def test_304_inside_a_confining_sandbox_names_it(tmp_path: Path, ctx: str, line: str) -> None:
    got = _findings(tmp_path, ctx + line)
    assert got and got[0] == (_SB, "suggests"), got
    assert "topology.ranks-split-across-containers" not in _all(tmp_path, ctx + line)


@pytest.mark.parametrize("line", _E304)
def test_a_bare_304_does_not_name_the_sandbox(tmp_path: Path, line: str) -> None:
    # the context decides: the same line beside a Landlock block names it, alone it does not
    assert _SB in _all(tmp_path, _CONFINED[4] + line)
    assert _SB not in _all(tmp_path, line)


@pytest.mark.parametrize(
    "ctx",
    [
        # seccomp switched off is the workaround, not a confining profile
        "docker run --gpus all --security-opt seccomp=unconfined llama-cpp-python\n",
        # gVisor's nvproxy is another failure (a dev negative)
        "gvisor is returning an error when running the server in runsc\n",
        # a memfd_create that succeeded
        'memfd_create("cuda_ipc", MFD_CLOEXEC) = 7\n',
    ],
)
def test_304_beside_no_confinement_does_not_name_it(tmp_path: Path, ctx: str) -> None:
    assert _SB in _all(tmp_path, _CONFINED[0] + _E304[1])
    assert _SB not in _all(tmp_path, ctx + _E304[1])


def test_a_refused_memfd_without_a_cuda_failure_names_nothing(tmp_path: Path) -> None:
    assert _SB in _all(tmp_path, _CONFINED[0] + _E304[0])
    assert _SB not in _all(tmp_path, _CONFINED[0])


# --- fs.home-unwritable-arbitrary-uid -----------------------------------------------------------------------------

_ROOT_DOT = [
    "PermissionError: [Errno 13] Permission denied: '/.triton'\n",
    "PermissionError: [Errno 13] Permission denied: '/.cache'\n",
    "PermissionError: [Errno 13] Permission denied: '/.config/vllm'\n",
    "OSError: [Errno 13] Permission denied: '/.cache/huggingface/hub'\n",
    "There was a problem when trying to write in your cache folder (/.cache/huggingface/hub). You should set the "
    "environment variable TRANSFORMERS_CACHE to a writable directory.\n",
]


@pytest.mark.parametrize("line", _ROOT_DOT)
def test_a_cache_under_root_names_the_arbitrary_uid_home(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (_HOME, "suggests"), got


@pytest.mark.parametrize(
    "line",
    [
        "PermissionError: [Errno 13] Permission denied: '/models/.cache'\n",
        "PermissionError: [Errno 13] Permission denied: '/root/.cache/huggingface'\n",
        "PermissionError: [Errno 13] Permission denied: '/.dockerenv'\n",
        # matplotlib falls back to a temp dir and goes on: a warning, not this failure
        "mkdir -p failed for path /.config/matplotlib: [Errno 13] Permission denied: '/.config'\n",
    ],
)
def test_other_permission_errors_do_not_name_it(tmp_path: Path, line: str) -> None:
    assert _HOME in _all(tmp_path, _ROOT_DOT[1])
    assert _HOME not in _all(tmp_path, line)


# --- network.efa-security-group -----------------------------------------------------------------------------------

_EFA_LINES = [
    # libfabric efa_rdm_txe_handle_error: 'err: %d, message: %s (%d)' with the peer information appended
    "libfabric:5521:1733390000::efa:cq:efa_rdm_txe_handle_error():700<warn> err: 103, message: Unresponsive receiver "
    "(reachable by EFA device but handshake failed) My EFA addr: fi_addr_efa://[fe80::4a:1eff:fe4b:8c2f]:0:1262730284 "
    "My host id: i-0123456789abcdef0 Peer EFA addr: fi_addr_efa://[fe80::a5:56ff:fe10:8a31]:0:1993614290 Peer host id: "
    "N/A (4126)\n",
    # rdma-core's status 15
    "libfabric:5521:1733390000::efa:cq:efa_rdm_txe_handle_error():700<warn> err: 113, message: Unreachable remote - "
    "never received a response (15)\n",
    # aws-ofi-nccl: 'Request %p completed with error. RC: %d. Error: %s. Completed length: %ld, Request: %s'
    "ip-10-1-2-3:5521:5690 [0] nccl_net_ofi_rdma.c:1543 NCCL WARN NET/OFI Request 0x7f3a2c0 completed with error. "
    "RC: 103. Error: Unresponsive receiver (reachable by EFA device but handshake failed) My EFA addr: x. Completed "
    "length: 0, Request: { dev: 0, size: 0, state: CREATED, type: SEND }\n",
    # aws-ofi-nccl's FI_EHOSTUNREACH banner (ofi.efa-security-group-banner, which proves it)
    "* This error indicates that the security group on either this instance or the peer instance\n",
    # libfabric v1.18-v1.20 text of status 13
    "libfabric:77:1690000000:efa:cq:rxr_cq_write_tx_error():244<warn> rxr_cq_write_tx_error: err: 103, prov_err: "
    "Unresponsive receiver. This error is typically caused by a peer hardware failure or incorrect inbound/outbound "
    "rules in the security group - EFA requires \"All traffic\" type allowlisting. Please also verify the peer "
    "application has not terminated unexpectedly. (13)\n",
]


@pytest.mark.parametrize("line", _EFA_LINES)
def test_an_unanswered_efa_handshake_names_the_security_group(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    want = "proves" if "security group on either" in line else "suggests"
    assert got and got[0] == (_EFA, want), got


@pytest.mark.parametrize(
    "line",
    [
        # 4124: the connection was established, the peer went away
        "libfabric:5521:1733390000::efa:cq:efa_rdm_txe_handle_error():700<warn> err: 103, message: Unresponsive "
        "receiver (connection previously established) My EFA addr: x (4124)\n",
        # a healthy aws-ofi-nccl start
        "ip-10-1-2-3:5521:5521 [0] NCCL INFO NET/OFI Selected Provider is efa (found 4 nics)\n",
        "ip-10-1-2-3:5521:5521 [0] NCCL INFO Using network AWS Libfabric\n",
    ],
)
def test_other_efa_lines_do_not_name_it(tmp_path: Path, line: str) -> None:
    assert _EFA in _all(tmp_path, _EFA_LINES[0])
    assert _EFA not in _all(tmp_path, line)


# --- ray.socket-path-too-long -------------------------------------------------------------------------------------

_RAY_LINES = [
    # Ray 2.x utils.validate_socket_filename
    "OSError: validate_socket_filename failed: AF_UNIX path length cannot exceed 107 bytes: "
    "/var/tmp/pbs.4421907.login-pbs-01.hsn.cm.example.org/ray/session_2025-07-14_05-22-38_664188_503911/sockets/plasma_store\n",
    # Ray 1.x node._prepare_socket_file ({!r} of the path)
    "OSError: AF_UNIX path length cannot exceed 107 bytes: "
    "'/scratch/users/someone/projects/long-experiment-name/ray_tmp/session_2021-03-01_10-00-00_123456_7890/sockets/raylet'\n",
    # macOS limit
    "OSError: AF_UNIX path length cannot exceed 103 bytes: '/var/folders/xy/abcdefgh/T/ray/session_x/sockets/plasma_store'\n",
]


@pytest.mark.parametrize("line", _RAY_LINES)
def test_ray_socket_path_too_long_is_proven(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (_RAY, "proves"), got


def test_a_ray_session_path_alone_names_nothing(tmp_path: Path) -> None:
    assert _RAY in _all(tmp_path, _RAY_LINES[0])
    text = "Local node IP: 10.0.0.5\nSession directory: /tmp/ray/session_2025-07-14_05-22-38_664188_503911\n"
    assert _RAY not in _all(tmp_path, text)
