"""Issue 13, gnew32a: cause ids for container/host causes earlier collectors and the dev negatives found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- nccl.library-conflict: the dynamic loader's unresolved NCCL function (glibc elf/dl-lookup.c 'undefined symbol: %s'
  under '%s: symbol lookup error: %s: ...' at run time, or dlerror's '%s: undefined symbol: %s' that CPython's
  ImportError / OSError (ctypes.CDLL in torch's _load_global_deps) / ctypes AttributeError (vLLM's pynccl_wrapper
  getattr on a VLLM_NCCL_SO_PATH library) repeat), for functions NCCL added in a release (NVIDIA/nccl src/nccl.h.in:
  ncclCommRegister / ncclMemAlloc / ncclMemFree 2.19.1, ncclCommWindowRegister 2.27.3, ncclCommResume 2.29.7); NCCL's
  own getNcclVersionCompat ('NCCL library is too old. This application was compiled with NCCL version %s, but is
  running with NCCL library version %s.', 'NCCL library is not backwards compatible. ...', src/dev_runtime.cc) and the
  GIN check ('The application was compiled with too old version of NCCL. ...', src/devcomm/devcomm_v22907.cc); package
  listings with two nvidia-nccl-cuXX wheels (pip list's '%-*s %s' columns, pip freeze's '%s==%s', torch's collect_env
  '[pip3] %s'); `ls -l` / find rows of two libnccl.so.2 versions; NCCL banners ('NCCL version %d.%d.%d%s+cuda%d.%d',
  src/init.cc VERSION_STRING) of two CUDA majors.
- device.node-mode-denied: coreutils ls' long format of a GPU node whose group bits lack read+write, beside an EACCES
  open (Python's '[Errno 13] Permission denied: %r', hsakmt's 'Unable to open /dev/kfd read-write: Permission denied'),
  or beside the group read+write fix (chmod g+rw / ug+rwX / 660, a udev rule with MODE="0660").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_NCCL = "nccl.library-conflict"
_MODE = "device.node-mode-denied"
_GROUP = "device.group-denied"

_HEALTHY_NCCL = (
    "node1:4242:4242 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.1<0>\n"
    "node1:4242:4242 [0] NCCL INFO cudaDriverVersion 12080\n"
    "NCCL version 2.21.5+cuda12.4\n"
    "node1:4242:4290 [0] NCCL INFO Channel 00/02 :    0   1\n"
    "node1:4242:4290 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM\n"
    "node1:4242:4290 [0] NCCL INFO Connected all rings\n"
    "node1:4242:4290 [0] NCCL INFO comm 0x55d0 rank 0 nranks 2 cudaDev 0 nvmlDev 0 busId 18000 commId 0x1a2b - Init COMPLETE\n"
)


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "ld.undefined-nccl-symbol", "nccl.app-compiled-against-other-nccl", "nccl.app-compiled-with-older-nccl-gin",
        "ls.gpu-node-mode-no-group-rw", "nccl-wheel", "torch-wheel-cu13", "nccl-lib-copy", "nccl-banner-cuda",
        "gpu-node-group-rw-fix", "nccl-wheels-cu12-cu13", "nccl-wheels-cu11-cu12", "nccl-wheels-cu11-cu13",
        "nccl-wheel-cu12-torch-cu13", "gpu-node-mode-listing-eacces", "gpu-node-root-only-eacces",
        "gpu-node-group-rw-fix-eacces", "gpu-node-mode-listing-not-group", "gpu-node-root-only-not-group",
        "gpu-node-group-rw-fix-not-group",
    ):
        assert sid in got, sid


# --- nccl.library-conflict ----------------------------------------------------------------------------------------

_SITE = "/home/u/.venv/lib/python3.12/site-packages"
_TORCH_IMPORT = (
    "Traceback (most recent call last):\n"
    '  File "<stdin>", line 1, in <module>\n'
    f'  File "{_SITE}/torch/__init__.py", line 409, in <module>\n'
    "    from torch._C import *  # noqa: F403\n"
    f"ImportError: {_SITE}/torch/lib/libtorch_cuda.so: undefined symbol: {{sym}}\n"
)

_NCCL_PROVES = {
    # torch's import: libtorch_cuda.so linked against a newer NCCL than the libnccl.so.2 found first
    "torch-import-window-register": _TORCH_IMPORT.format(sym="ncclCommWindowRegister"),
    "torch-import-comm-resume": _TORCH_IMPORT.format(sym="ncclCommResume"),
    # torch's _load_global_deps loads libtorch_global_deps through ctypes.CDLL: OSError with dlerror's text
    "torch-global-deps-oserror": (
        f"OSError: {_SITE}/torch/lib/libtorch_cuda.so: undefined symbol: ncclCommRegister\n"
    ),
    # a lazily bound call at run time: ld.so's own message, the process dies
    "ld-symbol-lookup-error": (
        "python3: symbol lookup error: /opt/conda/lib/python3.10/site-packages/torch/lib/libtorch_cuda.so: "
        "undefined symbol: ncclMemAlloc\n"
    ),
    # vLLM's pynccl on the library VLLM_NCCL_SO_PATH names: ctypes' getattr of a function it lacks
    "vllm-pynccl-so-path": (
        "INFO 12-05 05:01:02 [nccl.py:30] Found nccl from environment variable "
        "VLLM_NCCL_SO_PATH=/usr/lib/x86_64-linux-gnu/libnccl.so.2\n"
        '  File "/usr/local/lib/python3.12/dist-packages/vllm/distributed/device_communicators/pynccl_wrapper.py", '
        "line 345, in __init__\n"
        "    f = getattr(self.lib, func.name)\n"
        "AttributeError: /usr/lib/x86_64-linux-gnu/libnccl.so.2: undefined symbol: ncclCommWindowRegister\n"
    ),
    # NCCL's own check of the application's compiled version (v2.30.3+)
    "nccl-library-too-old": (
        "node1:4123:4123 [0] NCCL INFO cudaDriverVersion 13000\n"
        "node1:4123:4123 [0] NCCL WARN NCCL library is too old. This application was compiled with NCCL version "
        "2.30.3, but is running with NCCL library version 2.28.9.\n"
        "node1:4123:4123 [0] NCCL INFO dev_runtime.cc:1473 -> 5\n"
    ),
    "nccl-not-backwards-compatible": (
        "node1:4123:4123 [0] NCCL WARN NCCL library is not backwards compatible. This application was compiled with "
        "NCCL version 2.29.7, but is running with NCCL library version 2.31.1.\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_NCCL_PROVES))
def test_a_missing_nccl_function_or_nccls_version_check_proves_a_library_conflict(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _NCCL_PROVES[form])
    assert got and got[0] == (_NCCL, "proves"), (form, got)


_NCCL_SUGGESTS = {
    # pip list's columns: two NCCL wheels (pytorch/pytorch#186591)
    "pip-list-cu12-cu13": (
        "Package                  Version\n"
        "------------------------ -----------\n"
        "nvidia-nccl-cu12         2.29.3\n"
        "nvidia-nccl-cu13         2.29.7\n"
        "torch                    2.10.0\n"
        "RuntimeError: NCCL error: unhandled cuda error\n"
    ),
    # torch's collect_env: '[pip3] name==version' (rwth-i6/returnn#1802)
    "collect-env-cu11-cu12": (
        "PyTorch version: 2.8.0+cu128\n"
        "[pip3] nvidia-nccl-cu11==2.14.3\n"
        "[pip3] nvidia-nccl-cu12==2.27.3\n"
        "[pip3] torch==2.8.0\n"
    ),
    # a CUDA-13 torch with only the cu12 NCCL wheel
    "torch-cu13-nccl-cu12": (
        "torch==2.9.1+cu130\n"
        "nvidia-nccl-cu12==2.27.7\n"
        "torch.distributed.DistBackendError: NCCL error in: /pytorch/torch/csrc/distributed/c10d/NCCLUtils.cpp:77, "
        "unhandled cuda error (run with NCCL_DEBUG=INFO for details), NCCL version 2.27.7\n"
    ),
    # ls -l of two libnccl.so.2 at two versions (NVIDIA/nccl#1784)
    "two-lib-copies": (
        "$ ls -l $NCCL_HOME/lib/libnccl.so.2 /usr/lib/x86_64-linux-gnu/libnccl.so.2\n"
        "lrwxrwxrwx 1 root root 17 Jul 17 19:02 /workspace/nccl/build/lib/libnccl.so.2 -> libnccl.so.2.27.0\n"
        "lrwxrwxrwx 1 root root 17 Sep 10  2024 /usr/lib/x86_64-linux-gnu/libnccl.so.2 -> libnccl.so.2.23.4\n"
    ),
    # two NCCL builds for two CUDA majors in one job
    "two-banner-cuda-majors": (
        "NCCL version 2.14.3+cuda11.7\n"
        "node2:711:711 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.2<0>\n"
        "NCCL version 2.18.1+cuda12.1\n"
        "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1691, "
        "internal error, NCCL version 2.14.3\n"
    ),
    # the GIN kernels of an application compiled with an older NCCL (v2.29.7+)
    "gin-compiled-older": (
        "node1:4123:4123 [0] NCCL WARN The application was compiled with too old version of NCCL. It was compiled "
        "with NCCL version 2.29.2, but is running with NCCL library version 2.29.7. Because of its use of GIN device "
        "kernels, it needs to be recompiled, preferably with the same NCCL version that it will be running with.\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_NCCL_SUGGESTS))
def test_two_nccls_in_the_listing_or_the_banners_suggest_a_library_conflict(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _NCCL_SUGGESTS[form])
    assert got and got[0] == (_NCCL, "suggests"), (form, got)


_NCCL_CLEAN = {
    # a plain banner: one NCCL, a healthy run
    "healthy-banner": _HEALTHY_NCCL,
    # vLLM 0.4.0-0.4.2 ran its pinned libnccl 2.18.1 beside torch's 2.19.3 by design: one CUDA major
    "vllm-pinned-beside-torch": (
        "INFO 04-15 10:56:57 pynccl.py:58] Loading nccl from library /root/.config/vllm/nccl/cu12/libnccl.so.2.18.1\n"
        "NCCL version 2.18.1+cuda12.0\n"
        "NCCL version 2.19.3+cuda12.3\n"
        "INFO 04-15 10:57:10 model_runner.py:756] Graph capturing finished in 5 secs.\n"
    ),
    # an extension built for another torch: a mangled c10d symbol, not libnccl's
    "c10d-mangled-symbol": (
        "ImportError: /usr/local/lib/python3.10/dist-packages/fbgemm_gpu/fbgemm_gpu_py.so: undefined symbol: "
        "_ZN4c10d23ncclGetErrorWithVersionE12ncclResult_t\n"
    ),
    # the plugin loader's probes of a net plugin's entry points
    "net-plugin-probe": (
        "node1:4242:4242 [0] NCCL INFO NET/Plugin: Failed to find ncclNetPlugin_v8 symbol.\n"
        "node1:4242:4242 [0] NCCL INFO NET/Plugin: Plugin load returned 2 : libnccl-net.so: undefined symbol: "
        "ncclNetPlugin_v9\n"
    ) + _HEALTHY_NCCL,
    # one wheel listed, another only in the command that installs it
    "install-command-and-one-wheel": (
        "$ pip install nvidia-nccl-cu12==2.21.5\n"
        "[pip3] nvidia-nccl-cu11==2.14.3\n"
        "[pip3] torch==2.0.1\n"
    ),
    # one copy listed three times (the soname link, the file)
    "one-lib-copy": (
        "lrwxrwxrwx 1 root root       12 Sep 10  2024 libnccl.so -> libnccl.so.2\n"
        "lrwxrwxrwx 1 root root       17 Sep 10  2024 libnccl.so.2 -> libnccl.so.2.23.4\n"
        "-rw-r--r-- 1 root root 234567890 Sep 10  2024 libnccl.so.2.23.4\n"
    ),
    # vLLM on a machine without an NVIDIA GPU: the load fails, no second NCCL in sight
    "vllm-load-failed-alone": (
        "ERROR 10-18 14:42:48 pynccl_wrapper.py:196] Failed to load NCCL library from libnccl.so.2 .It is expected if "
        "you are not running on NVIDIA/AMD GPUs.Otherwise, the nccl library might not exist, be corrupted or it does "
        "not support the current platform Linux-5.15.0-50-generic-x86_64-with-glibc2.31.If you already have the "
        "library, please set the environment variable VLLM_NCCL_SO_PATH to point to the correct nccl library path.\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_NCCL_CLEAN))
def test_one_nccl_or_other_symbols_are_not_a_library_conflict(tmp_path: Path, form: str) -> None:
    assert _NCCL not in _all(tmp_path, _NCCL_CLEAN[form]), form
    # the other direction: libtorch_cuda.so missing an NCCL function is it
    assert _findings(tmp_path, _NCCL_PROVES["torch-import-comm-resume"])[0][0] == _NCCL


# --- device.node-mode-denied --------------------------------------------------------------------------------------

_EACCES_RENDER = "PermissionError: [Errno 13] Permission denied: '/dev/dri/renderD128'\n"
_EACCES_NVIDIA = "PermissionError: [Errno 13] Permission denied: '/dev/nvidia0'\n"
_EACCES_KFD = "Unable to open /dev/kfd read-write: Permission denied\n"

_MODE_FORMS = {
    # listings alone: 0640, 0644, 0600 owned by a NAS user, the root-only 0600 of ROCm/ROCT-Thunk-Interface#36
    "listing-0640": "$ ls -l /dev/dri\ncrw-r-----  1 root render 226, 128 Jun  3 09:12 renderD128\n",
    "listing-0644-path": "crw-r--r-- 1 root video 226,   0 Jun  3 09:12 /dev/dri/card0\n",
    "listing-0600-nas-user": "crw-------  1 admin administrators 226, 128 Jun  3 09:12 renderD128\n",
    "listing-0600-root-kfd": "crw-------   1 root    root    234,   0 Mai 21 05:13 kfd\n",
    # the refusal with the listing: the mode, not the group, decides
    "eacces-with-0640-listing": _EACCES_RENDER + "crw-r-----  1 root render 226, 128 Jun  3 09:12 renderD128\n",
    "eacces-with-0600-nvidia": "crw------- 1 root root 195,   0 Jun  3 09:12 /dev/nvidia0\n" + _EACCES_NVIDIA,
    # the refusal with the fix a thread gave (linuxserver/docker-plex#187: QNAP)
    "eacces-with-chmod-ug-rw": _EACCES_RENDER + "Fixed it on the NAS with: chmod -R ug+rwX /dev/dri\n",
    "eacces-with-udev-0660": _EACCES_KFD + 'Adding KERNEL=="kfd", GROUP="render", MODE="0660" to /etc/udev/rules.d/70-kfd.rules fixed it\n',
}


@pytest.mark.parametrize("form", sorted(_MODE_FORMS))
def test_a_gpu_node_mode_without_group_rw_names_the_mode(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _MODE_FORMS[form])
    assert got and got[0] == (_MODE, "suggests"), (form, got)


_MODE_CLEAN = {
    # the usual 0660 group nodes
    "listing-0660-render": "crw-rw----  1 root render 226, 128 Jun  3 09:12 renderD128\ncrw-rw---- 1 root video 226, 0 Jun  3 09:12 card0\n",
    # logind's uaccess ACL: the mode bits are not the whole answer
    "listing-acl": "crw-------+ 1 root root 226, 128 Jun  3 09:12 renderD128\n",
    # an unmapped group (userns.gid-unmapped's)
    "listing-nogroup": "crw-r----- 1 nobody nogroup 226, 128 Jun  3 09:12 renderD128\n",
    # NVIDIA's capability nodes are 0400 by design
    "nvidia-caps": "cr--------  1 root root 508, 1 Jun  3 09:12 nvidia-cap1\n",
    # a 0600 node that is not a GPU
    "other-device": "crw------- 1 root root 10, 200 Jun  3 09:12 tun\n",
    # the refusal with chmod 666 (the article fix): it also "fixes" a missing group, so the group stays first
    "eacces-with-chmod-666": _EACCES_RENDER + "sudo chmod 666 /dev/dri/renderD128 fixes it\n",
    # the refusal with a numeric-group 0660 listing: the group
    "eacces-with-numeric-group": _EACCES_RENDER + "crw-rw---- 1 root 109 226, 128 Jun  3 09:12 renderD128\n",
    "healthy-nccl": _HEALTHY_NCCL,
}


@pytest.mark.parametrize("form", sorted(_MODE_CLEAN))
def test_group_nodes_acls_and_other_devices_are_not_a_mode_problem(tmp_path: Path, form: str) -> None:
    assert _MODE not in _all(tmp_path, _MODE_CLEAN[form]), form
    # the other direction: a 0640 render node is it
    assert _findings(tmp_path, _MODE_FORMS["listing-0640"])[0][0] == _MODE


def test_a_refusal_with_a_numeric_group_stays_a_group_problem(tmp_path: Path) -> None:
    got = _findings(tmp_path, _MODE_CLEAN["eacces-with-numeric-group"])
    assert got and got[0][0] == _GROUP, got
    got = _findings(tmp_path, _MODE_FORMS["eacces-with-0640-listing"])
    assert got[0][0] == _MODE and _GROUP not in [c for c, _ in got], got
