"""review50: bugs found reviewing gnew50 and glearn50b before they land (each test failed at 3f7b60be)."""

from __future__ import annotations

from pathlib import Path

from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

DIAL = (
    "E0315 10:00:00.000000       1 manager.go:146] Failed to serve gpu.intel.com/i915: rpc error: code = Unavailable "
    'desc = connection error: desc = "transport: Error while dialing: dial unix '
    '/var/lib/kubelet/device-plugins/kubelet.sock: connect: permission denied"\n'
)
REGISTERED = "I0315 10:00:05.000000       1 server.go:146] Registered device plugin for 'nvidia.com/gpu' with Kubelet\n"
AVC = (
    'type=AVC msg=audit(1650654069.545:12189): avc:  denied  { connectto } for  pid=2653465 comm="gpu_plugin" '
    'path="/var/lib/kubelet/device-plugins/kubelet.sock" scontext=system_u:system_r:container_t:s0:c310,c693 '
    "tcontext=system_u:system_r:unconfined_service_t:s0 tclass=unix_stream_socket permissive=0\n"
)


def test_device_plugin_socket_denied_then_registered_is_a_note(tmp_path: Path) -> None:
    # the plugin retried and registered: the refusal did not keep GPUs off the node
    assert ("k8s.device-plugin-socket-denied", "proves") not in _findings(tmp_path, DIAL + REGISTERED)
    assert any("registered later" in n for n in _notes(tmp_path, DIAL + REGISTERED))
    assert ("k8s.device-plugin-socket-denied", "proves") not in _findings(tmp_path, AVC + REGISTERED)


def test_device_plugin_socket_denied_still_proves(tmp_path: Path) -> None:
    assert _findings(tmp_path, DIAL)[0] == ("k8s.device-plugin-socket-denied", "proves")
    # a registration before the refusal (the plugin restarted and was then refused) does not excuse it
    assert _findings(tmp_path, REGISTERED + DIAL)[0] == ("k8s.device-plugin-socket-denied", "proves")
    assert _findings(tmp_path, AVC)[0] == ("k8s.device-plugin-socket-denied", "proves")


def test_permissive_avc_on_device_plugins_proves_nothing(tmp_path: Path) -> None:
    # permissive=1: SELinux logged the access and allowed it
    found = _findings(tmp_path, AVC.replace("permissive=0", "permissive=1"))
    assert ("k8s.device-plugin-socket-denied", "proves") not in found, found


KSERVE = (
    "2024-09-24 14:02:11.123 1 kserve ERROR [__main__.py:<module>():259] Failed to start model server: "
    "integer division or modulo by zero\n"
)


def test_kserve_zero_gpu_count_with_a_negated_gpu_request_stays_a_note(tmp_path: Path) -> None:
    # "did not request a GPU" is the CPU-only InferenceService the note describes, not a GPU request
    for prose in (
        "We did not request a GPU, this is a CPU-only InferenceService.\n",
        "The predictor runs without requesting a GPU.\n",
        "We never requested GPUs for it.\n",
    ):
        assert _findings(tmp_path, prose + KSERVE) == [], prose
        assert any("CPU-only InferenceService" in n for n in _notes(tmp_path, prose + KSERVE)), prose
    assert _findings(tmp_path, "We requested a GPU in the predictor spec.\n" + KSERVE)[0] == (
        "k8s.nvidia-runtime-class-missing",
        "suggests",
    )


SERVE_NO_GPU = "(ServeReplica:app:LLM pid=123) RuntimeError: No CUDA GPUs are available\n"


def test_serve_replica_keeps_a_users_uuid_or_python_mask(tmp_path: Path) -> None:
    # a mask with a value is the user's, not Ray's empty one: the mask reading must stay
    for mask in (
        "CUDA_VISIBLE_DEVICES=GPU-8a3d2c1e-1111-2222-3333-444455556666\n",
        "(ServeReplica:app:LLM pid=123) CUDA_VISIBLE_DEVICES=MIG-8a3d2c1e-1111-2222-3333-444455556666\n",
        "os.environ['CUDA_VISIBLE_DEVICES'] = '3'\n",
    ):
        causes = [c for c, _ in _findings(tmp_path, mask + SERVE_NO_GPU)]
        assert "cuda.visible-devices-mismatch" in causes, (mask, causes)
    # without a mask of the user's, Ray's empty mask is not read as one
    causes = [c for c, _ in _findings(tmp_path, SERVE_NO_GPU)]
    assert causes[0] == "ray.task-without-gpu" and "cuda.visible-devices-mismatch" not in causes, causes


def test_go_root_dot_dir_denied_for_root_is_a_note(tmp_path: Path) -> None:
    # root may create /.cache; EACCES there is an LSM or a user namespace, not a UID without a passwd entry
    text = "+ id\nuid=0(root) gid=0(root) groups=0(root)\nError: mkdir /.cache: permission denied\n"
    assert _findings(tmp_path, text) == []
    assert any("running as root" in n for n in _notes(tmp_path, text))
    # an arbitrary UID still reads as the missing home
    text = "+ id\nuid=1000680000(1000680000) gid=0(root) groups=0(root)\nError: mkdir /.ollama: permission denied\n"
    assert _findings(tmp_path, text)[0] == ("fs.home-unwritable-arbitrary-uid", "suggests")


def test_sysbox_mgr_no_idmapped_overlayfs_does_not_prove_the_kernel(tmp_path: Path) -> None:
    # sysbox-mgr prints 'no' for a kernel before 5.19 and for a newer kernel whose filesystem fails its test mount
    text = (
        'Jul 17 09:12:01 gpu-node sysbox-mgr[1412]: time="2026-07-17T09:12:01Z" level=info '
        'msg="Overlayfs on ID-mapped mounts supported by kernel: no"\n'
        "nvidia-container-cli: mount error: mount operation failed: "
        "/var/lib/docker/overlay2/5a0c7e1d2b/merged/proc/driver/nvidia: no such file or directory: unknown.\n"
    )
    assert _findings(tmp_path, text)[0] == ("runtime.sysbox-kernel-too-old", "suggests")


def test_gpu_already_allocated_outside_kubernetes_is_not_the_device_plugin(tmp_path: Path) -> None:
    # a Slurm job waiting on another job's GPU, and a notebook kernel's session holding it, are not pods
    slurm = (
        "#SBATCH --gres=gpu:1\nsrun: job 1234 queued and waiting for resources\n"
        "The GPU is already allocated to another job, so my job waits.\n"
    )
    assert _findings(tmp_path, slurm) == []
    kernel = (
        "The GPU was already claimed by the previous session of the notebook kernel; restart the kernel.\n"
    )
    assert _findings(tmp_path, kernel) == []
    pod = "the second user pod fails to start because the GPU is already allocated to the first user's pod\n"
    assert _findings(tmp_path, pod)[0] == ("k8s.gpu-resource-unavailable", "suggests")
