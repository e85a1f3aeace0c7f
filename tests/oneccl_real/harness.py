"""Run the real oneCCL (PyPI wheels, Level Zero null driver) inside real Docker containers started
from deployment configs, with `tpdoctor check` run first inside the same container.

A scenario is a configuration a user writes or tpdoctor writes (compose, or a `docker run` line
given to the Docker SDK), on a fake GPU host (tests/containers/container_harness.FakeHost: device
nodes, by-path links, a fake sysfs mounted read-only over /sys/class and the PCI root). The
harness adds only what the container harness adds (the skeleton image, the host's /usr, the tool)
plus the build cache read-only and incontainer.sh as the entrypoint:

1. `tpdoctor check --tp N --format json --snapshot` with the container's environment as configured;
2. the real program (repro.cpp: N ranks forked in the container, each creating a oneCCL GPU
   communicator with a SYCL device and context), directly or under `tpdoctor run`, with the
   library's runtime environment added by ccl-env.sh (the image's setvars.sh, in a real image).

The null driver reports PCI address 0000:00:00.0 for its one device, so the fake host's first GPU
sits there (a by-path entry then names what oneCCL's Level Zero device reports). Stand-in nodes
(char 1:3) are used wherever a step must open the node; driver=False gives the kernel's numbers
(226:<minor>), which open with ENXIO (no driver) when the device cgroup allows them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from containers.container_deploy import (
    adapt_compose,
    docker_run_argv,
    host_facts,
    sdk_kwargs,
)
from containers.container_harness import (
    IMAGE,
    FakeGpu,
    FakeHost,
    Toolbox,
    harness_service,
    run_tool,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = Path(os.environ.get("TPDOCTOR_ONECCL_CACHE", "/var/tmp/tpdoctor-oneccl-real"))
SCRIPTS_IN = "/oneccl/scripts"
LABEL = "tpdoctor.test=oneccl-real"
TIMEOUT_S = 180
PROGRAM_TIMEOUT_S = 20  # incontainer.sh: a rank that waits forever is killed (timeout(1) exit 124)
HUNG_RC = 124
DATA = REPO / "tests" / "data" / "oneccl-real"
OK_TEXT = "REPRO-RESULT: communicator created OK"


# ----------------------------------------------------------------------------- build


def listed_versions() -> list[str]:
    """versions.txt, in order (the first is the reference version every scenario runs on);
    TPDOCTOR_ONECCL_VERSIONS="2021.14.0 ..." narrows it for a local rerun."""
    only = os.environ.get("TPDOCTOR_ONECCL_VERSIONS", "").split()
    out = []
    for line in (HERE / "versions.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.split()[0])
    return [v for v in out if v in only] if only else out


def build(versions: list[str]) -> dict[str, str]:
    """build.sh for these versions; {version: "ok" | "unbuildable: why"}. Raises if the shared
    parts (apt, null driver, shim) cannot be built."""
    proc = subprocess.run(
        ["bash", str(HERE / "build.sh"), *versions], capture_output=True, text=True, timeout=1200
    )
    if proc.returncode != 0:
        raise RuntimeError(f"build.sh rc={proc.returncode}: {(proc.stdout + proc.stderr)[-2000:]}")
    status = {}
    for v in versions:
        f = CACHE / "v" / v / "STATUS"
        status[v] = f.read_text().strip() if f.exists() else "unbuildable: build.sh wrote no STATUS"
    return status


# ----------------------------------------------------------------------------- scenarios


def null_driver_gpus(n: int) -> list[FakeGpu]:
    """n Intel GPUs; the first at 0000:00:00.0, the PCI address the null driver reports."""
    return [FakeGpu(render=f"renderD{128 + i}", card=f"card{i}", bdf=f"0000:00:{i:02x}.0") for i in range(n)]


Source = Literal["audit-fix", "generate-compose", "generate-docker-run"]


@dataclass(frozen=True)
class RealScenario:
    id: str
    title: str
    real: str  # regex every rank's outcome must match in the real program's output
    cause: str | None  # the blocker check must predict and explain must name first; None: it works
    compose: str | None = None  # the user's file (${FAKE_DRI}, ${RENDER_GID} name the fake host)
    source: Source | None = None  # a file tpdoctor wrote (from compose_for_fix / generate)
    compose_for_fix: str | None = None  # the compose `audit --write` fixes (source audit-fix)
    mode: Literal["direct", "run"] = "direct"
    run_cause: str | None = None  # mode run: the cause run's own diagnosis must name first
    gpus: int = 2
    driver: bool = True
    ranks: int = 2
    allowed_blockers: frozenset[str] = frozenset()  # blockers that are not about oneCCL's start
    harness_env: tuple[tuple[str, str], ...] = ()  # the test program's knobs (REPRO_TMP)
    all_versions: bool = True  # False: only the reference version
    also: str | None = None  # regex the library's whole output must also match (e.g. its warning)
    check_says: str | None = None  # regex check's JSON report must match (how it explains the route)

    @property
    def how(self) -> str:
        if self.source == "generate-docker-run":
            return "docker run (generate), Docker SDK"
        if self.source is not None:
            return f"compose ({self.source})"
        return "compose"


@dataclass
class RealResult:
    scenario: RealScenario
    version: str
    check: dict[str, Any] | None = None
    check_rc: int | None = None
    facts: dict[str, Any] | None = None
    output: str = ""  # the real program's output (under `tpdoctor run`: with run's lines)
    rc: int | None = None
    probe: str = ""
    written: str | None = None  # the file tpdoctor wrote, when the source is tpdoctor
    harness_error: str | None = None
    seconds: float = 0.0
    explain: list[dict[str, Any]] = field(default_factory=list)  # explain's findings on `output`
    cpu_s: float = 0.0  # CPU seconds spent inside the container (check, program, run)

    @property
    def blockers(self) -> list[str]:
        return [f["cause"] for f in (self.check or {}).get("findings", []) if f["severity"] == "blocker"]

    @property
    def predicted(self) -> list[str]:
        return [f["cause"] for f in (self.check or {}).get("findings", [])]

    @property
    def library_lines(self) -> str:
        """What oneCCL and the program printed (run's own `tpdoctor:` lines removed)."""
        return "\n".join(ln for ln in self.output.splitlines() if not ln.startswith("tpdoctor:"))

    @property
    def outcome(self) -> str:
        """The real library's result, one line per rank."""
        lines = re.findall(r"REPRO-RESULT: (.*)", self.library_lines)
        if self.rc == HUNG_RC:
            lines.append(f"hung: killed after {PROGRAM_TIMEOUT_S} s")
        return " / ".join(sorted(set(lines))) if lines else f"no result (rc={self.rc})"

    @property
    def explain_first(self) -> str | None:
        causes = [f["cause"] for f in self.explain if f["severity"] != "notice"]
        return causes[0] if causes else None

    @property
    def run_first(self) -> str | None:
        """The first cause `tpdoctor run` named after the command failed."""
        lines = self.output.splitlines()
        for i, ln in enumerate(lines):
            if "explain names" in ln and ln.startswith("tpdoctor:"):
                for nxt in lines[i + 1 :]:
                    m = re.match(r"tpdoctor: (?:BLOCKER|DEGRADED) (\S+) ", nxt)
                    if m:
                        return m.group(1)
        return None

    def problems(self) -> list[str]:
        """Every way the real library and tpdoctor disagree here (empty: they agree)."""
        sc = self.scenario
        if self.harness_error:
            return [f"harness: {self.harness_error}"]
        out = []
        if self.check is None:
            return [f"no check report (rc={self.check_rc})"]
        results = re.findall(r"REPRO-RESULT: .*", self.library_lines)
        # a working config: every rank creates its communicator. A failing one: every rank that
        # reports names the expected error; its peers may instead die of the broken rendezvous
        # (SIGPIPE, SIGABRT) or wait for it until killed (measured, all versions)
        want = f"{sc.ranks} ranks" if sc.cause is None else "every reporting rank"
        count_ok = len(results) == sc.ranks if sc.cause is None else len(results) >= 1
        if not count_ok or not all(re.search(sc.real, r) for r in results):
            out.append(f"real oneCCL: expected /{sc.real}/ from {want}, got {results!r} (rc={self.rc})")
        if sc.also and not re.search(sc.also, self.library_lines):
            out.append(f"real oneCCL: expected /{sc.also}/ in its output")
        if sc.check_says and not re.search(sc.check_says, json.dumps(self.check)):
            out.append(f"check does not say /{sc.check_says}/")
        stray = [b for b in self.blockers if b not in sc.allowed_blockers]
        if sc.cause is None:
            if stray:
                out.append(f"check predicts blockers {stray} but the communicator is created")
        else:
            if sc.cause not in self.blockers:
                out.append(f"check misses {sc.cause} (blockers: {self.blockers})")
            if self.explain_first != sc.cause:
                out.append(f"explain names {self.explain_first} first, not {sc.cause}")
        if sc.mode == "run":
            if self.run_first != sc.run_cause:
                out.append(f"run's diagnosis names {self.run_first} first, not {sc.run_cause}")
            if "ignores the variable" in self.output:
                out.append("run blames a build that ignores CCL_DRMFD_DEV_RENDER_DIR_PATH")
        return out


# ----------------------------------------------------------------------------- one run


def _env(version: str, sc: RealScenario, box: Toolbox) -> dict[str, str]:
    d = CACHE / "v" / version
    return {
        **box.tool_env(),
        "ONECCL_VENV": str(d / "venv"),
        "ONECCL_BIN": str(d / "bin"),
        "ONECCL_COMMON": str(CACHE / "common"),
        "ONECCL_LZ": str(CACHE / "lz" / "lib"),
        "ONECCL_SCRIPTS": SCRIPTS_IN,
        **dict(sc.harness_env),
    }


def _binds(box: Toolbox, out: Path) -> list[str]:
    return [*box.tool_binds(out), f"{CACHE}:{CACHE}:ro", f"{HERE}:{SCRIPTS_IN}:ro"]


def _command(sc: RealScenario) -> list[str]:
    return ["/bin/sh", f"{SCRIPTS_IN}/incontainer.sh", sc.mode, str(sc.ranks)]


def written_file(sc: RealScenario, host: FakeHost, base: Path) -> str:
    """The configuration tpdoctor writes for this scenario, with the fake host's facts."""
    facts = host_facts(host, base)
    if sc.source == "audit-fix":
        assert sc.compose_for_fix is not None
        copy = base / "compose.yaml"
        copy.write_text(sc.compose_for_fix)
        proc = run_tool("audit", "--write", "--host-facts", str(facts), str(copy))
        if proc.returncode not in (0, 4) or "tpdoctor: wrote" not in proc.stderr:
            raise RuntimeError(f"audit --write rc={proc.returncode}: {proc.stderr[-1500:]}")
        return copy.read_text()
    target = "compose" if sc.source == "generate-compose" else "docker-run"
    out = base / ("generated.yaml" if target == "compose" else "generated.sh")
    args = ["generate", "--image", "ipex-llm-serving-xpu", "--tp", str(sc.ranks), "--target", target]
    proc = run_tool(*args, "--host-facts", str(facts), "-o", str(out))
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"generate rc={proc.returncode}: {proc.stderr[-800:]}")
    return out.read_text()


def run_real(sc: RealScenario, version: str, box: Toolbox) -> RealResult:
    t0 = time.monotonic()
    res = RealResult(sc, version)
    base = Path(tempfile.mkdtemp(prefix=f"{sc.id}-{version}-", dir=box.workdir))
    base.chmod(0o755)
    out = base / "out"
    out.mkdir()
    out.chmod(0o777)
    try:
        host = FakeHost(base / "host", null_driver_gpus(sc.gpus), driver=sc.driver).build()
        compose = None
        if sc.compose is not None:  # the user's file, host sides mapped (container_deploy.py)
            doc, _, _ = adapt_compose(sc.compose, host, base / "scratch")
            compose = json.dumps(doc, indent=1)
        if sc.source is not None:
            res.written = written_file(sc, host, base)
            if sc.source == "generate-docker-run":
                argv = docker_run_argv(res.written, base)
                kwargs, _ = sdk_kwargs(argv, host, base / "scratch")
                _run_sdk(sc, version, box, host, out, kwargs)
            else:
                doc, _, _ = adapt_compose(res.written, host, base / "scratch")
                compose = json.dumps(doc, indent=1)
        if compose is not None:
            _run_compose(sc, version, box, host, base, out, compose)
        _read(res, out)
    except Exception as exc:  # reported, never hidden: the test fails on harness_error
        res.harness_error = f"{type(exc).__name__}: {exc}"
    res.seconds = time.monotonic() - t0
    return res


def container_cpu(times: str) -> float:
    """Sum of the user and system times `times` printed ("0m0.01s 0m0.02s" per line)."""
    return sum(int(m) * 60 + float(sec) for m, sec in re.findall(r"(\d+)m([\d.]+)s", times))


def _read(res: RealResult, out: Path) -> None:
    def text(name: str) -> str:
        p = out / name
        return p.read_text(errors="replace") if p.exists() else ""

    res.check_rc = int(text("check.rc") or -1)
    res.rc = int(text("ccl.rc") or -1)
    res.output = text("ccl.out")
    res.probe = text("probe.txt").strip()
    res.cpu_s = container_cpu(text("times.txt"))
    try:
        res.check = json.loads(text("check.json"))
        res.facts = json.loads(text("facts.json"))
    except json.JSONDecodeError:
        res.harness_error = f"check rc={res.check_rc}, no JSON; stderr: {text('check.err')[-800:]!r}"
        return
    proc = run_tool("explain", "-", "--format", "json", stdin=res.library_lines + "\n")
    res.explain = json.loads(proc.stdout)["findings"]


def _run_compose(
    sc: RealScenario, version: str, box: Toolbox, host: FakeHost, base: Path, out: Path, compose: str
) -> None:
    user = base / "compose.user.yaml"
    user.write_text(compose)
    from ruamel.yaml import YAML

    names = list(YAML(typ="safe").load(compose)["services"])
    overlay = {
        "services": {
            name: harness_service(_binds(box, out), host, _env(version, sc, box), _command(sc)) for name in names
        }
    }
    ovl = base / "harness.override.yaml"
    ovl.write_text(json.dumps(overlay, indent=1))
    cmd = [*box.compose_cmd, "-p", f"tpdoccl{uuid.uuid4().hex[:10]}", "-f", str(user), "-f", str(ovl)]
    env = {**os.environ, **host.env()}
    try:
        up = subprocess.run(
            [*cmd, "up", "--no-color"], capture_output=True, text=True, env=env, timeout=TIMEOUT_S, cwd=base
        )
        if up.returncode != 0:
            raise RuntimeError(f"compose up rc={up.returncode}: {(up.stdout + up.stderr)[-800:]}")
    finally:
        subprocess.run(
            [*cmd, "down", "-v", "--remove-orphans"], capture_output=True, env=env, timeout=120, cwd=base
        )


def _run_sdk(
    sc: RealScenario, version: str, box: Toolbox, host: FakeHost, out: Path, kwargs: dict[str, Any]
) -> None:
    from docker.types import Mount

    kwargs = dict(kwargs)
    volumes = [*_binds(box, out), *kwargs.pop("volumes", [])]
    environment = {**kwargs.pop("environment", {}), **_env(version, sc, box)}
    ct = box.client.containers.run(
        IMAGE,
        command=_command(sc),
        detach=True,
        network_mode="none",
        labels={"tpdoctor.test": "oneccl-real"},
        volumes=volumes,
        mounts=[Mount(t, h, type="bind", read_only=True) for h, t in host.sysfs_binds()],
        environment=environment,
        **kwargs,
    )
    try:
        status = ct.wait(timeout=TIMEOUT_S)
        if status.get("StatusCode") != 0:
            raise RuntimeError(f"container exited {status}: {ct.logs()[-800:]!r}")
    finally:
        ct.remove(force=True)
