"""Issue 13, heldout47 lessons (glearn47a): images and their builds, the toolkit and the daemon.

Lines are written from the code that prints them (not copied from the heldout47 logs):
- RamaLama's NVIDIA check (containers/ramalama ramalama/common.py find_in_cdi / check_nvidia, v0.11.1-v0.24.0):
  "Device {device} does not have a CDI configuration", "No CDI configuration found for {devices}", and since v0.24.0
  (040fb4ad) "The nvidia-container-toolkit does not appear to be installed. Install "; benign where nvidia-ctk lists
  devices (#2485) or in RamaLama 0.11.x-0.12.2, whose CDI parser found no device in valid specs (#1844);
- containers/image's OCI index form "no image found in image index for architecture %q, variant %q, OS %q" (v5.25+;
  "%s, OS %s" before), and moby's "image with reference %s was found but does not provide the specified platform (%s)"
  / "... but its platform (%s) does not match the specified platform (%s)";
- torch's cpp_extension `arch_list[-1] += '+PTX'` (an IndexError with no GPU and no TORCH_CUDA_ARCH_LIST) under
  BuildKit's "#N secs" prefix and its error summary's "secs" prefix;
- a setup.py that falls back to a fixed architecture list when torch sees no CUDA (fused-ssim setup.py "CUDA not
  available. Falling back to multiple architectures."), read with the run's "no kernel image" / "invalid device
  function";
- systemd's lines for a docker.service that does not start (systemctl's "Job for docker.service failed because ...",
  the journal's "Start request repeated too quickly." / "Failed with result 'start-limit-hit'." / "Failed to start
  Docker Application Container Engine."), or the user saying so, beside a quoted /etc/docker/daemon.json.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

# --- RamaLama: no CDI spec for the NVIDIA GPU ---
RAMA_OLD = (
    "Device {dev} does not have a CDI configuration\n"
    "No CDI configuration found for {dev}\n"
    'You can use the "nvidia-ctk cdi generate" command from the \n'
    "nvidia-container-toolkit to generate a CDI configuration.\n"
    "See ramalama-cuda(7).\n"
)
RAMA_NEW = (
    "No CDI configuration found for all\n"
    "The nvidia-container-toolkit does not appear to be installed. Install \n"
    "it to enable GPU support; recent versions generate the CDI \n"
    "configuration automatically.\n"
    "See ramalama-cuda(7).\n"
)


@pytest.mark.parametrize(
    "text",
    [
        "$ ramalama serve granite\n" + RAMA_OLD.format(dev="all"),
        "$ ramalama run llama3\n" + RAMA_OLD.format(dev="0") + "No CDI configuration found for 0,all\n",
        "$ ramalama --runtime vllm serve qwen\n" + RAMA_NEW,
        # each line alone
        "Device GPU-5f1c does not have a CDI configuration\n",
        "No CDI configuration found for 1,all\n",
        "The nvidia-container-toolkit does not appear to be installed. Install \n",
        # a later, unrelated error of the same run does not hide it
        RAMA_OLD.format(dev="all") + "Error: 'llama3' is not a known shortname and no transport was specified.\n",
    ],
)
def test_ramalama_no_cdi_configuration_is_the_toolkit(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [("runtime.nvidia-toolkit-missing", "suggests")]


@pytest.mark.parametrize(
    "extra",
    [
        # nvidia-ctk lists devices: the spec is there (RamaLama < 0.18 read only the first spec file, #2485)
        "$ nvidia-ctk cdi list\nINFO[0000] Found 3 CDI devices\nnvidia.com/gpu=0\nnvidia.com/gpu=all\n",
        # the 0.11.x-0.12.2 parser that found no device in valid specs (#1844)
        "$ ramalama version\nramalama version 0.12.0\n",
        "ramalama version 0.11.3\n",
    ],
)
def test_ramalama_no_cdi_with_the_spec_there_is_a_note(tmp_path: Path, extra: str) -> None:
    text = RAMA_OLD.format(dev="all") + extra
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, text)
    assert any("RamaLama found no CDI spec" in n for n in _notes(tmp_path, text))


def test_ramalama_fixed_parser_version_still_names_the_toolkit(tmp_path: Path) -> None:
    # 0.12.3 replaced the parser (a8c74e59); 0.1.2 and 0.120.0 are other numbers
    for version in ("0.12.3", "0.18.0", "0.120.0"):
        text = RAMA_OLD.format(dev="all") + f"ramalama version {version}\n"
        assert _causes(tmp_path, text)[:1] == ["runtime.nvidia-toolkit-missing"], version


def test_ramalama_neighbours_stay_clean(tmp_path: Path) -> None:
    clean = (
        "$ ramalama info\n"
        '    "Accelerator": "cuda",\n'
        "Generate a CDI configuration with nvidia-ctk cdi generate before using CUDA images.\n"
        "INFO[0000] Found 1 CDI devices\n"
        "nvidia.com/gpu=all\n"
    )
    assert _causes(tmp_path, clean) == []
    # the spec listed beside RamaLama's complaint: a note, not the toolkit
    assert _causes(tmp_path, clean + "No CDI configuration found for all\n") == []
    assert any("RamaLama found no CDI spec" in n for n in _notes(tmp_path, clean + "No CDI configuration found for all\n"))


# --- an image with no variant for this host's platform ---
@pytest.mark.parametrize(
    "line",
    [
        # containers/image v5.25+ (quoted, with the variant), wrapped by Podman
        'Error: choosing an image from manifest list docker://quay.io/org/vllm:cuda-12: no image found in image index for architecture "arm64", variant "v8", OS "linux"',
        'Error: initializing source docker://registry.example.com/serve:1: no image found in image index for architecture "amd64", variant "", OS "linux"',
        # v5.0-v5.24 (unquoted)
        "Error: no image found in image index for architecture arm64, OS linux",
    ],
)
def test_oci_image_index_without_the_platform_is_the_arch(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[:1] == [("runtime.image-arch-mismatch", "proves")]


@pytest.mark.parametrize(
    "line",
    [
        "Error response from daemon: image with reference vllm/vllm-openai:v0.9.1 was found but does not provide the specified platform (linux/arm64/v8)",
        "docker: Error response from daemon: image with reference nvcr.io/nvidia/pytorch:24.05-py3 was found but its platform (linux/amd64) does not match the specified platform (linux/arm64).",
    ],
)
def test_moby_image_without_the_platform_suggests_the_arch(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[:1] == [("runtime.image-arch-mismatch", "suggests")]


def test_other_os_in_the_index_is_not_the_cpu_architecture(tmp_path: Path) -> None:
    other_os = (
        'Error: no image found in image index for architecture "amd64", variant "", OS "windows"\n'
        "image with reference mcr.microsoft.com/windows/servercore:ltsc2022 was found but does not provide the specified platform (windows/amd64)\n"
    )
    assert "runtime.image-arch-mismatch" not in _causes(tmp_path, other_os)
    arm = 'Error: no image found in image index for architecture "arm64", variant "v8", OS "linux"\n'
    assert "runtime.image-arch-mismatch" in _causes(tmp_path, other_os + arm)


# --- torch's cpp_extension with no visible GPU and no TORCH_CUDA_ARCH_LIST, in a docker build ---
CPP = "/usr/local/lib/python3.10/dist-packages/torch/utils/cpp_extension.py"


@pytest.mark.parametrize(
    "text",
    [
        # BuildKit plain progress ("#<step> <seconds> ")
        f'#9 41.07   File "{CPP}", line 1985, in _get_cuda_arch_flags\n'
        "#9 41.07     arch_list[-1] += '+PTX'\n"
        "#9 41.07 IndexError: list index out of range\n",
        # Python 3.11+ marks the subscript under the line
        f'#12 103.5   File "{CPP}", line 2124, in _get_cuda_arch_flags\n'
        "#12 103.5     arch_list[-1] += '+PTX'\n"
        "#12 103.5     ~~~~~~~~~^^^^\n"
        "#12 103.5 IndexError: list index out of range\n",
        # BuildKit's error summary (seconds only) before "failed to solve"
        f'41.07   File "{CPP}", line 1694, in _get_cuda_arch_flags\n'
        "41.07     arch_list[-1] += '+PTX'\n"
        "41.07 IndexError: list index out of range\n"
        'ERROR: failed to solve: process "/bin/sh -c pip install ./ops" did not complete successfully: exit code: 1\n',
    ],
)
def test_cpp_extension_empty_arch_list_under_buildkit_is_the_build(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text)[:1] == ["runtime.build-without-gpu"]


def test_cpp_extension_healthy_lines_and_quoted_code_stay_clean(tmp_path: Path) -> None:
    clean = (
        f"#9 41.07 {CPP}:2356: UserWarning: TORCH_CUDA_ARCH_LIST is not set, all archs for visible cards are included for compilation.\n"
        "#9 41.07 If this is not desired, please set os.environ['TORCH_CUDA_ARCH_LIST'].\n"
        "#         arch_list[-1] += '+PTX'\n"
    )
    assert _causes(tmp_path, clean) == []
    assert _causes(tmp_path, clean + "#9 41.07     arch_list[-1] += '+PTX'\n")[:1] == ["runtime.build-without-gpu"]


# --- a setup.py's fallback architecture list when torch sees no CUDA (fused-ssim) ---
FALLBACK = (
    "#11 12.40 CUDA not available. Falling back to multiple architectures.\n"
    "#11 13.02 ==================================================\n"
    "#11 13.02 Building with GPU architecture: multiple architectures\n"
)


@pytest.mark.parametrize(
    "runtime_error",
    [
        "RuntimeError: CUDA error: no kernel image is available for execution on the device\n",
        "RuntimeError: CUDA error: invalid device function\n",
    ],
)
def test_fallback_arch_list_then_no_kernel_is_the_build(tmp_path: Path, runtime_error: str) -> None:
    text = FALLBACK + '  File "/app/train.py", line 88, in <module>\n    loss = 1 - fused_ssim(img, gt)\n' + runtime_error
    assert _causes(tmp_path, text)[:1] == ["runtime.build-without-gpu"]


def test_fallback_arch_list_alone_or_after_a_detection_error_is_no_cause(tmp_path: Path) -> None:
    # a build that prints the fallback and runs is fine (the list may hold the GPU's architecture)
    assert _causes(tmp_path, "While building the docker image:\n" + FALLBACK + "Successfully installed fused_ssim-0.0.0\n") == []
    # CUDA was there and the capability query failed: not a build without a GPU
    detect = (
        "Failed to detect GPU architecture: CUDA error: unknown error. Falling back to multiple architectures.\n"
        "RuntimeError: CUDA error: no kernel image is available for execution on the device\n"
    )
    assert "runtime.build-without-gpu" not in _causes(tmp_path, detect)
    assert _causes(tmp_path, FALLBACK + detect.splitlines(keepends=True)[1])[:1] == ["runtime.build-without-gpu"]


# --- dockerd does not start, with its daemon.json in the log ---
DAEMON_JSON = (
    "$ cat /etc/docker/daemon.json\n"
    "{\n"
    '    "registry-mirrors": ["https://mirror.example.com"]\n'
    '    "runtimes": {\n'
    '        "nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}\n'
    "    }\n"
    "}\n"
)


@pytest.mark.parametrize(
    "failed",
    [
        "$ sudo systemctl restart docker\n"
        'Job for docker.service failed because the control process exited with error code.\nSee "systemctl status docker.service" and "journalctl -xe" for details.\n',
        'Job for docker.service failed because start of the service was attempted too often.\n',
        "Dec 07 10:01:02 gpu1 systemd[1]: docker.service: Start request repeated too quickly.\n"
        "Dec 07 10:01:02 gpu1 systemd[1]: docker.service: Failed with result 'start-limit-hit'.\n"
        "Dec 07 10:01:02 gpu1 systemd[1]: Failed to start Docker Application Container Engine.\n",
        "Dec 07 10:01:02 gpu1 systemd[1]: Failed to start docker.service - Docker Application Container Engine.\n",
        # the user's words
        "After the restart the docker service is no longer working.\n",
        "Now the Docker daemon won't start at all.\n",
        "dockerd failed to restart after that edit\n",
    ],
)
def test_docker_not_starting_with_daemon_json_shown_is_the_config(tmp_path: Path, failed: str) -> None:
    assert _findings(tmp_path, DAEMON_JSON + failed)[:1] == [("runtime.docker-daemon-config-invalid", "suggests")]
    # without the file in the log, systemd's or the user's words alone name no cause
    assert "runtime.docker-daemon-config-invalid" not in _causes(tmp_path, failed)


def test_daemon_json_neighbours_stay_clean(tmp_path: Path) -> None:
    healthy = (
        DAEMON_JSON
        + "$ sudo systemctl restart docker\n"
        + "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
        + "The docker service is running fine.\n"
    )
    assert "runtime.docker-daemon-config-invalid" not in _causes(tmp_path, healthy)
    failed = healthy + "Dec 07 10:01:02 gpu1 systemd[1]: docker.service: Failed with result 'exit-code'.\n"
    assert _causes(tmp_path, failed)[:1] == ["runtime.docker-daemon-config-invalid"]
    # dockerd's own refusal still proves it
    refused = failed + (
        "Dec 07 10:01:01 gpu1 dockerd[811]: unable to configure the Docker daemon with file /etc/docker/daemon.json: "
        "invalid character '\"' after object key:value pair\n"
    )
    assert _findings(tmp_path, refused)[:1] == [("runtime.docker-daemon-config-invalid", "proves")]
