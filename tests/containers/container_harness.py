"""Run `tpdoctor check` inside real Docker containers on fake GPU hosts.

A scenario is "a deployment config + fake host nodes": a compose file (or `docker run` arguments
given to the Docker SDK) that a user would write, started for real by the engine on a host
whose GPUs are faked:

- device nodes made with mknod under the kernel's names (renderD128, card0; mode 0660, render
  gid 105 which the image does not name, video 44 for cards). On a host "with a driver" they are
  stand-ins, char 1:3 (the null driver), so they open successfully when DAC allows (and get
  EACCES without the group); on a host "without a driver" they are the real numbers 226:<minor>,
  which open with ENXIO when the device cgroup and DAC allow them and EPERM when only
  bind-mounted (the default device cgroup allows 1:3, so cgroup scenarios need 226:<minor>);
- a by-path directory of relative symlinks `pci-<BDF>-render -> ../renderD128` (and `-card`);
- a fake sysfs laid out like the kernel's (class/drm/renderD128 -> devices/.../drm/renderD128,
  device -> the PCI function with vendor/device/driver), bind-mounted read-only over
  /sys/class and /sys/devices/<pci root> because the container's /sys is read-only.

The tool runs from this checkout: src/ and a site-packages directory with tpdoctor's
dependencies are bind-mounted read-only, the host's /usr gives /usr/bin/python3. Each container
writes the JSON report, the facts snapshot and the exit status under /out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .container_deploy import DeploySource, Materialized

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
IMAGE = "tpdoctor-skel:latest"
HOST_PYTHON = "/usr/bin/python3"  # the host's /usr is mounted into the image read-only
RENDER_GID = 105  # a gid the image's /etc/group does not name ("render" is absent there)
VIDEO_GID = 44  # card nodes: group video, which the image names
# TPDOCTOR_TEST_LABEL lets concurrent runs on one engine mark their containers apart (key=value)
LABEL = os.environ.get("TPDOCTOR_TEST_LABEL", "tpdoctor.test=container-matrix")
CONTAINER_TIMEOUT_S = 120


# ----------------------------------------------------------------------------- fake host


@dataclass(frozen=True)
class FakeGpu:
    render: str  # "renderD128"
    card: str  # "card0"
    bdf: str  # "0000:03:00.0"
    vendor: str = "0x8086"
    device_id: str = "0x56a0"  # Intel Arc A770
    driver: str = "i915"

    @property
    def render_minor(self) -> int:
        return int(self.render.removeprefix("renderD"))

    @property
    def card_minor(self) -> int:
        return int(self.card.removeprefix("card"))


def intel_gpus(n: int) -> list[FakeGpu]:
    """n Intel Arc GPUs at 0000:03:00.0, 0000:04:00.0, ... (renderD128+i, card0+i)."""
    return [
        FakeGpu(render=f"renderD{128 + i}", card=f"card{i}", bdf=f"0000:{3 + i:02x}:00.0") for i in range(n)
    ]


def pci_root_name() -> str:
    """The host's first PCI root (pci0000:00): the fake PCI functions are mounted over it."""
    roots = sorted(p.name for p in Path("/sys/devices").glob("pci*"))
    return roots[0] if roots else "pci0000:00"


@dataclass
class FakeHost:
    """GPU nodes, by-path links and sysfs of a fake multi-GPU host, under `root` on this machine."""

    root: Path
    gpus: list[FakeGpu]
    render_gid: int = RENDER_GID
    driver: bool = True  # nodes are char 1:3 stand-ins that open; False: 226:<minor>, no driver (ENXIO)
    pci_root: str = field(default_factory=pci_root_name)

    @property
    def dri(self) -> Path:
        return self.root / "dev" / "dri"

    @property
    def sys_class(self) -> Path:
        return self.root / "sys" / "class"

    @property
    def sys_pci_root(self) -> Path:
        return self.root / "sys" / "devices" / self.pci_root

    def build(self) -> FakeHost:
        bypath = self.dri / "by-path"
        bypath.mkdir(parents=True)
        drm = self.sys_class / "drm"
        drm.mkdir(parents=True)
        for g in self.gpus:
            for node, minor, gid in (
                (g.card, g.card_minor, VIDEO_GID),
                (g.render, g.render_minor, self.render_gid),
            ):
                self._mknod(self.dri / node, *((1, 3) if self.driver else (226, minor)), 0o660, gid)
            (bypath / f"pci-{g.bdf}-card").symlink_to(f"../{g.card}")
            (bypath / f"pci-{g.bdf}-render").symlink_to(f"../{g.render}")
            fn = self.sys_pci_root / g.bdf
            (fn / "drm").mkdir(parents=True)
            for name, value in (("vendor", g.vendor), ("device", g.device_id), ("class", "0x030000")):
                (fn / name).write_text(value + "\n")
            (fn / "driver").symlink_to(f"../../../bus/pci/drivers/{g.driver}")
            for node, minor in ((g.card, g.card_minor), (g.render, g.render_minor)):
                d = fn / "drm" / node
                d.mkdir()
                (d / "dev").write_text(f"226:{minor}\n")
                (d / "device").symlink_to(f"../../../{g.bdf}")
                (drm / node).symlink_to(f"../../devices/{self.pci_root}/{g.bdf}/drm/{node}")
        (drm / "version").write_text("drm 1.1.0 20060810\n")
        for d in (self.root, *self.root.rglob("*")):
            if d.is_dir() and not d.is_symlink():
                d.chmod(0o755)
        return self

    @staticmethod
    def _mknod(path: Path, major: int, minor: int, mode: int, gid: int) -> None:
        import stat

        os.mknod(path, mode | stat.S_IFCHR, os.makedev(major, minor))
        os.chown(path, 0, gid)
        os.chmod(path, mode)  # mknod honours the umask

    def env(self) -> dict[str, str]:
        """Variables a compose file of a scenario may use for host paths."""
        return {
            "FAKE_DRI": str(self.dri),
            "FAKE_SYS_CLASS": str(self.sys_class),
            "FAKE_SYS_PCI": str(self.sys_pci_root),
            "SYS_PCI_ROOT": f"/sys/devices/{self.pci_root}",
            "RENDER_GID": str(self.render_gid),
        }

    def sysfs_binds(self) -> list[tuple[str, str]]:
        """The fake sysfs over the container's (read-only) /sys: (host, container) read-only binds.

        PCI root names hold a ':' (pci0000:00), which the short volume syntax cannot carry, so
        these go as long-syntax compose volumes / SDK Mount objects.
        """
        return [
            (str(self.sys_class), "/sys/class"),
            (str(self.sys_pci_root), f"/sys/devices/{self.pci_root}"),
        ]


# ----------------------------------------------------------------------------- tool inside


def _closure(names: Iterable[str]) -> list[metadata.Distribution]:
    """Installed distributions needed to import `names` (their requirements, extras excluded)."""
    from packaging.requirements import Requirement

    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        req = Requirement(todo.pop())
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        if key in seen:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        dist = metadata.distribution(req.name)
        seen[key] = dist
        todo.extend(dist.requires or [])
    return sorted(seen.values(), key=lambda d: d.metadata["Name"].lower())


def tool_requirements() -> list[str]:
    """tpdoctor's runtime dependencies, from pyproject.toml (the source of truth)."""
    text = (REPO / "pyproject.toml").read_text()
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.S | re.M)
    if not block:
        raise RuntimeError("no [project] dependencies in pyproject.toml")
    return re.findall(r"\"([^\"]+)\"", block.group(1))


def container_python_version() -> tuple[int, int]:
    out = subprocess.run(
        [HOST_PYTHON, "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def compile_bytecode(tree: Path) -> None:
    """Byte-compile with the container's interpreter: the mounts are read-only, and importing
    pydantic/rich/typer from source costs each container about a second of CPU."""
    subprocess.run(
        [HOST_PYTHON, "-m", "compileall", "-q", "-j", "0", str(tree)], check=True, capture_output=True
    )


def build_site_packages(cache_root: Path | None = None) -> Path:
    """A read-only-mountable site-packages with tpdoctor's dependencies for /usr/bin/python3.

    When this interpreter has the same major.minor as /usr/bin/python3, the installed
    distributions are copied (exact versions under test, no network); otherwise pip installs
    binary wheels for that version with --target. Cached under a tmp dir keyed by the list.
    """
    pyver = container_python_version()
    reqs = tool_requirements()
    same = sys.version_info[:2] == pyver
    dists = _closure(reqs) if same else []
    key_src = json.dumps(
        [pyver, reqs, [f"{d.metadata['Name']}=={d.version}" for d in dists], same], sort_keys=True
    )
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    cache_root = cache_root or Path(tempfile.gettempdir())
    site = cache_root / f"tpdoctor-container-site-{key}"
    if (site / ".complete").exists():
        return site
    work = Path(tempfile.mkdtemp(prefix="tpdoctor-site-", dir=cache_root))
    try:
        if same:
            for dist in dists:
                for f in dist.files or []:
                    if ".." in f.parts or f.suffix == ".pyc":
                        continue
                    src = Path(str(dist.locate_file(f)))
                    if src.is_file():
                        dst = work / f
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(src, dst)
        else:
            subprocess.run(
                [
                    *(sys.executable, "-m", "pip", "install", "-q", "--target", str(work)),
                    *("--python-version", f"{pyver[0]}.{pyver[1]}", "--only-binary=:all:", *reqs),
                ],
                check=True,
            )
        compile_bytecode(work)
        for p in (work, *work.rglob("*")):
            p.chmod(0o755 if p.is_dir() else 0o644)
        (work / ".complete").write_text(key_src)
        try:
            work.rename(site)
        except OSError:  # another session won the race
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if work.exists() and work != site:
            shutil.rmtree(work, ignore_errors=True)
    return site


# ----------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Container:
    """One container of a scenario: a compose service, or `docker run` arguments (Docker SDK)."""

    name: str = "app"
    tp: int = 2
    check_args: tuple[str, ...] = ()
    ranks: int = 1  # `check` runs this many times, one per rank, each with its own output

    @property
    def outputs(self) -> list[str]:
        """Output names: the container's name for rank 0, name.rN for the others."""
        return [self.name] + [f"{self.name}.r{i}" for i in range(1, self.ranks)]


@dataclass(frozen=True)
class LiveExpectation:
    """Something the engine must really do inside the container, read from tpdoctor's facts."""

    what: str  # shown in the matrix, e.g. "pidfd self-test fails (EPERM)"
    probe: Callable[[dict[str, Any]], Any]  # facts dict -> observed value
    expected: Any

    def observe(self, facts: Mapping[str, Any] | None) -> Any:
        if facts is None:
            return "no facts"
        try:
            return self.probe(dict(facts))
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            return f"unreadable ({type(exc).__name__}: {exc})"


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    expected: frozenset[str]
    compose: str | None = None  # the user's compose file; ${FAKE_DRI} etc. name the fake host paths
    docker_run: Mapping[str, Any] | None = None  # Docker SDK containers.run() keyword arguments
    containers: tuple[Container, ...] = (Container(),)
    gpus: int = 2
    driver: bool = True  # False: the host has no GPU driver, nodes are 226:<minor> (open gives ENXIO)
    live: tuple[LiveExpectation, ...] = ()
    compare: bool = False  # predicted = `check --compare` of the containers' snapshots
    start_error: str | None = None  # the engine must refuse to start; regex on its error text
    explain_expected: frozenset[str] = frozenset()  # causes `explain` must name for that error
    # a file tpdoctor wrote (audit --fix of a corpus config, or generate), adapted and started;
    # `check` inside must then report no blocker at all
    source: DeploySource | None = None

    @property
    def how(self) -> str:
        if self.source is not None:
            return self.source.how
        return "compose" if self.compose is not None else "docker SDK"


@dataclass
class ContainerOutput:
    name: str
    rc: int | None = None
    report: dict[str, Any] | None = None
    facts: dict[str, Any] | None = None
    stderr: str = ""


@dataclass
class ScenarioResult:
    scenario: Scenario
    outputs: list[ContainerOutput] = field(default_factory=list)
    predicted: frozenset[str] | None = None
    live_observed: list[Any] = field(default_factory=list)
    engine_error: str | None = None  # what Docker/compose said when the start failed
    harness_error: str | None = None
    seconds: float = 0.0
    materialized: Materialized | None = None  # the file tpdoctor wrote and its adaptation

    @property
    def blockers(self) -> list[str]:
        """Blocker findings `check` reported inside (a file tpdoctor wrote must have none)."""
        return sorted(
            f"{o.name}: {f['cause']}"
            for o in self.outputs
            for f in (o.report or {}).get("findings", [])
            if f.get("severity") == "blocker"
        )

    @property
    def misses(self) -> frozenset[str]:
        return self.scenario.expected - (self.predicted or frozenset())

    @property
    def false_alarms(self) -> frozenset[str]:
        return (self.predicted or frozenset()) - self.scenario.expected

    @property
    def live_failures(self) -> list[str]:
        return [
            f"{e.what}: observed {o!r}, expected {e.expected!r}"
            for e, o in zip(self.scenario.live, self.live_observed, strict=False)
            if o != e.expected
        ]

    @property
    def ok(self) -> bool:
        return (
            self.harness_error is None
            and self.predicted is not None
            and not self.misses
            and not self.false_alarms
            and not self.live_failures
            and not (self.scenario.source is not None and self.blockers)
        )

    def problems(self) -> list[str]:
        out = []
        if self.harness_error:
            out.append(f"harness: {self.harness_error}")
        if self.predicted is None and not self.harness_error:
            out.append("no prediction")
        if self.misses:
            out.append("MISS " + ", ".join(sorted(self.misses)))
        if self.false_alarms:
            out.append("FALSE ALARM " + ", ".join(sorted(self.false_alarms)))
        out.extend("LIVE " + f for f in self.live_failures)
        if self.scenario.source is not None and self.blockers:
            out.append("BLOCKER inside " + ", ".join(self.blockers))
        return out


@dataclass
class Toolbox:
    """Everything a scenario run needs from the session: engine client, paths, compose command."""

    client: Any  # docker.DockerClient
    compose_cmd: list[str]
    site: Path
    workdir: Path

    def tool_binds(self, out: Path) -> list[str]:
        return [
            "/usr:/usr:ro",
            f"{SRC}:/opt/tpdoctor/src:ro",
            f"{self.site}:/opt/tpdoctor/site:ro",
            f"{out}:/out",
        ]

    @staticmethod
    def tool_env() -> dict[str, str]:
        return {
            "PYTHONPATH": "/opt/tpdoctor/src:/opt/tpdoctor/site",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "TPDOCTOR_DEBUG": "1",
        }

    def run_tool(
        self,
        c: Container,
        out: Path,
        volumes: Sequence[str] = (),
        environment: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Start (detached, no network, labelled for cleanup) a container that runs tpdoctor check for
        `c`, with the tool's binds and environment after the caller's own; returns the SDK container."""
        return self.client.containers.run(
            IMAGE,
            command=self.tool_command(c),
            detach=True,
            network_mode="none",
            labels=dict([LABEL.split("=", 1)]),
            volumes=self.tool_binds(out) + list(volumes),
            environment={**(environment or {}), **self.tool_env()},
            **kwargs,
        )

    @staticmethod
    def tool_command(c: Container) -> list[str]:
        runs = []
        for o in c.outputs:
            args = ["check", "--tp", str(c.tp), "--format", "json", "--snapshot", f"/out/{o}.facts.json"]
            cmd = " ".join([HOST_PYTHON, "-m", "tpdoctor", *args, *c.check_args])
            runs.append(f"{cmd} >/out/{o}.json 2>/out/{o}.err; echo $? >/out/{o}.rc")
        return ["/bin/sh", "-c", "; ".join(runs)]


def compose_command() -> list[str] | None:
    """docker-compose (Debian's 1.x) or the `docker compose` plugin, whichever is installed."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    return None


@contextmanager
def open_toolbox(unavailable: Callable[[str], None], prefix: str) -> Iterator[Toolbox]:
    """A reachable engine, compose, the skeleton image and the tool's site-packages, or
    `unavailable(reason)` (a skip on a developer machine, a failure in CI: each family says which)."""
    if os.geteuid() != 0:
        unavailable("the fake GPU nodes need mknod: run as root")
    try:
        import docker
    except ImportError:
        unavailable("the docker SDK is not installed (pip install -e '.[dev]')")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        unavailable(f"Docker engine unreachable ({type(exc).__name__}: {exc})")
    compose = compose_command()
    if compose is None:
        unavailable("neither docker-compose nor `docker compose` is installed")
        raise AssertionError  # unreachable, for type checkers
    try:
        client.images.get(IMAGE)
    except Exception:
        unavailable(f"image {IMAGE} missing (built by .ci/container-engine)")
    compile_bytecode(SRC)  # src/**/__pycache__ (ignored by git), as any import of the checkout does
    work = Path(tempfile.mkdtemp(prefix=prefix))
    work.chmod(0o755)
    try:
        yield Toolbox(client=client, compose_cmd=compose, site=build_site_packages(), workdir=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        client.close()


def run_scenario(sc: Scenario, box: Toolbox) -> ScenarioResult:
    t0 = time.monotonic()
    res = ScenarioResult(scenario=sc)
    # ':' in a host path breaks the short volume syntax (`host:container:mode`)
    base = Path(tempfile.mkdtemp(prefix=re.sub(r"[^\w.+-]", "_", sc.id) + "-", dir=box.workdir))
    base.chmod(0o755)
    out = base / "out"
    out.mkdir()
    out.chmod(0o777)
    try:
        host = FakeHost(base / "host", intel_gpus(sc.gpus), driver=sc.driver).build()
        run = sc
        if sc.source is not None:
            from .container_deploy import materialize

            res.materialized = m = materialize(sc.source, host, base)
            run = dataclasses.replace(
                sc,
                compose=None if m.compose is None else json.dumps(m.compose, indent=1),
                docker_run=m.docker_run,
                containers=tuple(Container(n, tp=sc.source.tp) for n in m.services),
            )
        if run.compose is not None:
            _run_compose(run, box, host, base, out, res)
        else:
            _run_sdk(run, box, host, out, res)
        if res.engine_error is None and res.harness_error is None:
            res.outputs = [_read_output(out, name) for c in run.containers for name in c.outputs]
            _predict(run, res, out)
    except Exception as exc:  # report, never hide: the test fails on harness_error
        res.harness_error = f"{type(exc).__name__}: {exc}"
    res.seconds = time.monotonic() - t0
    return res


def _read_output(out: Path, name: str) -> ContainerOutput:
    o = ContainerOutput(name=name)
    rc = out / f"{name}.rc"
    o.rc = int(rc.read_text().strip()) if rc.exists() else None
    for attr, fname in (("report", f"{name}.json"), ("facts", f"{name}.facts.json")):
        p = out / fname
        if p.exists() and p.stat().st_size:
            try:
                setattr(o, attr, json.loads(p.read_text()))
            except json.JSONDecodeError:
                pass
    err = out / f"{name}.err"
    o.stderr = err.read_text() if err.exists() else ""
    return o


def _predict(sc: Scenario, res: ScenarioResult, out: Path) -> None:
    bad = [o for o in res.outputs if o.report is None or o.facts is None]
    if bad:
        o = bad[0]
        res.harness_error = (
            f"container {o.name}: rc={o.rc}, no JSON report/facts; stderr: {o.stderr[-800:]!r}"
        )
        return
    if sc.compare:
        snaps = [str(out / f"{o.name}.facts.json") for o in res.outputs]
        proc = run_tool("check", "--compare", *snaps, "--format", "json")
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            res.harness_error = f"check --compare rc={proc.returncode}: {proc.stderr[-800:]!r}"
            return
        res.predicted = frozenset(f["cause"] for f in report["findings"])
    else:
        res.predicted = frozenset(
            f["cause"] for o in res.outputs for f in (o.report or {}).get("findings", [])
        )
        for o in res.outputs:
            if o.report is not None and o.rc != o.report.get("exit_code"):
                res.harness_error = (
                    f"{o.name}: exit status {o.rc} != report exit_code {o.report.get('exit_code')}"
                )
    first = res.outputs[0].facts if res.outputs else None
    res.live_observed = [e.observe(first) for e in sc.live]


def run_tool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run this checkout's tpdoctor on the host (for --compare and explain)."""
    from conftest import run_cli

    return run_cli(*args, input=stdin)


def harness_service(binds: list[Any], host: FakeHost, env: dict[str, str], entrypoint: list[str]) -> dict[str, Any]:
    """One service of a harness compose overlay: the test image, no network, the tool and fake-sysfs
    binds, the tool's environment and command. The user's file keeps everything else."""
    return {
        "image": IMAGE,
        "pull_policy": "never",
        "network_mode": "none",
        "labels": [LABEL],
        "volumes": [
            *binds,
            *({"type": "bind", "source": h, "target": t, "read_only": True} for h, t in host.sysfs_binds()),
        ],
        "environment": env,
        "entrypoint": entrypoint,
    }


# ----------------------------------------------------------------------------- compose


def _overlay(sc: Scenario, box: Toolbox, host: FakeHost, out: Path) -> str:
    """The harness's compose overlay: image, tool mounts and command; the user's file keeps the rest."""
    # compose interpolates $VAR: $$ is a literal $
    services = {
        c.name: harness_service(
            box.tool_binds(out), host, box.tool_env(), [a.replace("$", "$$") for a in box.tool_command(c)]
        )
        for c in sc.containers
    }
    return json.dumps({"services": services}, indent=1)  # JSON is YAML


def _run_compose(
    sc: Scenario, box: Toolbox, host: FakeHost, base: Path, out: Path, res: ScenarioResult
) -> None:
    assert sc.compose is not None
    user = base / "compose.yaml"
    user.write_text(sc.compose)
    overlay = base / "harness.override.yaml"
    overlay.write_text(_overlay(sc, box, host, out))
    project = f"tpdm{uuid.uuid4().hex[:10]}"
    env = {**os.environ, **host.env()}
    cmd = [*box.compose_cmd, "-p", project, "-f", str(user), "-f", str(overlay)]
    try:
        up = subprocess.run(
            [*cmd, "up", "--no-color"],  # attached: returns when every service has exited
            capture_output=True,
            text=True,
            env=env,
            timeout=CONTAINER_TIMEOUT_S,
            cwd=base,
        )
        if sc.start_error is not None:
            text = up.stdout + up.stderr
            if up.returncode == 0 or not re.search(sc.start_error, text):
                res.harness_error = (
                    f"expected the engine to refuse /{sc.start_error}/, rc={up.returncode}: {text[-800:]!r}"
                )
                return
            text = text.replace(project, "<project>")
            res.engine_error = _engine_error_line(text, sc.start_error)
            res.predicted = explain_causes(text)  # all of compose's output, as a user would paste it
            return
        if up.returncode != 0:
            res.harness_error = f"compose up rc={up.returncode}: {(up.stdout + up.stderr)[-800:]!r}"
    finally:
        subprocess.run(
            [*cmd, "down", "-v", "--remove-orphans"], capture_output=True, env=env, timeout=120, cwd=base
        )


def _engine_error_line(text: str, pattern: str) -> str:
    for line in text.splitlines():
        if re.search(pattern, line):
            return line.strip()
    return text.strip()


EXPLAIN_MISSING = "ENABLE AT MERGE: `tpdoctor explain` is not in this branch yet (issue/branch `explain`)"


def explain_available() -> bool:
    proc = run_tool("explain", "--help")
    return proc.returncode == 0


def explain_causes(text: str) -> frozenset[str] | None:
    """Cause ids `tpdoctor explain` names for an error text; None while explain is not merged."""
    if not explain_available():
        return None
    proc = run_tool("explain", "-", "--format", "json", stdin=text + "\n")
    report = json.loads(proc.stdout)
    return frozenset(f["cause"] for f in report["findings"])


# ----------------------------------------------------------------------------- docker SDK


def _run_sdk(sc: Scenario, box: Toolbox, host: FakeHost, out: Path, res: ScenarioResult) -> None:
    assert sc.docker_run is not None
    subst = host.env()

    def expand(v: Any) -> Any:
        if isinstance(v, str):
            return re.sub(r"\$\{(\w+)\}", lambda m: subst[m.group(1)], v)
        if isinstance(v, list | tuple):
            return [expand(x) for x in v]
        if isinstance(v, dict):
            return {k: expand(x) for k, x in v.items()}
        return v

    from docker.types import Mount

    kwargs = {k: expand(v) for k, v in sc.docker_run.items()}
    user_volumes = list(kwargs.pop("volumes", []))
    user_environment = kwargs.pop("environment", {})
    started = []
    try:
        for c in sc.containers:
            ct = box.run_tool(
                c,
                out,
                user_volumes,
                user_environment,
                mounts=[Mount(t, h, type="bind", read_only=True) for h, t in host.sysfs_binds()],
                **kwargs,
            )
            started.append(ct)
        for ct in started:
            status = ct.wait(timeout=CONTAINER_TIMEOUT_S)
            if status.get("StatusCode") != 0:
                res.harness_error = f"container exited {status}: {ct.logs()[-800:]!r}"
    finally:
        for ct in started:
            ct.remove(force=True)
