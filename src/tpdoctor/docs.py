"""Cause and rule documentation: `tpdoctor rules` and docs/rules.md are generated from here.

Regenerate the committed page with `python -m tpdoctor.docs > docs/rules.md`; a test fails when
it is stale. The output is deterministic: catalog order, rule docstrings, no dates.
"""

from __future__ import annotations

from typing import Any

from tpdoctor.model import catalog
from tpdoctor.model.finding import PRIVILEGE_ORDER as PRIVILEGE_RANK
from tpdoctor.rules.registry import all_rules

# Causes that only a log (or a config) can show: `explain` / `audit` name them, `check` cannot
# observe them on a host or in a container. Reason given per id.
EXPLAIN_ONLY: dict[str, str] = {
    "oneccl.ofi-provider-missing": "which libfabric providers the image's oneCCL bundles is only known when it loads them (`fi_getinfo error`)",
    "oneccl.env-not-sourced": "a property of the image's entrypoint; the log shows the consequence (the drmfd fallback), audit the Dockerfile",
    "oneccl.numa-membind": "benign; oneCCL prints it when mbind is refused at run time",
    "oneccl.topo-pcie": "informational; oneCCL's topology detection prints it at run time",
    "oneccl.drmfd-invalid-fd": "only the oneCCL log shows it (`device_fd is invalid value`); its root cause is not confirmed upstream",
    "slurm.gres-unavailable": "Slurm refuses the job's GPU request at allocation, before any container or rank starts; only srun/sbatch's error text shows it",
    "nvidia.mig-multi-instance": "whether the ranks of one job sit on separate MIG instances is decided by the launcher's device assignment at run time; the log shows the consequence",
    "mpi.run-as-root-refused": "Open MPI's mpirun refuses root unless --allow-run-as-root or OMPI_ALLOW_RUN_AS_ROOT*=1 is given at launch; only its message shows that the launch lacked them",
    "mpi.cma-ptrace-denied": "whether Open MPI's vader/sm transport uses CMA (process_vm_readv) is its run-time choice; the log shows the refusal (errno 1)",
    "rdma.gdr-module-missing": "whether NCCL wants GPUDirect RDMA through nvidia-peermem (not DMA-BUF) depends on its version and the NIC; NCCL's INFO line shows the decision",
    "shm.removed-by-logind": "logind removes the files when the host user's last session ends, long after start: the log shows the vanished semaphore or segment",
    "runtime.cgroupv2-unsupported": "the NVIDIA hook fails on the host before the container exists; only its error text shows it",
    "nvidia.host-driver-library-missing": "which driver libraries the host has is read from the host's ld cache, outside the container check sees; a run shows the library that fails to load",
    "nvidia.fabric-manager-not-running": "a host service; CUDA reports it at init (802 system not yet initialized), which only a run shows",
    "nvidia.fabric-manager-restarted": "the history of a host service (a fabric manager restarted without a GPU reset) is not visible to the container check; NCCL's NVLS setup failing with a CUDA error shows it",
    "cuda.forward-compat-unsupported": "depends on the image's CUDA compat libraries against the host GPU; CUDA reports it at init (804/803)",
    "cuda.driver-too-old": "depends on the image's CUDA runtime against the host driver; the runtime reports it at init (35, 222)",
    "runtime.cdi-spec-version-unsupported": "depends on the CDI library compiled into the engine binary (no version of it is exposed to read), against the spec's cdiVersion; the engine's CDI setup error shows it",
    "runtime.amd-gpu-exclusive-in-use": "the AMD GPU Tracker's state (which container holds which exclusive GPU) lives in the host runtime's tracker file and changes per container start; amd-container-runtime's refusal shows it",
    "rdma.dmabuf-unsupported": "whether the host kernel, rdma-core/OFED and NIC driver accept DMA-BUF registration shows only when NCCL registers GPU memory ('Call to ibv_reg_dmabuf_mr failed with error Operation not supported')",
    "rocm.lsmod-missing": "a property of the image (kmod not installed) that matters only to rocminfo of ROCm 4.0-5.4; the shell's 'lsmod: not found' next to 'ROCk module is NOT loaded' shows it",
    "runtime.build-without-gpu": "a docker build, not a running container: only the build's log shows a step that needed a GPU",
    "xpu.runtime-too-old-for-gpu": "the image's compute-runtime against the GPU's PCI device id, known only when the runtime enumerates the device; its debug output 'FATAL: Unknown device: deviceId: ...' (NEOReadDebugKeys=1 PrintDebugMessages=1) shows it",
    "runtime.jetson-gpus-flag": "the GPU request flag of a docker run on a Jetson/IGX host (toolkit in csv mode) is outside the container; the hook's refusal after 'Auto-detected mode as 'csv'' shows it",
    "cuda.ipc-pidfd-unsupported": "the host kernel's syscalls (pidfd_getfd needs Linux 5.6) matter only when processes share CUDA memory by fd (expandable segments IPC); torch's ENOSYS message ('does not support the pidfd_getfd syscall') shows it",
    "runtime.rootless-device-cgroup": "whether the engine runs rootless and the container asks for device cgroup rules is decided at create, outside the container; Podman's refusal ('device cgroup rules are not supported in rootless mode') shows it",
    "runtime.cdi-spec-unresolved": "which directories the engine reads CDI specs from (containers.conf cdi_spec_dirs, --cdi-spec-dir, daemon.json cdi-spec-dirs) is host configuration outside the container; the engine's 'unresolvable CDI devices' next to a spec generated elsewhere shows it",
    "rocm.pcie-atomics-unsupported": "PCIe AtomicOps support of the slot, switch or hypervisor between CPU and GPU is below the container; amdkfd's kernel line 'skipped device ..., PCI rejects atomics' shows it",
    "mount.image-dir-shadowed": "which directories the image fills is known from the image, and a bind mount over one hides them only when the container runs; the quoted docker run / compose volume target next to the import or loader error shows it",
    "limits.nofile-too-low": "the open-file limit a container inherits comes from the engine's service unit (LimitNOFILE) or --ulimit and bites only under load (DataLoader workers, fd-shared tensors, sockets per peer); EMFILE 'Too many open files' or 'received 0 items of ancdata' shows it",
    "nvidia.vgpu-uvm-disabled": "Unified Memory for a vGPU is a hypervisor setting of the VM (pciPassthru<N>.cfg.enable_uvm), outside the guest and its containers; CUDA's 'operation not supported' in a guest whose nvidia-smi shows a vGPU shows it",
    "slurm.enroot-path-unusable": "enroot's runtime, cache and data paths are compute-node configuration (enroot.conf, mounts, /run's size) used before any container exists; enroot's mkdir / no-space / 'enroot-switchroot: failed to execute' lines (through pyxis) show it",
    "cuda.too-many-peers": "how many GPUs one process sees and whether it enables peer access between all of them is decided by the program at run time; CUDA's 711 'peer mapping resources exhausted' (cudaErrorTooManyPeers) shows it",
    "host.nouveau-loaded": "which kernel driver owns the GPU is host state outside any container; nvidia-installer's 'The Nouveau kernel driver is currently in use' or NVRM's 'probe routine was not called' (dmesg, the driver container's log) shows it",
    "host.secure-boot-unsigned-module": "the host's Secure Boot / module signature enforcement matters only when a GPU kernel module is loaded (host install, DKMS, the GPU Operator's driver container); modprobe's 'Key was rejected by service' or the kernel's 'Loading of unsigned module is rejected' shows it",
    "network.service-mesh-sidecar": "whether a mesh injects a sidecar into the job's pods is decided at pod admission by the namespace label and pod annotations (Istio's or Linkerd's webhook), not by the container's settings; the pod's istio-proxy/linkerd-proxy container, its sidecar.istio.io/status annotation or an Envoy line beside a rendezvous failure shows it",
    "network.duplicate-hostname": "the hostnames of the job's machines are host configuration outside any single container, and only a library that hashes them shows the clash; NVSHMEM's 'IPC failure: Sending data over socket failed: No such file or directory' between nodes, or the reporter saying the nodes share a hostname, shows it",
    "ray.task-without-gpu": "what a Ray task, actor or Tune trial requested is known only to the program (num_gpus, resources_per_trial, ScalingConfig) and Ray's scheduler, not to the container; Ray's worker prefix '(name pid=N)' or a RayTaskError on a CUDA no-device line, or Tune's 'no trials are using GPUs' warning, shows it",
    "rdma.fabric-unreachable": "whether two hosts' RDMA ports reach each other (one fabric, subnet or rail; a routable RoCE GID) is fabric configuration outside any container; only the failed work completion ('transport retry counter exceeded', status 12) or a queue pair that cannot connect (ibv_modify_qp ETIMEDOUT) shows it",
    "rdma.gdr-pcie-blocked": "the PCIe path between a NIC and a GPU (ACS, switches, root complexes) is host hardware and firmware configuration; only the NIC's failed DMA ('local protection error', status 4) shows it at run time",
    "rocm.igpu-visible": "which GPUs HIP enumerates (an APU's integrated GPU beside the discrete ones) is decided by the host's hardware and the ROCr/HIP masks at run time; ggml's device list with an APU gfx target beside a discrete one, and a HIP failure, shows it",
    "nvidia.compute-mode-exclusive": "a GPU's compute mode (nvidia-smi -c) is a host setting outside any container, and which rank touches which GPU first is the program's; nvidia-smi's 'E. Process' / 'Compute Mode : Exclusive_Process' beside CUDA's busy GPU (46) shows it",
    "nvidia.driver-gpu-unsupported": "which driver branch and module flavour the host loaded against which GPU is host configuration outside any container; the kernel log's NVRM lines ('not supported by the NVIDIA <ver> driver release', 'ignoring the legacy GPU', 'not supported by open nvidia.ko') show it",
    "network.proxy-intercepts-local": "which proxy variables a job inherits (http_proxy/https_proxy/all_proxy, no_proxy) comes from the user's shell, the image or the pod spec at run time, and only a call that went through the proxy shows it: urllib3's 'Unable to connect to proxy' / 'Tunnel connection failed' for a local URL, a 407 for a local URL, gRPC's 'HTTP proxy returned response code', or the variables beside a local call that failed",
    "host.wsl2-multi-gpu-limited": "whether the host is WSL2 (the Windows driver through /dev/dxg) is the platform under any container; the WSL kernel release ('-microsoft-standard-WSL2'), /usr/lib/wsl or vLLM's WSL warning beside a failed multi-GPU path (peer access, custom all-reduce, NCCL's P2P/IPC set-up) shows it",
    "k8s.gpu-sharing-interposer": "a GPU-sharing layer (HAMi-core's libvgpu.so) is injected at pod admission by the vGPU device plugin (its mounted /etc/ld.so.preload), not by the container's settings; its [HAMI-core ...] lines or the preload beside NCCL's failed multi-GPU set-up show it",
    "shm.host-symlink-unbound": "whether the host's /dev/shm is a symlink (to /run/shm) and which host paths Apptainer/Singularity binds (mount dev = yes, bind path, -B) is host and runtime configuration decided when the container starts; an ENOENT from joblib's semaphore probe, torch's or NCCL's shared-memory segment beside Apptainer or the '/dev/shm -> /run/shm' link shows it",
    "lsm.apparmor-nested-denied": "whether the engine runs inside an AppArmor-confined LXC/LXD/Incus or Proxmox container (and whether nesting is enabled on it) is configuration of the outer host, outside the engine's containers; runc's 'apparmor failed to apply profile: write /proc/.../attr/apparmor/exec', Docker's 'docker-default profile could not be loaded' or apparmor_parser's 'attempted to load a profile while confined?' shows it",
    "ray.cpus-exceed-allocation": "how many CPUs Ray counts against what the Slurm allocation or the cgroup grants is decided at ray.init / ray start by the program and the scheduler, not by the container's settings; Ray's worker registration failures ('Unable to register worker with raylet', 'have not registered within the timeout') beside Slurm or a CPU limit show it",
    "rocm.wsl-dxg-detection-off": "HSA_ENABLE_DXG_DETECTION is the run's environment under WSL2 (the shell, the container's env), not a container device or mount; rocminfo's 'WSL environment detected.' (it opened /dev/dxg) or an ls -l of /dev/dxg beside ROCm finding no GPU shows it",
    "gaudi.device-in-use": "which HPUs a container gets (HABANA_VISIBLE_DEVICES, the Habana device plugin) and which process still holds one are decided on the host when containers and processes start, outside the container's own settings; the habana runtime's 'failed creating temporary link on host: invalid argument' or the bridge's 'synStatus=N [...] Device acquire failed.' shows it",
    "gaudi.driver-mismatch": "the host's habanalabs driver release (hl-smi's Driver Version) is host state that no container setting changes, and which release the image carries is the image's choice; optimum-habana's warning that the driver is another release than the one it was validated for, with the image's plugin that release, shows it",
    "runtime.vfio-iommu-off": "whether the host (or the VM node) runs with an IOMMU is its kernel command line and firmware, outside any pod; vfio-pci's refused bind ('echo: write error: Invalid argument' from vfio-manage, 'probe ... failed with error -22'), QEMU's 'no iommu_group found' or libvirt's 'host doesn't support passthrough of host PCI devices' shows it",
    "lxc.privileged-nvidia-hook": "whether the LXC/Proxmox/Incus container is privileged and runs LXC's NVIDIA mount hook is the outer host's container configuration, and the container never starts; the hook's 'only works in unprivileged mode', or LXC's 'Failed to run mount hooks' beside the hook and a privileged container in the log, shows it",
    "compose.provider-keep-groups": "which compose provider 'podman compose' runs (PODMAN_COMPOSE_PROVIDER, containers.conf compose_providers, whether the docker-compose plugin is installed) is the host's tooling, not the container's settings; 'Unable to find group keep-groups' (with podman compose's provider banner naming docker-compose) shows it",
    "sandbox.cuda-init-denied": "which syscalls and files a sandbox's seccomp filter or Landlock policy allows is the sandbox's configuration (OpenShell/NemoClaw, nono), applied inside the container after it starts; CUDA's error 304 beside the sandbox, its policy or a refused memfd_create / /proc/<pid>/task/<tid>/comm write shows it",
    "fs.home-unwritable-arbitrary-uid": "the UID a pod runs as is assigned at admission (OpenShift's restricted SCC picks a random one) and HOME follows from the image's passwd, both outside the container check; a permission error on a cache directly under / ('/.cache', '/.triton', '/.config') shows it",
    "network.peer-name-unresolved": "whether a peer's hostname resolves depends on the cluster's DNS at run time (a Kubernetes headless service publishing a pod only once it is Ready, the pods' hostname/subdomain, compose networks), outside the container check; torch's 'network addresses of (<host>, <port>) cannot be retrieved (gai error: ...)', NCCL's 'error encountered when getting address info' or ssh's 'Could not resolve hostname <pod>.<svc>' shows it",
    "device.render-node-wrong": "which GPU a render node number belongs to is decided by the host's probe order at boot and can change between boots; the container check sees a renderD node mapped, not whose it is; libva choosing nvidia_drv_video.so for the node VA-API was given, beside another GPU, shows it",
    "runtime.nvidia-docker1-volume-cross-device": "nvidia-docker 1.0 (end of life) is not among the collected facts: its plugin's volume directory (-d, a flag of the systemd unit) and whether it shares a filesystem with every driver file are outside what check reads; the plugin's 'Error: link ... invalid cross-device link' in a log shows it",
    "runtime.nvidia-docker1-volume-stale": "which driver volume a container made by nvidia-docker 1.0 names is fixed when the container is created, and which versions nvidia-docker-plugin serves is the host's driver at the plugin's start, both outside the container; Docker's 'get nvidia_driver_<version>: no such volume' on start shows it",
    "runtime.driver-reloaded-under-daemon": "whether the NVIDIA module was reloaded under a running container engine is the host's history, outside any container; the legacy hook's 'mount error: ... /proc/driver/nvidia/params/version/registry: no such file or directory' when a container is created shows it",
    "nvidia.mig-monitor-denied": "whether a container was given the MIG monitor capability (NVIDIA_MIG_MONITOR_DEVICES with CAP_SYS_ADMIN) matters only when it reads the parent GPU's aggregate state; nvidia-smi's '[Insufficient Permissions]' fields or NVML's Insufficient Permissions for such a read, beside a MIG device, shows it",
    "network.efa-security-group": "the AWS security group of the EFA instances is cloud configuration outside the host and any container; libfabric's 'Unresponsive receiver (reachable by EFA device but handshake failed)' / 'Unreachable remote' or aws-ofi-nccl's security-group banner shows it",
    "ray.socket-path-too-long": "how long Ray's socket paths get depends on the temp dir the job hands it at run time (TMPDIR of a PBS/Slurm job, --temp-dir, _temp_dir); Ray's own 'AF_UNIX path length cannot exceed 107 bytes' shows it",
    "rdma.netns-exclusive": "the RDMA subsystem's network-namespace mode (rdma system set netns, ib_core netns_mode) is host kernel state outside any container; the RDMA shared device plugin's 'incorrect RDMA subsystem network namespace', or 'netns exclusive' beside a pod that found no RDMA device, shows it",
    "rdma.device-plugin-no-devices": "which PCI functions the RDMA shared device plugin selects is its ConfigMap, read by a node DaemonSet outside the workload's container; the plugin's 'no devices in device pool' / 'exposing \"0\" devices' or its 'missing RDMA device spec' lines show it",
    "capability.gpu-admin-denied": "a GPU administration call (power limit, clocks, persistence, compute or MIG mode) is made by a command at run time, and only its refusal shows that the container lacks CAP_SYS_ADMIN for it; nvidia-smi's 'Failed to set ... for GPU ...: Insufficient Permissions' or an NVML setter's NVMLError_NoPermission shows it",
    "network.gke-tcpxo-extra-nic": "the additional networks of a GKE node pool are cloud configuration outside the node and its containers; the TCPXO RxDM daemon's 'Number of GPUs detected N is not equal to the actual number of GPUs M' shows it",
    "nccl.library-conflict": "which libnccl.so.2 the dynamic loader finds first is decided at run time by the Python environment's wheels, LD_LIBRARY_PATH / LD_PRELOAD / ld.so.conf and VLLM_NCCL_SO_PATH, inside the image and the job, not by the container's configuration; the loader's 'undefined symbol: nccl...' for torch's libtorch_cuda.so (or vLLM's pynccl), NCCL's 'NCCL library is too old', or two nvidia-nccl-cuXX wheels in a package listing shows it",
    "runtime.bpf-jit-hardened": "the host kernel's eBPF JIT hardening (net.core.bpf_jit_harden) is a host sysctl outside any container, and it matters only when the legacy NVIDIA hook reads back the device filter runc attached; nvidia-container-cli's 'failed to add device rules: ... load program: invalid argument: last insn is not an exit or jmp' shows it",
    "nvidia.vgpu-guest-driver-mismatch": "which driver the VM runs against the vGPU the hypervisor gave it is host configuration below every container (the host driver or the GPU Operator's driver image); NVRM's 'not supported by the NVIDIA <ver> driver release' (or insmod's 'No such device') beside a vGPU named in the log shows it",
    "nvidia.host-driver-legacy": "the host's driver branch is outside the container, and only the container toolkit's NVML calls at create time find it lacking; nvidia-container-cli's 'detection error: nvml error: function not found' shows it",
    "amd.kernel-modules-missing": "which kernel modules the host has installed (Ubuntu's linux-modules-extra-$(uname -r)) is host state below every container; the kernel's 'amdgpu: Unknown symbol amd_iommu_... (err -2)' or modprobe's 'Module amdgpu not found in directory /lib/modules/...' shows it",
    "slurm.gpu-bind-isolates-ranks": "how Slurm binds GPUs to tasks (--gpus-per-task, --gpu-bind, gres.conf Cores=, cgroup.conf ConstrainDevices) is decided by the job and the cluster's configuration, outside the container; slurmstepd's 'Bind request ... does not specify any devices within the allocation', or per-task binding beside a failed CUDA IPC between ranks, shows it",
    "rdma.port-down": "the state of the host's RDMA ports changes under a running job and is outside the container; NCCL's IB async-event warning ('NET/IB : <dev>:<port> ... port error') shows it",
    "slurm.job-without-gpu": "what a Slurm job requested is known only to the job (sbatch/srun options, scontrol show job), not to the container check; its TRES line without gres/gpu next to the GPU failure shows it",
    "userns.apparmor-restricted": "a host sysctl (kernel.apparmor_restrict_unprivileged_userns) and AppArmor profiles outside any container; the rootless runtime's refused user namespace (enroot-nsenter, bwrap, rootlesskit) or the kernel's audit line shows it",
    "nvidia.mps-not-shared": "whether the host runs a CUDA MPS control daemon, and with which pipe directory, is outside the container; CUDA's connection error (805) or busy GPU (46) shows it",
    "rocm.driver-too-old": "depends on the image's ROCm user space against the host's amdgpu/KFD kernel driver, outside the container check sees; ROCr reports it at init ('Incompatible kernel and userspace ... Upgrade amdgpu')",
    "nvidia.driver-library-mismatch": "the host's loaded kernel module against its installed driver libraries; NVML/CUDA report it at init (NVML 18, NVRM: API mismatch)",
    "nvidia.hook-cgroup-denied": "the hook fails on the host while the container is created; only its error text (devices.allow, BPF device filter) shows it",
    "xpu.device-lost": "a GPU hang or reset during the run; only Level Zero's DEVICE_LOST or the kernel log shows it",
    "xpu.visible-devices-mismatch": "the device-selection variables are only known to the process; the log shows them with the empty device list",
    "xpu.resizable-bar-disabled": "a host BIOS/VM setting; compute-runtime's 'Small BAR detected' / 'Resizable BAR not detected' warning shows it",
    "runtime.amd-toolkit-missing": "the engine refuses runtime `amd` or the CDI name amd.com/gpu before the container exists; only its error text shows it",
    "oneccl.ipc-socket-exchange-failed": "oneCCL's socket exchange fails between running ranks; only its sendmsg/recvmsg/poll errors show it",
    "k8s.gpu-resource-unavailable": "the scheduler and the kubelet decide it in the cluster, outside any container; only their events show it",
    "runtime.gpu-request-invalid": "the engine refuses the request before the container exists; only its error text shows it",
    # gnew33a
    "nvidia.profiling-restricted": "whether the driver restricts the GPU performance counters is a module option of the host (RmProfilingAdminOnly in /proc/driver/nvidia/params), and it matters only when a profiler or DCGM's profiling fields ask for them at run time; Nsight's / nvprof's 'ERR_NVGPUCTRPERM', CUPTI's CUPTI_ERROR_INSUFFICIENT_PRIVILEGES or DCGM's 'Host engine is running as non-root' shows it",
    "nvidia.cc-ready-state-unset": "the confidential-computing mode and ready state of a GPU are driver state of the guest VM, set by attestation or nvidia-smi after boot, outside any container's configuration; nvidia-smi conf-compute's 'Ready state: not-ready', nvtrust's verifier or a CUDA init failure beside CC status: ON shows it",
    "device.nvidia-fs-missing": "GPUDirect Storage is used only when a loader (kvikio, fastsafetensors, DALI) opens cuFile at run time, and whether the host has the nvidia-fs module is outside the container; cuFile's 'nvidia-fs driver is not loaded' / 'internal error' or fastsafetensors' cuFileDriverOpen error shows it",
    "k8s.admission-refused": "admission policies (Pod Security labels of the namespace, PSPs, OpenShift SCCs, Kyverno/Gatekeeper policies) live in the cluster's API server, outside any container's configuration, and refuse the pod before it exists; the controller's 'is forbidden: violates PodSecurity ...', 'unable to validate against any security context constraint' or a policy webhook's denial shows it (`audit --pss baseline` names what a workload's own spec asks for)",
    "nvidia.imex-host-service-conflict": "whether the node runs its own nvidia-imex.service is systemd state of the host, and the ComputeDomain daemons are pods the DRA driver creates at run time; the daemon's failed IMEX check beside the host service (systemctl, its journal) shows it",
    "runtime.image-arch-mismatch": "the image's platforms are in the registry's manifest list and the host's architecture in the kernel, neither in a compose file or pod spec; the pull's 'no match for platform in manifest' or the entrypoint's 'exec format error' shows it",
    # gnew34a
    "runtime.image-store-full": "the image store fills while the engine pulls or extracts an image, before the container exists; only the engine's pull error (ENOSPC in a layer step) shows it",
    "capability.sys-ptrace-missing": "a debugger or profiler attaches at the user's request, long after start; the capability set is visible to `check`, but only the tool's refusal shows that a trace was wanted and refused",
    "nvidia.consumer-gpu-hypervisor-refused": "the GPU model, the hypervisor and the guest's driver release are outside any container; only the driver's init failure beside them in a log shows it",
    # gnew35
    "runtime.wsl-toolkit-predates-driver": "under WSL2 the Windows driver's release and the toolkit or Docker Desktop version that mounts /usr/lib/wsl/lib are on the Windows side; inside the container check sees neither which libraries should have come nor why, and a 555+ driver is healthy with a current toolkit; CUDA's error 500 at start-up beside WSL2 and the driver release in a log shows it",
    "k8s.operator-driver-on-host-driver": "whether the GPU Operator deploys its driver container is cluster state (the ClusterPolicy's driver.enabled), and a loaded host driver is normal on a node without the operator; the driver container's 'Could not unload NVIDIA driver kernel modules, driver is in use' beside the driver manager's host-driver line shows it",
    # --- gnew36b (issue 13)
    "runtime.seccomp-profile-rejected": "the container is never created, so there is no inside to check; on the host the pairing is the engine's profile with the versions of runc and of the nvidia-container-runtime wrapper, which check does not collect (no engine or runtime version facts); runc's 'error adding seccomp filter rule for syscall clone3: permission denied' shows it",
    # gnew36
    "host.wsl-linux-driver-installed": "check sees where libcuda.so.1 files are (facts/driver_libs.py) but not whether one is the Windows driver's WSL library or a Linux build: the NVIDIA toolkit may mount the WSL library into the image's library directory, so a path outside /usr/lib/wsl/lib proves nothing, and a package installed in the WSL2 distribution is outside a container's root; cuInit's CUDA_ERROR_NO_DEVICE under WSL2 beside a libcuda.so.<release> or the driver package's install in a log shows it",
    "nvidia.opencl-icd-missing": "whether the workload uses OpenCL at all is unknown to check (CUDA and NVML do not need the file), and /etc/OpenCL/vendors is not among the collected facts; the OpenCL loader's empty platform list (clinfo, Boost.Compute's 'No OpenCL device found') beside a working nvidia-smi, or the missing nvidia.icd, in a log shows it",
    # gnew39 (issue 13)
    "nvidia.persistence-mode-off": "check reads no persistence mode: facts/nvidia.py collects the GPUs, driver and topology, not NVML's nvmlDeviceGetPersistenceMode or nvidia-smi's Persistence-M column, and whether nvidia-persistenced runs is the host's service state; it matters only when the container hook initialises NVML on the host at create time, before any container (where check mostly runs) exists, and nvidia-smi -pm 1 is lost at reboot; the hook's 'driver rpc error: timed out' in a log shows it",
    # gnew40 (issue 13)
    "limits.onnxruntime-affinity-outside-cpuset": "check sees the cpuset (/sys/fs/cgroup/cpuset.cpus.effective, the CPUs of the process) but not whether the job runs ONNX Runtime, nor with which thread counts: an explicit intra_op_num_threads sets no affinity at all, and most GPU jobs here (vLLM, SGLang, torch) never load it; ONNX Runtime's 'pthread_setaffinity_np failed for thread' lines in a log show it",
    "nvidia.uvm-lost-after-suspend": "a suspend/resume cycle is a past event of the host, not a state check can read: /dev/nvidia-uvm and the module stay present and look healthy, and only the first CUDA call (which check does not make) fails; the log's CUDA unknown error beside the kernel's 'PM: suspend exit' or a report's words shows it",
    # gnew41 (issue 13)
    "display.xorg-wrapper-console-only": "check does not know whether the container will start an X server: Xorg.wrap and /etc/X11/Xwrapper.config matter only to an image that runs Xorg itself (a GPU desktop or streaming container), and whether the starting user is on a console is a property of how it is started; the wrapper's 'Only console users are allowed to run the X server' in a log shows it",
    # gnew42 (issue 13)
    "nvidia.mps-user-mismatch": "the MPS server's user is a property of the host's running daemon: its processes and control.log are outside the container (no shared PID namespace), and which UID the job will run as is decided at launch; the control daemon's 'NEW CLIENT <pid> from user <uid>' lines for two users in a log show it",
    "nvidia.mig-enabled-no-instances": "check does not read a GPU's MIG mode or its GPU instances (NVML's MIG queries of the parent GPU, which a container may make only with the MIG monitor capability: nvidia.mig-monitor-denied); nvidia-smi's 'No MIG devices found' or Slurm's 'MIG mode is enabled, but no MIG devices were found' in a log shows it",
    # gnew43 (issue 13)
    "runtime.engine-predates-cdi": "the engine's and the client's versions (podman --version, the docker CLI, docker compose) are the host's tools, outside the container, and a GPU asked for by CDI name is decided on the command line that check does not see; the engine's 'stat nvidia.com/gpu=...: no such file or directory' in a log shows it",
    "display.x11-mitshm-ipc-isolated": "whether the X server shares the container's IPC namespace is decided at launch (--ipc) and the server's namespace is the host's, which the container cannot see; a program's use of MIT-SHM shows only when it draws: Xlib's, Qt's or GDK's 'X_ShmAttach' / 'X_ShmPutImage' error in a log shows it",
    "k8s.gpushare-not-assigned": "the assignment is made at scheduling time by kube-scheduler's extender and the device plugin's Allocate, outside the container, and a pod that got none never starts to be checked; the hook's 'unknown device id: no-gpu-has-<N>-to-run' in a log or a pod event shows it",
    "runtime.podman-compat-gpu-request-dropped": "which client created the container, and through which socket, is a property of the launch (podman compose's provider, DOCKER_HOST) that the container cannot see, and the dropped request leaves no trace in it; the compose provider's banner or a DOCKER_HOST at podman.sock beside a missing GPU in a log shows it",
    # gnew44 (issue 13)
    "fs.data-index-node-local": "where the dataset and its index cache live (--data-path, --data-cache-path, a JSONL's directory) is an argument of the training script, and whether the other nodes see the files rank 0 builds is a property of the cluster's storage, not of one container; the other ranks' FileNotFoundError on a *_doc_idx.npy / *-document_index.npy file or NeMo's 'Memory Map for ... is not found' in a log shows it",
    "mpi.pmix-psec-unavailable": "the security mode is offered at launch by the launcher's PMIx server (Slurm's PMIX_SECURITY_MODE) and refused by the PMIx the task loads, whose build options check does not read; PMIx's 'Framework: psec' box beside pmix_init's failure, or 'pmix_psec_base_open failed', in a log shows it",
    "nvidia.egl-vendor-icd-missing": "whether the workload renders through EGL is unknown to check (CUDA and NVML do not need the file), and the glvnd vendor directories are not among the collected facts; the vendor file shown missing (ls or cat of /usr/share/glvnd/egl_vendor.d/10_nvidia.json) in a log shows it",
    # gnew45 (issue 13)
    "slurm.mpi-pmix-plugin-unavailable": "which MPI plugins the cluster's Slurm can load is a property of the Slurm installation on the login and compute nodes (PluginDir, the PMIx library it was built against), outside the container check inspects, and the plugin is chosen at launch (srun --mpi, SLURM_MPI_TYPE, MpiDefault); srun's 'MPI: Cannot create context for mpi/pmix' / 'Invalid MPI type 'pmix'' or the plugin's 'pmi/pmix: can not load PMIx library' in a log shows it",
    # gnew46 (issue 13)
    "hailo.driver-mismatch": "the host's hailo_pci driver release and the HailoRT library the image bundles are compared only by HailoRT when it opens /dev/hailo0, and check reads neither version; HailoRT's 'Driver version (X) is different from library version (Y)' or HAILO_INVALID_DRIVER_VERSION in a log shows it",
    # gnew47 (issue 13)
    "host.hyperv-gpu-mmio-too-small": "the VM's MMIO gaps are settings of the Hyper-V host (Set-VM -LowMemoryMappedIoSpace / -HighMemoryMappedIoSpace), outside the guest and its containers, and a GPU that did not fit leaves no device node or PCI function behind to inspect; the guest kernel's hv_pci 'Need 0x... of high MMIO space. Consider reconfiguring the VM.' or dxgkrnl's 'Unable to allocate mmio memory' in a log shows it",
    "host.ldconfig-not-found": "which ldconfig Triton runs depends on its release (a bare 'ldconfig' through the job's PATH in 2.1, '/sbin/ldconfig' from 2.2) and on the PATH the job is started with (an IDE, a service unit, a login profile), neither of which check reads, and TRITON_LIBCUDA_PATH skips the lookup in 3.0+; Python's 'FileNotFoundError: [Errno 2] No such file or directory: 'ldconfig'' ('/sbin/ldconfig') in a log shows it",
    # gnew50 (issue 13)
    "k8s.topology-affinity-rejected": "the kubelet's topologyManagerPolicy, its CPU and memory managers and which GPUs of which NUMA node are already allocated are node state of the cluster, and the pod is refused before any container of it exists, so there is nothing in a container to inspect; the kubelet's 'TopologyAffinityError' with 'Resources cannot be allocated with Topology locality' in the pod's events or status shows it",
    "k8s.device-plugin-socket-denied": "the device plugin runs in its own pod on the node, and what refuses it (the node's SELinux policy and the kubelet's label, or the plugin's user) is state of the node and of that pod, not of the serving container check inspects; the plugin's 'dial unix /var/lib/kubelet/device-plugins/kubelet.sock: connect: permission denied' or 'listen unix ...: bind: permission denied', or an AVC denial on the device-plugins directory, in a log shows it",
    "runtime.sysbox-kernel-too-old": "the runtime an engine starts a container with and the host kernel's support for ID-mapped overlayfs are outside the container, and a container the hook refused never starts, so there is nothing inside to inspect; the NVIDIA hook's 'mount operation failed: .../merged/proc/driver/nvidia: no such file or directory' beside sysbox-runc, or sysbox-mgr's 'Overlayfs on ID-mapped mounts supported by kernel: no', in a log shows it",
    "nvidia.cc-mode-mismatch": "the GPU's confidential-computing mode is set in the GPU by the host's admin tools and whether the OS is a confidential guest is the VM's, both outside any container, and a refused GPU leaves no usable device behind; the driver's 'CPU does not support confidential compute.' or 'GPU confidential compute capability is not enabled.' in the kernel log shows it",
    "nvidia.cc-kernel-crypto-unavailable": "the confidential-computing mode of the GPU, the guest kernel's crypto options and the crypto modules loaded before nvidia.ko are state of the guest VM's kernel and driver build, outside any container, and a GPU that failed its SPDM setup leaves no usable device behind; the driver's 'libspdm expects LKCA but found stubs' or 'SPDM cannot boot without proper crypto backend' in the guest's kernel log shows it",
    # gnew48 (issue 13)
    "host.gpu-bar-unassigned": "the PCI address space is placed by the host firmware (or the hypervisor, or the kernel at hot-plug) before any driver loads, and a GPU whose BAR got no address is refused by the driver and leaves no device node behind to inspect; the kernel's 'BAR 1 [mem size ...]: failed to assign' or NVRM's 'This PCI I/O region assigned to your NVIDIA device is invalid' in a log shows it",
    "capability.perfmon-missing": "a GPU monitor (intel_gpu_top behind an exporter or a dashboard) or a profiler (perf, Nsight Systems' CPU sampling) opens perf events only when it runs, and the serving or training job never does; the capability set is visible to `check`, but whether a monitor or profiler runs in this container, and the host's kernel.perf_event_paranoid, decide it; intel_gpu_top's 'Failed to initialize PMU! (Permission denied)' or '(Operation not permitted)', or perf's 'Access to performance monitoring and observability operations is limited', in a log shows it",
    "host.criu-gpu-plugin-unavailable": "CRIU runs on the host, started by the engine's runtime (runc/crun) at checkpoint or restore time, never inside the container check inspects: its plugin directory, the PATH it gives cuda-checkpoint and whether the host driver's cuda-checkpoint has --action are outside the container, and a job that is never checkpointed does not need them; CRIU's 'cuda_plugin: check that cuda-checkpoint is present in $PATH', 'cuda-checkpoint --action flag not supported, an r555 or higher version driver is required' or 'Missing required plugin: cuda_plugin' in a dump or restore log shows it",
    "fs.model-mmap-unsupported": "whether a filesystem maps a file depends on the mount's options and its FUSE daemon (direct_io) and on the loader's mapping (safetensors before 0.5.1 maps shared, later private), and the model path is an argument of the server, not part of the container's configuration; safetensors' 'OSError: No such device (os error 19)', llama.cpp's 'error loading model: mmap failed: No such device' or torch's 'unable to mmap ... No such device (19)' in a log shows it",
    "fs.model-cache-unwritable": "which cache directory a server downloads into (HF_HOME, HF_HUB_CACHE, --download-dir) and whether it must download at all are decided by the server's arguments and the model it is given, and a volume's owner and fsGroup handling belong to its storage driver; huggingface_hub's '[Errno 13] Permission denied' or '[Errno 30] Read-only file system' on a models--<org>--<name> or .locks path in a log shows it",
    "display.nvidia-drm-modeset-off": "the nvidia-drm module and its modeset option are the host kernel's, and they matter only to a container that composes its own display (a GPU desktop or game-streaming server), which check cannot tell from a serving container; Wolf's 'Nvidia DRM is not loaded with the flag modeset=1' in a log shows it",
    # gnew54 (issue 13)
    "host.kho-scratch-rdma-enomem": "Kexec HandOver is the host kernel's boot option (kho=, or the kernel's built-in default) and its scratch memory shows in /proc/meminfo (CmaFree above a CmaTotal of 0) only once the kernel has handed it out, and it matters only when an RDMA NIC registers memory; check does not read /proc/meminfo or /proc/cmdline for it (a rule is left to a later pass); NCCL's 'Call to ibv_reg_mr_iova2 failed with error Cannot allocate memory' beside those /proc/meminfo lines, kho=on or an unlimited memlock limit in a log shows it",
}
AUDIT_ONLY: dict[str, str] = {
    "device.group-name-unresolved": "group_add names are resolved by the runtime from the image's /etc/group: `audit`",
    "device.host-node-absent": "the runtime fails before the container starts: `audit` with host facts",
    "runtime.flag-value-one-argument": "how a wrapper hands the engine its arguments is decided before any container exists, and the container is never created: `audit` reads devcontainer.json's runArgs, `explain` the CLI's 'unknown flag: --gpus all' (a flag name holding its value)",
}
# Causes outside the verify.* family that only `tpdoctor verify`'s measurement shows.
VERIFY_ONLY: dict[str, str] = {
    "oneccl.p2p-slot-limited": "a BIOS slot setting is invisible from the OS; verify names it when xccl/ccl bandwidth is below the floor",
}


# Seen only when bytes move between nodes: `tpdoctor cluster verify` (docs/cluster.md).
CLUSTER_VERIFY_ONLY = {
    cid: "only bytes moved between nodes show it: `tpdoctor cluster verify` (docs/cluster.md)"
    for cid in (
        "network.port-blocked",
        "network.mtu-mismatch",
        "network.slow-link",
        "network.socket-fallback",
    )
}


def rule_docs() -> list[dict[str, Any]]:
    """One entry per cause id: which check rules and which audit rules look for it, and their docs."""
    checked: dict[str, list[str]] = {}
    audited: dict[str, list[str]] = {}
    docs: dict[str, list[str]] = {}
    for rule in all_rules():
        target = audited if rule.kind == "deploy" else checked
        for c in rule.causes:
            target.setdefault(c, []).append(rule.name)
            if rule.doc and rule.doc not in docs.setdefault(c, []):
                docs[c].append(rule.doc)
    out = []
    for cid, cause in catalog().items():
        if cid in checked:
            kind = "check"
        elif cid in audited or cid in AUDIT_ONLY:
            kind = "audit-only"
        elif cid in EXPLAIN_ONLY:
            kind = "explain-only"
        elif cid.startswith("verify.") or cid in VERIFY_ONLY:
            kind = "verify-only"  # measured by a real collective on the GPUs (tpdoctor verify)
        elif cid in CLUSTER_VERIFY_ONLY:
            kind = "cluster-verify-only"
        else:
            kind = "unchecked"
        out.append(
            {
                "id": cid,
                "severity": cause.severity.value,
                "summary": cause.summary,
                "checked_by": checked.get(cid, []),
                "audited_by": audited.get(cid, []),
                "kind": kind,
                "why_not_checked": EXPLAIN_ONLY.get(cid)
                or AUDIT_ONLY.get(cid)
                or CLUSTER_VERIFY_ONLY.get(cid)
                or VERIFY_ONLY.get(cid)
                or (
                    "only a real collective on the GPUs shows it: `tpdoctor verify`"
                    if cid.startswith("verify.")
                    else None
                ),
                "doc": "\n\n".join(docs.get(cid, [])),
            }
        )
    return out


def edit_kinds(func: Any, seen: set[Any] | None = None) -> set[str]:
    """The edit types (model/edits.py) a deploy rule can attach: the Edit classes its code, and
    the rule helpers it calls, name (read from the code objects, so the docs follow the code)."""
    import dis
    import inspect
    import types

    from tpdoctor.model.edits import Edit, FixNotice

    seen = set() if seen is None else seen
    seen.add(func)
    out: set[str] = set()
    codes = [func.__code__]
    while codes:
        code = codes.pop()
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
        names = {i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"}
        for name in sorted(names):  # (not attributes: `svc.privileged` is not the rule `privileged`)
            obj = func.__globals__.get(name)
            if inspect.isclass(obj) and issubclass(obj, Edit) and obj not in (Edit, FixNotice):
                out.add(obj.__name__)
            elif (
                inspect.isfunction(obj)
                and obj.__module__.startswith("tpdoctor.rules.deploy")
                and obj not in seen
            ):
                out |= edit_kinds(obj, seen)
    return out


def deploy_edits() -> dict[str, tuple[list[str], list[str]]]:
    """Audit cause id -> (the diagnosed causes its edits fix, `explain --config`'s filter; the
    edit types its rules can attach). A `*` remedy: the service's whole least-privilege edit."""
    from tpdoctor.rules.registry import ANY_CAUSE, DEPLOY_RULES

    out: dict[str, tuple[list[str], list[str]]] = {}
    for rule in DEPLOY_RULES.rules():
        kinds = sorted(edit_kinds(rule.func))
        for c in rule.causes:
            rem, eds = out.setdefault(c, ([], []))
            rem += [r for r in rule.remedies if r not in rem and r != c]
            eds += [k for k in kinds if k not in eds]
            rem.sort(key=lambda r: (r == ANY_CAUSE, r))
            eds.sort()
    return out


def _anchor(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation other than - and _ dropped."""
    return "".join(ch for ch in text.lower().replace(" ", "-") if ch.isalnum() or ch in "-_")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _signatures_by_cause() -> dict[str, list[Any]]:
    from tpdoctor.explain.signatures import knowledge_base

    out: dict[str, list[Any]] = {}
    for sig in knowledge_base().signatures:
        if sig.loose_of:
            continue  # a loose twin repeats its original (explain/signatures.py loose_twins)
        for cid in sig.causes:
            out.setdefault(cid, []).append(sig)
    return out


def render_markdown() -> str:
    """docs/rules.md: an index; one section per cause id (what, where it is seen, the evidence,
    each fix with its privilege and source); then each rule's documentation, once."""
    from tpdoctor.model.finding import RUNTIMES
    from tpdoctor.model.fixes import fix_sources, remedies

    docs = rule_docs()
    rules = [r for r in all_rules() if r.doc]
    sigs = _signatures_by_cause()
    sources = fix_sources()
    edits = deploy_edits()
    lines = [
        "# tpdoctor rules",
        "",
        "<!-- Generated by `python -m tpdoctor.docs > docs/rules.md`; do not edit by hand. -->",
        "",
        "Every finding is named by a cause id. `check` rules observe a host or container; the ids",
        "marked *explain-only* can only be seen in logs (`tpdoctor explain`), *audit-only* ones in a",
        "deployment file (`tpdoctor audit`). Each cause's section says what it is, what shows it and",
        "how to fix it; the rules that look for it are documented once, under [Rules](#rules).",
        "Cases that must and must not fire each cause: `tests/causes/<family>.yaml`.",
        "",
        "| cause id | severity | checked by | summary |",
        "|---|---|---|---|",
    ]
    for d in docs:
        how = {
            "check": "check",
            "explain-only": "explain-only",
            "audit-only": "audit-only",
            "verify-only": "verify-only",
            "cluster-verify-only": "cluster verify",
        }.get(d["kind"], "not yet")
        lines.append(
            f"| [`{d['id']}`](#{_anchor(d['id'])}) | {d['severity']} | {how} | {_cell(d['summary'])} |"
        )
    for d in docs:
        cid = d["id"]
        lines += ["", f"## {cid}", "", f"**{d['severity'].capitalize()}.** {d['summary']}", ""]
        seen = [f"[`{r}`](#{_anchor(r)})" for r in d["checked_by"] + d["audited_by"]]
        if d["checked_by"]:
            lines.append("Checked by " + ", ".join(seen[: len(d["checked_by"])]) + ".")
        if d["audited_by"]:
            lines.append("Audited (`tpdoctor audit`) by " + ", ".join(seen[len(d["checked_by"]) :]) + ".")
        if cid in edits:
            remedied, kinds = edits[cid]
            named = [
                "every cause another deploy rule's edits fix (the whole least-privilege edit)"
                if r == "*"
                else f"[`{r}`](#{_anchor(r)})"
                for r in remedied
            ]
            lines.append(
                "Remedies (what `explain --config` fixes with its edits): "
                + ", ".join([f"`{cid}`", *named])
                + "."
            )
            made = ", ".join(f"`{k}`" for k in kinds) or "none (reported only)"
            lines.append(
                f"Edits `audit --fix` can make ([model/edits.py](../src/tpdoctor/model/edits.py)): {made}."
            )
        if d["why_not_checked"]:
            lines.append(f"*{d['kind'].capitalize()}*: {d['why_not_checked']}.")
        elif not seen:
            lines.append("*Not checked yet by a rule.*")
        for sig in sigs.get(cid, []):
            if sig.causes[0] != cid:  # explained once, under the cause it names first
                lines += [
                    "",
                    f"Also named by the log signature `{sig.id}` ({sig.strength}; see [`{sig.causes[0]}`](#{_anchor(sig.causes[0])})).",
                ]
                continue
            lines += ["", f"In a log (`explain`, signature `{sig.id}`, {sig.strength}): {sig.explain}"]
            if sig.examples:
                lines.append(f"Example: `{sig.examples[0]}`")
            if sig.source:
                lines.append(f"Source: {sig.source}.")
        fixes = remedies(cid)
        if fixes:
            where = sources.get(cid, ("data/fixes", ""))[0]
            lines += ["", f"Fixes, least privilege first (`{where}`, [sources](#fix-sources)):", ""]
            lines += ["| fix | privilege | runtimes |", "|---|---|---|"]
            for rem in sorted(fixes, key=lambda r: PRIVILEGE_RANK.get(r.get("privilege", "none"), 9)):
                runtimes = ", ".join(rt for rt in RUNTIMES if rt in rem)
                lines.append(f"| {_cell(rem['title'])} | {rem.get('privilege', 'none')} | {runtimes} |")
            varied = [r for r in fixes if isinstance(r.get("variants"), dict)]
            if varied:  # the words follow a fact of the input (model/fixes.py chosen_variant)
                by = str(varied[0]["variants"].get("by", ""))
                names = sorted({k for r in varied for k in r["variants"] if k != "by"})
                lines += [
                    "",
                    f"The fixes' words follow the `{by}` the input shows"
                    + (" (`explain/launcher.py`): " if by == "launcher" else ": ")
                    + ", ".join(f"`{n}`" for n in names)
                    + "; with none, the text above.",
                ]
    lines += ["", "# Rules", "", "Each rule once, with the cause ids it can emit."]
    for rule in rules:
        causes = ", ".join(f"[`{c}`](#{_anchor(c)})" for c in rule.causes)
        lines += ["", f"## {rule.name}", "", f"*{rule.kind} rule; emits* {causes}.", "", rule.doc]
    lines += ["", "# Fix sources", "", "Where each remedy file's fixes come from (its header)."]
    for where, head in sorted(set(sources.values())):
        lines += ["", f"- `{where}`: {head or 'no sources given'}"]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_markdown())
