"""Issue 13, gnew12: causes the catalogue lacked (heldout12-uncovered.md), read in the code that prints them.

- runtime.cdi-spec-version-unsupported: container-device-interface newSpec "invalid CDI Spec: %w" around
  ValidateVersion's "invalid version %q" (pkg/cdi/spec.go:111,244 @v0.6.2; specs-go/version.go:69 @v1.0.1), and
  ParseSpec's UnmarshalStrict "failed to unmarshal CDI Spec: %w" for a field a later spec version added
  (specs-go/config.go "Added in v0.7.0" ...); the cache wraps both as "failed to load CDI Spec %w".
- runtime.amd-gpu-exclusive-in-use: ROCm/container-toolkit internal/gpu-tracker/gpu-tracker.go ReserveGPUs
  "GPUs %v are exclusive and already in use" (stdout @v1.2.0, error @v1.3.0; its log line says "exlusive").
- rdma.dmabuf-unsupported: NCCL src/misc/ibvwrap.cc IBV_PTR_CHECK_ERRNO "Call to %s failed with error %s" for
  ibv_reg_dmabuf_mr with strerror(EOPNOTSUPP) / strerror(EPROTONOSUPPORT), the two errnos ncclIbDmaBufSupport
  reads as "not supported" (src/transport/net_ib.cc @v2.18.3-1).
- rocm.lsmod-missing: rocminfo.cc CheckInitialState popen("lsmod | grep amdgpu") then "ROCk module is NOT loaded,
  possibly no GPU devices" (ROCm/rocminfo @rocm-4.1.0:1038-1042; 4.0-5.4), with the shell's command-not-found text.
- runtime.build-without-gpu: a docker build step (moby builder/dockerfile "Step %d/%d : %s", "The command '%s'
  returned a non-zero code: %d"; BuildKit 'process %q did not complete successfully: exit code: %d' and its
  "#N [stage k/n] RUN" progress) that found no GPU (torch "No CUDA GPUs are available", "Found no NVIDIA driver").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

NEW = {"runtime.cdi-spec-version-unsupported", "runtime.amd-gpu-exclusive-in-use", "rdma.dmabuf-unsupported",
       "rocm.lsmod-missing", "runtime.build-without-gpu"}


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # Podman prints each CDI registry error as "CDI setup error <path>: <err>"; cache.go "failed to load CDI
        # Spec %w" around newSpec's "invalid CDI Spec: %w" around "invalid version %q"
        ('WARN[0000] CDI setup error /etc/cdi/nvidia.yaml: failed to load CDI Spec invalid CDI Spec: invalid version '
         '"0.7.0"\nError: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=0\n',
         "runtime.cdi-spec-version-unsupported"),
        # moby daemon/cdi.go logs "CDI setup error" with the error field; UnmarshalStrict on a 0.7.0 field
        ('level=warning msg="CDI setup error" dir=/var/run/cdi error="failed to load CDI Spec failed to parse CDI Spec '
         '\\"/var/run/cdi/nvidia.yaml\\": failed to unmarshal CDI Spec: error unmarshaling JSON: while decoding JSON: '
         'json: unknown field \\"additionalGids\\""\n', "runtime.cdi-spec-version-unsupported"),
        # amd-container-runtime's stdout carried through dockerd (gpu-tracker.md:173-176 shows the same text)
        ("docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
         "runtime create failed: amd-container-runtime did not terminate successfully: exit status 1: GPUs [0 2] "
         "allocated\nGPUs [1] are exclusive and already in use\nReleased GPUs [2 0] used by container d23ff3dc\n"
         ": unknown.\n", "runtime.amd-gpu-exclusive-in-use"),
        # v1.2.0's logger line, with its misspelling
        ("2025/06/01 10:00:00 GPUs [3] are exlusive and already in use\n", "runtime.amd-gpu-exclusive-in-use"),
        # NCCL WARN with strerror(EOPNOTSUPP), then torch's ncclSystemError
        ("node1:1234:1290 [0] misc/ibvwrap.cc:288 NCCL WARN Call to ibv_reg_dmabuf_mr failed with error Operation not "
         "supported\nRuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1191, unhandled system error, NCCL version "
         "2.13.4\n", "rdma.dmabuf-unsupported"),
        # strerror(EPROTONOSUPPORT)
        ("misc/ibvwrap.cc:222 NCCL WARN Call to ibv_reg_dmabuf_mr failed with error Protocol not supported\n",
         "rdma.dmabuf-unsupported"),
        # dash's command-not-found for popen's sh -c, then rocminfo's line (COL_RED escape around it)
        ("sh: 1: lsmod: not found\n\x1b[31mROCk module is NOT loaded, possibly no GPU devices\x1b[0m\n",
         "rocm.lsmod-missing"),
        # bash as /bin/sh
        ("sh: line 1: lsmod: command not found\nROCk module is NOT loaded, possibly no GPU devices\n",
         "rocm.lsmod-missing"),
    ],
)
def test_a_new_cause_is_named_first_and_proved(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found, text
    assert found[0] == (cause, "proves"), found


def test_the_dmabuf_error_drops_the_shm_guess(tmp_path: Path) -> None:
    found = _findings(tmp_path, "misc/ibvwrap.cc:288 NCCL WARN Call to ibv_reg_dmabuf_mr failed with error Operation "
                                "not supported\nunhandled system error (run with NCCL_DEBUG=INFO for details)\n")
    assert "shm.too-small" not in {c for c, _ in found}, found


@pytest.mark.parametrize(
    "text",
    [
        # ENOMEM from the same call is the memlock limit, not DMA-BUF support
        "misc/ibvwrap.cc:222 NCCL WARN Call to ibv_reg_dmabuf_mr failed with error Cannot allocate memory\n",
        # a CDI spec with a YAML syntax error is no version mismatch
        'WARN[0000] CDI setup error /etc/cdi/nvidia.yaml: failed to load CDI Spec failed to parse CDI Spec '
        '"/etc/cdi/nvidia.yaml": yaml: line 3: mapping values are not allowed in this context\n',
        # rocminfo's line alone is the driver / /dev/kfd question, not lsmod
        "ROCk module is NOT loaded, possibly no GPU devices\n",
        # lsmod missing with nothing failing
        "sh: 1: lsmod: not found\n",
        # the GPU Tracker making GPUs exclusive, and a successful allocation
        "GPUs [1 2 3] have been made exclusive\nGPUs [0 2] allocated\n",
    ],
)
def test_neighbours_stay_clear_of_the_new_causes(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert not any(c in NEW for c, _ in found), found


def test_an_unknown_field_no_spec_version_defines_proves_nothing(tmp_path: Path) -> None:
    # a typo in a hand-written spec: the nearest-cause fallback may guess, but no line proves a version mismatch
    found = _findings(tmp_path, 'failed to unmarshal CDI Spec: error unmarshaling JSON: while decoding JSON: '
                                'json: unknown field "devicenodes"\n')
    assert ("runtime.cdi-spec-version-unsupported", "proves") not in found, found


def test_missing_lsmod_drops_the_kfd_guess(tmp_path: Path) -> None:
    found = _findings(tmp_path, "sh: 1: lsmod: not found\nROCk module is NOT loaded, possibly no GPU devices\n")
    assert "device.kfd-missing" not in {c for c, _ in found}, found


LEGACY_BUILD = ("Step 7/12 : RUN CUDA_EXT=1 pip install -v --no-cache-dir .\n ---> Running in 3f2a61c0\n"
                "RuntimeError: No CUDA GPUs are available\n"
                "The command '/bin/sh -c CUDA_EXT=1 pip install -v --no-cache-dir .' returned a non-zero code: 1\n")
BUILDKIT_BUILD = ("#12 [builder 5/9] RUN python setup.py install\n#12 2.301 AssertionError: Found no NVIDIA driver on "
                  "your system. Please check that you have an NVIDIA GPU and installed a driver\nERROR: failed to solve: "
                  'process "/bin/sh -c python setup.py install" did not complete successfully: exit code: 1\n')


@pytest.mark.parametrize("text", [LEGACY_BUILD, BUILDKIT_BUILD])
def test_no_gpu_in_a_build_step_is_the_build(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    # a guess (the build may have wanted a GPU for one test only), and the container readings are gone
    assert found == [("runtime.build-without-gpu", "suggests")], found


@pytest.mark.parametrize(
    "text",
    [
        # no GPU outside a build: the container readings stay
        "RuntimeError: No CUDA GPUs are available\n",
        # a build step failing for another reason
        "Step 7/12 : RUN pip install flash-attn\nerror: command 'gcc' failed: No such file or directory\n"
        "The command '/bin/sh -c pip install flash-attn' returned a non-zero code: 1\n",
    ],
)
def test_no_build_reading_without_both(tmp_path: Path, text: str) -> None:
    assert "runtime.build-without-gpu" not in {c for c, _ in _findings(tmp_path, text)}
