"""Issue 13, heldout42 lessons (glearn42b): GPU sharing and display access as the workload sees it.

Lines are written from the code that prints them (not copied from the heldout42 logs): go-nvlib's MIG profile walk
refused the GPU's memory (device.VisitMigProfiles, 'error getting device memory info: %v', NVML's string or its code);
the kernel's segfault report naming HAMi-core's libvgpu.so (arch/x86/mm/fault.c show_signal_msg + print_vma_addr, with
and without 6.1's 'likely on CPU'); NCCL's cudawrap LOAD_SYM failing on a basic driver entry point in each of its
forms, beside HAMi-core's own log prefix; Jetson's EGL display failure beside the X server's refusal; Omniverse Kit's
GLFW windowing plugin and MuJoCo's 'could not initialize GLFW'; devcontainer.json runArgs with a flag and its value in
one element; ONNX Runtime's affinity EINVAL in a run its author calls slow; the Xlib idiom 'cannot connect to X
server' (Qt 4, VLC); HAMi's CUDA_DISABLE_CONTROL reported as what made a run work; nvidia-smi without memory on a GPU
named as MIG.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

HAMI_MSG = "[HAMI-core Msg(28:140193218840384:libvgpu.c:836)]: Initializing.....\n"
ORT_AFFINITY = (
    "2024-05-02 10:11:12.000000000 [E:onnxruntime:Default, env.cc:254 ThreadMain] pthread_setaffinity_np failed for "
    "thread: 812, index: 3, mask: {4, }, error code: 22 error msg: Invalid argument. Specify the number of threads "
    "explicitly so the affinity is not set.\n"
)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # go-nvlib VisitMigProfiles through VisitDevices: NVML's string (and the reporter's typo of it), or its code
        ("E0101 00:00:00.000000 1 main.go:132] error starting plugins: unable to add default resources to config: "
         "error visiting devices: error visiting device: error visiting device: error getting device memory info: "
         "Insufficient Permissions\n", "nvidia.mig-monitor-denied"),
        ("gpu-feature-discovery: error visiting device: error getting device memory info: Insufficient Pemmissions\n",
         "nvidia.mig-monitor-denied"),
        ("error building device map: error visiting devices: error visiting device: error getting device memory info: 4\n",
         "nvidia.mig-monitor-denied"),
        # the kernel's segfault report inside HAMi-core's interposer (pre-6.1 and 6.1+ forms)
        ("[200100.123456] python3[4410]: segfault at 8 ip 00007f31aa0c41b2 sp 00007ffcb1d0e2a0 error 4 in "
         "libvgpu.so[7f31aa096000+38000]\n", "k8s.gpu-sharing-interposer"),
        ("pt_main_thread[991]: segfault at 0 ip 00007fa0c3e118a2 sp 00007fa09bffe9c0 error 6 in "
         "libvgpu.so[7fa0c3de2000+38000] likely on CPU 12 (core 12, socket 0)\n", "k8s.gpu-sharing-interposer"),
        # NCCL's driver entry point lookup answered 'not found' under the interposer, every LOAD_SYM form
        (HAMI_MSG + "node-0:77:77 [0] misc/cudawrap.cc:162 NCCL WARN Retrieve cuDeviceGet failed with 0 status 1\n",
         "k8s.gpu-sharing-interposer"),
        (HAMI_MSG + "node-0:77:77 [0] misc/cudawrap.cc:98 NCCL WARN Retrieve cuDeviceGetAttribute version 11080 "
         "failed with 500\n", "k8s.gpu-sharing-interposer"),
        (HAMI_MSG + "node-0:77:77 [0] misc/cudawrap.cc:150 NCCL WARN Retrieve cuGetErrorString version 12000 failed "
         "with 0 status 1\n", "k8s.gpu-sharing-interposer"),
        ("LD_PRELOAD=/usr/local/vgpu/libvgpu.so\nnode-0:78:78 [1] misc/cudawrap.cc:230 NCCL WARN CUDA some PFN "
         "functions not found in the library\n", "k8s.gpu-sharing-interposer"),
        # Jetson's EGL display failing after the X server refused the client (pre-21.1 and 21.1+ reason strings)
        ("No protocol specified\nNo EGL Display\nnvbufsurftransform: Could not get EGL display connection\n",
         "display.x11-unavailable"),
        ("Authorization required, but no authorization protocol specified\n"
         "nvbufsurftransform: Could not get EGL display connection\n", "display.x11-unavailable"),
        # GLFW windowing that could not start: Omniverse Kit's plugin, MuJoCo's viewer
        ("2025-03-01 10:00:00 [12,345ms] [Error] [carb.windowing-glfw.plugin] GLFW initialization failed.\n",
         "display.x11-unavailable"),
        ("[Error] [carb] Failed to startup plugin carb.windowing-glfw.plugin (interfaces: "
         "[carb::windowing::IWindowing v1.4]) (impl: carb.windowing-glfw.plugin)\n", "display.x11-unavailable"),
        ("ERROR: could not initialize GLFW\n", "display.x11-unavailable"),
        # devcontainer.json runArgs: a flag and its value in one element
        ('    "runArgs": [ "--device /dev/bus/usb/" ],\n', "runtime.flag-value-one-argument"),
        ('"runArgs": ["--ipc=host", "--gpus all"]\n', "runtime.flag-value-one-argument"),
        ('"runArgs": ["-v /data:/data"],\n', "runtime.flag-value-one-argument"),
        # the Xlib idiom for XOpenDisplay failing: Qt 4's qFatal with an empty name and DISPLAY, VLC's xcb output
        (" : cannot connect to X server \n", "display.x11-unavailable"),
        ("train.py: cannot connect to X server localhost:10.0\n", "display.x11-unavailable"),
        ("[000055d1c2a0] xcb_window window error: cannot connect to X server :1\n", "display.x11-unavailable"),
        # HAMi's switch that keeps HAMi-core out of the container, reported as what made the run work
        ("The server starts successfully if CUDA_DISABLE_CONTROL=true is set on the pod.\n",
         "k8s.gpu-sharing-interposer"),
        ("Setting CUDA_DISABLE_CONTROL to true fixed the NCCL hang for TP=4.\n", "k8s.gpu-sharing-interposer"),
        ("I skipped the issue by using the `CUDA_DISABLE_CONTROL` environment variable\n",
         "k8s.gpu-sharing-interposer"),
        # nvidia-smi without memory, or its refused field, on a GPU the log names as MIG
        ("On our H100 MIG nodes nvidia-smi does not show total memory, so the launcher crashes.\n",
         "nvidia.mig-monitor-denied"),
        ("Running on the A100 MIG nodes of our k8s cluster.\nValueError: could not convert string to float: "
         "'[Insufficient Permissions]'\n", "nvidia.mig-monitor-denied"),
        # ONNX Runtime's affinity EINVAL in a run its author calls slow
        (ORT_AFFINITY + "I get this error and I think it's slowing down the program.\n",
         "limits.onnxruntime-affinity-outside-cpuset"),
        (ORT_AFFINITY + "Since then the face swap runs extremely slow.\n", "limits.onnxruntime-affinity-outside-cpuset"),
    ],
)
def test_a_glearn42b_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # other NVML refusals of the device plugin are not the MIG memory read
        ("error visiting devices: error getting device handle for index '0': Insufficient Permissions\n",
         "nvidia.mig-monitor-denied"),
        ("error getting device memory info: Unknown Error\n", "nvidia.mig-monitor-denied"),
        # a crash in another library, and the interposer loaded in a healthy pod
        ("python3[4410]: segfault at 8 ip 00007f31aa0c41b2 sp 00007ffcb1d0e2a0 error 4 in "
         "libcuda.so.535.104.05[7f31a9000000+1a00000]\n", "k8s.gpu-sharing-interposer"),
        (HAMI_MSG + "[HAMI-core Msg(28:140193218840384:libvgpu.c:855)]: Initialized\n"
         "node-0:77:77 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.5<0>\n", "k8s.gpu-sharing-interposer"),
        # the lookup failing with no interposer in the log (a runtime newer than the driver)
        ("node-0:77:77 [0] misc/cudawrap.cc:162 NCCL WARN Retrieve cuDeviceGet failed with 35 status 0\n",
         "k8s.gpu-sharing-interposer"),
        # older NCCL printing an uninitialised status beside the PFN warning in a run that then worked
        ("head-0:304:304 [0] misc/cudawrap.cc:130 NCCL WARN Retrieve cuGetErrorString failed with 0 status 32765\n"
         "head-0:304:304 [0] misc/cudawrap.cc:195 NCCL WARN CUDA some PFN functions not found in the library\n"
         "head-0:304:304 [0] NCCL INFO comm 0x5a rank 0 nranks 8 - Init COMPLETE\n", "k8s.gpu-sharing-interposer"),
        # an EGL display missing in a headless pipeline, and an X refusal probed by hwloc in a run that worked
        ("No EGL Display\nnvbufsurftransform: Could not get EGL display connection\n", "display.x11-unavailable"),
        ("No protocol specified\nnode-0:1:1 [0] NCCL INFO comm 0x55 rank 0 nranks 2 - Init COMPLETE\n",
         "display.x11-unavailable"),
        # Kit headless: the GLFW plugin named without a failure
        ("[Info] [carb] Plugin carb.windowing-glfw.plugin is disabled in headless mode.\n", "display.x11-unavailable"),
        # runArgs written the two working ways
        ('"runArgs": ["--device=/dev/bus/usb/"],\n', "runtime.flag-value-one-argument"),
        ('"runArgs": ["--device", "/dev/bus/usb/", "--gpus", "all", "--ipc=host"]\n',
         "runtime.flag-value-one-argument"),
        # a program that goes on without X, and a desktop tool called on the side
        ("cannot connect to X server :0, X handling disabled.\n", "display.x11-unavailable"),
        ("xset:  cannot connect to X server :0\n", "display.x11-unavailable"),
        # the switch named without success, or said not to help
        ("HAMi sets CUDA_DISABLE_CONTROL=false by default.\n", "k8s.gpu-sharing-interposer"),
        ("Even with CUDA_DISABLE_CONTROL=true it still hangs at NCCL init.\n", "k8s.gpu-sharing-interposer"),
        ("CUDA_DISABLE_CONTROL=true did not fix it.\n", "k8s.gpu-sharing-interposer"),
        # nvidia-smi without memory on a GPU nobody calls MIG, and MIG named with nvidia-smi working
        ("nvidia-smi doesn't show available memory on the GTX 1650 in my laptop.\n", "nvidia.mig-monitor-denied"),
        ("Our H100 MIG instances serve fine; nvidia-smi shows 20 GB each.\n", "nvidia.mig-monitor-denied"),
        # the affinity line in a run nobody calls slow, or one said not to be slow
        (ORT_AFFINITY + "Processing finished in 12 s.\n", "limits.onnxruntime-affinity-outside-cpuset"),
        (ORT_AFFINITY + "The swap is not slow, the error only clutters the console.\n",
         "limits.onnxruntime-affinity-outside-cpuset"),
    ],
)
def test_a_glearn42b_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in causes(tmp_path, text)


def test_the_affinity_line_alone_stays_a_note(tmp_path: Path) -> None:
    assert "limits.onnxruntime-affinity-outside-cpuset" not in causes(tmp_path, ORT_AFFINITY)
    assert any("ONNX Runtime could not pin" in n for n in notes(tmp_path, ORT_AFFINITY))
