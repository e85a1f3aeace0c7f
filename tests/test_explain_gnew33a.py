"""Issue 13, gnew33a: cause ids for container/host causes earlier blind rounds' collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- limits.address-space-too-low: torch c10/cuda/CUDAFunctions.cpp device_count_impl ('CUDA initialization: Unexpected
  error from cudaGetDeviceCount(). Did you run some cuda functions before calling NumCudaDevices() that might have
  already set an error? Error %d: %s', cudaGetErrorString(2) = 'out of memory'; its hipified twin), TensorFlow/XLA
  cuda_driver.cc ('failed call to cuInit: ' + ToString(CUresult), 'CUDA_ERROR_OUT_OF_MEMORY: out of memory'), torch
  ATen MapAllocator.cpp ('unable to mmap %zu bytes from file <%s>: %s (%d)'), NCCL checks.h SYSCHECK ('Call to %s
  failed : %s'); the limit in bash's `ulimit -v N` / `ulimit -a` row ('virtual memory (kbytes, -v) N'), the kernel's
  /proc/<pid>/limits row ('Max address space N N bytes'), SGE's `#$ -l h_vmem=`, PBS's `#PBS -l pvmem=`, Slurm's
  `scontrol show config` ('VSizeFactor = N percent'), systemd's LimitAS=, docker's --ulimit as=, bash's refusal
  ('ulimit: virtual memory: cannot modify limit: Operation not permitted'); check's RLIMIT_AS from proc/self/limits.
- runtime.docker-daemon-config-invalid: moby daemon/config/config.go ('the following directives are specified both
  as a flag and in the configuration file: %s' of '%s: (from flag: %v, from file: %v)', 'the following directives don't
  match any configuration option: %s', encoding/json's syntax errors) under cmd/dockerd's 'unable to configure the
  Docker daemon with file %s: %v' (v19.03-v28; daemon/command/daemon.go in v29+).
- runtime.cdi-feature-disabled: moby daemon/errors.go ('could not select device driver %q with capabilities: %v')
  for the "cdi" driver that cmd/dockerd registers only with features.cdi (v25.0-v28.1), and
  daemon/devices_nvidia_linux.go ('no CDI device driver registered: %w', v28.3+).
- runtime.hook-direct-unsupported: nvidia-container-toolkit cmd/nvidia-container-runtime-hook hook_config.go
  assertModeIsLegacy ('invoking the NVIDIA Container Runtime Hook directly (e.g. specifying the docker --gpus flag) is
  not supported. Please use the NVIDIA Container Runtime (e.g. specify the --runtime=nvidia flag) instead') after
  internal/info/auto.go's "Using requested mode '%s'" / "Auto-detected mode as '%v'".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts, catalog
from tpdoctor.model.facts import LimitFacts
from tpdoctor.rules.registry import run_fact_rules

_AS = "limits.address-space-too-low"
_DAEMON = "runtime.docker-daemon-config-invalid"
_CDI = "runtime.cdi-feature-disabled"
_HOOK = "runtime.hook-direct-unsupported"
NEW = {_AS, _DAEMON, _CDI, _HOOK}


def _known() -> None:
    # the neighbours below are checked against ids this pass adds: they must exist for the check to mean anything
    assert NEW <= set(catalog()), sorted(NEW - set(catalog()))

# --- limits.address-space-too-low -------------------------------------------------------------------------------------

_TORCH_COUNT = (
    "/usr/local/lib/python3.10/dist-packages/torch/cuda/__init__.py:128: UserWarning: CUDA initialization: Unexpected "
    "error from cudaGetDeviceCount(). Did you run some cuda functions before calling NumCudaDevices() that might have "
    "already set an error? Error 2: out of memory (Triggered internally at ../c10/cuda/CUDAFunctions.cpp:108.)\n"
)
_TORCH_HIP_COUNT = _TORCH_COUNT.replace("cudaGetDeviceCount", "hipGetDeviceCount").replace("cuda/", "hip/")
_TF_CUINIT = ("2024-03-01 10:00:00.000000: E tensorflow/stream_executor/cuda/cuda_driver.cc:271] failed call to cuInit: "
              "CUDA_ERROR_OUT_OF_MEMORY: out of memory\n")
_XLA_CUINIT = ("E0301 10:00:00.000000 1234 cuda_driver.cc:152] failed call to cuInit: INTERNAL: CUDA error: Failed call "
               "to cuInit: CUDA_ERROR_OUT_OF_MEMORY: out of memory\n")
_TORCH_BARE = "RuntimeError: CUDA error: out of memory\n"
_TORCH_MMAP = "RuntimeError: unable to mmap 1048576 bytes from file </torch_4242_1234567890_0>: Cannot allocate memory (12)\n"
_NCCL_MMAP = "node1:4242:4290 [0] misc/shmutils.cc:72 NCCL WARN Call to mmap failed : Cannot allocate memory\n"
_HIP_CODE = "RuntimeError: HIP error: hipErrorOutOfMemory\n"
_ALLOCATOR = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of "
              "79.15 GiB of which 12.81 MiB is free.\n")


def test_the_new_ids_and_knowledge_are_loaded() -> None:
    assert NEW <= set(catalog()), sorted(NEW - set(catalog()))
    got = _ids()
    for sid in ("cuda.init-out-of-memory", "mmap.cannot-allocate-memory", "prose.ulimit-v-unlimited-fixed",
                "dockerd.config-file-refused", "dockerd.config-directives-refused", "address-space-limit",
                "address-space-fix", "nvidia-toolkit-cdi-mode", "tegra-named", "address-space-limit-init-oom", "address-space-limit-mmap-enomem",
                "address-space-limit-nccl-oom", "address-space-fix-init-oom", "address-space-fix-mmap-enomem", "hook-directly-in-cdi-mode",
                "hook-directly-in-cdi-mode-not-missing", "hook-directly-csv-not-cdi-mode",
                "hook-directly-jetson-not-cdi-mode", "hook-directly-on-tegra", "hook-directly-tegra-not-cdi-mode"):
        assert sid in got, sid


@pytest.mark.parametrize(
    ("limit", "failure"),
    [
        # bash's ulimit in the job script, torch's device count at start-up
        ("$ ulimit -v 16000000\n", _TORCH_COUNT),
        ("+ ulimit -Sv 33554432\n", _TORCH_COUNT),
        # the same under ROCm (the hipified warning)
        ("$ ulimit -v 16000000\n", _TORCH_HIP_COUNT),
        # ulimit -a's row, TensorFlow's and XLA's cuInit
        ("virtual memory          (kbytes, -v) 8388608\n", _TF_CUINIT),
        ("virtual memory          (kbytes, -v) 8388608\n", _XLA_CUINIT),
        # the kernel's limits row (soft column finite); torch's lazy init error
        ("Max address space         34359738368          unlimited            bytes     \n", _TORCH_BARE),
        # SGE's h_vmem directive; torch's /torch_* mapping refused with ENOMEM (not /dev/shm: that is ENOSPC)
        ("#$ -l h_vmem=8G\n", _TORCH_MMAP),
        # PBS/Torque's per-process vmem; NCCL's SYSCHECK on mmap
        ("#PBS -l nodes=2:ppn=4:gpus=4,pvmem=16gb\n", _NCCL_MMAP),
        # Slurm's scontrol show config; HIP's code name
        ("VSizeFactor             = 110 percent\n", _HIP_CODE),
        # systemd's unit setting, docker's flag
        ("LimitAS=17179869184\n", _TORCH_COUNT),
        ("$ docker run --gpus all --ulimit as=17179869184 vllm/vllm-openai:latest\n", _TORCH_COUNT),
        # bash cannot raise it: the hard limit is finite
        ("/var/spool/slurmd/job123/slurm_script: line 9: ulimit: virtual memory: cannot modify limit: Operation not "
         "permitted\n", _TORCH_COUNT),
    ],
)
def test_a_finite_limit_beside_a_start_up_out_of_memory_proves_it(tmp_path: Path, limit: str, failure: str) -> None:
    found = _findings(tmp_path, limit + failure)
    assert found and found[0] == (_AS, "proves"), found


def test_the_limit_is_not_shm_for_torch_mmap_enomem(tmp_path: Path) -> None:
    got = _all(tmp_path, "#$ -l h_vmem=8G\n" + _TORCH_MMAP)
    assert got[:1] == [_AS] and "shm.too-small" not in got, got
    # without the limit the mapping stays /dev/shm's (the existing reading)
    assert _all(tmp_path, _TORCH_MMAP)[:1] == ["shm.too-small"]


def test_nccl_oom_under_a_limit_suggests_it(tmp_path: Path) -> None:
    found = _findings(tmp_path, "$ ulimit -v 16000000\nnode1:4242:4290 [0] include/alloc.h:125 NCCL WARN Cuda failure 2 "
                                "'out of memory'\n")
    assert found[:1] == [(_AS, "suggests")], found


# NCCL's own allocator WARN (NVIDIA/nccl src/include/alloc.h "Failed to CUDA %s %ld bytes"), as torch re-prints it
# after "Last error:": what a one-rank all-reduce printed on an empty H100 under `ulimit -v` (the form, not the file,
# bench/gpu/results/rlimit-as-h100x1)
_NCCL_ALLOC = (
    "torch.distributed.DistBackendError: NCCL error in: /pytorch/torch/csrc/distributed/c10d/NCCLUtils.cpp:93, "
    "unhandled cuda error (run with NCCL_DEBUG=INFO for details), NCCL version 2.28.9\n"
    "ncclUnhandledCudaError: Call to CUDA function failed.\nLast error:\nFailed to CUDA {kind} {n} bytes\n"
)


@pytest.mark.parametrize("kind,n", [("calloc", 536870912), ("malloc", 2097152), ("calloc async", 4194304), ("host alloc", 1 << 20)])
def test_nccl_alloc_failure_under_a_limit_suggests_it(tmp_path: Path, kind: str, n: int) -> None:
    text = _NCCL_ALLOC.format(kind=kind, n=n)
    assert _findings(tmp_path, "$ ulimit -v 150000000\n" + text)[:1] == [(_AS, "suggests")]
    # alone it is the GPU's memory (a full GPU is the common reading): no container cause, and not /dev/shm
    alone = _all(tmp_path, text)
    assert _AS not in alone and "shm.too-small" not in alone, alone
    # an unlimited limit is no limit
    assert _AS not in _all(tmp_path, "$ ulimit -v unlimited\n" + text)


@pytest.mark.parametrize(
    "text",
    [
        # the Qiita article's TL;DR form (heldout32-uncovered), English and Japanese retellings
        "TL;DR: vLLM across the HPC nodes failed with mmap errors until the job script ran ulimit -v unlimited\n",
        "Adding ulimit -v unlimited to the sbatch script fixed the CUDA out of memory at start-up.\n",
        "ulimit -v unlimited で解決しました\n",
    ],
)
def test_the_fix_retold_suggests_it(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [(_AS, "suggests")]


def test_the_fix_beside_the_failure_names_it(tmp_path: Path) -> None:
    # the job script lifts it after the first run failed: named (a guess, behind a run that ended in an OOM)
    assert _AS in _all(tmp_path, _NCCL_MMAP + "$ ulimit -v unlimited\n")


@pytest.mark.parametrize(
    "text",
    [
        # a plain out-of-memory stays what it is
        _TORCH_BARE,
        _TORCH_COUNT,
        _TF_CUINIT,
        _NCCL_MMAP,
        # an unlimited limit beside it is no evidence
        "virtual memory          (kbytes, -v) unlimited\n" + _TORCH_BARE,
        "Max address space         unlimited            unlimited            bytes     \n" + _TORCH_COUNT,
        "VSizeFactor             = 0 percent\n" + _TF_CUINIT,
        "LimitAS=infinity\n" + _TORCH_COUNT,
        "$ docker run --ulimit as=-1 img\n" + _TORCH_COUNT,
        # the allocator's real GPU OOM (Tried to allocate) beside a limit: the GPU is full, not the address space
        "$ ulimit -v 16000000\n" + _ALLOCATOR,
        # other limits and an RDMA mapping refused (uverbs: memlock / the HCA, not RLIMIT_AS)
        "$ ulimit -n 1024\n$ ulimit -l 65536\n" + _TORCH_BARE,
        "$ ulimit -v 16000000\nlibibverbs: Warning: couldn't mmap uverbs: Cannot allocate memory\n",
        # a limit with no failure
        "$ ulimit -v 16000000\n$ python train.py\nepoch 1 loss 0.3\n",
        # ulimit -v unlimited in a script without a fix claim, beside nothing failing
        "ulimit -v unlimited\nulimit -n 65536\n",
    ],
)
def test_address_space_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    _known()
    assert _AS not in _all(tmp_path, text), text


def test_limits_row_is_parsed() -> None:
    from tpdoctor.facts.resources import parse_address_space

    rows = ("Max locked memory         8388608              8388608              bytes     \n"
            "Max address space         17179869184          unlimited            bytes     \n")
    assert parse_address_space(rows) == (17179869184, -1)
    assert parse_address_space("Max address space  unlimited  unlimited  bytes\n") == (-1, -1)
    assert parse_address_space("") == (None, None)


def _limits_root(tmp_path: Path, soft: str, hard: str, mem_kib: int) -> Path:
    root = tmp_path / "root"
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/limits").write_text(
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max locked memory         8388608              8388608              bytes     \n"
        f"Max address space         {soft:<20} {hard:<20} bytes     \n"
    )
    (root / "proc/meminfo").write_text(f"MemTotal:       {mem_kib} kB\nMemFree:        1000 kB\n")
    return root


def _check(facts: Facts) -> dict[str, str]:
    return {f.cause: f.severity.value for f in run_fact_rules(facts, CheckOptions())}


def test_check_reads_the_limit_from_a_fake_proc(tmp_path: Path) -> None:
    # 16 GiB of address space on a 64 GiB host: below RAM, a blocker
    facts = collect_facts(_limits_root(tmp_path, "17179869184", "17179869184", 64 * 1024 * 1024), {}, live=False)
    assert facts.limits.address_space_soft == 17179869184 and facts.limits.address_space_hard == 17179869184
    assert facts.limits.mem_total == 64 << 30
    assert _check(facts).get(_AS) == "blocker"


def test_check_above_the_measured_floor_is_degraded(tmp_path: Path) -> None:
    # 256 GiB on a 64 GiB host: above RAM and above the one-GPU NCCL need measured on an H100 (177 GiB): degraded
    facts = collect_facts(_limits_root(tmp_path, "274877906944", "unlimited", 64 * 1024 * 1024), {}, live=False)
    assert facts.limits.address_space_hard == -1
    assert _check(facts).get(_AS) == "degraded"


def test_check_above_ram_but_below_the_measured_nccl_need_is_a_blocker(tmp_path: Path) -> None:
    # 128 GiB on a 64 GiB host: above RAM, but a one-rank NCCL all-reduce needed 177 GiB on an H100 (measured)
    facts = collect_facts(_limits_root(tmp_path, str(128 << 30), "unlimited", 64 * 1024 * 1024), {}, live=False)
    found = [f for f in run_fact_rules(facts, CheckOptions()) if f.cause == _AS]
    assert found and found[0].severity.value == "blocker"
    assert "NCCL's first collective" in found[0].message


def test_check_names_the_step_the_limit_stops() -> None:
    from tpdoctor.rules.limits import CUINIT_AS, NCCL_ALLREDUCE_AS, TORCH_CUDA_AS

    def message(soft: int) -> str:
        return next(f.message for f in run_fact_rules(Facts(limits=LimitFacts(address_space_soft=soft)), CheckOptions())
                    if f.cause == _AS)

    assert CUINIT_AS < TORCH_CUDA_AS < NCCL_ALLREDUCE_AS
    assert "cuInit itself fails" in message(CUINIT_AS - 1)
    assert "torch's CUDA start fails" in message(CUINIT_AS)
    assert "NCCL's first collective" in message(TORCH_CUDA_AS)
    # a host whose RAM is above the measured NCCL need: below RAM stays a blocker
    big = Facts(limits=LimitFacts(address_space_soft=NCCL_ALLREDUCE_AS + (1 << 30), mem_total=1 << 41))
    assert _check(big)[_AS] == "blocker"
    assert _check(Facts(limits=LimitFacts(address_space_soft=NCCL_ALLREDUCE_AS)))[_AS] == "degraded"


def test_check_unlimited_or_unknown_is_clean(tmp_path: Path) -> None:
    _known()
    facts = collect_facts(_limits_root(tmp_path, "unlimited", "unlimited", 64 * 1024 * 1024), {}, live=False)
    assert facts.limits.address_space_soft == -1
    assert _AS not in _check(facts)
    assert _AS not in _check(Facts(limits=LimitFacts()))
    # a finite limit with RAM unknown is a blocker (nothing to compare with)
    assert _check(Facts(limits=LimitFacts(address_space_soft=1 << 34)))[_AS] == "blocker"


# --- runtime.docker-daemon-config-invalid ---------------------------------------------------------------------------

_PREFIX = "unable to configure the Docker daemon with file /etc/docker/daemon.json: "


@pytest.mark.parametrize(
    "line",
    [
        # the nvidia runtime registered in daemon.json and by a systemd override's --add-runtime (nvidia-docker#751)
        "Dec 05 08:00:00 gpu1 dockerd[812]: " + _PREFIX + "the following directives are specified both as a flag and in "
        "the configuration file: runtimes: (from flag: map[nvidia:{nvidia-container-runtime []}], from file: "
        "map[nvidia:{/usr/bin/nvidia-container-runtime []}])",
        # a JSON syntax error after a hand edit or an installer (encoding/json's texts)
        _PREFIX + "invalid character '}' looking for beginning of object key string",
        _PREFIX + "unexpected end of JSON input",
        # the newest wrapping of the JSON error
        "failed to start daemon: " + _PREFIX + "invalid JSON: invalid character ',' after object key:value pair",
        # an unknown directive
        _PREFIX + "the following directives don't match any configuration option: default-runtimes",
        # dockerd --validate's form, without the wrapper
        "the following directives are specified both as a flag and in the configuration file: runtimes: (from flag: "
        "map[nvidia:{nvidia-container-runtime []}], from file: map[nvidia:{nvidia-container-runtime []}])",
    ],
)
def test_dockerd_refusing_its_config_proves_it(tmp_path: Path, line: str) -> None:
    found = _findings(tmp_path, line + "\n")
    assert found and found[0] == (_DAEMON, "proves"), found


@pytest.mark.parametrize(
    "text",
    [
        # dockerd --validate on a good file; a daemon.json being shown; a docker CLI config problem
        "$ sudo dockerd --validate --config-file /etc/docker/daemon.json\nconfiguration OK\n",
        '$ cat /etc/docker/daemon.json\n{\n  "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}\n}\n',
        "WARNING: Error loading config file: /root/.docker/config.json: invalid character '}' looking for beginning of "
        "object key string\n",
        # the daemon not running, without its reason (the client's view)
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
    ],
)
def test_daemon_config_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    _known()
    assert _DAEMON not in _all(tmp_path, text)


# --- runtime.cdi-feature-disabled ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # docker run --device nvidia.com/gpu=all on Docker 25.0-28.1 without features.cdi (NixOS/nixpkgs#305312)
        'docker: Error response from daemon: could not select device driver "cdi" with capabilities: [].',
        # --gpus with the nvidia driver's CDI path on Docker 28.3+ with "cdi": false
        'Error response from daemon: no CDI device driver registered: could not select device driver "nvidia" with '
        "capabilities: [[gpu]]",
    ],
)
def test_cdi_driver_not_registered_is_the_feature(tmp_path: Path, line: str) -> None:
    found = _findings(tmp_path, line + "\n")
    assert found and found[0] == (_CDI, "proves"), found
    if "no CDI device driver registered" not in line:
        # the 28.3+ form also holds docker.no-gpu-driver's proving text ('... "nvidia" with capabilities: [[gpu]]'),
        # which stays beside it; the first form is the CDI feature alone
        assert "runtime.nvidia-toolkit-missing" not in [c for c, _ in found]


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        # no nvidia driver for --gpus at all: the toolkit (unchanged)
        ('docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].',
         "runtime.nvidia-toolkit-missing"),
        ('Error response from daemon: could not select device driver "nvidia" with capabilities: [[gpu]]',
         "runtime.nvidia-toolkit-missing"),
        # the CDI driver is there, the spec names no such device: unresolvable, not the feature
        ("Error response from daemon: CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=all",
         None),
    ],
)
def test_cdi_feature_neighbours(tmp_path: Path, line: str, cause: str | None) -> None:
    _known()
    got = _all(tmp_path, line + "\n")
    assert _CDI not in got, got
    if cause:
        assert got[:1] == [cause], got


# --- runtime.hook-direct-unsupported ----------------------------------------------------------------------------------

_HOOK_MSG = ("invoking the NVIDIA Container Runtime Hook directly (e.g. specifying the docker --gpus flag) is not "
             "supported. Please use the NVIDIA Container Runtime (e.g. specify the --runtime=nvidia flag) instead")
_DOCKER = ("docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
           "runtime create failed: runc create failed: unable to start container process: error during container init: "
           "error running prestart hook #0: exit status 1, stdout: , stderr: ")


@pytest.mark.parametrize(
    ("text", "strength"),
    [
        # mode = "cdi" requested in config.toml (the hook's own mode line, v1.18+ fmt.Errorf form)
        (_DOCKER + "Using requested mode 'cdi'\n" + _HOOK_MSG + ": unknown\n", "proves"),
        # jit-cdi requested; the config line shown beside the refusal
        ('[nvidia-container-runtime]\nmode = "jit-cdi"\n' + _DOCKER + _HOOK_MSG + ": unknown\n", "proves"),
        # auto resolved to cdi: the image asked only for CDI names in NVIDIA_VISIBLE_DEVICES
        (_DOCKER + "Auto-detected mode as 'cdi'\n" + _HOOK_MSG + ": unknown\n", "proves"),
        # v1.12-v1.17's log.Panicln form with no mode line on an x86 host (dstackai/dstack#2306 retold)
        (_HOOK_MSG + ".\npanic: " + _HOOK_MSG + ".\n\ngoroutine 1 [running]:\n", "suggests"),
        (_DOCKER + _HOOK_MSG + ": unknown\n", "suggests"),
    ],
)
def test_hook_refusal_outside_jetson_is_the_mode(tmp_path: Path, text: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (_HOOK, strength), found
    assert "runtime.jetson-gpus-flag" not in [c for c, _ in found]


@pytest.mark.parametrize(
    "text",
    [
        # csv mode, Jetson or Tegra named: runtime.jetson-gpus-flag keeps it
        _DOCKER + "Auto-detected mode as 'csv'\n" + _HOOK_MSG + ": unknown\n",
        "Using requested mode 'csv'\n" + _HOOK_MSG + "\n",
        "NVIDIA Jetson AGX Orin, JetPack 6.1\n$ docker run --gpus all img\n" + _DOCKER + _HOOK_MSG + ": unknown\n",
        "Running on an IGX Orin devkit\n" + _DOCKER + _HOOK_MSG + ": unknown\n",
        "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64\nL4T R36.4.3\n" + _DOCKER
        + _HOOK_MSG + ": unknown\n",
        "Linux orin 5.15.148-tegra #1 SMP PREEMPT aarch64 GNU/Linux\n" + _DOCKER + _HOOK_MSG + ": unknown\n",
    ],
)
def test_hook_refusal_on_jetson_stays_jetson(tmp_path: Path, text: str) -> None:
    _known()
    got = _all(tmp_path, text)
    assert got[:1] == ["runtime.jetson-gpus-flag"], got
    assert _HOOK not in got


@pytest.mark.parametrize(
    "text",
    [
        # a healthy start in CDI mode through the runtime; the config being shown; an advice line alone
        "Using requested mode 'cdi'\nUsing OCI specification file path: /run/containerd/io.containerd.runtime.v2.task/"
        "moby/abc/config.json\n",
        '[nvidia-container-runtime]\nmode = "cdi"\n',
        "Please use --runtime=nvidia instead of --gpus\n",
        # another refusal of the hook's (no CDI mode in it): the toolkit's legacy path failing
        "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: cannot open shared "
        "object file: no such file or directory: unknown\n",
    ],
)
def test_hook_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    _known()
    assert _HOOK not in _all(tmp_path, text)
