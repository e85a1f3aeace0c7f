"""Issue 13, gnew13: causes the catalogue lacked (heldout13's collectors' uncovered threads), read in the code
that prints them.

- nvidia.driver-libs-off-library-path: triton-lang/triton third_party/nvidia/backend/driver.py links its stub
  with libraries = ['libcuda.so.1'] (-l:libcuda.so.1; -lcuda in v2.x and Inductor), GNU ld prints
  "cannot find -l%s" (+ ": No such file or directory" since binutils 2.38); GKE's device plugin mounts the host
  driver at /usr/local/nvidia (GoogleCloudPlatform/container-engine-accelerators cmd/nvidia_gpu/nvidia_gpu.go
  container-path), so vLLM's "No platform detected, vLLM is running on UnspecifiedPlatform"
  (vllm/platforms/__init__.py) in such a pod means the directory is off LD_LIBRARY_PATH.
- userns.apparmor-restricted: rootlesskit pkg/parent/warn.go "This error might have happened because
  /proc/sys/kernel/apparmor_restrict_unprivileged_userns is set to 1"; NVIDIA/enroot bin/enroot-nsenter.c
  err(EXIT_FAILURE, "failed to create user namespace"); containers/bubblewrap die_with_error("setting up uid map")
  and ("Creating new namespace failed"); apptainer cmd/starter/c/starter.c fatalf("Failed to create user namespace:
  %s") and ("Could not write info to setgroups: %s"); the kernel's AppArmor audit record operation="userns_create".
- nvidia.toolkit-driver-root-wrong: NVIDIA/libnvidia-container src/driver.c driver_init (rpc_init into the configured
  root, then xdlopen(SONAME_LIBNVML): "load library failed: %s") under config.toml `root = "/run/nvidia/driver"`
  (nvidia-container-toolkit tools/container/toolkit/toolkit.go DefaultNvidiaDriverRoot) or the hook's --root.
- slurm.job-without-gpu: SchedMD/slurm src/api/job_info.c slurm_sprint_job_info "ReqTRES=%s" / "AllocTRES=%s"
  (TRES= before 20.11) without gres/gpu, next to a GPU failure inside the job.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

NEW = {"nvidia.driver-libs-off-library-path", "userns.apparmor-restricted", "nvidia.toolkit-driver-root-wrong",
       "slurm.job-without-gpu"}


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # Triton >= 3 (libraries = ['libcuda.so.1']), binutils >= 2.38 appends strerror; then the subprocess error
        ("/usr/bin/ld: cannot find -l:libcuda.so.1: No such file or directory\ncollect2: error: ld returned 1 exit "
         "status\nsubprocess.CalledProcessError: Command '['/usr/bin/gcc', '/tmp/tmpab/cuda_utils.c', '-O3', "
         "'-shared', '-fPIC', '-o', '/tmp/tmpab/cuda_utils.so', '-l:libcuda.so.1']' returned non-zero exit status 1.\n",
         "nvidia.driver-libs-off-library-path", "suggests"),
        # Triton 2.x / Inductor: -lcuda, older binutils without the errno suffix, ld.bfd's own name
        ("ld.bfd: cannot find -lcuda\n", "nvidia.driver-libs-off-library-path", "suggests"),
        # a GKE pod: the plugin's mount shows in the log, vLLM's platform detection found no NVML
        ("$ ls /usr/local/nvidia/lib64\nlibcuda.so.1  libnvidia-ml.so.1\nINFO 09-02 10:00:00 [__init__.py:253] No "
         "platform detected, vLLM is running on UnspecifiedPlatform\nRuntimeError: Device string must not be empty\n",
         "nvidia.driver-libs-off-library-path", "suggests"),
        # the accelerator node label in the pod spec, then libcuda not loadable
        ("nodeSelector:\n  cloud.google.com/gke-accelerator: nvidia-l4\nImportError: libcuda.so.1: cannot open "
         "shared object file: No such file or directory\n", "nvidia.driver-libs-off-library-path", "suggests"),
        # a GKE node name (gke-<cluster>-<pool>-<8 hex>-<4>) from kubectl, then vLLM's platform detection
        ("Node:             gke-llm-cluster-l4-pool-3f2a9c1d-x7kq/10.128.0.12\nINFO 09-02 10:00:00 [__init__.py:253] "
         "No platform detected, vLLM is running on UnspecifiedPlatform\n", "nvidia.driver-libs-off-library-path",
         "suggests"),
        # rootlesskit names the sysctl (logrus WithError(childStartErr).Warnf)
        ('WARN[0000] [rootlesskit:parent] This error might have happened because /proc/sys/kernel/'
         'apparmor_restrict_unprivileged_userns is set to 1  error="fork/exec /proc/self/exe: permission denied"\n'
         "[rootlesskit:parent] error: failed to start the child: fork/exec /proc/self/exe: permission denied\n",
         "userns.apparmor-restricted", "proves"),
        # the kernel's audit record (apparmor_userns_create)
        ('audit: type=1400 audit(1700000000.000:12): apparmor="DENIED" operation="userns_create" class="namespace" '
         'info="Userns create restricted - failed to find unprivileged_userns profile" error=-13 profile="unconfined" '
         'pid=4242 comm="enroot-nsenter" requested="userns_create" denied="userns_create"\n',
         "userns.apparmor-restricted", "proves"),
        # pyxis prints enroot's log; err() formats "<prog>: <msg>: <strerror>"
        ("pyxis: container start failed with error code: 1\npyxis: printing enroot log file:\npyxis:     "
         "enroot-nsenter: failed to create user namespace: Permission denied\nsrun: error: node1: task 0: Exited with "
         "exit code 1\n", "userns.apparmor-restricted", "suggests"),
        # the sysctl shown set to 1 next to the refusal: proved
        ("kernel.apparmor_restrict_unprivileged_userns = 1\nenroot-nsenter: failed to create user namespace: "
         "Permission denied\n", "userns.apparmor-restricted", "proves"),
        ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns:1\nbwrap: setting up uid map: Permission denied\n",
         "userns.apparmor-restricted", "proves"),
        ("bwrap: Creating new namespace failed: Permission denied\n", "userns.apparmor-restricted", "suggests"),
        # Apptainer's starter (fatalf adds its "ERROR  : " prefix), Ubuntu 24.04 with Apptainer 1.2/1.3
        ("INFO   : A system administrator may need to enable user namespaces, install\nINFO   :   apptainer-suid, or "
         "compile with ./mconfig --with-suid\nERROR  : Failed to create user namespace: Permission denied\n",
         "userns.apparmor-restricted", "suggests"),
        ("ERROR  : Could not write info to setgroups: Permission denied\nERROR  : Error while waiting event for user "
         "namespace mappings: no event received\n", "userns.apparmor-restricted", "suggests"),
        # config.toml dumped next to the hook's failure (NVIDIA/nvidia-docker#1711's setting)
        ('[nvidia-container-cli]\nenvironment = []\nroot = "/run/nvidia/driver"\nldconfig = "@/sbin/ldconfig.real"\n'
         "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
         "runtime create failed: runc create failed: unable to start container process: error during container init: "
         "error running hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
         "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: cannot open shared "
         "object file: no such file or directory: unknown.\n", "nvidia.toolkit-driver-root-wrong", "suggests"),
        # scontrol show job (20.11+) of a job without --gres, then nvidia-smi and torch inside it
        ("JobId=4242 JobName=angelo\n   ReqTRES=cpu=8,mem=32G,node=1,billing=8\n   AllocTRES=cpu=8,mem=32G,node=1,"
         "billing=8\nNVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
         "latest NVIDIA driver is installed and running.\n", "slurm.job-without-gpu", "suggests"),
        # older Slurm prints one TRES= line
        ("   TRES=cpu=4,mem=16000M,node=1\nRuntimeError: No CUDA GPUs are available\n", "slurm.job-without-gpu",
         "suggests"),
        # the hook's arguments as a wrapper around nvidia-container-cli recorded them
        ("--root=/run/nvidia/driver --load-kmods --debug=/var/log/nvidia-container-toolkit.log configure "
         "--ldconfig=@/sbin/ldconfig.real --device=all --compute --utility\nnvidia-container-cli: initialization "
         "error: load library failed: libnvidia-ml.so.1: cannot open shared object file: no such file or directory\n",
         "nvidia.toolkit-driver-root-wrong", "suggests"),
    ],
)
def test_a_new_cause_is_named_first(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found, text
    assert found[0] == (cause, strength), found


@pytest.mark.parametrize(
    "text",
    [
        # LD_LIBRARY_PATH already holds the GKE directory: the path is not what is wrong
        "LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/cuda/lib64\nINFO 09-02 10:00:00 [__init__.py:253] No "
        "platform detected, vLLM is running on UnspecifiedPlatform\n",
        # an env dump whose LD_LIBRARY_PATH holds the directory, with a GKE label on another line
        "cloud.google.com/gke-accelerator=nvidia-l4\nLD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/cuda/lib64\n"
        "INFO 09-02 10:00:00 [__init__.py:253] No platform detected, vLLM is running on UnspecifiedPlatform\n",
        # the sysctl shown as 0 is no restriction, and a linker missing another library is not the driver
        "kernel.apparmor_restrict_unprivileged_userns = 0\n/usr/bin/ld: cannot find -lcudart\n",
        # the packaged config.toml ships the operator path commented out: no driver-root reading
        '#root = "/run/nvidia/driver"\nnvidia-container-cli: initialization error: load library failed: '
        "libnvidia-ml.so.1: cannot open shared object file: no such file or directory\n",
        # a job that did request a GPU: its TRES name gres/gpu, so a no-device error is something else
        "   ReqTRES=cpu=8,mem=32G,node=1,billing=8,gres/gpu=2\nRuntimeError: No CUDA GPUs are available\n",
        # EPERM from Apptainer's unshare is also Debian's unprivileged_userns_clone=0 or seccomp: not claimed
        "ERROR  : Failed to create user namespace: Operation not permitted\n",
        # max_user_namespaces=0 gives ENOSPC, not an LSM refusal
        "enroot-nsenter: failed to create user namespace: No space left on device\n",
        # an AppArmor audit line that only reports the transition (AUDIT, not DENIED)
        'audit: type=1400 audit(1722708589.045:468): apparmor="AUDIT" operation="userns_create" class="namespace" '
        'info="Userns create - transitioning profile" profile="unconfined" pid=2054703 comm="nsjail" '
        'requested="userns_create" target="unprivileged_userns"\n',
    ],
)
def test_neighbours_stay_clear_of_the_new_causes(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert not any(c in NEW for c, _ in found), found


def test_without_gke_context_no_platform_keeps_its_own_guesses(tmp_path: Path) -> None:
    # no driver directory in the log: the library-path reading is not offered ahead of "no GPU passed"
    found = _findings(tmp_path, "INFO 09-02 10:00:00 [__init__.py:253] No platform detected, vLLM is running on "
                                "UnspecifiedPlatform\n")
    assert found and found[0][0] != "nvidia.driver-libs-off-library-path", found


def test_outside_slurm_the_driver_message_still_proves_no_driver(tmp_path: Path) -> None:
    # without the job's TRES the nvidia-smi text keeps its own, proved reading
    found = _findings(tmp_path, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make "
                                "sure that the latest NVIDIA driver is installed and running.\n")
    assert found and found[0] == ("device.no-driver", "proves"), found


def test_two_correlations_of_one_cause_give_one_sentence(tmp_path: Path) -> None:
    # the no-platform line and the empty-device line each meet GKE's driver directory: both correlations
    # emit the same cause, and the headline said the same sentence twice (once per line)
    from tpdoctor.explain import explain

    log = tmp_path / "gke.log"
    log.write_text(
        "ls /usr/local/nvidia/lib64\n"
        "INFO 09-02 10:00:00 [__init__.py:253] No platform detected, vLLM is running on UnspecifiedPlatform\n"
        "RuntimeError: Device string must not be empty\n"
    )
    first = explain([str(log)]).findings[0]
    assert first.cause == "nvidia.driver-libs-off-library-path"
    assert first.message.count("GKE mounts the host driver") == 1, first.message
