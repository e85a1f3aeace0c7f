"""Issue 13, heldout48 lessons (glearn48d): containers and media servers, in the words of the programs that print them.

Lines are written from the code and docs that print them (not copied from the heldout48 logs): FFmpeg's VAAPI device
walk with no device named ("No VA display found for any default device." n5+, "No VA display found for device: ."
n3.1-n4.x), with the nodes of another kernel driver skipped as a note; linuxserver.io's device-permission init step in
its two forms (a warning that repairs nothing, and the later in-container chmod that is a note unless the node then
fails to open); and three fixes retold in words: raising `ulimit -u` (RLIMIT_NPROC), matching vLLM's
NCCL_CUMEM_ENABLE on the other side of a weight-sync group, and making nvidia k3s's default runtime.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # FFmpeg hwcontext_vaapi.c vaapi_device_create, no device named: n5+ and n3.1-n4.x
        ("[AVHWDeviceContext @ 0x5612c4e0a1c0] No VA display found for any default device.\n"
         "Device creation failed: -22.\n"
         "Failed to set value 'vaapi=va:,driver=iHD' for option 'init_hw_device': Invalid argument\n",
         "device.group-denied"),
        ("[AVHWDeviceContext @ 0x7f3a] No VA display found for any default device.\n", "device.group-denied"),
        ("[AVHWDeviceContext @ 0x55d5] No VA display found for device: .\n"
         "Device creation failed: -22.\n", "device.group-denied"),
        # linuxserver.io 40-gid-video, the form that repairs nothing (card and render nodes, kfd)
        ("**** The device /dev/dri/renderD129 does not have group read/write permissions, which might prevent hardware "
         "transcode from functioning correctly. To fix it, you can run the following on your docker host: ****\n"
         "sudo chmod g+rw /dev/dri/renderD129\n", "device.node-mode-denied"),
        ("**** The device /dev/dri/card2 does not have group read/write permissions, which might prevent hardware "
         "transcode from functioning correctly. ****\n", "device.node-mode-denied"),
        # the in-container chmod, then the node still refused
        ("**** The device /dev/dri/renderD128 does not have group read/write permissions, attempting to fix inside the "
         "container. ****\n"
         "[AVHWDeviceContext @ 0x5640] No VA display found for any default device.\n", "device.node-mode-denied"),
        # the fix retold: the per-user process limit raised
        ("I ran `ulimit -u 65535` on every node before ray start, which fixed the job submission.\n",
         "limits.pids-exhausted"),
        ("Solved it by running ulimit -u unlimited in the container entrypoint.\n", "limits.pids-exhausted"),
        ("ulimit -u 100000 之后问题解决\n", "limits.pids-exhausted"),
        # NCCL_CUMEM_ENABLE not the same on both sides of a weight-sync group, in words
        ("The broadcast hangs: vLLM sets NCCL_CUMEM_ENABLE=0, so the trainer has to match that.\n",
         "nccl.cumem-mismatch"),
        ("Rollout workers and the Megatron trainer run with a different NCCL_CUMEM_ENABLE.\n", "nccl.cumem-mismatch"),
        ("NCCL_CUMEM_ENABLE is 0 in the vLLM engine but 1 in the actor, so it does not match.\n",
         "nccl.cumem-mismatch"),
        ("The weight-sync group hangs when NCCL_CUMEM_ENABLE is different on the two sides.\n", "nccl.cumem-mismatch"),
        # k3s's default runtime set to nvidia as the fix
        ("Adding `default-runtime: nvidia` to /etc/rancher/k3s/config.yaml and restarting k3s fixed it.\n",
         "k8s.nvidia-runtime-class-missing"),
        ("It works now that the RKE2 agent runs with --default-runtime=nvidia.\n", "k8s.nvidia-runtime-class-missing"),
    ],
)
def test_a_heldout48d_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # FFmpeg skipped the render node of another kernel driver: the GPU asked for is not there, not a group
        ("[AVHWDeviceContext @ 0x5563] Ignoring device 0 with non-matching kernel driver (nvidia-drm).\n"
         "[AVHWDeviceContext @ 0x5563] No VA display found for any default device.\n", "device.group-denied"),
        ("[AVHWDeviceContext @ 0x5563] Ignoring device 0 with non-matching vendor id (0x10de).\n"
         "[AVHWDeviceContext @ 0x5563] No VA display found for any default device.\n", "device.render-node-missing"),
        # the node opened, the VA driver did not initialise
        ("[AVHWDeviceContext @ 0x5555] Failed to initialise VAAPI connection: -1 (unknown libva error).\n",
         "device.group-denied"),
        # the in-container chmod with nothing failing afterwards, in the three spellings
        ("**** The device /dev/dri/renderD128 does not have group read/write permissions, attempting to fix inside the "
         "container. ****\n", "device.node-mode-denied"),
        ("**** The device /dev/dri/card0 does not have group read/write permissions, attempting to fix inside the "
         "container.If it doesn't work, you can run the following on your docker host: ****\n",
         "device.node-mode-denied"),
        ("---The device /dev/dri/renderD128 does not have group read/write permissions, attempting to fix inside the "
         "container.---\n", "device.node-mode-denied"),
        # the same words about a DVB tuner or a directory are not a GPU node
        ("**** The device /dev/dvb/adapter0/frontend0 does not have group read/write permissions, which might prevent "
         "hardware transcode from functioning correctly. ****\n", "device.node-mode-denied"),
        ("**** The device /dev/dri/by-path does not have group read/write permissions, which might prevent hardware "
         "transcode from functioning correctly. ****\n", "device.node-mode-denied"),
        # ulimit -u as a listing, as advice, or raised without effect; the open-files limit is another limit
        ("max user processes              (-u) 4194304\n$ ulimit -u 4194304\n", "limits.pids-exhausted"),
        ("Try ulimit -u 65535 before starting Ray.\n", "limits.pids-exhausted"),
        ("ulimit -u 65535 did not fix it, the agent still never registers.\n", "limits.pids-exhausted"),
        ("Setting ulimit -u 65535 hasn't fixed anything.\n", "limits.pids-exhausted"),
        ("ulimit -u 65535 之后还是没有解决\n", "limits.pids-exhausted"),
        ("ulimit -n 65535 solved the too many open files error.\n", "limits.pids-exhausted"),
        # NCCL_CUMEM_ENABLE echoed, kept by vLLM, the same on both sides, or said to match
        ("host:12:12 [0] NCCL INFO NCCL_CUMEM_ENABLE set by environment to 0.\n", "nccl.cumem-mismatch"),
        ("WARNING 06-23 13:44:36 [env_override.py:17] NCCL_CUMEM_ENABLE is set to 1, skipping override. This may "
         "increase memory overhead with cudagraph+allreduce: https://github.com/NVIDIA/nccl/issues/1234\n",
         "nccl.cumem-mismatch"),
        ("Both the trainer and vLLM run with NCCL_CUMEM_ENABLE=0.\n", "nccl.cumem-mismatch"),
        ("There is no mismatch: NCCL_CUMEM_ENABLE is 0 everywhere.\n", "nccl.cumem-mismatch"),
        ("Set NCCL_CUMEM_ENABLE=0 to reduce the memory overhead of cudagraph.\n", "nccl.cumem-mismatch"),
        ("Setting NCCL_CUMEM_ENABLE=0 gives different throughput numbers on H100.\n", "nccl.cumem-mismatch"),
        # Docker's daemon.json default runtime, a config listing, and a fix that did not work
        ("Setting \"default-runtime\": \"nvidia\" in /etc/docker/daemon.json on the k3s node fixed it.\n",
         "k8s.nvidia-runtime-class-missing"),
        ("cat /etc/rancher/k3s/config.yaml\ndefault-runtime: nvidia\n", "k8s.nvidia-runtime-class-missing"),
        ("I added default-runtime: nvidia to the k3s config but it still hasn't worked.\n",
         "k8s.nvidia-runtime-class-missing"),
    ],
)
def test_a_heldout48d_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in causes(tmp_path, text)


def test_the_in_container_chmod_alone_is_a_note(tmp_path: Path) -> None:
    text = ("**** The device /dev/dri/renderD128 does not have group read/write permissions, attempting to fix inside "
            "the container. ****\n")
    assert any("changed its mode inside the container" in n for n in notes(tmp_path, text))


def test_a_skipped_node_of_another_driver_is_a_note(tmp_path: Path) -> None:
    text = ("[AVHWDeviceContext @ 0x5563] Ignoring device 0 with non-matching kernel driver (amdgpu).\n"
            "[AVHWDeviceContext @ 0x5563] No VA display found for any default device.\n")
    assert any("not a permission problem" in n for n in notes(tmp_path, text))
