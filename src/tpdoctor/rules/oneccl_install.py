"""Rules on how oneCCL is installed: which libccl the job loads, whether it matches torch's pin,
whether oneAPI's setvars.sh was sourced, and the xccl hang on Meteor Lake iGPUs.

The facts come from facts/oneccl_install.py; the load order from oneccl/loader.py.
"""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.model import CheckOptions, Evidence, Facts, Finding, make_finding
from tpdoctor.oneccl.loader import loaded_ccl, setvars_sourced, torch_pin
from tpdoctor.oneccl.model import predict_mode
from tpdoctor.rules.context import facts_fix_context
from tpdoctor.rules.gpus import VENDOR, infer_backend, render_nodes, sysfs_gpu
from tpdoctor.rules.registry import fact_rule

# Meteor Lake Xe-LPG integrated GPUs: Linux include/drm/intel/pciids.h INTEL_MTL_IDS.
METEOR_LAKE_IDS = frozenset({"0x7d40", "0x7d45", "0x7d55", "0x7d60", "0x7dd5"})
LLM_SCALER_ISSUES = "intel/llm-scaler vllm/KNOWN_ISSUES.md @8d66bf9"


def _intel(facts: Facts, options: CheckOptions) -> bool:
    return infer_backend(facts, options) == "xpu"


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:2] if p.isdigit())


def _torch_version(facts: Facts) -> tuple[int, ...] | None:
    torch = next((p for p in facts.oneccl.packages if p.name == "torch"), None)
    if torch is None:
        return None
    return tuple(int(x) for x in torch.version.split("+")[0].split(".")[:2] if x.isdigit())


def _dist_backend_evidence(facts: Facts, options: CheckOptions) -> list[Evidence]:
    """xccl is torch's own (torch >= 2.8, intel/torch-xpu-ops src/xccl/ProcessGroupXCCL.cpp);
    ccl comes from oneccl_bindings_for_pytorch. Both call the libccl named above."""
    backend = options.dist_backend
    tv = _torch_version(facts)
    if backend is None:
        if tv is None or tv < (2, 8):
            return []
        backend = "xccl"  # vllm/platforms/xpu.py: dist_backend = "xccl"
    out = [Evidence(source="torch.distributed backend", text=f"{backend}: its collectives run this oneCCL")]
    if backend == "xccl" and tv is not None and tv < (2, 8):
        out.append(
            Evidence(
                source="torch",
                text="xccl needs torch >= 2.8 built with XPU: this torch has no ProcessGroupXCCL",
            )
        )
    if backend == "ccl" and not any(p.name == "oneccl-bind-pt" for p in facts.oneccl.packages):
        out.append(
            Evidence(source="site-packages", text="no oneccl_bind_pt: the 'ccl' backend is not registered")
        )
    return out


@fact_rule("oneccl.library-selected", "oneccl.library-pin-mismatch")
def loaded_library(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Name the libccl.so.1 the job will load, its version, and the IPC mode that version picks.

    What it checks: every oneCCL install (pip `oneccl` in each Python environment, torch's XPU
    wheel and its `Requires-Dist: oneccl==…`, `/opt/intel/oneapi/ccl/<ver>`, ipex-llm's
    `/opt/intel/1ccl-wks`, `oneccl_bindings_for_pytorch`) and glibc's search order from
    torch's `libtorch_xpu.so`: its DT_RPATH (`$ORIGIN/../../../..`, the env's `lib/`, pytorch
    .ci/manywheel/build_xpu.sh) comes before LD_LIBRARY_PATH, so sourcing setvars.sh does not
    change the libccl torch loads. The version found here drives the mode prediction when
    --oneccl-version is not given.

    Why it matters: oneCCL ≤2021.13 and ≥2021.14 choose different IPC exchange modes
    (drmfd vs pidfd-with-fallback) and only ≥2021.13.1 reads CCL_DRMFD_DEV_RENDER_DIR_PATH.
    A torch built against one oneCCL that loads another (an image that swaps the library, an
    LD_LIBRARY_PATH that wins over RUNPATH) may fail at the first collective.

    Reported when the choice is not trivial: torch or the bindings load the library, several
    libccl versions are installed, torch pins one, or --backend xccl/ccl was given.

    How to fix: nothing when the versions agree; otherwise install the oneccl that torch pins
    (`pip install oneccl==<pin>`) or make the swap deliberate, as llm-scaler's Dockerfile does.
    """
    if not _intel(facts, options):
        return
    loaded = loaded_ccl(facts)
    if loaded is None:
        return
    evs: list[Evidence] = []
    if loaded.library is not None:
        lib = loaded.library
        evs.append(
            Evidence(source=lib.path, text=f"{lib.kind} libccl, version {loaded.version or 'unknown'}")
        )
        if lib.resolved and lib.resolved != lib.path:
            evs.append(Evidence(source=lib.path, text=f"resolves to {lib.resolved}"))
        if lib.version_source:
            evs.append(Evidence(source="version from", text=lib.version_source))
    evs.append(Evidence(source="loader", text=loaded.why))
    pin = torch_pin(facts)
    if pin:
        evs.append(Evidence(source=f"torch {pin[1]} METADATA", text=f"Requires-Dist: oneccl=={pin[0]}"))
    evs.extend(_dist_backend_evidence(facts, options))
    mode = predict_mode(facts, options)
    evs.append(Evidence(source="prediction", text=f"oneCCL {mode.version.label} uses {mode.mode}"))
    if loaded.library is None:
        yield make_finding(
            "oneccl.library-selected",
            f"{loaded.why}: the job will fail to load oneCCL",
            evs,
            context=facts_fix_context(facts),
            severity="blocker",
        )
        return
    versions = {lib.version for lib in facts.oneccl.libraries}
    if loaded.loader is None and len(versions) < 2 and not pin and options.dist_backend is None:
        return  # one oneCCL, no torch/bindings deciding: the summary line already names it
    yield make_finding(
        "oneccl.library-selected",
        f"the job loads oneCCL {loaded.version or '(version unknown)'} from {loaded.library.path}",
        evs,
        context=facts_fix_context(facts),
    )
    if pin and loaded.version and _minor(pin[0]) != _minor(loaded.version):
        yield make_finding(
            "oneccl.library-pin-mismatch",
            f"torch {pin[1]} was built for oneccl=={pin[0]} but loads oneCCL {loaded.version} "
            f"from {loaded.library.path}",
            evs,
            context=facts_fix_context(facts),
        )


@fact_rule("oneccl.setvars-not-sourced")
def setvars_not_sourced(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """oneAPI is installed in the image, but this environment did not source its setvars.sh.

    What it checks: vLLM is installed, `/opt/intel/oneapi/setvars.sh` (or a ccl `env/vars.sh`)
    exists, and the environment shows none of what sourcing it sets: SETVARS_COMPLETED=1, ONEAPI_ROOT, CCL_ROOT
    or an /opt/intel directory in LD_LIBRARY_PATH.

    Why it matters: llm-scaler's known issue #03 (vllm/KNOWN_ISSUES.md): started by compose or
    with an overridden entrypoint (no interactive bash, so /root/.bashrc never runs), the
    container gets a different LD_LIBRARY_PATH and is OOM-killed or runs slower; its README
    ("Note — Intel oneAPI Environment") asks to prepend `source /opt/intel/oneapi/setvars.sh
    --force &&` to the command.

    How to fix: start the server through bash with the source first:
    `entrypoint: ["bash", "-c", "source /opt/intel/oneapi/setvars.sh --force && exec vllm serve …"]`
    (`tpdoctor generate --image llm-scaler-vllm` writes this).
    """
    if not _intel(facts, options) or setvars_sourced(facts) is not False:
        return
    if not any(p.name == "vllm" for p in facts.oneccl.packages):
        return  # the known issue is vLLM's serving images; a bare oneAPI job may set its env otherwise
    if not facts.live and not facts.env:
        return  # a root without the job's environment: nothing to tell
    yield make_finding(
        "oneccl.setvars-not-sourced",
        "oneAPI's setvars.sh is in the image but was not sourced here (no SETVARS_COMPLETED, "
        "ONEAPI_ROOT, CCL_ROOT or /opt/intel in LD_LIBRARY_PATH)",
        [Evidence(source=s, text="present") for s in facts.oneccl.setvars]
        + [
            Evidence(source="LD_LIBRARY_PATH", text=facts.env.get("LD_LIBRARY_PATH", "(unset)")),
            Evidence(source=LLM_SCALER_ISSUES, text="#03: container OOM / slowdown without setvars.sh"),
        ],
        context=facts_fix_context(facts),
        confidence="suggests",
    )


@fact_rule("oneccl.xccl-igpu-hang")
def meteor_lake_hang(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """xccl / oneCCL initialisation hangs on Meteor Lake (Xe-LPG) integrated GPUs.

    What it checks: every Intel render node here is a Meteor Lake iGPU (PCI device id in
    Linux's INTEL_MTL_IDS: 0x7d40, 0x7d45, 0x7d55, 0x7d60, 0x7dd5), and VLLM_XPU_DIST_BACKEND
    (read only by llm-scaler's patched vLLM) does not already select gloo.

    Why it matters: vLLM picks `xccl` on XPU (vllm/platforms/xpu.py `dist_backend = "xccl"`);
    on Meteor Lake `init_process_group` then blocks forever with no message (a llm-scaler
    fork's vllm/KNOWN_ISSUES.md #04; Lunar Lake and discrete Arc are not affected). Falling
    back to `ccl` hangs the same way.

    How to fix: for single-GPU serving, a CPU backend: `VLLM_XPU_DIST_BACKEND=gloo` with an
    llm-scaler build that reads it; multi-GPU tensor parallel is not possible on these iGPUs.
    """
    if not _intel(facts, options):
        return
    intel = [sysfs_gpu(facts, n.path) for n in render_nodes(facts)]
    gpus = [g for g in intel if g is not None and g.vendor == VENDOR["xpu"]]
    if not gpus or any((g.device_id or "").lower() not in METEOR_LAKE_IDS for g in gpus):
        return
    if facts.env.get("VLLM_XPU_DIST_BACKEND", "").strip().lower() == "gloo":
        return
    yield make_finding(
        "oneccl.xccl-igpu-hang",
        "every Intel GPU here is a Meteor Lake iGPU: xccl/oneCCL init_process_group hangs on it",
        [Evidence(source=f"/sys/class/drm/{g.render}/device/device", text=str(g.device_id)) for g in gpus]
        + [Evidence(source="llm-scaler fork vllm/KNOWN_ISSUES.md #04", text="xccl/ccl hang on Xe-LPG")],
        context=facts_fix_context(facts),
        confidence="suggests",
    )
