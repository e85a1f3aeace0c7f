"""Issue 13, gnew50: k8s.topology-affinity-rejected (the kubelet's Topology Manager refuses a GPU pod it cannot align
to one NUMA node) and nvidia.cc-kernel-crypto-unavailable (a confidential-computing guest's kernel gives the NVIDIA
open module no usable crypto for the GPU's SPDM session) and k8s.device-plugin-socket-denied (the GPU device plugin's
container is refused the kubelet's device-plugin directory) and runtime.sysbox-kernel-too-old (Sysbox on a kernel without
ID-mapped overlayfs moves the container's rootfs from under the NVIDIA hook) and nvidia.cc-mode-mismatch (the GPU's
confidential-computing mode does not match the machine it is given to).

Lines are written from the format strings of the code that prints them (never copied from a collected log):

- kubernetes/kubernetes pkg/kubelet/cm/topologymanager/topology_manager.go: PodAdmitResult{Message: "Resources cannot
  be allocated with Topology locality", Reason: "TopologyAffinityError"} (1.16/1.17), the TopologyAffinityError type
  later (Error() the same text, ErrorTopologyAffinity = "TopologyAffinityError"); pkg/kubelet/kubelet.go rejectPod:
  recorder.Eventf(pod, v1.EventTypeWarning, reason, message) and Message: "Pod was rejected: " + message; kubectl's
  describe event columns (Type, Reason, Age, From, Message) and get pods' STATUS column (the pod's status.reason).
- NVIDIA/open-gpu-kernel-modules kernel-open/nvidia/libspdm_internal_crypt_lib.c: nv_printf(NV_DBG_ERRORS,
  "libspdm_check_crypto_backend: Error - libspdm expects LKCA but found stubs!\\n") and, for the healthy build,
  nv_printf(NV_DBG_INFO, "libspdm_check_crypto_backend: LKCA wrappers found.\\n"); src/nvidia/src/kernel/gpu/spdm/
  spdm.c NV_PRINTF(LEVEL_ERROR, "SPDM cannot boot without proper crypto backend!\\n") and "SPDM: Certificate retrieval
  failed!\\n" behind NV_PRINTF_ADD_PREFIX's "NVRM: "; kernel-open/nvidia/libspdm_ecc.c lkca_ecdsa_verify
  pr_info("crypto_alloc_akcipher failed in lkca_ecdsa_verify\\n") / "crypto_alloc_sig failed in lkca_ecdsa_verify\\n"
  (550.40.65 .. 595.45.04).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_TOPO = "k8s.topology-affinity-rejected"
_CC = "nvidia.cc-kernel-crypto-unavailable"


def _guarded(entry: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew50)."""
    assert entry in _ids(), entry


def test_the_new_readings_are_loaded_with_remedies() -> None:
    from tpdoctor.docs import EXPLAIN_ONLY
    from tpdoctor.explain.signatures import knowledge_base
    from tpdoctor.model.catalog import catalog
    from tpdoctor.model.fixes import remedies

    got = _ids()
    for sid in (
        "kubelet.topology-affinity-error",
        "nvrm.spdm-crypto-backend-stubs",
        "nvrm.spdm-ecdsa-unavailable",
        "device-plugin.kubelet-socket-denied",
        "selinux.avc-device-plugins-dir",
        "nvidia-cli.procfs-mount-target-missing",
        "sysbox-runtime",
        "sysbox-no-idmapped-overlayfs",
        "sysbox-hook-rootfs-moved",
        "sysbox-hook-rootfs-moved-no-idmap",
        "nvrm.cc-mode-mismatch",
    ):
        assert sid in got, sid
    kb = knowledge_base()
    kb_causes = {c for s in kb.signatures for c in s.causes} | {c.emit for c in kb.correlations if c.emit}
    for cause in (
        _TOPO,
        _CC,
        "k8s.device-plugin-socket-denied",
        "runtime.sysbox-kernel-too-old",
        "nvidia.cc-mode-mismatch",
    ):
        assert cause in catalog(), cause
        assert catalog()[cause].severity == "blocker", cause
        assert cause in kb_causes, cause
        assert remedies(cause), cause
        assert cause in EXPLAIN_ONLY, cause


# --- k8s.topology-affinity-rejected -------------------------------------------------------------------------------


def _describe(*events: str, status: str = "Pending", reason: str = "", message: str = "") -> str:
    """`kubectl describe pod` around the given event rows (Type, Reason, Age, From, Message)."""
    head = [
        "Name:             trainer-0",
        "Namespace:        default",
        "Node:             gpu-node-3/10.8.98.255",
        f"Status:           {status}",
    ]
    if reason:
        head.append(f"Reason:           {reason}")
    if message:
        head.append(f"Message:          {message}")
    head += [
        "Containers:",
        "  trainer:",
        "    Image:      vllm/vllm-openai:v0.6.3",
        "    Limits:",
        "      nvidia.com/gpu:  8",
        "Events:",
        "  Type     Reason                 Age   From               Message",
        "  ----     ------                 ----  ----               -------",
        "  Normal   Scheduled              14s   default-scheduler  Successfully assigned default/trainer-0 to gpu-node-3",
    ]
    return "\n".join(head + [f"  {e}" for e in events]) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        # the Warning event rejectPod records: reason and message as the admit handler returned them
        _describe(
            "Warning  TopologyAffinityError  13s   kubelet            Resources cannot be allocated with Topology locality"
        ),
        # the pod's status after the rejection (Failed, reason, 'Pod was rejected: ' + message)
        _describe(
            status="Failed",
            reason="TopologyAffinityError",
            message="Pod was rejected: Resources cannot be allocated with Topology locality",
        ),
        # `kubectl get pods`: the STATUS column is the pod's status.reason
        "NAME        READY   STATUS                  RESTARTS   AGE\n"
        "trainer-0   0/1     TopologyAffinityError   0          2m4s\n",
        # a runner or controller quoting the status it read back from the API
        "Error: pod trainer-0 failed: phase status Failed, reason=TopologyAffinityError, "
        "message=Pod was rejected: Resources cannot be allocated with Topology locality\n",
    ],
)
def test_a_topology_manager_rejection_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_TOPO, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # the device manager's own refusal: k8s.gpu-resource-unavailable's reading
        _describe(
            "Warning  UnexpectedAdmissionError  13s   kubelet  Allocate failed due to requested number of devices "
            "unavailable for nvidia.com/gpu. Requested: 8, Available: 4, which is unexpected"
        ),
        # the CPU manager's full-pcpus-only refusal is another admission error
        _describe(
            "Warning  SMTAlignmentError  13s   kubelet  SMT Alignment Error: requested 3 cpus not multiple cpus per core = 2"
        ),
        # the kubelet's healthy admission trace and a configuration line
        'I0428 17:04:51.535164 2439609 topology_manager.go:225] "Topology manager admission check" pod="default/gu"\n'
        "topologyManagerPolicy: single-numa-node\n",
        # a Go identifier of the type, not the pod's reason
        "pkg/kubelet/cm/topologymanager.TopologyAffinityError{}\n",
        "kubelet: var _ = topologymanager.TopologyAffinityErrorType\n",
    ],
)
def test_topology_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("kubelet.topology-affinity-error")
    assert _TOPO not in _all(tmp_path, text)


# --- nvidia.cc-kernel-crypto-unavailable ----------------------------------------------------------------------------


def _dmesg(*lines: str) -> str:
    head = [
        "[   13.902211] nvidia: loading out-of-tree module taints kernel.",
        "[   13.917530] nvidia-nvlink: Nvlink Core is being initialized, major device number 238",
        "[   13.921006] sev-guest sev-guest: Initialized SEV guest driver (using VMPCK0 communication key)",
        "[   14.187731] NVRM: loading NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build  (dvs-builder@U16-I3-B03-4-3)  Thu Jan 16 21:04:51 UTC 2025",
    ]
    return "\n".join(head + list(lines)) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        # a guest kernel without the crypto options: libspdm compiled with stubs, then RM refuses SPDM
        _dmesg(
            "[   14.201377] libspdm_check_crypto_backend: Error - libspdm expects LKCA but found stubs!",
            "[   14.201402] NVRM: SPDM cannot boot without proper crypto backend!",
            "[   14.201433] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x62:0x40:2123)",
        ),
        # the RM line alone, with a function-name prefix
        "[ 22.101] NVRM: spdmContextInit_IMPL: SPDM cannot boot without proper crypto backend!\n",
        # the backend check alone, as journalctl -k prints it
        "Sep 19 10:02:11 cc-guest kernel: libspdm_check_crypto_backend: Error - libspdm expects LKCA but found stubs!\n",
    ],
)
def test_spdm_without_a_crypto_backend_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_CC, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # 6.13+ kernels: the sig interface, ecdsa_generic not loaded
        _dmesg(
            "[   15.118204] crypto_alloc_sig failed in lkca_ecdsa_verify",
            "[   15.118230] NVRM: SPDM: Certificate retrieval failed!",
        ),
        # the akcipher interface of older kernels
        "[   15.118204] crypto_alloc_akcipher failed in lkca_ecdsa_verify\n",
        # the certificate line alone
        "[   15.118230] NVRM: SPDM: Certificate retrieval failed!\n",
    ],
)
def test_missing_ecdsa_at_run_time_suggests_it(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_CC, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # the healthy build says it found the wrappers (NV_DBG_INFO)
        _dmesg(
            "[   14.201377] libspdm_check_crypto_backend: LKCA wrappers found.",
            "[   14.201380] libspdm_check_crypto_backend: LKCA calls may still fail if modules have not been loaded!",
        ),
        # the guest-side CC readiness lines are nvidia.cc-ready-state-unset's, not this cause
        "Confidential Compute GPUs Ready state: not-ready\n",
        # another verification failure inside the driver's LKCA glue
        "[   15.2] crypto_sig_verify failed in lkca_ecdsa_verify 22\n",
        # a question about the options, not the driver's line
        "Does the guest kernel need CONFIG_CRYPTO_ECDSA for SPDM certificate retrieval?\n",
    ],
)
def test_cc_crypto_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("nvrm.spdm-crypto-backend-stubs")
    assert _CC not in _all(tmp_path, text)


# --- k8s.device-plugin-socket-denied ---------------------------------------------------------------------------------
# Go's net.OpError: op + " " + net + " " + addr + ": " + os.SyscallError ("connect"/"bind": strerror); grpc-go's
# "transport: Error while dialing: %v" around a dial; the plugins' own prefixes (NVIDIA internal/plugin/server.go
# "Could not register device plugin: %v", kubevirt dpm "%s: Registration failed: "); audit's AVC record
# ("avc:  denied  { %s } for  pid=%d comm=%s path=/name=... scontext=%s tcontext=%s tclass=%s permissive=%d").

_SOCK = "k8s.device-plugin-socket-denied"
_DIAL = (
    'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: '
    'dial unix /var/lib/kubelet/device-plugins/kubelet.sock: connect: permission denied"'
)


@pytest.mark.parametrize(
    "text",
    [
        # NVIDIA's plugin registering with a kubelet.sock its container_t label may not connect to
        f"I0315 10:00:00.000000       1 server.go:165] Could not register device plugin: {_DIAL}\n",
        # kubevirt's device-plugin-manager (the AMD plugin)
        f"E0315 10:00:00.000000       1 plugin.go:157] gpu: Registration failed: {_DIAL}\n",
        # an unprivileged plugin cannot create its own socket in the directory
        "Start error:  listen unix /var/lib/kubelet/device-plugins/nvidia-gpu.sock: bind: permission denied\n",
        # the AVC records of the same refusals
        'type=AVC msg=audit(1710500000.545:12189): avc:  denied  { connectto } for  pid=2653465 comm="gpu_plugin" '
        'path="/var/lib/kubelet/device-plugins/kubelet.sock" scontext=system_u:system_r:container_t:s0:c310,c693 '
        "tcontext=system_u:system_r:unconfined_service_t:s0 tclass=unix_stream_socket permissive=0\n",
        'type=AVC msg=audit(1710500000.100:4711): avc:  denied  { add_name } for  pid=9297 comm="k8s-device-plug" '
        'name="nvidia-gpu.sock" scontext=system_u:system_r:container_t:s0:c18,c144 '
        "tcontext=system_u:object_r:container_var_lib_t:s0 tclass=dir permissive=0\n"
        'type=AVC msg=audit(1710500000.100:4712): avc:  denied  { write } for  pid=9297 comm="k8s-device-plug" '
        'name="device-plugins" dev="dm-2" ino=4990510 scontext=system_u:system_r:container_t:s0:c18,c144 '
        "tcontext=system_u:object_r:container_var_lib_t:s0 tclass=dir permissive=0\n",
    ],
)
def test_a_plugin_refused_the_kubelet_socket_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_SOCK, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # the socket not there (hostPath not mounted, kubelet down): k8s.gpu-resource-unavailable's reading
        "E0315 10:00:00.000000       1 plugin.go:157] gpu: Registration failed: rpc error: code = Unavailable desc = "
        'connection error: desc = "transport: Error while dialing dial unix '
        '/var/lib/kubelet/device-plugins/kubelet.sock: connect: no such file or directory"\n',
        # another unix socket refused (the Docker socket), not the kubelet's
        "Got permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: "
        "dial unix /var/run/docker.sock: connect: permission denied\n",
        # the plugin's healthy start
        "I0315 10:00:00.000000       1 server.go:210] Starting to serve 'nvidia.com/gpu' on "
        "/var/lib/kubelet/device-plugins/nvidia-gpu.sock\n"
        "I0315 10:00:00.000000       1 server.go:217] Registered device plugin for 'nvidia.com/gpu' with Kubelet\n",
        # an AVC on a GPU node is lsm.selinux-device-denied's, not this
        'type=AVC msg=audit(1611137309.671:5406): avc:  denied  { read write } for  pid=2077683 comm="python3" '
        'name="nvidia0" dev="devtmpfs" scontext=system_u:system_r:container_t:s0:c10,c25 '
        "tcontext=system_u:object_r:xserver_misc_device_t:s0 tclass=chr_file permissive=0\n",
    ],
)
def test_device_plugin_socket_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("device-plugin.kubelet-socket-denied")
    assert _SOCK not in _all(tmp_path, text)


# --- runtime.sysbox-kernel-too-old --------------------------------------------------------------------------------
# libnvidia-container src/xfuncs.h xmount: error_set(err, "mount operation failed: %s", source starting with '/' ?
# source : target), mount_procfs's tmpfs target <rootfs>/proc/driver/nvidia, the CLI's "mount error: %s"; runc's
# hook error chain as Docker prints it; sysbox-mgr mgr.go logrus.Infof("Overlayfs on ID-mapped mounts supported by
# kernel: %s", "yes"/"no") in logrus' text format under journald.

_SYSBOX = "runtime.sysbox-kernel-too-old"
_HOOK = (
    "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime "
    "create failed: container_linux.go:439: starting container process caused: process_linux.go:608: container init "
    "caused: Running hook #0:: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
    "nvidia-container-cli: mount error: mount operation failed: "
    "/var/lib/docker/overlay2/5a0c7e1d2b/merged/proc/driver/nvidia: no such file or directory: unknown.\n"
)
_MGR_NO = (
    'Jul 17 09:12:01 gpu-node sysbox-mgr[1412]: time="2026-07-17T09:12:01Z" level=info '
    'msg="Overlayfs on ID-mapped mounts supported by kernel: no"\n'
)


def test_sysbox_named_with_the_hook_failure_suggests_it(tmp_path: Path) -> None:
    text = (
        "$ docker run --rm --runtime=sysbox-runc --gpus all nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n"
        + _HOOK
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_SYSBOX, "suggests"), got


def test_sysbox_mgr_without_idmapped_overlayfs_suggests_it(tmp_path: Path) -> None:
    # review50: sysbox-mgr's 'no' is also a kernel of 5.19+ whose filesystem under /var/lib/sysbox fails its test
    # mount (idMap.OverlayfsOnIDMapMountSupported), so it suggests the kernel, first
    got = _findings(tmp_path, _MGR_NO + _HOOK)
    assert got and got[0] == (_SYSBOX, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # the hook's failure with no Sysbox in sight names no runtime
        _HOOK,
        # Sysbox on a kernel that ID-maps overlayfs, and a container that starts
        'Jul 17 09:12:01 gpu-node sysbox-mgr[1412]: time="2026-07-17T09:12:01Z" level=info '
        'msg="Overlayfs on ID-mapped mounts supported by kernel: yes"\n'
        "$ docker run --rm --runtime=sysbox-runc --gpus all nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n"
        "| NVIDIA-SMI 550.54.14              Driver Version: 550.54.14      CUDA Version: 12.4     |\n",
        # sysbox-mgr's 'no' alone: a host without GPU containers is fine
        _MGR_NO,
        # the params path a reloaded driver leaves is runtime.driver-reloaded-under-daemon's reading
        "$ docker run --runtime=sysbox-runc --gpus all ubuntu nvidia-smi\n"
        "nvidia-container-cli: mount error: mount operation failed: "
        "/var/lib/docker/overlay2/3f1c/merged/proc/driver/nvidia/params/version/registry: no such file or directory: unknown\n",
    ],
)
def test_sysbox_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("nvidia-cli.procfs-mount-target-missing")
    assert _SYSBOX not in _all(tmp_path, text)


# --- covered lead, extended: Apptainer without --nv and the CUDA runtime's cudaErrorInsufficientDriver -------------
# Without --nv no libcuda is bound into the container, so the CUDA runtime reports cudaErrorInsufficientDriver (its
# string "CUDA driver version is insufficient for CUDA runtime version"); the correlation apptainer-no-nv-no-gpu now
# reads it beside a quoted command without --nv/--nvccli (nanoporetech/dorado#116).

_INSUFFICIENT = (
    "terminate called after throwing an instance of 'std::runtime_error'\n"
    "  what():  CUDA error: CUDA driver version is insufficient for CUDA runtime version\n"
)


def _explained(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    from tpdoctor.explain import explain

    log = tmp_path / "nv.log"
    log.write_text(text, encoding="utf-8")
    return [(f.cause, f.message) for f in explain([str(log)]).findings]


def test_apptainer_without_nv_and_an_insufficient_driver_says_add_nv(tmp_path: Path) -> None:
    text = "$ singularity exec dorado.sif dorado basecaller hac pod5/ > calls.bam\n" + _INSUFFICIENT
    got = _explained(tmp_path, text)
    assert got and got[0][0] == "device.nvidia-node-missing", got
    assert "has no --nv" in got[0][1], got


def test_apptainer_with_nv_and_an_insufficient_driver_is_not_told_to_add_nv(tmp_path: Path) -> None:
    from tpdoctor.explain.signatures import knowledge_base

    # the guard: the reading this look-alike tests (the correlation reads the insufficient-driver code since gnew50)
    rule = next(c for c in knowledge_base().correlations if c.id == "apptainer-no-nv-no-gpu")
    assert "code.cuda.cudaErrorInsufficientDriver.string" in rule.any, rule.any
    text = "$ singularity exec --nv dorado.sif dorado basecaller hac pod5/ > calls.bam\n" + _INSUFFICIENT
    assert all("has no --nv" not in message for _, message in _explained(tmp_path, text))


# --- nvidia.cc-mode-mismatch ------------------------------------------------------------------------------------------
# conf_compute.c confComputeConstructEngine: NV_PRINTF(LEVEL_ERROR, "CPU does not support confidential compute.\n"),
# "GPU confidential compute capability is not enabled.\n", "GPU does not support confidential compute.\n" behind
# "NVRM: " (550.40.65 .. 595.45.04; 545.23.06: "GPU does not support confidential compute" without the period).

_MISMATCH = "nvidia.cc-mode-mismatch"


@pytest.mark.parametrize(
    "text",
    [
        # CC mode left on for an H100 in a server that is no TDX/SEV-SNP guest
        "[   16.390522] NVRM: loading NVIDIA UNIX Open Kernel Module for x86_64  550.90.07  Release Build\n"
        "[   16.402117] NVRM: CPU does not support confidential compute.\n"
        "[   16.402133] NVRM: nvAssertFailed: Assertion failed: 0 @ conf_compute.c:131\n"
        "[   16.402561] NVRM: GPU 0000:43:00.0: RmInitAdapter failed! (0x25:0x65:1484)\n",
        # a confidential guest given a GPU whose CC mode is off (function-name prefix)
        "[   12.118640] NVRM: confComputeConstructEngine_IMPL: GPU confidential compute capability is not enabled.\n",
        # a confidential guest given a GPU without CC, 545's form
        "[   12.1] NVRM: GPU does not support confidential compute\n",
    ],
)
def test_a_cc_mode_mismatch_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_MISMATCH, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # the ready state of a CC guest is nvidia.cc-ready-state-unset's reading
        "Confidential Compute GPUs Ready state: not-ready\n",
        # prose about CC support, not the driver
        "Our CPU does not support confidential computing, can the H100 still run in CC mode?\n",
        # the driver's informational CC lines
        "[ 12.2] NVRM: Confidential Compute devtools mode DISABLED in APM.\n",
    ],
)
def test_cc_mode_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("nvrm.cc-mode-mismatch")
    assert _MISMATCH not in _all(tmp_path, text)
