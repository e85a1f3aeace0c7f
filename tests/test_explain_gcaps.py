"""Issue 13, gcaps: which NVIDIA driver files a container gets (NVIDIA_DRIVER_CAPABILITIES, the host's
driver packages, the toolkit's ldconfig setting), in explain, check and audit.

Lines are written from the format strings of the code that prints them:
- FFmpeg/nv-codec-headers include/ffnvcodec/dynlink_loader.h LOAD_LIBRARY "Cannot load %s\\n" with
  CUDA_LIBNAME "libcuda.so.1", NVCUVID_LIBNAME "libnvcuvid.so.1", NVENC_LIBNAME "libnvidia-encode.so.1";
  FFmpeg's av_log prefixes "[<codec> @ 0x<ptr>] ";
- OptiX SDK optix_stubs.h optixInit -> OPTIX_ERROR_LIBRARY_NOT_FOUND (7804), optixGetErrorString "Library not found";
- libnvidia-container src/nvc_ldcache.c ("open failed: %s" + strerror, "process %s failed with error code: %d")
  behind src/cli/configure.c "ldcache error: %s", under runc's "error running hook" wrapper;
- pytorch torch/cuda/__init__.py _check_driver "Found no NVIDIA driver on your system. ...";
- the capability settings: compose `environment:`/`capabilities:`, docker/cli opts/gpus.go `capabilities=`,
  moby daemon/nvidia_linux.go (a request's NVIDIA capabilities become NVIDIA_DRIVER_CAPABILITIES).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.model import CheckOptions, Facts, driver_caps
from tpdoctor.model.facts import ContainerFacts, DeviceNode, MountEntry
from tpdoctor.rules import run_fact_rules

NO_DRIVER = (
    "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed "
    "a driver from http://www.nvidia.com/Download/index.aspx\n"
)
LIBCUDA = "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory\n"
NVENC = "[h264_nvenc @ 0x55d0c1a2b3c0] Cannot load libnvidia-encode.so.1\n"
NVDEC = "[h264_cuvid @ 0x556c4b4b0800] Cannot load libnvcuvid.so.1\n"
OPTIX = "/home/u/rtx/src/rtx_functions.h:47 Optix Error: 'Library not found'\n"
NVML = "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA Display Driver is properly installed and present in your system.\n"
HOOK = (
    "docker: Error response from daemon: OCI runtime create failed: container_linux.go:380: starting container "
    "process caused: process_linux.go:545: container init caused: Running hook #1:: error running hook: exit "
    "status 1, stdout: , stderr: nvidia-container-cli: ldcache error: {}: unknown.\n"
)
CAPS = "NVIDIA_DRIVER_CAPABILITIES"


# --- explain: the capability setting in the log names the cause --------------------------------------


@pytest.mark.parametrize(
    ("setting", "symptom"),
    [
        (f"      - {CAPS}=utility\n", NO_DRIVER),  # compose environment list
        (f"      {CAPS}: video\n", LIBCUDA),  # compose environment map
        ("            - capabilities: [gpu, utility]\n", NO_DRIVER),  # weaviate#1736's shape
        ("$ docker run --rm --gpus '\"all,capabilities=utility\"' img python app.py\n", LIBCUDA),
        (f"{CAPS}=compute,video\n", NVML),  # no utility: nvidia-smi/NVML not injected
        (f"  -e {CAPS}=compute,utility \\\n", NVENC),  # Plex/Jellyfin without video
        (f"{CAPS}=compute,utility\n", NVDEC),
        (f"ENV {CAPS}=compute,utility\n", OPTIX),  # OptiX needs graphics
    ],
)
def test_a_setting_without_the_capability_names_it_first(tmp_path: Path, setting: str, symptom: str) -> None:
    assert causes(tmp_path, setting + symptom)[:1] == ["nvidia.driver-capabilities-missing"]


@pytest.mark.parametrize(
    ("setting", "symptom"),
    [
        (f"{CAPS}=compute,utility\n", NO_DRIVER),  # compute is there: the GPU never came in
        (f"{CAPS}=all\n", LIBCUDA),
        ("            - capabilities: [gpu]\n", NO_DRIVER),  # `gpu` alone sets nothing (image default)
        (f"{CAPS}=${{CAPS}}\n", NO_DRIVER),  # unexpanded: unknown
        (f"{CAPS}=compute,video,utility\n", NVML),
        ("", NO_DRIVER),  # no setting shown: today's ranking
        ("", LIBCUDA),
    ],
)
def test_without_a_setting_that_leaves_it_out_the_ranking_stays(
    tmp_path: Path, setting: str, symptom: str
) -> None:
    found = causes(tmp_path, setting + symptom)
    assert found, "the symptom still has its own causes"
    assert found[0] != "nvidia.driver-capabilities-missing"


SMI_NA = (
    "+-----------------------------------------------------------------------------+\n"
    "| NVIDIA-SMI 470.57.02    Driver Version: 470.57.02    CUDA Version: N/A      |\n"
)


@pytest.mark.parametrize("symptom", ["", NO_DRIVER, LIBCUDA])
def test_nvidia_smi_without_a_cuda_version_names_the_compute_capability(tmp_path: Path, symptom: str) -> None:
    assert causes(tmp_path, SMI_NA + symptom)[:1] == ["nvidia.driver-capabilities-missing"]


def test_nvidia_smi_with_a_cuda_version_is_not_it(tmp_path: Path) -> None:
    text = SMI_NA.replace("CUDA Version: N/A ", "CUDA Version: 11.4") + NO_DRIVER
    assert causes(tmp_path, text)[:1] != ["nvidia.driver-capabilities-missing"]


def test_a_quoted_kubernetes_env_entry_over_two_lines_counts(tmp_path: Path) -> None:
    """deploy/logquote.py reads the quoted manifest with audit's front-end (the line facts see one line each)."""
    manifest = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: llm\nspec:\n  containers:\n  - name: vllm\n"
        "    image: vllm/vllm-openai:v0.8.5\n    env:\n    - name: NVIDIA_DRIVER_CAPABILITIES\n      value: {}\n"
        "    resources:\n      limits:\n        nvidia.com/gpu: 1\n"
    )
    assert causes(tmp_path, manifest.format("graphics") + NO_DRIVER)[:1] == ["nvidia.driver-capabilities-missing"]
    assert causes(tmp_path, manifest.format("compute,utility") + NO_DRIVER)[:1] != ["nvidia.driver-capabilities-missing"]


def test_nvidia_smi_absent_from_the_runtime_with_a_setting_without_utility(tmp_path: Path) -> None:
    """runc's exec of a missing binary (Go os/exec "exec: %q: executable file not found in $PATH")."""
    text = (
        f"      - {CAPS}=compute\n"
        "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
        'runtime create failed: runc create failed: unable to start container process: exec: "nvidia-smi": '
        "executable file not found in $PATH: unknown.\n"
    )
    assert causes(tmp_path, text)[:1] == ["nvidia.driver-capabilities-missing"]


VULKAN = "Warning: vkCreateInstance: Found no drivers!\n"  # Vulkan-Loader loader/loader.c


def test_vulkan_without_drivers_alone_names_nothing(tmp_path: Path) -> None:
    """Normal on a host without a GPU: only the capability setting makes it a cause."""
    assert causes(tmp_path, VULKAN) == []


@pytest.mark.parametrize(
    ("setting", "cause"),
    [
        (f"{CAPS}=compute,utility\n", "nvidia.driver-capabilities-missing"),
        (f"{CAPS}=compute,utility,graphics\n", "nvidia.host-driver-library-missing"),
    ],
)
def test_vulkan_without_drivers_reads_the_graphics_capability(tmp_path: Path, setting: str, cause: str) -> None:
    assert causes(tmp_path, setting + VULKAN)[:1] == [cause]


@pytest.mark.parametrize("symptom", [NVENC, NVDEC, OPTIX])
def test_capability_requested_and_library_still_missing_is_the_host(tmp_path: Path, symptom: str) -> None:
    setting = f"      - {CAPS}=all\n"
    assert causes(tmp_path, setting + symptom)[:1] == ["nvidia.host-driver-library-missing"]


@pytest.mark.parametrize("symptom", [NVENC, NVDEC, OPTIX])
def test_a_media_or_optix_library_alone_is_a_capability_guess(tmp_path: Path, symptom: str) -> None:
    found = causes(tmp_path, symptom)
    assert found[:1] == ["nvidia.driver-capabilities-missing"]


def test_nvenc_load_failure_followed_by_ffmpegs_driver_floor_line(tmp_path: Path) -> None:
    """FFmpeg libavcodec/nvenc.c nvenc_load_libraries prints nvenc_print_driver_requirement's "The minimum required
    Nvidia driver for nvenc is %s or newer" after any load failure: here the library is absent, not the driver old."""
    text = NVENC + "[h264_nvenc @ 0x55d0c1a2b3c0] The minimum required Nvidia driver for nvenc is 418.30 or newer\n"
    assert causes(tmp_path, text)[:1] == ["nvidia.driver-capabilities-missing"]


def test_ffmpeg_libcuda_keeps_the_gpu_causes(tmp_path: Path) -> None:
    found = causes(tmp_path, "[AVHWDeviceContext @ 0x5581f0a4c780] Cannot load libcuda.so.1\n")
    assert found[0] in ("runtime.nvidia-toolkit-missing", "device.nvidia-node-missing")


def test_ldconfig_absent_on_the_host_proves_the_toolkit_setting(tmp_path: Path) -> None:
    from tpdoctor.explain import explain

    log = tmp_path / "h.log"
    log.write_text(HOOK.format("open failed: /sbin/ldconfig.real: no such file or directory"))
    first = explain([str(log)]).findings[0]
    assert (first.cause, first.confidence) == ("nvidia.toolkit-ldconfig-wrong", "proves")


def test_the_go_ldcache_hook_not_finding_the_host_ldconfig_proves_it(tmp_path: Path) -> None:
    """nvidia-cdi-hook update-ldcache (internal/ldconfig/ldconfig_linux.go mountLdConfig, logrus fatal line)."""
    text = (
        'time="2026-01-01T00:00:00Z" level=fatal msg="Error updating ldcache: error mounting host ldconfig: '
        'error reading host ldconfig: stat /usr/sbin/ldconfig: no such file or directory"\n'
    )
    assert causes(tmp_path, text)[:1] == ["nvidia.toolkit-ldconfig-wrong"]


def test_ldconfig_without_the_host_prefix_is_refused_by_toolkit_1_18(tmp_path: Path) -> None:
    """api/config/v1/cli.go assertValid, wrapped by internal/runtime/runtime.go "error loading config: %v"."""
    text = (
        'error loading config: nvidia-container-cli.ldconfig value "/sbin/ldconfig" is not host-relative '
        "(does not start with a '@')\n"
    )
    assert causes(tmp_path, text)[:1] == ["nvidia.toolkit-ldconfig-wrong"]


def test_ldconfig_exit_127_suggests_the_toolkit_setting(tmp_path: Path) -> None:
    text = "nvidia-container-cli: ldcache error: process /sbin/ldconfig failed with error code: 127\n"
    assert causes(tmp_path, text)[:1] == ["nvidia.toolkit-ldconfig-wrong"]


def test_ldconfig_exit_1_is_only_a_guess(tmp_path: Path) -> None:
    """Exit 1 is ldconfig itself failing inside the container (read-only cache, rootless mounts), not surely its path;
    the hook's ldconfig step is still what to avoid (glearn41a: immich#28184 fixed by CDI, NeMo Gym#2781 by dropping
    --ldconfig), so it is suggested, never proven."""
    text = HOOK.format("process /sbin/ldconfig.real failed with error code: 1")
    assert findings(tmp_path, text)[:1] == [("nvidia.toolkit-ldconfig-wrong", "suggests")]


def test_healthy_env_dump_with_the_variable_stays_clean(tmp_path: Path) -> None:
    text = (
        f"{CAPS}=compute,utility\nNVIDIA_VISIBLE_DEVICES=all\nINFO 12-01 10:00:00 api_server.py:1 vLLM API server version 0.8.5\n"
        "INFO 12-01 10:00:05 launcher.py:1 Route: /v1/chat/completions, Methods: POST\n"
    )
    assert causes(tmp_path, text) == []


# --- the toolkit semantics model/driver_caps.py encodes ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "missing"),
    [
        ("utility", ["compute"]),
        ("compute", ["utility"]),
        ("video", ["compute", "utility"]),
        ("compute,utility", []),
        (" Compute , utility ", []),
        ("all", []),
        ("", []),  # empty: the toolkit default utility,compute (v1.4.0+)
        ("${CAPS}", []),
    ],
)
def test_missing_for_serving(value: str, missing: list[str]) -> None:
    assert driver_caps.missing_for_serving(value) == missing


@pytest.mark.parametrize(
    ("request_caps", "value"),
    [
        (["gpu"], None),
        (["gpu", "utility"], "utility"),
        (["compute", "gpu", "utility"], "compute,utility"),
        (["gpu", "nvidia"], None),
        (["gpu", "ngx"], None),
    ],
)
def test_docker_daemon_copies_only_its_nvidia_capabilities(
    request_caps: list[str], value: str | None
) -> None:
    """moby daemon/nvidia_linux.go allNvidiaCaps: compute, compat32, graphics, utility, video, display."""
    assert driver_caps.from_request(request_caps) == value


# --- check: inside the container -------------------------------------------------------------------


def _nv_facts(value: str | None, mounted: list[str], runtime: str = "docker") -> Facts:
    nodes = [
        DeviceNode(path=p, kind="char", major=195, minor=m, mode=0o666, uid=0, gid=0)
        for p, m in (("/dev/nvidia0", 0), ("/dev/nvidiactl", 255))
    ]
    env = {} if value is None else {CAPS: value}
    mounts = [MountEntry(source="/dev/sda1", target=t, fstype="ext4") for t in mounted]
    return Facts(dev=nodes, env=env, mounts=mounts, container=ContainerFacts(runtime=runtime))


def _check(facts: Facts) -> dict[str, tuple[str, str]]:
    return {
        f.cause: (f.severity.value, f.confidence)
        for f in run_fact_rules(facts, CheckOptions(tp=2))
        if f.cause == "nvidia.driver-capabilities-missing"
    }


NVML_LIB = "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.104.05"
CUDA_LIB = "/usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05"


def test_check_proves_compute_missing_when_the_hook_mounted_only_nvml() -> None:
    assert _check(_nv_facts("utility", [NVML_LIB])) == {
        "nvidia.driver-capabilities-missing": ("blocker", "proves")
    }


def test_check_suggests_when_no_driver_file_is_mounted() -> None:
    assert _check(_nv_facts("video", [])) == {"nvidia.driver-capabilities-missing": ("blocker", "suggests")}


def test_check_utility_missing_alone_is_a_blocker_too() -> None:
    """vLLM finds its CUDA platform through NVML; NCCL reads the topology through it."""
    assert _check(_nv_facts("compute", [CUDA_LIB])) == {
        "nvidia.driver-capabilities-missing": ("blocker", "proves")
    }


@pytest.mark.parametrize(
    ("value", "mounted"),
    [
        (None, [NVML_LIB]),  # unset: the image/toolkit default
        ("compute,utility", [CUDA_LIB, NVML_LIB]),
        ("all", []),
        ("video", [CUDA_LIB, NVML_LIB]),  # CDI mounted both anyway
    ],
)
def test_check_is_quiet_when_compute_and_utility_are_there(value: str | None, mounted: list[str]) -> None:
    assert _check(_nv_facts(value, mounted)) == {}


def test_check_is_quiet_on_a_host() -> None:
    assert _check(_nv_facts("utility", [], runtime="none")) == {}


# --- audit: the config that starts the container -------------------------------------------------------


def _audit(tmp_path: Path, name: str, text: str) -> list[tuple[str, str]]:
    path = tmp_path / name
    path.write_text(text)
    loaded = load(path, None)
    res = audit_model(loaded.model, None)
    return [(f.cause, f.message) for f in res.findings if f.cause == "nvidia.driver-capabilities-missing"]


def test_audit_request_capabilities_win_over_the_environment(tmp_path: Path) -> None:
    """The daemon appends the request's value after the container's env: the request decides."""
    text = (
        "services:\n  app:\n    image: pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime\n"
        "    environment:\n      NVIDIA_DRIVER_CAPABILITIES: all\n"
        "    deploy:\n      resources:\n        reservations:\n          devices:\n"
        "            - driver: nvidia\n              count: 1\n              capabilities: [gpu, utility]\n"
    )
    found = _audit(tmp_path, "compose.yaml", text)
    assert len(found) == 1 and "'utility'" in found[0][1] and "device reservation" in found[0][1]


def test_audit_fix_adds_the_missing_capability(tmp_path: Path) -> None:
    from tpdoctor.model.edits import SetEnv

    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  vllm:\n    image: vllm/vllm-openai:v0.8.5\n    command: --model m --tensor-parallel-size 2\n"
        "    shm_size: 16g\n    environment:\n      NVIDIA_DRIVER_CAPABILITIES: video\n"
        "    deploy:\n      resources:\n        reservations:\n          devices:\n"
        "            - driver: nvidia\n              count: 2\n              capabilities: [gpu]\n"
    )
    res = audit_model(load(path, None).model, None)
    edits = [e for f in res.findings if f.cause == "nvidia.driver-capabilities-missing" for e in f.edits]
    assert [(e.name, e.value) for e in edits if isinstance(e, SetEnv)] == [(CAPS, "compute,utility,video")]


def test_audit_ignores_a_non_gpu_service(tmp_path: Path) -> None:
    text = "services:\n  web:\n    image: nginx:1.27\n    environment:\n      NVIDIA_DRIVER_CAPABILITIES: utility\n"
    assert _audit(tmp_path, "compose.yaml", text) == []
