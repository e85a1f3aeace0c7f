"""Issue 13, heldout29 lessons (glearn29a): the NVIDIA container stack and its look-alikes.

Lines are written from the code that prints them (not copied from the heldout29 logs):
- the NVIDIA hook's refusal of `--gpus` (nvidia-container-toolkit cmd/nvidia-container-runtime-hook, main.go
  log.Panicln @v1.12-v1.17, hook_config.go assertModeIsLegacy @v1.18+, the README's form) in every spelling, and a
  quote that elides its middle with "...";
- containerd's oci-hook template error (cmd/containerd/command/oci-hook.go render; Go text/template "template: %s:%d:
  %s"): an environment variable broke the hook, not a GPU setting;
- Incus/LXD's GPU resources with empty NVRM/CUDA fields (shared/resources/gpu.go falls back from
  `nvidia-container-cli info` to /proc/driver/nvidia when the cli is missing);
- nvidia-ctk cdi generate's "Could not locate /dev/nvidia-uvm" and a CDI container where nvidia-smi works but CUDA
  does not: the spec lacks /dev/nvidia-uvm, capabilities do not filter a CDI spec;
- NVML Insufficient Permissions under Podman without any group evidence: SELinux, not an unmapped group;
- a report that the NVIDIA driver version is too low (NVIDIA/TensorRT-LLM#331), other vendors' wording stays clean;
- a GitHub Actions job container (/__w/_temp) on a GPU runner without nvidia-smi: no GPU request, not no toolkit;
- NVML "driver not loaded" beside a GPU that fell off the bus (Xid 79); a CDI spec the engine cannot parse.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import notes as _notes

HOOK_ERR = (
    "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime "
    "create failed: runc create failed: unable to start container process: error during container init: error running "
    "hook #0: error running hook: exit status 1, stdout: , stderr: {msg}"
)


@pytest.mark.parametrize(
    "msg",
    [
        # a quote that cuts "is not supported." out with [...] and keeps the advice
        "invoking the NVIDIA Container Runtime Hook directly (e.g. specifying the docker --gpus flag) [...] "
        "Please use the NVIDIA Container Runtime (e.g. specify the --runtime=nvidia flag) instead.",
        # the (e.g. ...) part left out
        "invoking the NVIDIA Container Runtime Hook directly is not supported. Please use the NVIDIA Container Runtime instead.",
    ],
)
def test_hook_directly_other_spellings(tmp_path: Path, msg: str) -> None:
    # gnew33a: with no Jetson in the log the refusal is runtime.hook-direct-unsupported (was runtime.nvidia-toolkit-missing)
    assert _causes(tmp_path, HOOK_ERR.format(msg=msg) + "\n")[:1] == ["runtime.hook-direct-unsupported"]
    jetson = "Running on a Jetson AGX Orin, JetPack 6.0\n" + HOOK_ERR.format(msg=msg) + "\n"
    assert _causes(tmp_path, jetson)[:1] == ["runtime.jetson-gpus-flag"]


def test_hook_directly_elided_quote_on_jetson(tmp_path: Path) -> None:
    text = (
        "After the change the Jetson Thor was detected as plain aarch64 and the tests ran with --gpus all, so docker failed:\n"
        "  `invoking the NVIDIA Container Runtime Hook directly ... Please use --runtime=nvidia instead.`\n"
    )
    assert _causes(tmp_path, text) == ["runtime.jetson-gpus-flag"]
    # the advice alone, without the hook's words, is not the refusal
    assert _causes(tmp_path, "Please use --runtime=nvidia instead of --gpus on Jetson\n") == []


OCI_HOOK = (
    "FATA[0000] failed to create shim task: OCI runtime create failed: runc create failed: unable to start container "
    "process: error during container init: error running createRuntime hook #0: exit status 1, stdout: , stderr: "
    "containerd: template: oci-hook:{pos}: {msg}"
)


@pytest.mark.parametrize(
    ("pos", "msg"),
    [
        ("1", 'unexpected "|" in command'),
        ("3", 'function "xterm" not defined'),
        ("1", "unclosed action"),
        ("2:14", 'unexpected "}" in operand'),
    ],
)
def test_oci_hook_template_error_is_not_the_gpu_request(tmp_path: Path, pos: str, msg: str) -> None:
    text = "$ nerdctl run --network=host --gpus 0 --rm -it ubuntu bash\n" + OCI_HOOK.format(pos=pos, msg=msg) + "\n"
    assert _causes(tmp_path, text) == []
    # without the template error the `--gpus 0` reading stands
    assert _causes(tmp_path, "$ nerdctl run --gpus 0 --rm -it ubuntu nvidia-smi\nNo devices were found\n")[:1] == [
        "runtime.gpu-request-invalid"
    ]


def _incus_gpu(nvrm: str, cuda: str, uuid: str) -> str:
    # cmd/incus/info.go: "NVIDIA information:" then "  Architecture: %v" ... "  UUID: %v"
    return (
        "GPU:\n  Vendor: NVIDIA Corporation (10de)\n  Driver: nvidia (550.120)\n  NVIDIA information:\n"
        "    Architecture: \n    Brand: NVIDIA\n    Model: NVIDIA RTX A4000\n"
        f"    CUDA Version: {cuda}\n    NVRM Version: {nvrm}\n    UUID: {uuid}\n"
    )


def test_incus_nvidia_information_empty_names_the_missing_cli(tmp_path: Path) -> None:
    assert _causes(tmp_path, _incus_gpu("", "", "")) == ["runtime.nvidia-toolkit-missing"]
    # filled in by nvidia-container-cli info: healthy
    full = _incus_gpu("550.120", "12.4", "GPU-2f6c1a9e-55d1-4c1b-9a0f-6c1e2b7d9a10")
    assert _causes(tmp_path, full) == []
    # /proc/driver/nvidia/version spells "NVRM version:" with the driver after it
    assert _causes(tmp_path, "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.120  Fri Sep 13 10:10:01 UTC 2024\n") == []


@pytest.mark.parametrize(
    "line",
    [
        "WARN[0000] Could not locate /dev/nvidia-uvm: pattern /dev/nvidia-uvm not found",
        'time="2025-01-10T09:00:00Z" level=warning msg="Could not locate /dev/nvidia-uvm-tools: pattern /dev/nvidia-uvm-tools not found"',
    ],
)
def test_cdi_generate_without_uvm(tmp_path: Path, line: str) -> None:
    text = "$ sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml\n" + line + "\n"
    assert _causes(tmp_path, text) == ["device.nvidia-node-missing"]
    # modeset is not needed by CUDA; on Jetson there is no nvidia-uvm at all
    assert _causes(tmp_path, "WARN[0000] Could not locate /dev/nvidia-modeset: pattern /dev/nvidia-modeset not found\n") == []
    assert _causes(tmp_path, "Jetson Orin Nano, JetPack 6\n" + line + "\n") == []


SMI_OK = "nvidia-smi works fine inside the container but CUDA is not detected:\n>>> torch.cuda.is_available()\nFalse\n"


@pytest.mark.parametrize(
    "setup",
    [
        "podman run --rm --device nvidia.com/gpu=all pytorch/pytorch python\n",
        "I generated the spec with nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml\n",
        "---\ncdiVersion: 0.5.0\ncontainerEdits:\n  deviceNodes:\n  - path: /dev/nvidiactl\n",
    ],
)
def test_cdi_smi_ok_cuda_unavailable_is_uvm_not_caps(tmp_path: Path, setup: str) -> None:
    got = _causes(tmp_path, setup + SMI_OK)
    assert got[:1] == ["device.nvidia-node-missing"]
    assert "nvidia.driver-capabilities-missing" not in got
    # with the NVIDIA runtime's --gpus the capability reading stands
    assert _causes(tmp_path, "docker run --rm --gpus all pytorch/pytorch python\n" + SMI_OK)[:1] == [
        "nvidia.driver-capabilities-missing"
    ]


@pytest.mark.parametrize(
    "denied",
    [
        "Failed to initialize NVML: Insufficient Permissions",
        "Error: crun: error executing hook `/usr/bin/nvidia-container-toolkit` (exit code: 1): "
        "nvidia-container-cli: initialization error: nvml error: insufficient permissions",
    ],
)
def test_podman_nvml_denied_without_group_evidence_is_selinux(tmp_path: Path, denied: str) -> None:
    text = "$ podman run --rm --device=nvidia.com/gpu=all fedora nvidia-smi\n" + denied + "\n"
    got = _causes(tmp_path, text)
    assert got[:1] == ["lsm.selinux-device-denied"]
    assert "userns.gid-unmapped" not in got
    # a group asked for: the user-namespace mapping reading stands
    grp = "$ podman run --rm --group-add keep-groups --device=nvidia.com/gpu=all fedora nvidia-smi\n" + denied + "\n"
    assert "userns.gid-unmapped" in _causes(tmp_path, grp)


@pytest.mark.parametrize(
    "text",
    [
        "my image runs on a cluster whose GPU driver is 470.82; building the engine it says the driver version is too low\n",
        "TensorRT-LLM fails on the NVIDIA nodes: CUDA driver version too old, can it run on 470?\n",
        "the nvidia driver version is too old for the 12.4 image\n",
    ],
)
def test_prose_nvidia_driver_too_low(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text) == ["cuda.driver-too-old"]


@pytest.mark.parametrize(
    "text",
    [
        # rkllm's runtime warning (Rockchip NPU), Level Zero, a database driver
        "W rkllm: Warning: Your rknpu driver version is too low, please upgrade to 0.9.7\n",
        "Intel Level Zero GPU driver version is too old for this oneAPI release\n",
        "the MongoDB driver version is too old for the server\n",
        "the printer driver version is too old\n",
    ],
)
def test_prose_driver_too_low_other_vendors_clean(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text) == []
    # the NVIDIA reading of the same words (a test that fails without glearn29a)
    assert _causes(tmp_path, "the NVIDIA driver version is too low (470.82)\n") == ["cuda.driver-too-old"]


GHA = (
    "+ nvidia-smi\n"
    "/__w/_temp/3b1f0c2e-8d7a-4c55-9a51-0e2f7c1d9b44.sh: line 1: nvidia-smi: command not found\n"
    "##[error]Process completed with exit code 127.\n"
)


@pytest.mark.parametrize(
    "banner",
    [
        "##[group]NVIDIA Managed Runner\nGPUs UIDs: GPU-5d0c7e21-19aa-4f3e-8c11-2b7e9a4f0c63\n",
        "GPUs UIDs: GPU-5d0c7e21-19aa-4f3e-8c11-2b7e9a4f0c63\n",
    ],
)
def test_gha_job_container_on_gpu_runner_is_no_request(tmp_path: Path, banner: str) -> None:
    got = _causes(tmp_path, GHA + banner)
    assert got[:1] == ["device.nvidia-node-missing"]
    assert "runtime.nvidia-toolkit-missing" not in got
    # without the runner's GPUs the missing-toolkit reading stands
    assert _causes(tmp_path, GHA)[:1] == ["runtime.nvidia-toolkit-missing"]


@pytest.mark.parametrize(
    "lost",
    [
        "NVRM: Xid (PCI:0000:3b:00): 79, pid=0, name=nvidia-smi, GPU has fallen off the bus.",
        "Unable to determine the device handle for GPU0000:82:00.0: GPU is lost.  Reboot the system to recover this GPU",
    ],
)
def test_driver_not_loaded_beside_gpu_lost_is_not_a_missing_driver(tmp_path: Path, lost: str) -> None:
    cli = "nvidia-container-cli: initialization error: nvml error: driver not loaded: unknown.\n"
    assert _causes(tmp_path, cli + lost + "\n") == []
    assert _causes(tmp_path, cli)[:1] == ["device.no-driver"]


@pytest.mark.parametrize(
    "parse",
    [
        'failed to load CDI Spec failed to parse CDI Spec "/etc/cdi/nvidia.yaml": failed to unmarshal CDI Spec: error '
        'unmarshaling JSON: while decoding JSON: json: unknown field "additionalGids"',
        "WARN[0000] CDI setup error /etc/cdi/nvidia.yaml: failed to load CDI Spec invalid CDI Spec: invalid version \"0.7.0\"",
    ],
)
def test_unresolvable_with_spec_parse_error_is_the_version_only(tmp_path: Path, parse: str) -> None:
    text = parse + "\nError: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=all\n"
    assert _causes(tmp_path, text) == ["runtime.cdi-spec-version-unsupported"]
    assert any("failed to parse the spec" in n for n in _notes(tmp_path, text))
