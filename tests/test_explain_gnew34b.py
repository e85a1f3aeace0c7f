"""Issue 13, gnew34b: cause ids for container/host causes heldout34's collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- k8s.admission-refused: Pod Security Admission (kubernetes staging/src/k8s.io/pod-security-admission
  admission/admission.go 'violates PodSecurity %q: %s', v1.22's 'pod violates PodSecurity %q: %s'; the detail
  '<reason> (<detail>), ...' of policy/check_*.go); PodSecurityPolicy (plugin/pkg/admission/security/podsecuritypolicy
  'PodSecurityPolicy: unable to admit pod: %v', earlier 'unable to validate against any pod security policy: %v', with
  provider.go's field errors); OpenShift's SCC admission (apiserver-library-go sccadmission 'unable to validate against
  any security context constraint: %v'); the API server's webhook error ('admission webhook %q denied the request: %s')
  with Kyverno's messages ('policy %s for resource violation: ', earlier 'resource %s was blocked due to the following
  policies') and Gatekeeper's ('[%s] %s'); the controllers' 'Error creating: %v' events.
- nvidia.imex-host-service-conflict: dra-driver-nvidia-gpu cmd/compute-domain-daemon/main.go check() ('%s failed (%s),
  stdout/err: %s', 'IMEX daemon check failed: error running %s: %w', 'IMEX daemon not ready: %s') as the kubelet's
  'Startup probe failed: %s' prints it; systemd's list-units row, status 'Loaded: loaded (%s; enabled; ...)' and
  journal 'Started %s - %s.'.
- runtime.image-arch-mismatch: containerd images/image.go ('no match for platform in manifest: %w', before 1.7 with the
  digest), moby distribution/pull_v2.go ('no matching manifest for %s in the manifest list entries'), containers/image
  manifest/list.go ('no image found in manifest list for architecture %q, variant %q, OS %q'); runc's exec error
  (v1.1+ os.PathError 'exec %s: %s', v1.0 generic_error.go '%s:%d: %s caused: %s', v1.0.0-rc5 '%s caused %q'); moby's
  platform warning ('The requested image's platform (%s) does not match the detected host platform (%s) and no specific
  platform was requested').
- The RDMA ENOMEM look-alike (no id: a note): NCCL's ibvwrap.cc IBV_PTR_CHECK_ERRNO ('Call to %s failed with error
  %s'), /proc/meminfo's 'CmaTotal: %8lu kB', bash's ulimit -a row, docker's --ulimit memlock=-1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from explain_helpers import notes as _notes

_ADM = "k8s.admission-refused"
_IMEX = "nvidia.imex-host-service-conflict"
_ARCH = "runtime.image-arch-mismatch"
_MEMLOCK = "rdma.memlock-too-low"


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "k8s.pod-security-violation", "k8s.psp-refused", "openshift.scc-refused", "k8s.policy-webhook-denied",
        "cd-daemon.imex-check-failed", "image.no-variant-for-platform", "runc.exec-binary-format-error",
        "imex-host-service", "compute-domain-context", "memlock-unlimited", "memlock-low", "cma-total-zero",
        "cd-daemon-check-failed-host-imex", "cd-context-host-imex", "platform-warning-exec-format-error",
        "reg-mr-enomem-memlock-unlimited", "reg-mr-enomem-cma-zero",
    ):
        assert sid in got, sid


# --- k8s.admission-refused -----------------------------------------------------------------------------------------

_ADM_PROVES = {
    # Pod Security Admission, the DaemonSet controller's event (kubectl describe ds)
    "psa-event": (
        "Events:\n"
        "  Type     Reason        Age                From                  Message\n"
        "  Warning  FailedCreate  2m (x17 over 10m)  daemonset-controller  Error creating: pods "
        '"nvidia-device-plugin-daemonset-7xk2q" is forbidden: violates PodSecurity "restricted:latest": privileged '
        '(container "nvidia-device-plugin-ctr" must not set securityContext.privileged=true), hostPath volumes (volume '
        '"device-plugin")\n'
    ),
    # Pod Security Admission, kubectl apply of a pod (versioned level)
    "psa-kubectl": (
        'Error from server (Forbidden): error when creating "vllm.yaml": pods "vllm-0" is forbidden: violates '
        'PodSecurity "baseline:v1.30": privileged (container "vllm" must not set securityContext.privileged=true)\n'
    ),
    # Kubernetes 1.22's alpha wording
    "psa-1.22": (
        'Error creating: pods "gpu-operator-validator-" is forbidden: pod violates PodSecurity "baseline:latest": host '
        'namespaces (hostPID=true), hostPath volumes (volumes "run-nvidia", "driver-install-path")\n'
    ),
    # PodSecurityPolicy, 1.14-1.24 wording (NVIDIA/gpu-operator#185's form)
    "psp-admit": (
        'Error creating: pods "nvidia-driver-daemonset-" is forbidden: PodSecurityPolicy: unable to admit pod: '
        "[spec.securityContext.hostPID: Invalid value: true: Host PID is not allowed to be used spec.volumes[0]: "
        'Invalid value: "hostPath": hostPath volumes are not allowed to be used '
        "spec.containers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed]\n"
    ),
    # PodSecurityPolicy, earlier wording (NVIDIA/k8s-device-plugin#62's form)
    "psp-validate": (
        'Error creating: pods "nvidia-device-plugin-daemonset-" is forbidden: unable to validate against any pod '
        'security policy: [spec.volumes[0]: Invalid value: "hostPath": hostPath volumes are not allowed to be used]\n'
    ),
    # OpenShift SCC admission (NVIDIA/gpu-operator#48's form)
    "openshift-scc": (
        'Error creating: pods "nfd-worker-" is forbidden: unable to validate against any security context constraint: '
        '[provider "anyuid": Forbidden: not usable by user or serviceaccount, spec.volumes[0]: Invalid value: '
        '"hostPath": hostPath volumes are not allowed to be used, spec.containers[0].securityContext.hostNetwork: '
        "Invalid value: true: Host network is not allowed to be used]\n"
    ),
}

_ADM_SUGGESTS = {
    # Kyverno 1.8+ ('policy <Kind>/<ns>/<name> for resource violation')
    "kyverno": (
        'Error from server: error when creating "gpu-operator.yaml": admission webhook "validate.kyverno.svc-fail" '
        "denied the request:\n\n"
        "policy DaemonSet/gpu-operator/nvidia-driver-daemonset for resource violation:\n\n"
        "disallow-privileged-containers:\n"
        "  privileged-containers: 'validation error: Privileged mode is disallowed.'\n"
    ),
    # Kyverno before 1.8 ('resource ... was blocked due to the following policies')
    "kyverno-old": (
        'Error from server: admission webhook "validate.kyverno.svc" denied the request:\n\n'
        "resource Pod/default/vllm-0 was blocked due to the following policies\n\n"
        "disallow-host-path:\n"
        "  host-path: 'validation error: HostPath volumes are forbidden.'\n"
    ),
    # OPA Gatekeeper (gatekeeper-library's psp-privileged-container)
    "gatekeeper": (
        'Error creating: admission webhook "validation.gatekeeper.sh" denied the request: [psp-privileged-container] '
        'Privileged container is not allowed: nvidia-device-plugin-ctr, securityContext: {"privileged": true}\n'
    ),
}


@pytest.mark.parametrize("form", sorted(_ADM_PROVES))
def test_an_admission_refusal_proves_the_policy(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _ADM_PROVES[form])
    assert got and got[0] == (_ADM, "proves"), (form, got)


@pytest.mark.parametrize("form", sorted(_ADM_SUGGESTS))
def test_a_policy_webhook_denial_suggests_the_policy(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _ADM_SUGGESTS[form])
    assert got and got[0] == (_ADM, "suggests"), (form, got)


_ADM_CLEAN = {
    # the kubelet refusing to start a container (CreateContainerConfigError): the pod exists, no admission refused it
    "kubelet-run-as-non-root": (
        '  Warning  Failed     12s (x3 over 30s)  kubelet  Error: container has runAsNonRoot and image will run as '
        'root (pod: "vllm-0_default(5d2b6c1f-0c4e-4d59-9a43-1f3f3c1e2b7a)", container: vllm)\n'
    ),
    # Pod Security's warn mode on a Deployment: a warning, the object is created
    "psa-would-violate": (
        'Warning: would violate PodSecurity "restricted:latest": privileged (container "vllm" must not set '
        "securityContext.privileged=true)\n"
        "deployment.apps/vllm created\n"
    ),
    # another webhook's denial (an ingress controller's): not a pod policy
    "ingress-webhook": (
        'Error from server (BadRequest): error when creating "ing.yaml": admission webhook '
        '"validate.nginx.ingress.kubernetes.io" denied the request: host "api.example.com" and path "/" is already '
        "defined in ingress default/api\n"
    ),
    # a quota refusal: forbidden too, but the quota's own cause
    "quota": (
        'Error from server (Forbidden): error when creating "pod.yaml": pods "vllm" is forbidden: exceeded quota: '
        "gpu-quota, requested: requests.nvidia.com/gpu=2, used: requests.nvidia.com/gpu=0, limited: "
        "requests.nvidia.com/gpu=1\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_ADM_CLEAN))
def test_other_refusals_and_warnings_are_not_an_admission_policy(tmp_path: Path, form: str) -> None:
    assert _ADM not in _all(tmp_path, _ADM_CLEAN[form]), form
    # the other direction: Pod Security's refusal is it
    assert _findings(tmp_path, _ADM_PROVES["psa-event"])[0][0] == _ADM


# --- nvidia.imex-host-service-conflict ---------------------------------------------------------------------------

_CD_CHECK = {
    # the probe's error as the kubelet's Unhealthy event prints it
    "not-ready": "  Warning  Unhealthy  3s (x40 over 45s)  kubelet  Startup probe failed: IMEX daemon not ready: NOT_READY\n",
    # nvidia-imex-ctl exiting non-zero: the daemon's klog line, then the probe's error
    "ctl-failed": (
        "E0902 09:57:33.123456      71 main.go:447] nvidia-imex-ctl failed (exit status 1), stdout/err: connection "
        "refused\n"
        "  Warning  Unhealthy  2s (x12 over 14s)  kubelet  Readiness probe failed: IMEX daemon check failed: error "
        "running nvidia-imex-ctl: exit status 1\n"
    ),
}

_HOST_IMEX = {
    "list-units": "  nvidia-imex.service              loaded active running NVIDIA IMEX service\n",
    "status-enabled": (
        "● nvidia-imex.service - NVIDIA IMEX service\n"
        "     Loaded: loaded (/lib/systemd/system/nvidia-imex.service; enabled; vendor preset: enabled)\n"
        "     Active: active (running) since Tue 2025-09-02 09:41:07 UTC; 2h ago\n"
    ),
    "journal": "Sep 02 09:41:07 gb200-node-1 systemd[1]: Started nvidia-imex.service - NVIDIA IMEX service.\n",
    "words": "The nvidia-imex service is already running on the host.\n",
}


@pytest.mark.parametrize("check", sorted(_CD_CHECK))
@pytest.mark.parametrize("host", sorted(_HOST_IMEX))
def test_a_failed_imex_check_beside_the_host_service_proves_the_conflict(tmp_path: Path, check: str, host: str) -> None:
    got = _findings(tmp_path, _CD_CHECK[check] + _HOST_IMEX[host])
    assert got and got[0] == (_IMEX, "proves"), (check, host, got)


def test_the_compute_domain_named_beside_the_host_service_suggests_the_conflict(tmp_path: Path) -> None:
    text = (
        "$ kubectl get computedomain imex-channel-injection -o jsonpath='{.status.status}'\n"
        "NotReady\n"
        "$ kubectl -n nvidia-dra-driver-gpu get pods -l resource.nvidia.com/computeDomain\n"
        "imex-channel-injection-xtskc-8k2lp   0/1   CrashLoopBackOff   6 (2m ago)   9m\n"
        "$ systemctl list-units | grep imex\n" + _HOST_IMEX["list-units"]
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_IMEX, "suggests"), got


_IMEX_CLEAN = {
    # a failed check with no host service in the log (a daemon still starting, a node missing from the domain)
    "check-alone": _CD_CHECK["not-ready"],
    # the host's service disabled: the check failed for another reason
    "service-disabled": (
        _CD_CHECK["not-ready"]
        + "     Loaded: loaded (/lib/systemd/system/nvidia-imex.service; disabled; vendor preset: enabled)\n"
        + "     Active: inactive (dead)\n"
    ),
    # a host that runs IMEX itself, without the DRA driver: nothing failed
    "host-imex-alone": _HOST_IMEX["list-units"] + "nvidia-imex-ctl -q\nREADY\n",
}


@pytest.mark.parametrize("form", sorted(_IMEX_CLEAN))
def test_the_check_or_the_host_service_alone_is_not_the_conflict(tmp_path: Path, form: str) -> None:
    assert _IMEX not in _all(tmp_path, _IMEX_CLEAN[form]), form
    assert _findings(tmp_path, _CD_CHECK["not-ready"] + _HOST_IMEX["journal"])[0] == (_IMEX, "proves")


# --- runtime.image-arch-mismatch ---------------------------------------------------------------------------------

_ARCH_PROVES = {
    # containerd 1.7+ through the kubelet (ROCm/k8s-device-plugin#151's situation)
    "containerd-kubelet": (
        '  Warning  Failed  12s  kubelet  Failed to pull image "rocm/k8s-device-plugin:latest": rpc error: code = '
        'NotFound desc = failed to pull and unpack image "docker.io/rocm/k8s-device-plugin:latest": no match for '
        "platform in manifest: not found\n"
    ),
    # containerd before 1.7 (the digest in the message)
    "containerd-digest": (
        'failed to pull and unpack image "docker.io/vllm/vllm-openai:v0.6.0": no match for platform in manifest '
        "sha256:5f3a0e5c4f2d9a1b8c7e6d5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b: not found\n"
    ),
    # BuildKit: a base image of the build
    "buildkit": "ERROR: failed to solve: nvcr.io/nvidia/pytorch:24.01-py3-igpu: no match for platform in manifest: not found\n",
    # Docker's pull
    "docker-pull": "docker: Error response from daemon: no matching manifest for linux/arm64/v8 in the manifest list entries.\n",
    # Podman / CRI-O (containers/image)
    "containers-image": (
        "Error: choosing an image from manifest list docker://docker.io/vllm/vllm-openai:latest: no image found in "
        'manifest list for architecture "arm64", variant "v8", OS "linux"\n'
    ),
    # Docker's platform warning, then the entrypoint refused (vllm-project/vllm#30076's situation)
    "warning-then-exec": (
        "WARNING: The requested image's platform (linux/amd64) does not match the detected host platform "
        "(linux/arm64/v8) and no specific platform was requested\n"
        "exec /usr/bin/python3: exec format error\n"
    ),
    # the warning, then a script whose interpreter is of the same foreign architecture
    "warning-then-script": (
        "WARNING: The requested image's platform (linux/amd64) does not match the detected host platform "
        "(linux/arm64/v8) and no specific platform was requested\n"
        "exec /opt/nvidia/nvidia_entrypoint.sh: exec format error\n"
    ),
}

_ARCH_SUGGESTS = {
    # runc 1.1+
    "runc-interpreter": "exec /usr/bin/python3: exec format error\n",
    "runc-program": "exec /usr/local/bin/k8s-device-plugin: exec format error\n",
    "runc-conda": "exec /opt/conda/bin/python: exec format error\n",
    # runc 1.0.x ('%s:%d: %s caused: %s')
    "runc-1.0": (
        "docker: Error response from daemon: OCI runtime create failed: container_linux.go:380: starting container "
        "process caused: process_linux.go:545: container init caused: standard_init_linux.go:228: exec user process "
        "caused: exec format error: unknown.\n"
    ),
    # runc before rc92 ('%s caused %q')
    "runc-rc5": 'standard_init_linux.go:190: exec user process caused "exec format error"\n',
}


@pytest.mark.parametrize("form", sorted(_ARCH_PROVES))
def test_no_variant_for_the_platform_proves_the_architecture(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _ARCH_PROVES[form])
    assert got and got[0] == (_ARCH, "proves"), (form, got)


@pytest.mark.parametrize("form", sorted(_ARCH_SUGGESTS))
def test_a_program_of_the_image_refused_by_exec_suggests_the_architecture(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _ARCH_SUGGESTS[form])
    assert got and got[0] == (_ARCH, "suggests"), (form, got)


_ARCH_CLEAN = {
    # a script without a shebang (or with CRLF ends) in an image of the right platform
    "script-no-shebang": "exec /app/entrypoint.sh: exec format error\n",
    "script-in-bin": "exec /usr/local/bin/start.sh: exec format error\n",
    # Docker Desktop in Windows-containers mode: not the CPU architecture
    "windows-containers": (
        "no matching manifest for windows(10.0.22631)/amd64 in the manifest list entries\n"
    ),
    # the platform warning alone: the container ran under emulation
    "warning-alone": (
        "WARNING: The requested image's platform (linux/amd64) does not match the detected host platform "
        "(linux/arm64/v8) and no specific platform was requested\n"
        "Python 3.10.13 (main, Mar 12 2024, 12:22:40) [GCC 12.2.0] on linux\n"
    ),
    # the warning and the NVIDIA hook's failure (NVIDIA/nvidia-docker#1519, a dev negative): as before
    "warning-and-hook": (
        "WARNING: The requested image's platform (linux/amd64) does not match the detected host platform "
        "(linux/arm64/v8) and no specific platform was requested\n"
        "docker: Error response from daemon: OCI runtime create failed: container_linux.go:380: starting container "
        "process caused: process_linux.go:545: container init caused: Running hook #1:: error running hook: exit "
        "status 1, stdout: , stderr: nvidia-container-cli: initialization error: driver error: failed to process "
        "request: unknown.\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_ARCH_CLEAN))
def test_scripts_other_os_and_the_warning_alone_are_not_the_architecture(tmp_path: Path, form: str) -> None:
    assert _ARCH not in _all(tmp_path, _ARCH_CLEAN[form]), form
    assert _findings(tmp_path, _ARCH_PROVES["docker-pull"])[0] == (_ARCH, "proves")


# --- the RDMA ENOMEM look-alike (a note on the memlock reading, no id) -------------------------------------------

_NCCL_ENOMEM = "misc/ibvwrap.cc:201 NCCL WARN Call to ibv_reg_mr_iova2 failed with error Cannot allocate memory\n"


@pytest.mark.parametrize(
    "context",
    [
        "$ grep Cma /proc/meminfo\nCmaTotal:              0 kB\nCmaFree:          940604 kB\n",
        "$ docker run --gpus all --ulimit memlock=-1 --network host sglang:spark ...\n",
        "max locked memory       (kbytes, -l) unlimited\n",
    ],
    ids=["cma-total-zero", "docker-memlock-unlimited", "ulimit-unlimited"],
)
def test_enomem_with_memlock_unlimited_or_no_cma_is_not_the_memlock_limit(tmp_path: Path, context: str) -> None:
    text = context + _NCCL_ENOMEM
    assert _MEMLOCK not in _all(tmp_path, text)
    assert any("host kernel" in n for n in _notes(tmp_path, text)), _notes(tmp_path, text)


@pytest.mark.parametrize(
    "context",
    ["", "max locked memory       (kbytes, -l) 64\nCmaTotal:              0 kB\n"],
    ids=["bare-line", "low-memlock-beside-cma-zero"],
)
def test_a_low_or_unknown_memlock_keeps_the_memlock_reading(tmp_path: Path, context: str) -> None:
    got = _findings(tmp_path, context + _NCCL_ENOMEM)
    assert got and got[0][0] == _MEMLOCK, got
    # the other direction: CmaTotal 0 without a small limit drops it
    assert _MEMLOCK not in _all(tmp_path, "CmaTotal:              0 kB\n" + _NCCL_ENOMEM)
