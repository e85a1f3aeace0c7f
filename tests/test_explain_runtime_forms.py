"""Container-runtime messages whose meaning depends on a detail of the text or on the rest of the log.

Texts from upstream: docker/compose 1.x compose/config/validation.py and config.py, compose-spec/compose-go
schema/schema.go (gojsonschema and santhosh-tekuri forms), docker/cli stack loader, moby daemon/errors.go and
oci/devices_linux.go, kubernetes pkg/kubelet/cm/devicemanager/manager.go, NVIDIA/k8s-device-plugin
(signature `source` fields in src/tpdoctor/data/signatures.yaml give file and version).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain


def _causes(tmp_path: Path, *lines: str) -> list[tuple[str, str]]:
    log = tmp_path / "run.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [(f.cause, f.confidence) for f in explain([str(log)]).findings if f.severity.value != "notice"]


def _first(tmp_path: Path, *lines: str) -> str | None:
    causes = _causes(tmp_path, *lines)
    return causes[0][0] if causes else None


# A compose schema error names the key: a real compose key refused at its own level means the
# implementation (or file version) lacks it; anything else is a typo or a key at the wrong level.
@pytest.mark.parametrize(
    ("line", "cause"),
    [
        ("Unsupported config option for services.vllm: 'gpus'", "compose.key-unsupported"),
        ("Unsupported config option for services.vllm: 'shm-size'", "compose.yaml-invalid"),
        (
            "Unsupported config option for services.web: 'cpu-shares' (did you mean 'cpu_shares'?)",
            "compose.yaml-invalid",
        ),
        ("services.vllm Additional property runtime is not allowed", "compose.key-unsupported"),
        ("services.vllm Additional property runtme is not allowed", "compose.yaml-invalid"),
        (
            "validating /srv/compose.yaml: services.vllm additional properties 'gpus' not allowed",
            "compose.key-unsupported",
        ),
        (
            "services.api.deploy.resources.limits Additional property devices is not allowed",
            "compose.yaml-invalid",
        ),
        (
            "services.x.deploy.resources.reservations value Additional properties are not allowed ('devices' was unexpected)",
            "compose.key-unsupported",
        ),
        (
            "services.x.deploy.resources.reservations.devices.0 Additional property capability is not allowed",
            "compose.yaml-invalid",
        ),
        (
            "services.x.deploy.resources.reservations.devices.0 additional properties 'count' not allowed",
            "compose.key-unsupported",
        ),
        ("services.zonos.gpus must be a list", "compose.key-unsupported"),
        (
            "services.vllm.deploy.resources.reservations.devices.0.capabilities must be a list",
            "compose.yaml-invalid",
        ),
        ("yaml: line 12: found a tab character that violates indentation", "compose.yaml-invalid"),
    ],
)
def test_compose_schema_error_maps_by_key_and_parent(tmp_path: Path, line: str, cause: str) -> None:
    assert _first(tmp_path, line) == cause


def test_compose_key_refused_proves_and_typo_only_suggests(tmp_path: Path) -> None:
    assert _causes(tmp_path, "services.zonos Additional property gpus is not allowed") == [
        ("compose.key-unsupported", "proves")
    ]
    assert _causes(tmp_path, "services.zonos Additional property gpu is not allowed") == [
        ("compose.yaml-invalid", "suggests")
    ]


DEPLOY_IGNORED = (
    "WARNING: Some services (vllm) use the 'deploy' key, which will be ignored. "
    "Compose does not support 'deploy' configuration - use `docker stack deploy` to deploy to a swarm."
)


def test_compose_v1_deploy_warning_alone_is_benign(tmp_path: Path) -> None:
    assert (
        _causes(tmp_path, DEPLOY_IGNORED, "Creating web_1 ... done", "web_1 | Listening on 0.0.0.0:8080")
        == []
    )


def test_compose_v1_deploy_ignored_then_no_gpu_is_the_root(tmp_path: Path) -> None:
    causes = _causes(tmp_path, DEPLOY_IGNORED, "vllm_1  | RuntimeError: No CUDA GPUs are available")
    assert causes[0] == ("compose.key-ignored", "proves")


def test_compose_v2_version_obsolete_warning_is_harmless(tmp_path: Path) -> None:
    lines = (
        "WARN[0000] /srv/docker-compose.yml: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
        " Container vllm  Started",
        "vllm  | INFO 10-01 12:00:00 api_server.py:1] vLLM API server version 0.6.3",
        "vllm  | INFO:     Application startup complete.",
    )
    assert _causes(tmp_path, *lines) == []


def test_stack_ignoring_only_harmless_keys_is_not_a_cause(tmp_path: Path) -> None:
    assert _causes(tmp_path, "Ignoring unsupported options: build, restart") == []
    assert _first(tmp_path, "Ignoring unsupported options: build, devices, ipc") == "compose.key-ignored"


def test_cdi_name_stat_as_a_path_is_the_engine_not_a_missing_node(tmp_path: Path) -> None:
    cdi = 'docker: Error response from daemon: error gathering device information while adding custom device "nvidia.com/gpu=all": no such file or directory.'
    # gnew43: a docker CLI before 25 (or compose before 2.30) passed the CDI name as a path: the client predates CDI
    assert _first(tmp_path, cdi) == "runtime.engine-predates-cdi"
    node = 'docker: Error response from daemon: error gathering device information while adding custom device "/dev/dri/renderD129": no such file or directory.'
    assert _first(tmp_path, node) == "device.host-node-absent"


@pytest.mark.parametrize(
    "line",
    [
        'Error response from daemon: could not select device driver "nvidia" with capabilities: [[gpu utility compute]]',
        # gnew33a: the "cdi" driver line moved to runtime.cdi-feature-disabled (tests/test_explain_gnew33a.py)
        'Error: default OCI runtime "nvidia" not found: invalid argument',
        'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for "nvidia" is configured',
    ],
)
def test_runtime_without_the_nvidia_toolkit(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line)[:1] == [("runtime.nvidia-toolkit-missing", "proves")]


def test_kubelet_admission_failure_proves_the_gpu_resource_is_unavailable(tmp_path: Path) -> None:
    line = "Warning  UnexpectedAdmissionError  kubelet  Allocate failed due to no healthy devices present; cannot allocate unhealthy devices amd.com/gpu, which is unexpected"
    assert _causes(tmp_path, line) == [("k8s.gpu-resource-unavailable", "proves")]


def test_insufficient_gpu_is_the_plugin_when_the_plugin_says_so(tmp_path: Path) -> None:
    insufficient = "Warning  FailedScheduling  default-scheduler  0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    assert _first(tmp_path, insufficient) == "k8s.gpu-resource-unavailable"
    plugin = "2020/05/04 01:31:11 If this is a GPU node, did you set the docker default runtime to `nvidia`?"
    causes = [c for c, _ in _causes(tmp_path, insufficient, plugin)]
    assert causes == ["runtime.nvidia-toolkit-missing"]


def test_insufficient_cpu_is_not_a_gpu_cause(tmp_path: Path) -> None:
    assert _causes(tmp_path, "0/3 nodes are available: 3 Insufficient cpu, 3 Insufficient memory.") == []


def test_setgroups_einval_under_rootless_is_an_unmapped_gid(tmp_path: Path) -> None:
    assert (
        _first(tmp_path, "Error: OCI runtime error: crun: setgroups: Invalid argument")
        == "userns.gid-unmapped"
    )


@pytest.mark.parametrize(
    "line",
    [
        "Error response from daemon: pull access denied for rocm_gpu, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
        "Error response from daemon: manifest unknown",
        "Error response from daemon: driver failed programming external connectivity on endpoint vllm (3f1c): Bind for 0.0.0.0:8000 failed: port is already allocated",
        "OSError: Incorrect path_or_model_id: '/models/x'. Please provide either the path to a local folder or the repo_id of a model on the Hub.",
    ],
)
def test_failures_without_a_container_gpu_cause_stay_clean(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line) == []


def test_exec_format_error_of_an_interpreter_suggests_the_image_architecture(tmp_path: Path) -> None:
    # since runtime.image-arch-mismatch (gnew34b): an image's interpreter that the kernel cannot exec is an image
    # built for another CPU; a script without a shebang stays clean
    assert _causes(tmp_path, "exec /usr/bin/python3: exec format error") == [("runtime.image-arch-mismatch", "suggests")]
    assert _causes(tmp_path, "exec ./entrypoint.sh: exec format error") == []


def test_a_root_failure_drops_a_cause_only_a_downstream_line_backs(tmp_path: Path) -> None:
    """The pull failure is the root; NCCL's generic system error after it must not become shm.too-small."""
    pull = "Error response from daemon: pull access denied for vllm/vllm-openai-rocm, repository does not exist or may require 'docker login'"
    generic = "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5"
    assert _first(tmp_path, generic) is not None  # the generic line alone suggests something
    assert _causes(tmp_path, pull, generic) == []


def test_device_plugin_without_nvml_on_a_cpu_node_is_benign(tmp_path: Path) -> None:
    """The plugin's DaemonSet prints this on every node without GPUs; a cause only when a pod then lacks one."""
    line = "2018/07/11 08:27:52 No devices found. Waiting indefinitely."
    assert _causes(tmp_path, line) == []
    insufficient = "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    assert _first(tmp_path, insufficient, line) == "runtime.nvidia-toolkit-missing"


def test_compose_v1_too_old_for_the_file_version(tmp_path: Path) -> None:
    line = (
        'ERROR: Version in "./docker-compose.yml" is unsupported. You might be seeing this error because '
        "you're using the wrong Compose file version."
    )
    assert _causes(tmp_path, line) == [("compose.key-unsupported", "suggests")]


def test_a_broken_cdi_spec_is_not_a_broken_compose_file(tmp_path: Path) -> None:
    line = (
        'level=warning msg="CDI setup error" dir=/etc/cdi error="failed to load CDI Spec failed to parse CDI Spec '
        '\\"/etc/cdi/nvidia.yaml\\": yaml: line 3: mapping values are not allowed in this context"'
    )
    assert [c for c, _ in _causes(tmp_path, line)] == ["runtime.nvidia-toolkit-missing"]
    assert (
        _first(tmp_path, "yaml: line 3: mapping values are not allowed in this context")
        == "compose.yaml-invalid"
    )


def test_a_missing_command_is_not_a_gpu_cause_but_missing_nvidia_smi_is(tmp_path: Path) -> None:
    runc = 'OCI runtime create failed: runc create failed: unable to start container process: exec: "{}": executable file not found in $PATH: unknown.'
    assert _causes(tmp_path, runc.format("vllm")) == []
    assert _first(tmp_path, runc.format("nvidia-smi")) == "device.nvidia-node-missing"
    mount = 'Error response from daemon: invalid mount config for type "bind": bind source path does not exist: /data/models'
    assert _causes(tmp_path, mount) == []


def test_a_missing_nvidia_runtime_binary_is_the_toolkit(tmp_path: Path) -> None:
    line = (
        "OCI runtime create failed: runc create failed: unable to start container process: error during container "
        'init: error running hook #0: error running hook: exec: "nvidia-container-runtime-hook": executable file '
        "not found in $PATH: unknown."
    )
    assert _causes(tmp_path, line) == [("runtime.nvidia-toolkit-missing", "proves")]


def test_insufficient_gpu_then_scheduled_is_a_wait(tmp_path: Path) -> None:
    waited = "Warning  FailedScheduling  2m  default-scheduler  0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    placed = "Normal   Scheduled  10s  default-scheduler  Successfully assigned default/vllm-0 to gpu-node-1"
    assert _causes(tmp_path, waited, placed) == []
    assert _first(tmp_path, waited) == "k8s.gpu-resource-unavailable"


# kb-rt2 (issue 13, second pass): where a form is read depends on a detail of the text.


def test_a_dev_bind_source_is_a_missing_device_but_a_data_path_is_not(tmp_path: Path) -> None:
    line = 'Error response from daemon: invalid mount config for type "bind": bind source path does not exist: {}'
    assert _causes(tmp_path, line.format("/dev/dri")) == [("device.host-node-absent", "proves")]
    assert _causes(tmp_path, line.format("/srv/models")) == []


def test_kubelet_hostpath_type_check_names_a_device_only_under_dev(tmp_path: Path) -> None:
    dev = 'MountVolume.SetUp failed for volume "kfd" : hostPath type check failed: /dev/kfd is not a character device'
    data = 'MountVolume.SetUp failed for volume "models" : hostPath type check failed: /data/models is not a directory'
    assert _first(tmp_path, dev) == "device.host-node-absent"
    assert _causes(tmp_path, data) == []


def test_a_gpu_request_unlike_its_limit_is_the_request_not_the_schema(tmp_path: Path) -> None:
    line = (
        'The Deployment "vllm" is invalid: spec.template.spec.containers[0].resources.requests[nvidia.com/gpu]: '
        'Invalid value: "2": must be equal to nvidia.com/gpu limit of 1'
    )
    assert _first(tmp_path, line) == "runtime.gpu-request-invalid"
    typo = 'Warning: unknown field "spec.template.spec.containers[0].resource"'
    assert _causes(tmp_path, typo) == [("k8s.schema-invalid", "proves")]


@pytest.mark.parametrize(
    "line",
    [
        # Debug switches with a value torch does not read as boolean: harmless (seen in ROCm negatives).
        "UserWarning: Ignoring invalid value for boolean flag AMD_SERIALIZE_KERNEL: 3valid values are 0 or 1.",
        "UserWarning: Ignoring invalid value for boolean flag CUDA_LAUNCH_BLOCKING: truevalid values are 0 or 1.",
        # get_mempolicy EPERM alone is survived (vLLM/NCCL fall back): not the seccomp cause.
        "get_mempolicy: Operation not permitted",
        # vLLM's shm broadcast waiting on a slow peer is a hang symptom, not a small /dev/shm.
        "WARNING 01-01 00:00:00 shm_broadcast.py:466] No available shared memory broadcast block found in 60 second.",
    ],
)
def test_benign_lines_near_my_forms_stay_clean(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line) == []


def test_a_real_env_value_error_is_read(tmp_path: Path) -> None:
    torch_bool = "UserWarning: Ignoring invalid value for boolean flag TORCH_NCCL_BLOCKING_WAIT: truevalid values are 0 or 1."
    vllm_choice = "ValueError: Invalid value 'FLASH' for VLLM_ATTENTION_BACKEND. Valid options: ['FLASH_ATTN', 'XFORMERS']."
    assert _first(tmp_path, torch_bool) == "env.invalid-value"
    assert _causes(tmp_path, vllm_choice) == [("env.invalid-value", "proves")]


def test_unmapped_group_on_fedora_images_reads_nobody(tmp_path: Path) -> None:
    fedora = "crw-rw----. 1 nobody nobody 226, 128 Jan  1 00:00 renderD128"
    mapped = "crw-rw----. 1 root render 226, 128 Jan  1 00:00 renderD128"
    assert _first(tmp_path, fedora) == "userns.gid-unmapped"
    assert _causes(tmp_path, mapped) == []


def test_a_dataloader_worker_exit_is_shm_only_without_another_signal(tmp_path: Path) -> None:
    exited = "RuntimeError: DataLoader worker (pid(s) 123) exited unexpectedly"
    assert _first(tmp_path, exited) == "shm.too-small"
    oom = "RuntimeError: DataLoader worker (pid 123) is killed by signal: Killed."
    assert _causes(tmp_path, oom, exited) == []
    bus = "RuntimeError: DataLoader worker (pid 123) is killed by signal: Bus error."
    assert _first(tmp_path, bus, exited) == "shm.too-small"


def test_eacces_despite_keep_groups_is_the_user_namespace(tmp_path: Path) -> None:
    denied = "cat: can't open '/dev/dri/renderD128': Permission denied"
    assert _first(tmp_path, denied) == "device.group-denied"
    kept = "podman run -it --rm --group-add=keep-groups --device /dev/dri/:/dev/dri/ quay.io/libpod/banner cat /dev/dri/renderD128"
    assert _first(tmp_path, kept, denied) == "userns.gid-unmapped"
    assert _causes(tmp_path, kept) == []  # the flag alone is no cause
