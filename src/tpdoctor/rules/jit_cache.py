"""Where JIT compilers put the shared objects they build and then load (issue 13, gnew36): fs.jit-cache-noexec.

Triton compiles a small C launcher (cuda_utils / hip_utils, __triton_launcher) per kernel signature into its cache
and imports it; TorchInductor keeps its generated code and its Triton cache under its own cache directory; torch's
cpp_extension builds into TORCH_EXTENSIONS_DIR. glibc's loader maps each with PROT_EXEC, which mmap(2) refuses
with EPERM on a filesystem mounted noexec ("failed to map segment from shared object"; pytorch/pytorch#91005,
#123054). Docker (and older Podman) mount a `--tmpfs` noexec,nosuid,nodev unless its options say `exec` (moby
daemon/oci_linux.go), and hardened hosts mount /tmp noexec (CIS).

gnew37: fs.jit-cache-shared-fs. The same caches on a network filesystem that several ranks or nodes compile into
at once: Triton publishes each file through a tmp.pid_<pid>_<uuid> directory, os.replace and os.removedirs
(python/triton/runtime/cache.py FileCacheManager.put), which NFS's silly-renames and client caches break between
processes and hosts (ESTALE, EBUSY; pytorch/pytorch#173679, opendatahub-io/distributed-workloads#844,
triton-lang/triton#11512).

gnew39: fs.data-cache-shared-fs. The Hugging Face datasets cache of a multi-rank job on such a filesystem (Arrow files
renamed into place under filelock locks: ESTALE, ENOLCK; hiyouga/LlamaFactory#3388, huggingface/datasets#2618)."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.facts.cache_dirs import hf_datasets_cache_dir, jit_cache_dirs
from tpdoctor.facts.system import mount_for
from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.model.facts import MountEntry
from tpdoctor.rules.gpus import multi_rank
from tpdoctor.rules.registry import fact_rule

# Filesystem types /proc/self/mounts gives a network or cluster filesystem that several hosts share: NFS, Lustre,
# CIFS/SMB, IBM Storage Scale (GPFS), BeeGFS, CephFS (kernel and FUSE), GlusterFS.
NETWORK_FSTYPES = frozenset(
    {"nfs", "nfs4", "lustre", "cifs", "smb3", "smbfs", "gpfs", "beegfs", "ceph", "fuse.ceph-fuse", "fuse.glusterfs",
     "glusterfs"}
)


def explicit_cache_dirs(env: dict[str, str]) -> list[tuple[str, str]]:
    """(what, directory) of the caches a variable names (TRITON_CACHE_DIR, TRITON_HOME, TORCHINDUCTOR_CACHE_DIR,
    TORCH_EXTENSIONS_DIR): the ones check and audit judge. A default location is left unjudged (see below)."""
    return [(c.what, c.path) for c in jit_cache_dirs(env) if c.explicit]


@fact_rule("fs.jit-cache-noexec")
def jit_cache_exec(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The JIT caches (Triton, TorchInductor, torch extensions) are on filesystems that allow executable mappings.

    **What it checks.** For each cache directory as the library picks it from the environment
    (`TRITON_CACHE_DIR`, else `TRITON_HOME` or `HOME` + `/.triton/cache`; `TORCHINDUCTOR_CACHE_DIR`, else
    the temp dir + `torchinductor_<user>`; `TORCH_EXTENSIONS_DIR`, else `~/.cache/torch_extensions`), the mount that holds it in
    /proc/self/mounts: a `noexec` among its options is this finding, for a directory `TRITON_CACHE_DIR`,
    `TRITON_HOME`, `TORCHINDUCTOR_CACHE_DIR` or `TORCH_EXTENSIONS_DIR` names (a blocker; `TMPDIR` alone is not
    judged: Slurm sets it per job). A default location is not judged: a `--tmpfs /tmp` is noexec unless it says `exec`, oneCCL's
    IPC sockets and read-only root filesystems need one, most jobs never compile, and a framework may move
    its caches (vLLM puts its compile caches under VLLM_CACHE_ROOT).

    **Why it matters.** Triton compiles a launcher (`cuda_utils.so`, `__triton_launcher.so`) into its cache
    and imports it; the loader maps it executable, which a noexec filesystem refuses: "failed to map segment
    from shared object" at the first Triton kernel, so torch.compile, vLLM and SGLang stop although the
    compile succeeded (pytorch/pytorch#91005, #123054). Docker mounts a `--tmpfs` noexec unless its options
    say `exec` (older Podman did too); hardened hosts mount /tmp noexec.

    **How to fix.** Point `TRITON_CACHE_DIR` and `TORCHINDUCTOR_CACHE_DIR` (or `TMPDIR`) at an exec-mounted
    directory (the image's layer, a volume, an emptyDir), or give the tmpfs `exec` (`--tmpfs /tmp:exec`).

    **Example.** `docker run --tmpfs /tmp -e TRITON_CACHE_DIR=/tmp/triton ...`: /tmp is a tmpfs with noexec.
    """
    if not facts.mounts:
        return
    hits: list[tuple[str, str, MountEntry]] = []
    for what, directory in explicit_cache_dirs(facts.env):
        # a default location on a noexec /tmp is not judged: `--tmpfs /tmp` (noexec unless it says exec) is what
        # oneCCL's IPC sockets and read-only root filesystems need, and most jobs never run torch.compile; the
        # container matrix (tests/containers/) runs such containers as expected clean; and on a GPU the default path
        # survives it: a CUDA torch.compile with /tmp noexec ran and matched eager on an H100 (Triton's launcher and
        # kernels live in ~/.triton/cache), only a CPU compile's .so in /tmp/torchinductor_<user> failed
        # (bench/gpu/tmp_noexec_h200x1.sh, docs/generate.md). Only an explicit cache reaches the list, so the finding
        # is always a blocker that proves it: the degraded/suggests branch for a default location could never run
        # and is gone (gprec48; deploy audit judges the same way, tests/test_audit_jit_cache.py)
        m = mount_for(facts, directory)
        if m is not None and "noexec" in m.options:
            hits.append((what, directory, m))
    if not hits:
        return
    evidence = [
        (what, f"{directory}: on {m.target} ({m.fstype}, {','.join(m.options)})") for what, directory, m in hits
    ]
    names = ", ".join(f"{directory} ({what})" for what, directory, _ in hits)
    yield make_finding(
        "fs.jit-cache-noexec",
        f"The JIT cache directory {names} is on a filesystem mounted noexec: Triton/TorchInductor compile their "
        "shared objects there and then cannot load them ('failed to map segment from shared object').",
        evidence,
        severity="blocker",
        confidence="proves",
    )


@fact_rule("fs.jit-cache-shared-fs")
def jit_cache_local(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The JIT caches that several ranks compile into are not on a network filesystem.

    **What it checks.** For a job of two or more local ranks (`--tp` x `--pp`, or the visible GPUs), each
    cache directory as the library picks it from the environment (`TRITON_CACHE_DIR`, else `TRITON_HOME` or
    `HOME` + `/.triton/cache`; `TORCHINDUCTOR_CACHE_DIR`, else the temp dir (`TMPDIR`, `TEMP` or `TMP`, else
    `/tmp`) + `torchinductor_<user>`; `TORCH_EXTENSIONS_DIR`, else `~/.cache/torch_extensions`), default locations
    included: the mount that holds it in
    /proc/self/mounts, when its type is NFS, Lustre, CIFS/SMB, GPFS, BeeGFS, CephFS or GlusterFS, is this
    finding (degraded: most compiles succeed, a rank fails now and then).

    **Why it matters.** Triton publishes each compiled file by writing it into a `tmp.pid_<pid>_<uuid>`
    directory in its cache, renaming it over the final name and removing the directory. On NFS a file that
    another process holds is silly-renamed to `.nfsXXXX` (the directory stays busy) and another client's
    cached handle of a replaced file goes stale, so ranks compiling the same kernels into one shared cache
    fail at their first compile with `OSError: [Errno 116] Stale file handle` or `[Errno 16] Device or
    resource busy` (pytorch/pytorch#173679, ServiceNow/Fast-LLM#45, opendatahub-io/distributed-workloads#844,
    triton-lang/triton#11512); the default cache sits in the home directory, which clusters mount over NFS.

    **How to fix.** Give each node (or pod) a local cache: `TRITON_CACHE_DIR`, `TORCHINDUCTOR_CACHE_DIR` and
    `TORCH_EXTENSIONS_DIR` on local disk, the container's /tmp (with `exec`) or an emptyDir.

    **Example.** `HOME=/home/alice` on `server:/export/home` (nfs4), no `TRITON_CACHE_DIR`, `--tp 4`.
    """
    if not facts.mounts:
        return
    if not multi_rank(facts, options):
        return
    hits: list[tuple[str, str, MountEntry]] = []
    for c in jit_cache_dirs(facts.env):
        m = mount_for(facts, c.path)
        if m is not None and m.fstype in NETWORK_FSTYPES:
            hits.append((c.what, c.path, m))
    if not hits:
        return
    evidence = [(what, f"{directory}: on {m.target} ({m.fstype} from {m.source})") for what, directory, m in hits]
    names = ", ".join(f"{directory} ({what})" for what, directory, _ in hits)
    yield make_finding(
        "fs.jit-cache-shared-fs",
        f"The JIT cache directory {names} is on a network filesystem: ranks that compile the same Triton kernels "
        "into one shared cache race on its files there ('Stale file handle', 'Device or resource busy').",
        evidence,
        severity="degraded",
        # whether the job compiles at all (torch.compile, Triton kernels, a JIT extension) is not known here
        confidence="suggests",
    )


@fact_rule("fs.data-cache-shared-fs")
def hf_datasets_cache_local(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The Hugging Face datasets cache of a multi-rank job is not on a network filesystem (gnew39).

    **What it checks.** For a job of two or more local ranks (`--tp` x `--pp`, or the visible GPUs), the
    datasets cache directory as the library picks it (`HF_DATASETS_CACHE`, else `HF_HOME/datasets`, else
    `~/.cache/huggingface/datasets`): the mount that holds it in /proc/self/mounts, when its type is NFS,
    Lustre, CIFS/SMB, GPFS, BeeGFS, CephFS or GlusterFS, is this finding (a notice: whether the job loads a
    dataset at all is not known; serving jobs usually do not).

    **Why it matters.** The datasets library writes its Arrow cache files and renames them into place under
    filelock locks; on a network filesystem ranks or nodes preparing the same dataset fail with `OSError:
    [Errno 116] Stale file handle` on a cache path (hiyouga/LlamaFactory#3388), or the lock fails or hangs
    where the mount cannot lock (`[Errno 37] No locks available`, huggingface/datasets#2618, #6744).

    **How to fix.** Keep the processed cache node-local (`HF_DATASETS_CACHE` on local disk, /tmp or an
    emptyDir), or download the dataset to a local folder and load it from there.

    **Example.** `HOME=/home/alice` on `server:/export/home` (nfs4), no `HF_DATASETS_CACHE`, `--tp 4`.
    """
    if not facts.mounts:
        return
    picked = hf_datasets_cache_dir(facts.env)
    if picked is None:
        return
    if not multi_rank(facts, options):
        return
    what, directory = picked
    m = mount_for(facts, directory)
    if m is None or m.fstype not in NETWORK_FSTYPES:
        return
    yield make_finding(
        "fs.data-cache-shared-fs",
        f"The Hugging Face datasets cache {directory} ({what}) is on a network filesystem: ranks or nodes that "
        "prepare the same dataset there race on its Arrow files and locks ('Stale file handle', 'No locks available').",
        [(what, f"{directory}: on {m.target} ({m.fstype} from {m.source})")],
        severity="notice",
        # whether the job loads a dataset at all is not known here
        confidence="suggests",
    )


@fact_rule("fs.jit-cache-other-owner")
def jit_cache_owner(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The JIT cache directories this job will write into are not another UID's that it cannot write (gnew47).

    **What it checks.** Each JIT cache directory that already exists where the job's compilers will write
    (facts/cache_dirs.py, facts/jit_cache.py): the one `TORCHINDUCTOR_CACHE_DIR`, `TORCH_EXTENSIONS_DIR`,
    `TRITON_CACHE_DIR` or `TRITON_HOME` names; TorchInductor's default, the temp dir (`TMPDIR`, `TEMP` or `TMP`,
    else /tmp) + `torchinductor_<user>` with the user name
    `getpass.getuser()` gives (`LOGNAME`, `USER`, ..., else /etc/passwd); and the temp dir's `torch_extensions`
    (torch before 1.6) or `/tmp/triton` (Triton 1.x) where such a release is installed. A directory owned by
    another UID that this process may not write and search (live: access(2); under `--root` its mode bits against
    the process's uid, gid and groups) is this finding: a blocker where a variable names it, degraded (suggests)
    for a default location, since whether the job compiles at all is not known.

    **Why it matters.** These directories sit at one path for every UID of the machine or of a shared /tmp mount:
    whoever compiles first owns it (another user, the image's build step as root, a container run as root before
    one run with `--user`, or root in a user namespace under the same name), and the next UID's compile or lock
    file fails with `[Errno 13] Permission denied: '/tmp/torchinductor_root/...'` (`/tmp/torch_extensions/<ext>`,
    `/tmp/triton/<hash>.lock`) on every rank (pytorch/pytorch#34238, triton-lang/triton#518).

    **How to fix.** Give the job its own cache (`TORCHINDUCTOR_CACHE_DIR`, `TORCH_EXTENSIONS_DIR`,
    `TRITON_CACHE_DIR` under `$HOME` or `/tmp/$USER`, a per-job volume), or have the owner (or root) remove or
    chown the stale directory.

    **Example.** uid 1000 with `USER=root` left in the image's environment, and `/tmp/torchinductor_root` made
    by an earlier root run (owner 0, mode 0755).
    """
    uid = facts.process.uid
    if uid is None:
        return
    hits = [c for c in facts.jit_caches if c.writable is False and c.uid is not None and c.uid != uid]
    if not hits:
        return
    explicit = any(c.explicit for c in hits)
    evidence = [
        (
            c.what,
            f"{c.path}: owner uid {c.uid}, gid {c.gid}, mode {c.mode:04o}" if c.mode is not None
            else f"{c.path}: owner uid {c.uid}",
        )
        for c in hits
    ]
    evidence.append(("this process", f"uid {uid}, gid {facts.process.gid}: may not create files in it"))
    names = ", ".join(f"{c.path} (uid {c.uid})" for c in hits)
    yield make_finding(
        "fs.jit-cache-other-owner",
        f"The JIT cache directory {names} belongs to another UID and this user (uid {uid}) cannot write into it: "
        "the first kernel or extension compiled there stops with '[Errno 13] Permission denied'.",
        evidence,
        severity="blocker" if explicit else "degraded",
        confidence="proves" if explicit else "suggests",
    )
