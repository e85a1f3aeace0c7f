"""Issue 13, dev backlog (heldout54 round), NVIDIA driver family (glearn54c).

Lines are written from the code that prints them, not copied from the dev logs:

- TensorFlow/XLA's CUDA diagnostics (tensorflow/stream_executor/cuda/cuda_diagnostics.cc, TF 1.x-2.10;
  openxla/xla xla/stream_executor/cuda/cuda_diagnostics.cc, TF 2.15+ / JAX): LOG(ERROR) "kernel version " <<
  DriverVersionToString(kernel) << " does not match DSO version " << DriverVersionToString(dso) << " -- cannot find
  working devices in this configuration" (the fields as integers: 535.183.6 for 535.183.06);
- nvidia-smi's banner ("| NVIDIA-SMI 535.183.06   Driver Version: 535.183.06   CUDA Version: 12.2 |") and
  `nvidia-smi -q` ("Driver Version                            : 535.183.06"), printed only after NVML initialised,
  i.e. with the host's user-space driver matching its kernel module.

A kernel/DSO mismatch where nvidia-smi's driver IS the kernel's release and the DSO is newer, on a CUDA release's driver
branch, is the image's forward-compat libcuda (cuda.forward-compat-unsupported), not a host upgraded without a reboot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, notes

_XLA = ("2025-03-13 13:26:48.680427: E external/xla/xla/stream_executor/cuda/cuda_diagnostics.cc:262] kernel version "
        "{kernel} does not match DSO version {dso} -- cannot find working devices in this configuration\n")
_TF = ("2022-02-01 10:00:00.000001: E tensorflow/stream_executor/cuda/cuda_diagnostics.cc:313] kernel version {kernel} "
       "does not match DSO version {dso} -- cannot find working devices in this configuration\n")
_CUINIT = ("2025-03-13 13:26:48.680364: E external/xla/xla/stream_executor/cuda/cuda_driver.cc:152] failed call to "
           "cuInit: INTERNAL: CUDA error: Failed call to cuInit: CUDA_ERROR_UNKNOWN: unknown error\n")
_BANNER = "| NVIDIA-SMI {v}             Driver Version: {v}   CUDA Version: {c}     |\n"
_SMI_Q = "Driver Version                            : {v}\n"


@pytest.mark.parametrize(
    "text",
    [
        # XLA (JAX, TF 2.15+) with nvidia-smi's banner: 535 host, the image's CUDA 12.6 compat libcuda (560)
        _BANNER.format(v="535.183.06", c="12.2") + _CUINIT + _XLA.format(kernel="535.183.6", dso="560.28.3"),
        # TF 1.x-2.10 with `nvidia-smi -q`: a 470 host, CUDA 11.6's compat libcuda (510)
        _SMI_Q.format(v="470.57.02") + _TF.format(kernel="470.57.2", dso="510.47.3"),
        # a two-field release (550.120) as XLA prints it (550.120.0), CUDA 12.8's compat libcuda (570)
        _BANNER.format(v="550.120", c="12.4") + _XLA.format(kernel="550.120.0", dso="570.86.10"),
        # the driver's two fields pasted in a report, as the dev logs write them
        "GPU: L40-24Q (Driver Version: 535.183.06 and CUDA Version: 12.2)\n"
        + _XLA.format(kernel="535.183.6", dso="560.35.3"),
    ],
    ids=["xla-banner", "tf-smi-q", "two-field-release", "report-fields"],
)
def test_kernel_dso_mismatch_beside_the_hosts_own_driver_is_the_images_compat_libcuda(tmp_path: Path, text: str) -> None:
    got = causes(tmp_path, text)
    assert got and got[0] == "cuda.forward-compat-unsupported", got
    assert "nvidia.driver-library-mismatch" not in got, got
    assert any("forward-compat libcuda is in use" in n for n in notes(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        # nvidia-smi's driver is not the kernel's release: a stale module, the same mismatch as before
        _BANNER.format(v="560.28.03", c="12.6") + _XLA.format(kernel="535.183.6", dso="560.28.3"),
        # the DSO older than the kernel (host libraries downgraded, jax#11477's shape)
        _BANNER.format(v="515.48.07", c="11.7") + _XLA.format(kernel="515.48.7", dso="510.73.5"),
        # a DSO branch no CUDA release ships as its compat libcuda
        _SMI_Q.format(v="384.90") + _TF.format(kernel="384.90.0", dso="390.48.0"),
        # no nvidia-smi driver in the log: nothing tells the host's libraries from the image's
        _XLA.format(kernel="535.183.6", dso="560.28.3"),
    ],
    ids=["smi-not-kernel", "dso-older", "dso-not-a-cuda-branch", "no-smi-driver"],
)
def test_other_kernel_dso_mismatches_stay_a_driver_library_mismatch(tmp_path: Path, text: str) -> None:
    got = causes(tmp_path, text)
    assert got and got[0] == "nvidia.driver-library-mismatch", got
    assert "cuda.forward-compat-unsupported" not in got, got
