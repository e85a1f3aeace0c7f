"""Which libccl.so.1 the job will load, and why (pure function of Facts).

The job is vLLM (or any torch program) on XPU: torch's `libtorch_xpu.so` has DT_NEEDED
libccl.so.1 and, in the PyPI-runtime wheels, DT_RPATH `$ORIGIN/../../../..:$ORIGIN`
(pytorch .ci/manywheel/build_xpu.sh, LIB_SO_RPATH + FORCE_RPATH), i.e. the Python prefix's
`lib/` where pip's `oneccl` wheel puts libccl.so.1. glibc's order (elf/dl-load.c
_dl_map_object): DT_RPATH of the loader when it has no DT_RUNPATH, then LD_LIBRARY_PATH, then
DT_RUNPATH, then ld.so.cache (approximated by the directories /etc/ld.so.conf names) and the
default directories. So with torch's RPATH a sourced
`setvars.sh` (LD_LIBRARY_PATH=/opt/intel/oneapi/ccl/<v>/lib:…) does NOT change the libccl that
torch loads; without a loader (oneccl_bindings / a C++ job) LD_LIBRARY_PATH decides.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from tpdoctor.model.facts import GLIBC_DEFAULT_DIRS, CclLibrary, CclLoader, Facts

IPEX_LLM_GENERATION = "2021.14"  # /opt/intel/1ccl-wks: ipex-llm's 2025.0-basekit build


@dataclass
class LoadedCcl:
    """The libccl.so.1 the job loads, who loads it and why (glibc's search order)."""

    library: CclLibrary | None
    loader: CclLoader | None
    why: str
    order: list[str] = field(default_factory=list)  # the directories in the order searched

    @property
    def version(self) -> str | None:
        if self.library is None:
            return None
        if self.library.version:
            return self.library.version
        return IPEX_LLM_GENERATION if self.library.kind == "ipex-llm" else None


def _vllm_prefix(facts: Facts) -> str | None:
    return next((p.prefix for p in facts.oneccl.packages if p.name == "vllm"), None)


def pick_loader(facts: Facts) -> CclLoader | None:
    """torch's libtorch_xpu.so of the env vLLM runs in, else the first one, else the bindings."""
    torch = [lo for lo in facts.oneccl.loaders if lo.what == "torch-xpu"]
    vprefix = _vllm_prefix(facts)
    if vprefix:
        for lo in torch:
            if lo.path.startswith(vprefix.rstrip("/") + "/"):
                return lo
    if torch:
        return torch[0]
    return next((lo for lo in facts.oneccl.loaders if lo.what == "bindings"), None)


def _ld_library_path(facts: Facts) -> list[str]:
    return [
        posixpath.normpath(d) for d in facts.env.get("LD_LIBRARY_PATH", "").split(":") if d.startswith("/")
    ]


def search_order(facts: Facts, loader: CclLoader | None) -> list[tuple[str, str]]:
    """(directory, why it is searched) in glibc's order for `loader`'s DT_NEEDED libccl.so.1."""
    order: list[tuple[str, str]] = []
    name = posixpath.basename(loader.path) if loader else ""
    if loader and loader.rpath and not loader.runpath:
        order += [(d, f"DT_RPATH of {name}") for d in loader.rpath]
    order += [(d, "LD_LIBRARY_PATH") for d in _ld_library_path(facts)]
    if loader and loader.runpath:
        order += [(d, f"DT_RUNPATH of {name}") for d in loader.runpath]
    order += [(d, "ld.so.cache (a directory /etc/ld.so.conf names)") for d in facts.oneccl.ldconfig_dirs]
    order += [(d, "a default library directory") for d in GLIBC_DEFAULT_DIRS]
    return order


def loaded_ccl(facts: Facts) -> LoadedCcl | None:
    """The libccl.so.1 the job loads, or None when nothing about oneCCL is known here."""
    one = facts.oneccl
    if not one.libraries and not one.loaders:
        return None
    loader = pick_loader(facts)
    by_dir = {posixpath.dirname(lib.path): lib for lib in one.libraries}
    order = search_order(facts, loader)
    for directory, why in order:
        lib = by_dir.get(directory)
        if lib is not None:
            who = loader.path if loader else "the job"
            return LoadedCcl(
                lib, loader, f"{who} finds it through {why} ({directory})", [d for d, _ in order]
            )
    if loader is not None and loader.needs_ccl:
        return LoadedCcl(None, loader, f"{loader.path} needs libccl.so.1 and no searched directory has it")
    return None


def torch_pin(facts: Facts) -> tuple[str, str] | None:
    """(oneccl version, torch version) that torch's XPU wheel requires, for the env vLLM runs in."""
    vprefix = _vllm_prefix(facts)
    pins = [p for p in facts.oneccl.packages if p.name == "torch" and p.requires_oneccl]
    pins.sort(key=lambda p: p.prefix != vprefix)
    return (pins[0].requires_oneccl or "", pins[0].version) if pins else None


def setvars_sourced(facts: Facts) -> bool | None:
    """Did the job's environment source oneAPI's setvars.sh / ccl env/vars.sh?

    setvars.sh exports SETVARS_COMPLETED=1 and ONEAPI_ROOT; ccl's env/vars.sh exports CCL_ROOT
    and prepends its lib to LD_LIBRARY_PATH. None when there is no oneAPI install to source.
    """
    if not facts.oneccl.setvars:
        return None
    env = facts.env
    if env.get("SETVARS_COMPLETED") == "1" or env.get("ONEAPI_ROOT") or env.get("CCL_ROOT"):
        return True
    return any("/opt/intel/" in d for d in _ld_library_path(facts))
