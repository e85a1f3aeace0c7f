"""Issue 13, gnew48: host.criu-gpu-plugin-unavailable (CRIU cannot checkpoint or restore a CUDA process: its CUDA
plugin is missing or disables itself).

Lines are written from the format strings of the code that prints them (never copied from a collected log):

- checkpoint-restore/criu plugins/cuda/cuda_plugin.c cuda_plugin_init (v4.0, v4.1, v4.2, 2cf8f13c):
  pr_warn("check that %s is present in $PATH\\n", CUDA_CHECKPOINT) and pr_warn("cuda-checkpoint --action flag not
  supported, an r555 or higher version driver is required. Disabling CUDA plugin\\n"), behind criu/include/log.h's
  "Warn  (%s:%d): " and the plugin's LOG_PREFIX "cuda_plugin: ", after log.c's "(%02u.%06u) " timestamp;
  pr_info("initialized: %s stage %d\\n") and pr_info("No GPU device found; CUDA plugin is disabled\\n") are healthy.
- criu/proc_parse.c handle_vma_plugin pr_perror("handle_device_vma plugin failed") (": %s" strerror) and
  pr_err("Can't handle non-regular mapping on %d's map %" PRIx64 "\\n"), behind "Error (%s:%d): ".
- criu/image.c check_inventory_plugins pr_err("Missing required plugin: %s\\n") (v4.1+), the plugin names from
  CR_PLUGIN_REGISTER("cuda_plugin", ...) and CR_PLUGIN_REGISTER("amdgpu_plugin", ...).
- NVIDIA/cuda-checkpoint's binary: the string "Insufficient driver" (a40358f, 6ec728a).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_CRIU = "host.criu-gpu-plugin-unavailable"


def _guarded(entry: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew48)."""
    assert entry in _ids(), entry


def test_the_new_readings_are_loaded_with_remedies() -> None:
    from tpdoctor.explain.signatures import knowledge_base
    from tpdoctor.model.catalog import catalog
    from tpdoctor.model.fixes import remedies

    got = _ids()
    for sid in (
        "criu.cuda-plugin-driver-without-action",
        "criu.cuda-plugin-cuda-checkpoint-not-found",
        "criu.restore-missing-gpu-plugin",
        "criu.device-mapping-without-plugin",
        "cuda-checkpoint.insufficient-driver",
    ):
        assert sid in got, sid
    assert _CRIU in catalog()
    assert _CRIU in {c for s in knowledge_base().signatures for c in s.causes}
    assert remedies(_CRIU)


def _dump_log(*lines: str) -> str:
    """A criu dump.log (log.c's '(%02u.%06u) ' timestamp) around the given lines, as Podman's or containerd's
    checkpoint leaves it under the container's userdata."""
    head = [
        "(00.000000) Unable to get $HOME directory, local configuration file will not be used.",
        "(00.000000) Parsing config file /etc/criu/runc.conf",
        "(00.000041) Version: 4.1 (gitid 0)",
        "(00.000057) Running on gpu-node-3 Linux 6.8.0-49-generic #49-Ubuntu SMP x86_64",
    ]
    tail = ["(00.062113) Error (criu/cr-dump.c:2111): Dumping FAILED."]
    return "\n".join(head + list(lines) + tail) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        # a driver before r555: cuda-checkpoint has no --action, the plugin disables itself, the dump fails after
        _dump_log(
            "(00.003311) Warn  (cuda_plugin.c:595): cuda_plugin: cuda-checkpoint --action flag not supported, "
            "an r555 or higher version driver is required. Disabling CUDA plugin",
            "(00.041182) Error (criu/proc_parse.c:116): handle_device_vma plugin failed: Operation not supported",
            "(00.041190) Error (criu/proc_parse.c:632): Can't handle non-regular mapping on 48211's map 7f3c4a000000",
        ),
        # cuda-checkpoint not on the PATH runc gives criu
        _dump_log(
            "(00.003120) Warn  (cuda_plugin.c:589): cuda_plugin: check that cuda-checkpoint is present in $PATH",
            "(00.040776) Error (criu/proc_parse.c:116): handle_device_vma plugin failed: No such file or directory",
            "(00.040790) Error (criu/proc_parse.c:632): Can't handle non-regular mapping on 1's map 200000000",
        ),
        # the warning alone, in the 4.0 form
        "(00.002901) Warn  (cuda_plugin.c:474): cuda_plugin: check that cuda-checkpoint is present in $PATH\n",
        # a restore node without the plugin
        "(00.000914) Error (criu/image.c:193): Missing required plugin: cuda_plugin\n"
        "(00.000931) Error (criu/cr-restore.c:2397): Restoring FAILED.\n",
        # podman's wrapper with the restore log quoted after it
        "Error: OCI runtime error: runc: criu failed: type RESTORE errno 0\n"
        "log file: /var/lib/containers/storage/overlay-containers/3f9a/userdata/restore.log\n"
        "$ sudo tail -3 /var/lib/containers/storage/overlay-containers/3f9a/userdata/restore.log\n"
        "(00.001207) Error (criu/image.c:198): Missing required plugin: amdgpu_plugin\n",
    ],
)
def test_criu_without_its_gpu_plugin_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_CRIU, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # no cuda_plugin line at all: the plugin is not in CRIU's plugin directory
        _dump_log(
            "(00.040776) Error (criu/proc_parse.c:118): handle_device_vma plugin failed: No such file or directory",
            "(00.040790) Error (criu/proc_parse.c:663): Can't handle non-regular mapping on 153114's map 200000000",
        ),
        # cuda-checkpoint run by hand on a 535 driver
        "$ sudo ./cuda-checkpoint --toggle --pid 9147\nInsufficient driver\n",
    ],
)
def test_the_generic_criu_and_cuda_checkpoint_lines_suggest_it(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_CRIU, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # healthy plugin lines: initialised, or no NVIDIA GPU on this host
        "(00.002815) cuda_plugin: initialized: cuda_plugin stage 1\n"
        "(00.051133) cuda_plugin: Checkpointing CUDA devices on pid 48211 restore_tid 48230\n",
        "(00.002815) cuda_plugin: No GPU device found; CUDA plugin is disabled\n",
        "(00.002815) cuda_plugin: /dev/nvidiactl doesn't exist. The CUDA plugin is disabled.\n",
        # another plugin required and missing (not a GPU plugin)
        "(00.000914) Error (criu/image.c:198): Missing required plugin: inotify_plugin\n",
        # the CUDA runtime's own insufficient-driver messages are cuda.driver-too-old's, and a sentence is no line
        "CUDA driver version is insufficient for CUDA runtime version\n",
        "cudaErrorInsufficientDriver\n",
        "The error says Insufficient driver, but nvidia-smi shows 570.\n",
        # a dump of a process without device mappings that fails elsewhere
        "(00.012001) Error (criu/sk-inet.c:188): inet: Connected TCP socket, consider using --tcp-established option.\n",
    ],
)
def test_criu_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("criu.cuda-plugin-driver-without-action")
    assert _CRIU not in _all(tmp_path, text)
