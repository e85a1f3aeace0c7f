"""Issue 13, gnew37: cause ids for container/host causes the blind rounds named no id for (heldout35/36's lists).

Lines are written from the format strings of the code that prints them (not copied from any log):

- runtime.nvidia-low-level-runtime-missing: NVIDIA/nvidia-container-toolkit internal/oci/runtime_low_level.go
  findRuntime ('no runtime binary found from candidate list: %v', Go's %v of a []string: '[docker-runc runc crun]'),
  NewLowLevelRuntime ('error locating runtime: %v'), internal/runtime/runtime_factory.go ('error constructing
  low-level runtime: %v'), internal/runtime/runtime.go ('failed to create NVIDIA Container Runtime: %v', logged by
  logrus as 'ERRO[0000] ...') @d34b3046; the engine's 'OCI runtime create failed: ...: unknown' wrapping.
- fs.jit-cache-shared-fs: CPython's OSError str ('[Errno %d] %s: %r', and "'%s' -> '%s'" for a rename) of the
  calls in triton python/triton/runtime/cache.py FileCacheManager.put (os.makedirs, open, os.replace, os.removedirs
  of '<cache>/<key>/tmp.pid_<pid>_<uuid>'); DeepSpeed deepspeed/ops/transformer/inference/triton/matmul_ext.py
  TritonCacheDir.warn_if_nfs; mount(8)'s 'SOURCE on TARGET type FSTYPE (OPTIONS)'.
- runtime.nvidia-docker1-volume-cross-device: NVIDIA/nvidia-docker v1.0.1 src/nvidia-docker-plugin/main.go (log prefix
  '<argv0> | ', assert: log.Panicln("Error:", err)), src/nvidia/volumes.go (os.Link; Go's LinkError 'link %s %s: %v'
  with EXDEV's 'invalid cross-device link'); the volume path <-d>/nvidia_driver/<version>/<bin|lib|lib64>/<file>.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.model.facts import MountEntry
from tpdoctor.rules.jit_cache import jit_cache_local
from tpdoctor.rules.nvidia_toolkit import toolkit_low_level_runtime

_LLR = "runtime.nvidia-low-level-runtime-missing"
_SHARED = "fs.jit-cache-shared-fs"


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "nvidia.runtime-no-low-level-runtime", "jit.cache-stale-file-handle", "jit.cache-busy",
        "jit.cache-file-not-found", "jit-cache-network-fs", "jit-cache-busy-network-fs", "jit-cache-enoent-network-fs",
        "nvidia-docker1.volume-link-cross-device",
    ):
        assert sid in got, sid


# --- runtime.nvidia-low-level-runtime-missing ------------------------------------------------------------------------

_FIND = "error constructing low-level runtime: error locating runtime: no runtime binary found from candidate list: "
_LLR_LINES = {
    "version": "NVIDIA Container Runtime version 1.17.5\nERRO[0000] failed to create NVIDIA Container Runtime: "
    + _FIND + "[docker-runc runc crun]\n",
    "docker-run": "docker: Error response from daemon: failed to create task for container: failed to create shim task: "
    "OCI runtime create failed: failed to create NVIDIA Container Runtime: " + _FIND + "[docker-runc runc]: unknown.\n",
    "crio-event": "Error: container create failed: " + _FIND + "[runc crun]\n",
    "string-list": "  Warning  Failed  kubelet  Error: " + _FIND + '[["crun","runc"]]\n',
}


@pytest.mark.parametrize("form", sorted(_LLR_LINES))
def test_the_wrapper_without_a_low_level_runtime_is_proved(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _LLR_LINES[form])
    assert got and got[0] == (_LLR, "proves"), (form, got)
    assert "runtime.nvidia-toolkit-missing" not in [c for c, _ in got], got


@pytest.mark.parametrize(
    "text",
    [
        # the wrapper itself missing, and its PATH lookup of the hook: other ids
        'docker: Error response from daemon: OCI runtime create failed: unable to retrieve OCI runtime error: exec: '
        '"nvidia-container-runtime": executable file not found in $PATH: unknown.\n',
        # CRI-O's own validation of its runtime (no NVIDIA wrapper involved)
        'level=fatal msg="Validating runtime config: runtime validation: \\"runc\\" not found in $PATH: exec: '
        '\\"runc\\": executable file not found in $PATH"\n',
        # the debug lines of a lookup that succeeded
        "level=debug msg=\"Looking for runtime binary 'docker-runc'\"\nlevel=debug msg=\"Found runtime binary "
        "'[/usr/bin/runc]'\"\n",
    ],
)
def test_other_runtime_lookups_are_not_it(tmp_path: Path, text: str) -> None:
    assert _LLR not in _all(tmp_path, text)


def _host(tmp_path: Path, config: str | None, *files: str, wrapper: bool = True) -> Facts:
    fr = FakeRoot(tmp_path)
    fr.mounts = ["/dev/sda1 / ext4 rw,relatime 0 0", "devtmpfs /dev devtmpfs rw,nosuid 0 0"]
    fr.write("usr/bin/nvidia-container-runtime-hook", "")
    if wrapper:
        fr.write("usr/bin/nvidia-container-runtime", "")
    for f in files:
        fr.write(f, "")
        fr.path(f).chmod(0o755)  # the toolkit's locator wants an execute bit (pkg/lookup/executable.go)
    if config is not None:
        fr.write("etc/nvidia-container-runtime/config.toml", config)
    fr.flush()
    return collect_facts(fr.root, dict(fr.env), live=False)


def test_a_runtime_without_an_execute_bit_is_not_found(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path)
    fr.write("usr/bin/nvidia-container-runtime", "").write("usr/bin/runc", "")
    fr.path("usr/bin/runc").chmod(0o644)
    fr.flush()
    assert collect_facts(fr.root, dict(fr.env), live=False).nvidia_toolkit.runtime_found == ""


def test_more_candidates_than_judged_leave_the_runtime_unjudged(tmp_path: Path) -> None:
    names = ", ".join(f'"nope{i}"' for i in range(40))
    facts = _host(tmp_path, f'[nvidia-container-runtime]\nruntimes = [{names}, "runc"]\n', "usr/bin/runc")
    assert facts.nvidia_toolkit.runtime_found is None
    assert list(toolkit_low_level_runtime(facts, CheckOptions())) == []


def test_a_nul_byte_in_a_runtime_name_is_no_file(tmp_path: Path) -> None:
    facts = _host(tmp_path, '[nvidia-container-runtime]\nruntimes = ["runc\\u0000x", "/usr/bin/runc\\u0000y"]\n',
                  "usr/bin/runc")
    assert facts.nvidia_toolkit.runtime_found == ""


def test_check_finds_a_crio_node_whose_runtimes_are_off_path(tmp_path: Path) -> None:
    facts = _host(tmp_path, None, "usr/libexec/crio/crun", "usr/libexec/crio/runc")
    assert facts.nvidia_toolkit.runtimes == ["docker-runc", "runc", "crun"] and facts.nvidia_toolkit.runtime_found == ""
    (got,) = toolkit_low_level_runtime(facts, CheckOptions())
    assert got.cause == _LLR and got.severity.value == "blocker" and got.confidence == "suggests"
    assert "docker-runc, runc, crun" in got.message


def test_check_is_quiet_when_the_runtimes_list_names_crios_paths(tmp_path: Path) -> None:
    config = '[nvidia-container-runtime]\nruntimes = ["/usr/libexec/crio/crun", "/usr/libexec/crio/runc", "runc"]\n'
    facts = _host(tmp_path, config, "usr/libexec/crio/crun")
    assert facts.nvidia_toolkit.runtime_found == "/usr/libexec/crio/crun"
    assert list(toolkit_low_level_runtime(facts, CheckOptions())) == []


@pytest.mark.parametrize("where", ["usr/bin/runc", "usr/sbin/runc", "usr/local/bin/crun", "bin/docker-runc"])
def test_check_is_quiet_with_a_runtime_in_a_standard_directory(tmp_path: Path, where: str) -> None:
    facts = _host(tmp_path, None, where)
    assert facts.nvidia_toolkit.runtime_found == "/" + where
    assert list(toolkit_low_level_runtime(facts, CheckOptions())) == []


def test_check_reads_a_list_written_as_one_string_as_a_candidate_that_never_resolves(tmp_path: Path) -> None:
    config = "[nvidia-container-runtime]\nruntimes = ['[\"crun\",\"runc\"]']\n"
    facts = _host(tmp_path, config, "usr/bin/runc")
    (got,) = toolkit_low_level_runtime(facts, CheckOptions())
    assert '["crun","runc"]' in got.message


@pytest.mark.parametrize(
    "config,wrapper",
    [
        (None, False),  # the hook alone (docker --gpus): no wrapper to refuse anything
        ('[nvidia-container-runtime]\nruntimes = ["./runc"]\n', True),  # relative: the engine's working directory
        ("[nvidia-container-runtime]\nruntimes = [1, 2]\n", True),  # refused: runtime.toolkit-config-invalid
    ],
)
def test_check_does_not_judge_what_it_cannot_see(tmp_path: Path, config: str | None, wrapper: bool) -> None:
    facts = _host(tmp_path, config, wrapper=wrapper)
    assert list(toolkit_low_level_runtime(facts, CheckOptions())) == []


def test_a_runtimes_array_of_non_strings_is_a_config_the_toolkit_refuses(tmp_path: Path) -> None:
    facts = _host(tmp_path, "[nvidia-container-runtime]\nruntimes = [1, 2]\n")
    assert facts.nvidia_toolkit.config_refused == "nvidia-container-runtime.runtimes is an array of non-strings, not an array of strings"


# --- fs.jit-cache-shared-fs ------------------------------------------------------------------------------------------

_ESTALE = {
    "home-triton": "OSError: [Errno 116] Stale file handle: '/home/u/.triton/cache/Q2VOZXJ2/_padded_copy.json'\n",
    "pvc-tmp": "[rank1]: OSError: [Errno 116] Stale file handle: '/opt/app-root/src/.triton/cache/7XKZ/tmp.pid_41_0c5e8f6a'"
    "\n",
    "inductor": "OSError: [Errno 116] Stale file handle: '/shared/torchinductor_alice/triton/0/5NQ2/triton_.json'\n",
}
_EBUSY = (
    "OSError: [Errno 16] Device or resource busy: '/home/u/.triton/cache/KQ3Z/tmp.pid_52311_9c1d2e3f-4a5b-6c7d-8e9f'\n"
)
_NFS = {
    "mount": "server:/export/home on /home type nfs4 (rw,relatime,vers=4.2,rsize=1048576)\n",
    "deepspeed": "Warning: The cache directory for DeepSpeed Triton autotune, /home/u/.triton/autotune, appears to be on "
    "an NFS system. While this is generally acceptable, if you experience slowdowns or hanging when DeepSpeed exits, it "
    "is recommended to set the TRITON_CACHE_DIR environment variable to a non-NFS path.\n",
}
_ENOENT = "FileNotFoundError: [Errno 2] No such file or directory: '/home/u/.triton/cache/e3457c91/_fwd_kernel.json'\n"


@pytest.mark.parametrize("form", sorted(_ESTALE))
def test_a_stale_handle_in_a_jit_cache_is_proved(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _ESTALE[form])
    assert got and got[0] == (_SHARED, "proves"), (form, got)


def test_a_busy_publish_directory_suggests_it_and_a_network_mount_proves_it(tmp_path: Path) -> None:
    got = _findings(tmp_path, _EBUSY)
    assert got and got[0] == (_SHARED, "suggests"), got
    for fact in sorted(_NFS):
        got = _findings(tmp_path, _NFS[fact] + _EBUSY)
        assert got and got[0] == (_SHARED, "proves"), (fact, got)


def test_a_cache_file_not_found_counts_only_on_a_network_filesystem(tmp_path: Path) -> None:
    # alone it may be Triton's own race between ranks of one node before 3.0 (triton-lang/triton#2688)
    assert _SHARED not in _all(tmp_path, _ENOENT)
    got = _findings(tmp_path, _NFS["deepspeed"] + _ENOENT)
    assert got and got[0] == (_SHARED, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # ESTALE on another cache (Hugging Face datasets) or on the triton package itself in an NFS environment
        "OSError: [Errno 116] Stale file handle: '/home/x/.cache/huggingface/datasets/text/default/cache-1.arrow'\n",
        "OSError: [Errno 116] Stale file handle: '/nfs/env/lib/python3.10/site-packages/triton/_C/libtriton.so'\n",
        # EBUSY on a GPU node, DeepSpeed's warning alone (a healthy run prints it), an NFS home alone
        "OSError: [Errno 16] Device or resource busy: '/dev/nvidia0'\n",
        _NFS["deepspeed"],
        _NFS["mount"] + "Compiling Triton kernels ...\n",
    ],
)
def test_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    assert _SHARED not in _all(tmp_path, text)


def _facts(env: dict[str, str], *mounts: tuple[str, str, str]) -> Facts:
    f = Facts()
    f.env.update(env)
    f.mounts.append(MountEntry(source="/dev/sda1", target="/", fstype="ext4", options=["rw"]))
    f.mounts.extend(MountEntry(source=s, target=t, fstype=fs, options=["rw"]) for s, t, fs in mounts)
    return f


def test_check_finds_the_default_triton_cache_in_an_nfs_home_for_two_ranks() -> None:
    facts = _facts({"HOME": "/home/alice"}, ("server:/export/home", "/home", "nfs4"))
    (got,) = jit_cache_local(facts, CheckOptions(tp=2))
    assert got.cause == _SHARED and got.severity.value == "degraded" and got.confidence == "suggests"
    assert "/home/alice/.triton/cache" in got.message


def test_check_finds_an_explicit_cache_on_lustre() -> None:
    facts = _facts({"HOME": "/root", "TRITON_CACHE_DIR": "/lustre/proj/triton"}, ("10.0.0.1@o2ib:/fs", "/lustre", "lustre"))
    (got,) = jit_cache_local(facts, CheckOptions(tp=4, pp=2))
    assert "TRITON_CACHE_DIR" in got.message and "lustre" in got.evidence[0].text


@pytest.mark.parametrize(
    "env,mounts,tp",
    [
        ({"HOME": "/home/alice"}, [("server:/export/home", "/home", "nfs4")], 1),  # one rank compiles alone
        ({"HOME": "/home/alice", "TRITON_CACHE_DIR": "/tmp/triton", "TORCH_EXTENSIONS_DIR": "/tmp/ext"},
         [("server:/export/home", "/home", "nfs")], 2),  # moved off the NFS home (TMPDIR unset: /tmp, local)
        ({"HOME": "/root"}, [("tmpfs", "/tmp", "tmpfs"), ("overlay", "/root", "overlay")], 8),  # local filesystems
    ],
)
def test_check_is_quiet_for_local_caches_or_one_rank(env: dict[str, str], mounts: list[tuple[str, str, str]], tp: int) -> None:
    assert list(jit_cache_local(_facts(env, *mounts), CheckOptions(tp=tp))) == []


# --- runtime.nvidia-docker1-volume-cross-device ----------------------------------------------------------------------

_XDEV = {
    "plugin": "/usr/bin/nvidia-docker-plugin | 2017/09/22 00:29:01 Error: link /usr/lib/nvidia-375/bin/nvidia-cuda-mps-"
    "control /var/lib/nvidia-docker/volumes/nvidia_driver/375.66/bin/nvidia-cuda-mps-control: invalid cross-device link\n",
    "journald": "Oct 10 18:46:05 lab nvidia-docker-plugin[811]: /usr/bin/nvidia-docker-plugin | 2016/10/10 18:46:05 Error: "
    "link /usr/lib64/nvidia/libcuda.so.361.93.02 /var/lib/nvidia-docker/volumes/nvidia_driver/361.93.02/lib64/"
    "libcuda.so.361.93.02: invalid cross-device link\n",
    "volume-setup": "nvidia-docker | 2016/01/21 20:42:37 Error: link /usr/bin/nvidia-smi /home/docker/volumes/nvidia_"
    "driver_352.68/_data/bin/nvidia-smi: invalid cross-device link\n",
}


@pytest.mark.parametrize("form", sorted(_XDEV))
def test_the_plugins_cross_device_link_is_proved(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _XDEV[form])
    assert got and got[0] == ("runtime.nvidia-docker1-volume-cross-device", "proves"), (form, got)


@pytest.mark.parametrize(
    "text",
    [
        "Error: link /data/a.bin /scratch/a.bin: invalid cross-device link\n",
        "OSError: [Errno 18] Invalid cross-device link: '/tmp/model.bin' -> '/models/model.bin'\n",
        "docker: Error response from daemon: create nvidia_driver_375.66: VolumeDriver.Create: internal error, check "
        "logs for details.\n",
    ],
)
def test_other_cross_device_errors_and_docker_alone_are_not_it(tmp_path: Path, text: str) -> None:
    assert "runtime.nvidia-docker1-volume-cross-device" not in _all(tmp_path, text)
