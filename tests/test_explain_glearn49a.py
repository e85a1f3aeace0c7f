"""Issue 13, heldout49 lessons (glearn49a): cloud GPU images and kernels.

Lines are written from the code or docs that print them (not copied from the heldout49 logs):
- dcgm-exporter's newNVMLProvider (internal/pkg/nvmlprovider/provider.go, 4.1.1-4.0.4 and later):
  slog.Error(fmt.Sprintf("Cannot init NVML library; err: %v", err)) with go-nvml's code name, under slog's text handler
  ('time=... level=ERROR msg="..."') or the default logger ('2025/02/27 02:51:27 ERROR ...'); on GKE (the driver
  directory or a GKE label in the log) the library is off the loader path;
- a report that the GPU driver installs / works once Secure Boot is off, or that its install with Secure Boot fails
  (MicrosoftDocs/azure-docs#111536, GoogleCloudDataproc/initialization-actions#1043);
- a report that amdgpu exposes only /dev/dri and no /dev/kfd: a kernel without CONFIG_HSA_AMD (flatcar/scripts#4053,
  siderolabs/pkgs#893).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings

TOOLKIT = "runtime.nvidia-toolkit-missing"
OFFPATH = "nvidia.driver-libs-off-library-path"
SECBOOT = "host.secure-boot-unsigned-module"
NOHSA = "amd.kernel-hsa-disabled"

# --- dcgm-exporter: NVML not loadable in the pod ---

_DCGM_START = (
    'time=2026-03-02T10:00:00.100Z level=INFO msg="Starting dcgm-exporter" Version=4.5.2-4.8.1\n'
    'time=2026-03-02T10:00:00.101Z level=INFO msg="Attempting to initialize DCGM."\n'
    'time=2026-03-02T10:00:00.105Z level=INFO msg="DCGM successfully initialized!"\n'
    'time=2026-03-02T10:00:00.105Z level=INFO msg="Attempting to initialize NVML library."\n'
)


@pytest.mark.parametrize(
    "line",
    [
        # slog text handler: msg quoted
        'time=2026-03-02T10:00:00.106Z level=ERROR msg="Cannot init NVML library; err: ERROR_LIBRARY_NOT_FOUND"\n',
        # slog default logger (no handler configured: log's date prefix)
        "2026/03/02 10:00:00 ERROR Cannot init NVML library; err: ERROR_LIBRARY_NOT_FOUND\n",
    ],
)
def test_dcgm_exporter_nvml_library_not_found_names_the_injection(tmp_path: Path, line: str) -> None:
    got = findings(tmp_path, _DCGM_START + line)
    assert got and got[0] == (TOOLKIT, "suggests"), got


def test_dcgm_exporter_nvml_library_not_found_on_gke_is_the_loader_path(tmp_path: Path) -> None:
    text = (
        "Node-Selectors: cloud.google.com/gke-accelerator=nvidia-l4\n"
        + _DCGM_START
        + 'time=2026-03-02T10:00:00.106Z level=ERROR msg="Cannot init NVML library; err: ERROR_LIBRARY_NOT_FOUND"\n'
    )
    assert causes(tmp_path, text)[0] == OFFPATH


@pytest.mark.parametrize(
    "text",
    [
        # another NVML code: not a missing library (cgroup, remote hostengine)
        'time=2025-07-23T11:26:35.781Z level=ERROR msg="Cannot init NVML library; err: Unknown Error"\n',
        # 3.3.x's bare form: no code to read
        'time="2024-01-01T00:00:00Z" level=error msg="Can not init NVML library."\n',
        # DCGM's string alone: said whatever kept NVML from loading
        "INFO Not collecting GPU metrics; Error getting devices count: Cannot perform the requested operation because "
        "NVML doesn't exist on this system.\n",
    ],
)
def test_dcgm_exporter_neighbours_stay_off_the_toolkit(tmp_path: Path, text: str) -> None:
    assert TOOLKIT not in causes(tmp_path, text)
    assert OFFPATH not in causes(tmp_path, text)
    # ... while the library's own code is read
    assert causes(tmp_path, "ERROR Cannot init NVML library; err: ERROR_LIBRARY_NOT_FOUND\n")[0] == TOOLKIT


# --- Secure Boot named as the switch in a report ---


@pytest.mark.parametrize(
    "text",
    [
        "The NVIDIA GPU Driver Extension fails on this VM. The extension installed successfully when Secure Boot was disabled.\n",
        # a maintainer's words on a Dataproc image ("secured boot")
        "Looks like the init action is blocked: nvidia-smi works when secured boot is turned off\n",
        "The NVIDIA driver loaded after Secure Boot was turned off in the VM's security settings.\n",
        "Installing the GPU drivers with Secure Boot enabled fails on Ubuntu 22.04 (Trusted Launch VM).\n",
        "Installing the NVIDIA drivers with Secure Boot on Ubuntu 20.04 is not working.\n",
    ],
)
def test_driver_works_with_secure_boot_off_names_module_signing(tmp_path: Path, text: str) -> None:
    got = findings(tmp_path, text)
    assert got and got[0] == (SECBOOT, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # negated: Secure Boot off did not help
        "The NVIDIA driver still does not work even when Secure Boot is disabled.\n",
        "nvidia-smi doesn't load the driver even after disabling Secure Boot.\n",
        # a failure with Secure Boot off is no signing problem
        "the nvidia module failed to load with secure boot disabled\n",
        # a condition in a how-to
        "If Secure Boot is disabled, the driver loads without a signed module.\n",
        # not the GPU
        "Windows boots fine when secure boot is off.\n",
        # two facts in two sentences, no link between them
        "The driver works. The firmware shows that Secure Boot is disabled.\n",
    ],
)
def test_secure_boot_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert SECBOOT not in causes(tmp_path, text)
    # ... while the plain report is named
    assert causes(tmp_path, "nvidia-smi works when Secure Boot is disabled.\n") == [SECBOOT]


# --- amdgpu without amdkfd ---


@pytest.mark.parametrize(
    "text",
    [
        "Currently the amdgpu driver is only exposing /dev/dri/card0 and /dev/dri/renderD128 on the host.\n",
        "The `amdgpu` kernel module only creates the `/dev/dri` nodes, so rocminfo has nothing to open.\n",
        "amdgpu loads and creates /dev/dri/renderD128 but no /dev/kfd on the host.\n",
    ],
)
def test_amdgpu_without_kfd_names_the_kernel_config(tmp_path: Path, text: str) -> None:
    got = findings(tmp_path, text)
    assert got and got[0] == (NOHSA, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # a container's device list, not the driver
        "The compose file only exposes /dev/dri to the container.\n",
        # amdgpu named but both nodes present
        "amdgpu loads and creates /dev/dri/renderD128 and /dev/kfd on the host.\n",
        # the kernel config with HSA on
        "CONFIG_HSA_AMD=y\n[drm] amdgpu kernel modesetting enabled.\n",
    ],
)
def test_amdgpu_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert NOHSA not in causes(tmp_path, text)
    # ... while the driver's missing compute node is named
    assert causes(tmp_path, "The amdgpu driver is only exposing /dev/dri/card0.\n") == [NOHSA]
