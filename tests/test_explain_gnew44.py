"""Issue 13, gnew44: container/host causes heldout44's collectors found uncovered (c44*/uncovered.md).

Lines are written from the format strings of the code that prints them (never copied from a collected log):

- fs.data-index-node-local: Python's FileNotFoundError for numpy.load of the index files Megatron builds on global
  rank 0 only: megatron/core/datasets/gpt_dataset.py `_build_document_sample_shuffle_indices`
  ('<cache>/<md5>-<Dataset>-<split>-{document,sample,shuffle}_index.npy', "\\tLoad the document index from %s") and
  the legacy megatron/data/gpt_dataset.py `_build_index_mappings` ('<prefix>_..._{doc,sample,shuffle}_idx.npy',
  Megatron-DeepSpeed's index-cache '<md5>_doc_idx.npy'); NeMo's text_memmap_dataset.py ("Memory Map for {fn} is not
  found, missing one or more of files: {idx_fn}.{{.npy,.info}}").
- mpi.pmix-psec-unavailable: openpmix src/runtime/pmix_rte_init.c (error = "pmix_psec_base_open") through
  help-pmix-runtime.txt [pmix_init:startup:internal-failure] ("It looks like pmix_init failed for some reason ...",
  "%s failed", "--> Returned value %s (%d) instead of PMIX_SUCCESS") and help-pmix-mca-base.txt
  [find-available:not-valid] ("Host:      %s", "Framework: %s", "Component: %s").
- nvidia.egl-vendor-icd-missing: coreutils' "cannot access %s" (ls, stat) and "%s: No such file or directory" (cat)
  for glvnd's vendor file /usr/share/glvnd/egl_vendor.d/10_nvidia.json (libglvnd src/EGL/libeglvendor.c reads only
  that directory and /etc/glvnd/egl_vendor.d); nvdiffrast's "[F glutil.cpp:%d] eglInitialize() failed".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids


def _guarded(entry: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew44)."""
    assert entry in _ids(), entry


def test_the_new_readings_are_loaded() -> None:
    got = _ids()
    for sid in (
        "megatron.index-file-not-found",
        "nemo.memmap-index-not-found",
        "pmix.psec-base-open-failed",
        "pmix.psec-component-box",
        "pmix.init-failed-box",
        "pmix-psec-component-init-failed",
        "glvnd.nvidia-egl-vendor-json-absent",
    ):
        assert sid in got, sid


def test_the_new_causes_have_remedies() -> None:
    from tpdoctor.explain.signatures import knowledge_base
    from tpdoctor.model.fixes import remedies

    kb = knowledge_base()
    named = {c for s in kb.signatures for c in s.causes} | {c.emit for c in kb.correlations if c.emit}
    for cause in ("fs.data-index-node-local", "mpi.pmix-psec-unavailable", "nvidia.egl-vendor-icd-missing"):
        assert cause in named, cause
        assert remedies(cause), cause


# --- fs.data-index-node-local ----------------------------------------------------------------------------------------

_IDX = "fs.data-index-node-local"
_CORE = "[rank{r}]: FileNotFoundError: [Errno 2] No such file or directory: '/local/nvme/data/cache/GPTDataset_indices/{h}-GPTDataset-{split}-{kind}_index.npy'\n"


@pytest.mark.parametrize(
    "text",
    [
        # Megatron core (megatron/core/datasets): the three index files of a split
        _CORE.format(r=8, h="6d84f3595d97dfece2364c3950a26906", split="train", kind="document"),
        _CORE.format(r=12, h="d296b3899150edfd9092c34b30fa03c1", split="valid", kind="sample"),
        _CORE.format(r=15, h="fa7397310cb8333b787979cb7c45c55f", split="test", kind="shuffle"),
        # the legacy builder (Megatron-DeepSpeed's index-cache, GPT-NeoX), with pdsh's host prefix
        "node002: FileNotFoundError: [Errno 2] No such file or directory: '/raid/dataset/index-cache/43d5bc1477867ae12d66da383c2b664b_doc_idx.npy'\n",
        "10.0.3.17:     doc_idx = np.load(doc_idx_filename, allow_pickle=True, mmap_mode=\"r\")\n"
        "10.0.3.17: FileNotFoundError: [Errno 2] No such file or directory: 'data/enwik8/enwik8_text_document_train_indexmap_4096000ns_2048sl_1234s_sample_idx.npy'\n",
        # NeMo's memory-mapped JSONL dataset on a node that keeps its own copy
        "ValueError: Memory Map for /tmp/sft/train.jsonl is not found, missing one or more of files: /tmp/sft/train.jsonl.idx.{.npy,.info}\n",
    ],
)
def test_a_missing_index_file_names_node_local_storage(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_IDX, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # healthy: rank 0 announces the files it loads, GPT-NeoX builds them
        "\tLoad the document index from 6d84f3595d97dfece2364c3950a26906-GPTDataset-train-document_index.npy\n"
        "\tLoad the sample index from 6d84f3595d97dfece2364c3950a26906-GPTDataset-train-sample_index.npy\n",
        " > WARNING: could not find index map files, building the indices on rank 0 ...\n"
        " > elapsed time to build and save doc-idx mapping (seconds): 840.129082\n",
        "Building idx file = /data/sft/train.jsonl.idx\n",
        # the data prefix itself absent (a wrong --data-path), not an index built elsewhere
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/my-corpus_text_document.bin'\n",
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/my-corpus_text_document.idx'\n",
        # another .npy, or an index file named in prose
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/features/train_embeddings.npy'\n",
        "the index files (*_doc_idx.npy) are written under data/index-cache by rank 0\n",
    ],
)
def test_index_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("megatron.index-file-not-found")
    assert _IDX not in _all(tmp_path, text)


# --- mpi.pmix-psec-unavailable ---------------------------------------------------------------------------------------

_PSEC = "mpi.pmix-psec-unavailable"
_BOX = (
    "--------------------------------------------------------------------------\n"
    "A requested component was not found, or was unable to be opened.  This\n"
    "means that this component is either not installed or is unable to be\n"
    "used on your system (e.g., sometimes this means that shared libraries\n"
    "that the component requires are unable to be found/loaded).  Note that\n"
    "PMIx stopped checking at the first component that it did not find.\n"
    "\n"
    "Host:      {host}\n"
    "Framework: {fw}\n"
    "Component: {comp}\n"
    "--------------------------------------------------------------------------\n"
)
_INIT = (
    "--------------------------------------------------------------------------\n"
    "It looks like pmix_init failed for some reason; your parallel process is\n"
    "likely to abort.  There are many reasons that a parallel process can\n"
    "fail during pmix_init; some of which are due to configuration or\n"
    "environment problems.  This failure appears to be an internal failure;\n"
    "here's some additional information (which may only be relevant to an\n"
    "PMIX developer):\n"
    "\n"
)


@pytest.mark.parametrize(
    "text",
    [
        # the whole failure, as an srun --mpi=pmix task in an enroot/pyxis container prints it
        _BOX.format(host="gpu-node-07", fw="psec", comp="munge")
        + _INIT
        + "  pmix_psec_base_open failed\n  --> Returned value -46 instead of PMIX_SUCCESS\n"
        + "srun: error: gpu-node-07: task 0: Exited with exit code 1\n",
        # pmix_init's failure alone (the psec box scrolled away)
        _INIT + "  pmix_psec_base_open failed\n  --> Returned value -46 instead of PMIX_SUCCESS\n",
        # the box and pmix_init's failure, the step line cut from the excerpt
        _BOX.format(host="dgx-a100-03", fw="psec", comp="munge") + _INIT,
    ],
)
def test_a_missing_psec_component_names_the_pmix_build(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_PSEC, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # the psec box alone can be a warning the run survives (Slurm built against two PMIx versions)
        _BOX.format(host="c001", fw="psec", comp="munge") + "Hello world from rank 0 of 1\n",
        # other frameworks' boxes are harmless launcher warnings, even with an init failure of another step
        _BOX.format(host="gpu-st-p5e-1", fw="gds", comp="shmem2"),
        _BOX.format(host="n17", fw="ptl", comp="usock") + _INIT + "  pmix_ptl_base_select failed\n",
        # the fix and an ompi_info listing
        "export PMIX_MCA_psec=native\n",
        "                MCA psec: munge (MCA v2.1.0, API v1.0.0, Component v4.2.3)\n",
    ],
)
def test_psec_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("pmix.psec-base-open-failed")
    assert _PSEC not in _all(tmp_path, text)


# --- nvidia.egl-vendor-icd-missing -----------------------------------------------------------------------------------

_EGL = "nvidia.egl-vendor-icd-missing"


@pytest.mark.parametrize(
    "text",
    [
        "[F glutil.cpp:338] eglInitialize() failed\n"
        "root@7f1c2d3e4a5b:/workspace# ls /usr/share/glvnd/egl_vendor.d/10_nvidia.json\n"
        "ls: cannot access '/usr/share/glvnd/egl_vendor.d/10_nvidia.json': No such file or directory\n",
        "$ cat /usr/share/glvnd/egl_vendor.d/10_nvidia.json\n"
        "cat: /usr/share/glvnd/egl_vendor.d/10_nvidia.json: No such file or directory\n"
        "OpenGL.error.GLError: eglInitialize failed: EGL_NOT_INITIALIZED\n",
        "stat: cannot stat '/usr/local/share/glvnd/egl_vendor.d/10_nvidia.json': No such file or directory\n",
    ],
)
def test_no_nvidia_egl_vendor_file_names_the_icd(tmp_path: Path, text: str) -> None:
    assert _EGL in [c for c, _ in _findings(tmp_path, text)]


@pytest.mark.parametrize(
    "text",
    [
        # the file present, the fix on a command line, Mesa's vendor file absent
        "-rw-r--r-- 1 root root 107 Mar  4 10:12 /usr/share/glvnd/egl_vendor.d/10_nvidia.json\n",
        "docker run --gpus all -v /usr/share/glvnd/egl_vendor.d/10_nvidia.json:/usr/share/glvnd/egl_vendor.d/10_nvidia.json:ro img\n",
        "ls: cannot access '/usr/share/glvnd/egl_vendor.d/50_mesa.json': No such file or directory\n",
        # OpenCL's ICD is another cause's file
        "ls: cannot access '/etc/OpenCL/vendors/nvidia.icd': No such file or directory\n",
    ],
)
def test_egl_vendor_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("glvnd.nvidia-egl-vendor-json-absent")
    assert _EGL not in _all(tmp_path, text)
