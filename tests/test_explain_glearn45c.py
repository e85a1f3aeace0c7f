"""Issue 13, heldout45 lessons (glearn45c): devices other than NVIDIA GPUs and the host layer under them.

Lines are written from the code that prints them (not copied from the heldout45 logs): the Rockchip RKNN runtime's
misleading 'failed to open rknpu module, need to insmod rknpu dirver!' (a refused open of /dev/rknpu or the DRM
node, most often a non-root user), the Coral Edge TPU API's 'Error in device opening (%s)!' for the USB accelerator
and /dev/apex_0, /dev/apex_0 missing (gasket/apex modules not loaded: unsigned DKMS modules under Secure Boot),
the Intel Media SDK / oneVPL samples' 'CreateHWDevice failed' (the VA-API device on the DRM render node), CMSSW's
GPU unit tests skipping themselves on a node without a GPU, and Frigate's 'No EdgeTPU was detected' inside an LXC.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # RKNN runtime (librknnrt): the 2022-2023 misspelt form and the later corrected one, with the time stamp
        # the runtime's logger prints and without it
        ("E RKNN: [14:21:07.004] failed to open rknpu module, need to insmod rknpu dirver!\n"
         "E RKNN: [14:21:07.004] failed to open rknn device!\n", "device.group-denied"),
        ("E RKNN: failed to open rknpu module, need to insmod rknpu driver!\n"
         "E RKNN: failed to open rknn device!\nrknn_init fail! ret=-1\n", "device.group-denied"),
        # Coral Edge TPU API: USB sysfs path (bus-port and a hub port), and the PCIe/Dev Board node
        ("RuntimeError: Error in device opening (/sys/bus/usb/devices/3-2)!\n", "device.group-denied"),
        ("RuntimeError: Error in device opening (/sys/bus/usb/devices/2-1.4)!\n", "device.group-denied"),
        ("RuntimeError: Error in device opening (/dev/apex_0)!\n", "device.group-denied"),
        # /dev/apex_0 missing: GNU ls with and without quotes, a script's own words
        ("ls: cannot access '/dev/apex_0': No such file or directory\n", "device.no-driver"),
        ("ls: cannot access /dev/apex_0: No such file or directory\n", "device.no-driver"),
        ("FileNotFoundError: [Errno 2] No such file or directory: '/dev/apex_0'\n", "device.no-driver"),
        # Intel Media SDK / oneVPL samples: MSDK_CHECK_STATUS "[ERROR], sts=%s(%d), %s, %s at %s:%d"
        ("[ERROR], sts=MFX_ERR_MEMORY_ALLOC(-4), CreateAllocator, CreateHWDevice failed at "
         "/src/samples/sample_encode/src/pipeline_encode.cpp:1187\n", "device.render-node-missing"),
        ("[ERROR], sts=MFX_ERR_MEMORY_ALLOC(-4), Init, CreateHWDevice failed at pipeline_transcode.cpp:2840\n",
         "device.render-node-missing"),
    ],
)
def test_device_open_families_named(tmp_path: Path, text: str, cause: str) -> None:
    assert _findings(tmp_path, text)[:1] == [(cause, "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # CMSSW requireDevices.cc testDevices: both of its messages, and the ROCm twin
        "===== Test \"testCudaDeviceQuery\" ====\nFailed to initialise the CUDA runtime, the test will be skipped.\n",
        "No CUDA devices available, the test will be skipped.\n",
        "Failed to initialise the ROCm runtime, the test will be skipped.\n",
    ],
)
def test_cmssw_gpu_test_skipped_is_no_gpu(tmp_path: Path, text: str) -> None:
    # device.no-gpu is a notice by design: nothing above it, and it is the first notice, where the job was meant to
    # have a GPU (an HTCondor request here); the bare skip of a CPU-only run is a note since glearn46d
    # (tests/test_explain_glearn46d.py covers both sides)
    meant = "request_GPUs = 1\n" + text
    assert _findings(tmp_path, meant) == []
    assert _all(tmp_path, meant)[:1] == ["device.no-gpu"]
    assert _all(tmp_path, text) == []


@pytest.mark.parametrize(
    "text",
    [
        ("Frigate runs in Docker inside an unprivileged LXC container on Proxmox 8.\n"
         "frigate.edgetpu ERROR : No EdgeTPU was detected. If you do not have a Coral device yet, you must "
         "configure CPU detectors.\n"),
        ("lxc.cgroup2.devices.allow: c 226:0 rwm\n"
         "detector.coral ERROR : No EdgeTPU detected.\n"),
    ],
)
def test_frigate_edgetpu_in_lxc_is_cgroup(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [("device.cgroup-denied", "suggests")]


def test_apex_missing_under_secure_boot_names_it(tmp_path: Path) -> None:
    text = ("$ mokutil --sb-state\nSecureBoot enabled\n$ ls /dev/apex_0\n"
            "ls: cannot access '/dev/apex_0': No such file or directory\n")
    assert _findings(tmp_path, text)[:1] == [("host.secure-boot-unsigned-module", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # Frigate's message without an LXC: Docker device mapping, HA protection mode, USB power: no cause
        ("frigate.edgetpu ERROR : No EdgeTPU was detected. If you do not have a Coral device yet, you must "
         "configure CPU detectors.\n"),
        # an LXC mentioned with a healthy Frigate
        "Running in an LXC container.\nfrigate.edgetpu INFO : TPU found\n",
        # /dev/apex_0 present and listed, the node used in a healthy run
        "crw-rw---- 1 root apex 120, 0 Jan  2 10:00 /dev/apex_0\n",
        "I: Opening /dev/apex_0 for inference\n",
        # the Edge TPU's other errors (a model not compiled for it), libusb's own wording elsewhere
        "RuntimeError: Error in device opening!\n",
        # the Media SDK on Windows (D3D11 device) and a healthy sample run
        "[ERROR], sts=MFX_ERR_DEVICE_FAILED(-17), Init, CreateHWDevice failed at C:\\msdk\\pipeline_decode.cpp:439\n",
        "Decoding started\nlibva info: VA-API version 1.14.0\nlibva info: va_openDriver() returns 0\n",
        # the RKNN runtime's healthy start and a model-side failure
        "I RKNN: [10:02:33.517] RKNN Runtime Information, librknnrt version: 1.5.2\n",
        "E RKNN: [10:02:33.517] Invalid RKNN model version 6\n",
        # a test that skips for another reason
        "No display available, the test will be skipped.\n",
    ],
)
def test_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text) == []
