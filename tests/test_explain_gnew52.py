"""Issue 13, gnew52: fs.model-mmap-unsupported (the model's weights sit on a filesystem that refuses mmap with ENODEV),
fs.model-cache-unwritable (the Hugging Face hub cache the server downloads into is not writable by the container's
user) and display.nvidia-drm-modeset-off (a GPU desktop / game-streaming container on a host whose nvidia-drm has no
modeset=1), with two remedies added to existing ids (Slurm's default gres environment under rocm.visible-devices-mismatch,
IOMMU passthrough under nccl.p2p-unsupported).

Lines are written from the format strings of the code that prints them (never copied from a collected log):

- huggingface/safetensors bindings/python/src/lib.rs Open::new: `MmapOptions::new().map(&file)?` (v0.2.8-v0.4.5) and
  `map_copy_read_only(&file)?` (v0.5.1+); PyO3 src/err/impls.rs From<io::Error> for PyErr: `_ =>
  PyOSError::new_err(err)` with the io::Error's Display as the message, Rust's '<strerror> (os error <n>)', so ENODEV
  reads "OSError: No such device (os error 19)".
- ggml-org/llama.cpp llama_mmap: `throw std::runtime_error(format("mmap failed: %s", strerror(errno)))`, caught by
  llama_model_load: LLAMA_LOG_ERROR("%s: error loading model: %s\\n", __func__, err.what()).
- pytorch aten/src/ATen/MapAllocator.cpp: "unable to mmap ", size_, " bytes from file <", filename_, ">: ",
  strerror(errno), " (", errno, ")".
- huggingface/huggingface_hub src/huggingface_hub/file_download.py: os.makedirs(os.path.dirname(blob_path)) under
  <cache>/models--<org>--<name>/blobs, ref_path.parent.mkdir for refs/<revision>, Path(<cache>/.locks/
  models--<org>--<name>/<etag>.lock).parent.mkdir and the lock file itself; Python's OSError str
  "[Errno <n>] <strerror>: '<path>'".
- games-on-whales/wolf src/moonlight-server/platforms/hw_linux.cpp: logs::log(logs::warning, "Nvidia DRM is not loaded
  with the flag modeset=1 \\n" "Please read the docs at ..."), and "Unable to check Nvidia DRM modeset opening
  /sys/module/nvidia_drm/parameters/modeset returns {}" with strerror(errno); Wolf's log line is
  "<time> WARN  | <message>".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_MMAP = "fs.model-mmap-unsupported"
_CACHE = "fs.model-cache-unwritable"
_DRM = "display.nvidia-drm-modeset-off"


def _guarded(entry: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew52)."""
    assert entry in _ids(), entry


def test_the_new_readings_are_loaded_with_remedies() -> None:
    from tpdoctor.docs import EXPLAIN_ONLY
    from tpdoctor.explain.signatures import knowledge_base
    from tpdoctor.model.catalog import catalog
    from tpdoctor.model.fixes import remedies

    got = _ids()
    for sid in (
        "safetensors.mmap-no-such-device",
        "llama.mmap-no-such-device",
        "torch.mapallocator-mmap-no-such-device",
        "hf-hub.cache-write-denied",
        "wolf.nvidia-drm-modeset-off",
        "wolf.nvidia-drm-modeset-unreadable",
    ):
        assert sid in got, sid
    kb = knowledge_base()
    kb_causes = {c for s in kb.signatures for c in s.causes} | {c.emit for c in kb.correlations if c.emit}
    for cause in (_MMAP, _CACHE, _DRM):
        assert cause in catalog(), cause
        assert catalog()[cause].severity == "blocker", cause
        assert cause in kb_causes, cause
        assert remedies(cause), cause
        assert cause in EXPLAIN_ONLY, cause


def test_the_remedies_added_to_existing_ids() -> None:
    from tpdoctor.model.catalog import catalog
    from tpdoctor.model.fixes import remedies

    slurm = {r["id"]: r for r in remedies("rocm.visible-devices-mismatch")}
    assert "slurm-gres-vendor-env-flags" in slurm
    assert "nvidia_gpu_env" in str(slurm["slurm-gres-vendor-env-flags"])
    assert "Slurm" in catalog()["rocm.visible-devices-mismatch"].summary
    iommu = {r["id"]: r for r in remedies("nccl.p2p-unsupported")}
    assert "host-iommu-passthrough" in iommu
    assert "iommu=pt" in str(iommu["host-iommu-passthrough"])


# --- fs.model-mmap-unsupported ----------------------------------------------------------------------------------------


def _traceback(*tail: str) -> str:
    head = [
        "INFO 03-14 10:02:11 [model_runner.py:1056] Starting to load model /models/Qwen2.5-32B-Instruct...",
        "Traceback (most recent call last):",
        '  File "/usr/local/lib/python3.12/dist-packages/vllm/model_executor/model_loader/weight_utils.py", line 476, in safetensors_weights_iterator',
        '    with safe_open(st_file, framework="pt") as f:',
        "         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    ]
    return "\n".join(head + list(tail)) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        # PyO3's OSError from safe_open's `?` on memmap2's io::Error (ENODEV)
        _traceback("OSError: No such device (os error 19)"),
        # the same under torchrun's rank prefix
        "[rank3]:     with safe_open(checkpoint_file, framework=\"pt\") as f:\n[rank3]: OSError: No such device (os error 19)\n",
    ],
)
def test_safetensors_enodev_suggests_a_filesystem_without_mmap(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_MMAP, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # llama_model_load's catch of llama_mmap's runtime_error
        "llama_model_loader: loaded meta data with 29 key-value pairs and 579 tensors from /models/qwen2.5-32b-q4_k_m.gguf (version GGUF V3 (latest))\n"
        "load_tensors: loading model tensors, this can take a while... (mmap = true)\n"
        "llama_model_load: error loading model: mmap failed: No such device\n"
        "llama_model_load_from_file_impl: failed to load model\n",
        # Ollama's server relaying the runner's error
        "Error: llama runner process has terminated: error loading model: mmap failed: No such device\n",
        # torch's MapAllocator on a checkpoint mapped with torch.load(mmap=True)
        "RuntimeError: unable to mmap 16060522496 bytes from file </mnt/blob/llama/consolidated.00.pth>: No such device (19)\n",
    ],
)
def test_a_loader_refused_mmap_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_MMAP, "proves"), got


@pytest.mark.parametrize(
    ("guard", "text"),
    [
        # llama.cpp out of address space or memory: another errno, another cause
        ("llama.mmap-no-such-device", "llama_model_load: error loading model: mmap failed: Cannot allocate memory\n"),
        # torch's shared-memory file (/torch_<pid>_...): shm's reading, not the model's filesystem
        (
            "torch.mapallocator-mmap-no-such-device",
            "RuntimeError: unable to mmap 1048576 bytes from file </torch_56_3823485375_0>: No such device (19)\n",
        ),
        # a Rust binary's own device error (no Python OSError around it)
        ("safetensors.mmap-no-such-device", "Error: No such device (os error 19)\n"),
        # Python's own mmap module and a prose question stay out
        ("safetensors.mmap-no-such-device", "OSError: [Errno 19] No such device\n"),
        ("llama.mmap-no-such-device", "Does llama.cpp print 'mmap failed' when the disk is slow?\n"),
    ],
)
def test_mmap_look_alikes_stay_clean(tmp_path: Path, guard: str, text: str) -> None:
    _guarded(guard)
    assert _MMAP not in _all(tmp_path, text)


# --- fs.model-cache-unwritable ----------------------------------------------------------------------------------------


def _download(error: str) -> str:
    return (
        "Traceback (most recent call last):\n"
        '  File "/usr/local/lib/python3.12/dist-packages/huggingface_hub/file_download.py", line 1010, in _hf_hub_download_to_cache_dir\n'
        "    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)\n"
        f"{error}\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        # .locks under a cache owned by another UID (Path.mkdir's parents walk stops at the first refused directory)
        _download("PermissionError: [Errno 13] Permission denied: '/models/.locks'"),
        # the repo folder under HF_HUB_CACHE (os.makedirs of blobs/)
        _download("PermissionError: [Errno 13] Permission denied: '/data/hf/hub/models--Qwen--Qwen2.5-7B-Instruct'"),
        # a read-only cache volume: the ref of the revision cannot be written
        _download("OSError: [Errno 30] Read-only file system: '/model-cache/models--meta-llama--Llama-3.1-8B-Instruct/refs'"),
        # the lock file itself, in a rank's prefix
        "[rank1]: PermissionError: [Errno 13] Permission denied: "
        "'/root/.cache/huggingface/hub/.locks/models--mistralai--Mistral-7B-v0.1/4d8f1a.lock'\n",
    ],
)
def test_an_unwritable_hub_cache_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_CACHE, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # HOME=/ (a UID without a passwd entry): fs.home-unwritable-arbitrary-uid's reading
        "PermissionError: [Errno 13] Permission denied: '/.cache/huggingface/hub/models--x--y'\n",
        # a weights file of a local model directory, not the hub cache's entries
        "PermissionError: [Errno 13] Permission denied: '/models/Qwen2.5-7B/config.json'\n",
        # /dev/shm and Python multiprocessing's semaphores: shm's readings
        "OSError: [Errno 30] Read-only file system: '/psm_67c6581c'\n",
        # a missing cache entry is not a refusal
        "FileNotFoundError: [Errno 2] No such file or directory: '/models/models--Qwen--Qwen2-7B/refs/main'\n",
    ],
)
def test_cache_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("hf-hub.cache-write-denied")
    assert _CACHE not in _all(tmp_path, text)


# --- display.nvidia-drm-modeset-off -----------------------------------------------------------------------------------


def _wolf(*lines: str) -> str:
    head = [
        "08:17:11.914621393 INFO  | RTP server started on port: 48200",
        "08:17:11.914628023 INFO  | RTP server started on port: 48100",
    ]
    return "\n".join(head + list(lines)) + "\n"


def test_wolf_without_drm_modeset_is_named(tmp_path: Path) -> None:
    text = _wolf(
        "08:17:12.006325936 WARN  | Nvidia DRM is not loaded with the flag modeset=1 ",
        "Please read the docs at https://games-on-whales.github.io/wolf/stable/user/quickstart.html",
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_DRM, "proves"), got


def test_wolf_without_the_drm_module_suggests_it(tmp_path: Path) -> None:
    text = _wolf(
        "08:17:12.006325936 WARN  | Unable to check Nvidia DRM modeset opening "
        "/sys/module/nvidia_drm/parameters/modeset returns No such file or directory"
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_DRM, "suggests"), got


@pytest.mark.parametrize(
    ("guard", "text"),
    [
        # another errno is the container's view of /sys, not a module left unloaded
        (
            "wolf.nvidia-drm-modeset-unreadable",
            _wolf(
                "08:17:12.006325936 WARN  | Unable to check Nvidia DRM modeset opening "
                "/sys/module/nvidia_drm/parameters/modeset returns Permission denied"
            ),
        ),
        # the documentation's instruction and a healthy check stay clean
        (
            "wolf.nvidia-drm-modeset-off",
            "One last final check: the nvidia-drm module is loaded with the flag modeset=1\n"
            "$ sudo cat /sys/module/nvidia_drm/parameters/modeset\nY\n",
        ),
    ],
)
def test_drm_modeset_look_alikes_stay_clean(tmp_path: Path, guard: str, text: str) -> None:
    _guarded(guard)
    assert _DRM not in _all(tmp_path, text)
