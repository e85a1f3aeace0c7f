"""Where libcuda.so.1 is in this root, and whether the dynamic loader finds it.

A CUDA process dlopen()s libcuda.so.1 (and NVML libnvidia-ml.so.1) by name. glibc's loader looks in
LD_LIBRARY_PATH, then in what /etc/ld.so.cache lists, then in its default directories (glibc
elf/dl-load.c _dl_map_object; the cache lookup elf/dl-cache.c _dl_load_cache_lookup). The NVIDIA
toolkit's hook bind-mounts the driver's files into the image's library directory and runs ldconfig
(libnvidia-container src/nvc_ldcache.c), so they are found. GKE's device plugin instead mounts the
host driver at /usr/local/nvidia/lib64 and relies on the image's LD_LIBRARY_PATH naming it: CUDA
12.9-based images (vLLM >= 0.9) no longer do, and libcuda then is in the container but never loads
(cause nvidia.driver-libs-off-library-path; GoogleCloudPlatform/container-engine-accelerators#492).

This collector records every libcuda.so.1 in the loader's directories and in the places a runtime
mounts one off them, LD_LIBRARY_PATH, and the cache's entries for it; rules/nvidia.py decides.
"""

from __future__ import annotations

import os
import posixpath
import struct

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.fsutil import read_fd_recorded
from tpdoctor.facts.oneccl_install import is_file, ld_library_path_dirs, ldconfig_dirs, open_in_root
from tpdoctor.model.facts import GLIBC_DEFAULT_DIRS, DriverLibFacts, Facts

LIBCUDA = "libcuda.so.1"
LD_CACHE = "/etc/ld.so.cache"
MAX_LD_CACHE = 16 << 20  # a real cache is well under 1 MiB

# Where runtimes put the driver's libraries outside the loader's default directories.
OFF_PATH_DIRS = (
    "/usr/local/nvidia/lib64",  # GKE device plugin, and the older nvidia-docker 1 volume
    "/usr/local/nvidia/lib",
    "/home/kubernetes/bin/nvidia/lib64",  # GKE's host path, when it is mounted as-is
    "/usr/lib/wsl/lib",  # WSL2 / Docker Desktop (registered through /etc/ld.so.conf.d/ld.wsl.conf)
    "/usr/lib/aarch64-linux-gnu",  # arm64 images: a multiarch directory, not in GLIBC_DEFAULT_DIRS
    "/usr/lib64/nvidia",
)

# glibc sysdeps/generic/dl-cache.h: the new-format header "glibc-ld.so.cache" "1.1", then
# uint32 nlibs, uint32 len_strings, uint8 flags, 3 bytes padding, uint32 extension_offset,
# uint32 unused[3]; then nlibs `struct file_entry_new` {int32 flags; uint32 key, value;
# uint32 osversion_unused; uint64 hwcap}. key and value are string offsets from the start of the
# new header (elf/dl-cache.c: cache_data is the new header, also behind an old-format part).
_NEW_MAGIC = b"glibc-ld.so.cache1.1"
_HEADER = struct.Struct("=20sII B3x I 12x")
_ENTRY = struct.Struct("=iIIIQ")


def _c_string(data: bytes, at: int) -> str | None:
    end = data.find(b"\0", at)
    if at < 0 or end < 0:
        return None
    return data[at:end].decode("utf-8", errors="replace")


def parse_ld_cache(data: bytes, soname: str = LIBCUDA) -> list[str]:
    """The paths /etc/ld.so.cache lists for `soname` (new format, also behind an old-format part)."""
    base = data.find(_NEW_MAGIC)
    if base < 0 or len(data) < base + _HEADER.size:
        return []
    _, nlibs, _, _, _ = _HEADER.unpack_from(data, base)
    first = base + _HEADER.size
    nlibs = min(nlibs, (len(data) - first) // _ENTRY.size)  # a truncated or lying header
    paths: list[str] = []
    for i in range(nlibs):
        _, key, value, _, _ = _ENTRY.unpack_from(data, first + i * _ENTRY.size)
        if _c_string(data, base + key) == soname:
            path = _c_string(data, base + value)
            if path and path not in paths:
                paths.append(path)
    return paths


def _read_ld_cache(ctx: CollectContext, facts: Facts) -> tuple[list[str], bool]:
    fd = open_in_root(ctx, LD_CACHE)
    if fd is None:
        # absent (a minimal image) lists nothing; a link or a non-file is not what ld.so reads either
        return [], not os.path.lexists(ctx.entry(LD_CACHE))
    data = read_fd_recorded(fd, LD_CACHE, MAX_LD_CACHE, "ld cache", facts.errors)
    return ([], False) if data is None else (parse_ld_cache(data), True)


def _writable_by_others(ctx: CollectContext, directory: str) -> bool:
    """The directory, or one above it, is not root's alone: another user could plant a library there."""
    d = directory
    while True:
        try:
            st = os.stat(ctx.path(d))
        except OSError:
            return True  # unknown is not trusted
        if st.st_uid != 0 or st.st_mode & 0o022:
            return True
        if d == "/":
            return False
        d = posixpath.dirname(d)


def collect_driver_libs(ctx: CollectContext, facts: Facts) -> None:
    ld_path = ld_library_path_dirs(ctx)
    cache, cache_read = _read_ld_cache(ctx, facts)
    dirs = [*ld_path, *ldconfig_dirs(ctx, facts), *GLIBC_DEFAULT_DIRS, *OFF_PATH_DIRS]
    dirs += [posixpath.dirname(p) for p in cache]
    found = [f"{d}/{LIBCUDA}" for d in dict.fromkeys(dirs) if is_file(ctx, f"{d}/{LIBCUDA}")]
    facts.nvidia.libcuda = DriverLibFacts(
        found=found,
        ld_library_path=ld_path,
        ld_cache=cache,
        ld_cache_read=cache_read,
        writable_by_others=[
            d for d in dict.fromkeys(posixpath.dirname(p) for p in found) if _writable_by_others(ctx, d)
        ],
    )


COLLECTORS.append(collect_driver_libs)
