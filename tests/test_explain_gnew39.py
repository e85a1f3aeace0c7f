"""Issue 13, gnew39: cause ids for container/host causes the blind rounds named no id for (heldout38/39's lists).

Lines are written from the format strings of the code that prints them (not copied from any log):

- nvidia.persistence-mode-off: NVIDIA/libnvidia-container src/rpc.h call_rpc (error_set_rpc(err, r_, "rpc error")),
  src/error.c error_set_rpc (clnt_sperrno(RPC_TIMEDOUT) without its 'RPC: ' prefix), src/rpc.c setup_client (the
  10-second CLSET_TIMEOUT), the CLI's 'initialization error: %s'; the engine's hook wrapping ('error running hook #0:
  error running hook: exit status 1, stdout: , stderr: ...: unknown.'); nvidia-smi's table row (persistence before
  the bus id) and `nvidia-smi -q`'s 'Persistence Mode : Disabled'.
- fs.data-cache-shared-fs: CPython's OSError str ('[Errno %d] %s: %r') of the datasets library's Arrow cache files
  (src/datasets/arrow_dataset.py cache-<fingerprint>.arrow, <builder>-<split>.arrow under HF_DATASETS_CACHE,
  src/datasets/config.py), and fcntl.flock's ENOLCK ('[Errno 37] No locks available') under filelock's _acquire.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.model.facts import MountEntry
from tpdoctor.rules.jit_cache import hf_datasets_cache_dir, hf_datasets_cache_local

_PM = "nvidia.persistence-mode-off"
_DATA = "fs.data-cache-shared-fs"
_TK = "runtime.nvidia-toolkit-missing"


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "nvidia.hook-driver-rpc-timeout", "nvidia-persistence-mode-off", "hook-timeout-persistence-off",
        "hf.datasets-cache-stale-file-handle", "fs.flock-no-locks-available", "hf-datasets-used", "data-cache-enolck-hf",
    ):
        assert sid in got, sid


# --- nvidia.persistence-mode-off -----------------------------------------------------------------------------------

_HOOK = (
    "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: "
    "unable to start container process: error during container init: error running hook #0: error running hook: exit "
    "status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
)
_TIMEOUT = {
    "rpc": _HOOK + "nvidia-container-cli: initialization error: driver rpc error: timed out: unknown.\n",
    "ubuntu-real": "Error: container create failed: time=\"2024-09-26T09:22:02Z\" level=error msg=\"runc create failed: "
    "error running hook #0: error running hook: exit status 1, stdout: , stderr: nvidia-container-cli.real: "
    "initialization error: driver rpc error: timed out\\n\"\n",
    "2018": "running prestart hook 1 caused \\\"error running hook: exit status 1, stdout: , stderr: exec command: "
    "[/usr/bin/nvidia-container-cli --load-kmods configure --ldconfig=@/sbin/ldconfig --device=all --compute --utility "
    "--pid=4107 /var/lib/docker/overlay2/3d39/merged]\\\\nnvidia-container-cli: initialization error: driver error: "
    "timed out\\\\n\\\"\": unknown.\n",
    "ecs": "CannotStartContainerError: Error response from daemon: failed to create task for container: failed to create "
    "shim task: OCI runtime create failed: runc create failed: unable to start container process: error during "
    "container init: error running hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as "
    "'legacy'\\nnvidia-container-cli: initialization error: driver rpc error: timed out: unknown\n",
}
_SMI_OFF = {
    "table-old": "|   0  Tesla K80           Off  | 00001128:00:00.0 Off |                    0 |\n",
    "table-new": "|   0  NVIDIA H100 80GB HBM3          Off |   00000000:18:00.0 Off |                    0 |\n",
    "query": "    Persistence Mode                      : Disabled\n",
}
_SMI_ON = "|   0  NVIDIA H100 80GB HBM3          On  |   00000000:18:00.0 Off |                    0 |\n"


@pytest.mark.parametrize("form", sorted(_TIMEOUT))
def test_the_hooks_driver_rpc_timeout_suggests_persistence_and_not_the_toolkit(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _TIMEOUT[form])
    assert got and got[0] == (_PM, "suggests"), (form, got)
    assert _TK not in [c for c, _ in got], (form, got)


@pytest.mark.parametrize("smi", sorted(_SMI_OFF))
def test_nvidia_smi_showing_persistence_off_proves_it(tmp_path: Path, smi: str) -> None:
    got = _findings(tmp_path, _SMI_OFF[smi] + _TIMEOUT["rpc"])
    assert got and got[0] == (_PM, "proves"), (smi, got)


def test_persistence_on_or_a_display_column_off_does_not_prove_it(tmp_path: Path) -> None:
    # the Disp.A column after the bus id is Off on servers: only the column before the bus id is persistence
    got = _findings(tmp_path, _SMI_ON + _TIMEOUT["rpc"])
    assert got and got[0] == (_PM, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # nvcgo's helper timing out (a Go runtime starting on a loaded node, nvidia-container-toolkit#2102)
        "nvidia-container-cli: initialization error: nvcgo rpc error: timed out\n",
        # WSL's failed request, a browser driver's timeout, nvidia-smi alone with persistence off
        "stderr: nvidia-container-cli: initialization error: driver rpc error: failed to process request\n",
        "DRIVER ERROR: timed out waiting for http://127.0.0.1:9223/json\n",
        _SMI_OFF["table-new"] + _SMI_OFF["query"],
        # a GPU the driver lost times the RPC out too (NVIDIA's GPU Operator troubleshooting page, Xid 79)
        _TIMEOUT["ubuntu-real"] + "NVRM: Xid (PCI:0000:ca:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n",
    ],
)
def test_look_alikes_of_the_timeout_stay_clean(tmp_path: Path, text: str) -> None:
    assert _PM not in _all(tmp_path, text)


def test_the_hooks_other_initialization_errors_keep_their_reading(tmp_path: Path) -> None:
    got = _all(tmp_path, "nvidia-container-cli: initialization error: driver error: failed to process request\n")
    assert _TK in got and _PM not in got, got


# --- fs.data-cache-shared-fs ----------------------------------------------------------------------------------------

_ESTALE = {
    "builder": "OSError: [Errno 116] Stale file handle: '/home/xxx/.cache/huggingface/datasets/text/default-5ae4e0d1c3f5"
    "a0b8/0.0.0/c4a140d10f020282/text-train.arrow'\n",
    "map-cache": "[rank1]: OSError: [Errno 116] Stale file handle: '/shared/cache/json/default-1c2d3e4f/0.0.0/7d8e9f/"
    "cache-0123456789abcdef.arrow'\n",
    "map-num-proc": "OSError: [Errno 116] Stale file handle: '/data/hf/json/default/0.0.0/ab/cache-0123456789abcdef_00003"
    "_of_00008.arrow'\n",
    "hub": "OSError: [Errno 116] Stale file handle: '/nfs/home/u/.cache/huggingface/hub/models--org--m/blobs/3f2a'\n",
}
_ENOLCK = (
    '  File "/opt/conda/lib/python3.10/site-packages/datasets/load.py", line 2129, in load_dataset\n'
    '  File "/opt/conda/lib/python3.10/site-packages/filelock/_unix.py", line 43, in _acquire\n'
    "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "OSError: [Errno 37] No locks available\n"
)


@pytest.mark.parametrize("form", sorted(_ESTALE))
def test_a_stale_handle_in_the_datasets_cache_is_proved(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _ESTALE[form])
    assert got and got[0] == (_DATA, "proves"), (form, got)
    assert "fs.jit-cache-shared-fs" not in [c for c, _ in got]


def test_enolck_counts_only_beside_the_datasets_library(tmp_path: Path) -> None:
    got = _findings(tmp_path, _ENOLCK)
    assert got and got[0] == (_DATA, "suggests"), got
    assert _DATA not in _all(tmp_path, "OSError: [Errno 37] No locks available\n")


@pytest.mark.parametrize(
    "text",
    [
        # a JIT cache (fs.jit-cache-shared-fs's), the datasets package itself in site-packages on NFS
        "OSError: [Errno 116] Stale file handle: '/home/alice/.triton/cache/Q2VOZXJ2/_padded_copy.json'\n",
        "OSError: [Errno 116] Stale file handle: '/nfs/env/lib/python3.10/site-packages/datasets/arrow_dataset.py'\n",
        # ESTALE without a path, another errno on a cache file
        "OSError: [Errno 116] Stale file handle:\n",
        "FileNotFoundError: [Errno 2] No such file or directory: '/root/.cache/huggingface/datasets/x/cache-0123456789abcdef.arrow'\n",
    ],
)
def test_look_alikes_of_the_data_cache_stay_clean(tmp_path: Path, text: str) -> None:
    assert _DATA not in _all(tmp_path, text)


def _facts(env: dict[str, str], *mounts: tuple[str, str, str]) -> Facts:
    f = Facts()
    f.env.update(env)
    f.mounts.append(MountEntry(source="/dev/sda1", target="/", fstype="ext4", options=["rw"]))
    f.mounts.extend(MountEntry(source=s, target=t, fstype=fs, options=["rw"]) for s, t, fs in mounts)
    return f


@pytest.mark.parametrize(
    "env,want",
    [
        ({"HOME": "/home/a"}, "/home/a/.cache/huggingface/datasets"),
        ({"HOME": "/home/a", "XDG_CACHE_HOME": "/scratch/c"}, "/scratch/c/huggingface/datasets"),
        ({"HOME": "/home/a", "HF_HOME": "/shared/hf"}, "/shared/hf/datasets"),
        ({"HOME": "/home/a", "HF_HOME": "/shared/hf", "HF_DATASETS_CACHE": "//tmp/d/"}, "/tmp/d"),
    ],
)
def test_the_datasets_cache_is_picked_as_the_library_picks_it(env: dict[str, str], want: str) -> None:
    picked = hf_datasets_cache_dir(env)
    assert picked is not None and picked[1] == want


def test_check_notes_the_default_datasets_cache_in_an_nfs_home_for_two_ranks() -> None:
    facts = _facts({"HOME": "/home/alice"}, ("server:/export/home", "/home", "nfs4"))
    (got,) = hf_datasets_cache_local(facts, CheckOptions(tp=2))
    assert got.cause == _DATA and got.severity.value == "notice" and got.confidence == "suggests"
    assert "/home/alice/.cache/huggingface/datasets" in got.message and "nfs4" in got.evidence[0].text


@pytest.mark.parametrize(
    "env,mounts,tp",
    [
        ({"HOME": "/home/alice"}, [("server:/export/home", "/home", "nfs4")], 1),  # one rank
        ({"HOME": "/home/alice", "HF_DATASETS_CACHE": "/tmp/hf"}, [("server:/export/home", "/home", "nfs")], 2),
        ({"HOME": "/root"}, [("overlay", "/root", "overlay")], 8),  # local filesystems
        ({"HF_HOME": "relative/hf"}, [("server:/x", "/", "nfs")], 2),  # a relative path is not judged
    ],
)
def test_check_is_quiet_for_a_local_cache_or_one_rank(env: dict[str, str], mounts: list[tuple[str, str, str]], tp: int) -> None:
    assert list(hf_datasets_cache_local(_facts(env, *mounts), CheckOptions(tp=tp))) == []
