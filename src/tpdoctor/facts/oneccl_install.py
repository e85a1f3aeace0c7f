"""Every way oneCCL is installed in the root, and what could load it.

- pip `oneccl` / `oneccl-devel` (and torch's XPU wheel that requires them): the wheel puts
  libccl.so.1 in `<prefix>/lib/` and `oneccl-<ver>.dist-info` in site-packages (layout of the
  real `oneccl-2021.15.1` wheel's RECORD: `../../libccl.so.1`, bench/oneccl_pip_layout.sh);
- torch's `torch-<ver>.dist-info/METADATA` `Requires-Dist: oneccl==X` (pytorch
  .github/scripts/generate_binary_build_matrix.py, PYTORCH_EXTRA_INSTALL_REQUIREMENTS["xpu"]),
  and `torch/lib/libtorch_xpu.so`, whose DT_RPATH is `$ORIGIN/../../../..:$ORIGIN` (pytorch
  .ci/manywheel/build_xpu.sh: LIB_SO_RPATH with FORCE_RPATH=--force-rpath), i.e. `<prefix>/lib`;
- `/opt/intel/oneapi/ccl/<ver>/` behind `setvars.sh` / `env/vars.sh`, and ipex-llm's
  `/opt/intel/1ccl-wks`;
- `oneccl_bindings_for_pytorch` (pip `oneccl_bind_pt`), which carries its own `lib/libccl.so*`.

Everything is read inside the root: directories and files are resolved component by component
with `/` mapped to the root (fsutil.resolve_in_root) and opened with O_NOFOLLOW, so a link in a
fake or foreign root never leads outside it. Which library the job loads is decided by the
rules (oneccl/loader.py) from these facts, so a snapshot can be judged anywhere.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat

from tpdoctor.facts import fsutil
from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.elf import ElfError, read_dynamic
from tpdoctor.facts.fsutil import host_path, resolve_in_root
from tpdoctor.model.facts import GLIBC_DEFAULT_DIRS, CclLibrary, CclLoader, Facts, PythonPackage

LIBCCL = "libccl.so.1"  # libccl's SONAME (readelf -d of the 2021.15.1 wheel's libccl.so.1.0)
MAX_METADATA = 1 << 20
MAX_ENTRIES = 20000
# Prefixes where images install Python: llm-scaler and intel/pytorch use /opt/venv
# (llm-scaler vllm/docker/Dockerfile: `/opt/venv/lib/libccl.so.1`), the vLLM XPU image a venv
# or the system Python, conda images /opt/conda.
KNOWN_PREFIXES = ("/opt/venv", "/opt/conda", "/usr/local", "/usr")
ONEAPI_CCL = "/opt/intel/oneapi/ccl"
IPEX_LLM_CCL = "/opt/intel/1ccl-wks"
PACKAGES = {"oneccl", "oneccl-devel", "torch", "oneccl-bind-pt", "vllm"}
_VERSION_IN_PATH = re.compile(r"/(?:ccl|oneapi)/(20\d\d\.\d+(?:\.\d+)?)(?:/|$)")
_REQ_ONECCL = re.compile(r"^Requires-Dist:\s*oneccl\s*\(?\s*==\s*([0-9][0-9.]*)", re.M | re.I)


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolved_dir(ctx: CollectContext, inroot: str) -> str | None:
    """The in-root directory `inroot` leads to, or None when it is not a directory."""
    res = resolve_in_root(ctx.root, inroot)
    return res if res is not None and host_path(ctx.root, res).is_dir() else None


def list_dir(ctx: CollectContext, inroot: str) -> list[str]:
    res = resolved_dir(ctx, inroot)
    if res is None:
        return []
    try:
        names = os.listdir(host_path(ctx.root, res))
    except OSError:
        return []
    return sorted(names[:MAX_ENTRIES])


def open_in_root(ctx: CollectContext, inroot: str) -> int | None:
    """An fd on the regular file `inroot` resolves to inside the root (the one in-root resolver,
    fsutil.open_in_root: openat2 RESOLVE_IN_ROOT, else the userspace walk), never through a link."""
    try:
        fd = fsutil.open_in_root(ctx.root, inroot)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def is_file(ctx: CollectContext, inroot: str) -> bool:
    fd = open_in_root(ctx, inroot)
    if fd is None:
        return False
    os.close(fd)
    return True


def read_small(ctx: CollectContext, inroot: str, facts: Facts, *, head_only: bool = False) -> str | None:
    fd = open_in_root(ctx, inroot)
    if fd is None:
        return None
    # size *and* time capped: a FUSE file that trickles is an error line, not a hang
    data = fsutil.read_fd_recorded(fd, inroot, MAX_METADATA, "metadata file", facts.errors, head_only=head_only)
    return None if data is None else data.decode("utf-8", errors="replace")


def _expand_origin(entries: list[str], origin: str) -> list[str]:
    out = []
    for e in entries:
        e = e.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
        if e.startswith("/"):
            out.append(posixpath.normpath(e))
    return out


def read_loader(ctx: CollectContext, inroot: str, what: str, facts: Facts) -> CclLoader | None:
    fd = open_in_root(ctx, inroot)
    if fd is None:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            dyn = read_dynamic(f)
    except (OSError, ElfError) as exc:
        facts.errors.append(f"{inroot}: not a readable ELF object ({exc})")
        return None
    origin = posixpath.dirname(resolve_in_root(ctx.root, inroot) or inroot)
    return CclLoader(
        path=inroot,
        what=what,
        needs_ccl=any(n.startswith("libccl.so") for n in dyn.needed),
        rpath=_expand_origin(dyn.rpath, origin),
        runpath=_expand_origin(dyn.runpath, origin),
    )


def python_prefixes(ctx: CollectContext) -> list[str]:
    """Where a Python environment may live: the active one first, then PATH's, then images'."""
    env = ctx.env
    found: list[str] = []
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        if env.get(name, "").startswith("/"):
            found.append(posixpath.normpath(env[name]))
    for entry in env.get("PATH", "").split(":"):
        if entry.startswith("/") and entry.rstrip("/").endswith("/bin"):
            found.append(posixpath.dirname(entry.rstrip("/")))
    found.extend(KNOWN_PREFIXES)
    return list(dict.fromkeys(p for p in found if p not in ("/", "")))


def site_dirs(ctx: CollectContext, prefix: str) -> list[str]:
    dirs = []
    for lib in ("lib", "lib64"):
        for name in list_dir(ctx, f"{prefix}/{lib}"):
            if name.startswith("python3"):
                for sub in ("site-packages", "dist-packages"):
                    if resolved_dir(ctx, f"{prefix}/{lib}/{name}/{sub}"):
                        dirs.append(f"{prefix}/{lib}/{name}/{sub}")
    if prefix == "/usr" and resolved_dir(ctx, "/usr/lib/python3/dist-packages"):
        dirs.append("/usr/lib/python3/dist-packages")
    return dirs


def _lib_version(path: str, resolved: str, pip: dict[str, str]) -> tuple[str, str | None, str | None]:
    """(kind, version, where the version comes from) of a libccl found at `path`."""
    m = _VERSION_IN_PATH.search(resolved)
    if resolved.startswith(IPEX_LLM_CCL):
        return "ipex-llm", None, None
    if resolved.startswith("/opt/intel/oneapi/"):
        return "oneapi", m.group(1) if m else None, resolved if m else None
    for prefix, version in pip.items():
        if posixpath.dirname(path) == f"{prefix}/lib" and m is None:
            return "pip", version, f"{prefix}: oneccl {version} dist-info"
    if "/oneccl_bindings_for_pytorch/" in resolved:
        return "bindings", m.group(1) if m else None, resolved if m else None
    return "other", m.group(1) if m else None, resolved if m else None


MAX_CONF_FILES = 64


def ldconfig_dirs(ctx: CollectContext, facts: Facts) -> list[str]:
    """Directories /etc/ld.so.conf names, following its `include` globs (as ldconfig does)."""
    out: list[str] = []
    pending: list[str] = ["/etc/ld.so.conf"]
    seen: set[str] = set()
    while pending and len(seen) < MAX_CONF_FILES:
        conf = pending.pop(0)
        if conf in seen:
            continue
        seen.add(conf)
        for raw in (read_small(ctx, conf, facts) or "").splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("include "):
                pattern = line.split(None, 1)[1].strip()
                if not pattern.startswith("/"):
                    pattern = posixpath.join(posixpath.dirname(conf), pattern)
                directory, _, glob = pattern.rpartition("/")
                regex = re.compile("^" + re.escape(glob).replace(r"\*", ".*") + "$")
                pending += [f"{directory}/{n}" for n in list_dir(ctx, directory) if regex.match(n)]
            elif line.startswith("/"):
                out.append(posixpath.normpath(line))
    return list(dict.fromkeys(out))


def ld_library_path_dirs(ctx: CollectContext) -> list[str]:
    """LD_LIBRARY_PATH's absolute directories, normalised, in order, each once (relative entries are skipped)."""
    return list(
        dict.fromkeys(posixpath.normpath(d) for d in ctx.env.get("LD_LIBRARY_PATH", "").split(":") if d.startswith("/"))
    )


def collect_oneccl_install(ctx: CollectContext, facts: Facts) -> None:
    one = facts.oneccl
    pip_ccl: dict[str, str] = {}  # prefix -> pip oneccl version
    candidate_dirs: list[str] = []
    bindings_dirs: list[str] = []
    seen_sites: set[str] = set()
    for prefix in python_prefixes(ctx):
        for site in site_dirs(ctx, prefix):
            real = resolve_in_root(ctx.root, site) or site
            if real in seen_sites:
                continue
            seen_sites.add(real)
            for name in list_dir(ctx, site):
                if name == "oneccl_bindings_for_pytorch":
                    bindings_dirs.append(f"{site}/{name}")
                if not name.endswith(".dist-info"):
                    continue
                dist, _, version = name[: -len(".dist-info")].partition("-")
                dist = _canon(dist)
                if dist not in PACKAGES:
                    continue
                meta = f"{site}/{name}/METADATA"
                text = read_small(ctx, meta, facts, head_only=True) or ""  # headers first; a long README may follow
                req = _REQ_ONECCL.search(text)
                one.packages.append(
                    PythonPackage(
                        name=dist,
                        version=version,
                        prefix=prefix,
                        metadata=meta,
                        requires_oneccl=req.group(1) if req else None,
                    )
                )
                if dist == "oneccl":
                    pip_ccl.setdefault(prefix, version)
                if dist == "torch":
                    for lib in ("libtorch_xpu.so",):
                        loader = read_loader(ctx, f"{site}/torch/lib/{lib}", "torch-xpu", facts)
                        if loader is not None:
                            one.loaders.append(loader)
            candidate_dirs.append(f"{prefix}/lib")
    for bdir in bindings_dirs:
        for name in list_dir(ctx, bdir):
            if name.endswith(".so") and not name.startswith("lib"):
                loader = read_loader(ctx, f"{bdir}/{name}", "bindings", facts)
                if loader is not None:
                    one.loaders.append(loader)
        candidate_dirs.append(f"{bdir}/lib")
    for loader in one.loaders:
        candidate_dirs.extend(loader.rpath + loader.runpath)
    candidate_dirs.extend(ld_library_path_dirs(ctx))
    for ver in list_dir(ctx, ONEAPI_CCL):
        candidate_dirs.append(f"{ONEAPI_CCL}/{ver}/lib")
        if is_file(ctx, f"{ONEAPI_CCL}/{ver}/env/vars.sh"):
            one.setvars.append(f"{ONEAPI_CCL}/{ver}/env/vars.sh")
    if resolved_dir(ctx, IPEX_LLM_CCL):
        candidate_dirs.append(f"{IPEX_LLM_CCL}/lib")
    for script in ("/opt/intel/oneapi/setvars.sh", f"{IPEX_LLM_CCL}/setvars.sh"):
        if is_file(ctx, script):
            one.setvars.append(script)
    one.ldconfig_dirs = ldconfig_dirs(ctx, facts)
    candidate_dirs.extend(one.ldconfig_dirs)
    candidate_dirs.extend(GLIBC_DEFAULT_DIRS)
    seen_libs: set[str] = set()
    for d in dict.fromkeys(candidate_dirs):
        one.searched.append(d)
        path = f"{d}/{LIBCCL}"
        if path in seen_libs or not is_file(ctx, path):
            continue
        seen_libs.add(path)
        resolved = resolve_in_root(ctx.root, path) or path
        kind, lib_version, source = _lib_version(path, resolved, pip_ccl)
        one.libraries.append(
            CclLibrary(path=path, resolved=resolved, kind=kind, version=lib_version, version_source=source)
        )


COLLECTORS.append(collect_oneccl_install)
