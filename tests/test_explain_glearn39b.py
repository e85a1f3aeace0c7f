"""Issue 13, heldout39 lessons (glearn39b): lines written from the code that prints them, not copied from the logs.

- rocBLAS's TensileHost::GetDeviceCount "rocBLAS error: Could not initialize Tensile host: No devices found" (and
  hipBLASLt's "rocblaslt error: ..."): HIP sees no device; with a HIP/ROCR_VISIBLE_DEVICES mask in the log (also the
  os.environ["HIP_VISIBLE_DEVICES"]="1" form) the mask is named. The library-file form ("Could not initialize Tensile
  host:" then a filesystem error) is no device problem;
- CUDA ops built without CUDA ("Not compiled with GPU support", also quoted by a user as "Not compiled with gpu")
  beside a Dockerfile: the build step had no GPU; FORCE_CUDA=1 set before `&&` is not exported; XGBoost's CPU wheel and
  llama.cpp's "not compiled with GPU offload support" are not this;
- Chromium's SUID sandbox fallback (setuid_sandbox_host.cc) on a host: AppArmor's user-namespace restriction, suggested;
  inside a container a note;
- a SIGBUS (gfortran's runtime line) with MPICH's shared-memory words (its NOLOCAL CVARs, nemesis, CH4 POSIX): shm;
- "invalid device ordinal" while accelerate dispatches a checkpoint by its device map: no container mask;
- ExLlama's host-bounce workaround (EXLLAMA_NO_P2P_COPY=1, -gpfix) said to fix a split model, or
  can_device_access_peer True with a copy that comes back zeros: P2P reported but unusable, suggested.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

ROCM_MASK = "rocm.visible-devices-mismatch"
BUILD = "runtime.build-without-gpu"
USERNS = "userns.apparmor-restricted"
SHM = "shm.too-small"
CUDA_MASK = "cuda.visible-devices-mismatch"
P2P = "nccl.p2p-unsupported"

# --- rocBLAS / hipBLASLt: Tensile host with no devices --------------------------------------------------------------

_TENSILE = [
    "\nrocBLAS error: Could not initialize Tensile host: No devices found\n",
    "rocblaslt error: Could not initialize Tensile host: No devices found\n",
    "llama_model_load: error loading model: rocBLAS error: Could not initialize Tensile host: No devices found\n",
]


@pytest.mark.parametrize("line", _TENSILE, ids=["rocblas", "rocblaslt", "wrapped"])
def test_tensile_no_devices_alone_is_a_hip_no_device(tmp_path: Path, line: str) -> None:
    got = _causes(tmp_path, line)
    assert got and got[0] in {"device.group-denied", "device.kfd-missing", ROCM_MASK}, got


@pytest.mark.parametrize(
    "mask",
    [
        'os.environ["HIP_VISIBLE_DEVICES"]="1"\n',
        "export HIP_VISIBLE_DEVICES=1\n",
        "ROCR_VISIBLE_DEVICES=2 python server.py\n",
        "os.environ['HIP_VISIBLE_DEVICES'] = '1'\n",
    ],
    ids=["environ-brackets", "export", "rocr-prefix", "environ-single-quotes"],
)
@pytest.mark.parametrize("line", _TENSILE[:2], ids=["rocblas", "rocblaslt"])
def test_tensile_no_devices_with_a_rocm_mask_names_the_mask(tmp_path: Path, mask: str, line: str) -> None:
    got = _findings(tmp_path, mask + line)
    assert got and got[0] == (ROCM_MASK, "suggests"), got


def test_tensile_library_file_form_is_not_a_device_problem(tmp_path: Path) -> None:
    text = (
        'os.environ["HIP_VISIBLE_DEVICES"]="0"\n'
        "rocBLAS error: Cannot read /opt/app/rocblas/library/TensileLibrary.dat: No such file or directory for GPU arch : gfx1103\n"
        "rocBLAS error: Could not initialize Tensile host:\n"
        "filesystem error: directory iterator cannot open directory: No such file or directory [/opt/app/rocblas/library]\n"
    )
    got = _causes(tmp_path, text)
    assert ROCM_MASK not in got and "device.group-denied" not in got, got
    assert ROCM_MASK in _causes(tmp_path, 'os.environ["HIP_VISIBLE_DEVICES"]="1"\n' + _TENSILE[0])


# --- CUDA ops built without a GPU -----------------------------------------------------------------------------------

_DOCKERFILE = (
    "FROM nvidia/cuda:11.8.0-devel-ubuntu22.04\n"
    "RUN pip install torch==2.1.0 --index-url https://download.pytorch.org/whl/cu118\n"
)


@pytest.mark.parametrize(
    "line",
    [
        # a user quoting pytorch3d/csrc's AT_ERROR("Not compiled with GPU support")
        'The image builds, but at run time I still get "Not compiled with gpu" error.\n',
        "I get a 'Not compiled with GPU' error from pytorch3d when rendering.\n",
        "pytorch3d was not compiled with gpu support, so the renderer fails on cuda:0\n",
    ],
    ids=["quoted-lower", "quoted-no-support", "prose-lower-support"],
)
def test_ops_without_cuda_beside_a_dockerfile_name_build_without_gpu(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, _DOCKERFILE + line)
    assert got and got[0] == (BUILD, "suggests"), got


@pytest.mark.parametrize(
    "line",
    [
        # dmlc/xgboost: a CPU wheel, nothing built in an image
        "xgboost.core.XGBoostError: [10:00:00] ../src/data/data.cc:980: XGBoost version is not compiled with GPU support.\n",
        # llama.cpp common/arg.cpp: a CPU build told that --n-gpu-layers is ignored
        "warning: not compiled with GPU offload support, --n-gpu-layers option will be ignored\n",
        # torch's CPU wheel is another message (and another family)
        "AssertionError: Torch not compiled with CUDA enabled\n",
    ],
    ids=["xgboost", "llamacpp-offload", "torch-cpu-wheel"],
)
def test_cpu_builds_that_are_not_a_gpu_less_build_step_stay_out(tmp_path: Path, line: str) -> None:
    assert BUILD not in _causes(tmp_path, _DOCKERFILE + line)
    assert BUILD in _causes(tmp_path, _DOCKERFILE + 'I still get "Not compiled with gpu" error.\n')


def test_ops_without_cuda_without_a_container_stay_a_note(tmp_path: Path) -> None:
    line = 'I get a "Not compiled with gpu" error after pip install on my laptop.\n'
    assert _causes(tmp_path, line) == []
    assert any("built without CUDA" in n for n in _notes(tmp_path, line))


@pytest.mark.parametrize(
    "run",
    [
        "RUN FORCE_CUDA=1 && pip install 'git+https://github.com/facebookresearch/pytorch3d.git'\n",
        "RUN TORCH_CUDA_ARCH_LIST=8.6 FORCE_CUDA=1 && python setup.py install\n",
        'RUN FORCE_CUDA="1"; pip install -e .\n',
    ],
    ids=["and", "two-assignments", "semicolon"],
)
def test_force_cuda_not_exported_says_so(tmp_path: Path, run: str) -> None:
    text = "FROM nvidia/cuda:11.8.0-devel-ubuntu22.04\n" + run + "RuntimeError: Not compiled with GPU support\n"
    got = _findings(tmp_path, text)
    assert got and got[0] == (BUILD, "suggests"), got


@pytest.mark.parametrize(
    "run",
    [
        "RUN FORCE_CUDA=1 pip install 'git+https://github.com/facebookresearch/pytorch3d.git'\n",
        "RUN export FORCE_CUDA=1 && pip install -e .\n",
        "ENV FORCE_CUDA=1\n",
    ],
    ids=["prefix", "export", "env"],
)
def test_exported_force_cuda_is_not_the_shell_variable_mistake(tmp_path: Path, run: str) -> None:
    from explain_helpers import knowledge_ids

    assert "dockerfile.force-cuda-not-exported" in knowledge_ids()
    # a healthy Dockerfile alone: nothing, and no word of an unexported variable
    text = "FROM nvidia/cuda:11.8.0-devel-ubuntu22.04\n" + run
    assert _causes(tmp_path, text) == []
    assert not any("not exported" in n for n in _notes(tmp_path, text))


def test_force_cuda_not_exported_alone_is_no_cause(tmp_path: Path) -> None:
    run = "RUN FORCE_CUDA=1 && pip install 'git+https://github.com/facebookresearch/pytorch3d.git'\n"
    assert _causes(tmp_path, "FROM nvidia/cuda:11.8.0-devel-ubuntu22.04\n" + run) == []
    from explain_helpers import knowledge_ids

    assert "g39b-force-cuda-not-exported-ops" in knowledge_ids()


# --- Chromium / Electron SUID sandbox fallback ------------------------------------------------------------------------

_SUID_NEW = (
    "[4242:0101/120000.000000:FATAL:setuid_sandbox_host.cc(158)] The SUID sandbox helper binary was found, but is not "
    "configured correctly. Rather than run without sandboxing I'm aborting now. You need to make sure that "
    "/tmp/.mount_AppXyZ12/chrome-sandbox is owned by root and has mode 4755.\n"
    "Trace/breakpoint trap (core dumped)\n"
)
_SUID_OLD = (
    "[1:1:0101/000000:FATAL:zygote_host_linux.cc(120)] The SUID sandbox helper binary was found, but is not configured "
    "correctly. Rather than run without sandboxing I'm aborting now. You need to make sure that /opt/app/chrome-sandbox "
    "is mode 4755.\n"
)


@pytest.mark.parametrize("text", [_SUID_NEW, _SUID_OLD], ids=["owned-by-root", "old-mode-4755"])
def test_suid_sandbox_fallback_on_a_host_suggests_the_userns_restriction(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (USERNS, "suggests"), got


def test_apparmor_audit_line_still_proves(tmp_path: Path) -> None:
    audit = (
        'audit: type=1400 audit(1745660000.123:321): apparmor="DENIED" operation="capable" class="cap" '
        'profile="unprivileged_userns" pid=4242 comm="lm-studio" capability=21  capname="sys_admin"\n'
    )
    got = _findings(tmp_path, audit + _SUID_NEW)
    assert got and got[0] == (USERNS, "proves"), got
    assert _findings(tmp_path, _SUID_NEW)[0] == (USERNS, "suggests")


def test_suid_sandbox_fallback_inside_a_container_is_a_note(tmp_path: Path) -> None:
    text = "$ docker run --rm -it my-electron-app:latest\n" + _SUID_NEW
    assert USERNS not in _causes(tmp_path, text)
    assert any("seccomp" in n for n in _notes(tmp_path, text))


def test_chromium_no_sandbox_flag_line_is_clean(tmp_path: Path) -> None:
    assert _causes(tmp_path, "Exec=AppRun --no-sandbox %U\n") == []
    assert USERNS in _causes(tmp_path, "Exec=AppRun --no-sandbox %U\n" + _SUID_OLD)


# --- MPICH's shared memory and SIGBUS -------------------------------------------------------------------------------

_SIGBUS_GFORTRAN = (
    "Program received signal SIGBUS: Access to an undefined portion of a memory object.\n"
    "Backtrace for this error:\n"
)


@pytest.mark.parametrize(
    "mpich",
    [
        "export MPIR_CVAR_CH3_NOLOCAL=1 avoids it\n",
        "MPIR_CVAR_NOLOCAL=1 mpirun -n 6 ./fv3.exe\n",
        "    MPICH Device:    \tch3:nemesis\n",
        "#3 0x7f00 in MPID_nem_mpich_blocking_recv\n",
        "#4 0x7f00 in MPIDI_POSIX_eager_recv_begin\n",
    ],
    ids=["ch3-nolocal", "ch4-nolocal", "mpichversion", "nemesis-frame", "ch4-posix-frame"],
)
def test_sigbus_with_mpich_shared_memory_names_shm(tmp_path: Path, mpich: str) -> None:
    got = _findings(tmp_path, mpich + _SIGBUS_GFORTRAN)
    assert got and got[0] == (SHM, "suggests"), got


def test_sigbus_without_mpich_shm_words_stays_clean(tmp_path: Path) -> None:
    # (a Hydra "Bus error (signal 7)" box is already read as shm by the generic child-death signatures)
    assert SHM not in _causes(tmp_path, _SIGBUS_GFORTRAN)
    assert SHM not in _causes(tmp_path, "MPICH Version:    4.1.2\n" + _SIGBUS_GFORTRAN)
    assert SHM in _causes(tmp_path, "MPICH Device:    ch3:nemesis\n" + _SIGBUS_GFORTRAN)


def test_mpich_words_without_sigbus_stay_clean(tmp_path: Path) -> None:
    text = "    MPICH Device:    \tch3:nemesis\nexport MPIR_CVAR_CH3_NOLOCAL=1\n" + (
        "YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Segmentation fault (signal 11)\n"
    )
    assert SHM not in _causes(tmp_path, text)
    assert SHM in _causes(tmp_path, text + _SIGBUS_GFORTRAN)


# --- invalid device ordinal while accelerate dispatches by a device map -----------------------------------------------

_DISPATCH = (
    "Traceback (most recent call last):\n"
    '  File "/env/lib/python3.10/site-packages/somelib/model.py", line 80, in load\n'
    "    load_checkpoint_and_dispatch(\n"
    '  File "/env/lib/python3.10/site-packages/accelerate/big_modeling.py", line 579, in load_checkpoint_and_dispatch\n'
    "    load_checkpoint_in_model(\n"
    '  File "/env/lib/python3.10/site-packages/accelerate/utils/modeling.py", line 1736, in load_checkpoint_in_model\n'
    "    set_module_tensor_to_device(model, param_name, param_device, value=param)\n"
    '  File "/env/lib/python3.10/site-packages/accelerate/utils/modeling.py", line 329, in set_module_tensor_to_device\n'
    "    new_value = value.to(device)\n"
    "RuntimeError: CUDA error: invalid device ordinal\n"
)


def test_invalid_ordinal_in_accelerate_dispatch_is_not_the_container_mask(tmp_path: Path) -> None:
    got = _causes(tmp_path, _DISPATCH)
    assert CUDA_MASK not in got and "vllm.tp-exceeds-visible-gpus" not in got, got


def test_invalid_ordinal_in_dispatch_with_a_mask_shown_keeps_the_mask(tmp_path: Path) -> None:
    assert CUDA_MASK in _causes(tmp_path, "export CUDA_VISIBLE_DEVICES=0\n" + _DISPATCH)
    assert CUDA_MASK not in _causes(tmp_path, _DISPATCH)


def test_invalid_ordinal_outside_a_dispatch_keeps_the_mask(tmp_path: Path) -> None:
    text = (
        '  File "/app/train.py", line 12, in main\n'
        "    torch.cuda.set_device(3)\n"
        "RuntimeError: CUDA error: invalid device ordinal\n"
    )
    assert CUDA_MASK in _causes(tmp_path, text)
    assert CUDA_MASK not in _causes(tmp_path, _DISPATCH)


# --- P2P reported but unusable (ExLlama's host bounce) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Setting EXLLAMA_NO_P2P_COPY=1 fixes both: the split model is coherent again.\n",
        "Running with -gpfix did the trick, the hidden states arrive intact on cuda:1.\n",
        "It works now with --gpu_peer_fix.\n",
        "torch.cuda.can_device_access_peer(0, 1) is True, yet the hidden state on cuda:1 is garbage.\n",
    ],
    ids=["exl3-env", "exl1-short", "exl1-long", "peer-true-zeros"],
)
def test_host_bounce_fix_or_peer_true_with_zeros_suggests_p2p(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (P2P, "suggests"), got


@pytest.mark.parametrize(
    "line",
    [
        # the option in a config dump or help text, no outcome
        "  gpu_peer_fix: Optional[bool] = Field(None, description=\"Prevent direct copies of data between GPUs\")\n",
        "  -gpfix, --gpu_peer_fix  Prevent direct copies of data between GPUs\n",
        # peer access True and a healthy copy
        "torch.cuda.can_device_access_peer(0, 1): True\n",
        # tried and did not help
        "EXLLAMA_NO_P2P_COPY=1 made no difference, still gibberish.\n",
        "EXLLAMA_NO_P2P_COPY=1 hasn't fixed it for me.\n",
        "Nothing worked, not even with -gpfix.\n",
    ],
    ids=["config-field", "help", "peer-true", "did-not-help", "hasnt-fixed", "nothing-worked"],
)
def test_p2p_workaround_words_without_the_outcome_stay_clean(tmp_path: Path, line: str) -> None:
    assert P2P not in _causes(tmp_path, line)
    assert P2P in _causes(tmp_path, line + "Setting EXLLAMA_NO_P2P_COPY=1 fixes it.\n")


# --- vLLM's placement-group check wrapped by a narrow console (distilabel's Rich logger) -----------------------------

_PG_MESSAGE = (
    "Step load failed: The number of required GPUs exceeds the total number of available GPUs in the placement group."
)


@pytest.mark.parametrize("width", [34, 38], ids=["w34", "w38"])
def test_placement_group_check_wrapped_narrow_names_tp(tmp_path: Path, width: int) -> None:
    import textwrap

    text = "[10/21/24 06:53:04] ERROR ['distilabel.pipeline'] Failed to load step 'gen_0':\n"
    text += "\n".join(textwrap.wrap(_PG_MESSAGE, width)) + "\n"
    got = _findings(tmp_path, text)
    assert got and got[0][0] == "vllm.tp-exceeds-visible-gpus", got


def test_exceeds_the_total_number_in_other_words_stays_clean(tmp_path: Path) -> None:
    line = "Note that when the sum of GPUs exceeds the total number of GPUs on the node, the steps wait.\n"
    assert "vllm.tp-exceeds-visible-gpus" not in _causes(tmp_path, line)
    assert "vllm.tp-exceeds-visible-gpus" in _causes(tmp_path, "load failed: The number of required\nGPUs exceeds the total number of\n")
