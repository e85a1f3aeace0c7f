"""Intel's current serving images as data: what `generate` writes for them and `audit` knows.

Each choice carries its source (repository, file, commit), so a reader can check it:

- `llm-scaler-vllm` (intel/llm-scaler @8d66bf9): vllm/docker/Dockerfile's runtime stage ends in
  `ENTRYPOINT ["bash", "-c", "exec vllm serve \"$@\"", "--"]`, sets VLLM_OFFLOAD_WEIGHTS_BEFORE_QUANT,
  VLLM_ALLOW_LONG_MAX_MODEL_LEN and VLLM_WORKER_MULTIPROC_METHOD=spawn, copies oneCCL 2021.15
  to /opt/intel/oneapi/ccl/2021.15 and makes /opt/venv/lib/libccl.so.1 a link to it (so torch's
  RPATH loads it), and sources `ccl/2021.15/env/vars.sh` only from /root/.bashrc. vllm/README.md
  §1.3 ("Note — Intel oneAPI Environment"): compose or an overridden entrypoint must prepend
  `source /opt/intel/oneapi/setvars.sh --force &&`; KNOWN_ISSUES.md #03: without it the container
  is OOM-killed or slow. README §1.3 "Mapping a Single GPU" passes the render node with
  `--device` and its by-path entries as bind mounts instead of `--privileged --device=/dev/dri`;
  `--shm-size=32g`. Releases.md: pin a version, never `latest` (0.21.0-b2, 08/2026).
- `vllm-xpu` (vllm-project/vllm @05cb1bc docker/Dockerfile.xpu, target vllm-openai; the published
  build is `intel/vllm:<ver>-xpu`, vLLM's Intel Arc Pro B-series recipe): `ENTRYPOINT ["vllm",
  "serve"]`, venv /opt/venv, oneCCL 2021.15 installed to /opt/intel/oneapi/ccl/2021.15 and sourced
  only from /root/.bashrc (`setvars.sh --force` and `ccl/2021.15/env/vars.sh --force`), and
  `uv pip uninstall oneccl oneccl-devel` ("remove torch bundled oneccl"): torch's RPATH then finds
  no libccl.so.1, so LD_LIBRARY_PATH from vars.sh must be set when `vllm serve` starts without a
  login shell. VLLM_WORKER_MULTIPROC_METHOD=spawn is an ENV of the image. vLLM picks `xccl`
  (vllm/platforms/xpu.py `dist_backend = "xccl"`) and hides GPUs with ZE_AFFINITY_MASK.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImageSpec:
    ref: str
    kind: str  # xpu | cuda | rocm
    # shell lines run before `exec vllm serve "$@"`; an empty tuple: the image's own entrypoint
    source_first: tuple[str, ...] = ()
    env: tuple[tuple[str, str, str], ...] = ()  # (name, value, why)
    serve_args: tuple[str, ...] = ()  # before --tensor-parallel-size
    shm: str = "16g"
    sources: tuple[str, ...] = field(default_factory=tuple)
    # what the image's ENTRYPOINT amounts to: llm-scaler's `bash -c 'exec vllm serve "$@"' --` and
    # vLLM's `vllm serve` both run `vllm serve <command>`
    default_entrypoint: tuple[str, ...] = ("vllm", "serve")


# Each script is sourced only if present and its status is not chained with &&: a later image tag
# without one of them (llm-scaler's OMIX runtime stage copies only ccl/2021.15) still starts.
def guarded_sources(*scripts: str) -> tuple[str, ...]:
    return tuple(f"[ -f {s} ] && . {s} --force" for s in scripts)


LLM_SCALER = ImageSpec(
    ref="intel/llm-scaler-vllm:0.21.0-b2",
    kind="xpu",
    source_first=guarded_sources("/opt/intel/oneapi/setvars.sh", "/opt/intel/oneapi/ccl/2021.15/env/vars.sh"),
    env=(
        ("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "1", "llm-scaler README 1.4.1 serve example"),
        ("VLLM_WORKER_MULTIPROC_METHOD", "spawn", "llm-scaler README 1.4.1; XPU workers must not fork"),
    ),
    serve_args=("--dtype", "float16", "--enforce-eager", "--host", "0.0.0.0", "--block-size", "64"),
    shm="32g",
    sources=(
        "intel/llm-scaler@8d66bf9 vllm/docker/Dockerfile (runtime stage, ENTRYPOINT)",
        "intel/llm-scaler@8d66bf9 vllm/README.md §1.3, §1.4.1",
        "intel/llm-scaler@8d66bf9 vllm/KNOWN_ISSUES.md #03",
    ),
)

VLLM_XPU = ImageSpec(
    ref="intel/vllm:0.17.0-xpu",
    kind="xpu",
    source_first=guarded_sources("/opt/intel/oneapi/setvars.sh", "/opt/intel/oneapi/ccl/2021.15/env/vars.sh"),
    env=(
        (
            "VLLM_WORKER_MULTIPROC_METHOD",
            "spawn",
            "also an ENV of docker/Dockerfile.xpu; XPU workers must not fork",
        ),
    ),
    serve_args=("--dtype", "float16", "--host", "0.0.0.0"),
    shm="16g",
    sources=(
        "vllm-project/vllm@05cb1bc docker/Dockerfile.xpu (target vllm-openai)",
        "vllm-project/vllm vllm/platforms/xpu.py: dist_backend = 'xccl', ZE_AFFINITY_MASK",
    ),
)

SPECS: dict[str, ImageSpec] = {"llm-scaler-vllm": LLM_SCALER, "vllm-xpu": VLLM_XPU}

# Image references `audit` recognises as these images (name without registry/tag).
AUDIT_NAMES: dict[str, str] = {
    "intel/llm-scaler-vllm": "llm-scaler-vllm",
    "intel/vllm": "vllm-xpu",
    "vllm-xpu-env": "vllm-xpu",  # the name vLLM's XPU docs give a local docker build
}


def image_name(ref: str) -> str | None:
    """'docker.io/intel/llm-scaler-vllm:0.21.0-b2' -> 'llm-scaler-vllm' (None when unknown)."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return AUDIT_NAMES.get(name)


INTERACTIVE = ({"bash"}, {"/bin/bash"}, {"sh"}, {"/bin/sh"})


def missing_oneapi(image: str | None, entrypoint: list[str], command: list[str]) -> str | None:
    """The image name (llm-scaler-vllm | vllm-xpu) when this service starts it without sourcing
    oneAPI, else None. An interactive shell (entrypoint bash, no command) reads /root/.bashrc."""
    name = image_name(image or "")
    if name not in SPECS:
        return None
    argv = [*entrypoint, *command]
    text = " ".join(argv)
    if "setvars.sh" in text or "/env/vars.sh" in text:
        return None
    if set(argv) in INTERACTIVE or (entrypoint and not command and set(entrypoint) in INTERACTIVE):
        return None
    return name


def sourcing_entrypoint(name: str, entrypoint: list[str]) -> list[str]:
    """The service's own entrypoint (or the image's), run after the guarded oneAPI sources:
    `bash -c '<sources>; exec "$@"' -- <entrypoint...>`; the command stays as it is."""
    spec = SPECS[name]
    inner = list(entrypoint) or list(spec.default_entrypoint)
    return ["bash", "-c", "; ".join([*spec.source_first, 'exec "$@"']), "--", *inner]


def serve_script(spec: ImageSpec) -> str:
    """The bash -c script: source oneAPI first (guarded), then exec vllm serve with the args."""
    return "; ".join([*spec.source_first, 'exec vllm serve "$@"'])
