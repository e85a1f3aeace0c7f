"""Issue 13, gnew34a: cause ids for container/host causes heldout33's collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- runtime.image-store-full: moby distribution/xfer/download.go 'failed to register layer: %v' (v17.03-v28.5) around
  pkg/chrootarchive's 'Error processing tar file(%v): %s' / 'ApplyLayer %s stdout: %s stderr: %s'; pull_v2.go's
  temporary file (TempFile("", "GetImageBlob") under <data-root>/tmp); containerd's unpacker 'failed to extract layer
  %s: %w' (v1.6-v2.0) and 'failed to extract layer (%s %s) to %s as %q: %w' (main), content/helpers.go 'failed to copy:
  %w' around the ingest file, the CRI plugin's 'failed to pull and unpack image %q: %w'; containers/image copy/blob.go
  'writing blob: %w' (v5.0-v5.10 'Error writing blob'), copy/copy.go 'committing the finished image: %w' (v5.10 'Error
  committing the finished image'), storage_dest.go 'storing blob to file %q: %w'; Go's ENOSPC text 'no space left on
  device'.
- capability.sys-ptrace-missing: py-spy src/main.rs main() (v0.3.11+: 'Permission Denied' then 'It looks like you are
  running in a docker container. Please make sure you started your container with the SYS_PTRACE capability. See ...';
  before: 'Permission Denied: Try running again with elevated permissions by going 'sudo env "PATH=$PATH" !!''); strace
  src/strace.c attach_tcb ('attach: ptrace(%s, %d)' + strerror) and hint_yama ('sysctl kernel.yama.ptrace_scope = %d may
  be restricting this attach'), diagnose_attach_eperm ('Process %d is already being traced by pid %d'); gdb's
  perror_with_name("ptrace") and Debian/Ubuntu's ptrace_scope text; lldb's 'error: attach failed: %s'.
- nvidia.consumer-gpu-hypervisor-refused: nvidia-smi's 'Unable to determine the device handle for GPU %s: %s' with
  NVML's 'Unknown Error'; open-gpu-kernel-modules osinit.c 'RmInitAdapter failed! (0x%x:0x%x:%d)' and nv.c
  'rm_init_adapter failed, device minor number %d'; NVRM's 'loading NVIDIA UNIX x86_64 Kernel Module  %s'; the kernel's
  'Hypervisor detected: %s'; nvidia-smi's header 'Driver Version: %s'.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from explain_helpers import notes as _notes

_STORE = "runtime.image-store-full"
_PTRACE = "capability.sys-ptrace-missing"
_GEFORCE = "nvidia.consumer-gpu-hypervisor-refused"


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "docker.register-layer-no-space", "docker.image-blob-tmp-no-space", "containerd.pull-extract-no-space",
        "podman.pull-blob-no-space", "engine.data-root-no-space", "py-spy.docker-sys-ptrace-hint",
        "py-spy.permission-denied-elevated", "strace.attach-eperm", "strace.yama-hint", "debugger.attach-eperm",
        "debugger.crash-handler-context", "debugger.attach-other-reason", "nvidia-smi.device-handle-unknown-error",
        "nvrm.rm-init-adapter-failed", "nvidia-smi.no-devices-found", "windows.device-code-43", "gpu-vm-named",
        "consumer-gpu-named", "nvidia-driver-pre465", "nvidia-driver-465-plus", "datacenter-gpu-named",
        "consumer-gpu-vm-old-driver", "consumer-gpu-vm", "old-driver-vm",
    ):
        assert sid in got, sid


# --- runtime.image-store-full -------------------------------------------------------------------------------------

_STORE_FORMS = {
    # docker run / pull on a graph driver: the chroot extractor's write failed (dusty-nv/jetson-inference#1569)
    "docker-register-layer-tar": (
        "Unable to find image 'dustynv/jetson-inference:r32.7.1' locally\n"
        "r32.7.1: Pulling from dustynv/jetson-inference\n"
        "docker: failed to register layer: Error processing tar file(exit status 1): write "
        "/usr/local/cuda-10.2/targets/aarch64-linux/lib/libcublasLt.so.10.2.3.300: no space left on device.\n"
        "See 'docker run --help'.\n"
    ),
    # the ApplyLayer wrapper of the same step
    "docker-register-layer-applylayer": (
        "Error response from daemon: failed to register layer: ApplyLayer exit status 1 stdout:  stderr: write "
        "/opt/nvidia/deepstream/deepstream-6.0/lib/libnvds_infer.so: no space left on device\n"
    ),
    # the blob's temporary file under <data-root>/tmp
    "docker-getimageblob": "docker: write /var/lib/docker/tmp/GetImageBlob052816377: no space left on device.\n",
    # containerd v1.6-v2.0 unpacker under the CRI plugin (a kubelet event)
    "containerd-extract-layer": (
        'Failed to pull image "vllm/vllm-openai:v0.6.3": rpc error: code = Unknown desc = failed to pull and unpack '
        'image "docker.io/vllm/vllm-openai:v0.6.3": failed to extract layer sha256:0b0f2f2f5c1e: write '
        "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/41/fs/usr/local/lib/python3.12/"
        "dist-packages/torch/lib/libtorch_cuda.so: no space left on device: unknown\n"
    ),
    # containerd main's unpacker wording
    "containerd-extract-layer-main": (
        "failed to extract layer (application/vnd.oci.image.layer.v1.tar+gzip sha256:5f70bf18a086) to overlayfs as "
        '"extract-123456789-Ab_c sha256:aa11": write /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/'
        "snapshots/12/fs/usr/lib/x86_64-linux-gnu/libcudnn_engines_precompiled.so.9: no space left on device\n"
    ),
    # the fetch into the content store
    "containerd-ingest-copy": (
        "ctr: failed to copy: write /var/lib/containerd/io.containerd.content.v1.content/ingest/"
        "9b1e6c0d2a7f4e3b/data: no space left on device\n"
    ),
    # Podman 4/5 (containers/image v5.2x): the staging file, then the layer
    "podman-storing-blob": (
        "Trying to pull docker.io/vllm/vllm-openai:latest...\n"
        'Error: writing blob: storing blob to file "/var/tmp/storage2963041877/1": write '
        "/var/tmp/storage2963041877/1: no space left on device\n"
    ),
    "podman-adding-layer": (
        "Error: copying system image from manifest list: writing blob: adding layer with blob "
        '"sha256:5f70bf18a086": processing tar file(write /usr/local/lib/python3.10/dist-packages/torch/lib/'
        "libtorch_cuda.so: no space left on device): exit status 1\n"
    ),
    # Podman 2/3 (containers/image v5.10): the old wording
    "podman-committing-old": (
        'Error committing the finished image: error adding layer with blob "sha256:aa11": Error processing tar '
        "file(exit status 1): write /opt/conda/lib/libmkl_core.so.2: no space left on device\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_STORE_FORMS))
def test_a_pull_or_extract_step_out_of_space_names_the_image_store(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _STORE_FORMS[form])
    assert got and got[0] == (_STORE, "proves"), (form, got)


def test_another_write_under_the_data_root_suggests_it(tmp_path: Path) -> None:
    text = (
        "Error response from daemon: mkdir /var/lib/docker/overlay2/3f1c2b9e8d7a6f5e4d3c2b1a0f9e8d7c-init: "
        "no space left on device\n"
    )
    assert _findings(tmp_path, text)[0] == (_STORE, "suggests")


_STORE_CLEAN = {
    # the model download filling the cache volume (huggingface_hub) is the job's data, not the image store
    "hf-model-download": (
        "Downloading shards:  50%|█████     | 2/4 [01:02<01:02, 31.2s/it]\n"
        "OSError: [Errno 28] No space left on device: '/root/.cache/huggingface/hub/models--meta-llama--"
        "Llama-3.1-8B/blobs/5f70bf18a086.incomplete'\n"
    ),
    # a named volume on the data root's disk, written by the container
    "docker-volume-write": (
        "write /var/lib/docker/volumes/hf-cache/_data/hub/models--x/blobs/abc.incomplete: no space left on device\n"
    ),
    # torch's inductor cache and a checkpoint
    "inductor-cache": (
        "OSError: [Errno 28] No space left on device: '/tmp/torchinductor_root/fx_graph_cache/ab/cd'\n"
    ),
    "checkpoint": "OSError: [Errno 28] No space left on device: '/checkpoints/step_1000/model-00001-of-00004.safetensors'\n",
    # the layer step refused for another reason (a user namespace without the file's owner)
    "register-layer-userns": (
        "docker: failed to register layer: Error processing tar file(exit status 1): lchown /etc/gshadow: "
        "operation not permitted.\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_STORE_CLEAN))
def test_other_writes_out_of_space_are_not_the_image_store(tmp_path: Path, form: str) -> None:
    assert _STORE not in _all(tmp_path, _STORE_CLEAN[form]), form
    # the other direction: Docker's register-layer ENOSPC is it
    assert _findings(tmp_path, _STORE_FORMS["docker-register-layer-tar"])[0][0] == _STORE


# --- capability.sys-ptrace-missing --------------------------------------------------------------------------------

_PTRACE_FORMS = {
    # py-spy >= 0.3.11 as root in a Docker cgroup (benfred/py-spy#12, #8)
    "py-spy-docker-hint": (
        "Permission Denied\n\n"
        "It looks like you are running in a docker container. Please make sure you started your container with the "
        "SYS_PTRACE capability. See https://github.com/benfred/py-spy#how-do-i-run-py-spy-in-docker for more details\n",
        "proves",
    ),
    # py-spy < 0.3.11 (every user) and later non-root: the elevated-permissions hint
    "py-spy-elevated": (
        "Permission Denied: Try running again with elevated permissions by going 'sudo env \"PATH=$PATH\" !!'\n",
        "suggests",
    ),
    # strace v7.2+ with its Yama hint (printed only without CAP_SYS_PTRACE, or at scope 3)
    "strace-yama-hint": (
        "strace: attach: ptrace(PTRACE_SEIZE, 812): Operation not permitted\n"
        "strace: sysctl kernel.yama.ptrace_scope = 1 may be restricting this attach\n",
        "proves",
    ),
    # strace's attach line alone (older strace, PTRACE_ATTACH)
    "strace-attach": ("strace: attach: ptrace(PTRACE_ATTACH, 81): Operation not permitted\n", "suggests"),
    # gdb -p with Debian/Ubuntu's ptrace_scope text
    "gdb-attach": (
        "Attaching to process 4242\n"
        "Could not attach to process.  If your uid matches the uid of the target\n"
        "process, check the setting of /proc/sys/kernel/yama/ptrace_scope, or try\n"
        "again as the root user.  For more details, see /etc/sysctl.d/10-ptrace.conf\n"
        "ptrace: Operation not permitted.\n",
        "suggests",
    ),
    # lldb's attach
    "lldb-attach": ("(lldb) process attach --pid 4242\nerror: attach failed: Operation not permitted\n", "suggests"),
}


@pytest.mark.parametrize("form", sorted(_PTRACE_FORMS))
def test_a_debugger_refused_its_attach_names_the_missing_capability(tmp_path: Path, form: str) -> None:
    text, strength = _PTRACE_FORMS[form]
    got = _findings(tmp_path, text)
    assert got and got[0] == (_PTRACE, strength), (form, got)


_PTRACE_CLEAN = {
    # Open MPI's CMA single-copy refused: MPI's transport, not a debugger
    "openmpi-cma": (
        "Read -1, expected 131072, errno = 1\n",
        "mpi.cma-ptrace-denied",
    ),
    "openmpi-vader-help": (
        "WARNING: Linux kernel CMA support was requested via the btl_vader_single_copy_mechanism MCA variable, but "
        "CMA support is not available due to restrictive ptrace settings.\n",
        "mpi.cma-ptrace-denied",
    ),
    # oneCCL's pidfd_getfd between ranks
    "oneccl-pidfd": (
        "|CCL_WARN| pidfd_getfd does not have the necessary permissions. I.E. Check permissions and "
        "/proc/sys/kernel/yama/ptrace_scope.\n",
        "oneccl.pidfd-ptrace-denied",
    ),
    # strace: another tracer already holds the process
    "strace-already-traced": (
        "strace: attach: ptrace(PTRACE_SEIZE, 5202): Operation not permitted\n"
        "strace: Process 5202 is already being traced by pid 4711\n",
        "",
    ),
    # llama.cpp's crash handler runs gdb on itself after a CUDA error: the crash is the story
    "ggml-crash-handler-gdb": (
        "CUDA error: out of memory\n"
        "  current device: 1, in function ggml_backend_cuda_buffer_set_tensor at ggml/src/ggml-cuda/ggml-cuda.cu:611\n"
        'GGML_ASSERT: ggml/src/ggml-cuda.cu:101: !"CUDA error"\n'
        "ptrace: Operation not permitted.\n"
        "No stack.\n"
        "The program is not being run.\n",
        "",
    ),
}


@pytest.mark.parametrize("form", sorted(_PTRACE_CLEAN))
def test_mpi_oneccl_and_crash_handlers_are_not_the_debuggers_capability(tmp_path: Path, form: str) -> None:
    text, owner = _PTRACE_CLEAN[form]
    assert _PTRACE not in _all(tmp_path, text), form
    if owner:
        assert _findings(tmp_path, text)[0][0] == owner, form
    # the other direction: py-spy's Docker hint is it
    assert _findings(tmp_path, _PTRACE_FORMS["py-spy-docker-hint"][0])[0][0] == _PTRACE


def test_a_crash_handlers_refused_gdb_is_a_note(tmp_path: Path) -> None:
    notes = _notes(tmp_path, _PTRACE_CLEAN["ggml-crash-handler-gdb"][0])
    assert any("crash handler" in n for n in notes), notes


# --- nvidia.consumer-gpu-hypervisor-refused -----------------------------------------------------------------------

_SMI_UNKNOWN = "Unable to determine the device handle for GPU 0000:02:01.0: Unknown Error\n"
_NVRM_OLD = (
    "[    5.101] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  460.91.03  Fri Jul  2 06:04:10 UTC 2021\n"
    "[    5.201] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x26:0xffff:1281)\n"
    "[    5.202] NVRM: GPU 0000:01:00.0: rm_init_adapter failed, device minor number 0\n"
)

_GEFORCE_FORMS = {
    # NVIDIA/kubevirt-gpu-device-plugin#2: a GTX 1050 in a KubeVirt VM
    "kubevirt-gtx-smi": (
        "Device plugin: DP Name GP107_GEFORCE_GTX_1050, resource nvidia.com/GP107_GEFORCE_GTX_1050\n"
        "VMI gpu-vm scheduled by KubeVirt, virt-launcher-gpu-vm-x7k2p Running\n"
        "$ nvidia-smi\n" + _SMI_UNKNOWN,
        "suggests",
    ),
    # a libvirt/KVM guest's dmesg with a 460 driver and a GeForce named
    "kvm-dmesg-old-driver": (
        "[    0.000000] Hypervisor detected: KVM\n" + _NVRM_OLD + "GPU: NVIDIA GeForce RTX 3080\n",
        "proves",
    ),
    # Proxmox passthrough, nvidia-smi's header before R465, no devices
    "proxmox-no-devices": (
        "Proxmox VE 6.4 VM with the GPU passed through (hostpci0: 01:00,pcie=1)\n"
        "NVIDIA-SMI 460.73.01    Driver Version: 460.73.01    CUDA Version: 11.2\n"
        "No devices were found\n",
        "suggests",
    ),
    # a Windows guest's Device Manager with a GeForce
    "windows-code-43": (
        "GeForce GTX 1080 Ti passed through to a Windows 10 virtual machine (QEMU/KVM)\n"
        "Windows has stopped this device because it has reported problems. (Code 43)\n",
        "suggests",
    ),
}


@pytest.mark.parametrize("form", sorted(_GEFORCE_FORMS))
def test_a_geforce_refused_in_a_vm_names_the_hypervisor_check(tmp_path: Path, form: str) -> None:
    text, strength = _GEFORCE_FORMS[form]
    got = _findings(tmp_path, text)
    assert got and got[0] == (_GEFORCE, strength), (form, got)


_GEFORCE_CLEAN = {
    # the same nvidia-smi line on bare metal, with a GeForce and an old driver
    "bare-metal-smi": (
        "NVIDIA-SMI 460.73.01    Driver Version: 460.73.01    CUDA Version: 11.2\n"
        "GeForce GTX 1050 in my desktop\n$ nvidia-smi\n" + _SMI_UNKNOWN
    ),
    # the kernel's lines on bare metal
    "bare-metal-nvrm": _NVRM_OLD + "GeForce RTX 3080\n",
    # a GeForce in a VM with a driver that supports passthrough (R465+): another story
    "vm-geforce-new-driver": (
        "Proxmox VM with a GeForce RTX 3090 passed through\n"
        "| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2 |\n"
        "No devices were found\n"
    ),
    # a data-center GPU in a VM with an old driver: its driver never refused a hypervisor
    "vm-tesla-old-driver": (
        "[    0.000000] Hypervisor detected: KVM\n"
        "NVIDIA-SMI 460.73.01    Driver Version: 460.73.01    CUDA Version: 11.2\n"
        "GPU 0: Tesla T4 (UUID: GPU-5c3f2d10-8a2b-4c4d-9e1f-0a1b2c3d4e5f)\n" + _SMI_UNKNOWN
    ),
    # a GPU lost on a VM is NVML's 'GPU is lost', not Unknown Error
    "vm-gpu-lost": (
        "KubeVirt VM with a GeForce GTX 1050\n"
        "Unable to determine the device handle for GPU 0000:02:01.0: GPU is lost.  Reboot the system to recover "
        "this GPU\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_GEFORCE_CLEAN))
def test_without_a_vm_or_with_a_supported_driver_it_is_not_the_hypervisor_check(tmp_path: Path, form: str) -> None:
    assert _GEFORCE not in _all(tmp_path, _GEFORCE_CLEAN[form]), form
    # the other direction: the KVM guest's dmesg with a 460 driver and a GeForce is it
    assert _findings(tmp_path, _GEFORCE_FORMS["kvm-dmesg-old-driver"][0])[0][0] == _GEFORCE
