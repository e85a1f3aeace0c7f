"""The /tmp tmpfs and torch.compile, measured in real containers started with the docker CLI (docs/generate.md).

Docker and Podman mount a `--tmpfs` (and a compose `tmpfs:` item) rw,noexec,nosuid,nodev unless its options say
otherwise (moby daemon/oci_linux.go: the options start from noexec,nosuid,nodev and mount.MergeTmpfsOptions applies
the user's after them; Podman documents the same defaults for --tmpfs). torch.compile, which vLLM runs by default,
builds C++ (CPU) or Triton launcher (GPU) shared objects in TorchInductor's cache, /tmp/torchinductor_<user> unless
TORCHINDUCTOR_CACHE_DIR says otherwise, and dlopens them; the loader maps them executable, which a noexec mount
refuses.

Each container runs a tiny torch.compile on CPU with a fresh cache (the tmpfs is new), then `tpdoctor check` inside:

- `--tmpfs /tmp`: /proc/self/mounts shows noexec on /tmp; the .so is built and cannot be loaded ("failed to map
  segment from shared object");
- the same with TORCHINDUCTOR_CACHE_DIR=/tmp/inductor: the same failure, and check proves fs.jit-cache-noexec;
- `--tmpfs` with the value `tpdoctor generate` writes (/tmp:exec): no noexec, the compiled function runs and agrees
  with eager.

torch comes from the interpreter running the tests (CI installs the CPU build): its prefix is bind-mounted
read-only at the same path when it is not under /usr, which the skeleton image has from the host already; the
host's g++ (under /usr) compiles. No GPU here: whether the default GPU path (Triton's launcher in the Inductor
cache) fails the same way is for a GPU machine to measure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from tpdoctor.deploy.audit import load
from tpdoctor.deploy.generate import Intent, generate

from .conftest import _unavailable
from .container_harness import HOST_PYTHON, IMAGE, LABEL, Toolbox

pytestmark = pytest.mark.container

TIMEOUT_S = 540  # import torch + one Inductor C++ compile, three containers at once on 2 CPUs
MAP_FAILED = "failed to map segment from shared object"

PROBE = r"""
import json, os, sys
out = {"tmp_mount": None}
for line in open("/proc/self/mounts"):
    f = line.split()
    if f[1] == "/tmp":
        out["tmp_mount"] = {"fstype": f[2], "options": f[3].split(",")}
import torch
out["torch"] = torch.__version__

def f(x):
    return torch.sin(x) * 2 + 1

x = torch.arange(8, dtype=torch.float32)
try:
    y = torch.compile(f)(x)
    out["compiled"] = True
    out["agrees"] = bool(torch.allclose(y, f(x)))
except Exception as exc:
    out["compiled"] = False
    out["error_type"] = type(exc).__name__
    out["error"] = str(exc)
from torch._inductor.runtime.cache_dir_utils import cache_dir
out["cache_dir"] = cache_dir()
out["so_built"] = sorted(
    os.path.join(d, n) for d, _, names in os.walk(out["cache_dir"]) for n in names if n.endswith(".so")
)
json.dump(out, open(sys.argv[1], "w"), indent=1)
"""


@dataclass
class TmpRun:
    tmpfs: str
    env: dict[str, str]
    probe: dict[str, Any]
    check: dict[str, Any]

    def finding(self, cause: str) -> dict[str, Any] | None:
        return next((f for f in self.check.get("findings", []) if f["cause"] == cause), None)


def _torch_binds() -> tuple[str, list[str], str]:
    """(interpreter, read-only binds, its torch's site directory) for the interpreter running the tests."""
    spec = find_spec("torch")
    if spec is None or spec.origin is None:
        _unavailable("torch is not installed for this interpreter (CI: pip install torch==2.13.0, the CPU build)")
        raise AssertionError  # unreachable
    if shutil.which("g++", path="/usr/bin:/usr/local/bin") is None:
        _unavailable("no g++ under /usr: TorchInductor's CPU backend compiles C++ (apt-get install g++)")
    site = str(Path(spec.origin).resolve().parents[1])
    dirs: list[str] = []
    for d in sorted({sys.prefix, sys.base_prefix, site}):
        d = str(Path(d).resolve())
        if d == "/usr" or d.startswith("/usr/") or any(d == k or d.startswith(k + "/") for k in dirs):
            continue
        dirs.append(d)
    return sys.executable, [f"{d}:{d}:ro" for d in dirs], site


def _run(box: Toolbox, tmpfs: str, env: dict[str, str]) -> TmpRun:
    python, binds, site = _torch_binds()
    base = Path(tempfile.mkdtemp(prefix="tmp-exec-", dir=box.workdir))
    base.chmod(0o755)
    (base / "probe.py").write_text(PROBE)
    out = base / "out"
    out.mkdir()
    out.chmod(0o777)
    script = (
        f"env PYTHONPATH={site} {python} /probe/probe.py /out/probe.json >/out/probe.log 2>&1; "
        f"{HOST_PYTHON} -m tpdoctor check --tp 1 --format json --snapshot /out/facts.json "
        ">/out/check.json 2>/out/check.err; echo $? >/out/check.rc"
    )
    name = f"tpdoctor-tmp-exec-{uuid.uuid4().hex[:10]}"
    argv = ["docker", "run", "--name", name, "--network", "none", "--label", LABEL, "--tmpfs", tmpfs]
    for b in [*box.tool_binds(out), *binds, f"{base}:/probe:ro"]:
        argv += ["-v", b]
    for k, v in {**env, **box.tool_env(), "HOME": "/root"}.items():
        argv += ["-e", f"{k}={v}"]
    argv += [IMAGE, "/bin/sh", "-c", script]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-800:]
    log = (out / "probe.log").read_text() if (out / "probe.log").exists() else ""
    assert (out / "probe.json").exists(), f"the probe wrote nothing: {log[-1500:]}"
    check = json.loads((out / "check.json").read_text())
    return TmpRun(tmpfs, env, json.loads((out / "probe.json").read_text()), check)


def generated_tmpfs() -> str:
    """The value of the `--tmpfs` flag of `tpdoctor generate --target docker-run`, read by audit's own parser."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "run.sh"
        p.write_text(generate(Intent(image="vllm-openai", tp=2, target="docker-run")))
        (svc,) = load(p, None).model.services
    tmp = svc.has_mount_target("/tmp")
    assert tmp is not None and tmp.kind == "tmpfs"
    return tmp.raw


CASES = {
    "default": ("/tmp", {}),
    "explicit": ("/tmp", {"TORCHINDUCTOR_CACHE_DIR": "/tmp/inductor"}),
    "generated": (None, {}),
}


@pytest.fixture(scope="module")
def runs(toolbox: Toolbox) -> dict[str, TmpRun]:
    if shutil.which("docker") is None:
        _unavailable("the docker CLI is not installed (CI: apt-get install docker.io)")
    _torch_binds()  # skip (or fail in CI) before starting anything
    cases = {k: (t or generated_tmpfs(), env) for k, (t, env) in CASES.items()}
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        futures = {k: pool.submit(_run, toolbox, t, env) for k, (t, env) in cases.items()}
        return {k: f.result() for k, f in futures.items()}


def test_docker_tmpfs_is_noexec_and_torch_compile_cannot_load_its_shared_object(runs: dict[str, TmpRun]) -> None:
    r = runs["default"].probe
    assert r["tmp_mount"]["fstype"] == "tmpfs"
    assert {"noexec", "nosuid", "nodev"} <= set(r["tmp_mount"]["options"]), r["tmp_mount"]
    assert r["cache_dir"] == "/tmp/torchinductor_root"
    assert r["compiled"] is False
    assert MAP_FAILED in r["error"], r["error"]
    # the build succeeded: the object it could not load is one it wrote into the cache
    failed = r["error"].split(": " + MAP_FAILED)[0].split()[-1]
    assert failed.startswith("/tmp/torchinductor_root/") and failed in r["so_built"], (failed, r["so_built"])


def test_an_explicit_cache_variable_fails_the_same_and_check_proves_it(runs: dict[str, TmpRun]) -> None:
    run = runs["explicit"]
    assert run.probe["cache_dir"] == "/tmp/inductor"
    assert run.probe["compiled"] is False and MAP_FAILED in run.probe["error"]
    f = run.finding("fs.jit-cache-noexec")
    assert f is not None and (f["severity"], f["confidence"]) == ("blocker", "proves"), run.check["findings"]


def test_the_generated_tmpfs_is_exec_and_torch_compile_runs(runs: dict[str, TmpRun]) -> None:
    run = runs["generated"]
    assert run.tmpfs == "/tmp:exec"
    r = run.probe
    assert r["tmp_mount"]["fstype"] == "tmpfs"
    # exec lifts only noexec: nosuid and nodev stay
    assert "noexec" not in r["tmp_mount"]["options"] and {"nosuid", "nodev"} <= set(r["tmp_mount"]["options"])
    assert r["compiled"] is True and r["agrees"] is True, r.get("error")
    assert r["so_built"] and all(p.startswith("/tmp/torchinductor_root/") for p in r["so_built"])
    assert run.finding("fs.jit-cache-noexec") is None


def test_print_the_measurement(runs: dict[str, TmpRun], capsys: pytest.CaptureFixture[str]) -> None:
    """The lines docs/generate.md quotes (pytest -s shows them)."""
    with capsys.disabled():
        for k, run in runs.items():
            p = run.probe
            err = p.get("error", "").splitlines()[0] if p.get("error") else ""
            fired = run.finding("fs.jit-cache-noexec")
            print(
                f"\n[{k}] --tmpfs {run.tmpfs} {run.env or ''}: /tmp {p['tmp_mount']['fstype']} "
                f"({','.join(p['tmp_mount']['options'])}); torch {p['torch']}; cache {p['cache_dir']}; "
                f"compiled={p['compiled']} {p.get('error_type', '')} {err}; .so built: {len(p['so_built'])}; "
                f"check fs.jit-cache-noexec: {fired['severity'] if fired else 'not reported'}"
            )
